// students.test.mjs — students end to end: distil (job), read versions (ETag),
// uptune / downtune / remove change the named weight as promised and only that class,
// two concurrent tunes of one head give one 201 and one 409 with the head, restore
// reproduces the old measures exactly, bad actions and stale data are clear 4xx with
// nothing stored, provenance newest first with deltas, influence, disagreements,
// contributions and export.
//
// The data is synthetic and seeded straight into the database and blob store (a
// dataset, a predictions-file teacher output and a ready extraction): the student only
// reads those rows and blobs, and a real extraction needs a concept model run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, call, waitJob, errorCode } from './harness.mjs';
import { rng, seedProblem, replacePresence } from './synthetic.mjs';

const CLASSES = ['cat', 'dog', 'bird'];
const WORDS = ['fur', 'whisker', 'bark', 'wings', 'beak', 'grass', 'water', 'sky'];
const N = 300;
let server, studentId;

function seed() {
  const rand = rng(7);
  // Each class has two concepts of its own; grass leaks into cat (a shortcut).
  const own = [[0, 1, 5], [0, 2], [3, 4, 7]];
  return seedProblem({
    dataDir: server.dataDir, tag: `students${process.pid}`, classes: CLASSES, words: WORDS, n: N,
    shifted: true, modelSha: 'ab'.repeat(32),
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

let data;
const base = () => `/api/v1/students/${studentId}`;
const version = async (n) => (await call(server, 'GET', `${base()}/versions/${n}`)).json;
const versionCount = async () => (await call(server, 'GET', `${base()}/versions`)).json.total;
const tune = (parent, actions, note) => call(server, 'POST', `${base()}/versions`, { body: { parent, actions, note } });

before(async () => {
  server = await startServer();
  data = seed();
});
after(async () => { await server?.stop(); });

test('distil: a job makes version 1 with fidelity on every split', async () => {
  const bad = await call(server, 'POST', '/api/v1/students', { body: { extraction_id: data.ext, teacher_output_id: 999999 } });
  assert.equal(bad.status, 422);
  assert.match(bad.json.error.message, /teacher_output_id/);
  const r = await call(server, 'POST', '/api/v1/students',
    { body: { extraction_id: data.ext, teacher_output_id: data.out, name: 'synthetic student', lambda: 1e-3 } });
  assert.equal(r.status, 202, r.text);
  const job = await waitJob(server, r.json.id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  studentId = job.result.student_id;
  for (const s of ['train', 'test', 'shifted']) {
    assert.ok(job.result.fidelity[s] > 0.7, `fidelity ${s} = ${job.result.fidelity[s]}`);
  }
  const st = await call(server, 'GET', base());
  assert.equal(st.status, 200);
  assert.equal(st.json.head.number, 1);
  assert.equal(st.json.stale, false);
  assert.equal(st.json.lambda, 1e-3);
  const list = await call(server, 'GET', '/api/v1/students');
  assert.ok(list.json.items.some((s) => s.id === studentId));
});

test('a version: weights, measures on every split, strong ETag', async () => {
  const r = await call(server, 'GET', `${base()}/versions/1`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.concepts, WORDS);
  assert.deepEqual(r.json.classes, CLASSES);
  assert.equal(r.json.weights.length, 3);
  assert.equal(r.json.weights[0].length, WORDS.length);
  assert.equal(r.json.bounds, null);
  const m = r.json.measures.splits.test;
  assert.equal(m.classes.length, 3);
  assert.equal(m.confusion.length, 3);
  const etag = r.headers.get('etag');
  assert.match(etag, /^"sv\d+-/);
  const again = await call(server, 'GET', `${base()}/versions/1`, { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assert.equal((await call(server, 'GET', `${base()}/versions/99`)).status, 404);
});

function largest(w, k) {
  let j = 0;
  for (let i = 0; i < w[k].length; i++) if (Math.abs(w[k][i]) > Math.abs(w[k][j])) j = i;
  return j;
}

function sameExcept(a, b, k) {
  for (let kk = 0; kk < a.weights.length; kk++) {
    if (kk === k) continue;
    assert.deepEqual(b.weights[kk], a.weights[kk], `class ${kk} weights changed`);
    assert.equal(b.biases[kk], a.biases[kk], `class ${kk} bias changed`);
  }
}

test('uptune, downtune, remove do what they say, to that class only', async () => {
  const v1 = await version(1);
  const k = 0, j = largest(v1.weights, k), w = v1.weights[k][j];
  assert.notEqual(w, 0);
  const up = await tune(1, [{ action: 'uptune', concept: WORDS[j], class: 'cat', factor: 2 }], 'more fur');
  assert.equal(up.status, 201, up.text);
  assert.equal(up.json.number, 2);
  assert.deepEqual(up.json.retrained, ['cat']);
  const v2 = await version(2);
  const w2 = v2.weights[k][j];
  assert.equal(Math.sign(w2), Math.sign(w));
  assert.ok(Math.abs(w2) >= 2 * Math.abs(w), `${w2} vs 2*${w}`);
  assert.equal(v2.bounds.lo[k][j] !== null || v2.bounds.hi[k][j] !== null, true);
  sameExcept(v1, v2, k);
  assert.equal(v2.parent, 1);

  // The uptune's bound stays until released (bounds accumulate within a batch too).
  const held = await tune(2, [{ action: 'downtune', concept: j, class: 0, factor: 4 }]);
  assert.equal(held.status, 422, held.text);
  assert.match(held.json.error.message, /release/);
  const down = await tune(2, [{ action: 'release', concept: j, class: 0 }, { action: 'downtune', concept: j, class: 0, factor: 4 }]);
  assert.equal(down.status, 201, down.text);
  const v3 = await version(3);
  const w3 = v3.weights[k][j];
  assert.ok(Math.sign(w3) === Math.sign(w2) || w3 === 0);
  assert.ok(Math.abs(w3) <= Math.abs(w2) / 4 * (1 + 1e-6), `${w3} vs ${w2}/4`);
  // Bounds hold exactly.
  for (let kk = 0; kk < 3; kk++) {
    for (let i = 0; i < WORDS.length; i++) {
      const lo = v3.bounds.lo[kk][i], hi = v3.bounds.hi[kk][i], x = v3.weights[kk][i];
      if (lo !== null) assert.ok(x >= lo, `w[${kk}][${i}] = ${x} < lo ${lo}`);
      if (hi !== null) assert.ok(x <= hi, `w[${kk}][${i}] = ${x} > hi ${hi}`);
    }
  }
  sameExcept(v2, v3, k);

  const kb = 2, jb = largest(v3.weights, kb);
  const rm = await tune(3, [{ action: 'remove', concept: WORDS[jb], class: 'bird' }]);
  assert.equal(rm.status, 201, rm.text);
  const v4 = await version(4);
  assert.equal(v4.weights[kb][jb], 0);
  sameExcept(v3, v4, kb);
});

test('concurrent tunes of one head: one 201, one 409 with the head', async () => {
  const head = (await call(server, 'GET', base())).json.head.number;
  const act = (f) => [{ action: 'uptune', concept: 'bark', class: 'dog', factor: f }];
  const [a, b] = await Promise.all([tune(head, act(1.5)), tune(head, act(3))]);
  const st = [a.status, b.status].sort();
  assert.deepEqual(st, [201, 409], `${a.text} / ${b.text}`);
  const lost = a.status === 409 ? a : b;
  assert.equal(errorCode(lost), 'conflict');
  assert.equal(lost.json.head, head + 1);
  // A stale parent later is the same 409.
  const old = await tune(1, act(2));
  assert.equal(old.status, 409);
  assert.equal(old.json.head, head + 1);
});

test('bad actions: a clear 422 naming the action, nothing stored', async () => {
  const head = (await call(server, 'GET', base())).json.head.number;
  const before = await versionCount();
  const cases = [
    [[{ action: 'uptune', concept: 'nope', class: 'cat', factor: 2 }], /actions\[0\]\.concept.*nope/],
    [[{ action: 'remove', concept: 'fur', class: 'cat' }, { action: 'uptune', concept: 'fur', class: 'horse', factor: 2 }], /actions\[1\]\.class.*horse/],
    [[{ action: 'uptune', concept: 'fur', class: 'cat', factor: 1 }], /actions\[0\]\.factor/],
    [[{ action: 'downtune', concept: 'fur', class: 'cat', factor: 'x' }], /actions\[0\]\.factor/],
    [[{ action: 'boost', concept: 'fur', class: 'cat' }], /actions\[0\]\.action/],
    [[{ action: 'set', concept: 'sky', class: 'dog', value: 1 }, { action: 'set', concept: 'sky', class: 'dog', value: 2 }], /./],
    [[], /actions/],
  ];
  for (const [actions, re] of cases) {
    const r = await tune(head, actions);
    assert.equal(r.status, 422, `${JSON.stringify(actions)}: ${r.text}`);
    assert.match(r.json.error.message, re);
  }
  assert.equal(await versionCount(), before);
});

test('restore reproduces an old version exactly, as a new head', async () => {
  const v1 = await version(1);
  const head = (await call(server, 'GET', base())).json.head.number;
  const r = await call(server, 'POST', `${base()}/versions/1/restore`, { body: {} });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.number, head + 1);
  const vr = await version(head + 1);
  assert.deepEqual(vr.measures, v1.measures);
  assert.deepEqual(vr.weights, v1.weights);
  assert.deepEqual(vr.biases, v1.biases);
  assert.equal(vr.parent, head);
  // History is intact.
  assert.equal((await version(2)).number, 2);
});

test('provenance: newest first, with actions and deltas', async () => {
  const r = await call(server, 'GET', `${base()}/provenance`);
  assert.equal(r.status, 200);
  const items = r.json.items;
  assert.equal(items[0].kind, 'restore');
  assert.equal(items[items.length - 1].kind, 'distill');
  for (let i = 1; i < items.length; i++) assert.ok(items[i - 1].version > items[i].version);
  const upItem = items.find((it) => it.version === 2);
  assert.equal(upItem.kind, 'tune');
  assert.equal(upItem.actions[0].action, 'uptune');
  assert.equal(upItem.actions[0].class, 'cat');
  assert.equal(upItem.parent, 1);
  const d = upItem.deltas.splits.test.fidelity;
  assert.ok(Math.abs(d - (upItem.measures_after.splits.test.fidelity - upItem.measures_before.splits.test.fidelity)) < 1e-12);
});

test('influence, disagreements, contributions, export', async () => {
  const inf = await call(server, 'GET', `${base()}/versions/1/classes/cat/influence`);
  assert.equal(inf.status, 200, inf.text);
  assert.equal(inf.json.items.length, WORDS.length);
  const a = inf.json.items;
  for (let i = 1; i < a.length; i++) assert.ok(Math.abs(a[i - 1].influence) >= Math.abs(a[i].influence));
  for (const it of a) assert.ok(Math.abs(it.influence - it.weight * it.mean_presence) < 1e-5);
  assert.equal((await call(server, 'GET', `${base()}/versions/1/classes/horse/influence`)).status, 404);

  const dis = await call(server, 'GET', `${base()}/versions/1/disagreements?split=shifted&limit=5`);
  assert.equal(dis.status, 200, dis.text);
  const v1 = await version(1);
  assert.equal(dis.json.total, v1.measures.splits.shifted.disagreements);
  // Loops over API lists check nothing when the list is empty: the lists must hold rows.
  assert.ok(dis.json.total > 0, 'the shifted split has disagreements to check');
  assert.equal(dis.json.items.length, Math.min(5, dis.json.total));
  for (const it of dis.json.items) assert.notEqual(it.teacher_class, it.student_class);
  // One confusion cell: the (teacher, student) pair of the first disagreement.
  const cell = [dis.json.items[0].teacher_class, dis.json.items[0].student_class];
  const f = await call(server, 'GET', `${base()}/versions/1/disagreements?teacher_class=${cell[0]}&student_class=${cell[1]}&limit=1000`);
  assert.equal(f.status, 200, f.text);
  assert.ok(f.json.items.length > 0 && f.json.items.length === f.json.total, `cell ${cell}: ${f.json.items.length} of ${f.json.total}`);
  for (const it of f.json.items) assert.deepEqual([it.teacher_class, it.student_class], cell);
  assert.equal((await call(server, 'GET', `${base()}/versions/1/disagreements?split=nope`)).status, 422);

  const img = data.ids[0].toString();
  const c = await call(server, 'GET', `${base()}/versions/1/images/${img}/contributions?top=100`);
  assert.equal(c.status, 200, c.text);
  assert.equal(c.json.classes.length, 3);
  for (const cl of c.json.classes) {
    const s = cl.contributions.reduce((acc, it) => acc + it.contribution, cl.bias);
    assert.ok(Math.abs(s - cl.score) < 1e-4, `${s} vs ${cl.score}`);
  }
  assert.equal((await call(server, 'GET', `${base()}/versions/1/images/999999999/contributions`)).status, 404);

  const ex = await call(server, 'GET', `${base()}/versions/1/export`);
  assert.equal(ex.status, 200);
  assert.equal(ex.json.format, 'inficond-student/1');
  assert.deepEqual(ex.json.concepts, WORDS);
  assert.equal(ex.json.concept_model.sha256, 'ab'.repeat(32));
  assert.deepEqual(ex.json.weights, v1.weights);
});

test('tuning needs credentials', async () => {
  const r = await call(server, 'POST', `${base()}/versions`, { token: null, body: { parent: 1, actions: [] } });
  assert.equal(r.status, 401);
});

test('stale: a recomputed presence matrix refuses tuning, nothing stored', async () => {
  const before = await versionCount();
  const head = (await call(server, 'GET', base())).json.head.number;
  const x2 = Float32Array.from(data.x, (v) => v * 0.5);
  replacePresence(server.dataDir, data.ext, x2);
  const r = await tune(head, [{ action: 'remove', concept: 'grass', class: 'cat' }]);
  assert.equal(r.status, 409, r.text);
  assert.match(r.json.error.message, /stale/);
  assert.equal(await versionCount(), before);
  assert.equal((await call(server, 'GET', base())).json.stale, true);
});
