// gc.test.mjs — POST /api/v1/admin/gc and `inficond gc` (server/blob_gc.h): after a
// dataset is deleted (its images, teacher output, extraction with segments and presence
// going with it), a dry run lists exactly the blobs no row names and removes nothing;
// a real run removes exactly those (bytes = their sizes) plus the deleted images'
// thumbnails, keeps a fresh unnamed blob (younger than min_age_s) and everything a row
// names: another dataset's student still answers its versions and exports. A live
// running job holds the cutoff back; a second collection waits for none (409); a blob
// column gc does not know stops it (409); only admins may run it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, call, createUser, databaseUrl, errorCode, waitJob } from './harness.mjs';
import { sql, pgBin } from './pgtools.mjs';
import { buildWorld, CLASSES } from './world.mjs';
import { putBlob } from './synthetic.mjs';

const HOUR = 3600;
let work, server, world, doomed;

// n 28x28 grey idx images of random noise (unique to this run: no other row in the
// shared test database names their blobs) with labels i % 3.
function noiseIdx(dir, n) {
  const img = Buffer.alloc(16 + n * 784), lab = Buffer.alloc(8 + n);
  img.writeUInt32BE(0x803, 0); img.writeUInt32BE(n, 4); img.writeUInt32BE(28, 8); img.writeUInt32BE(28, 12);
  lab.writeUInt32BE(0x801, 0); lab.writeUInt32BE(n, 4);
  randomBytes(n * 784).copy(img, 16);
  for (let i = 0; i < n; i++) lab[8 + i] = i % 3;
  const images = join(dir, 'noise-images-idx3-ubyte'), labels = join(dir, 'noise-labels-idx1-ubyte');
  writeFileSync(images, img);
  writeFileSync(labels, lab);
  return { images, labels };
}

async function ok(method, path, status, body) {
  const r = await call(server, method, path, body === undefined ? {} : { body });
  assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
  return r.json;
}

async function job(id) {
  const j = await waitJob(server, id, undefined, 180000);
  assert.equal(j.state, 'succeeded', JSON.stringify(j));
  return j;
}

// {sha: bytes} of every blob file in the server's store.
function blobFiles() {
  const out = {};
  const top = join(server.dataDir, 'blobs');
  for (const fan of readdirSync(top)) {
    if (!/^[0-9a-f]{2}$/.test(fan)) continue;
    for (const name of readdirSync(join(top, fan))) {
      if (/^[0-9a-f]{62}$/.test(name)) out[fan + name] = statSync(join(top, fan, name)).size;
    }
  }
  return out;
}

const blobPath = (sha) => join(server.dataDir, 'blobs', sha.slice(0, 2), sha.slice(2));

// Every hash a row names, computed here independently of the server (as the README's
// backup check does).
function namedBySomeRow() {
  return new Set(sql(`SELECT sha256 FROM images UNION SELECT probs_sha256 FROM teacher_outputs
    UNION SELECT image_ids_sha256 FROM teacher_outputs UNION SELECT sha256 FROM segment_chunks
    UNION SELECT presence_sha256 FROM extractions UNION SELECT image_ids_sha256 FROM extractions
    UNION SELECT unnest(chunks) FROM extractions UNION SELECT presence_sha256 FROM students
    UNION SELECT probs_sha256 FROM students UNION SELECT weights_sha256 FROM student_versions
    UNION SELECT bounds_sha256 FROM student_versions`).split('\n').filter(Boolean));
}

// Date every file under the data folder's `sub` hours back (so min_age_s = 3600 applies).
function ageAll(sub, hours) {
  const t = Date.now() / 1000 - hours * HOUR;
  const walk = (dir) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else utimesSync(p, t, t);
    }
  };
  walk(join(server.dataDir, sub));
}

const gc = (body) => call(server, 'POST', '/api/v1/admin/gc', { body });

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'inficond-gc-'));
  server = await startServer({ env: { INFICOND_WORKERS: '1' } });
  const tag = `gc${process.pid}`;
  // The world that stays: a student with a tuned version (weights and bounds blobs).
  world = await buildWorld(server, work, { tag, train: 30, test: 15 });
  const tuned = await call(server, 'POST', `/api/v1/students/${world.student}/versions`, {
    body: { parent: 1, actions: [{ action: 'set', concept: 'red', class: CLASSES[0], value: 0.5 }] },
  });
  assert.equal(tuned.status, 201, tuned.text);

  // The dataset that goes: noise images, a teacher output, an extraction over them.
  const ds = await ok('POST', '/api/v1/datasets', 201, { name: `${tag}-doomed` });
  const f = noiseIdx(work, 12);
  await job((await ok('POST', `/api/v1/datasets/${ds.id}/imports`, 202,
    { source: 'idx', images: f.images, labels: f.labels, split: 'train', classes: CLASSES })).id);
  const images = (await ok('GET', `/api/v1/datasets/${ds.id}/images?limit=100`, 200)).items;
  const csv = ['key,' + CLASSES.join(','), ...images.map((im) => `${im.id},1,2,3`)].join('\n') + '\n';
  const pr = await call(server, 'POST', `/api/v1/datasets/${ds.id}/predictions?name=${tag}-doomed`,
    { raw: csv, headers: { 'Content-Type': 'text/csv' } });
  assert.equal(pr.status, 201, pr.text);
  const ex = await ok('POST', '/api/v1/extractions', 202,
    { dataset_id: ds.id, concept_model_id: world.model, corpus_id: world.corpus });
  await job(ex.id);
  // A cached thumbnail of one doomed image and of one image that stays.
  for (const id of [images[0].id, world.images[0].id]) {
    const t = await call(server, 'GET', `/api/v1/images/${id}/thumb?size=32`);
    assert.equal(t.status, 200);
  }
  doomed = { id: ds.id, images };
});

after(async () => {
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('only admins collect; the body is checked', async () => {
  const editor = await createUser(server, 'editor', { token: true });
  const r = await call(server, 'POST', '/api/v1/admin/gc', { body: { dry_run: true }, token: editor.token });
  assert.equal(r.status, 403);
  for (const body of [{}, { dry_run: 'yes' }, { dry_run: true, min_age_s: -1 }, { dry_run: true, min_age_s: 1.5 },
    { dry_run: true, min_age_s: 31 * 24 * HOUR }, { dry_run: false, force: true }]) {
    const b = await gc(body);
    assert.equal(b.status, 422, `${JSON.stringify(body)}: ${b.text}`);
    assert.equal(errorCode(b), 'unprocessable');
  }
});

test('a deleted dataset\'s blobs go, dry run first; a student of another dataset keeps its own', async () => {
  // Everything is younger than the default hour yet: nothing goes.
  const early = await ok('POST', '/api/v1/admin/gc', 200, { dry_run: false });
  assert.equal(early.removed + early.thumbs_removed + early.failed, 0, JSON.stringify(early));
  assert.ok(early.kept_referenced > 0, JSON.stringify(early));
  const doomedShas = doomed.images.map((im) => im.sha256);
  const del = await call(server, 'DELETE', `/api/v1/datasets/${doomed.id}`);
  assert.equal(del.status, 204, del.text);
  ageAll('blobs', 2);
  ageAll('thumbs', 2);
  // A blob no row names yet, written just now (a write whose row is not committed).
  const fresh = putBlob(server.dataDir, randomBytes(100));

  const files = blobFiles();
  const named = namedBySomeRow();
  const expected = Object.keys(files).filter((s) => !named.has(s) && s !== fresh).sort();
  for (const s of doomedShas) assert.ok(expected.includes(s), `image blob ${s} should be collectable`);
  assert.ok(expected.length > doomedShas.length, 'the teacher output, segments and presence go too');
  const expectedBytes = expected.reduce((n, s) => n + files[s], 0);
  const thumbs = readdirSync(join(server.dataDir, 'thumbs')).filter((n) => !n.startsWith('.'));
  const doomedThumb = thumbs.find((n) => doomedShas.includes(n.slice(0, 64)));
  const keptThumb = thumbs.find((n) => n.startsWith(world.images[0].sha256));
  assert.ok(doomedThumb && keptThumb, thumbs.join(' '));

  // The command line's dry run and the route's agree, and remove nothing.
  const cli = execFileSync(process.env.INFICOND_BIN || 'build/asan/inficond', ['gc', '--dry-run'], {
    encoding: 'utf8', maxBuffer: 64 << 20,
    env: { ...process.env, DATABASE_URL: databaseUrl(), INFICOND_DATA_DIR: server.dataDir },
  }).trim().split('\n');
  const cliSummary = JSON.parse(cli.at(-1));
  assert.equal(cliSummary.dry_run, true);
  assert.equal(cliSummary.removed, expected.length);
  assert.equal(cliSummary.bytes, expectedBytes);
  assert.deepEqual(cli.filter((l) => l.startsWith('would remove blob ')).map((l) => l.split(' ')[3]).sort(), expected);

  const dry = await ok('POST', '/api/v1/admin/gc', 200, { dry_run: true });
  assert.equal(dry.dry_run, true);
  assert.equal(dry.min_age_s, HOUR);
  assert.equal(dry.removed, expected.length);
  assert.equal(dry.bytes, expectedBytes);
  assert.equal(dry.thumbs_removed, 1);
  assert.deepEqual(dry.items.filter((i) => i.kind === 'blob').map((i) => i.name).sort(), expected);
  assert.equal(dry.items_truncated, false);
  for (const s of expected) assert.ok(existsSync(blobPath(s)), `dry run removed ${s}`);

  const run = await ok('POST', '/api/v1/admin/gc', 200, { dry_run: false });
  assert.equal(run.dry_run, false);
  assert.equal(run.failed, 0);
  assert.equal(run.removed, expected.length);
  assert.equal(run.bytes, expectedBytes);
  assert.equal(run.blobs_scanned, Object.keys(files).length);
  assert.equal(run.kept_referenced, Object.keys(files).length - expected.length - 1);
  assert.ok(run.skipped_young >= 1, JSON.stringify(run));
  assert.ok(run.blobs_referenced >= run.kept_referenced);
  assert.deepEqual(run.items.filter((i) => i.kind === 'blob').map((i) => i.name).sort(), expected);
  for (const i of run.items.filter((x) => x.kind === 'blob')) assert.equal(i.bytes, files[i.name]);
  for (const s of expected) assert.equal(existsSync(blobPath(s)), false, `${s} should be gone`);
  assert.ok(existsSync(blobPath(fresh)), 'a blob younger than min_age_s stays');
  for (const s of Object.keys(files).filter((x) => named.has(x))) assert.ok(existsSync(blobPath(s)), `${s} is named`);
  assert.equal(existsSync(join(server.dataDir, 'thumbs', doomedThumb)), false);
  assert.ok(existsSync(join(server.dataDir, 'thumbs', keptThumb)));
  console.log(`gc: removed ${run.removed} blobs (${run.bytes} bytes) and ${run.thumbs_removed} thumbnail(s);` +
    ` kept ${run.kept_referenced} named and ${run.skipped_young} young`);

  // The student of the dataset that stays: every version, its export, its images.
  const base = `/api/v1/students/${world.student}`;
  for (const v of [1, 2]) {
    const got = await ok('GET', `${base}/versions/${v}`, 200);
    assert.equal(got.number, v);
    await ok('GET', `${base}/versions/${v}/export`, 200);
    const pt = await call(server, 'GET', `${base}/versions/${v}/export.pt`);
    assert.equal(pt.status, 200, pt.text);
  }
  assert.equal((await call(server, 'GET', `${base}/versions/2/disagreements?agreement=all&limit=5`)).status, 200);
  assert.equal((await call(server, 'GET', `/api/v1/images/${world.images[0].id}`)).status, 200);

  // Nothing left to collect but the young blob.
  const again = await ok('POST', '/api/v1/admin/gc', 200, { dry_run: false });
  assert.equal(again.removed, 0);
  assert.equal(again.thumbs_removed, 0);
  // With no grace period the young one goes too.
  const zero = await ok('POST', '/api/v1/admin/gc', 200, { dry_run: false, min_age_s: 0 });
  assert.deepEqual(zero.items.map((i) => i.name), [fresh]);
});

test('a live running job holds the cutoff back to its start; a dead one does not', async () => {
  const stray = putBlob(server.dataDir, randomBytes(64));
  ageAll('blobs', 2);
  const jobId = sql(`INSERT INTO jobs (kind, state, started_at, heartbeat_at)
                     VALUES ('gc.test', 'running', now() - interval '3 hours', now()) RETURNING id`);
  try {
    const held = await ok('POST', '/api/v1/admin/gc', 200, { dry_run: true });
    assert.equal(held.removed, 0, JSON.stringify(held));
    assert.ok(held.skipped_young >= 1);
    assert.ok(Date.parse(held.cutoff) <= Date.now() - 3 * HOUR * 1000 + 2000, held.cutoff);
    sql(`UPDATE jobs SET heartbeat_at = now() - interval '1 hour' WHERE id = ${jobId}`);
    const freed = await ok('POST', '/api/v1/admin/gc', 200, { dry_run: true });
    assert.deepEqual(freed.items.map((i) => i.name), [stray]);
  } finally {
    sql(`DELETE FROM jobs WHERE id = ${jobId}`);
  }
});

test('one collection at a time; a blob column gc does not know stops it', async () => {
  // Hold the advisory lock from another session while the route runs.
  const psql = spawn(pgBin('psql'), [databaseUrl(), '-qAt', '-v', 'ON_ERROR_STOP=1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  psql.stdout.on('data', (d) => { out += d; });
  psql.stdin.write("SELECT pg_advisory_lock(hashtext('inficond.blob_gc')), 'locked';\n");
  try {
    for (let i = 0; i < 200 && !out.includes('locked'); i++) await sleep(50);
    assert.ok(out.includes('locked'), 'psql took the lock');
    const busy = await gc({ dry_run: true });
    assert.equal(busy.status, 409, busy.text);
    assert.match(busy.json.error.message, /another collection is running/);
  } finally {
    psql.stdin.end();
    await new Promise((resolve) => psql.on('exit', resolve));
  }
  assert.equal((await gc({ dry_run: true })).status, 200);

  sql('ALTER TABLE images ADD COLUMN thumb_sha256 text');
  try {
    const refused = await gc({ dry_run: false });
    assert.equal(refused.status, 409, refused.text);
    assert.match(refused.json.error.message, /images\.thumb_sha256 may name blobs/);
  } finally {
    sql('ALTER TABLE images DROP COLUMN thumb_sha256');
  }
  assert.equal((await gc({ dry_run: true })).status, 200);
});
