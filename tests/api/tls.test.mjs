// tls.test.mjs — HTTPS from INFICOND_TLS_CERT / INFICOND_TLS_KEY: a self-signed
// certificate made at test time, the session cookie marked Secure (and HSTS sent)
// only over TLS, plain HTTP refused on the TLS port, and clear start-up errors for a
// missing, unreadable, invalid or mismatched file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, call, databaseUrl, ADMIN_TOKEN } from './harness.mjs';

let dir;
let cert;
let key;
let certPem;
let tls;

function openssl(args) {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCert(name) {
  const c = join(dir, `${name}.crt`);
  const k = join(dir, `${name}.key`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', k, '-out', c]);
  return { cert: c, key: k };
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// https request trusting only our certificate. Resolves {status, headers, json, text, peer}.
function httpsCall(port, method, path, { body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const req = https.request({
      host: '127.0.0.1', port, method, path, servername: 'localhost', ca: certPem, agent: false,
      headers: { ...headers, ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}) },
    }, (res) => {
      const peer = res.socket.getPeerCertificate();
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, json, text, peer });
      });
    });
    req.on('error', reject);
    req.end(data ?? undefined);
  });
}

// The harness waits on plain HTTP; a TLS server is started and awaited here.
async function startTlsServer(env) {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'inficond-tls-'));
  const proc = spawn(process.env.INFICOND_BIN || 'build/asan/inficond', ['serve'], {
    env: {
      ...process.env, DATABASE_URL: databaseUrl(), INFICOND_PORT: String(port), INFICOND_DATA_DIR: dataDir,
      INFICOND_ADMIN_TOKEN: ADMIN_TOKEN, INFICOND_WORKERS: '0', INFICOND_HTTP_THREADS: '2', INFICOND_DEMO: 'off',
      ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=0', ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const server = {
    port,
    get log() { return log; },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null) throw new Error(`server exited early:\n${log}`);
    try {
      if ((await httpsCall(port, 'GET', '/api/v1/health')).status === 200) return server;
    } catch { /* not listening yet */ }
    await sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error(`TLS server did not become healthy:\n${log}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'inficond-certs-'));
  ({ cert, key } = makeCert('server'));
  certPem = readFileSync(cert);
  tls = await startTlsServer({ INFICOND_TLS_CERT: cert, INFICOND_TLS_KEY: key });
});
after(async () => {
  await tls?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function makeUser(server) {
  const username = `tls_${Math.random().toString(36).slice(2, 10)}`;
  const r = await call(server, 'POST', '/api/v1/users', { body: { username, role: 'viewer', password: 'correct horse battery' } });
  assert.equal(r.status, 201, r.text);
  return { username, password: 'correct horse battery' };
}

test('HTTPS serves the API with our certificate, HSTS and the security headers', async () => {
  const r = await httpsCall(tls.port, 'GET', '/api/v1/health');
  assert.equal(r.status, 200);
  assert.equal(r.json.db, 'ok');
  assert.equal(r.peer.subject.CN, 'localhost');
  assert.match(r.headers['strict-transport-security'], /^max-age=\d{7,}/);
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
  assert.match(r.headers['content-security-policy'], /frame-ancestors 'none'/);
  const missing = await httpsCall(tls.port, 'GET', '/api/v1/nope');
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error.code, 'not_found');
  assert.ok(missing.headers['strict-transport-security'], 'HSTS on errors too');
  // A client that trusts nothing it was not told to refuses an unknown certificate:
  // the connection really is TLS with this certificate, not something else.
  await assert.rejects(new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: tls.port, path: '/api/v1/health', agent: false }, resolve).on('error', reject);
  }), /self[- ]signed|unable to verify|certificate/i);
  assert.ok(tls.log.includes(`serving on https://127.0.0.1:${tls.port}/`), tls.log);
});

test('over HTTPS the session cookie is Secure, and it works', async () => {
  const headers = { Authorization: `Bearer ${ADMIN_TOKEN}` };
  const username = `tls_${Math.random().toString(36).slice(2, 10)}`;
  const u = await httpsCall(tls.port, 'POST', '/api/v1/users', { headers, body: { username, role: 'viewer', password: 'correct horse battery' } });
  assert.equal(u.status, 201, u.text);
  const login = await httpsCall(tls.port, 'POST', '/api/v1/auth/login', { body: { username, password: 'correct horse battery' } });
  assert.equal(login.status, 200, login.text);
  const cookie = login.headers['set-cookie'][0];
  const attrs = cookie.split(';').map((a) => a.trim());
  assert.ok(attrs.includes('Secure'), cookie);
  assert.ok(attrs.includes('HttpOnly'), cookie);
  assert.ok(attrs.includes('SameSite=Strict'), cookie);
  const session = attrs[0];
  const me = await httpsCall(tls.port, 'GET', '/api/v1/me', { headers: { Cookie: session } });
  assert.equal(me.json.username, username);
  const out = await httpsCall(tls.port, 'POST', '/api/v1/auth/logout', { headers: { Cookie: session } });
  assert.equal(out.status, 204);
  assert.ok(out.headers['set-cookie'][0].split(';').map((a) => a.trim()).includes('Secure'));
});

test('plain HTTP to the TLS port gets no HTTP answer', async () => {
  const outcome = await new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: tls.port, path: '/api/v1/health', agent: false, timeout: 10000 }, (res) => {
      res.resume();
      resolve({ status: res.statusCode });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.code || e.message }));
  });
  assert.ok(outcome.error, `plain HTTP was answered: ${JSON.stringify(outcome)}`);
  // And the TLS side is unharmed.
  assert.equal((await httpsCall(tls.port, 'GET', '/api/v1/health')).status, 200);
});

test('over plain HTTP the cookie has no Secure and there is no HSTS', async () => {
  const plain = await startServer();
  try {
    const u = await makeUser(plain);
    const login = await call(plain, 'POST', '/api/v1/auth/login', { token: null, body: u });
    assert.equal(login.status, 200);
    const attrs = login.headers.get('set-cookie').split(';').map((a) => a.trim());
    assert.ok(attrs.includes('HttpOnly'));
    assert.ok(!attrs.some((a) => /^secure$/i.test(a)), attrs.join('; '));
    assert.equal(login.headers.get('strict-transport-security'), null);
  } finally {
    await plain.stop();
  }
});

test('start-up refuses half a TLS setup and bad files, naming what is wrong', async () => {
  const notPem = join(dir, 'not.pem');
  writeFileSync(notPem, 'hello, I am not a certificate\n');
  const locked = join(dir, 'locked.key');
  writeFileSync(locked, 'x');
  chmodSync(locked, 0o000);
  const other = makeCert('other');
  const cases = [
    [{ INFICOND_TLS_CERT: cert }, /INFICOND_TLS_CERT is set but INFICOND_TLS_KEY is not/],
    [{ INFICOND_TLS_KEY: key }, /INFICOND_TLS_KEY is set but INFICOND_TLS_CERT is not/],
    [{ INFICOND_TLS_CERT: join(dir, 'absent.crt'), INFICOND_TLS_KEY: key }, new RegExp(`INFICOND_TLS_CERT: cannot read ${join(dir, 'absent.crt')}`)],
    [{ INFICOND_TLS_CERT: notPem, INFICOND_TLS_KEY: key }, new RegExp(`INFICOND_TLS_CERT: ${notPem} is not a PEM certificate`)],
    [{ INFICOND_TLS_CERT: cert, INFICOND_TLS_KEY: cert }, new RegExp(`INFICOND_TLS_KEY: ${cert} is not a PEM private key`)],
    [{ INFICOND_TLS_CERT: cert, INFICOND_TLS_KEY: dir }, new RegExp(`INFICOND_TLS_KEY: ${dir} could not be read`)],
    [{ INFICOND_TLS_CERT: cert, INFICOND_TLS_KEY: other.key }, new RegExp(`cannot serve HTTPS .* INFICOND_TLS_CERT ${cert} and INFICOND_TLS_KEY ${other.key}`)],
  ];
  // root reads any file whatever its mode: the unreadable case only means something otherwise.
  if (process.getuid?.() !== 0) cases.push([{ INFICOND_TLS_CERT: cert, INFICOND_TLS_KEY: locked }, /INFICOND_TLS_KEY: cannot read .*Permission denied/]);
  for (const [env, want] of cases) {
    const dataDir = mkdtempSync(join(dir, 'data-')); // ours: the harness keeps it when start fails
    await assert.rejects(startServer({ env, dataDir }), (e) => {
      assert.match(e.message, /server exited early/);
      assert.match(e.message, want);
      return true;
    }, JSON.stringify(env));
  }
});

// The Dockerfile's HEALTHCHECK runs scripts/healthcheck.sh with the container's
// environment: it must find the service healthy with TLS on and with it off.
test('the container health check works with and without TLS', async () => {
  const dockerfile = readFileSync('Dockerfile', 'utf8');
  assert.match(dockerfile, /^HEALTHCHECK .*scripts\/healthcheck\.sh/m);
  const check = (env) => new Promise((resolve) => {
    const p = spawn('sh', ['scripts/healthcheck.sh'], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('exit', (code) => resolve({ code, out }));
  });
  const overTls = await check({ INFICOND_PORT: String(tls.port), INFICOND_TLS_CERT: cert });
  assert.equal(overTls.code, 0, overTls.out);
  assert.match(overTls.out, /"status":"ok"/);
  const plainAtTls = await check({ INFICOND_PORT: String(tls.port) }); // what the old check did
  assert.notEqual(plainAtTls.code, 0, 'plain HTTP against the TLS port must not pass');
  const plain = await startServer();
  try {
    const overHttp = await check({ INFICOND_PORT: String(plain.port) });
    assert.equal(overHttp.code, 0, overHttp.out);
  } finally {
    await plain.stop();
  }
});
