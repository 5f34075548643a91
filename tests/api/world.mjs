// world.mjs — a small but real world built through the API only, for tests that need
// a student over real images: an idx dataset (train + test), the tiny dense concept
// model fixture, a corpus, a finished extraction (segments, presence, galleries), a
// predictions-file teacher output and a distilled student.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, waitJob } from './harness.mjs';
import { denseFolder } from './fixtures.mjs';

export const CLASSES = ['left', 'middle', 'right'];
export const WORDS = ['red', 'green', 'blue', 'stripes'];

// n 28x28 grey images: a bright square whose place follows the label, plus noise.
function writeIdx(dir, name, n, seed) {
  const img = Buffer.alloc(16 + n * 784);
  img.writeUInt32BE(0x803, 0); img.writeUInt32BE(n, 4); img.writeUInt32BE(28, 8); img.writeUInt32BE(28, 12);
  const lab = Buffer.alloc(8 + n);
  lab.writeUInt32BE(0x801, 0); lab.writeUInt32BE(n, 4);
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < n; i++) {
    const label = i % 3;
    lab[8 + i] = label;
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
      const inSquare = x >= 2 + label * 8 && x < 10 + label * 8 && y >= 6 + (i % 5) && y < 18 + (i % 5);
      img[16 + i * 784 + y * 28 + x] = inSquare ? 200 + Math.floor(rnd() * 55) : Math.floor(rnd() * 80);
    }
  }
  const images = join(dir, `${name}-images-idx3-ubyte`), labels = join(dir, `${name}-labels-idx1-ubyte`);
  writeFileSync(images, img);
  writeFileSync(labels, lab);
  return { images, labels };
}

async function ok(server, method, path, status, body) {
  const r = await call(server, method, path, body === undefined ? {} : { body });
  assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
  return r.json;
}

async function job(server, id, ms = 180000) {
  const j = await waitJob(server, id, undefined, ms);
  assert.equal(j.state, 'succeeded', JSON.stringify(j));
  return j;
}

// Builds the world on `server` (admin token) with files under `work`; returns ids.
export async function buildWorld(server, work, { tag = 'world', train = 60, test = 30 } = {}) {
  const ds = await ok(server, 'POST', '/api/v1/datasets', 201, { name: `${tag}-ds` });
  for (const [split, n, seed] of [['train', train, 11], ['test', test, 29]]) {
    const f = writeIdx(work, `${tag}-${split}`, n, seed);
    const imp = await ok(server, 'POST', `/api/v1/datasets/${ds.id}/imports`, 202,
      { source: 'idx', images: f.images, labels: f.labels, split, classes: CLASSES });
    await job(server, imp.id);
  }
  const images = (await ok(server, 'GET', `/api/v1/datasets/${ds.id}/images?limit=1000`, 200)).items;
  assert.equal(images.length, train + test);

  const mdir = denseFolder(join(work, `${tag}-dense`));
  const model = await ok(server, 'POST', '/api/v1/models', 201, { name: `${tag}-dense`, path: mdir });
  const corpus = await ok(server, 'POST', '/api/v1/corpora', 201, { name: `${tag}-corpus`, words: WORDS });
  const ex = await ok(server, 'POST', '/api/v1/extractions', 202,
    { dataset_id: ds.id, concept_model_id: model.id, corpus_id: corpus.id });
  await job(server, ex.id);

  // A teacher that is right about 80% of the time, as logits by image id.
  const csv = ['key,' + CLASSES.join(','), ...images.map((im, i) => {
    const l = [0, 0, 0];
    l[i % 5 === 0 ? (im.label + 1) % 3 : im.label] = 2 + (i % 7) / 7;
    return [im.id, ...l].join(',');
  })].join('\n') + '\n';
  const pr = await call(server, 'POST', `/api/v1/datasets/${ds.id}/predictions?name=${tag}-teacher`,
    { raw: csv, headers: { 'Content-Type': 'text/csv' } });
  assert.equal(pr.status, 201, pr.text);

  const st = await ok(server, 'POST', '/api/v1/students', 202,
    { extraction_id: ex.extraction_id, teacher_output_id: pr.json.id, name: `${tag}-student`, lambda: 1e-3 });
  const sj = await job(server, st.id);
  return {
    dataset: ds.id, images, model: model.id, corpus: corpus.id, extraction: ex.extraction_id,
    teacherOutput: pr.json.id, student: sj.result.student_id,
  };
}
