// student_use.test.mjs — using a fitted student: POST …/versions/{v}/predict with a
// JPEG and GET …/versions/{v}/export.pt.
//
// One real setup per concept model, shared by the cases: the fixture JPEGs uploaded
// as a two-class dataset, a real extraction (the dense fixture: label-map segments;
// the OpenAI-style CLIP fixture: 14 crop boxes), a predictions-file teacher, a
// distilled student. A dataset image sent to predict must come back with the very
// presence row the extraction stored for it, the segments the segments API shows,
// and the scores the student's contributions analysis gives; the exported archive
// must hold exactly the version's weights and biases and the names. Bad bodies,
// unknown ids and a stale student are clear 4xx (a word added to the corpus is not
// staleness: the student's columns stay as they were). (The archive's forward is checked
// against x W^T + b through the shim in tests/unit/test_student_export.c.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { inflateRawSync } from 'node:zlib';
import { join } from 'node:path';
import { startServer, call, waitJob, errorCode, uniq } from './harness.mjs';
import { IMAGES, NO_CLIP, clipFolder, denseFolder, fixtureTar } from './fixtures.mjs';
import { replacePresence } from './synthetic.mjs';

// class folder -> fixture files; the teacher's probabilities lean on the colours.
const LAYOUT = { cool: ['blue.jpg', 'green.jpg'], warm: ['red.jpg', 'stripes.jpg'] };
const TEACHER = { 'blue.jpg': 0.15, 'green.jpg': 0.3, 'red.jpg': 0.9, 'stripes.jpg': 0.65 }; // p(warm)

let server, work, dense, global;

async function ok(res, status, what) {
  assert.equal(res.status, status, `${what}: ${res.text}\n${server.log.slice(-3000)}`);
  return res.json;
}

async function job(res, what) {
  const j = await ok(res, 202, what);
  const done = await waitJob(server, j.id, undefined, 300000);
  assert.equal(done.state, 'succeeded', `${what}: ${JSON.stringify(done)}\n${server.log.slice(-3000)}`);
  return { job: j, result: done.result };
}

// Model, dataset, extraction, teacher output, student: everything predict needs.
async function setup(folder, words) {
  const model = await ok(await call(server, 'POST', '/api/v1/models', { body: { name: uniq('m'), path: folder } }), 201, 'register');
  const ds = await ok(await call(server, 'POST', '/api/v1/datasets', { body: { name: uniq('ds') } }), 201, 'dataset');
  const tar = fixtureTar(join(work, uniq('tar')), join(work, `${uniq('t')}.tar`), LAYOUT);
  await job(await call(server, 'POST', `/api/v1/datasets/${ds.id}/upload?split=train`,
    { raw: tar, headers: { 'Content-Type': 'application/x-tar' } }), 'upload');
  const dsj = await ok(await call(server, 'GET', `/api/v1/datasets/${ds.id}`), 200, 'dataset get');
  const images = (await ok(await call(server, 'GET', `/api/v1/datasets/${ds.id}/images?limit=100`), 200, 'images')).items;
  assert.equal(images.length, 4);
  const corpus = await ok(await call(server, 'POST', '/api/v1/corpora', { body: { name: uniq('c'), words } }), 201, 'corpus');
  const { job: xj } = await job(await call(server, 'POST', '/api/v1/extractions',
    { body: { dataset_id: ds.id, concept_model_id: model.id, corpus_id: corpus.id } }), 'extraction');
  // The teacher: a predictions file keyed by sha256 (the file names are not kept).
  const bySha = new Map(Object.values(LAYOUT).flat().map((f) => [
    execFileSync('sha256sum', [join(IMAGES, f)], { encoding: 'utf8' }).split(' ')[0], TEACHER[f]]));
  const classes = dsj.classes.map((c) => (typeof c === 'string' ? c : c.name));
  const warm = classes.indexOf('warm');
  assert.ok(warm >= 0, JSON.stringify(dsj.classes));
  const predictions = Object.fromEntries(images.map((im) => {
    const p = bySha.get(im.sha256);
    assert.ok(p !== undefined, `image ${im.id} is not a fixture`);
    return [String(im.id), classes.map((_, k) => (k === warm ? p : 1 - p))];
  }));
  const out = await ok(await call(server, 'POST', `/api/v1/datasets/${ds.id}/predictions?name=colours`,
    { body: { classes, predictions } }), 201, 'predictions');
  const { result } = await job(await call(server, 'POST', '/api/v1/students',
    { body: { extraction_id: xj.extraction_id, teacher_output_id: out.id, lambda: 1e-4 } }), 'distil');
  const student = result.student_id;
  const v1 = await ok(await call(server, 'GET', `/api/v1/students/${student}/versions/1`), 200, 'version');
  return { model: model.id, ds: ds.id, images, corpus: corpus.id, extraction: xj.extraction_id, student, v1, classes };
}

async function jpegOf(imageId) {
  const r = await fetch(`${server.url}/api/v1/images/${imageId}`,
    { headers: { Authorization: 'Bearer test-admin-token-0123456789abcdef' } });
  assert.equal(r.status, 200);
  return Buffer.from(await r.arrayBuffer());
}

const predict = (w, body, { type = 'image/jpeg', version = 1, query = '', student = w.student } = {}) =>
  call(server, 'POST', `/api/v1/students/${student}/versions/${version}/predict${query}`,
    { raw: body, headers: type ? { 'Content-Type': type } : {} });

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'inficond-student-use-'));
  server = await startServer({ env: { INFICOND_WORKERS: '1', OMP_NUM_THREADS: '1' } });
  dense = await setup(denseFolder(join(work, 'dense')), ['red', 'blue', 'green', 'stripes', 'cat']);
  if (!NO_CLIP) global = await setup(clipFolder(join(work, 'clip')), ['red', 'blue', 'green', 'stripes', 'sky', 'grass']);
});
after(async () => { await server?.stop(); });

// Predict every dataset image and compare with what the service stored and derived.
async function predictMatchesStored(w) {
  const concepts = w.v1.concepts;
  let nonzero = 0;
  for (const im of w.images) {
    const r = await predict(w, await jpegOf(im.id), { query: '?top=100' });
    const p = await ok(r, 200, `predict image ${im.id}`);
    assert.equal(p.student_id, w.student);
    assert.equal(p.version, 1);
    assert.equal(p.presence.length, concepts.length);

    // Presence: the extraction's own row for this image (same code path, same numbers).
    const stored = await ok(await call(server, 'GET', `/api/v1/extractions/${w.extraction}/images/${im.id}/presence`), 200, 'presence');
    const byWord = new Map(stored.concepts.map((c) => [c.word, c.presence]));
    concepts.forEach((c, j) => assert.ok(Math.abs(p.presence[j] - byWord.get(c)) < 1e-5,
      `image ${im.id} '${c}': predicted ${p.presence[j]}, stored ${byWord.get(c)}`));

    // Segments: those the segments API shows for the stored image.
    const segs = await ok(await call(server, 'GET', `/api/v1/extractions/${w.extraction}/images/${im.id}/segments`), 200, 'segments');
    assert.equal(p.segments.length, segs.segments.length);
    p.segments.forEach((s, i) => {
      assert.equal(s.index, i);
      // The cosine, not the word: the dense fixture's word embeddings are collinear,
      // so its nearest words tie and rounding may pick another of the equals.
      assert.ok(Math.abs(s.nearest.cos - segs.segments[i].nearest.cos) < 1e-5, `segment ${i} nearest`);
      assert.ok(concepts.includes(s.nearest.word));
      if (p.encoder === 'dense') assert.equal(s.mask.bits, segs.segments[i].mask.bits);
      else s.box.forEach((v, t) => assert.ok(Math.abs(v - segs.segments[i].box[t]) < 1e-6));
    });
    if (p.encoder === 'dense') assert.deepEqual(p.label_map.labels, segs.label_map.labels);
    else assert.equal(p.segments.length, 14);

    // Scores: the contributions analysis of the same image, and argmax.
    const ct = await ok(await call(server, 'GET', `/api/v1/students/${w.student}/versions/1/images/${im.id}/contributions`), 200, 'contributions');
    assert.equal(p.scores.length, w.classes.length);
    p.scores.forEach((s, k) => {
      assert.equal(s.class, w.classes[k]);
      assert.ok(Math.abs(s.score - ct.classes[k].score) < 1e-4, `${s.class}: ${s.score} vs ${ct.classes[k].score}`);
    });
    const best = p.scores.reduce((b, s, k) => (s.score > p.scores[b].score ? k : b), 0);
    assert.equal(p.class_index, best);
    assert.equal(p.class, w.classes[best]);
    assert.equal(p.class, ct.student_class);

    // Top concepts: weight x presence for the predicted class, largest magnitude first,
    // every non-zero one (top=100), each with the segment whose presence it is.
    const wk = w.v1.weights[best];
    const expect = concepts.map((c, j) => ({ j, v: wk[j] * p.presence[j] })).filter((x) => x.v !== 0);
    assert.equal(p.concepts.length, expect.length);
    let last = Infinity;
    for (const c of p.concepts) {
      const j = concepts.indexOf(c.concept);
      assert.equal(c.index, j);
      assert.ok(Math.abs(c.weight - wk[j]) < 1e-6);
      assert.ok(Math.abs(c.presence - p.presence[j]) < 1e-7);
      assert.ok(Math.abs(c.contribution - wk[j] * p.presence[j]) < 1e-6);
      assert.ok(Math.abs(c.contribution) <= last + 1e-12, 'sorted by |contribution|');
      last = Math.abs(c.contribution);
      assert.ok(c.presence > 0);
      assert.ok(Number.isInteger(c.segment.index) && c.segment.index < p.segments.length, JSON.stringify(c));
      assert.deepEqual(c.segment, p.segments[c.segment.index]);
    }
    nonzero += p.concepts.length;
  }
  assert.ok(nonzero > 0, 'the student uses some concept');
}

test('predict (dense model): a dataset image gets its stored presence, segments and scores', async () => {
  await predictMatchesStored(dense);
  // top limits the list, largest first.
  const one = await ok(await predict(dense, await jpegOf(dense.images[0].id), { query: '?top=1' }), 200, 'top=1');
  assert.ok(one.concepts.length <= 1);
});

test('predict (global model): 14 crop boxes, same presence and scores as stored', { skip: NO_CLIP }, async () => {
  await predictMatchesStored(global);
});

// A minimal reader for the archive's zip: the central directory gives each member's
// sizes (the local headers defer them to data descriptors); code is deflated.
function zipMembers(buf) {
  let end = buf.length - 22;
  while (end >= 0 && buf.readUInt32LE(end) !== 0x06054b50) end--;
  assert.ok(end >= 0, 'a zip archive');
  const count = buf.readUInt16LE(end + 10);
  let at = buf.readUInt32LE(end + 16);
  const out = new Map();
  for (let i = 0; i < count; i++) {
    assert.equal(buf.readUInt32LE(at), 0x02014b50);
    const method = buf.readUInt16LE(at + 10), size = buf.readUInt32LE(at + 20);
    const nameLen = buf.readUInt16LE(at + 28), extraLen = buf.readUInt16LE(at + 30), commentLen = buf.readUInt16LE(at + 32);
    const local = buf.readUInt32LE(at + 42);
    const name = buf.toString('utf8', at + 46, at + 46 + nameLen);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(start, start + size);
    assert.ok(method === 0 || method === 8, `${name}: method ${method}`);
    out.set(name, method === 8 ? inflateRawSync(raw) : raw);
    at += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

test('export.pt: a TorchScript archive with exactly the version\'s weights, biases and names', async () => {
  const w = dense;
  const r = await fetch(`${server.url}/api/v1/students/${w.student}/versions/1/export.pt`,
    { headers: { Authorization: 'Bearer test-admin-token-0123456789abcdef' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/octet-stream');
  assert.equal(r.headers.get('content-disposition'), `attachment; filename="student-${w.student}-v1.pt"`);
  const buf = Buffer.from(await r.arrayBuffer());
  const members = zipMembers(buf);
  const find = (suffix) => [...members.entries()].find(([n]) => n.endsWith(suffix))?.[1];
  const code = find('code/__torch__.py');
  assert.ok(code, [...members.keys()].join(', '));
  assert.match(code.toString(), /def forward\(self[^)]*x: Tensor\) -> Tensor:[^]*?return torch\.linear\(x, weight, bias\)/);
  const pkl = find('/data.pkl').toString('latin1');
  for (const name of [...w.v1.concepts, ...w.classes]) assert.ok(pkl.includes(name), `'${name}' in data.pkl`);
  const meta = JSON.parse(pkl.slice(pkl.indexOf('{"'), pkl.lastIndexOf('}') + 1));
  assert.equal(meta.student_id, w.student);
  assert.equal(meta.concept_model.id, w.model);
  assert.match(meta.concept_model.sha256, /^[0-9a-f]{64}$/);
  // The tensors: one (C, d) and one (C) float32 storage, equal to the version's.
  const C = w.classes.length, d = w.v1.concepts.length;
  const tensors = [...members.entries()].filter(([n]) => /\/data\/\d+$/.test(n)).map(([, b]) =>
    new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)));
  const W = tensors.find((t) => t.length === C * d), b = tensors.find((t) => t.length === C);
  assert.ok(W && b, `tensors of sizes ${tensors.map((t) => t.length)}`);
  for (let k = 0; k < C; k++) {
    assert.equal(b[k], Math.fround(w.v1.biases[k]));
    for (let j = 0; j < d; j++) assert.equal(W[k * d + j], Math.fround(w.v1.weights[k][j]));
  }
  // The JSON export names the same concept order the module takes.
  const json = await ok(await call(server, 'GET', `/api/v1/students/${w.student}/versions/1/export`), 200, 'json export');
  assert.deepEqual(json.concepts, w.v1.concepts);

  const none = await call(server, 'GET', `/api/v1/students/${w.student}/versions/99/export.pt`);
  assert.equal(none.status, 404);
  assert.equal(errorCode(none), 'not_found');
  assert.equal((await call(server, 'GET', '/api/v1/students/99999999/versions/1/export.pt')).status, 404);
});

test('predict: bad bodies and unknown ids are clear 4xx with JSON errors', async () => {
  const jpeg = await jpegOf(dense.images[0].id);
  const cases = [
    [await predict(dense, jpeg, { type: 'text/plain' }), 415, 'unsupported_media_type'],
    [await predict(dense, jpeg, { type: null }), 415, 'unsupported_media_type'],
    [await predict(dense, Buffer.alloc(0)), 400, 'bad_request'],
    [await predict(dense, Buffer.from('this is not a JPEG at all')), 422, 'unprocessable'],
    [await predict(dense, jpeg.subarray(0, Math.floor(jpeg.length / 2))), 422, 'unprocessable'],
    [await predict(dense, Buffer.alloc(8 * 1024 * 1024 + 1, 0xff)), 413, 'payload_too_large'], // one image: 8 MiB
    [await predict(dense, jpeg, { version: 99 }), 404, 'not_found'],
    [await predict(dense, jpeg, { student: 99999999 }), 404, 'not_found'],
    [await predict(dense, jpeg, { query: '?top=0' }), 400, 'bad_request'],
  ];
  for (const [r, status, code] of cases) {
    assert.equal(r.status, status, r.text);
    assert.equal(errorCode(r), code);
  }
  assert.match(cases[3][0].json.error.message, /JPEG/);
  // Nothing was stored by any of this: still one version.
  assert.equal((await call(server, 'GET', `/api/v1/students/${dense.student}/versions`)).json.total, 1);
});

// The suite's server has 2 HTTP threads, so at most 1 prediction runs at once
// (INFICOND_PREDICT_MAX defaults to half the threads; per user 1). Concurrent ones
// past that are refused at once with 429 + Retry-After instead of holding threads.
test('predict: concurrent predictions past the bound get 429 with Retry-After, and the places come back', async () => {
  const jpeg = await jpegOf(global.images[0].id);
  const seen = new Map();
  for (let round = 0; round < 5 && !seen.has(429); round++) {
    const rs = await Promise.all(Array.from({ length: 6 }, () => predict(global, jpeg)));
    for (const r of rs) {
      assert.ok(r.status === 200 || r.status === 429, `${r.status} ${r.text}`);
      if (r.status === 429) {
        assert.equal(errorCode(r), 'too_many_requests');
        assert.ok(Number(r.headers.get('retry-after')) >= 1);
        assert.match(r.json.error.message, /at most 1 at once/);
      }
      seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
    }
  }
  assert.ok(seen.get(429) > 0, `no prediction was refused: ${JSON.stringify([...seen])}`);
  assert.ok(seen.get(200) > 0, `none ran: ${JSON.stringify([...seen])}`);
  await ok(await predict(global, jpeg), 200, 'after the burst');
});

test('predict: a word added to the corpus leaves the student usable; a recomputed presence matrix makes it stale (409)', async () => {
  const jpeg = await jpegOf(dense.images[0].id);
  const before = await ok(await predict(dense, jpeg), 200, 'before');
  // A new word is a new presence column: the student's own columns are unchanged.
  await ok(await call(server, 'POST', `/api/v1/corpora/${dense.corpus}/words`, { body: { word: 'dog' } }), 200, 'add word');
  const same = await ok(await predict(dense, jpeg), 200, 'after the word');
  assert.deepEqual(same.presence, before.presence);
  assert.deepEqual(same.scores, before.scores);
  assert.equal((await call(server, 'GET', `/api/v1/students/${dense.student}`)).json.stale, false);
  // The matrix recomputed with other values: the columns the student was fitted on changed.
  const r0 = await fetch(`${server.url}/api/v1/extractions/${dense.extraction}/presence?format=f32`,
    { headers: { Authorization: 'Bearer test-admin-token-0123456789abcdef' } });
  const buf = Buffer.from(await r0.arrayBuffer());
  const x = Float32Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4), (v) => v * 0.5);
  replacePresence(server.dataDir, dense.extraction, x);
  const r = await predict(dense, jpeg);
  assert.equal(r.status, 409, r.text);
  assert.equal(errorCode(r), 'conflict');
  assert.match(r.json.error.message, /stale/);
  // The analyses say the same.
  assert.equal((await call(server, 'GET', `/api/v1/students/${dense.student}/versions/1/images/${dense.images[0].id}/contributions`)).status, 409);
});
