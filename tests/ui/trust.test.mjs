// trust.test.mjs — issue 16's page in chromium against a real inficond, on a tiny
// pipeline built through the API whose dataset has a val split (the four fixture
// JPEGs: train plain + striped, val plain, test plain), a distilled student and one
// tune made through the API:
//   - one split everywhere: the header offers the data's splits (val included); the
//     Concepts ranking and the Instances gallery (class and concept) follow it;
//   - provenance: each entry's change on every split side by side, per class on
//     demand, the shown split marked; a distillation shows its measures;
//   - notices that no longer hold go: "Version N is the new head" and a 409 conflict
//     after a later head; a restore from a page that missed a head is refused (409,
//     explained) like a tune; the restore's outcome after the next tune;
//   - the disagreement flags mark only the classes standout.js picks;
//   - the confusion matrix fits its panel at 10 and at 20 classes (1280x800);
//   - Try an image: a dataset JPEG gives the API's class, scores and top concepts,
//     with their segments outlined;
//   - the export buttons download the version as JSON and as TorchScript.
// No console errors or failed requests but the deliberate 409.
//
// Env: INFICOND_TEST_DATABASE_URL (required), INFICOND_BIN (default
// build/asan/inficond), INFICOND_CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, call } from '../api/harness.mjs';
import { IMAGES } from '../api/fixtures.mjs';
import { noBrowser, launchBrowser, openPage as open, shot, signIn, pickProject } from './browser.mjs';
import { SERVER_ENV, NO_CLIP, uniq, must, succeeded, buildParts, runTeacherAndExtraction, createProject } from './pipeline.mjs';
import { formatDelta, formatValue } from '../../static/deltas.js';
import { standsOut } from '../../static/standout.js';

const skip = noBrowser || NO_CLIP;
const WORDS = ['red', 'green', 'blue', 'stripes', 'grass', 'water', 'sand', 'brick'];
const LAYOUT = { 'train/plain': ['red.jpg'], 'train/striped': ['stripes.jpg'], 'val/plain': ['green.jpg'], 'test/plain': ['blue.jpg'] };

let server;
let browser;
let work;
const world = {};

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'inficond-uitrust-'));
  server = await startServer({ env: SERVER_ENV });
  Object.assign(world, await buildParts(server, work, { dataset: 'uitrust', corpus: 'words', words: WORDS, layout: LAYOUT }));
  await runTeacherAndExtraction(server, world);
  world.project = await createProject(server, world, uniq('trust'));
  const parts = world.project.parts;
  world.extraction = parts.extraction.id;
  const st = await must(server, 'POST', '/api/v1/students',
    { extraction_id: parts.extraction.id, teacher_output_id: parts.teacher_output.id }, 202);
  world.student = (await succeeded(server, st.id)).result.student_id;
  // Version 2, so that provenance has a change to show.
  await tuneByApi(1, 'downtune');
  // The dataset's images per split and label: {split: {class: [id]}}.
  world.ids = {};
  const page = await must(server, 'GET', `/api/v1/datasets/${world.dataset.id}/images?limit=100`, undefined, 200);
  for (const im of page.items) {
    const cls = im.class;
    ((world.ids[im.split] ||= {})[cls] ||= []).push(im.id);
  }
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

// A tune through the API on `parent`: the largest weight of class plain, ×2.
async function tuneByApi(parent, action) {
  const v = await must(server, 'GET', `/api/v1/students/${world.student}/versions/${parent}`, undefined, 200);
  const k = v.classes.indexOf('plain');
  let j = 0;
  v.weights[k].forEach((w, i) => { if (Math.abs(w) > Math.abs(v.weights[k][j])) j = i; });
  return must(server, 'POST', `/api/v1/students/${world.student}/versions`,
    { parent, actions: [{ action, concept: v.concepts[j], class: 'plain', factor: 2 }] }, 201);
}

const openPage = () => open(browser, { viewport: { width: 1280, height: 800 }, abortedIcon: true });
const head = async () => (await call(server, 'GET', `/api/v1/students/${world.student}`)).json.head.number;
const shownIds = (view) => view.locator('li.thumb .thumb-button').evaluateAll((els) =>
  els.map((b) => Number(/Image (\d+)/.exec(b.getAttribute('aria-label'))[1])).sort((a, b) => a - b));
const influence = async (v, split) => (await call(server, 'GET',
  `/api/v1/students/${world.student}/versions/${v}/classes/plain/influence?split=${split}`)).json;
const ranked = (inf) => [...inf.items].sort((a, b) => b.influence - a.influence).map((d) => d.concept);

test('one split everywhere: Concepts and Instances follow the header, val offered', { skip, timeout: 120000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page, server);
  await pickProject(page, world.project.name);
  const concepts = page.locator('#view-concepts');
  const inst = page.locator('#view-instances');
  await concepts.getByLabel('Class', { exact: true }).selectOption('plain');
  // The picker offers the data's splits, val included; test is the default.
  await page.locator('#split-select option[value="val"]').waitFor({ state: 'attached' });
  assert.deepEqual(await page.locator('#split-select option').evaluateAll((o) => o.map((x) => x.value)), ['train', 'val', 'test']);
  assert.equal(await page.locator('#split-select').inputValue(), 'test');

  // Held-out test (default): the ranking and the images are the test split's.
  const h = await head();
  for (const [split, words] of [['test', 'held-out test'], ['val', 'validation'], ['train', 'training']]) {
    const inf = await influence(h, split);
    if (split !== 'test') {
      const asked = page.waitForRequest((r) => /\/classes\/plain\/influence\?/.test(r.url()) && new URL(r.url()).searchParams.get('split') === split);
      await page.locator('#split-select').selectOption(split);
      await asked;
    }
    const n = inf.n_images;
    await concepts.locator('.tuning-caption', { hasText: `${n} image${n === 1 ? '' : 's'} the teacher puts in plain on the ${words} split` }).waitFor();
    await page.waitForFunction((want) => [...document.querySelectorAll('#view-concepts .inf-row')].map((r) => r.dataset.concept).join() === want,
      ranked(inf).join());
    await inst.locator('.tuning-caption', { hasText: `Images labelled plain on the ${words} split` }).waitFor();
    const want = [...(world.ids[split].plain || [])].sort((a, b) => a - b);
    await page.waitForFunction((w) => [...document.querySelectorAll('#view-instances li.thumb .thumb-button')]
      .map((b) => Number(/Image (\d+)/.exec(b.getAttribute('aria-label'))[1])).sort((a, b) => a - b).join() === w, want.join());
    assert.deepEqual(await shownIds(inst), want);
  }
  await shot(page, '70-split-train');

  // A concept's gallery keeps the images of the split shown.
  const word = ranked(await influence(h, 'train'))[0];
  const gallery = (await call(server, 'GET', `/api/v1/extractions/${world.extraction}/concepts/${word}/gallery?limit=200`)).json.items.map((d) => d.image_id);
  assert.ok(gallery.length > 0, `a gallery for ${word}`);
  await concepts.locator(`.inf-row[data-concept="${word}"] .concept-name`).click();
  await inst.locator('.tuning-caption', { hasText: `Images where “${word}” is most present on the training split` }).waitFor();
  for (const split of ['train', 'val']) {
    if (split !== 'train') await page.locator('#split-select').selectOption(split);
    const inSplit = new Set(Object.values(world.ids[split]).flat());
    const want = gallery.filter((id) => inSplit.has(id)).sort((a, b) => a - b);
    if (want.length) {
      await page.waitForFunction((w) => [...document.querySelectorAll('#view-instances li.thumb .thumb-button')]
        .map((b) => Number(/Image (\d+)/.exec(b.getAttribute('aria-label'))[1])).sort((a, b) => a - b).join() === w, want.join());
    } else {
      await inst.locator('.tuning-status', { hasText: 'None of the images where' }).waitFor();
    }
    assert.deepEqual(await shownIds(inst), want, `${word} on ${split}`);
  }
  await close();
});

test('provenance: each change on every split side by side, per class on demand; flags; the matrix fits', { skip, timeout: 120000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page, server);
  await pickProject(page, world.project.name);
  const prov = page.locator('#view-provenance');
  const log = (await call(server, 'GET', `/api/v1/students/${world.student}/provenance`)).json.items;
  const v2 = log.find((it) => it.version === 2);
  const v1 = log.find((it) => it.version === 1);
  const e2 = prov.locator('li.prov-item[data-version="2"]');
  await e2.waitFor();
  assert.deepEqual(await e2.locator('table.prov-deltas thead th').allTextContents(), ['change', 'train', 'val', 'test']);
  for (const [key, pp, up] of [['fidelity', true, true], ['student_accuracy', true, true], ['disagreements', false, false]]) {
    const cells = await e2.locator(`table.prov-deltas tr[data-measure="${key}"] td`).allTextContents();
    assert.deepEqual(cells, ['train', 'val', 'test'].map((s) => formatDelta(v2.deltas.splits[s][key], { pp, up }).text), key);
  }
  // No coloured arrow on a change that rounds to zero.
  for (const td of await e2.locator('table.prov-deltas td').all()) {
    const [text, cls] = [await td.textContent(), await td.getAttribute('class')];
    assert.equal(/^[▲▼]/.test(text), /\b(better|worse)\b/.test(cls), `${text} ${cls}`);
  }
  // The shown split is marked, and moves with the header's picker.
  assert.equal(await e2.locator('table.prov-deltas thead th.is-split').textContent(), 'test');
  await page.locator('#split-select').selectOption('val');
  await e2.locator('table.prov-deltas thead th.is-split', { hasText: 'val' }).waitFor();
  // The distillation shows the measures it started from.
  const e1 = prov.locator('li.prov-item[data-version="1"]');
  assert.deepEqual(await e1.locator('table.prov-deltas tr[data-measure="fidelity"] td').allTextContents(),
    ['train', 'val', 'test'].map((s) => formatValue(v1.measures_after.splits[s].fidelity)));
  // Per class, on demand.
  assert.equal(await e2.locator('table.prov-classes').isHidden(), true);
  await e2.getByRole('button', { name: /per-class fidelity/ }).click();
  const per = e2.locator('table.prov-classes');
  await per.waitFor();
  const classes = world.dataset.classes;
  assert.deepEqual(await per.locator('tbody th').allTextContents(), classes);
  for (const [k, c] of classes.entries()) {
    assert.deepEqual(await per.locator(`tr[data-class="${c}"] td`).allTextContents(),
      ['train', 'val', 'test'].map((s) => formatDelta(v2.deltas.splits[s].classes[k].fidelity).text), c);
  }
  await shot(page, '71-provenance-per-class');

  // Flags: only the classes standout.js picks, on the split shown (val now).
  const perf = page.locator('#view-performance');
  const m = (await call(server, 'GET', `/api/v1/students/${world.student}/versions/${await head()}`)).json.measures.splits.val;
  await perf.locator('.perf-summary', { hasText: 'on the val split' }).waitFor();
  const flagged = classes.filter((c, k) => {
    const n = m.confusion[k].reduce((a, b) => a + b, 0);
    return standsOut({ fidelity: m.classes[k].fidelity, n, disagree: n - m.confusion[k][k] }, m.fidelity);
  });
  assert.deepEqual(await perf.locator('button.perf-row.disagree').evaluateAll((b) => b.map((x) => x.dataset.class)), flagged);

  // The matrix fits the performance panel: the real one, and 10 and 20 classes.
  const fit = await page.evaluate(async () => {
    const { confusionMatrix } = await import('/charts/confusion.js');
    const wrap = document.querySelector('#view-performance .perf-cm-wrap');
    const out = [{ c: 'real', table: wrap.querySelector('table').getBoundingClientRect().width, box: wrap.clientWidth }];
    const names = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle_boot',
      'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
    for (const c of [10, 20]) {
      const box = document.createElement('div');
      box.className = 'perf-cm-wrap';
      wrap.after(box);
      const cls = names.slice(0, c);
      const counts = cls.map((a, i) => cls.map((b, j) => (i === j ? 180 : (i + j) % 4 === 0 ? 12 : 0)));
      window.d3.select(box).datum({ classes: cls, counts }).call(confusionMatrix().width(box.clientWidth));
      const t = box.querySelector('table');
      out.push({ c, table: t.getBoundingClientRect().width, box: box.clientWidth, scroll: box.scrollWidth,
        mode: t.dataset.mode, text: t.querySelector('button.cm-cell').textContent, title: t.querySelector('button.cm-cell').title });
      box.remove();
    }
    return out;
  });
  for (const f of fit) {
    assert.ok(f.table <= f.box + 0.5, `${f.c} classes: table ${f.table} px in ${f.box} px`);
    if (f.scroll !== undefined) assert.ok(f.scroll <= f.box, `${f.c} classes scroll ${f.scroll} > ${f.box}`);
  }
  assert.equal(fit[1].text, '180', 'the counts are shown at 10 classes');
  assert.equal(fit[2].mode, 'dense');
  assert.match(fit[2].title, /^180 images: teacher t-shirt, student t-shirt/);
  await close();
});

test('notices that no longer hold are cleared: the new head, a conflict, a restore', { skip, timeout: 120000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page, server);
  await pickProject(page, world.project.name);
  const concepts = page.locator('#view-concepts');
  const prov = page.locator('#view-provenance');
  await concepts.getByLabel('Class', { exact: true }).selectOption('plain');
  await concepts.locator('.inf-row').first().waitFor();
  const h = await head();
  // A tune here: its note speaks of the new head.
  await concepts.locator('.inf-row').first().locator('button.tune-uptune').click();
  const status = concepts.locator('.tuning-status');
  await status.filter({ hasText: `Version ${h + 1} is the new head` }).waitFor();
  // Someone else tunes; the next tune here is refused (409) and explained.
  await tuneByApi(h + 1, 'uptune');
  await concepts.locator('.inf-row').first().locator('button.tune-uptune').click();
  const conflict = concepts.locator('.tuning-conflict');
  await conflict.waitFor({ state: 'visible' });
  // A restore from this page, which still shows version h + 1: refused too (it names
  // the head it saw as parent), explained, nothing stored.
  await prov.locator('li.prov-item[data-version="1"] .prov-restore').click();
  const provNotice = prov.locator('.prov-notice');
  await provNotice.filter({ hasText: 'The student changed since this page read it' }).waitFor();
  assert.equal(await head(), h + 2);
  await shot(page, '71-restore-409');
  // Reload the head from there, then restore: a later head. Neither notice holds any more.
  await provNotice.getByRole('button', { name: 'Reload the head' }).click();
  await conflict.waitFor({ state: 'hidden' });
  await concepts.locator('.tuning-caption', { hasText: `version ${h + 2} (head)` }).waitFor();
  await prov.locator('li.prov-item[data-version="1"] .prov-restore').click();
  await prov.locator('.prov-outcome', { hasText: `Version 1 restored as version ${h + 3}, with its ` }).waitFor();
  await provNotice.waitFor({ state: 'hidden' });
  await concepts.locator('.tuning-caption', { hasText: `version ${h + 3} (head)` }).waitFor();
  assert.doesNotMatch(await status.textContent(), /is the new head/);
  await shot(page, '72-notices-cleared');
  // The next tune: the restore's outcome no longer holds either.
  await concepts.locator('.inf-row').first().locator('button.tune-uptune').click();
  await status.filter({ hasText: `Version ${h + 4} is the new head` }).waitFor();
  await prov.locator('li.prov-item[data-version="' + (h + 4) + '"]').waitFor();
  await prov.locator('.prov-outcome').waitFor({ state: 'hidden' });
  await close([/HTTP 409: POST .*\/api\/v1\/students\/\d+\/versions(\/1\/restore)?$/, /console error: .*status of 409/]);
});

test('try an image and export: the predict route from the page, JSON and TorchScript downloads', { skip, timeout: 120000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page, server);
  await pickProject(page, world.project.name);
  const prov = page.locator('#view-provenance');
  const h = await head();
  await prov.locator(`li.prov-item[data-version="${h}"]`).waitFor();

  // Try an image: a dataset JPEG.
  const jpeg = join(IMAGES, 'blue.jpg');
  const want = (await call(server, 'POST', `/api/v1/students/${world.student}/versions/${h}/predict?top=8`,
    { raw: readFileSync(jpeg), headers: { 'Content-Type': 'image/jpeg' } })).json;
  await prov.getByRole('button', { name: `Try an image with version ${h}` }).click();
  const dialog = page.locator('#predict');
  await dialog.waitFor({ state: 'visible' });
  await dialog.locator('input[type="file"]').setInputFiles(jpeg);
  await dialog.locator('.predict-verdict', { hasText: `The student says: ${want.class}` }).waitFor();
  assert.deepEqual(await dialog.locator('.predict-scores li.inf-row').evaluateAll((r) => r.map((x) => x.dataset.class)),
    [...want.scores].sort((a, b) => b.score - a.score).map((s) => s.class));
  assert.equal(await dialog.locator('.predict-scores li.inf-row.selected').getAttribute('data-class'), want.class);
  assert.deepEqual(await dialog.locator('.predict-concepts li.inf-row').evaluateAll((r) => r.map((x) => x.dataset.concept)),
    want.concepts.map((c) => c.concept));
  const outlined = want.concepts.slice(0, 5).filter((c) => c.segment?.box || c.segment?.mask).length;
  assert.equal(await dialog.locator('svg.predict-outline :is(rect, path)').count(), outlined);
  if (want.concepts.length) {
    // Focusing a concept outlines its segment alone.
    await dialog.locator('.predict-concepts .concept-name').first().focus();
    assert.equal(await dialog.locator('svg.predict-outline :is(rect, path)').count(), want.concepts[0].segment ? 1 : 0);
  }
  assert.equal(await dialog.locator('.predict-frame img').evaluate((i) => i.complete && i.naturalWidth > 0), true);
  await shot(page, '73-try-an-image');
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'hidden' });

  // Export: the downloads happen.
  const [json] = await Promise.all([page.waitForEvent('download'), prov.getByRole('button', { name: `Export version ${h} as JSON` }).click()]);
  assert.equal(json.suggestedFilename(), `student-${world.student}-v${h}.json`);
  const jsonPath = join(work, 'export.json');
  await json.saveAs(jsonPath);
  const ex = JSON.parse(readFileSync(jsonPath, 'utf8'));
  assert.equal(ex.format, 'inficond-student/1');
  assert.equal(ex.number, h);
  const [pt] = await Promise.all([page.waitForEvent('download'), prov.getByRole('button', { name: `Export version ${h} as TorchScript` }).click()]);
  assert.equal(pt.suggestedFilename(), `student-${world.student}-v${h}.pt`);
  const ptPath = join(work, 'export.pt');
  await pt.saveAs(ptPath);
  assert.ok(statSync(ptPath).size > 0);
  assert.equal(readFileSync(ptPath).subarray(0, 2).toString(), 'PK', 'a TorchScript archive (zip)');
  await prov.locator('.prov-use-msg[data-kind="ok"]', { hasText: `Saved student-${world.student}-v${h}.pt` }).waitFor();
  await close();
});
