// config.test.mjs — the Projects panel and the Configuration view end to end in
// chromium against a real inficond: a small dataset uploaded as a tar of the
// fixture JPEGs, a teacher made by `inficond teacher-init` and registered, the
// tiny OpenAI-style CLIP fixture as concept model, a corpus, and a project over
// them made through the projects API. The page must list the project, show the
// dataset's classes, split sizes and loading thumbnails, run the teacher over the
// dataset to 100% and show its accuracy, search the corpus and run a concept
// extraction, with no console errors or failed requests.
//
// Env: INFICOND_TEST_DATABASE_URL (required), INFICOND_BIN (default
// build/asan/inficond), INFICOND_CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, call } from '../api/harness.mjs';
import { noBrowser, launchBrowser, openPage as open, shot, signIn, pickProject as pick } from './browser.mjs';
import { SERVER_ENV, NO_CLIP, uniq, must, uploadDataset, registerTeacher, registerClip, createProject } from './pipeline.mjs';

const skip = noBrowser || NO_CLIP;
const WORDS = ['red', 'green', 'blue', 'stripes', 'grass', 'water', 'sand', 'brick', 'redwood'];

let server;
let browser;
let work;
const world = {}; // dataset, teacher, concept, corpus, project

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'inficond-uicfg-'));
  server = await startServer({ env: SERVER_ENV });

  world.dataset = await uploadDataset(server, work, uniq('uicfg'));
  assert.deepEqual(world.dataset.splits, { train: 3, test: 1 });
  world.teacher = await registerTeacher(server, work, world.dataset);
  world.concept = await registerClip(server, work);
  world.corpus = await must(server, 'POST', '/api/v1/corpora', { name: uniq('colours'), words: WORDS }, 201);
  world.project = await createProject(server, world, uniq('proj'));

  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const openPage = () => open(browser, { abortedIcon: true, abortedJobs: true });

// Pick the project with the keyboard.
async function pickProject(page) {
  const item = await pick(page, world.project.name);
  assert.equal(await item.getAttribute('aria-current'), 'true');
}

test('projects panel: lists the projects, moves with the arrow keys, and a labelled form', { skip, timeout: 60000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page, server);
  const panel = page.locator('#projects');
  const items = panel.locator('.project-list:not(.dataset-list) button.project');
  await items.first().waitFor();
  assert.ok((await items.allTextContents()).some((t) => t.startsWith(world.project.name)));
  // Arrow keys move between the items.
  const n = await items.count();
  await items.first().focus();
  await page.keyboard.press('End');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.id), await items.nth(n - 1).getAttribute('data-id'));
  await page.keyboard.press('Home');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.id), await items.first().getAttribute('data-id'));
  // The New project form: every select is labelled and filled from the API.
  await panel.getByRole('button', { name: 'New project' }).click();
  assert.equal(await panel.getByRole('button', { name: 'New project' }).getAttribute('aria-expanded'), 'true');
  await page.locator('#np-dataset option', { hasText: world.dataset.name }).waitFor({ state: 'attached' });
  for (const label of ['Name', 'Dataset', 'Teacher model', 'Concept model', 'Concept corpus']) {
    assert.ok(await page.locator('#new-project-form').getByLabel(label, { exact: true }).isVisible(), label);
  }
  assert.match(await page.locator('#np-teacher').textContent(), new RegExp(world.teacher.name));
  await shot(page, '10-projects-panel');
  await close();
});

test('configuration: dataset classes, split sizes, thumbnails; teacher outputs run to 100% with accuracy', { skip, timeout: 120000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page, server);
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

test('configuration: corpus words are searchable and concept extraction runs as a job', { skip, timeout: 120000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page, server);
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
  await signIn(page, server, '/?project=dataset%3A99999999');
  const view = page.locator('#view-configuration');
  await view.locator('.config-status', { hasText: 'Dataset 99999999 does not exist' }).waitFor();
  assert.match(await view.textContent(), /This project cannot be shown/);
  await shot(page, '14-configuration-missing');
  // The dataset's 404 is the point of this test.
  await close([/HTTP 404: GET .*\/api\/v1\/datasets\/99999999$/, /console error: .*status of 404.*\/api\/v1\/datasets\/99999999\)$/]);
});
