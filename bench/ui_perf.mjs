// bench/ui_perf.mjs — how fast the page catches up, from the browser's own
// Performance API (User Timing measures the app records, see static/perf.js), in
// Debian's chromium driven by playwright-core at 1280x800:
//   workspace  navigation start -> every view of ?project=P&class=K drawn (a fresh
//              browser context each time: nothing cached; target < 2000 ms)
//   select     a class picked in the Student performance view -> all views updated
//              (target < 100 ms), the page left to settle before each click (its
//              idle-time prefetch done, as while a person reads the views);
//              select_rapid: the same with each click as soon as the last is drawn
//   tune       a downtune/uptune click in the Concepts view -> all views show the
//              new head (target < 500 ms)
//   whatif     a class picked in the Student performance view -> the Concepts view's
//              what-if list (every concept's removal ranked on the split) drawn for
//              that class (target < 100 ms), the page left to settle before each click
//   tune_all   a downtune/uptune across every class, clicked in the what-if list
//              (one new version) -> all views show the new head (target < 500 ms)
// Prints each run, the slowest requests inside the median run, and last one JSON
// line {workspace, select, select_rapid, tune, whatif, tune_all: {median_ms, max_ms,
// runs}, ...}.
//
// Against a running server (e.g. the full demo):
//   node bench/ui_perf.mjs --url http://host:port --token TOKEN [--project ID]
//     (env BENCH_UI_URL, BENCH_UI_TOKEN, BENCH_UI_PROJECT)
// Or with a server of its own (release build) on a database and data folder; the
// server builds the demo world of that scale there unless it is already built:
//   node bench/ui_perf.mjs --start --db DATABASE_URL --data DIR [--demo small|full]
//     [--bin build/inficond] [--port 18998] [--token T]
// Common: [--reps 7] [--class NAME] [--chromium /usr/bin/chromium]
// The project defaults to the demo project (else the first ready one); a project
// without a student gets one distilled. The tunes make new versions on the
// student's head; at the end the version the bench started from is restored, so
// the head's weights are as before (its history shows the bench's entries).
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const TARGETS = { workspace: 2000, select: 100, tune: 500, whatif: 100, tune_all: 500 };
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
function opt(name, env, def) {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < argv.length) return argv[i + 1];
  return (env && process.env[env]) || def;
}
const say = (...a) => console.log(...a);
const fail = (msg) => { console.error(`ui_perf: ${msg}`); process.exit(2); };

const reps = Math.max(1, Number(opt('reps', 'BENCH_UI_REPS', '7')) || 7);
const chromiumPath = opt('chromium', 'INFICOND_CHROMIUM', '/usr/bin/chromium');
let base = opt('url', 'BENCH_UI_URL', '');
let token = opt('token', 'BENCH_UI_TOKEN', '');
let projectId = opt('project', 'BENCH_UI_PROJECT', '');
let server = null;

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status} ${text.slice(0, 300)}`);
  return json;
}

async function waitJob(id, label) {
  let seq = 0;
  let shown = -1;
  for (;;) {
    const j = await call('GET', `/api/v1/jobs/${id}?wait=10&after=${seq}`);
    seq = j.seq;
    if (['succeeded', 'failed', 'cancelled'].includes(j.state)) {
      if (j.state !== 'succeeded') fail(`${label} (job ${id}) ${j.state}: ${j.error}`);
      return j;
    }
    const pct = Math.floor((j.progress || 0) * 10);
    if (pct !== shown) { shown = pct; console.error(`ui_perf: ${label}: ${Math.round((j.progress || 0) * 100)}% ${j.message || ''}`); }
  }
}

async function startOwnServer() {
  const db = opt('db', 'DATABASE_URL', '');
  const data = opt('data', 'BENCH_UI_DATA', '');
  if (!db || !data) fail('--start needs --db DATABASE_URL and --data DIR');
  mkdirSync(data, { recursive: true });
  const port = Number(opt('port', 'BENCH_UI_PORT', '18998'));
  token ||= 'ui-perf-bench-token-0123456789abcdef';
  base = `http://127.0.0.1:${port}`;
  const bin = opt('bin', 'INFICOND_BIN', 'build/inficond');
  const proc = spawn(bin, ['serve'], {
    env: {
      ...process.env, DATABASE_URL: db, INFICOND_PORT: String(port), INFICOND_DATA_DIR: data,
      INFICOND_ADMIN_TOKEN: token, INFICOND_DEMO: opt('demo', 'BENCH_UI_DEMO', 'small'), INFICOND_WORKERS: '2',
      INFICOND_LOG_LEVEL: 'warn', OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  proc.stderr.on('data', (d) => { log = (log + d).slice(-4000); });
  server = proc;
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null) fail(`the server exited:\n${log}`);
    try { if ((await fetch(`${base}/api/v1/health`)).ok) return; } catch { /* not yet */ }
    await sleep(100);
  }
  fail(`the server did not become healthy:\n${log}`);
}

function stopServer() {
  if (server && server.exitCode === null) server.kill('SIGTERM');
}

// The project to measure, ready, with a student: {project, student, version}.
async function prepare() {
  try { await call('GET', '/api/v1/me'); } catch (e) { fail(`the token is not accepted (${e.message}); a database whose admin has another token needs --token`); }
  for (const j of (await call('GET', '/api/v1/jobs?kind=demo.build&limit=5')).items || []) {
    if (['queued', 'running'].includes(j.state)) await waitJob(j.id, 'building the demo');
  }
  let project;
  for (let tries = 0; ; tries++) {
    const list = (await call('GET', '/api/v1/projects?limit=100')).items || [];
    project = projectId ? list.find((p) => String(p.id) === String(projectId))
      : list.find((p) => p.is_demo) || list.find((p) => p.ready);
    if (projectId && !project) project = await call('GET', `/api/v1/projects/${projectId}`);
    if (project?.ready) break;
    const x = project?.parts?.extraction;
    const running = ((await call('GET', '/api/v1/jobs?limit=20')).items || []).filter((j) => ['queued', 'running'].includes(j.state));
    if (!running.length || tries > 2000) fail(project ? `project ${project.id} is not ready (${JSON.stringify(project.parts)})` : 'no project to measure');
    await waitJob(running[0].id, `preparing the project (${running[0].kind}${x ? `, extraction ${x.state}` : ''})`);
  }
  const p = project.parts;
  const find = async () => ((await call('GET', `/api/v1/students?dataset_id=${p.dataset.id}&limit=500`)).items || [])
    .find((s) => s.extraction_id === p.extraction.id && s.teacher_output_id === p.teacher_output.id && s.head);
  let student = await find();
  if (!student) {
    const j = await call('POST', '/api/v1/students', { extraction_id: p.extraction.id, teacher_output_id: p.teacher_output.id });
    await waitJob(j.id, 'distilling a student');
    student = await find();
  }
  if (student.stale) fail(`student ${student.id} is stale (its inputs changed): distil it again first`);
  const version = await call('GET', `/api/v1/students/${student.id}/versions/${student.head.number}`);
  return { project, student, version };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (v) => Math.round(v * 10) / 10;
const summary = (runs, target) => ({
  median_ms: round(median(runs)), max_ms: round(Math.max(...runs)), n: runs.length,
  target_ms: target, met: median(runs) < target, runs: runs.map(round),
});

// The measure `name` newest after `count` entries, and the requests inside it.
async function nextMeasure(page, name, count) {
  await page.waitForFunction(([n, c]) => performance.getEntriesByName(n, 'measure').length > c, [name, count], { timeout: 60000 });
  return page.evaluate(([n, c]) => {
    const m = performance.getEntriesByName(n, 'measure')[c];
    const reqs = performance.getEntriesByType('resource')
      .filter((r) => r.startTime >= m.startTime - 1 && r.startTime <= m.startTime + m.duration)
      .map((r) => ({ path: new URL(r.name).pathname + new URL(r.name).search, ms: Math.round(r.duration), start: Math.round(r.startTime - m.startTime) }))
      .sort((a, b) => b.ms - a.ms);
    return { ms: m.duration, requests: reqs.length, slowest: reqs.slice(0, 4) };
  }, [name, count]);
}

// Until the page has made no request for `quietMs` (resource entries are added as
// requests finish).
const settle = (page, quietMs = 300) => page.evaluate((q) => new Promise((resolve) => {
  let seen = performance.getEntriesByType('resource').length;
  let since = performance.now();
  const tick = () => {
    const now = performance.getEntriesByType('resource').length;
    if (now !== seen) { seen = now; since = performance.now(); }
    if (performance.now() - since >= q) resolve(); else setTimeout(tick, 50);
  };
  tick();
}), quietMs);

const measureCount = (page, name) => page.evaluate((n) => performance.getEntriesByName(n, 'measure').length, name);

async function main() {
  if (flag('start')) await startOwnServer();
  if (!base || !token) fail('give --url and --token (or --start --db … --data …)');
  const { project, student, version } = await prepare();
  const classes = version.classes;
  // The class to tune: the one holding the largest |weight|, unless given.
  let tuneClass = opt('class', 'BENCH_UI_CLASS', '');
  if (!tuneClass) {
    let best = -1;
    version.weights.forEach((row, k) => row.forEach((w) => { if (Math.abs(w) > best) { best = Math.abs(w); tuneClass = classes[k]; } }));
  }
  if (!classes.includes(tuneClass)) fail(`the student has no class "${tuneClass}"`);
  say(`ui_perf: ${base}, project ${project.id} (${project.name}), student ${student.id} at version ${student.head.number}: ` +
    `${classes.length} classes x ${version.concepts.length} concepts, ${project.parts.dataset.image_count} images; tuning class ${tuneClass}; ${reps} reps`);

  const browser = await chromium.launch({
    executablePath: chromiumPath, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const problems = [];
  async function newPage() {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const r = await context.request.post(`${base}/api/v1/auth/login`, { data: { token } });
    if (!r.ok()) fail(`sign-in: HTTP ${r.status()}`);
    // The page asks who is signed in only when its hint says so (static/app.js).
    await context.addInitScript(() => {
      localStorage.setItem('inficond.signedIn', '1');
      performance.setResourceTimingBufferSize(100000); // every request of a long run is listed
    });
    const page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    return { context, page };
  }
  const show = (label, i, r) => say(`  ${label} ${i + 1}: ${r.ms.toFixed(1)} ms, ${r.requests} requests; slowest ${r.slowest.map((s) => `${s.path} ${s.ms} ms`).join(', ')}`);
  const landing = `${base}/?project=${encodeURIComponent(project.id)}&class=${encodeURIComponent(tuneClass)}`;
  const out = {};
  try {
    // 1. The workspace, cold: a fresh context (no cache, new session cookie) each time.
    const ws = [];
    for (let i = 0; i < reps; i++) {
      const { context, page } = await newPage();
      await page.goto(landing);
      const r = await nextMeasure(page, 'workspace-interactive', 0);
      show('workspace', i, r);
      ws.push(r.ms);
      await context.close();
    }
    out.workspace = summary(ws, TARGETS.workspace);

    // 2. Selections: class rows of the performance view, a different class each time,
    // in two manners on fresh pages: "select" lets the page settle before each click
    // (no request for 300 ms: the views' idle-time prefetch of the other classes has
    // run, as it has while a person reads the views), "select_rapid" clicks as soon
    // as the previous update is drawn.
    const order = classes.filter((c) => c !== tuneClass);
    let page;
    for (const [key, settled] of [['select_rapid', false], ['select', true]]) {
      if (page) await page.context().close();
      ({ page } = await newPage());
      await page.goto(landing);
      await nextMeasure(page, 'workspace-interactive', 0);
      const sel = [];
      for (let i = 0; i < reps; i++) {
        const cls = i === reps - 1 ? tuneClass : order[i % order.length];
        if (settled) await settle(page);
        const n = await measureCount(page, 'selection-updated');
        const clicked = await page.evaluate((c) => {
          const b = [...document.querySelectorAll('#view-performance button.perf-row')].find((x) => x.dataset.class === c);
          if (b) b.click();
          return !!b;
        }, cls);
        if (!clicked) fail(`no row for class ${cls} in the Student performance view`);
        const r = await nextMeasure(page, 'selection-updated', n);
        show(`${key.replace('_', ' ')} ${cls}`, i, r);
        sel.push(r.ms);
      }
      out[key] = summary(sel, TARGETS.select);
    }

    // 3. Tunes: the top concept of the class, down then up, alternately.
    await page.locator('#view-concepts .inf-row').first().waitFor({ timeout: 60000 });
    const concept = await page.locator('#view-concepts .inf-row').first().getAttribute('data-concept');
    const tunes = [];
    for (let i = 0; i < reps; i++) {
      const action = i % 2 ? 'Uptune' : 'Downtune';
      const n = await measureCount(page, 'tune-updated');
      const name = `${action} ${concept} for ${tuneClass} by ×2`;
      const button = page.getByRole('button', { name, exact: true });
      await button.waitFor({ timeout: 60000 });
      await page.waitForFunction((nm) => { // enabled again after the previous tune
        const b = [...document.querySelectorAll('#view-concepts button.tune')].find((x) => x.getAttribute('aria-label') === nm);
        return b && !b.disabled;
      }, name, { timeout: 60000 });
      await page.evaluate((nm) => [...document.querySelectorAll('#view-concepts button.tune')]
        .find((x) => x.getAttribute('aria-label') === nm).click(), name);
      const r = await nextMeasure(page, 'tune-updated', n);
      const st = await page.locator('#view-concepts .tuning-status').textContent();
      if (!/is the new head/.test(st)) fail(`tune ${i + 1} was not applied: ${st}`);
      show(`tune ${action.toLowerCase()} ${concept}`, i, r);
      tunes.push(r.ms);
    }
    out.tune = summary(tunes, TARGETS.tune);

    // 4. The what-if list after a class click: from the click to the list drawn for
    // that class (its box names the ranking it shows), the page settled before each.
    const wi = [];
    for (let i = 0; i < reps; i++) {
      const cls = order[(i + 1) % order.length];
      await settle(page);
      const ms = await page.evaluate((c) => new Promise((resolve, reject) => {
        const b = [...document.querySelectorAll('#view-performance button.perf-row')].find((x) => x.dataset.class === c);
        if (!b) { reject(new Error(`no row for class ${c}`)); return; }
        const box = document.querySelector('#view-concepts .whatif');
        const t0 = performance.now();
        b.click();
        const tick = () => {
          if (box.getAttribute('data-for')?.startsWith(`${c}:`) && box.querySelector('.wi-row')) resolve(performance.now() - t0);
          else if (performance.now() - t0 > 60000) reject(new Error('the what-if list did not come'));
          else requestAnimationFrame(tick);
        };
        tick();
      }), cls);
      say(`  whatif ${cls} ${i + 1}: ${ms.toFixed(1)} ms`);
      wi.push(ms);
    }
    out.whatif = summary(wi, TARGETS.whatif);

    // 5. Across every class, from the what-if list: one version per click.
    await page.selectOption('#whatif-scope', '*');
    await page.locator('#view-concepts .whatif[data-for^="*:"] .wi-row').first().waitFor({ timeout: 60000 });
    const wordAll = await page.locator('#view-concepts .whatif .wi-row').first().getAttribute('data-concept');
    const alls = [];
    for (let i = 0; i < reps; i++) {
      const action = i % 2 ? 'Uptune' : 'Downtune';
      const n = await measureCount(page, 'tune-updated');
      const name = `${action} “${wordAll}” in every class ×2: apply as one new version`;
      await page.waitForFunction((nm) => {
        const b = [...document.querySelectorAll('#view-concepts button.wi-act')].find((x) => x.getAttribute('aria-label') === nm);
        return b && !b.disabled;
      }, name, { timeout: 60000 });
      await page.evaluate((nm) => [...document.querySelectorAll('#view-concepts button.wi-act')]
        .find((x) => x.getAttribute('aria-label') === nm).click(), name);
      const r = await nextMeasure(page, 'tune-updated', n);
      const st = await page.locator('#view-concepts .tuning-status').textContent();
      if (!/is the new head/.test(st)) fail(`across-class tune ${i + 1} was not applied: ${st}`);
      show(`tune_all ${action.toLowerCase()} ${wordAll}`, i, r);
      alls.push(r.ms);
    }
    out.tune_all = summary(alls, TARGETS.tune_all);
    await page.context().close();
  } finally {
    await browser.close();
    // Put the head's weights back as they were before the tunes.
    try {
      const now = await call('GET', `/api/v1/students/${student.id}`);
      if (now.head.number !== student.head.number) {
        await call('POST', `/api/v1/students/${student.id}/versions/${student.head.number}/restore`,
          { note: `ui_perf bench: back to version ${student.head.number}` });
      }
    } catch (e) { console.error(`ui_perf: could not restore version ${student.head.number}: ${e.message}`); }
    stopServer();
  }
  if (problems.length) say(`page problems:\n  ${problems.join('\n  ')}`);
  say(`workspace interactive: median ${out.workspace.median_ms} ms, max ${out.workspace.max_ms} ms (target < ${TARGETS.workspace})`);
  say(`selection -> views updated: median ${out.select.median_ms} ms, max ${out.select.max_ms} ms (target < ${TARGETS.select}); ` +
    `clicked without a pause: median ${out.select_rapid.median_ms} ms, max ${out.select_rapid.max_ms} ms`);
  say(`tune click -> views updated: median ${out.tune.median_ms} ms, max ${out.tune.max_ms} ms (target < ${TARGETS.tune})`);
  say(`class click -> what-if list drawn: median ${out.whatif.median_ms} ms, max ${out.whatif.max_ms} ms (target < ${TARGETS.whatif})`);
  say(`across-class tune -> views updated: median ${out.tune_all.median_ms} ms, max ${out.tune_all.max_ms} ms (target < ${TARGETS.tune_all})`);
  console.log(JSON.stringify({
    bench: 'ui_perf', url: base, project: project.id, student: student.id,
    images: project.parts.dataset.image_count, classes: classes.length, concepts: version.concepts.length,
    tune_class: tuneClass, reps, page_problems: problems.length, ...out,
  }));
}

main().catch((e) => { stopServer(); console.error(`ui_perf: ${e.stack || e.message}`); process.exit(1); });
