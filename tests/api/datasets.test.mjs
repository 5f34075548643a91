// datasets.test.mjs — datasets end to end: create/list/get/delete and their
// errors, a tar upload with bad members (truncated JPEG, non-JPEG, a ../ path)
// that are reported and not fatal, re-import without duplicates, image paging and
// filters, originals and cached thumbnails with ETags, server-side folder imports
// with a split ratio, and Fashion-MNIST's test split through the job API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { startServer, call, waitJob, errorCode, uniq, createUser } from './harness.mjs';
import { FMNIST_TEST, NO_FMNIST, makeTar as makeTarIn, makePng } from './fixtures.mjs';

const FIXTURES = resolve('tests/fixtures/images');
let server;
let work;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'inficond-ds-'));
  server = await startServer({ env: { INFICOND_WORKERS: '1' } });
});
after(async () => { await server?.stop(); });

const makeUser = async (role) => (await createUser(server, role, { token: true })).token;

async function makeDataset(name = uniq('ds'), token) {
  const r = await call(server, 'POST', '/api/v1/datasets', { body: { name, description: 'test data' }, token });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

const makeTar = (path, members) => makeTarIn(work, path, members);
const fixture = (n) => readFileSync(join(FIXTURES, n));
const sha256 = (b) => createHash('sha256').update(b).digest('hex');

// Width and height from a JPEG's SOF marker.
function jpegSize(buf) {
  assert.equal(buf[0], 0xff); assert.equal(buf[1], 0xd8);
  let i = 2;
  while (i + 9 < buf.length) {
    if (buf[i] !== 0xff) { i++; continue; }
    const m = buf[i + 1];
    const len = buf.readUInt16BE(i + 2);
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc)
      return { height: buf.readUInt16BE(i + 5), width: buf.readUInt16BE(i + 7) };
    i += 2 + len;
  }
  throw new Error('no SOF marker');
}

async function upload(ds, tarPath, { token, type = 'application/x-tar', query = '' } = {}) {
  return call(server, 'POST', `/api/v1/datasets/${ds.id}/upload${query}`, {
    raw: readFileSync(tarPath), headers: { 'Content-Type': type }, token,
  });
}

async function fetchBytes(path, headers = {}) {
  const r = await fetch(server.url + path, { headers: { Authorization: `Bearer test-admin-token-0123456789abcdef`, ...headers } });
  return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

test('datasets: create, list, get, delete and their errors', async () => {
  const name = uniq('basic');
  const ds = await makeDataset(name);
  assert.equal(ds.name, name);
  assert.deepEqual(ds.classes, []);
  assert.equal(ds.image_count, 0);
  assert.deepEqual(ds.splits, {});

  const dup = await call(server, 'POST', '/api/v1/datasets', { body: { name } });
  assert.equal(dup.status, 409);
  assert.equal(errorCode(dup), 'conflict');
  for (const [body, field] of [[{}, 'name'], [{ name: 'bad name!' }, 'name'], [{ name: 7 }, 'name'],
    [{ name: uniq('x'), description: 5 }, 'description'], [{ name: uniq('x'), colour: 'red' }, 'colour']]) {
    const r = await call(server, 'POST', '/api/v1/datasets', { body });
    assert.equal(r.status, 422, JSON.stringify(body));
    assert.equal(errorCode(r), 'unprocessable');
    assert.match(r.json.error.message, new RegExp(`'${field}'`));
  }

  const viewer = await makeUser('viewer');
  const denied = await call(server, 'POST', '/api/v1/datasets', { body: { name: uniq('v') }, token: viewer });
  assert.equal(denied.status, 403);
  assert.equal(errorCode(denied), 'forbidden');
  const asViewer = await call(server, 'GET', `/api/v1/datasets/${ds.id}`, { token: viewer });
  assert.equal(asViewer.status, 200);
  assert.equal(asViewer.json.name, name);
  const editor = await makeUser('editor');
  const byEditor = await makeDataset(uniq('ed'), editor);
  const noDelete = await call(server, 'DELETE', `/api/v1/datasets/${byEditor.id}`, { token: editor });
  assert.equal(noDelete.status, 403);

  const list = await call(server, 'GET', '/api/v1/datasets?limit=500');
  assert.equal(list.status, 200);
  assert.ok(list.json.items.some((d) => d.id === ds.id && d.name === name));
  assert.ok(list.json.total >= 2);

  for (const path of ['/api/v1/datasets/99999999', '/api/v1/datasets/abc', '/api/v1/datasets/99999999/images']) {
    const r = await call(server, 'GET', path);
    assert.equal(r.status, 404, path);
    assert.equal(errorCode(r), 'not_found');
  }
  assert.equal((await call(server, 'DELETE', `/api/v1/datasets/${ds.id}`)).status, 204);
  assert.equal((await call(server, 'GET', `/api/v1/datasets/${ds.id}`)).status, 404);
  assert.equal((await call(server, 'DELETE', `/api/v1/datasets/${ds.id}`)).status, 404);
});

test('upload a tar: bad members are skipped with reasons, nothing escapes, re-upload adds nothing', async () => {
  const editor = await makeUser('editor');
  const ds = await makeDataset(uniq('tar'), editor);
  const stripes = fixture('stripes.jpg');
  const tar = makeTar(join(work, 'images.tar'), [
    ['train/shirt/red.jpg', fixture('red.jpg')],
    ['train/shirt/green.jpg', fixture('green.jpg')],
    ['train/shoe/blue.jpg', fixture('blue.jpg')],
    ['test/shoe/stripes.jpg', stripes],
    ['test/shoe/cut.jpg', stripes.subarray(0, Math.floor(stripes.length * 0.6))],
    ['train/shirt/notes.jpg', Buffer.from('hello, I am a text file, not a JPEG\n')],
    ['../evil.jpg', fixture('red.jpg')],
  ]);

  const bad = await upload(ds, tar, { token: editor, type: 'text/plain' });
  assert.equal(bad.status, 415);
  assert.equal((await call(server, 'POST', '/api/v1/datasets/99999999/upload', {
    raw: readFileSync(tar), headers: { 'Content-Type': 'application/x-tar' } })).status, 404);

  const r = await upload(ds, tar, { token: editor });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.json.kind, 'dataset.import');
  assert.equal(r.headers.get('location'), `/api/v1/jobs/${r.json.id}`);
  const job = await waitJob(server, r.json.id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  const res = job.result;
  assert.equal(res.imported, 4);
  assert.equal(res.duplicates, 0);
  assert.equal(res.skipped_total, 3);
  const reasons = Object.fromEntries(res.skipped.map((s) => [s.name, s.reason]));
  assert.equal(reasons['test/shoe/cut.jpg'], 'truncated JPEG');
  assert.match(reasons['train/shirt/notes.jpg'], /not a JPEG/);
  assert.equal(reasons['../evil.jpg'], 'unsafe path in archive');
  assert.deepEqual(res.classes, ['shirt', 'shoe']);
  assert.deepEqual(res.splits, { train: 3, test: 1 });
  // Nothing written outside the data folder, and the consumed upload is gone.
  for (const d of [dirname(server.dataDir), server.dataDir, process.cwd(), join(server.dataDir, 'tmp')])
    assert.ok(!existsSync(join(d, 'evil.jpg')), `evil.jpg in ${d}`);
  assert.deepEqual(readdirSync(join(server.dataDir, 'uploads')), []);

  const got = await call(server, 'GET', `/api/v1/datasets/${ds.id}`);
  assert.equal(got.json.image_count, 4);
  assert.deepEqual(got.json.splits, { test: 1, train: 3 });
  assert.deepEqual(got.json.classes, ['shirt', 'shoe']);

  const again = await upload(ds, tar, { token: editor });
  assert.equal(again.status, 202);
  const job2 = await waitJob(server, again.json.id);
  assert.equal(job2.state, 'succeeded');
  assert.equal(job2.result.imported, 0);
  assert.equal(job2.result.duplicates, 4);
  assert.equal((await call(server, 'GET', `/api/v1/datasets/${ds.id}`)).json.image_count, 4);
});

test('images: paging, split and label filters, originals and thumbnails with ETags', async () => {
  const ds = await makeDataset(uniq('img'));
  const tar = makeTar(join(work, 'flat.tar'), [
    ['cat/red.jpg', fixture('red.jpg')],
    ['cat/green.jpg', fixture('green.jpg')],
    ['dog/blue.jpg', fixture('blue.jpg')],
    ['dog/stripes.jpg', fixture('stripes.jpg')],
  ]);
  const r = await upload(ds, tar, { query: '?split=shifted' });
  assert.equal(r.status, 202, r.text);
  const job = await waitJob(server, r.json.id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assert.deepEqual(job.result.splits, { shifted: 4 });

  const all = await call(server, 'GET', `/api/v1/datasets/${ds.id}/images?limit=3`);
  assert.equal(all.status, 200);
  assert.equal(all.json.total, 4);
  assert.equal(all.json.items.length, 3);
  const rest = await call(server, 'GET', `/api/v1/datasets/${ds.id}/images?limit=3&offset=3`);
  assert.equal(rest.json.items.length, 1);
  const items = [...all.json.items, ...rest.json.items];
  assert.equal(new Set(items.map((i) => i.id)).size, 4);
  assert.ok(items.every((i, k) => k === 0 || i.id > items[k - 1].id), 'ordered by id');
  const dogs = await call(server, 'GET', `/api/v1/datasets/${ds.id}/images?label=1&split=shifted`);
  assert.equal(dogs.json.total, 2);
  assert.equal(dogs.json.items.length, 2);
  assert.ok(dogs.json.items.every((i) => i.class === 'dog' && i.label === 1 && i.split === 'shifted'));
  assert.equal((await call(server, 'GET', `/api/v1/datasets/${ds.id}/images?split=train`)).json.total, 0);
  assert.equal((await call(server, 'GET', `/api/v1/datasets/${ds.id}/images?split=Bad!`)).status, 400);
  assert.equal((await call(server, 'GET', `/api/v1/datasets/${ds.id}/images?limit=0`)).status, 400);

  const blue = items.find((i) => i.sha256 === sha256(fixture('blue.jpg')));
  assert.ok(blue, 'blue.jpg is listed with its sha256');
  assert.equal(blue.width, 40);
  assert.equal(blue.height, 20);
  const orig = await fetchBytes(`/api/v1/images/${blue.id}`);
  assert.equal(orig.status, 200);
  assert.equal(orig.headers.get('content-type'), 'image/jpeg');
  assert.equal(sha256(orig.body), blue.sha256);
  assert.equal(orig.headers.get('etag'), `"${blue.sha256}"`);
  const orig304 = await fetchBytes(`/api/v1/images/${blue.id}`, { 'If-None-Match': orig.headers.get('etag') });
  assert.equal(orig304.status, 304);

  const t1 = await fetchBytes(`/api/v1/images/${blue.id}/thumb?size=100`);
  assert.equal(t1.status, 200);
  assert.deepEqual(jpegSize(t1.body), { width: 100, height: 50 });
  const etag = t1.headers.get('etag');
  assert.equal(etag, `"${blue.sha256}-100"`);
  const cached = join(server.dataDir, 'thumbs', `${blue.sha256}-100.jpg`);
  assert.ok(existsSync(cached), 'thumbnail cached on disk');
  const t2 = await fetchBytes(`/api/v1/images/${blue.id}/thumb?size=100`);
  assert.equal(t2.status, 200);
  assert.ok(t2.body.equals(t1.body), 'cached thumbnail is the same');
  assert.equal((await fetchBytes(`/api/v1/images/${blue.id}/thumb?size=100`, { 'If-None-Match': etag })).status, 304);
  const def = await fetchBytes(`/api/v1/images/${blue.id}/thumb`);
  assert.deepEqual(jpegSize(def.body), { width: 128, height: 64 });
  const small = await fetchBytes(`/api/v1/images/${items[0].id}/thumb?size=16`);
  assert.equal(Math.max(jpegSize(small.body).width, jpegSize(small.body).height), 16);
  for (const s of [8, 513, 'x'])
    assert.equal((await call(server, 'GET', `/api/v1/images/${blue.id}/thumb?size=${s}`)).status, 400);
  assert.equal((await call(server, 'GET', '/api/v1/images/99999999')).status, 404);
  assert.equal((await call(server, 'GET', '/api/v1/images/99999999/thumb')).status, 404);
});

test('imports from server paths: admin only, fields checked, folder with a split ratio', async () => {
  const ds = await makeDataset(uniq('folder'));
  const root = join(work, 'flat-folder');
  for (const [cls, files] of [['cat', ['red.jpg', 'green.jpg']], ['dog', ['blue.jpg', 'stripes.jpg']]]) {
    mkdirSync(join(root, cls), { recursive: true });
    for (const f of files) copyFileSync(join(FIXTURES, f), join(root, cls, f));
  }
  writeFileSync(join(root, 'dog', 'broken.jpg'), fixture('red.jpg').subarray(0, 300));
  const editor = await makeUser('editor');
  const asEditor = await call(server, 'POST', `/api/v1/datasets/${ds.id}/imports`, { body: { source: 'folder', path: root }, token: editor });
  assert.equal(asEditor.status, 403);
  // A server-side path needs admin through the generic job route too.
  const viaJobs = await call(server, 'POST', '/api/v1/jobs', { body: { kind: 'dataset.import', params: { dataset_id: ds.id, source: 'folder', path: root } }, token: editor });
  assert.equal(viaJobs.status, 403);

  const cases = [
    [{ source: 'folder', path: join(root, 'missing') }, 'path'],
    [{ source: 'folder', path: 'relative/dir' }, 'path'],
    [{ source: 'tar', path: root }, 'path'],
    [{ source: 'idx', images: join(work, 'nope-images'), labels: join(work, 'nope-labels') }, 'images'],
    [{ source: 'zip', path: root }, 'source'],
    [{ source: 'folder', path: root, split: 'Not OK' }, 'split'],
    [{ source: 'folder', path: root, split_ratio: { train: -1 } }, 'split_ratio'],
    [{ source: 'folder', path: root, split_ratio: { 'Bad Split': 1 } }, 'split_ratio'],
    [{ source: 'folder', path: root, upload: true }, 'upload'],
  ];
  for (const [body, field] of cases) {
    const r = await call(server, 'POST', `/api/v1/datasets/${ds.id}/imports`, { body });
    assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
    assert.match(r.json.error.message, new RegExp(`'${field}'`), r.text);
  }
  assert.equal((await call(server, 'POST', '/api/v1/datasets/99999999/imports', { body: { source: 'folder', path: root } })).status, 404);

  const ratio = { train: 0.5, val: 0.5 };
  const r = await call(server, 'POST', `/api/v1/datasets/${ds.id}/imports`, { body: { source: 'folder', path: root, split_ratio: ratio } });
  assert.equal(r.status, 202, r.text);
  const job = await waitJob(server, r.json.id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assert.equal(job.result.imported, 4);
  assert.deepEqual(job.result.skipped, [{ name: 'dog/broken.jpg', reason: 'truncated JPEG' }]);
  assert.deepEqual(job.result.classes, ['cat', 'dog']);
  const splitOf = async (dsId) => {
    const page = await call(server, 'GET', `/api/v1/datasets/${dsId}/images`);
    return Object.fromEntries(page.json.items.map((i) => [i.sha256, i.split]));
  };
  const first = await splitOf(ds.id);
  assert.ok(Object.values(first).every((s) => s === 'train' || s === 'val'));
  // The split follows the bytes: another dataset, same ratio, same assignment.
  const ds2 = await makeDataset(uniq('folder2'));
  const r2 = await call(server, 'POST', `/api/v1/datasets/${ds2.id}/imports`, { body: { source: 'folder', path: root, split_ratio: { val: 1, train: 1 } } });
  assert.equal((await waitJob(server, r2.json.id)).state, 'succeeded');
  assert.deepEqual(await splitOf(ds2.id), first);
});

test('PNG members in a tar and a folder: stored as JPEG, bad PNGs skipped with reasons', async () => {
  const red = makePng(40, 20, 2, [255, 0, 0]);
  const seeThrough = makePng(8, 8, 6, [0, 0, 255, 128]);
  const grey = makePng(6, 4, 0, [90]);
  const badCrc = Buffer.from(red);
  badCrc[45] ^= 0xff; // inside IDAT's data: its CRC no longer matches
  const tar = makeTar(join(work, 'png.tar'), [
    ['train/cat/red.png', red],
    ['train/cat/red.jpg', fixture('red.jpg')],
    ['train/dog/see-through.PNG', seeThrough],
    ['test/dog/grey.png', grey],
    ['test/dog/cut.png', red.subarray(0, red.length - 30)],
    ['test/dog/crc.png', badCrc],
    ['test/dog/fake.png', Buffer.from('a text file named like a PNG\n')],
    ['test/dog/huge.png', makePng(4, 4, 2, [1, 2, 3], { w: 20000, h: 20000 })],
  ]);
  const ds = await makeDataset(uniq('png'));
  const r = await upload(ds, tar);
  assert.equal(r.status, 202, r.text);
  const job = await waitJob(server, r.json.id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assert.equal(job.result.imported, 4);
  assert.equal(job.result.skipped_total, 4);
  const reasons = Object.fromEntries(job.result.skipped.map((s) => [s.name, s.reason]));
  assert.equal(reasons['test/dog/cut.png'], 'truncated PNG');
  assert.match(reasons['test/dog/crc.png'], /^corrupt PNG data/);
  assert.match(reasons['test/dog/fake.png'], /not a PNG/);
  assert.match(reasons['test/dog/huge.png'], /PNG is too large/);
  assert.deepEqual(job.result.classes, ['cat', 'dog']);
  assert.deepEqual(job.result.splits, { train: 3, test: 1 });

  const page = await call(server, 'GET', `/api/v1/datasets/${ds.id}/images`);
  const sizes = page.json.items.map((i) => `${i.class}/${i.split}/${i.width}x${i.height}`).sort();
  assert.deepEqual(sizes, ['cat/train/32x24', 'cat/train/40x20', 'dog/test/6x4', 'dog/train/8x8']);
  // A PNG-born image is stored (and served) as a JPEG; so is its thumbnail.
  const fromPng = page.json.items.find((i) => i.class === 'cat' && i.sha256 !== sha256(fixture('red.jpg')));
  assert.notEqual(fromPng.sha256, sha256(red));
  const orig = await fetchBytes(`/api/v1/images/${fromPng.id}`);
  assert.equal(orig.status, 200);
  assert.equal(orig.headers.get('content-type'), 'image/jpeg');
  assert.equal(sha256(orig.body), fromPng.sha256);
  assert.deepEqual(jpegSize(orig.body), { width: 40, height: 20 });
  const thumb = await fetchBytes(`/api/v1/images/${fromPng.id}/thumb?size=100`);
  assert.equal(thumb.status, 200);
  assert.deepEqual(jpegSize(thumb.body), { width: 100, height: 50 });

  // The re-encoding is deterministic: the same tar again adds nothing.
  const again = await waitJob(server, (await upload(ds, makeTar(join(work, 'png2.tar'), [['train/cat/red.png', red]]))).json.id);
  assert.equal(again.state, 'succeeded', JSON.stringify(again));
  assert.equal(again.result.imported, 0);
  assert.equal(again.result.duplicates, 1);

  // A folder: PNGs counted by the prescan (the classes come from it) and imported.
  const root = join(work, 'png-folder');
  mkdirSync(join(root, 'bird'), { recursive: true });
  mkdirSync(join(root, 'ant'), { recursive: true });
  writeFileSync(join(root, 'bird', 'a.png'), seeThrough);
  writeFileSync(join(root, 'ant', 'b.png'), grey);
  copyFileSync(join(FIXTURES, 'blue.jpg'), join(root, 'ant', 'c.jpg'));
  writeFileSync(join(root, 'ant', 'broken.png'), grey.subarray(0, 45));
  const ds2 = await makeDataset(uniq('png-folder'));
  const f = await call(server, 'POST', `/api/v1/datasets/${ds2.id}/imports`, { body: { source: 'folder', path: root, split: 'train' } });
  assert.equal(f.status, 202, f.text);
  const fjob = await waitJob(server, f.json.id);
  assert.equal(fjob.state, 'succeeded', JSON.stringify(fjob));
  assert.equal(fjob.result.imported, 3);
  assert.deepEqual(fjob.result.skipped, [{ name: 'ant/broken.png', reason: 'truncated PNG' }]);
  assert.deepEqual(fjob.result.classes, ['ant', 'bird']);
  assert.deepEqual(fjob.result.splits, { train: 3 });
});

test('Fashion-MNIST test split through the API: progress moves, 1000 per class', { skip: NO_FMNIST }, async () => {
  const ds = await makeDataset(uniq('fmnist'));
  const r = await call(server, 'POST', `/api/v1/datasets/${ds.id}/imports`, {
    body: { source: 'idx', images: FMNIST_TEST.images, labels: FMNIST_TEST.labels },
  });
  assert.equal(r.status, 202, r.text);
  // While the job is queued or running, the dataset cannot be deleted.
  const busy = await call(server, 'DELETE', `/api/v1/datasets/${ds.id}`);
  assert.equal(busy.status, 409, busy.text);
  assert.equal(errorCode(busy), 'conflict');

  const seen = [];
  let seq = 0, job;
  const t0 = Date.now();
  for (;;) {
    const g = await call(server, 'GET', `/api/v1/jobs/${r.json.id}?wait=10&after=${seq}`);
    job = g.json;
    seq = job.seq;
    if (job.state === 'running') seen.push(job.progress);
    if (!['queued', 'running'].includes(job.state)) break;
    assert.ok(Date.now() - t0 < 180000, 'import took too long');
  }
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  const moving = new Set(seen.filter((p) => p > 0 && p < 1).map((p) => p.toFixed(2)));
  assert.ok(moving.size >= 2, `progress seen at ${seen}`);
  assert.equal(job.progress, 1);
  assert.equal(job.result.imported, 10000);
  assert.equal(job.result.skipped_total, 0);
  assert.deepEqual(job.result.classes.slice(0, 2), ['T-shirt/top', 'Trouser']);
  console.log(`fashion-mnist t10k: ${job.result.images_per_second.toFixed(0)} images/s through the job (${job.result.seconds.toFixed(1)} s)`);

  const got = await call(server, 'GET', `/api/v1/datasets/${ds.id}`);
  assert.deepEqual(got.json.splits, { test: 10000 });
  assert.equal(got.json.classes.length, 10);
  for (let label = 0; label < 10; label++) {
    const page = await call(server, 'GET', `/api/v1/datasets/${ds.id}/images?split=test&label=${label}&limit=2`);
    assert.equal(page.json.total, 1000, `label ${label}`);
    assert.equal(page.json.items[0].class, got.json.classes[label]);
    assert.equal(page.json.items[0].width, 28);
  }
  const thumb = await fetchBytes(`/api/v1/images/${(await call(server, 'GET', `/api/v1/datasets/${ds.id}/images?limit=1`)).json.items[0].id}/thumb?size=56`);
  assert.deepEqual(jpegSize(thumb.body), { width: 56, height: 56 });
  assert.equal((await call(server, 'DELETE', `/api/v1/datasets/${ds.id}`)).status, 204);
});
