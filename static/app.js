// app.js — the page's entry module: builds the store and the API client, shows the
// login view or the workspace, and starts each view with init(store, api, el).
//
// Session: the cookie is HttpOnly, so the page cannot see it. A localStorage hint
// ("inficond.signedIn") says whether asking GET /api/v1/me is worthwhile at load; a
// 401 from any call (api onUnauthorized) clears it and returns to the login view.
// Admins get an "Admin" button that shows the admin page (users and tokens) in place
// of the views; the URL's #admin mirrors it, so a reload or a link keeps it.

import './d3text.js';
import { createStore } from './store.js';
import { createApi } from './api.js';
import { announce } from './ui.js';
import { begin } from './perf.js';
import * as login from './views/login.js';
import * as jobs from './views/jobs.js';
import * as projects from './views/projects.js';
import * as selection from './views/selection.js';
import * as configuration from './views/configuration.js';
import * as performance from './views/performance.js';
import * as concepts from './views/concepts.js';
import * as instances from './views/instances.js';
import * as overview from './views/overview.js';
import * as provenance from './views/provenance.js';
import * as predict from './views/predict.js';
import * as admin from './views/admin.js';

const HINT = 'inficond.signedIn';
const $ = (id) => document.getElementById(id);

function hint(on) {
  try {
    if (on) localStorage.setItem(HINT, '1');
    else localStorage.removeItem(HINT);
  } catch { /* storage disabled: we just ask /me */ }
}
function hinted() {
  try { return localStorage.getItem(HINT) === '1'; } catch { return true; }
}

function main() {
  if (!window.d3) {
    $('boot').textContent = 'The page is incomplete: static/vendor/d3.min.js is missing. An admin should run scripts/deps.sh.';
    return;
  }
  const store = createStore();
  let signedIn = false;
  let entered = false;
  // Registered before the views' listeners, so the mark precedes their work (perf.js).
  store.on('select.perf', () => { if (signedIn) begin('selection-updated'); });
  const api = createApi({ onUnauthorized: () => { if (signedIn) signOut('Your session has ended. Sign in again.'); } });

  const loginView = login.init(store, api, $('login'), { onSignedIn: (user) => enter(user) });
  const jobsView = jobs.init(store, api, $('jobs').querySelector('.panel-body'));
  const projectsView = projects.init(store, api, $('projects').querySelector('.panel-body'));
  selection.init(store, api, document.querySelector('.topbar .selection'));
  const views = { configuration, performance, concepts, instances, overview, provenance };
  for (const [name, mod] of Object.entries(views)) {
    mod.init(store, api, $(`view-${name}`).querySelector('.view-body'));
  }
  predict.init(store, api, $('predict'));
  const adminView = admin.init(store, api, $('admin'));

  // The admin page in place of the views (admins only).
  let adminShown = false;
  function showAdmin(on) {
    on = on && store.data('user')?.role === 'admin';
    if (on === adminShown) return;
    adminShown = on;
    $('admin').hidden = !on;
    $('views').hidden = on;
    $('admin-toggle').setAttribute('aria-pressed', String(on));
    $('admin-toggle').textContent = on ? 'Back to the views' : 'Admin';
    const want = on ? '#admin' : '';
    if (location.hash !== want) history.pushState(null, '', location.pathname + location.search + want);
    if (on) { adminView.show(); $('admin').focus({ preventScroll: true }); } else adminView.hide();
  }
  $('admin-toggle').addEventListener('click', () => showAdmin(!adminShown));
  window.addEventListener('popstate', () => showAdmin(location.hash === '#admin'));

  function enter(user) {
    signedIn = true;
    // Navigation start -> every view of the URL's selection drawn (once per page load).
    if (!entered) begin('workspace-interactive', { fromNavigation: true, until: () => store.data('student')?.state !== 'loading' });
    entered = true;
    hint(true);
    store.setData('user', user);
    $('user-name').textContent = user.username;
    $('user-role').textContent = user.role;
    $('user-role').dataset.role = user.role;
    $('admin-toggle').hidden = user.role !== 'admin';
    loginView.hide();
    $('workspace').hidden = false;
    jobsView.start();
    projectsView.load();
    $('product-name').focus({ preventScroll: true });
    announce(`Signed in as ${user.username} (${user.role}).`);
    showAdmin(location.hash === '#admin');
  }

  function signOut(message = '') {
    signedIn = false;
    hint(false);
    jobsView.stop();
    showAdmin(false);
    store.setData('user', null);
    $('admin-toggle').hidden = true;
    $('workspace').hidden = true;
    loginView.show(message);
  }

  $('logout').addEventListener('click', async () => {
    $('logout').disabled = true;
    jobsView.stop(); // close the long-polls before the session goes
    try {
      await api.logout();
      signOut('You have signed out.');
    } catch (e) {
      signOut(e.status === 401 ? 'You have signed out.' : `Signed out here, but the server said: ${e.message}`);
    } finally {
      $('logout').disabled = false;
    }
  });

  $('boot').hidden = true;
  if (!hinted()) { loginView.show(); return; }
  api.me().then(enter, (e) => {
    hint(false);
    loginView.show(e.status === 401 ? '' : `Could not reach the server: ${e.message}`);
  });
}

main();
