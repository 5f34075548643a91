// limits.test.mjs — the service's limits and headers on a real server: body and
// upload sizes (413, nothing stored), images per import, concepts per corpus (422
// naming the limit, nothing stored), login attempts (429 + Retry-After, per account
// name and per client address), security headers on every kind of response, and no
// credential ever written to the log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, call, waitJob, errorCode, uniq, createUser, ADMIN_TOKEN } from './harness.mjs';
import { FMNIST_TEST, NO_FMNIST, makeTar as makeTarIn } from './fixtures.mjs';

const FIXTURES = resolve('tests/fixtures/images');
const MAX_FAILURES = 3;
const WINDOW_S = 60;
const MAX_CONCEPTS = 5;
const MAX_IMAGES = 3;

let server;
let work;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'inficond-limits-'));
  server = await startServer({
    env: {
      INFICOND_MAX_BODY_MB: '1',
      INFICOND_MAX_UPLOAD_MB: '1',
      INFICOND_MAX_CORPUS_CONCEPTS: String(MAX_CONCEPTS),
      INFICOND_MAX_IMPORT_IMAGES: String(MAX_IMAGES),
      INFICOND_LOGIN_MAX_FAILURES: String(MAX_FAILURES),
      INFICOND_LOGIN_WINDOW_S: String(WINDOW_S),
      INFICOND_LOG_LEVEL: 'debug', // the most the log ever says: still no secrets
    },
  });
});
after(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

const fixture = (n) => readFileSync(join(FIXTURES, n));

const makeUser = (role, password = 'correct horse battery') => createUser(server, role, { password });

// A raw HTTP/1.1 exchange (for what fetch will not send: huge declared lengths,
// chunked bodies, paths it would normalise). Resolves with {status, headers, body}.
function rawRequest(head, body = '', { port = server.port, endAfterHead = false } = {}) {
  return new Promise((resolvePromise, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(head);
      if (!endAfterHead && body) s.write(body);
    });
    let data = Buffer.alloc(0);
    s.on('data', (d) => { data = Buffer.concat([data, d]); });
    s.on('error', reject);
    s.on('close', () => {
      const text = data.toString('latin1');
      const [top, ...rest] = text.split('\r\n\r\n');
      const lines = top.split('\r\n');
      const headers = new Map();
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
      }
      resolvePromise({ status: Number(lines[0].split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
  });
}

// POST /api/v1/auth/login from a chosen loopback address (127.0.0.0/8 all reach us),
// so per-address counters can be told apart from per-name ones.
function loginFrom(localAddress, body) {
  return new Promise((resolvePromise, reject) => {
    const data = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request({
      host: '127.0.0.1', port: server.port, path: '/api/v1/auth/login', method: 'POST', localAddress,
      headers: { 'Content-Type': 'application/json', 'Content-Length': data.length, Connection: 'close' },
    }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolvePromise({ status: res.statusCode, headers: res.headers, json, text });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

// Every response carries the same security headers: a CSP that allows no inline
// script and no framing, nosniff, and a Referrer-Policy.
function assertSecurityHeaders(get, what) {
  const csp = get('content-security-policy');
  assert.ok(csp, `${what}: no Content-Security-Policy`);
  const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map(([k, ...v]) => [k, v]));
  const script = directives.get('script-src') ?? directives.get('default-src');
  assert.ok(script, `${what}: CSP has neither script-src nor default-src: ${csp}`);
  for (const bad of ["'unsafe-inline'", "'unsafe-eval'", '*', 'data:'])
    assert.ok(!script.includes(bad), `${what}: script-src allows ${bad}: ${csp}`);
  assert.deepEqual(directives.get('frame-ancestors'), ["'none'"], `${what}: ${csp}`);
  assert.equal(get('x-content-type-options'), 'nosniff', what);
  assert.equal(get('referrer-policy'), 'no-referrer', what);
}

const makeTar = (path, members) => makeTarIn(work, path, members);
const filesUnder = (dir) => (existsSync(dir) ? readdirSync(dir, { recursive: true }) : []);

test('security headers are on every kind of response, errors and static files included', async () => {
  const viewer = await makeUser('viewer');
  const vt = await call(server, 'POST', '/api/v1/tokens', { body: { name: 'hdr', user_id: viewer.id } });
  const index = await fetch(`${server.url}/`);
  const etag = index.headers.get('etag');
  const cases = [
    ['GET', '/api/v1/health', {}, 200],
    ['HEAD', '/api/v1/health', {}, 200],
    ['POST', '/api/v1/corpora', { body: { name: uniq('hdr'), words: ['sky'] } }, 201],
    ['GET', '/api/v1/nope', {}, 404],
    ['GET', '/api/v1/me', { token: null }, 401],
    ['GET', '/api/v1/me', { token: 'not-a-real-token-but-long-enough' }, 401],
    ['POST', '/api/v1/jobs', { token: vt.json.token, body: { kind: 'diag.sleep' } }, 403],
    ['DELETE', '/api/v1/jobs', {}, 405],
    ['POST', '/api/v1/jobs', { raw: '{"kind": ', headers: { 'Content-Type': 'application/json' } }, 400],
    ['POST', '/api/v1/jobs', { raw: '{}', headers: { 'Content-Type': 'text/plain' } }, 415],
    ['POST', '/api/v1/jobs', { body: { kind: 7 } }, 422],
    ['POST', '/api/v1/jobs', { raw: JSON.stringify({ pad: 'x'.repeat(1100 * 1024) }), headers: { 'Content-Type': 'application/json' } }, 413],
  ];
  for (const [method, path, opts, status] of cases) {
    const r = await call(server, method, path, opts);
    assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
    assertSecurityHeaders((h) => r.headers.get(h), `${method} ${path} ${status}`);
  }
  const statics = [
    [`${server.url}/`, {}, 200],
    [`${server.url}/app.js`, {}, 200],
    [`${server.url}/`, { headers: { 'If-None-Match': etag } }, 304],
    [`${server.url}/no-such-file.js`, {}, 404],
    [`${server.url}/index.html`, { method: 'POST' }, 405],
  ];
  for (const [url, init, status] of statics) {
    const r = await fetch(url, init);
    await r.arrayBuffer();
    assert.equal(r.status, status, url);
    assertSecurityHeaders((h) => r.headers.get(h), `${init.method ?? 'GET'} ${url} ${status}`);
  }
  // 413 answered at once from the declared length (the body is never sent), 204,
  // and a traversal attempt that fetch would normalise away.
  const huge = await rawRequest(`POST /api/v1/datasets/1/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\n` +
    'Content-Type: application/x-tar\r\nContent-Length: 200000000\r\nConnection: close\r\n\r\n', '', { endAfterHead: true });
  assert.equal(huge.status, 413);
  assert.equal(JSON.parse(huge.body).error.code, 'payload_too_large');
  assertSecurityHeaders((h) => huge.headers.get(h), 'raw 413');
  const escape = await rawRequest('GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(escape.status, 404);
  assertSecurityHeaders((h) => escape.headers.get(h), 'raw 404 traversal');
  const ok = await call(server, 'POST', '/api/v1/auth/login', { token: null, body: { username: viewer.username, password: viewer.password } });
  const out = await call(server, 'POST', '/api/v1/auth/logout', { token: null, headers: { Cookie: ok.headers.get('set-cookie').split(';')[0] } });
  assert.equal(out.status, 204);
  assertSecurityHeaders((h) => out.headers.get(h), 'logout 204');
  // Over plain HTTP there is no HSTS (it would pin browsers to an HTTPS we do not serve).
  assert.equal(out.headers.get('strict-transport-security'), null);
});

test('JSON bodies and uploads over their limits get 413 JSON and store nothing', async () => {
  const jobsBefore = (await call(server, 'GET', '/api/v1/jobs?limit=1')).json.total;
  const corporaBefore = (await call(server, 'GET', '/api/v1/corpora?limit=1')).json.total;
  // JSON over INFICOND_MAX_BODY_MB, declared...
  const big = await call(server, 'POST', '/api/v1/corpora', { body: { name: uniq('big'), words: ['a'], pad: 'x'.repeat(1100 * 1024) } });
  assert.equal(big.status, 413);
  assert.equal(errorCode(big), 'payload_too_large');
  assert.match(big.json.error.message, /1048576-byte limit/);
  // ...and chunked, with no length given up front.
  const chunk = JSON.stringify({ kind: 'diag.sleep', params: { pad: 'y'.repeat(1100 * 1024) } });
  const chunked = await rawRequest(`POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\n` +
    'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
  `${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`);
  assert.equal(chunked.status, 413);
  assert.equal(JSON.parse(chunked.body).error.code, 'payload_too_large');
  // An upload over INFICOND_MAX_UPLOAD_MB (a tar for a dataset), and a corpus file
  // over its route's own limit.
  const ds = await call(server, 'POST', '/api/v1/datasets', { body: { name: uniq('up') } });
  const up = await call(server, 'POST', `/api/v1/datasets/${ds.json.id}/upload`, {
    raw: Buffer.alloc(1536 * 1024, 7), headers: { 'Content-Type': 'application/x-tar' } });
  assert.equal(up.status, 413);
  assert.equal(errorCode(up), 'payload_too_large');
  const corpusName = uniq('bigfile');
  const file = await call(server, 'POST', `/api/v1/corpora/import?name=${corpusName}`, {
    raw: 'word\n'.repeat(300 * 1024), headers: { 'Content-Type': 'text/plain' } });
  assert.equal(file.status, 413);
  assert.equal(errorCode(file), 'payload_too_large');
  // Nothing was created or left behind.
  assert.equal((await call(server, 'GET', '/api/v1/jobs?limit=1')).json.total, jobsBefore);
  assert.equal((await call(server, 'GET', '/api/v1/corpora?limit=1')).json.total, corporaBefore);
  assert.equal((await call(server, 'GET', `/api/v1/datasets/${ds.json.id}`)).json.image_count, 0);
  assert.deepEqual(filesUnder(join(server.dataDir, 'uploads')), []);
  assert.deepEqual(filesUnder(join(server.dataDir, 'tmp')).filter((f) => f.startsWith('upload-')), []);
  assert.equal((await call(server, 'GET', '/api/v1/health')).status, 200);
});

test('concepts per corpus: create, edit, import and add beyond the limit are 422 and change nothing', async () => {
  const words = (n, p = 'w') => Array.from({ length: n }, (_, i) => `${p}${i}`);
  const before = (await call(server, 'GET', '/api/v1/corpora?limit=1')).json.total;
  const tooMany = await call(server, 'POST', '/api/v1/corpora', { body: { name: uniq('many'), words: words(MAX_CONCEPTS + 1) } });
  assert.equal(tooMany.status, 422, tooMany.text);
  assert.equal(errorCode(tooMany), 'unprocessable');
  assert.match(tooMany.json.error.message, new RegExp(`limit of ${MAX_CONCEPTS} concepts per corpus \\(INFICOND_MAX_CORPUS_CONCEPTS\\)`));
  const importName = uniq('imp');
  const imp = await call(server, 'POST', `/api/v1/corpora/import?name=${importName}`, {
    raw: `${words(MAX_CONCEPTS + 1, 'line').join('\n')}\n`, headers: { 'Content-Type': 'text/plain' } });
  assert.equal(imp.status, 422, imp.text);
  assert.match(imp.json.error.message, /INFICOND_MAX_CORPUS_CONCEPTS/);
  assert.equal((await call(server, 'GET', '/api/v1/corpora?limit=1')).json.total, before, 'nothing created');

  // Exactly at the limit is fine; repeats in a file do not count towards it.
  const full = await call(server, 'POST', `/api/v1/corpora/import?name=${uniq('full')}`, {
    raw: `${words(MAX_CONCEPTS).join('\n')}\nw0\nw1\n`, headers: { 'Content-Type': 'text/plain' } });
  assert.equal(full.status, 201, full.text);
  assert.equal(full.json.word_count, MAX_CONCEPTS);
  const id = full.json.id;
  const add = await call(server, 'POST', `/api/v1/corpora/${id}/words`, { body: { word: 'one more' } });
  assert.equal(add.status, 422, add.text);
  assert.match(add.json.error.message, new RegExp(`holds ${MAX_CONCEPTS} words.*INFICOND_MAX_CORPUS_CONCEPTS`));
  const edit = await call(server, 'PATCH', `/api/v1/corpora/${id}`, { body: { words: words(MAX_CONCEPTS + 1, 'e') } });
  assert.equal(edit.status, 422, edit.text);
  assert.match(edit.json.error.message, /INFICOND_MAX_CORPUS_CONCEPTS/);
  const after = await call(server, 'GET', `/api/v1/corpora/${id}`);
  assert.deepEqual(after.json.words, words(MAX_CONCEPTS));
  assert.equal(after.json.version, full.json.version, 'the refused changes did not move the version');
  // Below the limit again, a word can be added: the limit was the only reason.
  assert.equal((await call(server, 'DELETE', `/api/v1/corpora/${id}/words/w4`)).status, 200);
  const again = await call(server, 'POST', `/api/v1/corpora/${id}/words`, { body: { word: 'one more' } });
  assert.equal(again.status, 200, again.text);
  assert.equal(again.json.word_count, MAX_CONCEPTS);
});

test('an import over the images-per-import limit fails with the reason and stores nothing', async () => {
  const ds = (await call(server, 'POST', '/api/v1/datasets', { body: { name: uniq('lim') } })).json;
  const blobsBefore = filesUnder(join(server.dataDir, 'blobs')).length;
  const four = makeTar(join(work, 'four.tar'), [
    ['shirt/red.jpg', fixture('red.jpg')], ['shirt/green.jpg', fixture('green.jpg')],
    ['shoe/blue.jpg', fixture('blue.jpg')], ['shoe/stripes.jpg', fixture('stripes.jpg')],
    ['shoe/readme.txt', Buffer.from('not an image: not counted')],
  ]);
  const r = await call(server, 'POST', `/api/v1/datasets/${ds.id}/upload`, { raw: readFileSync(four), headers: { 'Content-Type': 'application/x-tar' } });
  assert.equal(r.status, 202, r.text);
  const job = await waitJob(server, r.json.id);
  assert.equal(job.state, 'failed', JSON.stringify(job));
  assert.match(job.error, new RegExp(`holds 4 images, over the limit of ${MAX_IMAGES} per import \\(INFICOND_MAX_IMPORT_IMAGES\\)`));
  const got = (await call(server, 'GET', `/api/v1/datasets/${ds.id}`)).json;
  assert.equal(got.image_count, 0);
  assert.deepEqual(got.classes, [], 'no class names were added either');
  assert.equal(filesUnder(join(server.dataDir, 'blobs')).length, blobsBefore, 'no blob written');
  assert.deepEqual(filesUnder(join(server.dataDir, 'uploads')), [], 'the refused upload is not kept');

  // At the limit the same kind of upload goes through (the non-image is skipped).
  const three = makeTar(join(work, 'three.tar'), [
    ['shirt/red.jpg', fixture('red.jpg')], ['shirt/green.jpg', fixture('green.jpg')],
    ['shoe/blue.jpg', fixture('blue.jpg')], ['shoe/readme.txt', Buffer.from('skipped')],
  ]);
  const ok = await call(server, 'POST', `/api/v1/datasets/${ds.id}/upload`, { raw: readFileSync(three), headers: { 'Content-Type': 'application/x-tar' } });
  const done = await waitJob(server, ok.json.id);
  assert.equal(done.state, 'succeeded', JSON.stringify(done));
  assert.equal(done.result.imported, 3);
});

test('an idx pair over the images-per-import limit is refused from its header, before anything is read', { skip: NO_FMNIST }, async () => {
  const ds2 = (await call(server, 'POST', '/api/v1/datasets', { body: { name: uniq('idx') } })).json;
  const j = await call(server, 'POST', '/api/v1/jobs', { body: { kind: 'dataset.import', params: {
    dataset_id: ds2.id, source: 'idx', images: FMNIST_TEST.images, labels: FMNIST_TEST.labels } } });
  assert.equal(j.status, 201, j.text);
  const f = await waitJob(server, j.json.id);
  assert.equal(f.state, 'failed');
  assert.match(f.error, new RegExp(`holds 10000 images, over the limit of ${MAX_IMAGES} per import`));
  const d2 = (await call(server, 'GET', `/api/v1/datasets/${ds2.id}`)).json;
  assert.equal(d2.image_count, 0);
  assert.deepEqual(d2.classes, []);
});

test('login attempts: per account name, per client address, reset on success, 429 with Retry-After', async () => {
  const alice = await makeUser('viewer');
  const bob = await makeUser('viewer');
  // Per name: failures from three different addresses lock alice's name...
  for (let i = 0; i < MAX_FAILURES; i++) {
    const r = await loginFrom(`127.0.0.${11 + i}`, { username: alice.username, password: 'wrong password' });
    assert.equal(r.status, 401, r.text);
  }
  // ...so even her correct password is refused, from anywhere, with a reason and a wait.
  const locked = await loginFrom('127.0.0.14', { username: alice.username, password: alice.password });
  assert.equal(locked.status, 429, locked.text);
  assert.equal(errorCode({ json: locked.json, text: locked.text }), 'too_many_requests');
  const wait = Number(locked.headers['retry-after']);
  assert.ok(Number.isInteger(wait) && wait >= 1 && wait <= WINDOW_S, `Retry-After: ${locked.headers['retry-after']}`);
  assert.match(locked.headers['content-type'], /application\/json/);
  assertSecurityHeaders((h) => locked.headers[h], '429');
  assert.equal(locked.headers['set-cookie'], undefined, 'no session for a refused login');
  // Another account from a clean address is not affected.
  assert.equal((await loginFrom('127.0.0.15', { username: bob.username, password: bob.password })).status, 200);

  // Per address: one address trying many names is locked, whatever name it tries next.
  for (let i = 0; i < MAX_FAILURES; i++)
    assert.equal((await loginFrom('127.0.0.21', { username: uniq('ghost'), password: 'guess-guess' })).status, 401);
  const byAddr = await loginFrom('127.0.0.21', { username: bob.username, password: bob.password });
  assert.equal(byAddr.status, 429, byAddr.text);
  // A token login from that address is refused too, before the token is looked at.
  assert.equal((await loginFrom('127.0.0.21', { token: ADMIN_TOKEN })).status, 429);
  assert.equal((await loginFrom('127.0.0.22', { username: bob.username, password: bob.password })).status, 200);

  // A success resets: two failures, success, two failures, success (4 failures in all).
  const carol = await makeUser('editor');
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < MAX_FAILURES - 1; i++)
      assert.equal((await loginFrom('127.0.0.31', { username: carol.username, password: 'nope-nope' })).status, 401);
    const ok = await loginFrom('127.0.0.31', { username: carol.username, password: carol.password });
    assert.equal(ok.status, 200, `round ${round}: ${ok.text}`);
  }
  // Bad input is answered as before, and is not counted as a failed guess.
  for (let i = 0; i < MAX_FAILURES + 1; i++) {
    const bad = await loginFrom('127.0.0.41', { username: carol.username });
    assert.equal(bad.status, 422);
  }
  assert.equal((await loginFrom('127.0.0.41', { username: carol.username, password: carol.password })).status, 200);
  // Bearer tokens are not affected by a locked login.
  assert.equal((await call(server, 'GET', '/api/v1/me')).status, 200);
});

test('a lockout ends after its window', async () => {
  const s = await startServer({ env: { INFICOND_LOGIN_MAX_FAILURES: '1', INFICOND_LOGIN_WINDOW_S: '1' } });
  try {
    const u = await call(s, 'POST', '/api/v1/users', { body: { username: uniq('dora'), role: 'viewer', password: 'correct horse battery' } });
    const body = { username: u.json.username, password: 'correct horse battery' };
    assert.equal((await call(s, 'POST', '/api/v1/auth/login', { token: null, body: { ...body, password: 'wrong' } })).status, 401);
    const locked = await call(s, 'POST', '/api/v1/auth/login', { token: null, body });
    assert.equal(locked.status, 429);
    assert.equal(locked.headers.get('retry-after'), '1');
    await sleep(1500); // past the one-second lockout whatever the load
    assert.equal((await call(s, 'POST', '/api/v1/auth/login', { token: null, body })).status, 200);
  } finally {
    await s.stop();
  }
});

test('passwords, tokens and session ids never reach the log, on success or error paths', async () => {
  const secret = () => `s3cr3t-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
  const secrets = [];
  const keep = (s) => { secrets.push(s); return s; };
  const user = await makeUser('editor', keep(secret()));
  const tok = await call(server, 'POST', '/api/v1/tokens', { body: { name: 'log', user_id: user.id } });
  keep(tok.json.token);
  const login = (body, from = '127.0.0.51') => loginFrom(from, typeof body === 'string' ? body : body);
  // Login bodies: wrong password, unknown token, malformed JSON, an unknown field.
  assert.equal((await login({ username: user.username, password: keep(secret()) })).status, 401);
  assert.equal((await login({ token: keep(secret()) }, '127.0.0.52')).status, 401);
  assert.equal((await login(`{"username":"${user.username}","password":"${keep(secret())}"`)).status, 400);
  assert.equal((await login({ username: user.username, password: 'x', pasword: keep(secret()) })).status, 422);
  // A locked-out login with the right password.
  for (let i = 0; i < MAX_FAILURES; i++) await login({ username: uniq('nobody'), password: keep(secret()) }, '127.0.0.53');
  assert.equal((await login({ username: user.username, password: user.password }, '127.0.0.53')).status, 429);
  // Successful logins by password and by token; the session id comes back only in the cookie.
  const ok = await login({ username: user.username, password: user.password }, '127.0.0.54');
  assert.equal(ok.status, 200);
  const session = ok.headers['set-cookie'][0].split(';')[0].split('=')[1];
  keep(session);
  assert.equal((await login({ token: tok.json.token }, '127.0.0.55')).status, 200);
  // Credentials in headers on every kind of error.
  const bad = keep(secret());
  for (const [method, path, opts] of [
    ['GET', '/api/v1/me', { token: bad }],
    ['GET', '/api/v1/nope', { token: bad }],
    ['DELETE', '/api/v1/jobs', { token: bad }],
    ['GET', '/api/v1/me', { token: null, headers: { Authorization: `Basic ${bad}` } }],
    ['GET', '/api/v1/me', { token: null, headers: { Cookie: `inficond_session=${bad}` } }],
    ['POST', '/api/v1/jobs', { token: bad, raw: 'x'.repeat(1100 * 1024), headers: { 'Content-Type': 'application/json' } }],
    ['GET', '/index.html', { token: bad }],
    ['GET', '/api/v1/me', { token: tok.json.token }],
    ['GET', '/api/v1/me', { token: null, headers: { Cookie: `inficond_session=${session}` } }],
    ['GET', `/api/v1/jobs?token=${bad}`, { token: tok.json.token }],
  ]) await call(server, method, path, opts);
  const log = server.log;
  // The requests were logged (so the check below looked at something)...
  assert.match(log, /POST \/api\/v1\/auth\/login 401/);
  assert.match(log, /POST \/api\/v1\/auth\/login 429/);
  assert.match(log, /GET \/api\/v1\/me 401/);
  // ...and no secret is in it.
  for (const s of [...secrets, ADMIN_TOKEN]) assert.ok(!log.includes(s), `the log holds a secret (${s.slice(0, 6)}…)`);
});
