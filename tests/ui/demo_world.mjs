// demo_world.mjs — the small demo world for the browser suites that tell a story on
// it (demo.test.mjs, scenario.test.mjs): a server of its own on a fresh database whose
// first start builds the demo project (teacher outputs and the extraction included)
// from the world's scenes and trained models, made once per version of their code and
// shared with the API suites (tests/api/demo_cache.mjs).
//
//   const w = await startDemoWorld('_uidemo', 'inficond-uidemo-')
//     -> {server, dataDir, db, demo}: demo is the demo.build job's result plus the dataset
//   await stopDemoWorld(w)
//
// Env: INFICOND_BIN (default build/asan/inficond), INFICOND_WORLD_BIN (the binary that
// builds the cached world; default the release build/inficond when there is one).
import assert from 'node:assert/strict';
import { mkdtempSync, cpSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, call, waitJob } from '../api/harness.mjs';
import { freshDatabase } from '../api/pgtools.mjs';
import { demoWorld } from '../api/demo_cache.mjs';

export { noDemoData } from '../api/demo_cache.mjs';

// A server on a database of its own (the first start must find no demo project: other
// suites make one), its data folder seeded with the cached world.
export async function startDemoWorld(dbSuffix, dirPrefix) {
  const world = await demoWorld();
  const dataDir = mkdtempSync(join(tmpdir(), dirPrefix));
  cpSync(world, join(dataDir, 'demo-small-1'), { recursive: true });
  const db = freshDatabase(dbSuffix);
  const server = await startServer({ dataDir, env: { DATABASE_URL: db.url, INFICOND_DEMO: 'small', INFICOND_WORKERS: '2', OMP_NUM_THREADS: '1' } });
  // serve answers /health before its start-up hook has queued the demo build (it
  // starts HTTP first): on a busy machine the job may come a moment later.
  let jobs = [];
  for (const end = Date.now() + 30000; jobs.length === 0 && Date.now() < end; await sleep(200))
    jobs = (await call(server, 'GET', '/api/v1/jobs?kind=demo.build')).json.items;
  assert.equal(jobs.length, 1, 'the server queued the demo build on its first start');
  const built = await waitJob(server, jobs[0].id, undefined, 600000);
  assert.equal(built.state, 'succeeded', JSON.stringify(built));
  assert.ok(built.result.reused.includes('world'), 'the cached world was used');
  const extracted = await waitJob(server, built.result.extraction_job_id, undefined, 600000);
  assert.equal(extracted.state, 'succeeded', JSON.stringify(extracted));
  const demo = { ...built.result };
  demo.dataset = (await call(server, 'GET', `/api/v1/datasets/${demo.dataset_id}`)).json;
  return { server, dataDir, db, demo };
}

export async function stopDemoWorld(w) {
  await w?.server?.stop();
  if (w?.dataDir) rmSync(w.dataDir, { recursive: true, force: true });
  w?.db?.drop();
}
