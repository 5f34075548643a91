// foundation.test.mjs — REST conventions, auth and roles, and the route table
// against docs/openapi.yaml, on a real server and PostgreSQL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdirSync, mkdtempSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { startServer, call, errorCode, ADMIN_TOKEN, run } from './harness.mjs';

let server;
let staticDir;

before(async () => {
  // A static folder of our own, with a secret beside it and a symlink pointing out.
  const base = mkdtempSync(join(tmpdir(), 'inficond-static-'));
  staticDir = join(base, 'static');
  mkdirSync(join(staticDir, 'views'), { recursive: true });
  mkdirSync(join(staticDir, 'vendor'), { recursive: true });
  writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>inficond</title>');
  writeFileSync(join(staticDir, 'vendor', 'd3.min.js'), '// serve refuses to start without the vendor files');
  writeFileSync(join(staticDir, 'views', 'a.js'), 'export const a = 1;');
  writeFileSync(join(staticDir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(base, 'secret.txt'), 'top secret');
  symlinkSync(join(base, 'secret.txt'), join(staticDir, 'link.txt'));
  server = await startServer({ env: { INFICOND_STATIC_DIR: staticDir, INFICOND_MAX_BODY_MB: '1' } });
});
after(async () => { await server?.stop(); });

// `inficond routes`: the route table as JSON (awaited: the ASan binary starts slowly).
async function routeTable() {
  const { stdout } = await run(process.env.INFICOND_BIN || 'build/asan/inficond', ['routes'],
    { env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
  return JSON.parse(stdout);
}

async function makeUser(role) {
  const name = `${role}_${Math.random().toString(36).slice(2, 10)}`;
  const u = await call(server, 'POST', '/api/v1/users', { body: { username: name, role, password: 'correct horse battery' } });
  assert.equal(u.status, 201, u.text);
  const t = await call(server, 'POST', '/api/v1/tokens', { body: { name: 'test', user_id: u.json.id } });
  assert.equal(t.status, 201, t.text);
  return { id: u.json.id, username: name, token: t.json.token, tokenId: t.json.id };
}

test('health reports the database and libtorch', async () => {
  const r = await call(server, 'GET', '/api/v1/health', { token: null });
  assert.equal(r.status, 200);
  assert.equal(r.json.db, 'ok');
  assert.match(r.json.torch, /^1\.13/);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.match(r.headers.get('content-security-policy'), /frame-ancestors 'none'/);
});

test('every response error has the documented shape and status', async () => {
  const cases = [
    ['GET', '/api/v1/nope', {}, 404, 'not_found'],
    ['DELETE', '/api/v1/jobs', {}, 405, 'method_not_allowed'],
    ['POST', '/api/v1/jobs', { raw: '{"kind": ', headers: { 'Content-Type': 'application/json' } }, 400, 'bad_request'],
    ['POST', '/api/v1/jobs', { raw: '[1,2]', headers: { 'Content-Type': 'application/json' } }, 400, 'bad_request'],
    ['POST', '/api/v1/jobs', { raw: '{"kind":"diag.sleep"}', headers: { 'Content-Type': 'text/plain' } }, 415, 'unsupported_media_type'],
    ['POST', '/api/v1/jobs', { body: { kind: 7 } }, 422, 'unprocessable'],
    ['POST', '/api/v1/jobs', { body: { kind: 'no.such.kind' } }, 422, 'unprocessable'],
    ['POST', '/api/v1/jobs', { body: { kind: 'diag.sleep', params: [1] } }, 422, 'unprocessable'],
    ['GET', '/api/v1/jobs/abc', {}, 404, 'not_found'],
    ['GET', '/api/v1/jobs/999999999', {}, 404, 'not_found'],
    ['GET', '/api/v1/jobs?limit=0', {}, 400, 'bad_request'],
    ['GET', '/api/v1/jobs?state=bogus', {}, 400, 'bad_request'],
    ['POST', '/api/v1/users', { body: { username: 'bad name!', role: 'viewer' } }, 422, 'unprocessable'],
    ['POST', '/api/v1/users', { body: { username: 'x', role: 'king' } }, 422, 'unprocessable'],
    ['POST', '/api/v1/users', { body: { username: 'x', role: 'viewer', password: 'short' } }, 422, 'unprocessable'],
    ['POST', '/api/v1/users', { body: { username: 'x', role: 'viewer', pasword: 'typo-field' } }, 422, 'unprocessable'],
  ];
  for (const [method, path, opts, status, code] of cases) {
    const r = await call(server, method, path, opts);
    assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
    assert.equal(errorCode(r), code, `${method} ${path}`);
    assert.equal(r.headers.get('content-type'), 'application/json');
  }
  const r = await call(server, 'DELETE', '/api/v1/jobs');
  assert.equal(r.headers.get('allow'), 'GET, POST');
  const k = await call(server, 'POST', '/api/v1/users', { body: { username: 'x', role: 'viewer', pasword: 'typo-field' } });
  assert.match(k.json.error.message, /pasword/);
});

test('a body over the limit is refused with 413 and nothing is created', async () => {
  const before = await call(server, 'GET', '/api/v1/jobs?limit=1');
  const big = JSON.stringify({ kind: 'diag.sleep', params: { pad: 'x'.repeat(2 * 1024 * 1024) } });
  const r = await call(server, 'POST', '/api/v1/jobs', { raw: big, headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 413);
  assert.equal(errorCode(r), 'payload_too_large');
  const after = await call(server, 'GET', '/api/v1/jobs?limit=1');
  assert.equal(after.json.total, before.json.total);
  // The server is still healthy afterwards.
  assert.equal((await call(server, 'GET', '/api/v1/health')).status, 200);
});

test('missing, malformed and revoked credentials get 401; weak roles get 403', async () => {
  assert.equal((await call(server, 'GET', '/api/v1/me', { token: null })).status, 401);
  const bad = await call(server, 'GET', '/api/v1/me', { token: 'not-a-real-token-but-long-enough' });
  assert.equal(bad.status, 401);
  assert.equal(errorCode(bad), 'unauthorized');
  const basic = await call(server, 'GET', '/api/v1/me', { token: null, headers: { Authorization: 'Basic YTpi' } });
  assert.equal(basic.status, 401);
  const viewer = await makeUser('viewer');
  assert.equal((await call(server, 'GET', '/api/v1/me', { token: viewer.token })).json.role, 'viewer');
  const forbidden = await call(server, 'POST', '/api/v1/jobs', { token: viewer.token, body: { kind: 'diag.sleep' } });
  assert.equal(forbidden.status, 403);
  assert.equal(errorCode(forbidden), 'forbidden');
  const editor = await makeUser('editor');
  const kindRole = await call(server, 'POST', '/api/v1/jobs', { token: editor.token, body: { kind: 'diag.sleep' } });
  assert.equal(kindRole.status, 403, 'diag.sleep needs admin');
  assert.equal((await call(server, 'DELETE', `/api/v1/tokens/${viewer.tokenId}`)).status, 204);
  assert.equal((await call(server, 'GET', '/api/v1/me', { token: viewer.token })).status, 401);
  assert.equal((await call(server, 'DELETE', `/api/v1/tokens/${viewer.tokenId}`)).status, 404);
});

test('every route in the table refuses the unauthenticated and the too weak', async () => {
  const routes = await routeTable();
  assert.ok(routes.length >= 10);
  const viewer = await makeUser('viewer');
  const editor = await makeUser('editor');
  const weaker = { viewer: null, editor: viewer.token, admin: editor.token };
  for (const r of routes) {
    const path = r.path.replace(/\{[^}]+\}/g, '1');
    const opts = r.body === 'json' ? { body: {} } : {};
    if (r.role === 'public') continue;
    const anon = await call(server, r.method, path, { ...opts, token: null });
    assert.equal(anon.status, 401, `${r.method} ${r.path} without credentials: ${anon.text}`);
    errorCode(anon);
    const weak = weaker[r.role];
    if (weak) {
      const w = await call(server, r.method, path, { ...opts, token: weak });
      assert.equal(w.status, 403, `${r.method} ${r.path} as a weaker role: ${w.text}`);
    }
  }
});

test('docs/openapi.yaml describes exactly the routes in the table, with their roles', async () => {
  const routes = await routeTable();
  const yaml = readFileSync('docs/openapi.yaml', 'utf8');
  // A small reader for our own file's layout: "  /path:" then "    method:" then "      x-min-role: r".
  const documented = new Map();
  let path = null, method = null;
  for (const line of yaml.split('\n')) {
    let m;
    if ((m = line.match(/^  (\/api\/v1\/\S*):\s*$/))) { path = m[1]; method = null; }
    else if (path && (m = line.match(/^    (get|post|put|patch|delete):\s*$/))) { method = m[1].toUpperCase(); documented.set(`${method} ${path}`, null); }
    else if (path && method && (m = line.match(/^      x-min-role:\s*(\w+)/))) documented.set(`${method} ${path}`, m[1]);
    else if (/^\S/.test(line)) path = null;
  }
  const inTable = new Map(routes.map((r) => [`${r.method} ${r.path}`, r.role]));
  for (const [key, role] of inTable) {
    assert.ok(documented.has(key), `${key} is in the route table but not in docs/openapi.yaml`);
    assert.equal(documented.get(key), role, `${key}: x-min-role differs from the table`);
  }
  for (const key of documented.keys()) assert.ok(inTable.has(key), `${key} is documented but not routed`);
});

test('login with a password or a token sets an HttpOnly SameSite cookie; logout ends it', async () => {
  const editor = await makeUser('editor');
  const wrong = await call(server, 'POST', '/api/v1/auth/login', { token: null, body: { username: editor.username, password: 'wrong password' } });
  assert.equal(wrong.status, 401);
  const ghost = await call(server, 'POST', '/api/v1/auth/login', { token: null, body: { username: 'nobody_here', password: 'whatever12' } });
  assert.equal(ghost.status, 401);
  assert.equal(ghost.json.error.message, wrong.json.error.message, 'no hint whether the user exists');
  const ok = await call(server, 'POST', '/api/v1/auth/login', { token: null, body: { username: editor.username, password: 'correct horse battery' } });
  assert.equal(ok.status, 200, ok.text);
  const cookie = ok.headers.get('set-cookie');
  assert.match(cookie, /inficond_session=/);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  const session = cookie.split(';')[0];
  const me = await call(server, 'GET', '/api/v1/me', { token: null, headers: { Cookie: session } });
  assert.equal(me.json.username, editor.username);
  // A cookie-authenticated write from another origin is refused.
  const csrf = await call(server, 'POST', '/api/v1/auth/logout', { token: null, headers: { Cookie: session, Origin: 'http://evil.example' } });
  assert.equal(csrf.status, 403);
  const out = await call(server, 'POST', '/api/v1/auth/logout', { token: null, headers: { Cookie: session } });
  assert.equal(out.status, 204);
  assert.match(out.headers.get('set-cookie'), /Max-Age=0/);
  const after = await call(server, 'GET', '/api/v1/me', { token: null, headers: { Cookie: session } });
  assert.equal(after.status, 401);
  const byToken = await call(server, 'POST', '/api/v1/auth/login', { token: null, body: { token: editor.token } });
  assert.equal(byToken.json.user.role, 'editor');
});

test('the last admin cannot be demoted; duplicate users conflict', async () => {
  const me = await call(server, 'GET', '/api/v1/me');
  const users = await call(server, 'GET', '/api/v1/users');
  const admins = users.json.items.filter((u) => u.role === 'admin' && !u.disabled);
  if (admins.length === 1) {
    const r = await call(server, 'PATCH', `/api/v1/users/${me.json.id}`, { body: { role: 'viewer' } });
    assert.equal(r.status, 409, r.text);
    assert.equal((await call(server, 'GET', '/api/v1/me')).json.role, 'admin');
  }
  const v = await makeUser('viewer');
  const dup = await call(server, 'POST', '/api/v1/users', { body: { username: v.username, role: 'viewer' } });
  assert.equal(dup.status, 409);
  const up = await call(server, 'PATCH', `/api/v1/users/${v.id}`, { body: { role: 'editor' } });
  assert.equal(up.json.role, 'editor');
  assert.equal((await call(server, 'GET', '/api/v1/me', { token: v.token })).json.role, 'editor');
  assert.equal((await call(server, 'PATCH', '/api/v1/users/987654321', { body: { role: 'editor' } })).status, 404);
});

test('static files: index, MIME types, ETag, and no way out of the folder', async () => {
  const idx = await fetch(`${server.url}/`);
  assert.equal(idx.status, 200);
  assert.match(idx.headers.get('content-type'), /text\/html/);
  const etag = idx.headers.get('etag');
  assert.ok(etag);
  const again = await fetch(`${server.url}/`, { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assert.equal(idx.headers.get('cache-control'), 'no-cache'); // revalidated: a new release shows at once
  const js = await fetch(`${server.url}/views/a.js`);
  assert.match(js.headers.get('content-type'), /text\/javascript/);
  assert.equal(js.headers.get('cache-control'), 'no-cache');
  // The icon alone is kept a day: browsers ask for it again on every history change.
  const icon = await fetch(`${server.url}/favicon.svg`);
  assert.equal(icon.status, 200);
  assert.match(icon.headers.get('content-type'), /image\/svg\+xml/);
  assert.equal(icon.headers.get('cache-control'), 'public, max-age=86400');
  // fetch() normalises "..", so send raw requests for the traversal attempts.
  for (const p of ['/../secret.txt', '/views/../../secret.txt', '/%2e%2e/secret.txt', '/%2E%2E%2Fsecret.txt',
    '/views/%2e%2e/%2e%2e/secret.txt', '/link.txt', '/.hidden', '/index.html%00.js']) {
    const raw = await rawGet(server.port, p);
    assert.match(raw.split('\r\n')[0], /^HTTP\/1\.1 404/, `${p} -> ${raw.split('\r\n')[0]}`);
    assert.ok(!raw.includes('top secret'), `${p} leaked the secret`);
  }
  const post = await fetch(`${server.url}/index.html`, { method: 'POST' });
  assert.equal(post.status, 405);
});

function rawGet(port, path) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
}

test('tokens never appear in the request log', async () => {
  await call(server, 'GET', '/api/v1/me');
  assert.ok(!server.log.includes(ADMIN_TOKEN));
  assert.match(server.log, /GET \/api\/v1\/me 200 [\d.]+ms/);
});
