// students_gallery.test.mjs — GET /students/{id}/versions/{v}/disagreements as the
// gallery's one read: agreement=disagree|agree|all, the filters (split, teacher_class,
// student_class, label, image_ids), each image's teacher and student answers equal
// to what the contributions route says for that image, paging in image id order, the
// strong ETag (304; another version, another tag), and bad parameters as 400 / 422 /
// 404 / 409 JSON errors.
//
// The data is synthetic and seeded straight into the database and blob store, like
// students.test.mjs (a dataset, a predictions-file teacher output, a ready extraction).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, call, waitJob, errorCode } from './harness.mjs';
import { rng, seedProblem, replacePresence } from './synthetic.mjs';

const CLASSES = ['cat', 'dog', 'bird'];
const WORDS = ['fur', 'whisker', 'bark', 'wings', 'beak', 'grass'];
const N = 240;
let server, data, studentId;

// Labels g % 3; splits train / test / shifted; the teacher follows each class's own
// concepts with some noise, so the student disagrees with it on some images.
function seed() {
  const rand = rng(11);
  const own = [[0, 1, 5], [0, 2], [3, 4]];
  const p = seedProblem({
    dataDir: server.dataDir, tag: `gallery${process.pid}`, classes: CLASSES, words: WORDS, n: N,
    shifted: true, modelSha: 'cd'.repeat(32),
    image(k, split, x) {
      for (let j = 0; j < x.length; j++) x[j] = 0.1 * rand();
      for (const j of own[k]) x[j] += 0.5 + 0.5 * rand();
      const z = [0, 0, 0];
      for (let kk = 0; kk < CLASSES.length; kk++) for (const j of own[kk]) z[kk] += 3 * x[j];
      if (rand() < 0.2) z[(k + 1) % CLASSES.length] += 8; else z[k] += 2;
      return z;
    },
  });
  return {
    ext: p.ext, out: p.out, x: p.x, ids: p.rows.map((r) => r.id),
    labels: p.rows.map((r) => CLASSES[r.label]), splits: p.rows.map((r) => r.split),
  };
}

const base = () => `/api/v1/students/${studentId}`;
const gallery = (v, q = '') => call(server, 'GET', `${base()}/versions/${v}/disagreements${q ? `?${q}` : ''}`);

// Every item of a query, page by page (limit `page`), checking the paging fields.
async function all(v, q, page) {
  const items = [];
  let total = null;
  for (let offset = 0; ; offset += page) {
    const r = await gallery(v, `${q}&limit=${page}&offset=${offset}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.limit, page);
    assert.equal(r.json.offset, offset);
    if (total === null) total = r.json.total;
    assert.equal(r.json.total, total, 'the total does not change from page to page');
    assert.ok(r.json.items.length <= page);
    items.push(...r.json.items);
    if (offset + page >= total) { assert.equal(r.json.items.length, total - offset); break; }
    assert.equal(r.json.items.length, page);
  }
  return { items, total };
}

before(async () => {
  server = await startServer();
  data = seed();
  const r = await call(server, 'POST', '/api/v1/students',
    { body: { extraction_id: data.ext, teacher_output_id: data.out, lambda: 1e-3 } });
  assert.equal(r.status, 202, r.text);
  const job = await waitJob(server, r.json.id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  studentId = job.result.student_id;
});
after(async () => { await server?.stop(); });

test('agreement=all lists every image once, in id order, paged; agree + disagree = all', async () => {
  const { items, total } = await all(1, 'agreement=all', 37);
  assert.equal(total, N);
  assert.deepEqual(items.map((it) => it.image_id), data.ids);
  items.forEach((it, i) => {
    assert.equal(it.label, data.labels[i]);
    assert.equal(it.split, data.splits[i]);
    assert.ok(CLASSES.includes(it.teacher_class) && CLASSES.includes(it.student_class));
  });
  const dis = await all(1, 'agreement=disagree', 50);
  const agr = await all(1, 'agreement=agree', 50);
  assert.ok(dis.total > 0 && agr.total > 0, `${dis.total} disagreements, ${agr.total} agreements`);
  assert.equal(dis.total + agr.total, N);
  for (const it of dis.items) assert.notEqual(it.teacher_class, it.student_class);
  for (const it of agr.items) assert.equal(it.teacher_class, it.student_class);
  const byId = new Map(items.map((it) => [it.image_id, it]));
  for (const it of [...dis.items, ...agr.items]) assert.deepEqual(it, byId.get(it.image_id));
  // The default is the disagreements, as before.
  const def = await gallery(1, 'limit=1000');
  assert.equal(def.json.agreement, 'disagree');
  assert.equal(def.json.total, dis.total);
  // Past the end: no items, the same total.
  const past = await gallery(1, `agreement=all&offset=${N + 5}`);
  assert.equal(past.status, 200);
  assert.deepEqual(past.json.items, []);
  assert.equal(past.json.total, N);
});

test('the answers are those of the contributions route', async () => {
  const r = await gallery(1, 'agreement=all&label=dog&limit=12');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.items.length, 12);
  const dis = (await gallery(1, 'limit=4')).json.items;
  for (const it of [...r.json.items, ...dis]) {
    const c = await call(server, 'GET', `${base()}/versions/1/images/${it.image_id}/contributions?top=1`);
    assert.equal(c.status, 200, c.text);
    assert.equal(it.teacher_class, c.json.teacher_class, `image ${it.image_id}`);
    assert.equal(it.student_class, c.json.student_class, `image ${it.image_id}`);
    assert.equal(it.label, c.json.label);
    assert.equal(it.split, c.json.split);
    const tp = c.json.classes.find((k) => k.class === it.teacher_class).teacher_probability;
    assert.ok(Math.abs(it.teacher_probability - tp) < 1e-6);
  }
});

test('filters: label, split, a confusion cell (the diagonal too), image_ids', async () => {
  const dogs = await all(1, 'agreement=all&label=dog', 100);
  assert.equal(dogs.total, data.labels.filter((l) => l === 'dog').length);
  for (const it of dogs.items) assert.equal(it.label, 'dog');
  // By index as well as by name.
  assert.equal((await gallery(1, 'agreement=all&label=1&limit=1')).json.total, dogs.total);

  const v1 = (await call(server, 'GET', `${base()}/versions/1`)).json;
  const m = v1.measures.splits.test;
  for (let t = 0; t < CLASSES.length; t++) {
    for (let s = 0; s < CLASSES.length; s++) {
      const r = await gallery(1, `agreement=all&split=test&teacher_class=${CLASSES[t]}&student_class=${s}&limit=1000`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.total, m.confusion[t][s], `cell ${t},${s}`);
      assert.equal(r.json.items.length, r.json.total, `cell ${t},${s}: every row listed`);
      for (const it of r.json.items) assert.deepEqual([it.split, it.teacher_class, it.student_class], ['test', CLASSES[t], CLASSES[s]]);
    }
  }
  // A diagonal cell holds no disagreements.
  assert.equal((await gallery(1, 'teacher_class=cat&student_class=cat')).json.total, 0);

  const want = [data.ids[7], data.ids[3], data.ids[200], data.ids[41]];
  const r = await gallery(1, `agreement=all&image_ids=${want.join(',')},999999999`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.items.map((it) => it.image_id), [...want].sort((a, b) => a - b));
  assert.equal(r.json.total, 4);
  const cats = await gallery(1, `agreement=all&label=cat&image_ids=${want.join(',')}`);
  assert.deepEqual(cats.json.items.map((it) => it.label), cats.json.items.map(() => 'cat'));
  assert.equal(cats.json.total, want.filter((id) => data.labels[data.ids.indexOf(id)] === 'cat').length);
});

test('a strong ETag: 304 when it matches, another version has another', async () => {
  const q = 'agreement=all&label=bird&limit=5';
  const a = await gallery(1, q);
  const tag = a.headers.get('etag');
  assert.match(tag, /^"[^"]+"$/);
  assert.match(a.headers.get('cache-control'), /no-cache/);
  const again = await call(server, 'GET', `${base()}/versions/1/disagreements?${q}`, { headers: { 'If-None-Match': tag } });
  assert.equal(again.status, 304);
  assert.equal(again.headers.get('etag'), tag);
  const t = await call(server, 'POST', `${base()}/versions`,
    { body: { parent: 1, actions: [{ action: 'remove', concept: 'fur', class: 'cat' }] } });
  assert.equal(t.status, 201, t.text);
  const b = await call(server, 'GET', `${base()}/versions/2/disagreements?${q}`, { headers: { 'If-None-Match': tag } });
  assert.equal(b.status, 200);
  assert.notEqual(b.headers.get('etag'), tag);
  assert.equal(b.json.version, 2);
});

test('bad parameters are 400 / 422 / 404 JSON errors', async () => {
  const bad = async (q, status, code, re) => {
    const r = await gallery(1, q);
    assert.equal(r.status, status, `${q}: ${r.text}`);
    assert.equal(errorCode(r), code);
    if (re) assert.match(r.json.error.message, re);
  };
  await bad('agreement=maybe', 400, 'bad_request', /agreement/);
  await bad('agreement=', 400, 'bad_request', /agreement/);
  for (const ids of ['', 'abc', '1,,2', '-4', '1,2,', ' 1', '1;2', '0x10']) {
    await bad(`image_ids=${encodeURIComponent(ids)}`, 400, 'bad_request', /image_ids/);
  }
  await bad(`image_ids=${Array.from({ length: 1001 }, (_, i) => i + 1).join(',')}`, 400, 'bad_request', /image_ids/);
  await bad('label=horse', 422, 'unprocessable', /label/);
  await bad('label=3', 422, 'unprocessable', /label/);
  await bad('teacher_class=horse', 422, 'unprocessable', /teacher_class/);
  await bad('student_class=-1', 422, 'unprocessable', /student_class/);
  await bad('split=nope', 422, 'unprocessable', /split/);
  await bad('limit=0', 400, 'bad_request', /limit/);
  await bad('limit=1001', 400, 'bad_request', /limit/);
  await bad('offset=-1', 400, 'bad_request', /offset/);
  await bad('limit=ten', 400, 'bad_request', /limit/);
  const nv = await call(server, 'GET', `${base()}/versions/99/disagreements`);
  assert.equal(nv.status, 404);
  assert.equal(errorCode(nv), 'not_found');
  const ns = await call(server, 'GET', '/api/v1/students/999999/versions/1/disagreements');
  assert.equal(ns.status, 404);
  assert.equal(errorCode(ns), 'not_found');
  const anon = await call(server, 'GET', `${base()}/versions/1/disagreements`, { token: null });
  assert.equal(anon.status, 401);
});

test('a stale student has no answers: 409', async () => {
  const x2 = Float32Array.from(data.x, (v) => v * 0.5);
  replacePresence(server.dataDir, data.ext, x2);
  const r = await gallery(1, 'agreement=all');
  assert.equal(r.status, 409, r.text);
  assert.equal(errorCode(r), 'conflict');
});
