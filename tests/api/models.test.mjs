// models.test.mjs — the model registry and teacher outputs, end to end: register
// the OpenAI-style CLIP fixture by path and a C++-built teacher by .tar upload, the
// field-named 422s (wrong manifest, missing method, wrong shape, corrupt .pt), 409
// and 403; a teacher.outputs job over a small idx dataset, its probabilities as
// paged JSON and as the raw float32 matrix; the stored probabilities against an
// independent forward pass in python3-torch (tests/api/teacher_forward.py);
// predictions files (CSV / JSON).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ADMIN_TOKEN, startServer, call, waitJob, errorCode, createUser, run } from './harness.mjs';
import { NO_CLIP, clipFolder, denseFolder } from './fixtures.mjs';

const BIN = process.env.INFICOND_BIN || 'build/asan/inficond';
const CLASSES = ['shirt', 'shoe', 'bag'];
const N_IMAGES = 36;
// Debian's python3 with python3-torch and python3-pil (`python3` on PATH may be
// another interpreter without them).
const PY = '/usr/bin/python3';
const FORWARD = resolve('tests/api/teacher_forward.py');
const NO_TORCH = await run(PY, ['-c', 'import torch, PIL']).then(() => false,
  (e) => `needs ${PY} with torch and PIL (apt-get install python3-torch python3-pil; scripts/deps.sh does): ${e.message.slice(-200)}`);

let server, work, teacherDir, datasetId, teacherId, outputId;

function binEnv() {
  return { ...process.env, ASAN_OPTIONS: 'detect_leaks=0', OMP_NUM_THREADS: '1' };
}

// libtorch under ASan takes seconds to start: awaited, not waited for synchronously.
async function teacherInit(dir, classes, extra = []) {
  await run(BIN, ['teacher-init', dir, '--classes', classes.join(','), ...extra], { env: binEnv() });
}

function editManifest(dir, edit) {
  const p = join(dir, 'manifest.json');
  const m = JSON.parse(readFileSync(p, 'utf8'));
  edit(m);
  writeFileSync(p, JSON.stringify(m));
}

// A small idx pair: N 28x28 images (a bright square whose place depends on the label,
// plus noise) and labels 0..2.
function writeIdx(dir, n) {
  const img = Buffer.alloc(16 + n * 784);
  img.writeUInt32BE(0x803, 0); img.writeUInt32BE(n, 4); img.writeUInt32BE(28, 8); img.writeUInt32BE(28, 12);
  const lab = Buffer.alloc(8 + n);
  lab.writeUInt32BE(0x801, 0); lab.writeUInt32BE(n, 4);
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < n; i++) {
    const label = i % 3;
    lab[8 + i] = label;
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
      const inSquare = x >= 4 + label * 7 && x < 12 + label * 7 && y >= 8 && y < 20;
      img[16 + i * 784 + y * 28 + x] = inSquare ? 230 : Math.floor(rnd() * 60);
    }
  }
  writeFileSync(join(dir, 'imgs-idx3-ubyte'), img);
  writeFileSync(join(dir, 'labels-idx1-ubyte'), lab);
}

const makeUser = async (role) => (await createUser(server, role, { password: 'correct horse battery', token: true })).token;

function tarOf(dir) {
  const out = join(work, `${Math.random().toString(36).slice(2)}.tar`);
  execFileSync('tar', ['-cf', out, '-C', dir, '.']);
  return readFileSync(out);
}

async function upload(path, body, token) {
  return call(server, 'POST', path, { raw: body, token, headers: { 'Content-Type': 'application/octet-stream' } });
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'inficond-models-'));
  server = await startServer({ env: { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' } });
});
after(async () => {
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the OpenAI-style CLIP fixture registers by path, copied into the data folder', { skip: NO_CLIP }, async () => {
  const dir = clipFolder(join(work, 'clip'));
  const r = await call(server, 'POST', '/api/v1/models', { body: { name: 'clip-tiny', path: dir } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.kind, 'concept');
  assert.equal(r.json.encoder, 'global');
  assert.equal(r.json.embedding_dim, 64);
  assert.match(r.json.sha256, /^[0-9a-f]{64}$/);
  assert.equal(r.json.summary.patched_openai_jit, true);
  assert.deepEqual(r.json.summary.methods.image.output, [2, 64]);
  assert.deepEqual(r.json.summary.methods.text.output, [2, 64]);
  assert.equal(r.headers.get('location'), `/api/v1/models/${r.json.id}`);
  // The registry keeps its own copy: the user's folder may go away.
  rmSync(dir, { recursive: true });
  const g = await call(server, 'GET', `/api/v1/models/${r.json.id}`);
  assert.equal(g.status, 200);
  assert.equal(g.json.name, 'clip-tiny');
  const dup = await call(server, 'POST', '/api/v1/models', { body: { name: 'clip-tiny', path: clipFolder(join(work, 'clip2')) } });
  assert.equal(dup.status, 409, dup.text);
  assert.equal(errorCode(dup), 'conflict');
  // The CLIP image encoder under a manifest that says dense: 422 naming the field.
  const bad = await call(server, 'POST', '/api/v1/models', { body: { name: 'clip-as-dense', path: clipFolder(join(work, 'bad-encoder'), { encoder: 'dense' }) } });
  assert.equal(bad.status, 422, bad.text);
  assert.equal(errorCode(bad), 'unprocessable');
  assert.match(bad.json.error.message, /manifest\.encoder/);
});

test('a C++-built teacher registers from a .tar upload', async () => {
  teacherDir = join(work, 'teacher');
  await teacherInit(teacherDir, CLASSES, ['--size', '28', '--channels', '1', '--mean', '0.3', '--std', '0.3']);
  const r = await upload('/api/v1/models/upload?name=cnn-teacher', tarOf(teacherDir));
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.kind, 'teacher');
  assert.deepEqual(r.json.classes, CLASSES);
  assert.deepEqual(r.json.summary.methods.forward.output, [2, 3]);
  teacherId = r.json.id;
  const list = await call(server, 'GET', '/api/v1/models?kind=teacher');
  assert.equal(list.status, 200);
  assert.ok(list.json.items.some((m) => m.id === teacherId && m.name === 'cnn-teacher'));
  assert.ok(!list.json.items.some((m) => m.kind !== 'teacher'));
});

test('bad model folders get a 422 that names the problem', async () => {
  const reg = (name, dir) => call(server, 'POST', '/api/v1/models', { body: { name, path: dir } });
  const cases = [];
  // Each case a copy of one good teacher with one thing wrong (teacher-init under ASan
  // takes seconds: made once).
  const good = join(work, 'bad-base');
  await teacherInit(good, CLASSES);
  const copyOf = (name) => {
    const dir = join(work, name);
    cpSync(good, dir, { recursive: true });
    return dir;
  };
  // Wrong manifest: no kind.
  const a = copyOf('bad-kind');
  editManifest(a, (m) => { delete m.kind; });
  cases.push([a, /manifest\.kind/]);
  // A method the model does not have.
  const b = copyOf('bad-method');
  editManifest(b, (m) => { m.methods.forward = 'predict'; });
  cases.push([b, /methods\.forward.*'predict'/]);
  // Wrong output shape: the manifest promises 5 classes, the model gives 3.
  const c = copyOf('bad-shape');
  editManifest(c, (m) => { m.classes = ['a', 'b', 'c', 'd', 'e']; });
  cases.push([c, /manifest\.classes.*\(2, 3\)/]);
  // A corrupt model.pt.
  const f = copyOf('bad-pt');
  writeFileSync(join(f, 'model.pt'), Buffer.from('this is not a zip archive at all'));
  cases.push([f, /not a TorchScript archive/]);
  let i = 0;
  for (const [dir, re] of cases) {
    const r = await reg(`bad-${i++}`, dir);
    assert.equal(r.status, 422, `${dir}: ${r.text}`);
    assert.equal(errorCode(r), 'unprocessable');
    assert.match(r.json.error.message, re);
  }
  const missing = await reg('nowhere', join(work, 'does-not-exist'));
  assert.equal(missing.status, 422);
  assert.match(missing.json.error.message, /path/);
  // Unsafe archive members are refused.
  const evil = join(work, 'evil');
  mkdirSync(evil);
  execFileSync('tar', ['-cf', join(work, 'evil.tar'), '-C', work, '-P', `${work}/teacher/manifest.json`]);
  const r = await upload('/api/v1/models/upload?name=evil', readFileSync(join(work, 'evil.tar')));
  assert.equal(r.status, 422, r.text);
  // Nothing of the failures was kept.
  const list = await call(server, 'GET', '/api/v1/models');
  assert.ok(!list.json.items.some((m) => m.name.startsWith('bad-')));
});

test('only an admin registers or deletes models; viewers read them', async () => {
  const viewer = await makeUser('viewer');
  const editor = await makeUser('editor');
  const r = await call(server, 'POST', '/api/v1/models', { token: viewer, body: { name: 'x', path: teacherDir } });
  assert.equal(r.status, 403);
  const u = await upload('/api/v1/models/upload?name=x', tarOf(teacherDir), editor);
  assert.equal(u.status, 403);
  const g = await call(server, 'GET', `/api/v1/models/${teacherId}`, { token: viewer });
  assert.equal(g.status, 200);
  const d = await call(server, 'DELETE', `/api/v1/models/${teacherId}`, { token: editor });
  assert.equal(d.status, 403);
});

test('teacher outputs: a job runs the teacher over a dataset and stores (N, C) probabilities', async () => {
  writeIdx(work, N_IMAGES);
  const ds = await call(server, 'POST', '/api/v1/datasets', { body: { name: 'tiny-idx' } });
  assert.equal(ds.status, 201, ds.text);
  datasetId = ds.json.id;
  const imp = await call(server, 'POST', `/api/v1/datasets/${datasetId}/imports`, {
    body: { source: 'idx', images: join(work, 'imgs-idx3-ubyte'), labels: join(work, 'labels-idx1-ubyte'), split: 'test', classes: CLASSES },
  });
  assert.equal(imp.status, 202, imp.text);
  const ij = await waitJob(server, imp.json.id);
  assert.equal(ij.state, 'succeeded', JSON.stringify(ij));

  // A concept model is no teacher; a class count that does not match is refused
  // before any work.
  const dense = await call(server, 'POST', '/api/v1/models', { body: { name: 'dense-concepts', path: denseFolder(join(work, 'dense')) } });
  assert.equal(dense.status, 201, dense.text);
  const bad = await call(server, 'POST', `/api/v1/datasets/${datasetId}/teacher-outputs`, { body: { model_id: dense.json.id } });
  assert.equal(bad.status, 422, bad.text);
  assert.match(bad.json.error.message, /model_id.*not a teacher/);
  const wrong = join(work, 'four');
  await teacherInit(wrong, ['a', 'b', 'c', 'd'], ['--size', '28', '--channels', '1']);
  const w = await call(server, 'POST', '/api/v1/models', { body: { name: 'four-classes', path: wrong } });
  assert.equal(w.status, 201, w.text);
  const mism = await call(server, 'POST', `/api/v1/datasets/${datasetId}/teacher-outputs`, { body: { model_id: w.json.id } });
  assert.equal(mism.status, 422);
  assert.match(mism.json.error.message, /4 classes.*3/);

  const start = await call(server, 'POST', `/api/v1/datasets/${datasetId}/teacher-outputs`, { body: { model_id: teacherId } });
  assert.equal(start.status, 202, start.text);
  assert.equal(start.headers.get('location'), `/api/v1/jobs/${start.json.id}`);
  const job = await waitJob(server, start.json.id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assert.equal(job.progress, 1);
  assert.equal(job.result.n, N_IMAGES);
  assert.equal(job.result.classes, 3);
  assert.equal(job.result.class_mapping, 'by_name');
  outputId = job.result.teacher_output_id;

  // Re-running replaces the same row.
  const again = await call(server, 'POST', `/api/v1/datasets/${datasetId}/teacher-outputs`, { body: { model_id: teacherId } });
  const job2 = await waitJob(server, again.json.id);
  assert.equal(job2.state, 'succeeded');
  assert.equal(job2.result.teacher_output_id, outputId);

  const list = await call(server, 'GET', `/api/v1/datasets/${datasetId}/teacher-outputs`);
  assert.equal(list.status, 200);
  assert.equal(list.json.items.length, 1);
  const meta = await call(server, 'GET', `/api/v1/teacher-outputs/${outputId}`);
  assert.equal(meta.status, 200, meta.text);
  assert.equal(meta.json.source, 'model');
  assert.equal(meta.json.model_id, teacherId);
  assert.equal(meta.json.n, N_IMAGES);
  assert.deepEqual(meta.json.class_names, CLASSES);
  assert.equal(meta.json.accuracy.test.n, N_IMAGES);
  assert.ok(meta.json.accuracy.test.accuracy >= 0 && meta.json.accuracy.test.accuracy <= 1);

  const page = await call(server, 'GET', `/api/v1/teacher-outputs/${outputId}/probabilities?split=test&limit=10&offset=30`);
  assert.equal(page.status, 200, page.text);
  assert.equal(page.json.total, N_IMAGES);
  assert.equal(page.json.items.length, N_IMAGES - 30);
  for (const row of page.json.items) {
    assert.equal(row.probs.length, 3);
    assert.ok(Math.abs(row.probs.reduce((s, p) => s + p, 0) - 1) < 1e-5);
  }
  const none = await call(server, 'GET', `/api/v1/teacher-outputs/${outputId}/probabilities?split=train`);
  assert.equal(none.json.total, 0);

  const raw = await fetch(`${server.url}/api/v1/teacher-outputs/${outputId}/probabilities?format=f32`,
    { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(raw.status, 200);
  assert.equal(raw.headers.get('content-type'), 'application/octet-stream');
  assert.equal(raw.headers.get('x-shape'), `${N_IMAGES},3`);
  assert.equal(raw.headers.get('etag'), `"${meta.json.probs_sha256}"`);
  const buf = Buffer.from(await raw.arrayBuffer());
  assert.equal(buf.length, N_IMAGES * 3 * 4);
  const f = new Float32Array(buf.buffer, buf.byteOffset, N_IMAGES * 3);
  const all = await call(server, 'GET', `/api/v1/teacher-outputs/${outputId}/probabilities?limit=1000`);
  for (let i = 0; i < N_IMAGES; i++)
    for (let j = 0; j < 3; j++) assert.ok(Math.abs(f[i * 3 + j] - all.json.items[i].probs[j]) < 1e-6);
});

// The stored probabilities against an independent forward pass: python3-torch runs
// the same TorchScript file on the same JPEG bytes, preprocessed as teacher_forward.py
// restates it (decode with libjpeg-turbo, no resize: the images have the input size,
// x/255, (x - mean)/std, grey = mean of R, G, B; softmax). The server runs the model
// optimised for inference (frozen, oneDNN convolutions), Python runs it plain: they
// agree up to float rounding, not bit for bit. Tolerance: 1e-4 absolute on every
// probability, while the rows differ between images by over 100 times that, so a
// preprocessing slip (a wrong mean, a channel swap, a resize) would show.
const FORWARD_TOLERANCE = 1e-4;
test('teacher outputs equal python3-torch\'s forward of the same TorchScript file', { skip: NO_TORCH, timeout: 300000 }, async (t) => {
  const SIZE = 32, N = 6, DS_CLASSES = ['cat', 'dog', 'fox'];
  const dir = join(work, 'forward');
  await run(PY, [FORWARD, 'images', join(dir, 'gen'), String(SIZE), String(N), '7']);
  // <class>/img-K.jpg: one dataset with the three classes, uploaded as a tar.
  const files = readdirSync(join(dir, 'gen')).sort();
  assert.equal(files.length, N);
  const bySha = new Map();
  files.forEach((f, k) => {
    const cls = DS_CLASSES[k % 3];
    mkdirSync(join(dir, 'tree', cls), { recursive: true });
    renameSync(join(dir, 'gen', f), join(dir, 'tree', cls, f));
    bySha.set(createHash('sha256').update(readFileSync(join(dir, 'tree', cls, f))).digest('hex'), join(dir, 'tree', cls, f));
  });
  await run('tar', ['-cf', join(dir, 'images.tar'), '-C', join(dir, 'tree'), ...DS_CLASSES]);
  const ds = await call(server, 'POST', '/api/v1/datasets', { body: { name: 'forward-check' } });
  assert.equal(ds.status, 201, ds.text);
  const up = await call(server, 'POST', `/api/v1/datasets/${ds.json.id}/upload`,
    { raw: readFileSync(join(dir, 'images.tar')), headers: { 'Content-Type': 'application/x-tar' } });
  assert.equal(up.status, 202, up.text);
  assert.equal((await waitJob(server, up.json.id)).state, 'succeeded');

  // An RGB and a grey teacher, their classes a permutation of the dataset's (mapped by name).
  const teachers = [
    ['rgb', ['--channels', '3', '--mean', '0.45', '--std', '0.22']],
    ['grey', ['--channels', '1', '--mean', '0.3', '--std', '0.3', '--seed', '5']],
  ];
  for (const [name, extra] of teachers) {
    const tdir = join(dir, name);
    await teacherInit(tdir, ['fox', 'cat', 'dog'], ['--size', String(SIZE), ...extra]);
    const m = await call(server, 'POST', '/api/v1/models', { body: { name: `forward-${name}`, path: tdir } });
    assert.equal(m.status, 201, m.text);
    const start = await call(server, 'POST', `/api/v1/datasets/${ds.json.id}/teacher-outputs`, { body: { model_id: m.json.id } });
    assert.equal(start.status, 202, start.text);
    const job = await waitJob(server, start.json.id, undefined, 120000);
    assert.equal(job.state, 'succeeded', JSON.stringify(job));
    assert.equal(job.result.class_mapping, 'by_name');
    const id = job.result.teacher_output_id;
    const meta = (await call(server, 'GET', `/api/v1/teacher-outputs/${id}`)).json;
    // Rows in image id order: the JSON page names them, the float32 matrix holds them exactly.
    const page = await call(server, 'GET', `/api/v1/teacher-outputs/${id}/probabilities?limit=1000`);
    assert.equal(page.status, 200, page.text);
    const rows = page.json.items;
    assert.equal(rows.length, N);
    const raw = await fetch(`${server.url}/api/v1/teacher-outputs/${id}/probabilities?format=f32`,
      { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(raw.status, 200);
    const buf = Buffer.from(await raw.arrayBuffer());
    const stored = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    assert.equal(stored.length, N * 3);

    const images = (await call(server, 'GET', `/api/v1/datasets/${ds.json.id}/images?limit=100`)).json.items;
    const shaOf = new Map(images.map((im) => [im.id, im.sha256]));
    const paths = rows.map((r) => bySha.get(shaOf.get(r.image_id)));
    assert.ok(paths.every(Boolean), 'every stored row is one of the generated images');
    const py = JSON.parse((await run(PY, [FORWARD, 'forward', tdir, ...paths],
      { env: { ...process.env, OMP_NUM_THREADS: '1' } })).stdout);
    assert.equal(py.probs.length, N);

    let maxDiff = 0, spread = 0;
    for (let i = 0; i < N; i++) {
      for (const c of DS_CLASSES) {
        const a = stored[i * 3 + meta.class_names.indexOf(c)], b = py.probs[i][py.classes.indexOf(c)];
        maxDiff = Math.max(maxDiff, Math.abs(a - b));
        for (let k = 0; k < N; k++) spread = Math.max(spread, Math.abs(a - stored[k * 3 + meta.class_names.indexOf(c)]));
      }
    }
    t.diagnostic(`${name} teacher: max |stored - python3-torch| = ${maxDiff.toExponential(2)} over ${N}x3 probabilities (tolerance ${FORWARD_TOLERANCE}); largest difference between images ${spread.toFixed(4)}`);
    assert.ok(maxDiff <= FORWARD_TOLERANCE, `${name} teacher: max |stored - python3-torch| ${maxDiff} > ${FORWARD_TOLERANCE}`);
    assert.ok(spread >= 100 * FORWARD_TOLERANCE, `${name} teacher: the rows hardly differ between images (${spread}): the check would prove little`);
  }
});

test('predictions files: every image covered, right width; logits become probabilities', async () => {
  const imgs = await call(server, 'GET', `/api/v1/datasets/${datasetId}/images?limit=500`);
  assert.equal(imgs.status, 200, imgs.text);
  const items = imgs.json.items;
  assert.equal(items.length, N_IMAGES);
  const logits = (i) => [i % 3, 0.5, -1];
  const csv = (rows) => ['key,shirt,shoe,bag', ...rows].join('\n') + '\n';
  const post = (body, name = 'ext') => call(server, 'POST', `/api/v1/datasets/${datasetId}/predictions?name=${name}`,
    { raw: body, headers: { 'Content-Type': 'text/csv' } });

  const missing = await post(csv(items.slice(1).map((im, i) => [im.id, ...logits(i)].join(','))));
  assert.equal(missing.status, 422, missing.text);
  assert.match(missing.json.error.message, new RegExp(`image ${items[0].id}\\b`));

  const narrow = await post(csv(items.map((im) => [im.id, 0.5, 0.5].join(','))));
  assert.equal(narrow.status, 422);
  assert.match(narrow.json.error.message, /line 2.*2 values, expected 3/);

  const unknown = await post(csv([...items.map((im, i) => [im.id, ...logits(i)].join(',')), '999999999,1,2,3']));
  assert.equal(unknown.status, 422);
  assert.match(unknown.json.error.message, /999999999/);

  // Keys may be ids or sha256; rows are logits here.
  const ok = await post(csv(items.map((im, i) => [i % 2 ? im.sha256 : im.id, ...logits(i)].join(','))));
  assert.equal(ok.status, 201, ok.text);
  assert.equal(ok.json.source, 'file');
  assert.equal(ok.json.model_id, null);
  assert.equal(ok.json.logit_rows, N_IMAGES);
  const page = await call(server, 'GET', `/api/v1/teacher-outputs/${ok.json.id}/probabilities?limit=1000`);
  assert.equal(page.json.items.length, N_IMAGES);
  const sorted = [...items].sort((a, b) => a.id - b.id);
  const idx = new Map(items.map((im, i) => [im.id, i]));
  for (const [k, row] of page.json.items.entries()) {
    assert.equal(row.image_id, sorted[k].id);
    const l = logits(idx.get(row.image_id));
    const z = l.map(Math.exp), s = z.reduce((a, b) => a + b, 0);
    for (let j = 0; j < 3; j++) assert.ok(Math.abs(row.probs[j] - z[j] / s) < 1e-5);
  }
  // JSON form with probabilities; wrong class names are refused.
  const preds = Object.fromEntries(items.map((im) => [String(im.id), [0.2, 0.3, 0.5]]));
  const j = await call(server, 'POST', `/api/v1/datasets/${datasetId}/predictions?name=json`,
    { body: { classes: CLASSES, predictions: preds } });
  assert.equal(j.status, 201, j.text);
  assert.equal(j.json.logit_rows, 0);
  const jbad = await call(server, 'POST', `/api/v1/datasets/${datasetId}/predictions?name=json`,
    { body: { classes: ['x', 'y', 'z'], predictions: preds } });
  assert.equal(jbad.status, 422);
  assert.match(jbad.json.error.message, /classes\[0\]/);
  const list = await call(server, 'GET', `/api/v1/datasets/${datasetId}/teacher-outputs`);
  assert.equal(list.json.items.length, 3);
});

test('deleting a model removes it and its teacher outputs', async () => {
  const d = await call(server, 'DELETE', `/api/v1/models/${teacherId}`);
  assert.equal(d.status, 204);
  assert.equal((await call(server, 'GET', `/api/v1/models/${teacherId}`)).status, 404);
  assert.equal((await call(server, 'GET', `/api/v1/teacher-outputs/${outputId}`)).status, 404);
  const start = await call(server, 'POST', `/api/v1/datasets/${datasetId}/teacher-outputs`, { body: { model_id: teacherId } });
  assert.equal(start.status, 422);
});
