// ui.test.mjs — the web page end to end in Debian's chromium (playwright-core),
// against a real inficond and the test database: sign-in, the workspace shell,
// live job progress, cancel from the page, URL state, sign-out. Every page is
// watched: a console error, a page error, a failed request or an HTTP error answer
// fails the test unless the test expected it (the deliberate bad login).
// Screenshots of each state go to test-artifacts/ui/.
//
// Env: INFICOND_TEST_DATABASE_URL (required), INFICOND_BIN (default
// build/asan/inficond), INFICOND_CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, call } from '../api/harness.mjs';
import { noBrowser, launchBrowser, openPage as open, shot, signIn } from './browser.mjs';

const skip = noBrowser;
const fast = { INFICOND_HEARTBEAT_MS: '200', INFICOND_STALE_AFTER_MS: '1500' };

let server;
let browser;

before(async () => {
  if (skip) return;
  server = await startServer({ env: fast });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// The projects API's 404 probes are expected, and so are the long-polls and list
// reads cut off on purpose (sign-out, reload) and the icon when a test navigates
// again before it loaded.
const openPage = () => open(browser, { projectsProbes: true, abortedIcon: true, abortedJobs: true });

async function startJob(params) {
  const r = await call(server, 'POST', '/api/v1/jobs', { body: { kind: 'diag.sleep', params } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

test('the login page shows labelled inputs and nothing else', { skip, timeout: 60000 }, async () => {
  const { page, close } = await openPage();
  await page.goto(server.url + '/');
  await page.getByRole('heading', { name: 'inficond' }).waitFor();
  for (const label of ['Username', 'Password', 'API token']) assert.ok(await page.getByLabel(label).isVisible(), label);
  assert.ok(await page.getByRole('button', { name: 'Sign in', exact: true }).isVisible());
  assert.equal(await page.locator('#workspace').isVisible(), false);
  // Keyboard: the username field has focus, Tab reaches the password.
  assert.equal(await page.evaluate(() => document.activeElement.id), 'login-username');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'login-pass');
  await shot(page, '01-login');
  await close();
});

test('a wrong token shows the error and stays on the login page', { skip, timeout: 60000 }, async () => {
  const { page, close } = await openPage();
  await page.goto(server.url + '/');
  await page.getByLabel('API token').fill('not-a-real-token');
  await page.getByLabel('API token').press('Enter');
  const err = page.locator('#login-error');
  await assert.doesNotReject(err.filter({ hasText: 'not accepted' }).waitFor());
  assert.equal(await err.getAttribute('role'), 'alert');
  assert.equal(await page.locator('#workspace').isVisible(), false);
  // Empty username/password is caught before asking the server.
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await err.filter({ hasText: 'Enter both' }).waitFor();
  await page.getByLabel('Username').fill('nobody');
  await page.getByLabel('Password').fill('wrong');
  await page.getByLabel('Password').press('Enter');
  await err.filter({ hasText: 'Wrong username or password' }).waitFor();
  await shot(page, '02-login-error');
  await close([/HTTP 401: POST .*\/api\/v1\/auth\/login/, /console error: Failed to load resource: .* 401/]);
});

test('signing in with the admin token shows the workspace, user, role and six views', { skip, timeout: 60000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page, server);
  assert.equal(await page.locator('#user-name').textContent(), 'admin');
  assert.equal(await page.locator('#user-role').textContent(), 'admin');
  assert.ok(await page.getByRole('button', { name: 'Sign out' }).isVisible());
  for (const name of ['Configuration', 'Student performance', 'Concepts', 'Instances',
    'Concept × class overview', 'Provenance', 'Projects', 'Jobs']) {
    const region = page.getByRole('region', { name, exact: true });
    assert.ok(await region.isVisible(), `region ${name}`);
  }
  // Honest empty states: each view says what it will show and what it needs.
  assert.match(await page.locator('#projects').textContent(), /No projects yet/);
  assert.match(await page.locator('#view-concepts').textContent(), /ranked by influence.*It needs:/s);
  assert.equal(await page.locator('.view .empty-state').count(), 6);
  // The six views fit the 1280x800 window without scrolling the page.
  const grid = await page.locator('#views').boundingBox();
  assert.ok(grid.y + grid.height <= 800 && grid.x + grid.width <= 1280, JSON.stringify(grid));
  await shot(page, '03-workspace');
  await close();
});

test('a job started through the API appears and its progress reaches 100% live', { skip, timeout: 60000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page, server);
  // Record every state and progress value the panel shows, to check it moved live.
  await page.evaluate(() => {
    window.__seen = [];
    const list = document.querySelector('.job-list');
    new MutationObserver(() => {
      for (const li of list.querySelectorAll('li.job')) {
        window.__seen.push([li.dataset.jobId, li.dataset.state, li.querySelector('.progress').getAttribute('aria-valuenow')]);
      }
    }).observe(list, { subtree: true, attributes: true, childList: true });
  });
  const job = await startJob({ seconds: 2 });
  const row = page.locator(`li.job[data-job-id="${job.id}"]`);
  await row.waitFor({ timeout: 10000 });
  // A 2 s job may finish between two reads of the list; when the page saw it
  // running, take the picture.
  await page.locator(`li.job[data-job-id="${job.id}"]:is([data-state="running"], [data-state="succeeded"])`).waitFor({ timeout: 15000 });
  if (await row.getAttribute('data-state') === 'running') await shot(page, '04-job-running');
  await page.locator(`li.job[data-job-id="${job.id}"][data-state="succeeded"]`).waitFor({ timeout: 20000 });
  const seen = (await page.evaluate(() => window.__seen)).filter(([id]) => id === String(job.id));
  const running = seen.filter(([, st]) => st === 'running').map(([, , v]) => Number(v));
  for (let i = 1; i < running.length; i++) assert.ok(running[i] >= running[i - 1], `progress went back: ${running}`);
  assert.ok(seen.some(([, st, v]) => st === 'succeeded' && v === '100'), JSON.stringify(seen));
  assert.equal(await row.locator('.progress').getAttribute('aria-valuenow'), '100');
  assert.equal(await row.locator('.job-pct').textContent(), '100%');
  assert.match(await row.locator('.job-state').textContent(), /succeeded/);
  assert.equal(await row.getByRole('button', { name: /Cancel/ }).isVisible(), false);
  // Having seen it run, the polite live region said it ended.
  if (running.length) {
    await page.locator('#announcer').filter({ hasText: `Job ${job.id} (diag.sleep) succeeded` }).waitFor({ state: 'attached' });
  }

  // A failed job shows its reason in words.
  const bad = await startJob({ seconds: 0.2, fail: 'the input was not what we expected' });
  const badRow = page.locator(`li.job[data-job-id="${bad.id}"][data-state="failed"]`);
  await badRow.waitFor({ timeout: 20000 });
  assert.match(await badRow.locator('.job-error').textContent(), /Error: the input was not what we expected/);
  await shot(page, '05-job-succeeded-and-failed');
  await close();
});

test('cancelling a long job from the page ends it cancelled', { skip, timeout: 60000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page, server);
  const job = await startJob({ seconds: 60 });
  await page.locator(`li.job[data-job-id="${job.id}"][data-state="running"]`).waitFor({ timeout: 15000 });
  // The bar moves on its own (long-poll), without a reload.
  const bar = page.locator(`li.job[data-job-id="${job.id}"] .progress`);
  const v0 = Number(await bar.getAttribute('aria-valuenow'));
  await page.waitForFunction(([id, v]) => Number(document.querySelector(`li.job[data-job-id="${id}"] .progress`)
    .getAttribute('aria-valuenow')) > v, [job.id, v0], { timeout: 10000 });
  await shot(page, '04b-long-job-running');
  const button = page.getByRole('button', { name: `Cancel job ${job.id} (diag.sleep)` });
  await button.focus();
  await page.keyboard.press('Enter'); // keyboard operation of the main action
  await page.locator(`li.job[data-job-id="${job.id}"][data-state="cancelled"]`).waitFor({ timeout: 15000 });
  assert.equal(await button.isVisible(), false);
  const r = await call(server, 'GET', `/api/v1/jobs/${job.id}`);
  assert.equal(r.json.state, 'cancelled');
  await shot(page, '06-job-cancelled');
  await close();
});

test('the selection lives in the URL: reload, links and back/forward restore it', { skip, timeout: 60000 }, async () => {
  const { page, close } = await openPage();
  await signIn(page, server);
  await page.locator('#split-select').selectOption('train');
  assert.equal(new URL(page.url()).searchParams.get('split'), 'train');
  await page.reload();
  await page.locator('#workspace').waitFor({ state: 'visible' }); // still signed in
  assert.equal(await page.locator('#split-select').inputValue(), 'train');

  // A link with a selection opens on it; every view sees it.
  await page.goto(`${server.url}/?project=p7&class=sneaker&split=shifted`);
  await page.locator('#workspace').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#split-select').inputValue(), 'shifted');
  const chips = page.locator('#selection-chips');
  await chips.locator('li[data-key="class"]').filter({ hasText: 'sneaker' }).waitFor();
  assert.match(await page.locator('#view-concepts').textContent(), /Current selection: project p7, class sneaker/);

  // Clearing the class is a history step: back brings it back, forward clears it again.
  await page.getByRole('button', { name: 'Clear the class selection' }).click();
  assert.equal(new URL(page.url()).searchParams.get('class'), null);
  assert.equal(await chips.locator('li[data-key="class"]').count(), 0);
  await page.goBack();
  await chips.locator('li[data-key="class"]').filter({ hasText: 'sneaker' }).waitFor();
  await shot(page, '07-selection-from-url');
  await page.goForward();
  await chips.locator('li[data-key="class"]').waitFor({ state: 'detached' });
  assert.equal(new URL(page.url()).searchParams.get('project'), 'p7');
  await close();
});

test('signing out returns to the login page and ends the session', { skip, timeout: 60000 }, async () => {
  const { page, context, close } = await openPage();
  await signIn(page, server);
  await startJob({ seconds: 5 }); // a followed job whose long-poll sign-out must close
  await page.locator('li.job[data-state="running"], li.job[data-state="queued"]').first().waitFor({ timeout: 10000 });
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#login').waitFor({ state: 'visible' });
  assert.match(await page.locator('#login-error').textContent(), /signed out/);
  assert.equal(await page.locator('#workspace').isVisible(), false);
  // The cookie is gone: the same browser context is now anonymous.
  const me = await context.request.get(`${server.url}/api/v1/me`);
  assert.equal(me.status(), 401);
  // A reload stays on the login page without asking the server who we are.
  await page.reload();
  await page.locator('#login').waitFor({ state: 'visible' });
  await shot(page, '08-signed-out');
  await close();
});
