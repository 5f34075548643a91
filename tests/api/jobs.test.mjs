// jobs.test.mjs — the job queue end to end: progress by long-poll, cancel,
// failure, separate worker processes, graceful shutdown, and a worker killed
// with SIGKILL whose job is re-run or failed with a reason, never stuck.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, call, waitJob, errorCode } from './harness.mjs';

const fast = { INFICOND_HEARTBEAT_MS: '200', INFICOND_STALE_AFTER_MS: '1500' };

async function startJob(server, params) {
  const r = await call(server, 'POST', '/api/v1/jobs', { body: { kind: 'diag.sleep', params } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.headers.get('location'), `/api/v1/jobs/${r.json.id}`);
  return r.json;
}

test('a job reports progress through long-poll and succeeds with its result', async () => {
  const server = await startServer({ env: fast });
  try {
    const job = await startJob(server, { seconds: 1.5 });
    assert.equal(job.state, 'queued');
    const seen = new Set();
    let seq = 0, last;
    const t0 = Date.now();
    for (;;) {
      const r = await call(server, 'GET', `/api/v1/jobs/${job.id}?wait=10&after=${seq}`);
      last = r.json;
      assert.ok(last.seq > seq || ['succeeded', 'failed', 'cancelled'].includes(last.state));
      seq = last.seq;
      seen.add(Math.round(last.progress * 10));
      if (last.state === 'succeeded' || last.state === 'failed') break;
      assert.ok(Date.now() - t0 < 30000, 'job took too long');
    }
    assert.equal(last.state, 'succeeded');
    assert.equal(last.progress, 1);
    assert.equal(last.result.slept_seconds, 1.5);
    assert.ok(seen.size >= 3, `progress seen at ${[...seen]}`);
    // A long-poll on an unchanged finished job answers at once.
    const t1 = Date.now();
    await call(server, 'GET', `/api/v1/jobs/${job.id}?wait=20&after=${last.seq}`);
    assert.ok(Date.now() - t1 < 3000);
    const list = await call(server, 'GET', '/api/v1/jobs?kind=diag.sleep&state=succeeded&limit=5');
    assert.ok(list.json.items.some((j) => j.id === job.id));
  } finally { await server.stop(); }
});

test('cancel: a running job stops, a finished one answers 409', async () => {
  const server = await startServer({ env: fast });
  try {
    const job = await startJob(server, { seconds: 60 });
    await waitJob(server, job.id, ['running']);
    const c = await call(server, 'POST', `/api/v1/jobs/${job.id}/cancel`);
    assert.equal(c.status, 200);
    assert.equal(c.json.cancel_requested, true);
    const done = await waitJob(server, job.id, ['cancelled', 'succeeded', 'failed'], 15000);
    assert.equal(done.state, 'cancelled');
    const again = await call(server, 'POST', `/api/v1/jobs/${job.id}/cancel`);
    assert.equal(again.status, 409);
    assert.equal(errorCode(again), 'conflict');
    assert.equal((await call(server, 'POST', '/api/v1/jobs/99999999/cancel')).status, 404);
  } finally { await server.stop(); }
});

test('a failing job ends failed with its reason', async () => {
  const server = await startServer({ env: fast });
  try {
    const job = await startJob(server, { seconds: 0.1, fail: 'the input was not what we expected' });
    const done = await waitJob(server, job.id);
    assert.equal(done.state, 'failed');
    assert.equal(done.error, 'the input was not what we expected');
  } finally { await server.stop(); }
});

test('separate worker processes take the work (scale-out through the database)', async () => {
  const server = await startServer({ env: { ...fast, INFICOND_WORKERS: '0' } });
  const worker = await startServer({ command: 'worker', env: fast });
  try {
    const job = await startJob(server, { seconds: 0.3 });
    const done = await waitJob(server, job.id, undefined, 30000);
    assert.equal(done.state, 'succeeded');
    assert.match(done.worker, /:worker$/);
  } finally {
    await worker.stop();
    await server.stop();
  }
});

test('SIGTERM re-queues the running job without using up an attempt', async () => {
  const a = await startServer({ env: fast });
  const job = await startJob(a, { seconds: 60 });
  await waitJob(a, job.id, ['running']);
  const exit = await a.stop();
  assert.equal(exit.code, 0, a.log);
  const b = await startServer({ env: { ...fast, INFICOND_WORKERS: '0' } });
  try {
    const r = await call(b, 'GET', `/api/v1/jobs/${job.id}`);
    assert.equal(r.json.state, 'queued');
    assert.equal(r.json.attempts, 0);
    assert.match(r.json.message, /shutdown/);
    assert.equal((await call(b, 'POST', `/api/v1/jobs/${job.id}/cancel`)).json.state, 'cancelled');
  } finally { await b.stop(); }
});

test('kill -9 of a worker: the job is re-queued and re-run by another', async () => {
  const a = await startServer({ env: fast });
  const job = await startJob(a, { seconds: 60 });
  await waitJob(a, job.id, ['running']);
  await a.kill9();
  const b = await startServer({ env: fast });
  try {
    // b's reaper notices the silence, re-queues (attempt 1 of 2), and b claims it.
    const t0 = Date.now();
    let r;
    for (;;) {
      r = await call(b, 'GET', `/api/v1/jobs/${job.id}`);
      if (r.json.state === 'running' && r.json.attempts === 2) break;
      assert.ok(Date.now() - t0 < 20000, `still ${JSON.stringify(r.json)}`);
      await sleep(200);
    }
    assert.notEqual(r.json.worker, null);
    await call(b, 'POST', `/api/v1/jobs/${job.id}/cancel`);
    assert.equal((await waitJob(b, job.id, undefined, 15000)).state, 'cancelled');
  } finally { await b.stop(); }
});

test('kill -9 on the last attempt: the job fails with the reason, not stuck running', async () => {
  const a = await startServer({ env: { ...fast, INFICOND_JOB_MAX_ATTEMPTS: '1' } });
  const job = await startJob(a, { seconds: 60 });
  await waitJob(a, job.id, ['running']);
  await a.kill9();
  const b = await startServer({ env: { ...fast, INFICOND_WORKERS: '0' } });
  const worker = await startServer({ command: 'worker', env: fast });
  try {
    const done = await waitJob(b, job.id, ['failed', 'succeeded', 'cancelled', 'queued'], 20000);
    assert.equal(done.state, 'failed');
    assert.match(done.error, /stopped answering/);
    assert.equal(done.attempts, 1);
  } finally {
    await worker.stop();
    await b.stop();
  }
});
