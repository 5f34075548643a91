// backup.test.mjs — the README's "Backup and restore", done for real: a small world
// (idx images, a dense concept extraction, a teacher output, a student tuned a few
// times and restored), pg_dump of the live database, then a tar of the data folder's
// blobs/ and models/ (in that order), restored into a fresh database and a fresh data
// folder. A server on the copy must answer the same students, versions, measures,
// provenance, presence and galleries, byte-identical exports, the same images and
// thumbnails, hold every blob its rows name, and keep tuning from the restored head.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, call, databaseUrl, ADMIN_TOKEN, run } from './harness.mjs';
import { buildWorld, CLASSES, WORDS } from './world.mjs';
import { pgBin, psql, siblingUrl, adminUrl } from './pgtools.mjs';

let work, src, world, restoreUrl, restored;


before(async () => {
  work = mkdtempSync(join(tmpdir(), 'inficond-backup-'));
  src = await startServer({ env: { INFICOND_WORKERS: '1', OMP_NUM_THREADS: '1' } });
  world = await buildWorld(src, work, { tag: `bak${process.pid}` });
  const base = `/api/v1/students/${world.student}`;
  // A few tuned versions and a restore, so the chain has parents, bounds and provenance.
  for (const [i, actions] of [
    [1, [{ action: 'uptune', concept: 'red', class: CLASSES[0], factor: 2 }]],
    [2, [{ action: 'set', concept: 'blue', class: CLASSES[1], value: 0.75 }]],
    [3, [{ action: 'remove', concept: 'green', class: CLASSES[2] }]],
  ]) {
    const r = await call(src, 'POST', `${base}/versions`, { body: { parent: i, actions, note: `tune ${i}` } });
    assert.equal(r.status, 201, r.text);
  }
  const rs = await call(src, 'POST', `${base}/versions/2/restore`, { body: {} });
  assert.equal(rs.status, 201, rs.text);
  restoreUrl = siblingUrl(databaseUrl(), '_restore');
});

after(async () => {
  await src?.stop();
  if (restoreUrl) psql(adminUrl(databaseUrl()), `DROP DATABASE IF EXISTS "${restoreUrl.name}" WITH (FORCE)`);
  if (work) rmSync(work, { recursive: true, force: true });
  if (restored) rmSync(restored, { recursive: true, force: true });
});

const sha = (buf) => createHash('sha256').update(buf).digest('hex');

async function bytes(server, path) {
  const r = await fetch(server.url + path, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  const body = Buffer.from(await r.arrayBuffer());
  return { status: r.status, type: r.headers.get('content-type'), etag: r.headers.get('etag'), body };
}

async function json(server, path) {
  const r = await call(server, 'GET', path);
  assert.equal(r.status, 200, `${path}: ${r.text}`);
  return r.json;
}

// Everything a user sees of the world, as plain data to compare.
async function snapshot(server) {
  const s = world.student, base = `/api/v1/students/${s}`;
  const out = {};
  out.student = await json(server, base);
  out.students = (await json(server, '/api/v1/students?limit=500')).items.filter((x) => x.id === s);
  out.versions = await json(server, `${base}/versions?limit=500`);
  out.provenance = await json(server, `${base}/provenance?limit=200`);
  out.version = {};
  out.export = {};
  for (const v of out.versions.items) {
    out.version[v.number] = await json(server, `${base}/versions/${v.number}`);
    const ex = await bytes(server, `${base}/versions/${v.number}/export`);
    assert.equal(ex.status, 200);
    out.export[v.number] = ex.body.toString('utf8');
  }
  const head = out.student.head.number;
  out.influence = await json(server, `${base}/versions/${head}/classes/${CLASSES[0]}/influence`);
  out.disagreements = await json(server, `${base}/versions/${head}/disagreements?split=test&limit=100`);
  out.contributions = await json(server, `${base}/versions/${head}/images/${world.images[0].id}/contributions`);
  out.dataset = await json(server, `/api/v1/datasets/${world.dataset}`);
  out.images = await json(server, `/api/v1/datasets/${world.dataset}/images?limit=1000`);
  out.model = await json(server, `/api/v1/models/${world.model}`);
  out.corpus = await json(server, `/api/v1/corpora/${world.corpus}`);
  out.teacher = await json(server, `/api/v1/teacher-outputs/${world.teacherOutput}`);
  out.extraction = await json(server, `/api/v1/extractions/${world.extraction}`);
  const pres = await bytes(server, `/api/v1/extractions/${world.extraction}/presence?format=f32`);
  assert.equal(pres.status, 200);
  out.presence = sha(pres.body);
  out.gallery = {};
  for (const w of WORDS) out.gallery[w] = await json(server, `/api/v1/extractions/${world.extraction}/concepts/${w}/gallery`);
  const one = world.images[world.images.length - 1].id;
  out.segments = await json(server, `/api/v1/extractions/${world.extraction}/images/${one}/segments`);
  out.imagePresence = await json(server, `/api/v1/extractions/${world.extraction}/images/${one}/presence`);
  out.files = {};
  for (const im of [world.images[0], world.images[1], world.images[world.images.length - 1]]) {
    for (const path of [`/api/v1/images/${im.id}`, `/api/v1/images/${im.id}/thumb`, `/api/v1/images/${im.id}/thumb?size=16`]) {
      const b = await bytes(server, path);
      assert.equal(b.status, 200, path);
      assert.equal(b.type, 'image/jpeg');
      out.files[path] = { sha: sha(b.body), etag: b.etag };
    }
  }
  return out;
}

// Blobs the world's rows name (the README's check, narrowed to this world's rows).
function namedBlobs(url) {
  const q = `
    SELECT sha256 FROM images WHERE dataset_id = ${world.dataset}
    UNION SELECT probs_sha256 FROM teacher_outputs WHERE id = ${world.teacherOutput}
    UNION SELECT image_ids_sha256 FROM teacher_outputs WHERE id = ${world.teacherOutput}
    UNION SELECT sha256 FROM segment_chunks WHERE dataset_id = ${world.dataset}
    UNION SELECT presence_sha256 FROM extractions WHERE id = ${world.extraction}
    UNION SELECT image_ids_sha256 FROM extractions WHERE id = ${world.extraction}
    UNION SELECT unnest(chunks) FROM extractions WHERE id = ${world.extraction}
    UNION SELECT presence_sha256 FROM students WHERE id = ${world.student}
    UNION SELECT probs_sha256 FROM students WHERE id = ${world.student}
    UNION SELECT weights_sha256 FROM student_versions WHERE student_id = ${world.student}
    UNION SELECT bounds_sha256 FROM student_versions WHERE student_id = ${world.student} AND bounds_sha256 IS NOT NULL`;
  return psql(url, q).split('\n').filter(Boolean);
}

test('pg_dump + data folder restore into a fresh database and folder: the same world', { timeout: 600000 }, async () => {
  const before = await snapshot(src);
  assert.equal(before.versions.total, 5);
  assert.ok(before.versions.items.some((v) => v.bounded), 'a version with bounds');
  assert.ok(before.gallery[WORDS[0]].items.length > 0, 'a gallery with images');

  // 1. The database, while the server runs (pg_dump reads one consistent snapshot).
  const dump = join(work, 'inficond.dump');
  await run(pgBin('pg_dump'), ['--format=custom', `--file=${dump}`, databaseUrl()]);
  // 2. Then the data folder's blobs and models: blobs are immutable and written before
  // the row naming them commits, so every blob the dump names is already on disk.
  const tarball = join(work, 'inficond-data.tar');
  await run('tar', ['-C', src.dataDir, '-cf', tarball, 'blobs', 'models']);
  assert.ok(statSync(dump).size > 0 && statSync(tarball).size > 0);

  // The original is stopped: the copy must stand on its own.
  await src.stop();
  src = null;

  // 3. Restore into a fresh database and a fresh data folder.
  psql(adminUrl(databaseUrl()), `DROP DATABASE IF EXISTS "${restoreUrl.name}" WITH (FORCE)`);
  psql(adminUrl(databaseUrl()), `CREATE DATABASE "${restoreUrl.name}"`);
  await run(pgBin('pg_restore'), ['--no-owner', '--exit-on-error', `--dbname=${restoreUrl.url}`, dump]);
  const data = restored = mkdtempSync(join(tmpdir(), 'inficond-restored-'));
  await run('tar', ['-C', data, '-xf', tarball]);

  const missing = namedBlobs(restoreUrl.url).filter((h) => !existsSync(join(data, 'blobs', h.slice(0, 2), h.slice(2))));
  assert.deepEqual(missing, [], 'every blob the restored rows name is in the restored folder');
  const dir = psql(restoreUrl.url, `SELECT dir FROM models WHERE id = ${world.model}`);
  assert.ok(existsSync(join(data, dir, 'manifest.json')), `model folder ${dir} restored`);

  const copy = await startServer({ env: { DATABASE_URL: restoreUrl.url, OMP_NUM_THREADS: '1' }, dataDir: data });
  try {
    const after = await snapshot(copy);
    assert.deepEqual(after.student, before.student);
    assert.deepEqual(after.students, before.students);
    assert.deepEqual(after.versions, before.versions);
    assert.deepEqual(after.provenance, before.provenance);
    for (const n of Object.keys(before.version)) {
      assert.deepEqual(after.version[n], before.version[n], `version ${n}`);
      assert.equal(after.export[n], before.export[n], `export of version ${n} is byte-identical`);
    }
    for (const k of ['influence', 'disagreements', 'contributions', 'dataset', 'images', 'model', 'corpus',
      'teacher', 'extraction', 'presence', 'gallery', 'segments', 'imagePresence', 'files']) {
      assert.deepEqual(after[k], before[k], k);
    }

    // The restored world is live: tuning continues from the restored head, numbered on.
    const head = after.student.head.number;
    const t = await call(copy, 'POST', `/api/v1/students/${world.student}/versions`,
      { body: { parent: head, actions: [{ action: 'remove', concept: 'red', class: CLASSES[1] }] } });
    assert.equal(t.status, 201, t.text);
    assert.equal(t.json.number, head + 1);
    // A stale parent on the copy is the same 409 as on the original.
    const stale = await call(copy, 'POST', `/api/v1/students/${world.student}/versions`,
      { body: { parent: head, actions: [{ action: 'remove', concept: 'red', class: CLASSES[0] }] } });
    assert.equal(stale.status, 409, stale.text);
    assert.equal(stale.json.head, head + 1);
  } finally {
    await copy.stop();
  }
});
