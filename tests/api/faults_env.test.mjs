// faults_env.test.mjs — the world around the server fails: PostgreSQL stops while the
// server runs (503 with a JSON error and Retry-After, no crash, recovery by itself
// when it is back), and the data folder fills up during an import (the job fails with
// "No space left on device", the earlier dataset stays intact and verifies).
//
// The outage uses a second private PostgreSQL cluster of this test's own (scripts/pg.sh
// with another folder and port): the shared test cluster is never stopped. The full
// disk is a 4 MiB tmpfs when mount is allowed (root), else the server's own quota
// knob INFICOND_DATA_QUOTA_BYTES; the test says which it used.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, call, waitJob, errorCode, ADMIN_TOKEN, run } from './harness.mjs';
import { FMNIST_TEST, NO_FMNIST } from './fixtures.mjs';

const IMAGES = resolve('tests/fixtures/images');
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const cleanups = [];
after(async () => { for (const f of cleanups.reverse()) await f(); });

function tarOfFixtures(work) {
  const dir = join(work, 'tar');
  mkdirSync(join(dir, 'colour'), { recursive: true });
  for (const f of readdirSync(IMAGES)) copyFileSync(join(IMAGES, f), join(dir, 'colour', f));
  execFileSync('tar', ['-cf', join(work, 'small.tar'), '-C', dir, 'colour']);
  return readFileSync(join(work, 'small.tar'));
}

test('PostgreSQL stops while the server runs: 503 + Retry-After, no crash, recovery by itself', async () => {
  // Our own cluster: pg.sh keeps it under <root>/pg; a distinct port keeps its socket apart.
  const root = mkdtempSync(join(tmpdir(), 'inficond-pgdown-'));
  const env = { ...process.env, INFICOND_DATA_DIR: root, INFICOND_PG_PORT: String(20000 + (process.pid % 5000)) };
  // initdb and pg_ctl take seconds: awaited, so the test's own server and client keep going.
  const pg = async (...args) => (await run('bash', ['scripts/pg.sh', ...args], { env })).stdout.trim().split('\n').pop();
  await pg('start');
  cleanups.push(async () => {
    try { await pg('stop'); } catch { /* already stopped */ }
    rmSync(root, { recursive: true, force: true });
  });
  const url = await pg('url', 'inficond_pgdown');
  const server = await startServer({
    env: { DATABASE_URL: url, INFICOND_HEARTBEAT_MS: '200', INFICOND_STALE_AFTER_MS: '1500' },
  });
  cleanups.push(() => server.stop());
  const ds = await call(server, 'POST', '/api/v1/datasets', { body: { name: `pgdown${process.pid}` } });
  assert.equal(ds.status, 201, ds.text);
  assert.equal((await call(server, 'GET', '/api/v1/datasets')).json.items.length, 1, 'the server uses our own cluster');

  await pg('stop');
  // Credentials are cached for 5 s: wait past that, so authentication meets the outage too.
  await sleep(5500);
  for (const [method, path, body] of [
    ['GET', '/api/v1/datasets'], ['GET', `/api/v1/datasets/${ds.json.id}`],
    ['POST', '/api/v1/datasets', { name: 'during' }], ['GET', '/api/v1/jobs'],
  ]) {
    const r = await call(server, method, path, { body });
    assert.equal(r.status, 503, `${method} ${path}: ${r.status} ${r.text}`);
    assert.equal(errorCode(r), 'unavailable');
    assert.match(r.json.error.message, /database/);
    assert.match(r.headers.get('retry-after') ?? '', /^\d+$/, `${method} ${path}: Retry-After`);
  }
  const h = await call(server, 'GET', '/api/v1/health', { token: null });
  assert.equal(h.status, 503);
  assert.equal(h.json.db, 'unavailable');
  await sleep(1000); // workers, heartbeats and the reaper keep failing meanwhile
  assert.equal(server.proc.exitCode, null, `the server exited:\n${server.log.slice(-3000)}`);
  assert.equal(server.proc.signalCode, null);

  await pg('start');
  let r;
  for (let i = 0; i < 100; i++) {
    r = await call(server, 'GET', `/api/v1/datasets/${ds.json.id}`);
    if (r.status === 200) break;
    await sleep(200);
  }
  assert.equal(r.status, 200, `not recovered: ${r.text}`);
  const made = await call(server, 'POST', '/api/v1/datasets', { body: { name: `after${process.pid}` } });
  assert.equal(made.status, 201, made.text);
  // Jobs run again: a short one is claimed and finishes.
  const job = await call(server, 'POST', '/api/v1/jobs', { body: { kind: 'diag.sleep', params: { seconds: 0.1 } } });
  assert.equal(job.status, 201, job.text);
  assert.equal((await waitJob(server, job.json.id, undefined, 30000)).state, 'succeeded');
  assert.doesNotMatch(server.log, /AddressSanitizer|runtime error/);
});

test('the data folder fills up during an import: the job fails with the reason, nothing earlier damaged', { skip: NO_FMNIST }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'inficond-full-'));
  const dataDir = join(work, 'data');
  mkdirSync(dataDir);
  let mounted = false;
  try {
    // INFICOND_TEST_NO_MOUNT=1 checks the quota path on a machine that could mount.
    if (process.env.INFICOND_TEST_NO_MOUNT) throw new Error('INFICOND_TEST_NO_MOUNT is set');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dataDir], { stdio: 'pipe' });
    mounted = true;
  } catch (err) {
    // No mount here (e.g. an unprivileged container): the server's quota gives the same failure.
    console.log(`faults_env: mount not permitted (${String(err.stderr || err.message).trim()}); using INFICOND_DATA_QUOTA_BYTES`);
  }
  cleanups.push(() => {
    if (mounted) execFileSync('umount', [dataDir]);
    rmSync(work, { recursive: true, force: true });
  });
  const server = await startServer({ dataDir, env: mounted ? {} : { INFICOND_DATA_QUOTA_BYTES: String(4 << 20) } });
  cleanups.push(() => server.stop());
  console.log(`faults_env: a full data folder from ${mounted ? 'a 4 MiB tmpfs' : 'a 4 MiB quota'}`);

  const small = await call(server, 'POST', '/api/v1/datasets', { body: { name: `small${process.pid}` } });
  assert.equal(small.status, 201, small.text);
  const up = await call(server, 'POST', `/api/v1/datasets/${small.json.id}/upload`, {
    raw: tarOfFixtures(work), headers: { 'Content-Type': 'application/x-tar' },
  });
  assert.equal(up.status, 202, up.text);
  assert.equal((await waitJob(server, up.json.id)).state, 'succeeded');
  const before = (await call(server, 'GET', `/api/v1/datasets/${small.json.id}/images?limit=100`)).json.items;
  assert.equal(before.length, readdirSync(IMAGES).length);

  const big = await call(server, 'POST', '/api/v1/datasets', { body: { name: `big${process.pid}` } });
  const r = await call(server, 'POST', `/api/v1/datasets/${big.json.id}/imports`, {
    body: { source: 'idx', images: FMNIST_TEST.images, labels: FMNIST_TEST.labels },
  });
  assert.equal(r.status, 202, r.text);
  const job = await waitJob(server, r.json.id, undefined, 180000);
  assert.equal(job.state, 'failed', JSON.stringify(job));
  assert.match(job.error, /no space left on device/i);
  assert.match(server.log, /no space left on device/i);

  // Whatever the failed import stored is consistent: each of its rows serves a verified image.
  const got = await call(server, 'GET', `/api/v1/datasets/${big.json.id}`);
  assert.equal(got.status, 200, got.text);
  const n = Object.values(got.json.splits ?? {}).reduce((a, b) => a + b, 0);
  assert.ok(n < 10000, `${n} images stored on a full disk`);
  const page = (await call(server, 'GET', `/api/v1/datasets/${big.json.id}/images?limit=50`)).json.items;
  for (const im of [...before, ...page]) {
    const img = await fetch(`${server.url}/api/v1/images/${im.id}`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(img.status, 200, `image ${im.id}`);
    assert.equal(sha256(Buffer.from(await img.arrayBuffer())), im.sha256);
  }
  // The earlier dataset is exactly as it was, and every blob on the full disk verifies.
  assert.deepEqual((await call(server, 'GET', `/api/v1/datasets/${small.json.id}/images?limit=100`)).json.items, before);
  const top = join(dataDir, 'blobs');
  for (const fan of readdirSync(top).filter((f) => !f.startsWith('.'))) {
    for (const f of readdirSync(join(top, fan)).filter((x) => !x.startsWith('.'))) {
      assert.equal(sha256(readFileSync(join(top, fan, f))), fan + f);
    }
  }
  // No temporary file of the failed writes is left behind to keep the disk full.
  assert.deepEqual(readdirSync(top).filter((f) => f.startsWith('.tmp-')), []);
  assert.equal(server.proc.exitCode, null);
});
