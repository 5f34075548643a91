// workers.test.mjs — one extraction and one teacher-outputs run split into chunk
// tasks that any worker claims (server/job_tasks.c): a `serve` alone and a `serve`
// with two `inficond worker` processes (same database, same data folder) store the
// same bytes; a worker killed mid-chunk costs that chunk only, which another worker
// makes again; a cancel of the job cancels its tasks. Fashion-MNIST's test split
// (10k images) in chunks of 512: 20 tasks per run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, call, waitJob, uniq, run } from './harness.mjs';
import { sql } from './pgtools.mjs';
import { FMNIST_TEST, NO_FMNIST, denseFolder } from './fixtures.mjs';

const BIN = process.env.INFICOND_BIN || 'build/asan/inficond';
const CHUNKS = 20;
const ENV = {
  INFICOND_WORKERS: '1', INFICOND_CHUNK_IMAGES: '512', INFICOND_HEARTBEAT_MS: '200',
  INFICOND_STALE_AFTER_MS: '1500', INFICOND_JOB_MAX_ATTEMPTS: '3', OMP_NUM_THREADS: '1',
};

let server, work;
const workers = [];
const w = {}; // dataset, models, corpus, and what the one-worker run stored

async function startWorker() {
  const p = await startServer({ command: 'worker', env: ENV, dataDir: server.dataDir });
  workers.push(p);
  // Ready once its threads claim work (libtorch takes a while to load, more under ASan).
  const end = Date.now() + 60000;
  while (!/worker thread\(s\)/.test(p.log) && Date.now() < end) await sleep(50);
  assert.match(p.log, /worker thread\(s\)/);
  return p;
}

before(async () => {
  if (NO_FMNIST) return;
  work = mkdtempSync(join(tmpdir(), 'inficond-workers-'));
  server = await startServer({ env: ENV });
  const ds = await call(server, 'POST', '/api/v1/datasets', { body: { name: uniq('fmnist') } });
  assert.equal(ds.status, 201, ds.text);
  const imp = await call(server, 'POST', `/api/v1/datasets/${ds.json.id}/imports`, {
    body: { source: 'idx', images: FMNIST_TEST.images, labels: FMNIST_TEST.labels },
  });
  assert.equal(imp.status, 202, imp.text);
  assert.equal((await waitJob(server, imp.json.id, undefined, 240000)).state, 'succeeded');
  w.dataset = ds.json.id;
  const dense = await call(server, 'POST', '/api/v1/models', { body: { name: uniq('dense'), path: denseFolder(join(work, 'dense')) } });
  assert.equal(dense.status, 201, dense.text);
  w.model = dense.json.id;
  const classes = Array.from({ length: 10 }, (_, k) => `c${k}`).join(',');
  await run(BIN, ['teacher-init', join(work, 'teacher'), '--classes', classes, '--size', '28', '--channels', '1'],
    { env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0', OMP_NUM_THREADS: '1' } });
  const t = await call(server, 'POST', '/api/v1/models', { body: { name: uniq('teacher'), path: join(work, 'teacher') } });
  assert.equal(t.status, 201, t.text);
  w.teacher = t.json.id;
  const c = await call(server, 'POST', '/api/v1/corpora', { body: { name: uniq('c'), words: ['cat', 'red', 'stripes'] } });
  assert.equal(c.status, 201, c.text);
  w.corpus = c.json.id;
});

after(async () => {
  for (const p of workers) await p.stop();
  await server?.stop();
});

// The stored segment chunks of the dataset under the concept model, in image order,
// and forgetting them (so the next extraction computes every chunk again).
const chunkShas = () => sql(`SELECT sha256 FROM segment_chunks WHERE dataset_id = ${w.dataset}
  AND model_id = ${w.model} ORDER BY first_image_id`).split('\n').filter(Boolean);
const forgetChunks = () => sql(`DELETE FROM segment_chunks WHERE dataset_id = ${w.dataset} AND model_id = ${w.model}`);

async function startExtraction() {
  const r = await call(server, 'POST', '/api/v1/extractions', { body: { dataset_id: w.dataset, concept_model_id: w.model, corpus_id: w.corpus } });
  assert.equal(r.status, 202, r.text);
  return r.json;
}

async function extraction() {
  forgetChunks();
  const r = await startExtraction();
  const job = await waitJob(server, r.id, undefined, 240000);
  assert.equal(job.state, 'succeeded', `${JSON.stringify(job)}\n${server.log.slice(-3000)}`);
  const x = await call(server, 'GET', `/api/v1/extractions/${r.extraction_id}`);
  assert.equal(x.status, 200, x.text);
  return { job, presence: x.json.presence_sha256, chunks: chunkShas() };
}

async function teacherOutputs() {
  const r = await call(server, 'POST', `/api/v1/datasets/${w.dataset}/teacher-outputs`, { body: { model_id: w.teacher } });
  assert.equal(r.status, 202, r.text);
  const job = await waitJob(server, r.json.id, undefined, 240000);
  assert.equal(job.state, 'succeeded', `${JSON.stringify(job)}\n${server.log.slice(-3000)}`);
  const o = await call(server, 'GET', `/api/v1/teacher-outputs/${job.result.teacher_output_id}`);
  assert.equal(o.status, 200, o.text);
  return { job, probs: o.json.probs_sha256 };
}

test('one worker alone: the job makes every chunk task itself', { skip: NO_FMNIST }, async () => {
  w.one = { x: await extraction(), t: await teacherOutputs() };
  for (const job of [w.one.x.job, w.one.t.job]) {
    assert.equal(job.result.chunk_tasks.tasks, CHUNKS, JSON.stringify(job.result));
    assert.equal(job.result.chunk_tasks.attempts, CHUNKS);
    assert.deepEqual(job.result.chunk_tasks.workers.map((n) => n.split(':').pop()), ['serve']);
  }
  assert.equal(w.one.x.job.result.chunks_computed, CHUNKS);
  assert.equal(w.one.x.chunks.length, CHUNKS);
});

test('serve + 2 worker processes share the chunks and store the same bytes', { skip: NO_FMNIST }, async () => {
  assert.ok(w.one, 'needs the one-worker run');
  await startWorker();
  await startWorker();
  const x = await extraction();
  const t = await teacherOutputs();
  assert.equal(x.presence, w.one.x.presence, 'presence matrix');
  assert.deepEqual(x.chunks, w.one.x.chunks, 'segment chunk blobs');
  assert.equal(t.probs, w.one.t.probs, 'teacher probabilities');
  for (const job of [x.job, t.job]) {
    const tasks = job.result.chunk_tasks;
    assert.equal(tasks.tasks, CHUNKS);
    assert.ok(tasks.workers.length >= 2, `more than one process made chunks: ${JSON.stringify(tasks)}`);
  }
});

test('a worker killed mid-chunk loses that chunk only: another worker makes it, the result is the same', { skip: NO_FMNIST }, async () => {
  assert.ok(w.one, 'needs the one-worker run');
  while (workers.filter((p) => p.proc.exitCode === null).length < 2) await startWorker();
  const victim = workers.find((p) => p.proc.exitCode === null);
  forgetChunks();
  const r = await startExtraction();
  // Wait for a chunk task running in the victim, freeze the victim (SIGSTOP: no
  // race with the chunk's end), and kill it if that chunk is still unfinished;
  // else let it go on and wait for its next chunk.
  let task;
  const end = Date.now() + 120000;
  while (!task && Date.now() < end) {
    const running = sql(`SELECT id FROM job_tasks WHERE job_id = ${r.id} AND state = 'running'
      AND worker LIKE '%:${victim.proc.pid}:worker'`).split('\n').filter(Boolean)[0];
    if (!running) {
      await sleep(20);
      continue;
    }
    victim.proc.kill('SIGSTOP');
    if (sql(`SELECT state FROM job_tasks WHERE id = ${running}`) === 'running') task = running;
    else victim.proc.kill('SIGCONT');
  }
  assert.ok(task, 'the victim took a chunk');
  await victim.kill9();
  const job = await waitJob(server, r.id, undefined, 240000);
  assert.equal(job.state, 'succeeded', `${JSON.stringify(job)}\n${server.log.slice(-3000)}`);
  const tasks = job.result.chunk_tasks;
  assert.equal(tasks.tasks, CHUNKS);
  assert.equal(tasks.retried, 1, JSON.stringify(tasks));
  assert.equal(tasks.attempts, CHUNKS + 1, 'only the killed chunk was made twice');
  assert.equal(sql(`SELECT attempts FROM job_tasks WHERE id = ${task}`), '2');
  const x = await call(server, 'GET', `/api/v1/extractions/${r.extraction_id}`);
  assert.equal(x.json.presence_sha256, w.one.x.presence);
  assert.deepEqual(chunkShas(), w.one.x.chunks);
});

test('cancelling the job cancels its chunk tasks', { skip: NO_FMNIST }, async () => {
  forgetChunks();
  const r = await startExtraction();
  const end = Date.now() + 120000;
  while (Date.now() < end && sql(`SELECT count(*) FROM job_tasks WHERE job_id = ${r.id}`) === '0') await sleep(20);
  const c = await call(server, 'POST', `/api/v1/jobs/${r.id}/cancel`);
  assert.equal(c.status, 200, c.text);
  const job = await waitJob(server, r.id, undefined, 60000);
  assert.equal(job.state, 'cancelled', JSON.stringify(job));
  // Running chunks stop at their next batch; none is left queued or running.
  let open;
  for (let i = 0; i < 100; i++) {
    open = sql(`SELECT count(*) FROM job_tasks WHERE job_id = ${r.id} AND state IN ('queued', 'running')`);
    if (open === '0') break;
    await sleep(100);
  }
  assert.equal(open, '0');
  assert.notEqual(sql(`SELECT count(*) FROM job_tasks WHERE job_id = ${r.id} AND state = 'cancelled'`), '0');
  assert.equal((await call(server, 'GET', `/api/v1/extractions/${r.extraction_id}`)).json.state, 'failed');
});
