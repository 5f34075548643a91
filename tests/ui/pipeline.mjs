// pipeline.mjs — the small real pipeline the UI suites open their pages on, built
// through the API only: the four fixture JPEGs uploaded as a tar dataset (train 3,
// test 1; classes plain and striped), a teacher made by `inficond teacher-init`,
// the tiny OpenAI-style CLIP fixture as concept model, a corpus, teacher outputs and
// an extraction (what a student needs), and a project over them. (The API tests'
// tests/api/world.mjs builds a bigger world: idx images and a dense model.)
//
// Env: INFICOND_BIN (default build/asan/inficond) for teacher-init.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { call, waitJob, uniq, run } from '../api/harness.mjs';
import { NO_CLIP, clipFolder, fixtureTar } from '../api/fixtures.mjs';

// NO_CLIP: false, or the skip reason naming the missing ../shared file.
export { uniq, NO_CLIP };

const BIN = process.env.INFICOND_BIN || 'build/asan/inficond';
// The server the suites start: two workers, one thread each.
export const SERVER_ENV = { INFICOND_WORKERS: '2', OMP_NUM_THREADS: '1' };

// One admin call that must answer `status`; returns its JSON.
export async function must(server, method, path, body, status) {
  const r = await call(server, method, path, body === undefined ? {} : { body });
  assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
  return r.json;
}

// Waits for job `id` (ms: waitJob's default when undefined) and asserts it succeeded.
export async function succeeded(server, id, ms) {
  const j = await waitJob(server, id, undefined, ms);
  assert.equal(j.state, 'succeeded', JSON.stringify(j));
  return j;
}

// The default layout: train 3 (plain 2, striped 1), test 1.
export const LAYOUT = { 'train/plain': ['red.jpg', 'green.jpg'], 'train/striped': ['stripes.jpg'], 'test/plain': ['blue.jpg'] };

// Dataset `name`: <split>/<class>/*.jpg from the four fixture JPEGs (distinct bytes),
// uploaded as a tar under `work`; returns the dataset as the API shows it after.
export async function uploadDataset(server, work, name, ms, layout = LAYOUT) {
  const tar = fixtureTar(join(work, 'tree'), join(work, 'images.tar'), layout);
  const ds = await must(server, 'POST', '/api/v1/datasets', { name }, 201);
  const up = await call(server, 'POST', `/api/v1/datasets/${ds.id}/upload`,
    { raw: tar, headers: { 'Content-Type': 'application/x-tar' } });
  assert.equal(up.status, 202, up.text);
  await succeeded(server, up.json.id, ms);
  return must(server, 'GET', `/api/v1/datasets/${ds.id}`, undefined, 200);
}

// Teacher: a random CNN over the dataset's classes, registered by path.
export async function registerTeacher(server, work, dataset) {
  const tdir = join(work, 'teacher');
  await run(BIN, ['teacher-init', tdir, '--classes', dataset.classes.join(','), '--size', '64'],
    { env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
  return must(server, 'POST', '/api/v1/models', { name: uniq('teacher'), path: tdir }, 201);
}

// Concept model: the tiny CLIP fixture with its manifest (only when !NO_CLIP).
export async function registerClip(server, work) {
  const cdir = clipFolder(join(work, 'clip'));
  return must(server, 'POST', '/api/v1/models', { name: uniq('clip'), path: cdir }, 201);
}

// All four parts a project is made of: { dataset, teacher, concept, corpus }, the
// dataset and corpus named after the prefixes given (layout: uploadDataset's).
export async function buildParts(server, work, { dataset, corpus, words, ms, layout }) {
  const parts = { dataset: await uploadDataset(server, work, uniq(dataset), ms, layout) };
  parts.teacher = await registerTeacher(server, work, parts.dataset);
  parts.concept = await registerClip(server, work);
  parts.corpus = await must(server, 'POST', '/api/v1/corpora', { name: uniq(corpus), words }, 201);
  return parts;
}

// Runs the teacher over the dataset, then the concept extraction; returns both jobs.
export async function runTeacherAndExtraction(server, { dataset, teacher, concept, corpus }, ms) {
  const run = async (path, body) => succeeded(server, (await must(server, 'POST', path, body, 202)).id, ms);
  const outputs = await run(`/api/v1/datasets/${dataset.id}/teacher-outputs`, { model_id: teacher.id });
  const extraction = await run('/api/v1/extractions',
    { dataset_id: dataset.id, concept_model_id: concept.id, corpus_id: corpus.id });
  return { outputs, extraction };
}

// A project named `name` over the four parts.
export function createProject(server, { dataset, teacher, concept, corpus }, name) {
  return must(server, 'POST', '/api/v1/projects', {
    name, dataset_id: dataset.id, teacher_model_id: teacher.id,
    concept_model_id: concept.id, corpus_id: corpus.id,
  }, 201);
}
