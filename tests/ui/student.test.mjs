// student.test.mjs — the student views end to end in chromium against a real
// inficond: a tiny pipeline built through the API (a dataset uploaded as a tar of
// the fixture JPEGs, a teacher from `inficond teacher-init` run over it, the tiny
// OpenAI-style CLIP fixture with a corpus and an extraction, a project); then in the
// page: distil from the Student performance view (progress to 100%), per-class bars
// and the confusion matrix (a cell selects its subset), the concept × class heat map
// (C x d cells; a cell selects class and concept), a tune made through the API shows
// up in Provenance with its change on each split after the app's refresh
// (reloadStudent), restoring version 1 makes a new head, the export button downloads
// the JSON, a 409 on restore
// (stale student) is explained with a "Reload the head" button; no console errors
// or failed requests but that one.
//
// Env: INFICOND_TEST_DATABASE_URL (required), INFICOND_BIN (default
// build/asan/inficond), INFICOND_CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, call } from '../api/harness.mjs';
import { sql } from '../api/pgtools.mjs';
import { noBrowser, launchBrowser, openPage as open, shot as screenshot, param, signIn } from './browser.mjs';
import { SERVER_ENV, NO_CLIP, uniq, buildParts, runTeacherAndExtraction, createProject } from './pipeline.mjs';

const skip = noBrowser || NO_CLIP;
const WORDS = ['red', 'green', 'blue', 'stripes', 'grass', 'water', 'sand', 'brick', 'redwood'];
const JOB_MS = 90000;

let server;
let browser;
let work;
const world = {};

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'inficond-uistu-'));
  server = await startServer({ env: SERVER_ENV });
  Object.assign(world, await buildParts(server, work, { dataset: 'uistu', corpus: 'colours', words: WORDS, ms: JOB_MS }));
  await runTeacherAndExtraction(server, world, JOB_MS);
  world.project = await createProject(server, world, uniq('stuproj'));
  assert.equal(world.project.ready, true, JSON.stringify(world.project));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const openPage = () => open(browser, { viewport: { width: 1440, height: 900 }, abortedIcon: true });

// Every view scrolled back to its top first, so the picture shows where each starts.
async function shot(page, name) {
  await page.evaluate(() => document.querySelectorAll('.view').forEach((v) => { v.scrollTop = 0; }));
  await screenshot(page, name);
}

test('student views: distil, bars, confusion, heat map, provenance, restore, export', { skip, timeout: 180000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page, server);
  const item = page.locator('#projects').getByRole('button', { name: new RegExp(`^${world.project.name}`) });
  await item.click();
  await page.waitForFunction(() => new URL(location.href).searchParams.get('project'));

  // No student yet: the performance view offers to distil one and follows the job.
  const perf = page.locator('#view-performance');
  await perf.getByText('This project has no student yet').waitFor();
  await shot(page, '30-student-none');
  await perf.getByRole('button', { name: 'Distil a student' }).click();
  const box = perf.locator('.run-job[data-state="succeeded"]');
  await box.waitFor({ timeout: 90000 });
  assert.equal(await box.locator('.progress').getAttribute('aria-valuenow'), '100');
  await perf.locator('.run-status', { hasText: 'Distillation finished.' }).waitFor();

  // Per-class bars and the confusion matrix (C x C buttons).
  const C = world.dataset.classes.length;
  await perf.locator('button.perf-row').nth(C - 1).waitFor();
  assert.deepEqual(await perf.locator('button.perf-row .perf-class').allTextContents(), world.dataset.classes);
  assert.match(await perf.locator('.perf-summary').textContent(), /version 1 \(head\), on the test split \(1 images\): fidelity/);
  assert.equal(await perf.locator('table.confusion button.cm-cell').count(), C * C);
  const [a, b] = world.dataset.classes;
  await perf.locator(`button.cm-cell[data-teacher="${a}"][data-student="${b}"]`).click();
  await page.waitForFunction(() => new URL(location.href).searchParams.get('subset'));
  assert.equal(await param(page, 'subset'), `teacher=${a},student=${b}`);
  assert.equal(await perf.locator(`button.cm-cell[data-teacher="${a}"][data-student="${b}"]`).getAttribute('aria-pressed'), 'true');
  await perf.locator('button.perf-row', { hasText: b }).click();
  await page.waitForFunction((cls) => new URL(location.href).searchParams.get('class') === cls, b);
  assert.equal(await param(page, 'subset'), null); // a new class clears the subset

  // Heat map: C x d cells; a cell selects its class and concept.
  const ov = page.locator('#view-overview');
  await ov.locator('rect.hm-cell').first().waitFor();
  assert.equal(await ov.locator('rect.hm-cell').count(), C * WORDS.length);
  const cell = ov.locator('rect.hm-cell').nth(3);
  const [cc, cw] = [await cell.getAttribute('data-class'), await cell.getAttribute('data-concept')];
  await cell.click();
  await page.waitForFunction(([k, w]) => {
    const q = new URL(location.href).searchParams;
    return q.get('class') === k && q.get('concept') === w;
  }, [cc, cw]);
  assert.equal(await ov.locator(`rect.hm-cell.selected[data-class="${cc}"][data-concept="${cw}"]`).count(), 1);
  // The keyboard moves the tab stop and selects.
  await cell.focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.waitForFunction((w) => new URL(location.href).searchParams.get('concept') !== w, cw);

  // Provenance: the distillation.
  const prov = page.locator('#view-provenance');
  await prov.locator('li.prov-item[data-version="1"]').waitFor();
  assert.match(await prov.locator('li.prov-item[data-version="1"] .prov-kind').textContent(), /distill/);
  await page.waitForTimeout(400);
  await shot(page, '31-student-distilled');

  // A tune through the API, then the refresh the app's tuning controls ask for.
  const st = (await call(server, 'GET', `/api/v1/students?dataset_id=${world.dataset.id}`)).json.items[0];
  const v1 = (await call(server, 'GET', `/api/v1/students/${st.id}/versions/1`)).json;
  let best = { k: 0, j: 0, w: 0 };
  v1.weights.forEach((row, k) => row.forEach((w, j) => { if (Math.abs(w) > Math.abs(best.w)) best = { k, j, w }; }));
  const tune = await call(server, 'POST', `/api/v1/students/${st.id}/versions`, {
    body: { parent: 1, actions: [{ action: 'downtune', concept: v1.concepts[best.j], class: v1.classes[best.k], factor: 2 }] },
  });
  assert.equal(tune.status, 201, tune.text);
  await page.evaluate(() => import('/sources/student.js').then((m) => m.reloadStudent()));
  const v2 = prov.locator('li.prov-item[data-version="2"]');
  await v2.waitFor();
  assert.match(await v2.locator('.prov-actions').textContent(), new RegExp(`downtune “${v1.concepts[best.j]}” for ${v1.classes[best.k]} ×2`));
  assert.match(await v2.locator('.prov-who').textContent(), /by admin/);
  // Its change in each of 3 measures on each split (train, test), side by side.
  assert.deepEqual(await v2.locator('table.prov-deltas thead th').allTextContents(), ['change', 'train', 'test']);
  const deltas = await v2.locator('table.prov-deltas td').allTextContents();
  assert.equal(deltas.length, 3 * 2, deltas.join(' | '));
  for (const t of deltas) assert.match(t, /^([▲▼] [+−]\d|±0)/);
  await perf.locator('.perf-summary', { hasText: 'version 2 (head)' }).waitFor();
  await ov.locator('.ov-caption', { hasText: 'Version 2 (head)' }).waitFor();

  // Show an older version: every student view follows.
  await prov.locator('li.prov-item[data-version="1"] .prov-show').click();
  await page.waitForFunction(() => new URL(location.href).searchParams.get('version') === '1');
  await perf.locator('.perf-summary', { hasText: 'version 1 of 2' }).waitFor();
  await ov.locator('.ov-caption', { hasText: 'Version 1 of 2' }).waitFor();

  // Export downloads the shown version's JSON.
  const [download] = await Promise.all([page.waitForEvent('download'),
    prov.getByRole('button', { name: 'Export version 1 as JSON' }).click()]);
  assert.equal(download.suggestedFilename(), `student-${st.id}-v1.json`);
  const saved = join(work, 'export.json');
  await download.saveAs(saved);
  const ex = JSON.parse(readFileSync(saved, 'utf8'));
  assert.equal(ex.format, 'inficond-student/1');
  assert.deepEqual(ex.weights, v1.weights);

  // Restore version 1: a new head appears, and the views go back to the head.
  await prov.locator('li.prov-item[data-version="1"] .prov-restore').click();
  const v3 = prov.locator('li.prov-item[data-version="3"]');
  await v3.waitFor();
  assert.match(await v3.locator('.prov-kind').textContent(), /restore/);
  assert.match(await v3.locator('.prov-actions').textContent(), /restored version 1/);
  await prov.locator('.prov-outcome', { hasText: 'Version 1 restored as version 3, with its ' }).waitFor();
  assert.equal(await param(page, 'version'), null);
  await perf.locator('.perf-summary', { hasText: 'version 3 (head)' }).waitFor();
  await page.waitForTimeout(400);
  await shot(page, '32-student-restored');

  // Another split: the measures follow the header's split picker.
  await page.locator('#split-select').selectOption('train');
  await perf.locator('.perf-summary', { hasText: 'on the train split (3 images)' }).waitFor();
  await page.waitForTimeout(400);
  await shot(page, '33-student-train-split');

  // A reload keeps the selection and shows the same head.
  await page.reload();
  await prov.locator('li.prov-item[data-version="3"].is-head').waitFor();

  // A conflict: the student's inputs changed under it (stale: it no longer names the
  // teacher output as it is, as after a recomputation), so a restore is refused with
  // 409; the view explains and offers to reload the head.
  sql(`UPDATE students SET probs_sha256 = repeat('0', 64) WHERE id = ${st.id}`);
  await prov.locator('li.prov-item[data-version="2"] .prov-restore').click();
  const notice = prov.locator('.prov-notice');
  await notice.waitFor();
  assert.match(await notice.textContent(), /refused: .*stale.*can no longer be restored/);
  await page.waitForTimeout(200);
  await shot(page, '34-student-conflict');
  await notice.getByRole('button', { name: 'Reload the head' }).click();
  await perf.locator('.perf-summary', { hasText: '(stale)' }).waitFor();
  // The page's idle-time reads of the other classes (and of the what-if rankings) may
  // meet the stale student before the page knows: refused the same way, and they stop
  // there.
  await close([/HTTP 409: POST .*\/versions\/2\/restore$/, /console error: .*status of 409/,
    /HTTP 409: GET .*\/versions\/3\/classes\/[^/]+\/influence\?split=train$/,
    /HTTP 409: GET .*\/versions\/3\/disagreements\?/, /HTTP 409: GET .*\/versions\/3\/whatif\/concepts\?/]);
});
