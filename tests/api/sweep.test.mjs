// sweep.test.mjs — `serve` removes, once at start, what killed work left in the
// data folder (server/data_sweep.h): blob temporaries, streamed request bodies and
// uploads whose import job is over, when nothing touched them for an hour; the
// upload of an import job still queued, fresh leftovers and real blobs stay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { databaseUrl, startServer } from './harness.mjs';
import { psql } from './pgtools.mjs';

const HOUR = 3600;

function putAged(root, rel, text, ageSeconds) {
  const path = join(root, rel);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  const t = Date.now() / 1000 - ageSeconds;
  utimesSync(path, t, t);
  return path;
}

test('serve sweeps old leftovers of interrupted work at start and keeps everything else', async () => {
  const data = mkdtempSync(join(tmpdir(), 'inficond-sweep-'));
  const realBlob = `blobs/ab/${'c'.repeat(62)}`;
  putAged(data, realBlob, 'a stored blob', 9 * HOUR);
  putAged(data, 'blobs/.tmp-aaaaaa', 'half a blob', 2 * HOUR);
  putAged(data, 'blobs/ab/.tmp-bbbbbb', 'half a blob', 2 * HOUR);
  putAged(data, 'blobs/ab/.tmp-cccccc', 'being written', 30);
  putAged(data, 'tmp/upload-dddddd', 'a body', 2 * HOUR);
  putAged(data, 'uploads/upload-eeeeee.tar', 'a failed import', 2 * HOUR);
  const queued = putAged(data, 'uploads/upload-ffffff.tar', 'a queued import', 2 * HOUR);
  putAged(data, 'uploads/upload-gggggg.tar', 'a new upload', 60);
  // A queued import of that upload (no workers run, so it stays queued).
  const params = JSON.stringify({ dataset_id: 1, source: 'tar', path: queued, upload: true });
  const jobId = psql(databaseUrl(), `INSERT INTO jobs (kind, params) VALUES ('dataset.import', '${params}'::jsonb) RETURNING id`);
  let server;
  try {
    server = await startServer({ dataDir: data, env: { INFICOND_WORKERS: '0' } });
    for (const gone of ['blobs/.tmp-aaaaaa', 'blobs/ab/.tmp-bbbbbb', 'tmp/upload-dddddd', 'uploads/upload-eeeeee.tar']) {
      assert.equal(existsSync(join(data, gone)), false, `${gone} should have been swept`);
    }
    for (const kept of [realBlob, 'blobs/ab/.tmp-cccccc', 'uploads/upload-ffffff.tar', 'uploads/upload-gggggg.tar']) {
      assert.equal(existsSync(join(data, kept)), true, `${kept} should have been kept`);
    }
    assert.match(server.log, /sweep: 4 leftover\(s\) of interrupted work removed \(43 bytes\), 0 could not be/);
  } finally {
    await server?.stop();
    psql(databaseUrl(), `DELETE FROM jobs WHERE id = ${jobId}`);
    rmSync(data, { recursive: true, force: true });
  }
});
