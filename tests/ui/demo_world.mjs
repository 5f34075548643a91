// demo_world.mjs — the small demo world for the browser suites that tell a story on
// it (demo.test.mjs, scenario.test.mjs): its scenes and trained models cached in
// var/ui-demo-small so later runs skip the training, reused only while the code that
// builds it is unchanged (demoCodeKey), and a server of its own on a fresh database
// whose first start builds the demo project from that cache (teacher outputs and the
// extraction included).
//
//   const w = await startDemoWorld('_uidemo', 'inficond-uidemo-')
//     -> {server, dataDir, db, demo}: demo is the demo.build job's result plus the dataset
//   await stopDemoWorld(w)
//
// Env: INFICOND_BIN (default build/asan/inficond), INFICOND_WORLD_BIN (the binary that
// builds the cached world; default the release build/inficond when there is one).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, cpSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, call, waitJob, run } from '../api/harness.mjs';
import { freshDatabase } from '../api/pgtools.mjs';

const BIN = process.env.INFICOND_BIN || 'build/asan/inficond';
const WORLD_BIN = process.env.INFICOND_WORLD_BIN || (existsSync('build/inficond') ? 'build/inficond' : BIN);
const WORLD = 'var/ui-demo-small'; // the small demo world, seed 1 (ignored by git)
const WORLD_KEY = `${WORLD}.code-sha256`; // the demoCodeKey it was built from
const WORLD_ARGS = ['demo', '--scale', 'small'];

// A test's skip reason without the data the demo world is made of; false when it is there.
export const noDemoData = existsSync('/usr/share/datasets/fashion-mnist') ? false
  : 'needs /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)';

// The key of the cached world: sha256 over the code that builds it, every file under
// server/ (any depth) named demo_*.c, demo_*.h, scenes.* or cmd_demo.c and shim's
// demo_models.*, each hashed by name and content in name order (so moving a file to
// another folder keeps the key, changing one changes it), and the demo command's
// arguments.
function demoCodeKey() {
  const files = [];
  const walk = (dir, match) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name), match);
      else if (match.test(e.name)) files.push(join(dir, e.name));
    }
  };
  walk('server', /^(demo_.*\.[ch]|scenes\..*|cmd_demo\.c)$/);
  walk('shim', /^demo_models\./);
  assert.ok(files.some((f) => basename(f) === 'cmd_demo.c'), `demoCodeKey found no cmd_demo.c under server/: ${files}`);
  files.sort((a, b) => (basename(a) < basename(b) ? -1 : basename(a) > basename(b) ? 1 : 0));
  const h = createHash('sha256').update(`${WORLD_ARGS.join(' ')}\n`);
  for (const f of files) {
    const body = readFileSync(f);
    h.update(`${basename(f)} ${body.length}\n`).update(body);
  }
  return h.digest('hex');
}

// The world is what takes long to make (training through libtorch): built once per
// version of its code, awaited (minutes), and reused only when its key matches.
async function worldCache() {
  const key = demoCodeKey();
  const have = existsSync(WORLD_KEY) ? readFileSync(WORLD_KEY, 'utf8').trim() : null;
  if (have === key && existsSync(join(WORLD, 'report.json'))) {
    console.log(`demo world: reusing ${WORLD} (code key ${key.slice(0, 12)})`);
    return;
  }
  console.log(`demo world: building ${WORLD} (code key ${key.slice(0, 12)}; cached: ${have ? have.slice(0, 12) : 'none'})`);
  const tmp = `${WORLD}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  await run(WORLD_BIN, [...WORLD_ARGS, '--out', tmp],
    { env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0', OMP_NUM_THREADS: '1' } });
  rmSync(WORLD_KEY, { force: true });
  rmSync(WORLD, { recursive: true, force: true });
  renameSync(tmp, WORLD);
  writeFileSync(WORLD_KEY, `${key}\n`);
}

// A server on a database of its own (the first start must find no demo project: other
// suites make one), its data folder seeded with the cached world.
export async function startDemoWorld(dbSuffix, dirPrefix) {
  await worldCache();
  const dataDir = mkdtempSync(join(tmpdir(), dirPrefix));
  cpSync(WORLD, join(dataDir, 'demo-small-1'), { recursive: true });
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
