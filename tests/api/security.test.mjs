// security.test.mjs — holes closed after a review: the page's vendor files must be
// there before `serve` starts; a failed login costs the same for unknown and known
// users (no username enumeration by timing); X-Forwarded-Proto / X-Forwarded-For
// are believed only from INFICOND_TRUSTED_PROXIES.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, call, databaseUrl, uniq } from './harness.mjs';

const servers = [];
after(async () => { for (const s of servers) await s.stop(); });

async function serve(env) {
  const s = await startServer({ env });
  servers.push(s);
  return s;
}

async function makeUser(server, password) {
  const username = uniq('sec');
  const r = await call(server, 'POST', '/api/v1/users', { body: { username, role: 'viewer', password } });
  assert.equal(r.status, 201, r.text);
  return username;
}

test('serve refuses to start without the page\'s vendor files, naming the file and make deps', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'inficond-novendor-'));
  mkdirSync(join(dir, 'static'));
  writeFileSync(join(dir, 'static', 'index.html'), '<!doctype html>');
  const bin = process.env.INFICOND_BIN || 'build/asan/inficond';
  const proc = spawn(bin, ['serve'], {
    env: { ...process.env, DATABASE_URL: databaseUrl(), INFICOND_PORT: '1', INFICOND_DEMO: 'off',
      INFICOND_DATA_DIR: join(dir, 'data'), INFICOND_STATIC_DIR: join(dir, 'static'),
      ASAN_OPTIONS: 'detect_leaks=0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const code = await new Promise((resolve) => proc.on('exit', resolve));
  rmSync(dir, { recursive: true, force: true });
  assert.equal(code, 1, out);
  assert.match(out, /vendor\/d3\.min\.js/);
  assert.match(out, /make deps/);
});

// Median of n timed logins (ms). Argon2id at libsodium's interactive setting takes
// hundreds of ms, so scheduling noise is small beside it.
async function medianLoginMs(server, username, n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await call(server, 'POST', '/api/v1/auth/login', { token: null, body: { username, password: 'not the password' } });
    times.push(performance.now() - t0);
    assert.equal(r.status, 401, r.text);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)];
}

test('a failed login costs the same for an unknown and a known username (within 20%)', async () => {
  const server = await serve({ INFICOND_LOGIN_MAX_FAILURES: '1000' });
  const known = await makeUser(server, 'correct horse battery');
  // Interleave the two kinds so a change in machine load hits both alike.
  const k = [], u = [];
  for (let round = 0; round < 4; round++) {
    k.push(await medianLoginMs(server, known, 2));
    u.push(await medianLoginMs(server, uniq('nobody'), 2));
  }
  const mean = (a) => a.reduce((s, x) => s + x, 0) / a.length;
  const known_ms = mean(k), unknown_ms = mean(u);
  const ratio = unknown_ms / known_ms;
  console.log(`login failures, 8 each: known user ${known_ms.toFixed(0)} ms, unknown user ${unknown_ms.toFixed(0)} ms, ratio ${ratio.toFixed(2)}`);
  assert.ok(ratio > 1 / 1.2 && ratio < 1.2, `unknown/known = ${ratio.toFixed(2)} (known ${known_ms.toFixed(0)} ms, unknown ${unknown_ms.toFixed(0)} ms)`);
});

async function login(server, username, password, headers = {}) {
  return call(server, 'POST', '/api/v1/auth/login', { token: null, headers, body: { username, password } });
}

test('from a trusted proxy, X-Forwarded-Proto: https gives a Secure cookie and HSTS; from others it is ignored', async () => {
  const trusting = await serve({ INFICOND_TRUSTED_PROXIES: '10.9.9.9, 127.0.0.0/8' });
  const plain = await serve({ INFICOND_TRUSTED_PROXIES: '10.9.9.9' });
  for (const [server, believed] of [[trusting, true], [plain, false]]) {
    const user = await makeUser(server, 'correct horse battery');
    const r = await login(server, user, 'correct horse battery', { 'X-Forwarded-Proto': 'https' });
    assert.equal(r.status, 200, r.text);
    const attrs = r.headers.get('set-cookie').split(';').map((a) => a.trim());
    assert.equal(attrs.includes('Secure'), believed, attrs.join('; '));
    assert.equal(r.headers.get('strict-transport-security') !== null, believed);
    // Without the header, even a trusted proxy's request is plain HTTP.
    const r2 = await login(server, user, 'correct horse battery');
    assert.ok(!r2.headers.get('set-cookie').includes('Secure'));
    assert.equal(r2.headers.get('strict-transport-security'), null);
  }
});

test('login limits count the client named by a trusted proxy, and ignore X-Forwarded-For from others', async () => {
  const env = { INFICOND_LOGIN_MAX_FAILURES: '3', INFICOND_LOGIN_WINDOW_S: '60' };
  const trusting = await serve({ ...env, INFICOND_TRUSTED_PROXIES: '127.0.0.1' });
  const plain = await serve(env);
  for (const [server, believed] of [[trusting, true], [plain, false]]) {
    // Three failures, each for another name, from client 203.0.113.7 (as the proxy says).
    for (let i = 0; i < 3; i++) {
      const r = await login(server, uniq('ghost'), 'wrong password 1', { 'X-Forwarded-For': '203.0.113.7' });
      assert.equal(r.status, 401, r.text);
    }
    const same = await login(server, uniq('ghost'), 'wrong password 1', { 'X-Forwarded-For': '198.51.100.1, 203.0.113.7' });
    assert.equal(same.status, 429, `client 203.0.113.7 is locked out: ${same.text}`);
    assert.ok(Number(same.headers.get('retry-after')) > 0);
    // Another client behind the same proxy: its own count when the proxy is trusted;
    // when it is not, every request is the proxy's address, already locked.
    const other = await login(server, uniq('ghost'), 'wrong password 1', { 'X-Forwarded-For': '203.0.113.8' });
    assert.equal(other.status, believed ? 401 : 429, other.text);
  }
});

test('INFICOND_TRUSTED_PROXIES with a bad item stops serve with a message naming it', async () => {
  await assert.rejects(startServer({ env: { INFICOND_TRUSTED_PROXIES: '127.0.0.1, proxy.example' } }),
    /INFICOND_TRUSTED_PROXIES.*proxy\.example/);
});
