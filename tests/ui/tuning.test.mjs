// tuning.test.mjs — the Concepts and Instances views end to end in chromium against
// a real inficond: a tiny pipeline built through the API (the four fixture JPEGs as
// a dataset, a teacher from `inficond teacher-init`, the tiny OpenAI-style CLIP
// fixture as concept model, a corpus, teacher outputs, an extraction, a project and a
// distilled student). In the page: the influence bars of a class, a keyboard
// downtune (running state, a new head, changed bars), a 409 from a head someone else
// moved (explained, "Reload head" works), the instances with teacher/student answers
// and contributions, outlines on hover, a typed concept (422 message for one the
// model cannot read, then added as a new version: no "Distil again", the student
// never stale). Everything on the default split (test). No console errors or failed
// requests but the deliberate 409 and 422.
//
// Env: INFICOND_TEST_DATABASE_URL (required), INFICOND_BIN (default
// build/asan/inficond), INFICOND_CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as d3 from 'd3';
import { startServer, call } from '../api/harness.mjs';
import { noBrowser, launchBrowser, openPage as open, shot, signIn, pickProject } from './browser.mjs';
import { SERVER_ENV, NO_CLIP, uniq, must, succeeded, buildParts, runTeacherAndExtraction, createProject } from './pipeline.mjs';

const skip = noBrowser || NO_CLIP;
const WORDS = ['red', 'green', 'blue', 'stripes', 'grass', 'water', 'sand', 'brick'];

let server;
let browser;
let work;
const world = {};

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'inficond-uitune-'));
  server = await startServer({ env: SERVER_ENV });
  Object.assign(world, await buildParts(server, work, { dataset: 'uitune', corpus: 'words', words: WORDS }));
  const { outputs } = await runTeacherAndExtraction(server, world);
  world.teacherOutput = outputs.result?.teacher_output_id;
  world.project = await createProject(server, world, uniq('tune'));
  const parts = world.project.parts;
  assert.ok(parts.teacher_output?.id && parts.extraction?.id, JSON.stringify(parts));
  world.extraction = parts.extraction.id;
  const st = await must(server, 'POST', '/api/v1/students',
    { extraction_id: parts.extraction.id, teacher_output_id: parts.teacher_output.id }, 202);
  world.student = (await succeeded(server, st.id)).result.student_id;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const openPage = () => open(browser, { viewport: { width: 1440, height: 900 } });
const head = async () => (await call(server, 'GET', `/api/v1/students/${world.student}`)).json.head.number;
const values = (view) => view.locator('.inf-row .inf-value').allTextContents();
// A version's ranking of class plain on the test split, as the page writes its values.
const apiValues = async (v) => {
  const inf = (await call(server, 'GET', `/api/v1/students/${world.student}/versions/${v}/classes/plain/influence?split=test`)).json;
  return [...inf.items].sort((a, b) => b.influence - a.influence).map((d) => d3.format('+.3~g')(d.influence));
};

test('concepts: influence bars, keyboard downtune, 409 explained with reload, instances, a typed concept', { skip, timeout: 240000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page, server);
  await pickProject(page, world.project.name);
  const view = page.locator('#view-concepts');
  await view.getByLabel('Class', { exact: true }).waitFor();
  await view.getByLabel('Class', { exact: true }).selectOption('plain');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('class') === 'plain');
  const rows = view.locator('.inf-row');
  await rows.first().waitFor();
  assert.equal(await rows.count(), WORDS.length);
  const before1 = await values(view);
  assert.deepEqual(before1, await apiValues(1));
  // Searchable.
  await view.getByLabel('Search', { exact: true }).fill('re');
  await view.locator('#concepts-count', { hasText: /of 8 concepts match/ }).waitFor();
  assert.deepEqual((await view.locator('.inf-row .concept-name').allTextContents()).sort(), ['green', 'red']);
  await view.getByLabel('Search', { exact: true }).fill('');
  await view.locator('#concepts-count', { hasText: /^8 concepts/ }).waitFor();
  await shot(page, '30-concepts-influence');

  // Downtune the most influential concept with the keyboard; watch for the running state.
  const inf = (await call(server, 'GET', `/api/v1/students/${world.student}/versions/1/classes/plain/influence`)).json;
  const top = [...inf.items].sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight))[0];
  assert.notEqual(top.weight, 0, JSON.stringify(inf));
  await page.evaluate(() => {
    window.__busy = false;
    new MutationObserver(() => {
      if (document.querySelector('#view-concepts .tune[aria-busy="true"]')) window.__busy = true;
    }).observe(document.querySelector('#view-concepts'), { subtree: true, attributes: true, childList: true });
  });
  const down = view.getByRole('button', { name: `Downtune ${top.concept} for plain by ×2` });
  await down.focus();
  await page.keyboard.press('Enter');
  await view.locator('.tuning-status', { hasText: 'Version 2 is the new head' }).waitFor();
  assert.equal(await page.evaluate(() => window.__busy), true, 'the control never showed it was running');
  assert.equal(await head(), 2);
  await view.locator('.tuning-caption', { hasText: 'version 2 (head)' }).waitFor();
  // The bars are version 2's (on the test split: they differ from version 1's when
  // the teacher puts a test image in plain).
  await page.waitForFunction((want) => {
    const now = [...document.querySelectorAll('#view-concepts .inf-row .inf-value')].map((e) => e.textContent);
    return now.join() === want.join();
  }, await apiValues(2));
  await shot(page, '31-concepts-downtuned');

  // Someone else tunes head 2 first; the page's tune on 2 is a 409, explained.
  const other = await call(server, 'POST', `/api/v1/students/${world.student}/versions`,
    { body: { parent: 2, actions: [{ action: 'uptune', concept: WORDS[1], class: 'striped', factor: 2 }] } });
  assert.equal(other.status, 201, other.text);
  await view.getByRole('button', { name: `Uptune ${WORDS[0]} for plain by ×2` }).click();
  const conflict = view.locator('.tuning-conflict');
  await conflict.waitFor({ state: 'visible' });
  assert.match(await conflict.textContent(), /Someone else changed this student.*version 3, not 2/);
  await shot(page, '32-concepts-conflict');
  assert.equal(await head(), 3);
  await conflict.getByRole('button', { name: 'Reload head' }).click();
  await conflict.waitFor({ state: 'hidden' });
  await view.locator('.tuning-caption', { hasText: 'version 3 (head)' }).waitFor();
  // Tuning works again on the reloaded head.
  await view.getByRole('button', { name: `Uptune ${WORDS[0]} for plain by ×2` }).click();
  await view.locator('.tuning-status', { hasText: 'Version 4 is the new head' }).waitFor();
  assert.equal(await head(), 4);

  // Instances: the class's thumbnails on the test split (blue.jpg) with answers; a
  // click shows contributions.
  const inst = page.locator('#view-instances');
  const thumbs = inst.locator('li.thumb');
  await page.waitForFunction(() => {
    const t = [...document.querySelectorAll('#view-instances li.thumb')];
    return t.length === 1 && t.every((li) => /T: \S+/.test(li.textContent) && /S: \S+/.test(li.textContent) &&
      li.querySelector('img').complete && li.querySelector('img').naturalWidth > 0);
  });
  assert.match(await thumbs.first().getByRole('button').getAttribute('aria-label'), /teacher says \w+, student says \w+/);
  await thumbs.first().getByRole('button').focus();
  await page.keyboard.press('Enter');
  const contrib = inst.locator('.contrib');
  await contrib.locator('.contrib-list li, .contrib-note:text-matches("No concept contributes")').first().waitFor();
  assert.match(await contrib.locator('h3').textContent(), /why the student says/);
  // Hovering a concept outlines the segments nearest to it.
  const imgId = Number((await thumbs.first().getByRole('button').getAttribute('aria-label')).match(/Image (\d+)/)[1]);
  const seg = (await call(server, 'GET', `/api/v1/extractions/${world.extraction}/images/${imgId}/segments`)).json;
  const word = seg.segments.find((s) => s.box || s.mask)?.nearest?.word;
  assert.ok(word, JSON.stringify(seg).slice(0, 300));
  await view.locator(`.inf-row[data-concept="${word}"] .concept-name`).hover();
  await thumbs.first().locator('svg.thumb-outline :is(rect, path)').first().waitFor({ state: 'attached' });
  await inst.locator('.tuning-status', { hasText: `segments nearest to “${word}”` }).waitFor();
  await shot(page, '33-instances-contributions-outline');
  await page.mouse.move(5, 5);

  // A typed concept: one the model cannot read is a 422 shown as such; a readable one
  // is a new version with it as a concept (the student never goes stale).
  const box = view.getByLabel('New concept');
  await box.fill('1'.repeat(90));
  await box.press('Enter');
  await view.locator('.add-msg[data-kind="error"]', { hasText: /^Not added: / }).waitFor();
  await shot(page, '34-concepts-add-422');
  // CLIP reads any text: the hint says so instead of listing words.
  await box.fill('yel');
  await view.locator('.add-hint', { hasText: 'reads any text' }).waitFor();
  const headBefore = (await call(server, 'GET', `/api/v1/students/${world.student}`)).json.head.number;
  await box.fill('yellow');
  await box.press('Enter');
  await view.locator('.tuning-status[data-kind="ok"]', { hasText: `Version ${headBefore + 1} is the new head: added “yellow”` }).waitFor();
  await view.locator('.inf-row[data-concept="yellow"]').waitFor();
  assert.equal(await rows.count(), WORDS.length + 1);
  const st = (await call(server, 'GET', `/api/v1/students/${world.student}`)).json;
  assert.equal(st.stale, false);
  assert.ok(st.head.concepts.includes('yellow'));
  assert.equal(await view.locator('.tuning-stale').isVisible(), false);
  assert.equal(await box.inputValue(), '');
  await page.waitForTimeout(300);
  await shot(page, '35-concepts-added');
  await close([/HTTP 409: POST .*\/api\/v1\/students\/\d+\/versions$/, /HTTP 422: POST .*\/api\/v1\/students\/\d+\/versions$/,
    /console error: .*status of (409|422)/]);
});
