// bench/demo_tune.mjs — the demo world's tuning story (issue 6), through the API only.
//
// On the project "demo": makes sure the teacher's outputs and the concept extraction
// are there (queues them when missing), distils a student unless one of that pair
// exists, reports its fidelity on test and its accuracy on shifted, then chooses from
// data the background concepts the student uses for each class (the background words
// among the class's top positive influences on train), reads what the what-if says
// removing each from every class would do on shifted, and removes (or downtunes) them
// across every class in one new version (one action per word, no class: issue 16's
// across-class action), and reports the shifted accuracy before and after. Last
// line: one JSON object.
//
//   node bench/demo_tune.mjs --url http://127.0.0.1:8080 --token TOKEN
//   node bench/demo_tune.mjs --db URL --data DIR [--demo off|small|full] [--bin build/inficond]
//        [--port 18790] [--token T]      (starts `inficond serve` itself, stops it at the end)
// Options: --action remove|downtune (remove), --factor X for downtune (10), --top K
// (how many of a class's top positive influences to look through, 3), --scope
// every|class (every: one version, each word in every class; class: the older way,
// per class where it was chosen, then with --everywhere yes a further version for the
// other classes), --project NAME.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

const BACKGROUNDS = ['grass', 'water', 'sand', 'wood', 'brick', 'snow'];
const args = { action: 'remove', factor: 10, top: 3, scope: 'every', everywhere: 'yes', project: 'demo', demo: 'off', bin: 'build/inficond',
  port: 18790, token: 'demo-tune-bench-token-0123456789abcdef' };
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in args) && !['url', 'db', 'data'].includes(k)) throw new Error(`unknown option ${process.argv[i]}`);
  args[k] = process.argv[++i];
}
if (!['remove', 'downtune'].includes(args.action)) throw new Error('--action must be remove or downtune');
if (!['every', 'class'].includes(args.scope)) throw new Error('--scope must be every or class');
const log = (...m) => console.error('demo_tune:', ...m);

let server = null;
let base = args.url;
if (!base) {
  if (!args.db || !args.data) throw new Error('give --url and --token, or --db and --data to start a server');
  base = `http://127.0.0.1:${args.port}`;
  server = spawn(args.bin, ['serve'], {
    env: { ...process.env, DATABASE_URL: args.db, INFICOND_DATA_DIR: args.data, INFICOND_PORT: String(args.port),
      INFICOND_ADMIN_TOKEN: args.token, INFICOND_DEMO: args.demo, INFICOND_WORKERS: process.env.INFICOND_WORKERS ?? '1',
      OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  server.on('exit', (code) => { if (code) log(`server exited with ${code}`); });
}

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${args.token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return json;
}

async function waitJob(id, what) {
  let seq = 0, shown = '';
  for (;;) {
    const j = await call('GET', `/api/v1/jobs/${id}?wait=10&after=${seq}`);
    seq = j.seq;
    const line = `${what}: ${(100 * (j.progress || 0)).toFixed(0)}% ${j.message || ''}`;
    if (line !== shown) log((shown = line));
    if (j.state === 'succeeded') return j;
    if (['failed', 'cancelled'].includes(j.state)) throw new Error(`${what} job ${id} ${j.state}: ${j.error}`);
  }
}

const r4 = (v) => (v == null ? null : Math.round(v * 10000) / 10000);

try {
  if (server) {
    for (let i = 0; ; i++) {
      try { if ((await fetch(`${base}/api/v1/health`)).status === 200) break; } catch { /* not yet */ }
      if (i > 600 || server.exitCode !== null) throw new Error('the server did not start');
      await sleep(100);
    }
  }
  const t0 = Date.now();
  // The project: wait for a demo build that is queued or running.
  let project;
  for (;;) {
    project = (await call('GET', '/api/v1/projects?limit=500')).items.find((p) => p.name === args.project);
    if (project) break;
    const jobs = (await call('GET', '/api/v1/jobs?kind=demo.build')).items.filter((j) => ['queued', 'running'].includes(j.state));
    if (!jobs.length) throw new Error(`no project '${args.project}' and no demo.build job (start with --demo small|full)`);
    await waitJob(jobs[0].id, 'demo.build');
  }
  const parts = project.parts;
  // Teacher outputs: the demo job computes them; queue them if they are gone.
  let outputId = parts.teacher_output.id;
  if (!parts.teacher_output.ready) {
    const j = await call('POST', `/api/v1/datasets/${parts.dataset.id}/teacher-outputs`, { model_id: parts.teacher_model.id });
    outputId = (await waitJob(j.id, 'teacher outputs')).result.teacher_output_id;
  }
  // Extraction: follow its job, or queue one.
  let xid = parts.extraction.id;
  let x = xid ? await call('GET', `/api/v1/extractions/${xid}`) : null;
  if (x && x.state !== 'ready' && x.job_id) {
    const j = await call('GET', `/api/v1/jobs/${x.job_id}`);
    if (['queued', 'running'].includes(j.state)) await waitJob(x.job_id, 'extraction');
    x = await call('GET', `/api/v1/extractions/${xid}`);
  }
  if (!x || x.state !== 'ready') {
    const j = await call('POST', '/api/v1/extractions',
      { dataset_id: parts.dataset.id, concept_model_id: parts.concept_model.id, corpus_id: parts.corpus.id });
    await waitJob(j.id, 'extraction');
    x = (await call('GET', `/api/v1/extractions?limit=500`)).items
      .filter((e) => e.dataset_id === parts.dataset.id && e.concept_model_id === parts.concept_model.id && e.state === 'ready')
      .sort((a, b) => b.id - a.id)[0];
    xid = x.id;
  }
  // The student: reuse a fresh one of this pair, else distil.
  let student = (await call('GET', `/api/v1/students?dataset_id=${parts.dataset.id}&limit=500`)).items
    .find((s) => s.extraction_id === xid && s.teacher_output_id === outputId && !s.stale);
  let distillSeconds = null;
  if (!student) {
    const t = Date.now();
    const j = await call('POST', '/api/v1/students', { extraction_id: xid, teacher_output_id: outputId, name: 'demo' });
    const done = await waitJob(j.id, 'distillation');
    distillSeconds = (Date.now() - t) / 1000;
    student = await call('GET', `/api/v1/students/${done.result.student_id}`);
  }
  // Start from the distilled fit (version 1): an earlier run's edits are restored away,
  // as a new version (history is never rewritten).
  let head = student.head;
  if (head.number !== 1) {
    head = await call('POST', `/api/v1/students/${student.id}/versions/1/restore`, { note: 'demo_tune: start from the distilled fit' });
    log(`restored version 1 as version ${head.number}`);
  }
  const before = head.measures.splits;
  log(`student ${student.id} v${head.number}: test fidelity ${r4(before.test.fidelity)}, shifted accuracy ` +
      `${r4(before.shifted.student_accuracy)} (teacher ${r4(before.shifted.teacher_accuracy)})`);

  // From data: for each class, its top positive influences on train; the background
  // words among them are the shortcut the teacher (and so the student) leans on.
  const actions = [], chosen = {};
  for (const cls of student.classes) {
    const inf = await call('GET', `/api/v1/students/${student.id}/versions/${head.number}/classes/` +
      `${encodeURIComponent(cls)}/influence?split=train&limit=50`);
    const top = inf.items.filter((it) => it.influence > 0).slice(0, Number(args.top));
    const bg = top.filter((it) => BACKGROUNDS.includes(it.concept));
    if (!bg.length) continue;
    chosen[cls] = bg.map((it) => ({ concept: it.concept, influence: r4(it.influence), rank: top.indexOf(it) + 1 }));
    for (const it of bg)
      actions.push(args.action === 'remove' ? { action: 'remove', concept: it.concept, class: cls }
        : { action: 'downtune', concept: it.concept, class: cls, factor: Number(args.factor) });
  }
  log('chosen:', JSON.stringify(chosen));
  const words = [...new Set(actions.map((a) => a.concept))];
  // What the what-if says before anything is applied: removing each word from every
  // class, on shifted (exact for the linear student, before retraining).
  const t1 = Date.now();
  const wi = await call('GET', `/api/v1/students/${student.id}/versions/${head.number}/whatif/concepts?split=shifted`);
  const whatifMs = Date.now() - t1;
  const whatif = Object.fromEntries(wi.items.filter((it) => words.includes(it.concept))
    .map((it) => [it.concept, { rank: wi.items.indexOf(it) + 1, shifted_accuracy_points: Math.round(it.accuracy * 1000) / 10 }]));
  log('what-if on shifted:', JSON.stringify(whatif));
  let after = before, version = head.number, retrained = [], tuneMs = null;
  let all = after, versionAll = version;
  if (args.scope === 'every' && words.length) {
    // One version: each chosen word in every class (an action without a class).
    const t = Date.now();
    const v = await call('POST', `/api/v1/students/${student.id}/versions`, {
      parent: head.number,
      actions: words.map((w) => (args.action === 'remove' ? { action: 'remove', concept: w }
        : { action: 'downtune', concept: w, factor: Number(args.factor) })),
      note: `demo_tune: ${args.action} the background concepts the teacher leans on, in every class`,
    });
    tuneMs = Date.now() - t;
    after = all = v.measures.splits;
    version = versionAll = v.number;
    retrained = v.retrained;
  } else if (actions.length) {
    const v = await call('POST', `/api/v1/students/${student.id}/versions`,
      { parent: head.number, actions, note: `demo_tune: ${args.action} the background concepts the teacher leans on` });
    after = all = v.measures.splits;
    version = versionAll = v.number;
    retrained = v.retrained;
  }
  // --scope class: step 2, the same words in every other class. A class's negative
  // weight on "brick" ("not a t-shirt: it is on brick") is the same shortcut seen from
  // the other side.
  if (args.scope === 'class' && args.everywhere !== 'no') {
    const done = new Set(actions.map((a) => `${a.class}\u0000${a.concept}`));
    const more = [];
    for (const cls of student.classes)
      for (const w of words)
        if (!done.has(`${cls}\u0000${w}`))
          more.push(args.action === 'remove' ? { action: 'remove', concept: w, class: cls }
            : { action: 'downtune', concept: w, class: cls, factor: Number(args.factor) });
    if (more.length) {
      const v = await call('POST', `/api/v1/students/${student.id}/versions`,
        { parent: version, actions: more, note: `demo_tune: ${args.action} the same background concepts in every class` });
      all = v.measures.splits;
      versionAll = v.number;
    }
    log(`v${versionAll} (every class): shifted accuracy ${r4(all.shifted.student_accuracy)}, test fidelity ${r4(all.test.fidelity)}`);
  }
  const gain = after.shifted.student_accuracy - before.shifted.student_accuracy;
  log(`v${version}: shifted accuracy ${r4(before.shifted.student_accuracy)} -> ${r4(after.shifted.student_accuracy)} ` +
      `(${(100 * gain).toFixed(1)} points); test fidelity ${r4(before.test.fidelity)} -> ${r4(after.test.fidelity)}`);
  console.log(JSON.stringify({
    bench: 'demo_tune', project: project.id, student: student.id, concepts: student.concepts,
    distill_seconds: distillSeconds, action: args.action, factor: args.action === 'downtune' ? Number(args.factor) : null,
    scope: args.scope, chosen, words, whatif_shifted: whatif, whatif_ms: whatifMs, tune_ms: tuneMs,
    version_before: head.number, version_after: version, versions_made: versionAll - head.number, retrained,
    teacher: { test: r4(before.test.teacher_accuracy), shifted: r4(before.shifted.teacher_accuracy) },
    before: { test_fidelity: r4(before.test.fidelity), test_accuracy: r4(before.test.student_accuracy),
      shifted_fidelity: r4(before.shifted.fidelity), shifted_accuracy: r4(before.shifted.student_accuracy) },
    after: { test_fidelity: r4(after.test.fidelity), test_accuracy: r4(after.test.student_accuracy),
      shifted_fidelity: r4(after.shifted.fidelity), shifted_accuracy: r4(after.shifted.student_accuracy) },
    shifted_gain_points: Math.round(gain * 1000) / 10,
    every_class: args.scope === 'class' && args.everywhere === 'no' ? null : { version: versionAll, test_fidelity: r4(all.test.fidelity),
      test_accuracy: r4(all.test.student_accuracy), shifted_accuracy: r4(all.shifted.student_accuracy),
      shifted_gain_points: Math.round((all.shifted.student_accuracy - before.shifted.student_accuracy) * 1000) / 10 },
    targets: { test_fidelity: 0.85, shifted_gain_points: 5 },
    seconds: (Date.now() - t0) / 1000,
  }));
} finally {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((res) => server.on('exit', res));
  }
}
