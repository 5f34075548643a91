// demo_cache.mjs — the small demo world (`inficond demo --scale small`, seed 1: its
// scenes and trained models) made once and shared by every suite that needs it
// (tests/api/concepts.test.mjs, tests/api/demo.test.mjs, the browser stories through
// tests/ui/demo_world.mjs): cached in var/ui-demo-small, reused only while the code
// that builds it is unchanged (demoCodeKey). Training takes minutes, so one process
// builds it at a time (a lock file) and the others wait for it; tests/run.sh starts
// that build in the background as soon as the release binary is there
// (`node tests/api/demo_cache.mjs`), so it overlaps the suites that do not need it.
//
//   const dir = await demoWorld()  -> the absolute path of var/ui-demo-small (scenes/,
//                                     teacher/, concepts/, corpus.txt, report.json)
//
// Env: INFICOND_WORLD_BIN (the binary that builds it; default the release
// build/inficond when there is one, else INFICOND_BIN, else build/asan/inficond).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { run } from './harness.mjs';

const BIN = process.env.INFICOND_BIN || 'build/asan/inficond';
const WORLD_BIN = process.env.INFICOND_WORLD_BIN || (existsSync('build/inficond') ? 'build/inficond' : BIN);
export const WORLD = 'var/ui-demo-small'; // ignored by git
const WORLD_KEY = `${WORLD}.code-sha256`; // the demoCodeKey it was built from
const WORLD_LOCK = `${WORLD}.lock`; // the pid of the process building it
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

const alive = (pid) => {
  try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; }
};

// Take the lock, waiting while a live process holds it (a dead holder's lock is stale).
async function lock() {
  mkdirSync(dirname(WORLD_LOCK), { recursive: true });
  for (let said = false; ; await sleep(1000)) {
    try {
      writeFileSync(WORLD_LOCK, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
    const pid = Number(readFileSync(WORLD_LOCK, 'utf8').trim());
    if (!pid || !alive(pid)) {
      rmSync(WORLD_LOCK, { force: true });
      continue;
    }
    if (!said) console.log(`demo world: waiting for process ${pid}, which is building ${WORLD}`);
    said = true;
  }
}

// The world's folder, built first unless its key matches (minutes; awaited, so a
// test's servers and fetch client keep working meanwhile).
export async function demoWorld() {
  await lock();
  try {
    const key = demoCodeKey();
    const have = existsSync(WORLD_KEY) ? readFileSync(WORLD_KEY, 'utf8').trim() : null;
    if (have === key && existsSync(join(WORLD, 'report.json'))) {
      console.log(`demo world: reusing ${WORLD} (code key ${key.slice(0, 12)})`);
      return resolve(WORLD);
    }
    console.log(`demo world: building ${WORLD} (code key ${key.slice(0, 12)}; cached: ${have ? have.slice(0, 12) : 'none'})`);
    const t0 = Date.now();
    const tmp = `${WORLD}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    await run(WORLD_BIN, [...WORLD_ARGS, '--out', tmp],
      { env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0', OMP_NUM_THREADS: '1' } });
    rmSync(WORLD_KEY, { force: true });
    rmSync(WORLD, { recursive: true, force: true });
    renameSync(tmp, WORLD);
    writeFileSync(WORLD_KEY, `${key}\n`);
    console.log(`demo world: built ${WORLD} with ${WORLD_BIN} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    return resolve(WORLD);
  } finally {
    rmSync(WORLD_LOCK, { force: true });
  }
}

// `node tests/api/demo_cache.mjs`: build (or find) the world now; exit 1 on failure.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  demoWorld().catch((e) => {
    console.error(`demo world: ${e.message}`);
    process.exit(1);
  });
}
