// faults.test.mjs — crashes and damaged files: kill -9 of the server during a
// dataset import, a concept extraction and a distillation, then a restart on the same
// database and data folder: each job is recovered (re-run to success), nothing
// half-written is visible (image rows match verified blobs, no student without a
// version and its measures, no extraction naming a missing blob), and everything made
// earlier is byte-identical (exports, presence) with every stored blob verifying.
// Then a corrupted presence and segment blob on disk: detected by checksum, reported
// (clear error in the API and the job, logged), never used, and healed by a re-run.
//
// Setups are small: the fixture JPEGs, Fashion-MNIST's test split (10 000 images, big
// enough to be caught mid-job) and a synthetic distillation problem seeded straight
// into the database and blob store, as students.test.mjs does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, call, waitJob, errorCode, uniq, ADMIN_TOKEN } from './harness.mjs';
import { sql } from './pgtools.mjs';
import { FMNIST_TEST, IMAGES, NO_FMNIST, denseFolder, fixtureDataset } from './fixtures.mjs';
import * as synthetic from './synthetic.mjs';

// Fast heartbeats so a restarted server notices the killed one's job quickly.
const ENV = { INFICOND_HEARTBEAT_MS: '200', INFICOND_STALE_AFTER_MS: '1500', INFICOND_JOB_MAX_ATTEMPTS: '3', OMP_NUM_THREADS: '1' };

let server, dataDir, work;
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const blobPath = (sha) => join(dataDir, 'blobs', sha.slice(0, 2), sha.slice(2));
const earlier = {}; // what was made before the kills, to compare after

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'inficond-faults-'));
  dataDir = mkdtempSync(join(tmpdir(), 'inficond-faults-data-'));
  server = await startServer({ env: ENV, dataDir });
});
after(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

async function restart() {
  await server.kill9();
  server = await startServer({ env: ENV, dataDir });
}

// Every blob file under the data folder hashes to its name; returns how many.
function verifyAllBlobs() {
  const top = join(dataDir, 'blobs');
  let n = 0;
  for (const fan of readdirSync(top)) {
    if (fan.startsWith('.')) continue; // .tmp-* leftovers of a killed write are not blobs
    for (const f of readdirSync(join(top, fan))) {
      if (f.startsWith('.')) continue;
      assert.equal(sha256(readFileSync(join(top, fan, f))), fan + f, `blob ${fan}${f} does not verify`);
      n++;
    }
  }
  return n;
}

function blobOk(sha) {
  return existsSync(blobPath(sha)) && sha256(readFileSync(blobPath(sha))) === sha;
}

// Flip a few bytes in the middle of a stored blob (its size stays the same).
function corrupt(sha) {
  const b = readFileSync(blobPath(sha));
  for (let i = 0; i < 4; i++) b[(b.length >> 1) + i] ^= 0x5a;
  writeFileSync(blobPath(sha), b);
}

// Start a job, wait until it is running with at least `progress` done, then kill -9
// the server: the job must still be unfinished at that moment or the test proves nothing.
async function killDuring(jobId, progress) {
  let seq = 0, j;
  for (;;) {
    j = (await call(server, 'GET', `/api/v1/jobs/${jobId}?wait=2&after=${seq}`)).json;
    seq = j.seq;
    if (j.state === 'running' && j.progress >= progress) break;
    assert.ok(['queued', 'running'].includes(j.state), `job ended before the kill: ${JSON.stringify(j)}`);
  }
  await restart();
  const k = (await call(server, 'GET', `/api/v1/jobs/${jobId}`)).json;
  assert.ok(['running', 'queued'].includes(k.state), `after the kill: ${JSON.stringify(k)}`);
  const done = await waitJob(server, jobId, undefined, 240000);
  assert.equal(done.state, 'succeeded', `${JSON.stringify(done)}\n${server.log.slice(-3000)}`);
  assert.ok(done.attempts >= 2, `re-run after the kill (attempts ${done.attempts})`);
  return done;
}

async function extract(dataset_id, concept_model_id, corpus_id) {
  const r = await call(server, 'POST', '/api/v1/extractions', { body: { dataset_id, concept_model_id, corpus_id } });
  assert.equal(r.status, 202, r.text);
  return r.json;
}

async function presenceF32(id) {
  const r = await fetch(`${server.url}/api/v1/extractions/${id}/presence?format=f32`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  return { status: r.status, buf: Buffer.from(await r.arrayBuffer()), shape: r.headers.get('x-shape') };
}

// A synthetic distillation problem (N images, d concepts, c classes) in the database
// and blob store: returns {ext, out, presence}.
function seedProblem(n, d, c, seedValue) {
  const rand = synthetic.rng(seedValue);
  const problem = synthetic.seedProblem({
    dataDir, tag: uniq('faults'), n, modelSha: 'cd'.repeat(32),
    classes: Array.from({ length: c }, (_, k) => `k${k}`), words: Array.from({ length: d }, (_, j) => `w${j}`),
    image(label, split, x) {
      for (let j = 0; j < d; j++) x[j] = 0.2 * rand() + ((j % c) === label ? 0.6 * rand() : 0);
      return Array.from({ length: c }, (_, k) => { let s = 0; for (let j = k; j < d; j += c) s += 3 * x[j]; return s; });
    },
  });
  mine.extractions.push(problem.ext);
  return problem;
}

async function distil(ext, out, lambda = 1e-3) {
  const r = await call(server, 'POST', '/api/v1/students', { body: { extraction_id: ext, teacher_output_id: out, name: uniq('s'), lambda } });
  assert.equal(r.status, 202, r.text);
  return r.json;
}

const exportOf = async (sid, v) => {
  const r = await call(server, 'GET', `/api/v1/students/${sid}/versions/${v}/export`);
  assert.equal(r.status, 200, r.text);
  return r.text;
};

// Nothing half-written is visible, among what this file made (other test files may
// share the database, with their blobs in other data folders): every image row names
// a verified blob, every student has a version with measures and verified blobs,
// every ready extraction names blobs that verify.
const mine = { datasets: [], extractions: [] };
function checkNoHalfWritten() {
  const ds = mine.datasets.join(',') || '0', xs = mine.extractions.join(',') || '0';
  const missing = sql(`SELECT sha256 FROM images WHERE dataset_id IN (${ds}) AND bytes > 0`)
    .split('\n').filter(Boolean).filter((s) => !blobOk(s));
  assert.deepEqual(missing, [], 'image rows whose blob is missing or corrupt');
  const students = `SELECT id FROM students WHERE extraction_id IN (${xs})`;
  assert.equal(sql(`SELECT count(*) FROM students s WHERE s.id IN (${students}) AND NOT EXISTS
                     (SELECT 1 FROM student_versions v WHERE v.student_id = s.id)`), '0', 'a student without a version');
  assert.equal(sql(`SELECT count(*) FROM student_versions WHERE student_id IN (${students})
                     AND (measures IS NULL OR measures = '{}'::jsonb)`), '0', 'a version without measures');
  for (const l of sql(`SELECT weights_sha256 || ' ' || coalesce(bounds_sha256, '') FROM student_versions
                       WHERE student_id IN (${students})`).split('\n').filter(Boolean)) {
    for (const h of l.split(' ').filter(Boolean)) assert.ok(blobOk(h), `student blob ${h}`);
  }
  for (const l of sql(`SELECT presence_sha256 || ' ' || image_ids_sha256 || ' ' || coalesce(array_to_string(chunks, ' '), '')
                       FROM extractions WHERE state = 'ready' AND id IN (${xs})`).split('\n').filter(Boolean)) {
    for (const h of l.split(' ').filter(Boolean)) assert.ok(blobOk(h), `extraction blob ${h}`);
  }
}

test('before the faults: a small dataset, an extraction and a tuned student', async () => {
  const ds = await fixtureDataset(server, uniq('small'), join(work, 'tar'), join(work, 'small.tar'));
  earlier.dataset = ds.id;
  mine.datasets.push(ds.id);
  earlier.images = ds.images;
  assert.equal(earlier.images.length, readdirSync(IMAGES).length);

  const m = await call(server, 'POST', '/api/v1/models', { body: { name: uniq('dense'), path: denseFolder(join(work, 'dense')) } });
  assert.equal(m.status, 201, m.text);
  earlier.model = m.json.id;
  const c = await call(server, 'POST', '/api/v1/corpora', { body: { name: uniq('c'), words: ['cat', 'dog', 'red', 'blue', 'green', 'stripes'] } });
  assert.equal(c.status, 201, c.text);
  earlier.corpus = c.json.id;
  const x = await extract(earlier.dataset, earlier.model, earlier.corpus);
  assert.equal((await waitJob(server, x.id, undefined, 120000)).state, 'succeeded');
  earlier.extraction = x.extraction_id;
  mine.extractions.push(x.extraction_id);
  earlier.presence = await presenceF32(x.extraction_id);
  assert.equal(earlier.presence.status, 200);

  earlier.problem = seedProblem(300, 8, 3, 7);
  const job = await waitJob(server, (await distil(earlier.problem.ext, earlier.problem.out)).id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  earlier.student = job.result.student_id;
  const v1 = (await call(server, 'GET', `/api/v1/students/${earlier.student}/versions/1`)).json;
  const tune = await call(server, 'POST', `/api/v1/students/${earlier.student}/versions`, {
    body: { parent: 1, actions: [{ action: 'remove', concept: 0, class: 0 }], note: 'before the faults' },
  });
  assert.equal(tune.status, 201, tune.text);
  assert.ok(v1.measures);
  earlier.exports = [await exportOf(earlier.student, 1), await exportOf(earlier.student, 2)];
  assert.ok(verifyAllBlobs() > 0);
});

test('kill -9 during a dataset import: re-run to success, every row names a verified blob', { skip: NO_FMNIST }, async () => {
  const ds = await call(server, 'POST', '/api/v1/datasets', { body: { name: uniq('fmnist') } });
  assert.equal(ds.status, 201, ds.text);
  const r = await call(server, 'POST', `/api/v1/datasets/${ds.json.id}/imports`, {
    body: { source: 'idx', images: FMNIST_TEST.images, labels: FMNIST_TEST.labels },
  });
  assert.equal(r.status, 202, r.text);
  await killDuring(r.json.id, 0.2);
  const got = await call(server, 'GET', `/api/v1/datasets/${ds.json.id}`);
  assert.deepEqual(got.json.splits, { test: 10000 }, 'all images once: none lost, none twice');
  const shas = sql(`SELECT sha256 FROM images WHERE dataset_id = ${ds.json.id}`).split('\n');
  assert.equal(shas.length, 10000);
  assert.deepEqual(shas.filter((s) => !blobOk(s)), []);
  earlier.fmnist = ds.json.id;
  mine.datasets.push(ds.json.id);
  checkNoHalfWritten();
});

test('kill -9 during a concept extraction: re-run (resuming its stored chunks) to a ready, verified matrix', { skip: NO_FMNIST }, async () => {
  assert.ok(earlier.fmnist, 'needs the import test');
  const x = await extract(earlier.fmnist, earlier.model, earlier.corpus);
  const job = await killDuring(x.id, 0.3);
  mine.extractions.push(x.extraction_id);
  const got = await call(server, 'GET', `/api/v1/extractions/${x.extraction_id}`);
  assert.equal(got.status, 200, got.text);
  assert.equal(got.json.state, 'ready');
  const p = await presenceF32(x.extraction_id);
  assert.equal(p.status, 200);
  assert.equal(p.shape, '10000,6');
  assert.equal(job.result.n_images, 10000);
  checkNoHalfWritten();
});

test('kill -9 during a distillation: re-run to one student whose version has its measures', async () => {
  const prob = seedProblem(30000, 60, 10, 11);
  const count = `SELECT count(*) FROM students WHERE extraction_id = ${prob.ext}`;
  const j = await distil(prob.ext, prob.out, 1e-4);
  const done = await killDuring(j.id, 0);
  const st = await call(server, 'GET', `/api/v1/students/${done.result.student_id}`);
  assert.equal(st.status, 200, st.text);
  assert.equal(st.json.head.number, 1);
  const v = await call(server, 'GET', `/api/v1/students/${done.result.student_id}/versions/1`);
  assert.ok(v.json.measures.splits.test, v.text);
  assert.equal(sql(count), '1', 'the killed attempt left no student behind');
  checkNoHalfWritten();
});

test('after the kills: earlier versions byte-identical, every blob verifies', async () => {
  assert.deepEqual([await exportOf(earlier.student, 1), await exportOf(earlier.student, 2)], earlier.exports);
  const p = await presenceF32(earlier.extraction);
  assert.equal(p.status, 200);
  assert.ok(p.buf.equals(earlier.presence.buf), 'the earlier presence matrix changed');
  const imgs = (await call(server, 'GET', `/api/v1/datasets/${earlier.dataset}/images?limit=100`)).json.items;
  assert.deepEqual(imgs, earlier.images);
  for (const im of imgs) {
    const r = await fetch(`${server.url}/api/v1/images/${im.id}`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(r.status, 200);
    assert.equal(sha256(Buffer.from(await r.arrayBuffer())), im.sha256);
  }
  verifyAllBlobs();
});

test('an extraction whose worker dies on its last attempt ends failed with the reason, not running', { skip: NO_FMNIST }, async () => {
  assert.ok(earlier.fmnist, 'needs the import test');
  // One attempt per job from now on, so the reaper fails the job instead of re-queueing it.
  const oneTry = { ...ENV, INFICOND_JOB_MAX_ATTEMPTS: '1' };
  await server.stop();
  server = await startServer({ env: oneTry, dataDir });
  const c = await call(server, 'POST', '/api/v1/corpora', { body: { name: uniq('c'), words: ['cat', 'red', 'stripes'] } });
  assert.equal(c.status, 201, c.text);
  const x = await extract(earlier.fmnist, earlier.model, c.json.id);
  let seq = 0, j;
  do {
    j = (await call(server, 'GET', `/api/v1/jobs/${x.id}?wait=2&after=${seq}`)).json;
    seq = j.seq;
    assert.ok(['queued', 'running'].includes(j.state), `job ended before the kill: ${JSON.stringify(j)}`);
  } while (!(j.state === 'running' && j.progress >= 0.1));
  await server.kill9();
  server = await startServer({ env: oneTry, dataDir });
  const done = await waitJob(server, x.id, undefined, 60000);
  assert.equal(done.state, 'failed', JSON.stringify(done));
  assert.ok(done.error, 'the job names why it failed');
  const got = await call(server, 'GET', `/api/v1/extractions/${x.extraction_id}`);
  assert.equal(got.status, 200, got.text);
  assert.equal(got.json.state, 'failed', `extraction row after its job failed: ${got.text}`);
  assert.equal(got.json.error, done.error);
  // Nothing half-made is served from it, and running it again starts it afresh.
  assert.equal((await presenceF32(x.extraction_id)).status, 409);
  await server.stop();
  server = await startServer({ env: ENV, dataDir });
});

test('a corrupted presence blob is detected, reported and not used', async () => {
  const sha = sql(`SELECT presence_sha256 FROM extractions WHERE id = ${earlier.extraction}`);
  corrupt(sha);
  const img = earlier.images[0].id;
  for (const path of [`/presence?format=f32`, `/presence`, `/images/${img}/presence`]) {
    const r = await call(server, 'GET', `/api/v1/extractions/${earlier.extraction}${path}`);
    assert.equal(r.status, 500, `${path}: ${r.text}`);
    assert.equal(errorCode(r), 'data_corrupt', path);
    assert.match(r.json.error.message, new RegExp(`${sha}.*corrupt`), path);
  }
  assert.match(server.log, new RegExp(`blob ${sha} is corrupt`));
  // A job given the damaged matrix fails with the reason and stores nothing.
  corrupt(earlier.problem.presence);
  const students = `SELECT count(*) FROM students WHERE extraction_id = ${earlier.problem.ext}`;
  const had = sql(students);
  const done = await waitJob(server, (await distil(earlier.problem.ext, earlier.problem.out, 2e-3)).id);
  assert.equal(done.state, 'failed');
  assert.match(done.error, new RegExp(`blob ${earlier.problem.presence} is corrupt`));
  assert.equal(sql(students), had);
  corrupt(earlier.problem.presence); // flipping again restores it
  assert.ok(blobOk(earlier.problem.presence));
});

test('a corrupted segment blob is detected and reported; a re-run recomputes and heals it', async () => {
  const chunk = sql(`SELECT chunks[1] FROM extractions WHERE id = ${earlier.extraction}`);
  corrupt(chunk);
  const img = earlier.images[0].id;
  const r = await call(server, 'GET', `/api/v1/extractions/${earlier.extraction}/images/${img}/segments`);
  assert.equal(r.status, 500, r.text);
  assert.equal(errorCode(r), 'data_corrupt');
  assert.match(r.json.error.message, /corrupt/);
  // Extracting again does not reuse the damaged chunk: it recomputes it, and the
  // identical bytes replace the damaged file (the presence blob too).
  const x = await extract(earlier.dataset, earlier.model, earlier.corpus);
  const done = await waitJob(server, x.id, undefined, 120000);
  assert.equal(done.state, 'succeeded', JSON.stringify(done));
  assert.equal(done.result.chunks_computed, 1);
  assert.ok(blobOk(chunk));
  const p = await presenceF32(earlier.extraction);
  assert.equal(p.status, 200);
  assert.ok(p.buf.equals(earlier.presence.buf));
  assert.equal((await call(server, 'GET', `/api/v1/extractions/${earlier.extraction}/images/${img}/segments`)).status, 200);
  verifyAllBlobs();
});
