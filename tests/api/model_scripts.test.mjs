// model_scripts.test.mjs — the export scripts of docs/MODELS.md, run with Debian's
// /usr/bin/python3 (PyTorch 1.13, torchvision 0.14) on random-weight models: each
// produced folder passes `inficond model check` and registers through the API, and a
// predictions file (from a teacher folder, and from a Python function) uploads to a
// dataset of the same images with the script's probabilities stored as written.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startServer, call, waitJob, uniq } from './harness.mjs';
import { CLIP, VOCAB, IMAGES } from './fixtures.mjs';

const execFile = promisify(execFileCb);
const BIN = process.env.INFICOND_BIN || 'build/asan/inficond';
const PY = '/usr/bin/python3';
const TINY_CLIP_MODULE = resolve('tests/fixtures/models/tiny_clip_module.py');
// The class folders of the image folder: a new dataset's classes are their sorted names.
const LAYOUT = { blue: ['blue.jpg'], green: ['green.jpg'], red: ['red.jpg', 'stripes.jpg'] };
const env = { ...process.env, ASAN_OPTIONS: 'detect_leaks=0', OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };

let server, work, imagesDir, dataset;

// Why the Python tests cannot run here, or false (node:test skips on null too).
async function pythonMissing() {
  try {
    await execFile(PY, ['-c', 'import torch, torchvision, PIL'], { env });
    return false;
  } catch (e) {
    return `${PY} lacks torch/torchvision/PIL (apt-get install python3-torchvision): ${String(e.stderr).trim().split('\n').pop()}`;
  }
}
const noPython = await pythonMissing();

const script = (name, args) => execFile(PY, [`scripts/${name}`, ...args], { env, maxBuffer: 1 << 24 });

async function modelCheck(dir) {
  const { stdout } = await execFile(BIN, ['model', 'check', dir], { env, maxBuffer: 1 << 24 });
  return JSON.parse(stdout);
}

async function register(name, dir) {
  const r = await call(server, 'POST', '/api/v1/models', { body: { name: uniq(name), path: dir } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

// Upload `file` as the dataset's predictions; the stored rows, by image sha256.
async function uploadPredictions(file, name, contentType) {
  const r = await call(server, 'POST', `/api/v1/datasets/${dataset.id}/predictions?name=${uniq(name)}`,
    { raw: readFileSync(file), headers: { 'Content-Type': contentType } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.logit_rows, 0, 'the script writes probabilities');
  const page = await call(server, 'GET', `/api/v1/teacher-outputs/${r.json.id}/probabilities?limit=100`);
  assert.equal(page.status, 200, page.text);
  const shaOf = new Map(dataset.images.map((im) => [im.id, im.sha256]));
  return new Map(page.json.items.map((row) => [shaOf.get(row.image_id), row.probs]));
}

function assertSameRows(stored, written) {
  assert.equal(stored.size, Object.keys(written).length);
  for (const [sha, row] of Object.entries(written)) {
    assert.ok(stored.has(sha), `image ${sha} stored`);
    stored.get(sha).forEach((p, j) => assert.ok(Math.abs(p - row[j]) < 1e-6, `${sha}[${j}]: ${p} vs ${row[j]}`));
  }
}

before(async () => {
  if (noPython) return;
  work = mkdtempSync(join(tmpdir(), 'inficond-scripts-'));
  imagesDir = join(work, 'images');
  for (const [cls, files] of Object.entries(LAYOUT)) {
    mkdirSync(join(imagesDir, cls), { recursive: true });
    for (const f of files) copyFileSync(join(IMAGES, f), join(imagesDir, cls, f));
  }
  server = await startServer({ env: { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' } });
  // The dataset is the same folder imported from its server path (an admin may).
  const ds = await call(server, 'POST', '/api/v1/datasets', { body: { name: uniq('script-images') } });
  assert.equal(ds.status, 201, ds.text);
  const imp = await call(server, 'POST', `/api/v1/datasets/${ds.json.id}/imports`, { body: { source: 'folder', path: imagesDir } });
  assert.equal(imp.status, 202, imp.text);
  assert.equal((await waitJob(server, imp.json.id)).state, 'succeeded');
  const page = await call(server, 'GET', `/api/v1/datasets/${ds.json.id}/images?limit=100`);
  dataset = { id: ds.json.id, images: page.json.items };
  assert.equal(dataset.images.length, 4);
});
after(async () => {
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('export_teacher.py: a random resnet18 (3 classes, 64 px) checks, registers, and its predictions upload', { skip: noPython }, async () => {
  const dir = join(work, 'teacher');
  await script('export_teacher.py', [dir, '--arch', 'resnet18', '--random-weights', '--classes', 'red,green,blue', '--size', '64']);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  assert.equal(manifest.kind, 'teacher');
  assert.deepEqual(manifest.classes, ['red', 'green', 'blue']);
  const check = await modelCheck(dir);
  assert.equal(check.ok, true);
  assert.deepEqual(check.methods.forward.output, [2, 3]);
  const reg = await register('resnet18-random', dir);
  assert.equal(reg.kind, 'teacher');
  assert.deepEqual(reg.classes, ['red', 'green', 'blue']);

  // Its outputs as a predictions file: keyed by sha256, columns in the dataset's
  // (sorted) class order although the teacher's order differs.
  const out = join(work, 'teacher-predictions.json');
  await script('export_predictions.py', [imagesDir, out, '--teacher', dir]);
  const written = JSON.parse(readFileSync(out, 'utf8'));
  assert.deepEqual(written.classes, ['blue', 'green', 'red']);
  assertSameRows(await uploadPredictions(out, 'resnet18-file', 'application/json'), written.predictions);

  // Without weights (and without --random-weights) nothing untrained is exported.
  await assert.rejects(script('export_teacher.py', [join(work, 'bad'), '--arch', 'resnet18', '--classes', 'a,b']),
    (e) => /--weights FILE/.test(e.stderr));
});

test('export_predictions.py --python: the example function, written as CSV, uploads as written', { skip: noPython }, async () => {
  const out = join(work, 'function-predictions.csv');
  await script('export_predictions.py', [imagesDir, out, '--python', 'scripts/teacher_function_example.py:predict']);
  const [header, ...lines] = readFileSync(out, 'utf8').trim().split('\n');
  assert.equal(header, 'key,blue,green,red');
  const written = Object.fromEntries(lines.map((l) => { const [k, ...v] = l.split(','); return [k, v.map(Number)]; }));
  const byName = Object.fromEntries(dataset.images.map((im) => [im.class, im.sha256]));
  // The example scores the mean colour: the blue image is "blue", the green one "green".
  assert.ok(written[byName.blue][0] > 0.5 && written[byName.green][1] > 0.5, JSON.stringify(written));
  assertSameRows(await uploadPredictions(out, 'function-file', 'text/csv'), written);
});

test('export_clip.py --openai: the OpenAI-style CLIP archive as a global concept folder', { skip: noPython || (!existsSync(CLIP) && `${CLIP} is absent`) }, async () => {
  const dir = join(work, 'clip-global');
  await script('export_clip.py', [dir, '--openai', CLIP, '--vocab', VOCAB]);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  assert.equal(manifest.patch_openai_jit, true);
  assert.equal(manifest.embedding_dim, 64);
  assert.equal(manifest.input.height, 64);
  assert.deepEqual(manifest.tokenizer, { type: 'clip-bpe', vocab: 'bpe_simple_vocab_16e6.txt.gz', context_length: 77 });
  assert.deepEqual(readFileSync(join(dir, 'model.pt')), readFileSync(CLIP), 'the archive is kept as it is');
  const check = await modelCheck(dir);
  assert.equal(check.patched_openai_jit, true);
  assert.deepEqual(check.methods.image.output, [2, 64]);
  assert.deepEqual(check.methods.text.output, [2, 64]);
  const reg = await register('clip-openai-export', dir);
  assert.equal(reg.encoder, 'global');
  // A global encoder runs at the archive's own resolution only.
  await assert.rejects(script('export_clip.py', [join(work, 'clip-128'), '--openai', CLIP, '--vocab', VOCAB, '--size', '128']),
    (e) => /own 64 px/.test(e.stderr));
});

test('export_clip.py --openai --encoder dense: checked when this build knows dense clip-vit', { skip: noPython || (!existsSync(CLIP) && `${CLIP} is absent`) }, async (t) => {
  const dir = join(work, 'clip-dense');
  await script('export_clip.py', [dir, '--openai', CLIP, '--vocab', VOCAB, '--encoder', 'dense', '--size', '128']);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  assert.deepEqual(manifest.dense, { from: 'clip-vit', method: 'naclip', gaussian_std: 5 });
  assert.equal(manifest.input.height, 128);
  let check;
  try {
    check = await modelCheck(dir);
  } catch (e) {
    // The dense clip-vit mode (manifest "dense") is being added to the shim separately.
    if (/manifest\.dense: unknown field/.test(e.stderr)) return t.skip('this build\'s manifest has no "dense" section yet');
    throw e;
  }
  assert.equal(check.encoder, 'dense');
  assert.equal((await register('clip-openai-dense', dir)).encoder, 'dense');
});

test('export_clip.py --module: a scripted CLIP-shaped module (the open_clip path) checks and registers', { skip: noPython || (!existsSync(VOCAB) && `${VOCAB} is absent`) }, async () => {
  const dir = join(work, 'clip-module');
  await script('export_clip.py', [dir, '--module', `${TINY_CLIP_MODULE}:build`, '--vocab', VOCAB]);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  assert.equal(manifest.patch_openai_jit, false);
  assert.equal(manifest.embedding_dim, 16);
  assert.equal(manifest.input.width, 32);
  const check = await modelCheck(dir);
  assert.deepEqual(check.methods.image.output, [2, 16]);
  assert.deepEqual(check.methods.text.output, [2, 16]);
  assert.equal((await register('clip-module-export', dir)).embedding_dim, 16);
});
