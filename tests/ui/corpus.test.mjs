// corpus.test.mjs — the Configuration view's "New corpus" form end to end in chromium
// against a real inficond: a dataset whose classes are shirt and cat (the fixture
// JPEGs uploaded as a tar) and the tiny OpenAI-style CLIP fixture as concept model,
// opened as a draft (dataset:<id>). The class-name filter must be on by default with
// τ 0.85 shown, off (with the reason) until a concept model is chosen; a create must
// report "shirt" and "a shirt" left out (by spelling, with their cosine) and "collar"
// kept, and select the new corpus in the picker; the stored corpus must agree. With
// the filter unchecked "shirt" stays (the words come from a .txt file this time); a τ
// of 2 shows the server's 422 next to the form, which keeps its name and words. In a
// saved project the filter is asked for by project id and the project keeps its
// corpus; the Projects panel's New project form offers the corpus made.
// Screenshots at 1600×1000 and 1280×800 go to test-artifacts/screens/.
//
// Env: INFICOND_TEST_DATABASE_URL (required), INFICOND_BIN (default
// build/asan/inficond), INFICOND_CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, call } from '../api/harness.mjs';
import { noBrowser, launchBrowser, openPage, signIn } from './browser.mjs';
import { SERVER_ENV, NO_CLIP, uniq, must, uploadDataset, registerClip, registerTeacher, createProject } from './pipeline.mjs';

const skip = noBrowser || NO_CLIP;
const SCREENS = 'test-artifacts/screens';
const LAYOUT = { 'train/shirt': ['red.jpg', 'green.jpg'], 'train/cat': ['stripes.jpg'], 'test/shirt': ['blue.jpg'] };
const WORDS = ['shirt', 'a shirt', 'collar', 'sleeve'];
const SIZES = [{ width: 1600, height: 1000 }, { width: 1280, height: 800 }];

let server;
let browser;
let work;
const world = {}; // dataset, concept

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'inficond-uicorpus-'));
  mkdirSync(SCREENS, { recursive: true });
  server = await startServer({ env: SERVER_ENV });
  world.dataset = await uploadDataset(server, work, uniq('shirts'), undefined, LAYOUT);
  assert.deepEqual(world.dataset.classes.slice().sort(), ['cat', 'shirt']);
  world.concept = await registerClip(server, work);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const screen = async (page, name) => {
  const vp = page.viewportSize();
  await page.screenshot({ path: `${SCREENS}/${name}-${vp.width}x${vp.height}.png` });
};

// The draft of our dataset, signed in, with the form's view ready; the concept model
// chosen unless `model` is false.
async function openDraft(viewport, { model = true } = {}) {
  const p = await openPage(browser, { viewport, abortedIcon: true, abortedJobs: true });
  await signIn(p.page, server, `/?project=dataset%3A${world.dataset.id}`);
  const view = p.page.locator('#view-configuration');
  await view.locator('.cfg-dataset .cfg-name', { hasText: world.dataset.name }).waitFor();
  const select = view.getByLabel('Concept model', { exact: true });
  await view.locator(`#cfg-concept-select option[value="${world.concept.id}"]`).waitFor({ state: 'attached' });
  await select.selectOption(model ? String(world.concept.id) : '');
  if (model) await view.locator('.cfg-concept-name', { hasText: world.concept.name }).waitFor();
  return { ...p, view };
}

// Open the form's dialog with the keyboard; returns the form's locator.
async function openForm(page, view) {
  const toggle = view.getByRole('button', { name: 'New corpus' });
  assert.equal(await toggle.getAttribute('aria-haspopup'), 'dialog');
  await toggle.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'New corpus' });
  await dialog.waitFor();
  assert.equal(await dialog.evaluate((d) => d.open && d.matches(':modal')), true, 'a modal dialog');
  const form = dialog.locator('#cfg-new-corpus');
  await form.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'nc-name', 'the name field has the focus');
  return form;
}

async function corpusNamed(name) {
  const list = await call(server, 'GET', '/api/v1/corpora?limit=1000');
  const c = list.json.items.find((x) => x.name === name);
  assert.ok(c, `corpus ${name} is listed`);
  return (await call(server, 'GET', `/api/v1/corpora/${c.id}`)).json;
}

test('new corpus: the filter is on by default and leaves out the class names; the picker takes the corpus', { skip, timeout: 90000 }, async () => {
  for (const viewport of SIZES) {
    const { page, view, close } = await openDraft(viewport);
    const form = await openForm(page, view);
    for (const label of ['Name', 'Words, one per line', 'Add the words of a .txt file', 'Leave out words that name a class', 'Cosine cut τ']) {
      assert.ok(await form.getByLabel(label, { exact: true }).isVisible(), label);
    }
    const filter = form.getByLabel('Leave out words that name a class');
    assert.equal(await filter.isChecked(), true, 'the filter is on by default');
    assert.equal(await filter.isDisabled(), false);
    const tau = form.getByLabel('Cosine cut τ');
    assert.equal(await tau.inputValue(), '0.85');
    assert.deepEqual(await tau.evaluate((el) => [el.min, el.max, el.step]), ['-1', '1', '0.01']);
    const help = await form.locator('#nc-tau-help').textContent();
    assert.match(help, /cosine similarity/);
    assert.match(help, new RegExp(`“${world.concept.name}”`));
    assert.match(help, /a photo of a \{class\}/);
    assert.equal(await tau.getAttribute('aria-describedby'), 'nc-tau-help');

    const name = uniq('shirtless');
    await form.getByLabel('Name', { exact: true }).fill(name);
    await form.getByLabel('Words, one per line').fill(WORDS.join('\n'));
    await screen(page, 'corpus-form-open');
    await form.getByRole('button', { name: 'Create corpus' }).click();

    // The report: two words left out with their class and cosine, two kept.
    const report = view.locator('.nc-report');
    await report.locator('.nc-report-title', { hasText: `Created corpus “${name}” with 2 words.` }).waitFor();
    assert.equal(await form.isHidden(), true, 'the form closes after a create');
    assert.match(await report.locator('.nc-report-filter').textContent(), /τ 0\.85\) kept 2 and left out 2 words:/);
    const dropped = await report.locator('.nc-dropped li').allTextContents();
    assert.deepEqual(dropped.map((t) => t.split(' — ')[0]).sort(), ['a shirt', 'shirt']);
    for (const t of dropped) assert.match(t, /— spells the class shirt, cosine \d\.\d{3}$/, t);
    assert.doesNotMatch(await report.textContent(), /collar/);

    // The picker shows the new corpus, and its words are the kept ones.
    const stored = await corpusNamed(name);
    assert.deepEqual(stored.words.slice().sort(), ['collar', 'sleeve']);
    assert.equal(await view.locator('#cfg-corpus-select').inputValue(), String(stored.id));
    await view.locator('.cfg-corpus-name', { hasText: `Corpus: ${name}, version 1, 2 words` }).waitFor();
    assert.deepEqual((await view.locator('.word-list li').allTextContents()).sort(), ['collar', 'sleeve']);
    await report.scrollIntoViewIfNeeded();
    await screen(page, 'corpus-created-report');
    await close();
  }
});

test('new corpus: unchecked, the class names stay; words come from a .txt file', { skip, timeout: 60000 }, async () => {
  const { page, view, close } = await openDraft(SIZES[1]);
  const form = await openForm(page, view);
  await form.getByLabel('Add the words of a .txt file').setInputFiles({
    name: 'words.txt', mimeType: 'text/plain', buffer: Buffer.from(`${WORDS.join('\r\n')}\r\n\r\ncollar\n`),
  });
  await form.locator('#nc-file-note', { hasText: 'Added 6 lines from words.txt.' }).waitFor();
  assert.equal(await form.getByLabel('Words, one per line').inputValue(), `${WORDS.join('\n')}\n\ncollar`);
  const name = uniq('withshirt');
  await form.getByLabel('Name', { exact: true }).fill(name);
  await form.getByLabel('Leave out words that name a class').uncheck();
  assert.equal(await form.getByLabel('Cosine cut τ').isDisabled(), true, 'τ is off with the filter');
  await form.getByLabel('Name', { exact: true }).press('Enter');
  const report = view.locator('.nc-report');
  await report.locator('.nc-report-title', { hasText: `Created corpus “${name}” with 4 words.` }).waitFor();
  assert.equal(await report.locator('.nc-report-filter').textContent(), 'No class-name filter was asked for.');
  assert.equal(await report.locator('.nc-dropped').count(), 0);
  assert.match(await report.textContent(), /Lines not taken: 1 repeated\./);
  const stored = await corpusNamed(name);
  assert.deepEqual(stored.words, WORDS);
  assert.equal(await view.locator('#cfg-corpus-select').inputValue(), String(stored.id));
  await close();
});

test('new corpus: a τ of 2 shows the server\'s error and the form keeps its words', { skip, timeout: 60000 }, async () => {
  const { page, view, close } = await openDraft(SIZES[1]);
  const form = await openForm(page, view);
  const name = uniq('badtau');
  await form.getByLabel('Name', { exact: true }).fill(name);
  await form.getByLabel('Words, one per line').fill(WORDS.join('\n'));
  await form.getByLabel('Cosine cut τ').fill('2');
  await form.getByRole('button', { name: 'Create corpus' }).click();
  const error = form.locator('#nc-error');
  await error.filter({ hasText: /./ }).waitFor();
  assert.equal(await error.textContent(), "Not created: class filter: field 'tau': a cosine in [-1, 1]");
  assert.equal(await error.getAttribute('role'), 'alert');
  assert.equal(await form.getByLabel('Cosine cut τ').getAttribute('aria-invalid'), 'true');
  assert.equal(await form.isVisible(), true);
  assert.equal(await form.getByLabel('Name', { exact: true }).inputValue(), name);
  assert.equal(await form.getByLabel('Words, one per line').inputValue(), WORDS.join('\n'));
  assert.equal(await form.getByRole('button', { name: 'Create corpus' }).isEnabled(), true);
  const list = await call(server, 'GET', '/api/v1/corpora?limit=1000');
  assert.equal(list.json.items.some((c) => c.name === name), false, 'nothing was created');
  await screen(page, 'corpus-bad-tau');
  await close([/HTTP 422: POST .*\/api\/v1\/corpora\/import\?/, /console error: .*status of 422/]);
});

test('new corpus: without a concept model the filter is off and says why', { skip, timeout: 60000 }, async () => {
  const { page, view, close } = await openDraft(SIZES[1], { model: false });
  const form = await openForm(page, view);
  const filter = form.getByLabel('Leave out words that name a class');
  assert.equal(await filter.isDisabled(), true);
  assert.equal(await filter.isChecked(), false);
  assert.equal(await form.getByLabel('Cosine cut τ').isDisabled(), true);
  assert.match(await form.locator('#nc-filter-reason').textContent(), /Choose a concept model above first/);
  assert.equal(await filter.getAttribute('aria-describedby'), 'nc-filter-reason');
  // Choosing one turns the filter on again (the default is kept).
  await view.getByLabel('Concept model', { exact: true }).selectOption(String(world.concept.id));
  await form.locator('#nc-filter-reason:empty').waitFor({ state: 'attached' });
  assert.equal(await filter.isChecked(), true);
  // Escape closes the form and gives the focus back to its button.
  await form.getByLabel('Name', { exact: true }).focus();
  await page.keyboard.press('Escape');
  assert.equal(await form.isHidden(), true);
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'New corpus');
  await close();
});

test('new corpus: in a project the filter goes by the project, which keeps its corpus', { skip, timeout: 90000 }, async () => {
  const corpus = await must(server, 'POST', '/api/v1/corpora', { name: uniq('own'), words: ['collar'] }, 201);
  const teacher = await registerTeacher(server, work, world.dataset);
  const project = await createProject(server, { ...world, teacher, corpus }, uniq('proj'));
  const { page, close } = await openPage(browser, { viewport: SIZES[1], abortedIcon: true, abortedJobs: true });
  await signIn(page, server, `/?project=${project.id}`);
  const view = page.locator('#view-configuration');
  await view.locator('.cfg-corpus-name', { hasText: `Corpus: ${corpus.name},` }).waitFor();
  // The Projects panel's New project form, opened once before (its lists read then).
  const panel = page.locator('#projects');
  const newProject = panel.getByRole('button', { name: 'New project' });
  await newProject.click();
  await page.locator('#np-corpus option', { hasText: corpus.name }).waitFor({ state: 'attached' });
  await newProject.click();
  const sent = [];
  page.on('request', (r) => { if (new URL(r.url()).pathname === '/api/v1/corpora/import') sent.push(new URL(r.url()).searchParams); });

  const form = await openForm(page, view);
  assert.equal(await form.getByLabel('Leave out words that name a class').isChecked(), true);
  const name = uniq('forlater');
  await form.getByLabel('Name', { exact: true }).fill(name);
  await form.getByLabel('Words, one per line').fill(WORDS.join('\n'));
  await form.getByRole('button', { name: 'Create corpus' }).click();
  const report = view.locator('.nc-report');
  await report.locator('.nc-report-title', { hasText: `Created corpus “${name}” with 2 words.` }).waitFor();
  assert.deepEqual((await report.locator('.nc-dropped .nc-word').allTextContents()).sort(), ['a shirt', 'shirt']);
  assert.equal(sent.length, 1);
  assert.deepEqual([sent[0].get('project_id'), sent[0].get('dataset_id'), sent[0].get('tau')], [String(project.id), null, '0.85']);
  await view.locator('.cfg-note', { hasText: `Corpus “${name}” was made for a new project; this project keeps its own corpus.` }).waitFor();
  assert.match(await view.locator('.cfg-corpus-name').textContent(), new RegExp(`Corpus: ${corpus.name},`));

  // Opened again, the Projects panel's form lists it (its lists are read at every opening).
  await newProject.click();
  await page.locator('#np-corpus option', { hasText: name }).waitFor({ state: 'attached' });
  await close();
});
