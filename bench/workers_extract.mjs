#!/usr/bin/env node
// bench/workers_extract.mjs — one extraction of the demo project (at full scale 32k
// images and the demo concept model) timed with 1 worker process, then with 2 (`serve`
// with INFICOND_WORKERS=1, plus one `inficond worker` with INFICOND_WORKERS=1), same
// database and data folder. The stored segment chunks are forgotten before each run,
// so both compute every chunk; the presence and chunk checksums must be equal (exit 1
// otherwise). Prints images/s for each, their ratio, the cores each run actually got
// (CPU seconds of our processes / wall seconds), and one JSON line last.
//
//   DATABASE_URL=... node bench/workers_extract.mjs --data DIR [--world WORLD_DIR]
//     [--scale full|small] [--bin build/inficond] [--port 18997] [--repeat N]
//
// --repeat N alternates the two set-ups N times (1, 2, 1, 2, …) and reports the best
// run of each (the one the machine's other load disturbed least) beside every run.
//
// DIR is the data folder (kept: a second run reuses the imported project). --world
// copies a built demo world folder (e.g. <data>/demo-full-1 of another install) into
// DIR first, so the demo job imports it instead of training. The first run builds the
// project (import, teacher outputs: minutes); its own extraction job is cancelled, as
// the two timed runs make the extraction.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql } from '../tests/api/pgtools.mjs';

const args = { scale: 'full', bin: 'build/inficond', port: '18997', data: '', world: '', repeat: '1' };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
if (!args.data || !process.env.DATABASE_URL) {
  console.error('usage: DATABASE_URL=... node bench/workers_extract.mjs --data DIR [--world WORLD_DIR] [--scale full|small]');
  process.exit(2);
}
const data = resolve(args.data), db = process.env.DATABASE_URL;
const token = 'bench-workers-token-0123456789abcdef';
const base = `http://127.0.0.1:${args.port}`;
const log = (s) => process.stderr.write(`${s}\n`);
mkdirSync(data, { recursive: true });
const worldIn = join(data, `demo-${args.scale}-1`);
if (args.world && !existsSync(join(worldIn, 'report.json'))) cpSync(resolve(args.world), worldIn, { recursive: true });

const env = {
  ...process.env, DATABASE_URL: db, INFICOND_DATA_DIR: data, INFICOND_PORT: args.port, INFICOND_ADMIN_TOKEN: token,
  INFICOND_WORKERS: '1', INFICOND_DEMO: args.scale, INFICOND_LOG_LEVEL: 'info', OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1',
};
const procs = [];
function start(command) {
  const p = spawn(args.bin, [command], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  p.stderr.on('data', (d) => { text += d; });
  p.logText = () => text;
  procs.push(p);
  return p;
}
const stopAll = async () => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
  for (const p of procs) if (p.exitCode === null) await new Promise((r) => p.on('exit', r));
};

async function call(method, path, body) {
  const r = await fetch(base + path, {
    method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const j = await r.json().catch(() => null);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}
async function waitJob(id, what) {
  let seq = 0, shown = '';
  for (;;) {
    const j = await call('GET', `/api/v1/jobs/${id}?wait=10&after=${seq}`);
    seq = j.seq;
    const line = `${what}: ${(100 * (j.progress || 0)).toFixed(0)}% ${j.message || ''}`;
    if (line !== shown) log((shown = line));
    if (['succeeded', 'failed', 'cancelled'].includes(j.state)) return j;
  }
}
const sig3 = (v) => Number(v.toPrecision(3));
// CPU seconds (user + system) our processes have used so far: with the wall time, how
// many cores a run actually got on a machine other people share.
const cpuSeconds = () => procs.filter((p) => p.exitCode === null).reduce((sum, p) => {
  try {
    const f = readFileSync(`/proc/${p.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return sum + (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch { return sum; }
}, 0);

async function timed(parts, label) {
  psql(db, `DELETE FROM segment_chunks WHERE dataset_id = ${parts.dataset.id} AND model_id = ${parts.concept_model.id}`);
  const cpu0 = cpuSeconds();
  const j = await call('POST', '/api/v1/extractions',
    { dataset_id: parts.dataset.id, concept_model_id: parts.concept_model.id, corpus_id: parts.corpus.id });
  const done = await waitJob(j.id, label);
  const cpu = cpuSeconds() - cpu0;
  if (done.state !== 'succeeded') throw new Error(`${label}: extraction ${done.state}: ${done.error}`);
  const x = await call('GET', `/api/v1/extractions/${j.extraction_id}`);
  const chunks = psql(db, `SELECT md5(string_agg(sha256, ',' ORDER BY first_image_id)) FROM segment_chunks
    WHERE dataset_id = ${parts.dataset.id} AND model_id = ${parts.concept_model.id}`);
  const r = done.result;
  return { n: r.n_images, seconds: r.seconds, images_per_s: r.images_per_s, presence: x.presence_sha256, chunks,
           workers: r.chunk_tasks.workers.length, tasks: r.chunk_tasks.tasks, cpu, cores: cpu / r.seconds };
}

// How many cores two busy loops get right now (2.0 on an idle 2-core machine): where
// neighbours hold a core, 2 worker processes cannot beat 1, whatever the code does.
async function coresFree() {
  const spin = [0, 1].map(() => spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
  await sleep(2000);
  const cpu = spin.reduce((sum, p) => {
    try {
      const f = readFileSync(`/proc/${p.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return sum + (Number(f[11]) + Number(f[12])) / 100;
    } catch { return sum; }
  }, 0);
  for (const p of spin) p.kill('SIGKILL');
  return cpu / 2;
}

let code = 0;
try {
  const serve = start('serve');
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/api/v1/health`)).status === 200) break; } catch { /* not yet */ }
    if (i > 1200 || serve.exitCode !== null) throw new Error(`the server did not start:\n${serve.logText()}`);
    await sleep(100);
  }
  let project;
  for (;;) {
    project = (await call('GET', '/api/v1/projects?limit=500')).items.find((p) => p.name === 'demo');
    if (project) break;
    const jobs = (await call('GET', '/api/v1/jobs?kind=demo.build')).items.filter((j) => ['queued', 'running'].includes(j.state));
    if (!jobs.length) throw new Error('no project "demo" and no demo.build job');
    await waitJob(jobs[0].id, 'demo build');
  }
  // The demo's own extraction is not timed here: cancelled, the runs below make it.
  for (const j of (await call('GET', '/api/v1/jobs?kind=concepts.extract&limit=100')).items)
    if (['queued', 'running'].includes(j.state)) {
      await call('POST', `/api/v1/jobs/${j.id}/cancel`);
      await waitJob(j.id, 'cancelling the demo extraction');
    }
  const parts = project.parts;
  const freeBefore = await coresFree();
  const ones = [], twos = [];
  let worker = null;
  for (let k = 0; k < Number(args.repeat); k++) {
    if (worker) {
      worker.kill('SIGTERM');
      await new Promise((r) => (worker.exitCode === null ? worker.on('exit', r) : r()));
    }
    ones.push(await timed(parts, `1 worker process (run ${k + 1})`));
    worker = start('worker');
    for (let i = 0; i < 600 && !/worker thread/.test(worker.logText()); i++) await sleep(100);
    twos.push(await timed(parts, `2 worker processes (run ${k + 1})`));
  }
  const freeAfter = await coresFree();
  const best = (runs) => runs.reduce((a, b) => (b.images_per_s > a.images_per_s ? b : a));
  const one = best(ones), two = best(twos);
  const all = [...ones, ...twos];
  const same = all.every((r) => r.presence === one.presence && r.chunks === one.chunks);
  const ratio = two.images_per_s / one.images_per_s;
  const list = (runs) => runs.map((r) => `${sig3(r.images_per_s)} (${sig3(r.cores)} cores)`).join(', ');
  console.log(`1 worker process:   ${one.n} images in ${sig3(one.seconds)} s, ${sig3(one.images_per_s)} images/s (${one.tasks} chunk tasks; runs: ${list(ones)} images/s)`);
  console.log(`2 worker processes: ${two.n} images in ${sig3(two.seconds)} s, ${sig3(two.images_per_s)} images/s (chunks made by ${two.workers} processes; runs: ${list(twos)} images/s)`);
  console.log(`ratio ${sig3(ratio)}x (best of ${ones.length} each); presence ${one.presence.slice(0, 12)}… and chunk checksums ${same ? 'equal in every run' : 'DIFFER'}`);
  console.log(`cores two busy loops got before and after: ${sig3(freeBefore)}, ${sig3(freeAfter)} (2 on an idle 2-core machine)`);
  console.log(JSON.stringify({
    bench: 'workers_extract', n_images: one.n, one_worker_images_per_s: sig3(one.images_per_s),
    two_workers_images_per_s: sig3(two.images_per_s), ratio: sig3(ratio), checksums_equal: same,
    runs_one: ones.map((r) => sig3(r.images_per_s)), runs_two: twos.map((r) => sig3(r.images_per_s)),
    cores_one: ones.map((r) => sig3(r.cores)), cores_two: twos.map((r) => sig3(r.cores)),
    cpu_seconds_one: sig3(one.cpu), cpu_seconds_two: sig3(two.cpu),
    cores_free_before: sig3(freeBefore), cores_free_after: sig3(freeAfter),
    presence_sha256: one.presence, cpus: Number(execFileSync('nproc').toString().trim()),
  }));
  if (!same) code = 1;
} catch (err) {
  log(`workers_extract: ${err.message}`);
  code = 1;
} finally {
  await stopAll();
}
process.exit(code);
