// demo.test.mjs — the built-in demo at small scale, end to end through the job
// system, in two parts, each on a database of its own:
// (1) a server started with INFICOND_DEMO=small queues demo.build on its first start
//     and the job makes the whole world itself (scenes, both models trained, import,
//     teacher outputs, corpus, project); its progress moves forward by long-poll and it
//     succeeds. The world it trains is made smaller through the experiment knobs
//     INFICOND_DEMO_COUNTS / INFICOND_DEMO_TRAIN: these checks are about the job's
//     steps and what they register (counts, names, kinds, parts), which hold at any size;
//     the full small world takes minutes of training, and is checked in (2).
// (2) the full small world (made once per run with the release binary and shared with
//     other suites: demo_cache.mjs) in the data folder, where the job finds it, as after
//     an interrupted build: the job makes the project from it; the dataset "demo"
//     (4 splits, 2000/400/400/400), both models, the teacher outputs, the corpus (no
//     class words) and the project "demo" exist and are usable; the world's quality
//     (teacher accuracy, concept AUC); the class-name filter on the demo project; the
//     demo.story job's report (selection on val, the student and its tuned version, AUC
//     of the stored presence).
// In both a second start queues nothing. Also the projects API: create with parts
// checked, list, get, delete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, call, errorCode, waitJob, uniq } from './harness.mjs';
import { freshDatabase } from './pgtools.mjs';
import { demoWorld } from './demo_cache.mjs';

// A guard against a build that hangs, not a speed check (bench/ measures speed): the
// small world with attributes took 348 s under ASan on a shared 2-core machine.
const BUILD_MS = 15 * 60 * 1000;

// The reduced world of part (1): scenes per split (train, val, test, shifted) and
// training (teacher epochs, width, concept epochs, width).
const SMALLER = { counts: [200, 40, 40, 40], train: '2,8,2,8' };

async function demoJobs(server) {
  const r = await call(server, 'GET', '/api/v1/jobs?kind=demo.build');
  assert.equal(r.status, 200, r.text);
  return r.json.items;
}

// A data folder given relative, as `make run` gives ./var: the demo's folder import and
// model copies must still get absolute paths (the server and this test share the cwd).
function relativeDataDir() {
  const dataDir = relative(process.cwd(), mkdtempSync(join(tmpdir(), 'inficond-demo-')));
  assert.ok(!isAbsolute(dataDir), dataDir);
  return dataDir;
}

// The first start's log and its one queued demo.build job.
async function firstStartJob(server) {
  // The start-up hook runs once the HTTP side is up: give it a moment to log.
  for (let i = 0; i < 100 && !/serving on/.test(server.log); i++) await sleep(50);
  assert.match(server.log, /building the demo world.*page shows its progress/);
  let jobs = [];
  for (let i = 0; i < 100 && jobs.length === 0; i++, await sleep(50)) jobs = await demoJobs(server);
  assert.equal(jobs.length, 1);
  assert.deepEqual(jobs[0].params, { scale: 'small', seed: 1 });
  return jobs[0];
}

// A later start on the same data folder and database finds the project and queues nothing.
async function secondStartQueuesNothing(dataDir, env) {
  const server = await startServer({ dataDir, env });
  try {
    for (let i = 0; i < 100 && !/serving on/.test(server.log); i++) await sleep(50);
    assert.doesNotMatch(server.log, /building the demo world/);
    const jobs = await demoJobs(server);
    assert.equal(jobs.length, 1);
  } finally {
    await server.stop();
  }
}

// What the job made, at any world size: `counts` scenes per split.
async function checkBuilt(server, res, counts) {
  const [train, val, testN, shifted] = counts;
  const total = train + val + testN + shifted;
  assert.equal(res.report.scale, 'small');
  assert.deepEqual(res.report.scenes, { train, val, test: testN, shifted });
  // The concept model plays CLIP: it trains on other items than the teacher's.
  assert.deepEqual(res.report.concept_training, { scenes: train, first_scene: train, main_items_shared_with_teacher: 0 });

  // The dataset went through the normal import: 4 splits with the expected counts.
  const ds = await call(server, 'GET', `/api/v1/datasets/${res.dataset_id}`);
  assert.equal(ds.status, 200, ds.text);
  assert.equal(ds.json.name, 'demo');
  assert.deepEqual(ds.json.splits, { shifted, test: testN, train, val });
  assert.equal(ds.json.classes.length, 10);

  // Both models registered like any user model, and the teacher ran over the dataset.
  const tm = await call(server, 'GET', `/api/v1/models/${res.teacher_model_id}`);
  assert.equal(tm.status, 200, tm.text);
  assert.equal(tm.json.name, 'demo-teacher');
  assert.equal(tm.json.kind, 'teacher');
  const cm = await call(server, 'GET', `/api/v1/models/${res.concept_model_id}`);
  assert.equal(cm.json.name, 'demo-concepts');
  assert.equal(cm.json.kind, 'concept');
  assert.equal(cm.json.encoder, 'dense');
  const to = await call(server, 'GET', `/api/v1/teacher-outputs/${res.teacher_output_id}`);
  assert.equal(to.status, 200, to.text);
  assert.equal(to.json.n, total);

  const corpus = await call(server, 'GET', `/api/v1/corpora/${res.corpus_id}`);
  assert.equal(corpus.status, 200, corpus.text);
  assert.equal(corpus.json.name, 'demo');

  // The project lists its parts and their readiness.
  const list = await call(server, 'GET', '/api/v1/projects');
  assert.equal(list.status, 200, list.text);
  const demo = list.json.items.find((p) => p.name === 'demo');
  assert.ok(demo, list.text);
  assert.equal(demo.id, res.project_id);
  assert.equal(demo.is_demo, true);
  assert.equal(demo.parts.dataset.name, 'demo');
  assert.equal(demo.parts.dataset.image_count, total);
  assert.equal(demo.parts.teacher_model.name, 'demo-teacher');
  assert.equal(demo.parts.concept_model.name, 'demo-concepts');
  assert.equal(demo.parts.teacher_output.ready, true);
  assert.equal(demo.parts.corpus.ready, true);
  assert.ok(demo.parts.extraction.id > 0, 'the concept extraction was queued');

  // The corpus names attributes, colours, backgrounds and size, not the classes.
  for (const w of ['collar', 'sleeves', 'sole', 'red', 'grass', 'small']) assert.ok(corpus.json.words.includes(w), w);
  for (const w of ['tshirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'boot', 'on'])
    assert.ok(!corpus.json.words.includes(w), `class word '${w}' in the demo corpus`);
}

test('the first start builds the demo world and project through the job; a later start reuses it', { timeout: BUILD_MS + 120000 }, async () => {
  const dataDir = relativeDataDir();
  const db = freshDatabase('_demobuild');
  const env = { DATABASE_URL: db.url, INFICOND_DEMO: 'small',
                INFICOND_DEMO_COUNTS: SMALLER.counts.join(','), INFICOND_DEMO_TRAIN: SMALLER.train };
  try {
    const server = await startServer({ dataDir, env });
    try {
      const queued = await firstStartJob(server);
      // Follow by long-poll: progress never goes back and passes through the stages.
      const t0 = Date.now();
      let seq = 0, last = 0, job;
      const seen = new Set();
      for (;;) {
        const r = await call(server, 'GET', `/api/v1/jobs/${queued.id}?wait=10&after=${seq}`);
        assert.equal(r.status, 200, r.text);
        job = r.json;
        seq = job.seq;
        assert.ok(job.progress >= last - 1e-6, `progress went back: ${last} -> ${job.progress} (${job.message})`);
        last = job.progress;
        seen.add(Math.floor(job.progress * 10));
        if (['succeeded', 'failed', 'cancelled'].includes(job.state)) break;
        assert.ok(Date.now() - t0 < BUILD_MS, `demo.build still ${job.state} at ${job.progress}: ${job.message}`);
      }
      const seconds = (Date.now() - t0) / 1000;
      console.log(`demo.build (small, counts ${SMALLER.counts}) took ${seconds.toFixed(1)} s; progress seen in tenths ${[...seen].sort()}`);
      assert.equal(job.state, 'succeeded', job.error);
      assert.ok(seen.size >= 5, `progress seen at ${[...seen]}`);
      assert.ok(!job.result.reused.includes('world'), job.result.reused.join());
      await checkBuilt(server, job.result, SMALLER.counts);
    } finally {
      await server.stop();
    }
    await secondStartQueuesNothing(dataDir, env);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    db.drop();
  }
});

test('with the small world made, the first start makes the demo project from it: quality, filter, story, projects', { timeout: BUILD_MS + 120000 }, async () => {
  const world = await demoWorld();
  const dataDir = relativeDataDir();
  cpSync(world, join(dataDir, 'demo-small-1'), { recursive: true });
  const db = freshDatabase('_demoworld');
  const env = { DATABASE_URL: db.url, INFICOND_DEMO: 'small' };
  try {
    const server = await startServer({ dataDir, env });
    try {
      const queued = await firstStartJob(server);
      const job = await waitJob(server, queued.id, undefined, BUILD_MS);
      assert.equal(job.state, 'succeeded', job.error);
      assert.ok(job.result.reused.includes('world'), job.result.reused.join());
      const res = job.result;
      await checkBuilt(server, res, [2000, 400, 400, 400]);
      const rep = res.report;
      assert.ok(rep.teacher.test > 0.4, `teacher test accuracy ${rep.teacher.test}`);
      assert.ok(rep.concepts.mean_auc > 0.7, `concept mean AUC ${rep.concepts.mean_auc}`);

      await testClassNameFilter(server, res);
      await testStory(server, queued.id);
      await testProjectsApi(server, res);
    } finally {
      await server.stop();
    }
    await secondStartQueuesNothing(dataDir, env);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    db.drop();
  }
});

// A corpus made for the demo project drops "shirt" (the model reads it: cosine 1) and
// "a shirt" (it cannot read "a": by name) and keeps "collar"; tau is the caller's.
async function testClassNameFilter(server, res) {
  const words = ['shirt', 'a shirt', 'collar'];
  let r = await call(server, 'POST', '/api/v1/corpora', { body: { name: uniq('cf'), words, class_filter: { project_id: res.project_id } } });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.json.words, ['collar'], JSON.stringify(r.json.class_filter));
  const cf = r.json.class_filter;
  assert.equal(cf.tau, 0.85);
  assert.equal(cf.concept_model_id, res.concept_model_id);
  assert.ok(cf.classes.includes('shirt') && cf.classes.includes('ankle boot'), cf.classes.join());
  const shirt = cf.dropped.find((d) => d.word === 'shirt');
  assert.ok(Math.abs(shirt.cosine - 1) < 1e-4, JSON.stringify(shirt));
  assert.equal(cf.dropped.find((d) => d.word === 'a shirt').by, 'name');
  // tau -1: "collar" falls too, by embedding, and nothing is left.
  r = await call(server, 'POST', '/api/v1/corpora', { body: { name: uniq('cf'), words, class_filter: { project_id: res.project_id, tau: -1 } } });
  assert.equal(r.status, 422, r.text);
  assert.match(r.json.error.message, /every word/);
}

// The demo.story job (serve's first start does not queue it: the demo project opens
// with no student; `inficond demo` queues it as this does): the report's selection,
// student and product-presence fields.
async function testStory(server, buildJobId) {
  const q = await call(server, 'POST', '/api/v1/jobs', { body: { kind: 'demo.story', params: { build_job_id: buildJobId } } });
  assert.equal(q.status, 201, q.text);
  const job = await waitJob(server, q.json.id, undefined, 300000);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  const rep = job.result.report;
  assert.equal(rep.selection, 'val');
  assert.equal(rep.selection_scope.chosen_on_val[0], 'student lambda');
  assert.ok(rep.selection_scope.chosen_on_val.some((k) => /concept model/.test(k)));
  assert.ok(rep.selection_scope.fixed_before.length > 0);
  const st = rep.student;
  for (const k of ['test_fidelity', 'shifted_accuracy', 'tuned_test_accuracy', 'tuned_shifted_accuracy', 'val_fidelity', 'tuned_val_accuracy'])
    assert.ok(st[k] >= 0 && st[k] <= 1, `${k}: ${st[k]}`);
  assert.ok(st.test_fidelity > 0.3, `student test fidelity ${st.test_fidelity}`);
  assert.equal(Object.keys(st.val_fidelity_by_lambda).length, 3);
  assert.ok(Object.values(st.val_fidelity_by_lambda).every((v) => v <= st.val_fidelity + 1e-9));
  for (const split of ['val', 'test']) {
    const p = rep.concepts_product[split];
    assert.ok(p.per_word.collar > 0 && p.per_word.grass > 0.9, JSON.stringify(p.per_word));
    assert.equal(p.per_word.shirt, undefined); // not in the corpus
  }
  // The tuned version is the student's head, made by the product's tune.
  const v = await call(server, 'GET', `/api/v1/students/${st.student_id}`);
  assert.equal(v.status, 200, v.text);
  assert.equal(v.json.head.number, st.tuned_version);
  assert.match(v.json.head.note, /background/);
  assert.equal(v.json.lambda, st.lambda);
}

async function testProjectsApi(server, res) {
  // Missing parts are named together; wrong kinds and unknown ids are 422 too.
  let r = await call(server, 'POST', '/api/v1/projects', { body: { name: 'p1', dataset_id: res.dataset_id } });
  assert.equal(r.status, 422);
  assert.equal(errorCode(r), 'unprocessable');
  assert.match(r.json.error.message, /teacher_model_id.*concept_model_id.*corpus_id/);
  r = await call(server, 'POST', '/api/v1/projects', {
    body: { name: 'p1', dataset_id: 999999, teacher_model_id: res.concept_model_id,
            concept_model_id: res.teacher_model_id, corpus_id: res.corpus_id },
  });
  assert.equal(r.status, 422);
  assert.match(r.json.error.message, /no dataset 999999/);
  assert.match(r.json.error.message, /teacher_model_id.*not a teacher/);
  assert.match(r.json.error.message, /concept_model_id.*not a concept model/);

  const body = { name: 'p1', dataset_id: res.dataset_id, teacher_model_id: res.teacher_model_id,
                 concept_model_id: res.concept_model_id, corpus_id: res.corpus_id };
  r = await call(server, 'POST', '/api/v1/projects', { body });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.headers.get('location'), `/api/v1/projects/${r.json.id}`);
  assert.equal(r.json.is_demo, false);
  assert.equal(r.json.parts.teacher_output.id, res.teacher_output_id);
  const id = r.json.id;
  r = await call(server, 'POST', '/api/v1/projects', { body });
  assert.equal(r.status, 409);
  r = await call(server, 'GET', `/api/v1/projects/${id}`);
  assert.equal(r.status, 200);
  assert.equal(r.json.name, 'p1');
  r = await call(server, 'GET', '/api/v1/projects', { token: null });
  assert.equal(r.status, 401);
  r = await call(server, 'DELETE', `/api/v1/projects/${id}`);
  assert.equal(r.status, 204);
  r = await call(server, 'GET', `/api/v1/projects/${id}`);
  assert.equal(r.status, 404);
  r = await call(server, 'DELETE', `/api/v1/projects/${id}`);
  assert.equal(r.status, 404);
}
