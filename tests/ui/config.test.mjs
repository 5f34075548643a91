// config.test.mjs — the Projects panel and the Configuration view end to end in
// chromium against a real inficond: a small dataset uploaded as a tar of the
// fixture JPEGs, a teacher made by `inficond teacher-init` and registered, the
// tiny OpenAI-style CLIP fixture as concept model and a corpus. The page must show
// the dataset's classes, split sizes and loading thumbnails, run the teacher over
// the dataset to 100% and show its accuracy, search the corpus and run a concept
// extraction, with no console errors or failed requests.
//
// Deliberate 404s: until the projects API exists, GET /api/v1/projects[/{id}]
// answers 404 "no such route" and the page falls back to picking a dataset; those
// probes are allowed (and only those). When the route exists, the test creates a
// project through the API and picks it instead.
//
// Env: INFICOND_TEST_DATABASE_URL (required), INFICOND_BIN (default
// build/asan/inficond), INFICOND_CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, copyFileSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, call, ADMIN_TOKEN, waitJob } from '../api/harness.mjs';

const CHROMIUM = process.env.INFICOND_CHROMIUM || '/usr/bin/chromium';
const BIN = process.env.INFICOND_BIN || 'build/asan/inficond';
const ART = 'test-artifacts/ui';
const FIXTURES = resolve('tests/fixtures/images');
const CLIP = resolve('../shared/fixtures/clip_tiny_openai_style.pt');
const VOCAB = resolve('../shared/clip/bpe_simple_vocab_16e6.txt.gz');
const skip = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium)`;
const WORDS = ['red', 'green', 'blue', 'stripes', 'grass', 'water', 'sand', 'brick', 'redwood'];

let server;
let browser;
let work;
const world = {}; // dataset, teacher, concept, corpus, project (when the API has them)

const uniq = (p) => `${p}_${Math.random().toString(36).slice(2, 8)}`;

async function must(method, path, body, status) {
  const r = await call(server, method, path, body === undefined ? {} : { body });
  assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
  return r.json;
}

before(async () => {
  if (skip) return;
  mkdirSync(ART, { recursive: true });
  work = mkdtempSync(join(tmpdir(), 'inficond-uicfg-'));
  server = await startServer({ env: { INFICOND_WORKERS: '2', OMP_NUM_THREADS: '1' } });

  // Dataset: <split>/<class>/*.jpg from the four fixture JPEGs (distinct bytes).
  const tree = join(work, 'tree');
  const layout = [['train', 'plain', 'red.jpg'], ['train', 'plain', 'green.jpg'],
    ['train', 'striped', 'stripes.jpg'], ['test', 'plain', 'blue.jpg']];
  for (const [split, cls, file] of layout) {
    mkdirSync(join(tree, split, cls), { recursive: true });
    copyFileSync(join(FIXTURES, file), join(tree, split, cls, file));
  }
  const tar = join(work, 'images.tar');
  execFileSync('tar', ['-cf', tar, '-C', tree, 'train', 'test']);
  world.dataset = await must('POST', '/api/v1/datasets', { name: uniq('uicfg') }, 201);
  const up = await call(server, 'POST', `/api/v1/datasets/${world.dataset.id}/upload`,
    { raw: readFileSync(tar), headers: { 'Content-Type': 'application/x-tar' } });
  assert.equal(up.status, 202, up.text);
  const done = await waitJob(server, up.json.id);
  assert.equal(done.state, 'succeeded', JSON.stringify(done));
  world.dataset = await must('GET', `/api/v1/datasets/${world.dataset.id}`, undefined, 200);
  assert.deepEqual(world.dataset.splits, { train: 3, test: 1 });

  // Teacher: a random CNN over the dataset's classes, registered by path.
  const tdir = join(work, 'teacher');
  execFileSync(BIN, ['teacher-init', tdir, '--classes', world.dataset.classes.join(','), '--size', '64'],
    { env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
  world.teacher = await must('POST', '/api/v1/models', { name: uniq('teacher'), path: tdir }, 201);

  // Concept model: the tiny CLIP fixture (when the shared fixtures are there).
  if (existsSync(CLIP) && existsSync(VOCAB)) {
    const cdir = join(work, 'clip');
    mkdirSync(cdir);
    copyFileSync(CLIP, join(cdir, 'model.pt'));
    copyFileSync(VOCAB, join(cdir, 'bpe_simple_vocab_16e6.txt.gz'));
    writeFileSync(join(cdir, 'manifest.json'), JSON.stringify({
      format: 'inficond-model/1', kind: 'concept', encoder: 'global', file: 'model.pt',
      input: { channels: 3, height: 64, width: 64, mean: [0.4815, 0.4578, 0.4082], std: [0.2686, 0.2613, 0.2758] },
      methods: { image: 'encode_image', text: 'encode_text' },
      embedding_dim: 64,
      tokenizer: { type: 'clip-bpe', vocab: 'bpe_simple_vocab_16e6.txt.gz', context_length: 77 },
    }));
    world.concept = await must('POST', '/api/v1/models', { name: uniq('clip'), path: cdir }, 201);
  }
  // Corpus (the corpora API may not exist yet).
  const c = await call(server, 'POST', '/api/v1/corpora', { body: { name: uniq('colours'), words: WORDS } });
  if (c.status === 201) world.corpus = c.json;

  // A project, when the projects API exists.
  const probe = await call(server, 'GET', '/api/v1/projects');
  world.projectsApi = probe.status !== 404;
  if (world.projectsApi && world.concept && world.corpus) {
    world.project = await must('POST', '/api/v1/projects', {
      name: uniq('proj'), dataset_id: world.dataset.id, teacher_model_id: world.teacher.id,
      concept_model_id: world.concept.id, corpus_id: world.corpus.id,
    }, 201);
  }

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

// The deliberate probes: the projects API answering 404 "no such route".
const projectsProbe = (url, status) => status === 404 && /^\/api\/v1\/projects(\/|$)/.test(new URL(url).pathname);

async function openPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (/status of 404/.test(m.text()) && m.location()?.url && projectsProbe(m.location().url, 404)) return;
    problems.push(`console error: ${m.text()} (${m.location()?.url || ''})`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    const why = r.failure()?.errorText || '';
    const path = new URL(r.url()).pathname;
    // Any read the page had open when a test navigates (reload, goto) is cut off too.
    if (why === 'net::ERR_ABORTED' && (path.startsWith('/api/v1/jobs') || path === '/favicon.svg' ||
      (r.method() === 'GET' && path.startsWith('/api/v1/')))) return;
    problems.push(`request failed: ${r.method()} ${r.url()} ${why}`);
  });
  page.on('response', (r) => {
    if (r.request().method() === 'GET' && projectsProbe(r.url(), r.status())) return;
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  return {
    page,
    async close(allowed = []) {
      await context.close();
      const left = problems.filter((p) => !allowed.some((re) => re.test(p)));
      assert.deepEqual(left, [], `unexpected problems in the page:\n${left.join('\n')}`);
    },
  };
}

const shot = (page, name) => page.screenshot({ path: `${ART}/${name}.png` });

async function signIn(page, path = '/') {
  await page.goto(server.url + path);
  await page.getByLabel('API token').fill(ADMIN_TOKEN);
  await page.getByLabel('API token').press('Enter');
  await page.locator('#workspace').waitFor({ state: 'visible' });
}

// Pick the project (or, without the projects API, the dataset) with the keyboard.
async function pickProject(page) {
  const panel = page.locator('#projects');
  const name = world.project ? world.project.name : world.dataset.name;
  const item = panel.getByRole('button', { name: new RegExp(`^${name}`) });
  await item.waitFor();
  await item.focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('project'));
  assert.equal(await item.getAttribute('aria-current'), 'true');
}

test('projects panel: explains projects, offers datasets without the API, and a labelled form', { skip, timeout: 60000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page);
  const panel = page.locator('#projects');
  if (!world.projectsApi) {
    await panel.getByText('this server cannot list them').waitFor();
    assert.match(await panel.textContent(), /A project puts together a dataset, a teacher model/);
    const ds = panel.locator('.dataset-list button');
    await ds.first().waitFor();
    assert.ok((await ds.allTextContents()).some((t) => t.startsWith(world.dataset.name)));
    // Arrow keys move between the items.
    const n = await ds.count();
    await ds.first().focus();
    await page.keyboard.press('End');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.id), await ds.nth(n - 1).getAttribute('data-id'));
    await page.keyboard.press('Home');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.id), await ds.first().getAttribute('data-id'));
  } else {
    await panel.locator('.project-list button.project').first().waitFor();
  }
  // The New project form: every select is labelled and filled from the API.
  await panel.getByRole('button', { name: 'New project' }).click();
  assert.equal(await panel.getByRole('button', { name: 'New project' }).getAttribute('aria-expanded'), 'true');
  await page.locator('#np-dataset option', { hasText: world.dataset.name }).waitFor({ state: 'attached' });
  for (const label of ['Name', 'Dataset', 'Teacher model', 'Concept model', 'Concept corpus']) {
    assert.ok(await page.locator('#new-project-form').getByLabel(label, { exact: true }).isVisible(), label);
  }
  assert.match(await page.locator('#np-teacher').textContent(), new RegExp(world.teacher.name));
  if (!world.projectsApi) {
    assert.match(await page.locator('#new-project-form .form-note').textContent(), /cannot save projects yet/);
    assert.equal(await page.getByRole('button', { name: 'Create project' }).isDisabled(), true);
  }
  await shot(page, '10-projects-panel');
  await close();
});

test('configuration: dataset classes, split sizes, thumbnails; teacher outputs run to 100% with accuracy', { skip, timeout: 120000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page);
  await pickProject(page);
  const view = page.locator('#view-configuration');

  // Dataset: name, classes, split sizes (the chart's words), thumbnails that load.
  await view.locator('.cfg-dataset .cfg-name', { hasText: world.dataset.name }).waitFor();
  const classes = await view.locator('.class-list li').allTextContents();
  assert.deepEqual(classes, world.dataset.classes);
  const chart = view.getByRole('img', { name: /Images per split/ });
  assert.match(await chart.getAttribute('aria-label'), /train 3, test 1/);
  assert.deepEqual(await view.locator('.split-chart .bar-value').allTextContents(), ['3', '1']);
  const thumbs = view.locator('.thumbs img');
  await page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll('#view-configuration .thumbs img')];
    return imgs.length === 4 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, null, { timeout: 15000 });
  const alts = (await thumbs.evaluateAll((imgs) => imgs.map((i) => i.alt))).sort();
  assert.deepEqual(alts, ['plain, test', 'plain, train', 'plain, train', 'striped, train']);
  await shot(page, '11-configuration-dataset');

  // Teacher: not run yet; the editor's button runs it and follows the job.
  await view.locator('.cfg-teacher .cfg-name', { hasText: world.teacher.name }).waitFor();
  if (world.project === undefined) assert.equal(await page.getByLabel('Teacher model', { exact: true }).inputValue(), String(world.teacher.id));
  await view.getByText('has not been run over this dataset yet').waitFor();
  await page.evaluate(() => {
    window.__seen = [];
    new MutationObserver(() => {
      const bar = document.querySelector('.cfg-teacher .run-job .progress');
      if (bar) window.__seen.push(Number(bar.getAttribute('aria-valuenow')));
    }).observe(document.querySelector('.cfg-teacher'), { subtree: true, attributes: true, childList: true });
  });
  const run = view.getByRole('button', { name: 'Run teacher outputs' });
  await run.focus();
  await page.keyboard.press('Enter');
  const box = view.locator('.cfg-teacher .run-job[data-state="succeeded"]');
  await box.waitFor({ timeout: 60000 });
  assert.equal(await box.locator('.progress').getAttribute('aria-valuenow'), '100');
  assert.equal(await box.locator('.job-pct').textContent(), '100%');
  const seen = await page.evaluate(() => window.__seen);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1], `progress went back: ${seen}`);
  await view.locator('.cfg-teacher .run-status', { hasText: 'Teacher outputs finished.' }).waitFor();
  // The accuracy per split appears (a chart whose label has the numbers).
  const acc = view.getByRole('img', { name: /Teacher accuracy per split/ });
  await acc.waitFor();
  assert.match(await acc.getAttribute('aria-label'), /: train \d+\.\d% of 3, test \d+\.\d% of 1$/);
  const out = await call(server, 'GET', `/api/v1/datasets/${world.dataset.id}/teacher-outputs`);
  assert.equal(out.json.items.filter((o) => o.model_id === world.teacher.id).length, 1);
  // The Jobs panel got the job too.
  await page.locator('li.job[data-state="succeeded"] .job-kind', { hasText: 'teacher.outputs' }).first().waitFor();
  await page.waitForTimeout(400); // let the bars' width transition end before the picture
  await shot(page, '12-configuration-teacher-done');
  await close();
});

test('configuration: corpus words are searchable and concept extraction runs as a job', { skip, timeout: 120000 }, async (t) => {
  if (!world.concept || !world.corpus) { t.skip('no concept model fixture or no corpora API'); return; }
  const { page, close } = await openPage();
  await signIn(page);
  await pickProject(page);
  const view = page.locator('#view-configuration');
  await view.locator('.cfg-corpus-name', { hasText: world.corpus.name }).waitFor();
  assert.match(await view.locator('.cfg-concept-name').textContent(), new RegExp(world.concept.name));
  assert.equal(await view.locator('.word-list li').count(), WORDS.length);
  await view.getByLabel('Search the corpus words').fill('red');
  await view.locator('#cfg-word-count', { hasText: `2 of ${WORDS.length} words match` }).waitFor();
  assert.deepEqual((await view.locator('.word-list li').allTextContents()).sort(), ['red', 'redwood']);
  await view.getByRole('button', { name: 'Run concept extraction' }).click();
  const box = view.locator('.cfg-concepts .run-job:is([data-state="succeeded"], [data-state="failed"])');
  await box.waitFor({ timeout: 90000 });
  const state = await box.getAttribute('data-state');
  const text = await view.locator('.cfg-concepts .run-status').textContent();
  await page.waitForTimeout(400);
  await shot(page, '13-configuration-extraction');
  assert.equal(state, 'succeeded', `extraction ended ${state}: ${text}`);
  await view.locator('.cfg-concepts .cfg-note', { hasText: /Concepts extracted for 4 images/ }).waitFor();
  await close();
});

test('configuration: an unknown project says so, and nothing is fetched before sign-in', { skip, timeout: 60000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page, '/?project=dataset%3A99999999');
  const view = page.locator('#view-configuration');
  await view.locator('.config-status', { hasText: 'Dataset 99999999 does not exist' }).waitFor();
  assert.match(await view.textContent(), /This project cannot be shown/);
  await shot(page, '14-configuration-missing');
  // The dataset's 404 is the point of this test.
  await close([/HTTP 404: GET .*\/api\/v1\/datasets\/99999999$/, /console error: .*status of 404.*\/api\/v1\/datasets\/99999999\)$/]);
});
