// admin.test.mjs — the admin page in chromium against a real inficond: only admins
// see it (an editor signed in with a password has no "Admin" button, and #admin
// shows the views); an admin creates a user with a role, resets its password (the
// new one signs in on the login page, the old one is refused), disables it (its
// sign-in is refused), creates a token (shown once: gone after "Done" and a reload,
// only its prefix listed; it works until revoked, then answers 401), and is told
// why demoting the last admin is refused. No console errors or failed requests but
// those deliberate ones.
//
// Env: INFICOND_TEST_DATABASE_URL (required), INFICOND_BIN (default
// build/asan/inficond), INFICOND_CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, call, uniq, createUser } from '../api/harness.mjs';
import { noBrowser, launchBrowser, openPage, shot, signIn } from './browser.mjs';
import { SERVER_ENV } from './pipeline.mjs';

const skip = noBrowser;
let server;
let browser;

before(async () => {
  if (skip) return;
  server = await startServer({ env: SERVER_ENV });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const login = (username, password) => call(server, 'POST', '/api/v1/auth/login', { token: null, body: { username, password } });

test('admin page: users (role, password reset, disable) and tokens (shown once, revoked)', { skip, timeout: 120000 }, async () => {
  const { page, close } = await openPage(browser, { viewport: { width: 1280, height: 800 } });
  await signIn(page, server);
  const toggle = page.getByRole('button', { name: 'Admin', exact: true });
  await toggle.click();
  const adminPage = page.locator('#admin');
  await adminPage.waitFor({ state: 'visible' });
  assert.equal(await page.locator('#views').isHidden(), true);
  assert.equal(new URL(page.url()).hash, '#admin');
  await adminPage.locator('table.admin-users tr[data-user="admin"]').waitFor();

  // Create an editor with a password.
  const name = uniq('ed');
  await adminPage.getByLabel('Username').fill(name);
  await adminPage.getByLabel('Role', { exact: true }).selectOption('editor');
  await adminPage.getByLabel('Password', { exact: true }).fill('first-password-1');
  await adminPage.getByRole('button', { name: 'Create user' }).click();
  const row = adminPage.locator(`table.admin-users tr[data-user="${name}"]`);
  await row.waitFor();
  assert.equal(await row.getByLabel(`Role of ${name}`).inputValue(), 'editor');
  assert.equal((await login(name, 'first-password-1')).status, 200);

  // Reset its password: the new one works, the old one no longer does.
  await row.getByRole('button', { name: `Reset the password of ${name}` }).click();
  await row.getByLabel(`New password for ${name}`).fill('second-password-2');
  await row.getByRole('button', { name: 'Save' }).click();
  await adminPage.locator('.admin-status', { hasText: `The password of ${name} is reset.` }).waitFor();
  assert.equal((await login(name, 'first-password-1')).status, 401);
  await shot(page, '60-admin-users');

  // The editor signs in on the login page with the new password and sees no admin page.
  const other = await openPage(browser, { viewport: { width: 1280, height: 800 } });
  await other.page.goto(`${server.url}/#admin`);
  await other.page.locator('#login-username').fill(name);
  await other.page.locator('#login-pass').fill('second-password-2');
  await other.page.locator('#login-pass').press('Enter');
  await other.page.locator('#workspace').waitFor({ state: 'visible' });
  assert.equal(await other.page.locator('#user-role').textContent(), 'editor');
  assert.equal(await other.page.locator('#admin-toggle').isHidden(), true);
  assert.equal(await other.page.locator('#admin').isHidden(), true);
  assert.equal(await other.page.locator('#views').isVisible(), true);
  await other.close();

  // Disable it: its sign-in is refused.
  await row.getByRole('button', { name: `Disable ${name}` }).click();
  await row.locator('.admin-state-text', { hasText: 'disabled' }).waitFor();
  assert.equal((await login(name, 'second-password-2')).status, 401);
  // Enabled again, it signs in.
  await row.getByRole('button', { name: `Enable ${name}` }).click();
  await row.locator('.admin-state-text', { hasText: 'active' }).waitFor();
  assert.equal((await login(name, 'second-password-2')).status, 200);

  // A token for a viewer: shown once.
  const viewer = await createUser(server, 'viewer');
  await page.reload();
  await adminPage.locator(`table.admin-users tr[data-user="${viewer.username}"]`).waitFor();
  await adminPage.getByLabel('Name', { exact: true }).fill('nightly export');
  await adminPage.getByLabel('For user').selectOption({ label: `${viewer.username} (viewer)` });
  await adminPage.getByRole('button', { name: 'Create token' }).click();
  const fresh = adminPage.locator('.new-token');
  await fresh.waitFor({ state: 'visible' });
  const token = await fresh.getByLabel('The new token').inputValue();
  assert.ok(token.length >= 24, token);
  assert.match(await fresh.textContent(), /not shown again/);
  const me = await call(server, 'GET', '/api/v1/me', { token });
  assert.equal(me.status, 200);
  assert.equal(me.json.username, viewer.username);
  const listed = adminPage.locator('table.admin-tokens tr', { hasText: 'nightly export' });
  await listed.waitFor();
  const prefix = (await listed.locator('.admin-prefix').textContent()).replace('…', '');
  assert.ok(token.startsWith(prefix), `${prefix} is the start of the token`);
  await shot(page, '61-admin-token-once');
  await fresh.getByRole('button', { name: 'Done' }).click();
  await fresh.waitFor({ state: 'hidden' });
  assert.equal(await fresh.getByLabel('The new token').inputValue(), '');
  await page.reload();
  await listed.waitFor();
  assert.ok(!(await page.content()).includes(token), 'the token is not in the page after it was shown');

  // Revoke it (a second click confirms): it answers 401 from then on.
  await listed.getByRole('button', { name: `Revoke the token “nightly export” of ${viewer.username}` }).click();
  await listed.getByRole('button', { name: `Confirm: revoke the token “nightly export” of ${viewer.username}` }).click();
  await listed.locator('.admin-token-state', { hasText: /^revoked/ }).waitFor();
  assert.equal((await call(server, 'GET', '/api/v1/me', { token })).status, 401);

  // The last admin cannot be demoted: the server's reason, and the role as it was.
  const self = adminPage.locator('table.admin-users tr[data-user="admin"]');
  await self.getByLabel('Role of admin').selectOption('viewer');
  await adminPage.locator('.admin-status[data-kind="error"]', { hasText: /last active admin/ }).waitFor();
  assert.equal(await self.getByLabel('Role of admin').inputValue(), 'admin');
  await shot(page, '62-admin-last-admin');

  // Back to the views.
  await page.getByRole('button', { name: 'Back to the views' }).click();
  await page.locator('#views').waitFor({ state: 'visible' });
  assert.equal(new URL(page.url()).hash, '');
  await close([/HTTP 409: PATCH .*\/api\/v1\/users\/\d+$/, /console error: .*status of 409/]);
});
