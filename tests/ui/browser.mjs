// browser.mjs — Debian's chromium for the UI tests (playwright-core): the skip reason
// when it is missing, one launch with the flags every suite uses, a page in a fresh
// context that fails the test on any console error, page error, failed request or
// HTTP error answer the test did not expect, sign-in with the admin token, picking
// a project, URL parameters and screenshots into test-artifacts/ui/.
//
// Env: INFICOND_CHROMIUM (default /usr/bin/chromium).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { ADMIN_TOKEN } from '../api/harness.mjs';

export const CHROMIUM = process.env.INFICOND_CHROMIUM || '/usr/bin/chromium';
export const ART = 'test-artifacts/ui';
// A test's skip reason without a browser; false when there is one.
export const noBrowser = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium)`;

// Headless, and quiet: nothing of chromium's own (updates, sync, QUIC) reaches out
// while a test counts requests. No sandbox: the tests may run as root.
export async function launchBrowser() {
  mkdirSync(ART, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// Without the projects API, GET /api/v1/projects[/{id}] answers 404 "no such route"
// and the page shows its fallback: those probes are deliberate.
const projectsProbe = (url, status) => status === 404 && /^\/api\/v1\/projects(\/|$)/.test(new URL(url).pathname);

// A fresh browser context (own cookies and storage) with a watcher for problems;
// close(allowed) closes it and asserts nothing went wrong but what the regexps allow.
// Options: viewport; timeout, the context's default; projectsProbes: the projects
// API's 404 probes (and the console's line about them) are expected. A read
// (GET /api/v1/...) cut off because the page moved on (reload, goto, sign-out) is
// never a failure; with abortedIcon neither is the icon, with abortedJobs neither is
// any /api/v1/jobs request (long-polls).
export async function openPage(browser, {
  viewport = { width: 1280, height: 800 }, timeout = 15000,
  projectsProbes = false, abortedIcon = false, abortedJobs = false,
} = {}) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(timeout);
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (projectsProbes && /status of 404/.test(m.text()) && m.location()?.url && projectsProbe(m.location().url, 404)) return;
    problems.push(`console error: ${m.text()} (${m.location()?.url || ''})`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    const why = r.failure()?.errorText || '';
    const path = new URL(r.url()).pathname;
    if (why === 'net::ERR_ABORTED' && ((abortedJobs && path.startsWith('/api/v1/jobs')) ||
      (abortedIcon && path === '/favicon.svg') || (r.method() === 'GET' && path.startsWith('/api/v1/')))) return;
    problems.push(`request failed: ${r.method()} ${r.url()} ${why}`);
  });
  page.on('response', (r) => {
    if (projectsProbes && r.request().method() === 'GET' && projectsProbe(r.url(), r.status())) return;
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  return {
    context,
    page,
    problems,
    async close(allowed = []) {
      await context.close();
      const left = problems.filter((p) => !allowed.some((re) => re.test(p)));
      assert.deepEqual(left, [], `unexpected problems in the page:\n${left.join('\n')}`);
    },
  };
}

export const shot = (page, name) => page.screenshot({ path: `${ART}/${name}.png` });
export const param = (page, k) => page.evaluate((key) => new URL(location.href).searchParams.get(key), k);

// Sign in on `path` with the admin token (the keyboard's Enter) and wait for the workspace.
export async function signIn(page, server, path = '/') {
  await page.goto(server.url + path);
  await page.getByLabel('API token').fill(ADMIN_TOKEN);
  await page.getByLabel('API token').press('Enter');
  await page.locator('#workspace').waitFor({ state: 'visible' });
}

// Pick the Projects panel's item whose name starts with `name`, with the keyboard;
// returns the item once the URL has the project.
export async function pickProject(page, name) {
  const item = page.locator('#projects').getByRole('button', { name: new RegExp(`^${name}`) });
  await item.waitFor();
  await item.focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('project'));
  return item;
}
