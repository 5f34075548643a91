// dense_clip.test.mjs — CLIP ViT archives run densely ("dense": {"from": "clip-vit"};
// shim/shim_dense_clip.cpp), end to end:
// (1) reference equivalence: `inficond encode` on the fixture JPEGs against
//     tests/clip_vit/naclip_reference.py (float64, written from NACLIP's rule) on the
//     same preprocessed input, per-patch cosine >= 0.999 (the minimum is printed): a
//     random-weight OpenAI-layout archive made by tests/clip_vit/make_clip_vit.py at
//     its own size, at other sizes (positions interpolated, one grid not square), with
//     MaskCLIP's rule, and the OpenAI-style fixture (CUDA/fp16 baked in); the reference
//     itself is checked against the archive's own encode_image;
// (2) registration refusals, 422 naming the parameter or field, nothing registered: no
//     visual.proj, a ResNet CLIP, gaussian_std <= 0, an unknown method, an input that
//     is not whole patches;
// (3) a dense CLIP through an extraction: presence, label-map segments, galleries.
// Needs /usr/bin/python3 with torch (Debian's python3-torch) and ../shared (the CLIP
// vocabulary and fixture); skipped, naming what is missing, without them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startServer, call, waitJob, errorCode, uniq } from './harness.mjs';
import { CLIP, IMAGES, VOCAB, fixtureDataset } from './fixtures.mjs';

const BIN = process.env.INFICOND_BIN || 'build/asan/inficond';
const PYTHON = '/usr/bin/python3';
const MAKER = resolve('tests/clip_vit/make_clip_vit.py');
const REFERENCE = resolve('tests/clip_vit/naclip_reference.py');
const MIN_COS = 0.999;

const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;
const missing = [!hasTorch && `${PYTHON} with torch (apt-get install python3-torch)`,
  !existsSync(VOCAB) && VOCAB, !existsSync(CLIP) && CLIP].filter(Boolean);
const skip = missing.length ? `needs ${missing.join(', ')}` : false;

let work, tiny, server;

const env = () => ({ ...process.env, ASAN_OPTIONS: 'detect_leaks=0', OMP_NUM_THREADS: '1' });

// An archive from make_clip_vit.py (the tiny preset: 48x48, patch 8, width 128, 2 heads).
function makeArchive(name, extra = []) {
  const out = join(work, `${name}.pt`);
  execFileSync(PYTHON, [MAKER, out, '--preset', 'tiny', ...extra], { env: env() });
  return out;
}

// A dense CLIP model folder over `archive` (hard-linked); `dense` and `input` patch the manifest.
function denseClipFolder(archive, { dense = {}, input = {}, embedding = 64 } = {}) {
  const dir = join(work, uniq('dc'));
  mkdirSync(dir);
  linkSync(archive, join(dir, 'model.pt'));
  copyFileSync(VOCAB, join(dir, 'bpe_simple_vocab_16e6.txt.gz'));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({
    format: 'inficond-model/1', kind: 'concept', encoder: 'dense', file: 'model.pt',
    input: { channels: 3, height: 48, width: 48, mean: [0.4815, 0.4578, 0.4082], std: [0.2686, 0.2613, 0.2758], ...input },
    methods: { image: 'encode_image', text: 'encode_text' },
    embedding_dim: embedding,
    tokenizer: { type: 'clip-bpe', vocab: 'bpe_simple_vocab_16e6.txt.gz', context_length: 77 },
    dense: { from: 'clip-vit', ...dense },
  }));
  return dir;
}

// `inficond encode` of one image: its output (product) and preprocessed input files, and the JSON line.
function encode(dir, image) {
  const base = join(work, uniq('enc'));
  const out = execFileSync(BIN, ['encode', '--model', dir, '--image', image, '--out', `${base}.out.f32`,
    '--input-out', `${base}.in.f32`], { env: env() }).toString().trim().split('\n');
  return { product: `${base}.out.f32`, input: `${base}.in.f32`, line: JSON.parse(out[out.length - 1]) };
}

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'inficond-dense-clip-'));
  tiny = makeArchive('tiny');
  server = await startServer({ env: { INFICOND_WORKERS: '1', OMP_NUM_THREADS: '1' } });
});
after(async () => {
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('inficond encode matches the Python reference of NACLIP/MaskCLIP, per patch', { skip }, () => {
  const images = readdirSync(IMAGES).map((f) => join(IMAGES, f)); // 4 JPEGs, 20..40 px: resized up
  const cases = [
    { name: 'naclip at the archive size', archive: tiny, input: {}, dense: { method: 'naclip', gaussian_std: 5 }, grid: [6, 6] },
    { name: 'naclip at 64x64 (positions interpolated)', archive: tiny, input: { height: 64, width: 64 }, dense: { gaussian_std: 2 }, grid: [8, 8] },
    { name: 'naclip at 32x56', archive: tiny, input: { height: 32, width: 56 }, dense: {}, grid: [4, 7] },
    { name: 'maskclip', archive: tiny, input: {}, dense: { method: 'maskclip' }, grid: [6, 6] },
    { name: 'the OpenAI-style fixture (CUDA/fp16 baked in) at 96x96', archive: CLIP, input: { height: 96, width: 96 }, dense: {}, grid: [6, 6], embedding: 64 },
  ];
  const jobs = [];
  for (const c of cases) {
    const dir = denseClipFolder(c.archive, { dense: c.dense, input: c.input, embedding: c.embedding });
    const H = c.input.height ?? 48, W = c.input.width ?? 48;
    // every image for the first case, two for the others (each encode loads libtorch: seconds under ASan)
    for (const [k, image] of images.slice(0, c === cases[0] ? images.length : 2).entries()) {
      const e = encode(dir, image);
      assert.deepEqual(e.line.shape, [64, ...c.grid], c.name);
      assert.equal(e.line.encoder, 'dense');
      jobs.push({ archive: c.archive, input: e.input, shape: [H, W], product: e.product, method: c.dense.method ?? 'naclip',
        std: c.dense.gaussian_std ?? 5, check_plain: k === 0, name: `${c.name}, ${image.split('/').pop()}` });
    }
  }
  writeFileSync(join(work, 'jobs.json'), JSON.stringify(jobs));
  const results = JSON.parse(execFileSync(PYTHON, [REFERENCE, '--jobs', join(work, 'jobs.json')], { env: env() }).toString());
  let min = 1;
  for (const [i, r] of results.entries()) {
    assert.equal(r.error, undefined, `${jobs[i].name}: ${r.error}`);
    assert.ok(r.min_cos >= MIN_COS, `${jobs[i].name}: per-patch cosine ${r.min_cos} < ${MIN_COS}`);
    if (r.plain_vs_archive) assert.ok(r.plain_vs_archive.max_rel < 1e-4, `${jobs[i].name}: the reference misreads the archive: ${JSON.stringify(r.plain_vs_archive)}`);
    min = Math.min(min, r.min_cos);
  }
  console.log(`# dense CLIP vs the Python reference: ${results.length} images x grids, ${results.reduce((a, r) => a + r.patches, 0)} patches, minimum per-patch cosine ${min}`);
  assert.ok(results.every((r) => r.max_abs < 1e-3), 'values agree to 1e-3 too');
});

test('registration refuses what dense mode cannot run: 422 naming it, nothing registered', { skip }, async () => {
  const noProj = makeArchive('no-proj', ['--no-proj']);
  const resnet = makeArchive('resnet', ['--resnet']);
  const cases = [
    [denseClipFolder(noProj, { embedding: 128 }), /manifest\.dense: the archive has no parameter 'visual\.proj'/],
    [denseClipFolder(resnet), /manifest\.dense: dense mode needs a ViT image encoder/],
    [denseClipFolder(tiny, { dense: { gaussian_std: 0 } }), /manifest\.dense\.gaussian_std: must be > 0/],
    [denseClipFolder(tiny, { dense: { gaussian_std: -1 } }), /manifest\.dense\.gaussian_std/],
    [denseClipFolder(tiny, { dense: { method: 'sclip' } }), /manifest\.dense\.method: unknown method 'sclip'/],
    [denseClipFolder(tiny, { input: { height: 50, width: 48 } }), /manifest\.input\.height: 50 is not a multiple of the ViT's patch size 8; sizes that work are multiples of 8, e\.g\. 48 or 56/],
    [denseClipFolder(tiny, { dense: { heads: 4 } }), /manifest\.dense\.heads: .*agrees with 2 attention heads, not 4/],
  ];
  const names = [];
  for (const [dir, re] of cases) {
    const name = uniq('bad-dense');
    names.push(name);
    const r = await call(server, 'POST', '/api/v1/models', { body: { name, path: dir } });
    assert.equal(r.status, 422, `${dir}: ${r.text}`);
    assert.equal(errorCode(r), 'unprocessable');
    assert.match(r.json.error.message, re);
  }
  const list = await call(server, 'GET', '/api/v1/models?limit=500');
  assert.ok(!list.json.items.some((m) => names.includes(m.name)), 'a refused model was registered');
});

test('a dense CLIP extracts: presence, label-map segments, galleries', { skip }, async () => {
  const r = await call(server, 'POST', '/api/v1/models', { body: { name: uniq('naclip'), path: denseClipFolder(tiny) } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.encoder, 'dense');
  assert.deepEqual(r.json.summary.methods.image.output, [2, 64, 6, 6]);
  assert.deepEqual(r.json.summary.dense.grid, [6, 6]);
  assert.ok(r.json.summary.methods.image.archive_gap < 1e-4);
  const ds = await fixtureDataset(server, uniq('dcds'), join(work, uniq('tar')), join(work, `${uniq('t')}.tar`));
  const words = ['red', 'green', 'blue', 'stripes'];
  const corpus = (await call(server, 'POST', '/api/v1/corpora', { body: { name: uniq('c'), words } })).json;
  const start = await call(server, 'POST', '/api/v1/extractions', { body: { dataset_id: ds.id, concept_model_id: r.json.id, corpus_id: corpus.id } });
  assert.equal(start.status, 202, start.text);
  const job = await waitJob(server, start.json.id, undefined, 120000);
  assert.equal(job.state, 'succeeded', `${JSON.stringify(job)}\n${server.log.slice(-3000)}`);
  const x = (await call(server, 'GET', `/api/v1/extractions/${start.json.extraction_id}`)).json;
  assert.equal(x.state, 'ready');
  assert.equal(x.encoder, 'dense');
  assert.equal(x.n_images, 4);
  assert.equal(x.n_failed, 0);
  const pres = await call(server, 'GET', `/api/v1/extractions/${x.id}/presence?limit=10`);
  assert.equal(pres.status, 200, pres.text);
  assert.equal(pres.json.items.length, 4);
  const segs = await call(server, 'GET', `/api/v1/extractions/${x.id}/images/${ds.images[0].id}/segments`);
  assert.equal(segs.status, 200, segs.text);
  const lm = segs.json.label_map;
  assert.equal(lm.h, 6);
  assert.equal(lm.w, 6);
  assert.equal(lm.labels.length, 36);
  const k = segs.json.segments.length;
  assert.ok(k >= 1 && k <= 36);
  for (const s of segs.json.segments) {
    assert.ok(words.includes(s.nearest.word));
    assert.equal([...s.mask.bits].filter((b) => b === '1').length, lm.labels.filter((v) => v === s.segment).length);
  }
  let shown = 0;
  for (const w of words) {
    const gal = await call(server, 'GET', `/api/v1/extractions/${x.id}/concepts/${w}/gallery`);
    assert.equal(gal.status, 200, gal.text);
    for (const it of gal.json.items) {
      assert.ok(it.presence > 0);
      assert.equal(it.mask.h, 6);
      shown++;
    }
  }
  assert.ok(shown >= 1, 'some gallery holds an image');
});
