// harness.mjs — start a real inficond (the ASan build) against the test
// PostgreSQL, call it, stop it. Each server gets its own port and data folder. Also
// `run`, for the other child processes a test waits on.
//
// Env from tests/run.sh: INFICOND_TEST_DATABASE_URL (a fresh database),
// INFICOND_BIN (default build/asan/inficond).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkAnswer } from './openapi_check.mjs';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
// A name no other test (or earlier run on the same database) has taken.
export const uniq = (p) => `${p}_${Math.random().toString(36).slice(2, 10)}`;
let nextPort = 18100 + (process.pid % 500) * 4;

export function databaseUrl() {
  const url = process.env.INFICOND_TEST_DATABASE_URL;
  if (!url) throw new Error('INFICOND_TEST_DATABASE_URL is not set (run the tests with make test)');
  return url;
}

const live = new Set();
process.on('exit', () => { for (const p of live) p.kill('SIGKILL'); });

export async function startServer({ env = {}, command = 'serve', port, dataDir } = {}) {
  port = port ?? nextPort++;
  const ownData = !dataDir;
  dataDir = dataDir ?? mkdtempSync(join(tmpdir(), 'inficond-api-'));
  const bin = process.env.INFICOND_BIN || 'build/asan/inficond';
  const proc = spawn(bin, [command], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl(),
      INFICOND_PORT: String(port),
      INFICOND_DATA_DIR: dataDir,
      INFICOND_ADMIN_TOKEN: ADMIN_TOKEN,
      INFICOND_WORKERS: '1',
      INFICOND_HTTP_THREADS: '2',
      INFICOND_DEMO: 'off', // no demo build on start unless a test asks for one
      ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // A server must not outlive its test file (a file that crashes before its after()
  // hook would leave a server whose workers take every later suite's jobs).
  live.add(proc);
  proc.on('exit', () => live.delete(proc));
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const server = {
    url: `http://127.0.0.1:${port}`,
    port, dataDir, proc, exited,
    get log() { return log; },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const r = await exited;
      if (ownData) rmSync(dataDir, { recursive: true, force: true });
      return r;
    },
    async kill9() {
      proc.kill('SIGKILL');
      return exited;
    },
  };
  if (command === 'serve') {
    // An ASan server on a busy 2-vCPU machine can take over 15 s to start.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) {
        if (ownData) rmSync(dataDir, { recursive: true, force: true });
        throw new Error(`server exited early:\n${log}`);
      }
      try {
        const r = await fetch(`${server.url}/api/v1/health`);
        if (r.status === 200) return server;
      } catch { /* not listening yet */ }
      await sleep(50);
    }
    proc.kill('SIGKILL');
    await exited;
    if (ownData) rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`server did not become healthy in 60 s:\n${log}`);
  }
  return server;
}

// run(cmd, args, {env, cwd, timeout, input}) -> Promise<{stdout, stderr}>: a child
// process awaited, never waited for synchronously: a test's own servers and its fetch
// client keep running meanwhile (an execFileSync of minutes froze the event loop and
// the next request failed with "fetch failed"). Rejects when it exits non-zero, is
// killed, or runs past `timeout` ms, with the command line, how it ended and the last
// 8 KB of its stderr in the message (a progress line rewritten with \r as its last
// state). stdout is kept whole (up to 64 MiB).
export function run(cmd, args = [], { env, cwd, timeout = 0, input } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { env, cwd, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out = [];
    let outLen = 0;
    let err = '';
    let timer = null;
    let timedOut = false;
    proc.stdout.on('data', (d) => {
      outLen += d.length;
      if (outLen <= 64 << 20) out.push(d);
    });
    proc.stderr.on('data', (d) => { err = (err + d).slice(-8192); });
    if (input !== undefined) proc.stdin.end(input);
    if (timeout > 0) timer = setTimeout(() => { timedOut = true; proc.kill('SIGKILL'); }, timeout);
    const line = [cmd, ...args].join(' ');
    proc.on('error', (e) => { clearTimeout(timer); reject(new Error(`${line}: ${e.message}`)); });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      if (code === 0) return resolve({ stdout, stderr: err });
      const how = timedOut ? `ran past ${timeout} ms` : signal ? `was killed by ${signal}` : `exited ${code}`;
      // Progress lines rewritten in place with \r show as their last state.
      const tail = err.split('\n').map((l) => l.slice(l.lastIndexOf('\r', l.length - 2) + 1)).join('\n').trim();
      const e = new Error(`${line} ${how}${tail ? `; its stderr ends:\n${tail}` : ''}`);
      Object.assign(e, { code, signal, stdout, stderr: err });
      reject(e);
    });
  });
}

// call(server, method, path, {token, body, headers, raw}) -> {status, headers, json, text}
// A success answer must be what docs/openapi.yaml documents (openapi_check.mjs).
export async function call(server, method, path, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  const token = opts.token === undefined ? ADMIN_TOKEN : opts.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  let body = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['Content-Type'] = headers['Content-Type'] || 'application/json';
  }
  const r = await fetch(server.url + path, { method, headers, body });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  const res = { status: r.status, headers: r.headers, json, text };
  checkAnswer(method, server.url + path, res);
  return res;
}

// Wait until a job reaches one of `states` (long-polling), or fail after ms.
export async function waitJob(server, id, states = ['succeeded', 'failed', 'cancelled'], ms = 60000, token) {
  const end = Date.now() + ms;
  let seq = 0;
  for (;;) {
    const r = await call(server, 'GET', `/api/v1/jobs/${id}?wait=5&after=${seq}`, { token });
    if (r.status !== 200) throw new Error(`job ${id}: ${r.status} ${r.text}`);
    if (states.includes(r.json.state)) return r.json;
    seq = r.json.seq;
    if (Date.now() > end) throw new Error(`job ${id} still ${r.json.state} after ${ms} ms`);
  }
}

// Assert the standard error body shape and return the code.
export function errorCode(res) {
  if (!res.json || typeof res.json.error !== 'object') throw new Error(`not an error body: ${res.text}`);
  const { code, message } = res.json.error;
  if (typeof code !== 'string' || typeof message !== 'string' || !message) throw new Error(`bad error body: ${res.text}`);
  return code;
}

// A user of `role` made by the admin, named `${prefix}_<random>`, with `password` when
// given; with token: true also an API token for it. Returns {id, username, password,
// token, tokenId}.
export async function createUser(server, role, { password, token = false, prefix = role } = {}) {
  const username = uniq(prefix);
  const u = await call(server, 'POST', '/api/v1/users', { body: { username, role, password } });
  assert.equal(u.status, 201, u.text);
  const user = { id: u.json.id, username, password };
  if (!token) return user;
  const t = await call(server, 'POST', '/api/v1/tokens', { body: { name: 'test', user_id: u.json.id } });
  assert.equal(t.status, 201, t.text);
  return { ...user, token: t.json.token, tokenId: t.json.id };
}
