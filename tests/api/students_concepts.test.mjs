// students_concepts.test.mjs — the tuning loop a user can trust (issue 16): concepts
// dropped from and added to a student as new versions, every earlier version still
// restorable with its own concept list, actions across every class as one version and
// one provenance row, the what-if figures (one action, and every concept ranked) equal
// to recomputing the student's answers from its exported weights and the presence
// matrix, staleness checked column by column, and the refusals (422 naming actions[i],
// 409 with the head) that store nothing. Then a real extraction (the dense fixture, a
// word-list model): a word outside the corpus added through the student (corpus,
// presence column, version in one request), words outside the model's vocabulary
// refused with the nearest ones, and the vocabulary route the page suggests from.
//
// The first part's data is synthetic and seeded straight into the database and blob
// store (synthetic.mjs); the second builds a small real pipeline (4 fixture images).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, call, waitJob, uniq } from './harness.mjs';
import { IMAGES, denseFolder, fixtureTar } from './fixtures.mjs';
import { rng, seedProblem, replacePresence } from './synthetic.mjs';
import { sql } from './pgtools.mjs';

const CLASSES = ['cat', 'dog', 'bird'];
const WORDS = ['fur', 'whisker', 'bark', 'wings', 'beak', 'grass', 'water', 'sky'];
const N = 300;
let server, data, studentId, work;

const base = () => `/api/v1/students/${studentId}`;
const version = async (n) => (await call(server, 'GET', `${base()}/versions/${n}`)).json;
const head = async () => (await call(server, 'GET', base())).json.head.number;
const versionCount = async () => (await call(server, 'GET', `${base()}/versions`)).json.total;
const provenanceCount = async () => (await call(server, 'GET', `${base()}/provenance`)).json.total;
const tune = (parent, actions, sid = studentId) =>
  call(server, 'POST', `/api/v1/students/${sid}/versions`, { body: { parent, actions } });

// Grass leaks into cat on the biased splits and is random on shifted: a shortcut.
function seed() {
  const rand = rng(16);
  const own = [[0, 1, 5], [0, 2], [3, 4, 7]];
  return seedProblem({
    dataDir: server.dataDir, tag: `concepts${process.pid}`, classes: CLASSES, words: WORDS, n: N,
    shifted: true, modelSha: 'ef'.repeat(32),
    image(k, split, x) {
      for (let j = 0; j < x.length; j++) x[j] = 0.1 * rand();
      for (const j of own[k]) x[j] += 0.5 + 0.5 * rand();
      if (split === 'shifted') x[5] = rand();
      const z = [0, 0, 0];
      for (let kk = 0; kk < CLASSES.length; kk++) for (const j of own[kk]) z[kk] += 3 * x[j];
      z[k] += rand() < 0.85 ? 0.5 : -2;
      return z;
    },
  });
}

// The student's answers recomputed here, in double, from weights W (C x d) over the
// columns `cols` of the presence matrix (the version's concepts): per split, the rows
// agreeing with the teacher and with the label.
function counts(W, b, cols) {
  const d = WORDS.length, c = CLASSES.length, out = {};
  data.rows.forEach((row, i) => {
    let best = 0, bv = -Infinity;
    for (let k = 0; k < c; k++) {
      let z = b[k];
      cols.forEach((j, t) => { z += W[k][t] * data.x[i * d + j]; });
      if (z > bv) { bv = z; best = k; }
    }
    let tk = 0;
    for (let k = 1; k < c; k++) if (data.p[i * c + k] > data.p[i * c + tk]) tk = k;
    const s = (out[row.split] ??= { n: 0, agree: 0, correct: 0 });
    s.n++;
    s.agree += best === tk;
    s.correct += best === row.label;
  });
  return out;
}
const colsOf = (concepts) => concepts.map((w) => WORDS.indexOf(w));
const zeroed = (W, t, k = null) => W.map((row, kk) => row.map((v, j) => (j === t && (k === null || k === kk) ? 0 : v)));

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'inficond-students-concepts-'));
  server = await startServer({ env: { INFICOND_WORKERS: '1', OMP_NUM_THREADS: '1' } });
  data = seed();
  const r = await call(server, 'POST', '/api/v1/students',
    { body: { extraction_id: data.ext, teacher_output_id: data.out, lambda: 1e-3 } });
  assert.equal(r.status, 202, r.text);
  const job = await waitJob(server, r.json.id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  studentId = job.result.student_id;
});
after(async () => { await server?.stop(); });

test('what-if of one action: every split before and after, as recomputed from the weights', async () => {
  const v1 = await version(1);
  assert.deepEqual(v1.concepts, WORDS);
  const g = WORDS.indexOf('grass');
  assert.ok(v1.weights.some((row) => row[g] !== 0), 'grass carries weight somewhere');
  const r = await call(server, 'GET', `${base()}/versions/1/whatif?action=remove&concept=grass`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.action, { action: 'remove', concept: 'grass', all_classes: true });
  const was = counts(v1.weights, v1.biases, colsOf(v1.concepts));
  const now = counts(zeroed(v1.weights, g), v1.biases, colsOf(v1.concepts));
  for (const s of ['train', 'test', 'shifted']) {
    const w = r.json.splits[s];
    assert.equal(w.n, was[s].n);
    assert.equal(Math.round(w.fidelity.before * w.n), was[s].agree, `${s} fidelity before`);
    assert.equal(Math.round(w.fidelity.after * w.n), now[s].agree, `${s} fidelity after`);
    assert.equal(Math.round(w.accuracy.after * w.n), now[s].correct, `${s} accuracy after`);
    assert.ok(Math.abs(w.fidelity.delta - (w.fidelity.after - w.fidelity.before)) < 1e-12);
    // "before" is the version's stored measure
    assert.equal(w.fidelity.before, v1.measures.splits[s].fidelity);
    assert.equal(w.accuracy.before, v1.measures.splits[s].student_accuracy);
  }
  // the weights that move: grass, in the classes where it has one
  assert.deepEqual(r.json.changed.map((c) => c.class), CLASSES.filter((_, k) => v1.weights[k][g] !== 0));
  for (const c of r.json.changed) assert.deepEqual([c.concept, c.after], ['grass', 0]);

  // One class, and a downtune (the weight scaled): the same recomputation.
  const k = v1.weights.findIndex((row) => row[g] !== 0);
  const dt = await call(server, 'GET', `${base()}/versions/1/whatif?action=downtune&concept=grass&class=${CLASSES[k]}&factor=4`);
  assert.equal(dt.status, 200, dt.text);
  const scaled = v1.weights.map((row, kk) => row.map((v, j) => (j === g && kk === k ? Math.fround(v / 4) : v)));
  const sc = counts(scaled, v1.biases, colsOf(v1.concepts));
  for (const s of ['train', 'test', 'shifted']) assert.equal(Math.round(dt.json.splits[s].fidelity.after * sc[s].n), sc[s].agree);

  // Bad queries: 422 naming the parameter.
  for (const [q, re] of [['action=remove&concept=tail', /'concept'.*tail/], ['action=remove&concept=grass&class=horse', /'class'.*horse/],
    ['action=uptune&concept=grass&factor=x', /'factor'/], ['action=zap&concept=grass', /'action'/], ['concept=grass', /action/]]) {
    const bad = await call(server, 'GET', `${base()}/versions/1/whatif?${q}`);
    assert.equal(bad.status, 422, `${q}: ${bad.text}`);
    assert.match(bad.json.error.message, re);
  }
});

test('what-if of every concept: ranked by the change on the split, each equal to recomputing', async () => {
  const v1 = await version(1);
  const r = await call(server, 'GET', `${base()}/versions/1/whatif/concepts?split=shifted`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.split, 'shifted');
  assert.equal(r.json.by, 'accuracy');
  const was = counts(v1.weights, v1.biases, colsOf(v1.concepts));
  assert.equal(r.json.baseline.shifted.fidelity, v1.measures.splits.shifted.fidelity);
  const active = WORDS.filter((_, j) => v1.weights.some((row) => row[j] !== 0));
  assert.equal(r.json.total, active.length);
  assert.deepEqual(r.json.items.map((it) => it.concept).sort(), [...active].sort());
  for (let i = 1; i < r.json.items.length; i++) assert.ok(r.json.items[i - 1].accuracy >= r.json.items[i].accuracy);
  for (const it of r.json.items) {
    const now = counts(zeroed(v1.weights, it.index), v1.biases, colsOf(v1.concepts));
    for (const s of ['train', 'test', 'shifted']) {
      const n = was[s].n;
      assert.equal(Math.round(it.splits[s].fidelity * n), now[s].agree - was[s].agree, `${it.concept} ${s} fidelity`);
      assert.equal(Math.round(it.splits[s].accuracy * n), now[s].correct - was[s].correct, `${it.concept} ${s} accuracy`);
    }
    assert.equal(it.effect, it.accuracy > 0 ? 'helps' : it.accuracy < 0 ? 'hurts' : 'none');
  }
  // The grass shortcut: removing it from every class helps shifted accuracy most, as
  // the single action's what-if says.
  assert.equal(r.json.items[0].concept, 'grass');
  const one = (await call(server, 'GET', `${base()}/versions/1/whatif?action=remove&concept=grass`)).json;
  assert.equal(r.json.items[0].accuracy, one.splits.shifted.accuracy.delta);
  // One class only, ranked by fidelity; bad parameters.
  const cat = await call(server, 'GET', `${base()}/versions/1/whatif/concepts?split=test&class=cat&by=fidelity`);
  assert.equal(cat.status, 200, cat.text);
  assert.equal(cat.json.class, 'cat');
  assert.deepEqual(cat.json.items.map((it) => it.concept).sort(), WORDS.filter((_, j) => v1.weights[0][j] !== 0).sort());
  for (const it of cat.json.items) {
    const now = counts(zeroed(v1.weights, it.index, 0), v1.biases, colsOf(v1.concepts));
    assert.equal(Math.round(it.fidelity * was.test.n), now.test.agree - was.test.agree);
  }
  for (const q of ['split=nope', 'class=horse', 'by=speed']) {
    assert.equal((await call(server, 'GET', `${base()}/versions/1/whatif/concepts?${q}`)).status, 422, q);
  }
});

test('an action across classes: one version, one provenance row, every class retrained with the weight at 0', async () => {
  const [vc, pc] = [await versionCount(), await provenanceCount()];
  const h = await head();
  const r = await tune(h, [{ action: 'remove', concept: 'grass' }]);
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.json.retrained, CLASSES);
  assert.equal(await versionCount(), vc + 1);
  assert.equal(await provenanceCount(), pc + 1);
  const v = await version(r.json.number);
  const g = v.concepts.indexOf('grass');
  for (let k = 0; k < CLASSES.length; k++) {
    assert.equal(v.weights[k][g], 0);
    assert.deepEqual([v.bounds.lo[k][g], v.bounds.hi[k][g]], [0, 0]);
  }
  const prov = (await call(server, 'GET', `${base()}/provenance?limit=1`)).json.items[0];
  assert.equal(prov.version, r.json.number);
  assert.deepEqual(prov.actions, [{ action: 'remove', concept: 'grass', all_classes: true }]);
  // The measures stored are the weights' own.
  const m = counts(v.weights, v.biases, colsOf(v.concepts));
  for (const s of ['test', 'shifted']) assert.equal(Math.round(v.measures.splits[s].fidelity * m[s].n), m[s].agree);
});

test('drop and add back: new versions with their own concept lists; the added column starts at 0', async () => {
  const h = await head();
  const parent = await version(h);
  const drop = await tune(h, [{ action: 'drop', concept: 'sky' }]);
  assert.equal(drop.status, 201, drop.text);
  assert.deepEqual(drop.json.dropped, ['sky']);
  assert.deepEqual(drop.json.added, []);
  const vd = await version(drop.json.number);
  assert.deepEqual(vd.concepts, WORDS.filter((w) => w !== 'sky'));
  assert.equal(vd.weights[0].length, WORDS.length - 1);
  const s = WORDS.indexOf('sky');
  // retrained: exactly the classes that had a weight on sky; the others keep theirs
  assert.deepEqual(drop.json.retrained, CLASSES.filter((_, k) => parent.weights[k][s] !== 0));
  for (let k = 0; k < CLASSES.length; k++) {
    if (drop.json.retrained.includes(CLASSES[k])) continue;
    assert.deepEqual(vd.weights[k], parent.weights[k].filter((_, j) => j !== s));
  }
  const vl = (await call(server, 'GET', `${base()}/versions?limit=1`)).json.items[0];
  assert.equal(vl.n_concepts, WORDS.length - 1);
  assert.equal(vl.stale, false);

  const add = await tune(drop.json.number, [{ action: 'add', concept: 'Sky' }]);
  assert.equal(add.status, 201, add.text);
  assert.deepEqual(add.json.added, ['sky']);
  const va = await version(add.json.number);
  assert.deepEqual(va.concepts, [...vd.concepts, 'sky']);
  for (let k = 0; k < CLASSES.length; k++) {
    if (add.json.retrained.includes(CLASSES[k])) continue;
    // a class the new column does not change keeps every weight, and 0 on sky
    assert.deepEqual(va.weights[k], [...vd.weights[k], 0]);
    assert.equal(va.biases[k], vd.biases[k]);
  }
  // bird's own concept is sky: it had a weight there, so the new column changes it
  assert.ok(add.json.retrained.includes('bird'), JSON.stringify(add.json));
  assert.notEqual(va.weights[2][va.concepts.indexOf('sky')], 0);
  // the grass bound of the earlier remove still holds after the add's retraining
  const g = va.concepts.indexOf('grass');
  for (let k = 0; k < CLASSES.length; k++) assert.equal(va.weights[k][g], 0);
  const prov = (await call(server, 'GET', `${base()}/provenance?limit=2`)).json.items;
  assert.deepEqual(prov.map((p) => p.actions), [[{ action: 'add', concept: 'sky' }], [{ action: 'drop', concept: 'sky' }]]);
});

test('every earlier version stays restorable, with its own concept list', async () => {
  const v1 = await version(1);
  const r = await call(server, 'POST', `${base()}/versions/1/restore`, { body: {} });
  assert.equal(r.status, 201, r.text);
  const vr = await version(r.json.number);
  assert.deepEqual(vr.concepts, WORDS);
  assert.deepEqual(vr.weights, v1.weights);
  assert.deepEqual(vr.measures, v1.measures);
  // the version without sky, restored after sky came back
  const list = (await call(server, 'GET', `${base()}/versions`)).json.items;
  const noSky = list.find((v) => v.n_concepts === WORDS.length - 1).number;
  const r2 = await call(server, 'POST', `${base()}/versions/${noSky}/restore`, { body: {} });
  assert.equal(r2.status, 201, r2.text);
  const v2 = await version(r2.json.number);
  assert.deepEqual(v2.concepts, WORDS.filter((w) => w !== 'sky'));
  assert.deepEqual(v2.measures, (await version(noSky)).measures);
  assert.equal((await call(server, 'GET', base())).json.concepts, WORDS.length - 1);
});

test('a restore that names the head it saw: 409 with the head when it moved on, nothing stored', async () => {
  const h = await head();
  const [vc, pc] = [await versionCount(), await provenanceCount()];
  const late = await call(server, 'POST', `${base()}/versions/1/restore`, { body: { parent: h - 1 } });
  assert.equal(late.status, 409, late.text);
  assert.equal(late.json.head, h);
  assert.match(late.json.error.message, /not the head/);
  assert.deepEqual([await versionCount(), await provenanceCount(), await head()], [vc, pc, h]);
  assert.equal((await call(server, 'POST', `${base()}/versions/1/restore`, { body: { parent: 0 } })).status, 422);
  // the head it saw: restored as without parent (and the head it names made the new one)
  const ok = await call(server, 'POST', `${base()}/versions/${h}/restore`, { body: { parent: h } });
  assert.equal(ok.status, 201, ok.text);
  assert.deepEqual([ok.json.number, ok.json.parent, ok.json.restored], [h + 1, h, h]);
  assert.deepEqual((await version(h + 1)).concepts, (await version(h)).concepts);
});

test('refusals: 422 naming actions[i] and why, 409 with the head; nothing stored', async () => {
  const h = await head(); // its concepts lack sky (the last restore)
  const [vc, pc] = [await versionCount(), await provenanceCount()];
  const cases = [
    [[{ action: 'remove', concept: 'sky', class: 'cat' }], /actions\[0\]\.concept: unknown concept 'sky'.*add/],
    [[{ action: 'remove', concept: 'fur' }, { action: 'uptune', concept: 'fur', class: 'horse', factor: 2 }], /actions\[1\]\.class: unknown class 'horse'/],
    [[{ action: 'add', concept: 'fur' }], /actions\[0\]\.concept: 'fur' is already a concept/],
    [[{ action: 'drop', concept: 'sky' }], /actions\[0\]\.concept: 'sky' is not a concept/],
    [[{ action: 'add', concept: 'fur', class: 'cat' }], /actions\[0\]\.class: add takes only a concept/],
    [[{ action: 'drop', concept: 'water' }, { action: 'uptune', concept: 'water', class: 'dog', factor: 2 }], /actions\[1\]\.concept: 'water' is dropped by actions\[0\]/],
    [[{ action: 'uptune', concept: 'fur', factor: 2 }, { action: 'downtune', concept: 'fur', class: 'dog', factor: 2 }], /actions\[1\]: 'fur' in class 'dog': bounds cannot all hold/],
  ];
  for (const [actions, re] of cases) {
    const r = await tune(h, actions);
    assert.equal(r.status, 422, `${JSON.stringify(actions)}: ${r.text}`);
    assert.match(r.json.error.message, re);
  }
  const stale = await tune(h - 1, [{ action: 'remove', concept: 'fur' }]);
  assert.equal(stale.status, 409, stale.text);
  assert.equal(stale.json.head, h);
  assert.equal(await versionCount(), vc);
  assert.equal(await provenanceCount(), pc);
});

test('staleness is per column: a recomputed sky column stales the versions that use sky, not the others', async () => {
  const list = (await call(server, 'GET', `${base()}/versions`)).json.items;
  const withSky = list.find((v) => v.n_concepts === WORDS.length).number;
  const s = WORDS.indexOf('sky'), d = WORDS.length;
  const x2 = Float32Array.from(data.x, (v, i) => (i % d === s ? v * 0.5 : v));
  replacePresence(server.dataDir, data.ext, x2);
  // a version with sky: refused; the head (without sky): fine
  const r = await call(server, 'GET', `${base()}/versions/${withSky}/whatif/concepts`);
  assert.equal(r.status, 409, r.text);
  assert.match(r.json.error.message, /stale/);
  assert.equal((await call(server, 'POST', `${base()}/versions/${withSky}/restore`, { body: {} })).status, 409);
  const h = await head();
  const ok = await call(server, 'GET', `${base()}/versions/${h}/whatif/concepts`);
  assert.equal(ok.status, 200, ok.text);
  const st = (await call(server, 'GET', base())).json;
  assert.equal(st.stale, false);
  const after = (await call(server, 'GET', `${base()}/versions`)).json.items;
  assert.equal(after.find((v) => v.number === withSky).stale, true);
  assert.equal(after.find((v) => v.number === withSky).stale_reason, 'presence matrix');
  assert.equal(after.find((v) => v.number === h).stale, false);
  assert.equal(after.find((v) => v.number === h).stale_reason, null);
  const t = await tune(h, [{ action: 'downtune', concept: 'fur', class: 'cat', factor: 2 }]);
  assert.equal(t.status, 201, t.text);
});

// ---- a real extraction: a word outside the corpus, added through the student ----

test('a word-list model: add a word through the student, refuse unknown words with suggestions, vocabulary', async () => {
  const ok = async (res, status, what) => { assert.equal(res.status, status, `${what}: ${res.text}`); return res.json; };
  const job = async (res, what) => {
    const j = await ok(res, 202, what);
    const done = await waitJob(server, j.id, undefined, 300000);
    assert.equal(done.state, 'succeeded', `${what}: ${JSON.stringify(done)}`);
    return done.result;
  };
  const LAYOUT = { cool: ['blue.jpg', 'green.jpg'], warm: ['red.jpg', 'stripes.jpg'] };
  const model = await ok(await call(server, 'POST', '/api/v1/models', { body: { name: uniq('m'), path: denseFolder(join(work, 'dense')) } }), 201, 'register');
  const ds = await ok(await call(server, 'POST', '/api/v1/datasets', { body: { name: uniq('ds') } }), 201, 'dataset');
  await job(await call(server, 'POST', `/api/v1/datasets/${ds.id}/upload?split=train`,
    { raw: fixtureTar(join(work, 'tar'), join(work, 't.tar'), LAYOUT), headers: { 'Content-Type': 'application/x-tar' } }), 'upload');
  const classes = (await ok(await call(server, 'GET', `/api/v1/datasets/${ds.id}`), 200, 'ds')).classes.map((c) => (typeof c === 'string' ? c : c.name));
  const images = (await ok(await call(server, 'GET', `/api/v1/datasets/${ds.id}/images?limit=100`), 200, 'images')).items;
  const corpus = await ok(await call(server, 'POST', '/api/v1/corpora', { body: { name: uniq('c'), words: ['red', 'blue', 'green'] } }), 201, 'corpus');
  const xr = await job(await call(server, 'POST', '/api/v1/extractions',
    { body: { dataset_id: ds.id, concept_model_id: model.id, corpus_id: corpus.id } }), 'extraction');
  const warm = { 'red.jpg': 0.9, 'stripes.jpg': 0.65, 'blue.jpg': 0.15, 'green.jpg': 0.3 };
  const bySha = new Map(Object.values(LAYOUT).flat().map((f) => [
    execFileSync('sha256sum', [join(IMAGES, f)], { encoding: 'utf8' }).split(' ')[0], warm[f]]));
  const predictions = Object.fromEntries(images.map((im) => [String(im.id),
    classes.map((c) => (c === 'warm' ? bySha.get(im.sha256) : 1 - bySha.get(im.sha256)))]));
  const out = await ok(await call(server, 'POST', `/api/v1/datasets/${ds.id}/predictions?name=colours`, { body: { classes, predictions } }), 201, 'teacher');
  const sid = (await job(await call(server, 'POST', '/api/v1/students',
    { body: { extraction_id: xr.extraction_id, teacher_output_id: out.id } }), 'distil')).student_id;
  const sbase = `/api/v1/students/${sid}`;
  const st = await ok(await call(server, 'GET', sbase), 200, 'student');
  assert.equal(st.concept_model_id, model.id);

  // The vocabulary the page suggests from.
  const voc = await ok(await call(server, 'GET', `/api/v1/models/${model.id}/vocabulary?prefix=St`), 200, 'vocabulary');
  assert.deepEqual([voc.open, voc.items, voc.total], [false, ['stripes'], 1]);
  const all = await ok(await call(server, 'GET', `/api/v1/models/${model.id}/vocabulary?limit=3`), 200, 'vocabulary');
  assert.deepEqual([all.items, all.total], [['blue', 'cat', 'dog'], 6]);
  assert.equal((await call(server, 'GET', '/api/v1/models/99999999/vocabulary')).status, 404);

  // Words the model cannot read: 422 naming the action, the word and what is near; nothing stored.
  for (const [word, re] of [['zebra', /'zebra' \(no word near it\)/], ['strips', /'strips' \(nearest: 'stripes'\)/]]) {
    const r = await tune(1, [{ action: 'add', concept: word }], sid);
    assert.equal(r.status, 422, r.text);
    assert.match(r.json.error.message, /^actions\[0\]\.concept: .*not in the concept model's vocabulary \(words\.txt/);
    assert.match(r.json.error.message, re);
  }
  assert.deepEqual((await ok(await call(server, 'GET', `/api/v1/corpora/${corpus.id}`), 200, 'corpus')).words, ['red', 'blue', 'green']);
  assert.equal((await ok(await call(server, 'GET', `${sbase}/versions`), 200, 'versions')).total, 1);

  // A word outside the corpus: the corpus gets it, the extraction its column, the
  // student a version with it at weight 0 where it changes nothing.
  const r = await tune(1, [{ action: 'add', concept: 'stripes' }], sid);
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.json.added, ['stripes']);
  assert.deepEqual((await ok(await call(server, 'GET', `/api/v1/corpora/${corpus.id}`), 200, 'corpus')).words, ['red', 'blue', 'green', 'stripes']);
  const x = await ok(await call(server, 'GET', `/api/v1/extractions/${xr.extraction_id}`), 200, 'extraction');
  assert.deepEqual([x.d, x.current], [4, true]);
  const v2 = await ok(await call(server, 'GET', `${sbase}/versions/2`), 200, 'v2');
  const v1 = await ok(await call(server, 'GET', `${sbase}/versions/1`), 200, 'v1');
  assert.deepEqual(v2.concepts, ['red', 'blue', 'green', 'stripes']);
  v2.weights.forEach((row, k) => {
    if (!r.json.retrained.includes(classes[k])) assert.deepEqual(row, [...v1.weights[k], 0]);
  });
  assert.equal((await ok(await call(server, 'GET', sbase), 200, 'student')).stale, false);
  // Version 1 (three concepts) is still usable and restorable.
  const back = await call(server, 'POST', `${sbase}/versions/1/restore`, { body: {} });
  assert.equal(back.status, 201, back.text);
  assert.deepEqual((await ok(await call(server, 'GET', `${sbase}/versions/3`), 200, 'v3')).concepts, ['red', 'blue', 'green']);
  assert.equal((await call(server, 'GET', `${sbase}/versions/2/images/${images[0].id}/contributions`)).status, 200);

  // A concept's gallery on one split: only its images in that split, best first still.
  const gallery = async (q) => call(server, 'GET', `/api/v1/extractions/${xr.extraction_id}/concepts/red/gallery${q}`);
  const whole = await ok(await gallery(''), 200, 'gallery');
  assert.ok(whole.items.length >= 2, JSON.stringify(whole));
  const moved = whole.items[0].image_id;
  sql(`UPDATE images SET split = 'val' WHERE id = ${moved}`);
  const val = await ok(await gallery('?split=val'), 200, 'gallery val');
  assert.deepEqual([val.split, val.total, val.items.map((d) => d.image_id)], ['val', 1, [moved]]);
  const train = await ok(await gallery('?split=train'), 200, 'gallery train');
  assert.deepEqual(train.items.map((d) => d.image_id), whole.items.slice(1).map((d) => d.image_id));
  assert.equal(train.total, whole.total - 1);
  assert.ok(train.items.every((d) => d.mask || d.box), 'items keep their segments');
  for (const q of ['?split=nope', '?split=Bad!']) assert.equal((await gallery(q)).status, 422, q);
});
