// views/admin.js — the admin page: users and API tokens (admins only; app.js shows
// it in place of the views, from the header's "Admin" button or a #admin link).
//   Users:  create one with a role (and a password, or none: token only), change a
//           role, reset a password, disable or enable an account
//           (GET/POST /api/v1/users, PATCH /api/v1/users/{id}).
//   Tokens: create one for a user, with an optional expiry; its value is shown once,
//           here, until "Done" (the server keeps only a hash); revoke one, after a
//           second click to confirm (GET/POST /api/v1/tokens, DELETE /api/v1/tokens/{id}).
// The server refuses what would lock everyone out (the last active admin demoted or
// disabled: 409); the page says why and shows the user as the server has it.
// The page's nodes exist only while it is shown: hide() removes them, with any new
// token's value (and no hidden "Password" field is left to confuse the login's).
// init(store, api, el) -> {show(), hide()}

import { announce, when } from '../ui.js';

const d3 = window.d3;
const ROLES = ['viewer', 'editor', 'admin'];
const PASSWORD_MIN = 8;

// A label and a control in a form row: returns the control.
function field(form, id, label, make) {
  const row = form.append('div').attr('class', 'admin-field');
  row.append('label').attr('for', id).text(label);
  return make(row).attr('id', id);
}

export function init(store, api, el) {
  let page = null;
  return {
    show() { page?.remove(); page = mount(store, api, el); },
    hide() { page?.remove(); page = null; },
  };
}

// Builds the page in `el`, reads the users and tokens; returns its root's remover.
function mount(store, api, el) {
  const root = d3.select(el).append('div').attr('class', 'admin');
  const status = root.append('p').attr('class', 'admin-status').attr('role', 'status');

  // ---- users ----------------------------------------------------------------------
  const users = root.append('section').attr('class', 'admin-section').attr('aria-labelledby', 'admin-users-title');
  users.append('h3').attr('id', 'admin-users-title').text('Users');
  const userForm = users.append('form').attr('class', 'admin-form').attr('novalidate', true)
    .attr('aria-label', 'New user').on('submit', (ev) => { ev.preventDefault(); createUser(); });
  const newName = field(userForm, 'admin-user-name', 'Username', (r) => r.append('input'))
    .attr('autocomplete', 'off').attr('spellcheck', 'false').attr('maxlength', 64);
  const newRole = field(userForm, 'admin-user-role', 'Role', (r) => r.append('select'));
  newRole.selectAll('option').data(ROLES).join('option').attr('value', (d) => d).text((d) => d);
  const newPass = field(userForm, 'admin-user-pass', 'Password', (r) => r.append('input'))
    .attr('type', 'password').attr('autocomplete', 'new-password')
    .attr('placeholder', `${PASSWORD_MIN}+ characters, or empty`).attr('aria-describedby', 'admin-user-pass-note');
  userForm.append('p').attr('class', 'admin-note').attr('id', 'admin-user-pass-note')
    .text('Without a password the user signs in with an API token only.');
  const userBtn = userForm.append('button').attr('type', 'submit').text('Create user');
  const userMsg = userForm.append('p').attr('class', 'form-msg').attr('role', 'status');
  const userTable = users.append('table').attr('class', 'admin-table admin-users');
  userTable.append('thead').append('tr').selectAll('th')
    .data(['User', 'Role', 'Status', 'Password', 'Created']).join('th').attr('scope', 'col').text((d) => d);
  const userBody = userTable.append('tbody');

  // ---- tokens ---------------------------------------------------------------------
  const tokens = root.append('section').attr('class', 'admin-section').attr('aria-labelledby', 'admin-tokens-title');
  tokens.append('h3').attr('id', 'admin-tokens-title').text('Tokens');
  const tokenForm = tokens.append('form').attr('class', 'admin-form').attr('novalidate', true)
    .attr('aria-label', 'New token').on('submit', (ev) => { ev.preventDefault(); createToken(); });
  const tokName = field(tokenForm, 'admin-token-name', 'Name', (r) => r.append('input'))
    .attr('autocomplete', 'off').attr('maxlength', 100).attr('placeholder', 'what it is for, e.g. “nightly export”');
  const tokUser = field(tokenForm, 'admin-token-user', 'For user', (r) => r.append('select'));
  const tokDays = field(tokenForm, 'admin-token-days', 'Expires after (days)', (r) => r.append('input'))
    .attr('type', 'number').attr('min', 1).attr('max', 3650).attr('placeholder', 'never');
  const tokenBtn = tokenForm.append('button').attr('type', 'submit').text('Create token');
  const tokenMsg = tokenForm.append('p').attr('class', 'form-msg').attr('role', 'status');
  const fresh = tokens.append('div').attr('class', 'new-token').attr('role', 'alert').attr('hidden', true);
  const freshText = fresh.append('p').attr('class', 'new-token-what');
  const freshRow = fresh.append('div').attr('class', 'new-token-row');
  const freshValue = freshRow.append('input').attr('class', 'new-token-value').attr('readonly', true)
    .attr('aria-label', 'The new token').attr('spellcheck', 'false');
  freshRow.append('button').attr('type', 'button').attr('class', 'quiet').text('Copy').on('click', copyToken);
  freshRow.append('button').attr('type', 'button').text('Done').on('click', forgetToken);
  const tokenTable = tokens.append('table').attr('class', 'admin-table admin-tokens');
  tokenTable.append('thead').append('tr').selectAll('th')
    .data(['Name', 'User', 'Starts with', 'Created', 'Last used', 'State', '']).join('th').attr('scope', 'col').text((d) => d);
  const tokenBody = tokenTable.append('tbody');

  let userList = [];
  let tokenList = [];
  let resetting = null;   // user id whose password form is open
  let confirming = null;  // token id waiting for the second click
  const busy = new Set();   // `user:<id>` / `token:<id>` while a change runs
  let loaded = false;

  const me = () => store.data('user');
  const say = (sel, text, kind = null) => sel.attr('data-kind', kind).text(text);

  async function load() {
    say(status, 'Loading users and tokens…');
    try {
      const [u, t] = await Promise.all([api.get('/api/v1/users'), api.get('/api/v1/tokens')]);
      userList = u.items || [];
      tokenList = t.items || [];
      loaded = true;
      say(status, '');
    } catch (e) {
      say(status, e.status === 403 ? 'Only admins can manage users and tokens.' : `Could not load users and tokens: ${e.message}`, 'error');
    }
    render();
  }

  function render() {
    users.attr('hidden', loaded ? null : true);
    tokens.attr('hidden', loaded ? null : true);
    renderUsers();
    renderTokens();
  }

  function renderUsers() {
    const self = me()?.username;
    const row = userBody.selectAll('tr').data(userList, (d) => d.id).join((enter) => {
      const tr = enter.append('tr');
      tr.append('th').attr('scope', 'row').attr('class', 'admin-name');
      tr.append('td').append('select').attr('class', 'admin-role')
        .call((s) => s.selectAll('option').data(ROLES).join('option').attr('value', (r) => r).text((r) => r));
      const st = tr.append('td').attr('class', 'admin-state');
      st.append('span').attr('class', 'admin-state-text');
      st.append('button').attr('type', 'button').attr('class', 'quiet admin-disable');
      const pw = tr.append('td').attr('class', 'admin-password');
      pw.append('button').attr('type', 'button').attr('class', 'quiet admin-reset');
      const f = pw.append('form').attr('class', 'admin-reset-form').attr('novalidate', true);
      f.append('input').attr('type', 'password').attr('autocomplete', 'new-password').attr('class', 'admin-reset-input');
      f.append('button').attr('type', 'submit').text('Save');
      f.append('button').attr('type', 'button').attr('class', 'quiet admin-reset-cancel').text('Cancel');
      tr.append('td').attr('class', 'admin-when');
      return tr;
    })
      .attr('data-user', (d) => d.username)
      .classed('is-disabled', (d) => !!d.disabled);
    row.select('.admin-name').text((d) => `${d.username}${d.username === self ? ' (you)' : ''}`);
    row.select('.admin-role')
      .attr('aria-label', (d) => `Role of ${d.username}`)
      .property('value', (d) => d.role)
      .property('disabled', (d) => busy.has(`user:${d.id}`))
      .on('change', (ev, d) => update(d, { role: ev.target.value }, `${d.username} is now ${ev.target.value}.`));
    row.select('.admin-state-text').text((d) => (d.disabled ? 'disabled' : 'active'));
    row.select('.admin-disable')
      .attr('aria-label', (d) => `${d.disabled ? 'Enable' : 'Disable'} ${d.username}`)
      .property('disabled', (d) => busy.has(`user:${d.id}`))
      .text((d) => (d.disabled ? 'Enable' : 'Disable'))
      .on('click', (ev, d) => update(d, { disabled: !d.disabled },
        `${d.username} is ${d.disabled ? 'enabled again' : 'disabled: their sessions and tokens no longer work'}.`));
    row.select('.admin-reset')
      .attr('hidden', (d) => (resetting === d.id ? true : null))
      .attr('aria-label', (d) => `${d.has_password ? 'Reset' : 'Set'} the password of ${d.username}`)
      .text((d) => (d.has_password ? 'Reset password' : 'Set password'))
      .on('click', (ev, d) => {
        resetting = d.id;
        renderUsers();
        userBody.select(`tr[data-user="${CSS.escape(d.username)}"] .admin-reset-input`).node()?.focus();
      });
    const form = row.select('.admin-reset-form').attr('hidden', (d) => (resetting === d.id ? null : true))
      .on('submit', (ev, d) => { ev.preventDefault(); resetPassword(d, d3.select(ev.target).select('input').property('value')); });
    form.select('.admin-reset-input').attr('aria-label', (d) => `New password for ${d.username}`)
      .attr('placeholder', `${PASSWORD_MIN}+ characters`);
    form.select('.admin-reset-cancel').on('click', () => { resetting = null; renderUsers(); });
    row.select('.admin-when').text((d) => when(d.created_at));

    const before = tokUser.property('value');
    tokUser.selectAll('option').data(userList.filter((u) => !u.disabled), (d) => d.id).join('option')
      .attr('value', (d) => d.id).text((d) => `${d.username} (${d.role})`);
    const mine = userList.find((u) => u.username === self);
    tokUser.property('value', before && userList.some((u) => String(u.id) === before) ? before : mine ? String(mine.id) : null);
  }

  function tokenState(t) {
    if (t.revoked_at) return `revoked ${when(t.revoked_at)}`;
    if (t.expires_at && new Date(t.expires_at) <= new Date()) return 'expired';
    return t.expires_at ? `active until ${when(t.expires_at)}` : 'active';
  }

  function renderTokens() {
    const rows = [...tokenList].sort((a, b) => (!!a.revoked_at - !!b.revoked_at) || b.id - a.id);
    const row = tokenBody.selectAll('tr').data(rows, (d) => d.id).join((enter) => {
      const tr = enter.append('tr');
      tr.append('th').attr('scope', 'row').attr('class', 'admin-name');
      tr.append('td').attr('class', 'admin-token-owner');
      tr.append('td').append('code').attr('class', 'admin-prefix');
      tr.append('td').attr('class', 'admin-when');
      tr.append('td').attr('class', 'admin-used');
      tr.append('td').attr('class', 'admin-token-state');
      const act = tr.append('td').attr('class', 'admin-token-actions');
      act.append('button').attr('type', 'button').attr('class', 'quiet admin-revoke');
      act.append('button').attr('type', 'button').attr('class', 'quiet admin-keep').text('Keep');
      return tr;
    })
      .attr('data-token', (d) => d.id)
      .classed('is-revoked', (d) => !!d.revoked_at);
    row.select('.admin-name').text((d) => d.name);
    row.select('.admin-token-owner').text((d) => d.username);
    row.select('.admin-prefix').text((d) => `${d.prefix}…`);
    row.select('.admin-when').text((d) => when(d.created_at));
    row.select('.admin-used').text((d) => (d.last_used_at ? when(d.last_used_at) : 'never'));
    row.select('.admin-token-state').text(tokenState);
    row.select('.admin-revoke')
      .attr('hidden', (d) => (d.revoked_at ? true : null))
      .property('disabled', (d) => busy.has(`token:${d.id}`))
      .attr('aria-label', (d) => (confirming === d.id ? `Confirm: revoke the token “${d.name}” of ${d.username}` : `Revoke the token “${d.name}” of ${d.username}`))
      .classed('danger', (d) => confirming === d.id)
      .text((d) => (confirming === d.id ? 'Confirm revoke' : 'Revoke'))
      .on('click', (ev, d) => { if (confirming === d.id) revoke(d); else { confirming = d.id; renderTokens(); } });
    row.select('.admin-keep')
      .attr('hidden', (d) => (confirming === d.id && !d.revoked_at ? null : true))
      .attr('aria-label', (d) => `Keep the token “${d.name}”`)
      .on('click', () => { confirming = null; renderTokens(); });
  }

  async function createUser() {
    const username = newName.property('value').trim();
    const password = newPass.property('value');
    const role = newRole.property('value');
    if (!username) { say(userMsg, 'Type a username first.', 'error'); newName.node().focus(); return; }
    if (password && password.length < PASSWORD_MIN) { say(userMsg, `A password needs at least ${PASSWORD_MIN} characters.`, 'error'); return; }
    userBtn.property('disabled', true);
    try {
      const u = await api.post('/api/v1/users', { username, role, ...(password ? { password } : {}) });
      userList = [...userList, u];
      newName.property('value', '');
      newPass.property('value', '');
      say(userMsg, `Created ${u.username} (${u.role}).`, 'ok');
      announce(`User ${u.username} created as ${u.role}.`);
    } catch (e) {
      say(userMsg, e.status === 409 ? `There is already a user “${username}”.` : `Not created: ${e.message}`, 'error');
    } finally {
      userBtn.property('disabled', false);
      render();
    }
  }

  // PATCH one user; the row shows what the server answered (or, refused, what it has).
  async function update(u, patch, done) {
    busy.add(`user:${u.id}`);
    renderUsers();
    try {
      const next = await api.patch(`/api/v1/users/${u.id}`, patch);
      userList = userList.map((x) => (x.id === u.id ? { ...x, ...next } : x));
      say(status, done, 'ok');
      announce(done);
      return true;
    } catch (e) {
      say(status, e.status === 409 ? `Not changed: ${e.message}.` : `Could not change ${u.username}: ${e.message}`, 'error');
      return false;
    } finally {
      busy.delete(`user:${u.id}`);
      renderUsers();
    }
  }

  async function resetPassword(u, password) {
    if (password.length < PASSWORD_MIN) { say(status, `A password needs at least ${PASSWORD_MIN} characters.`, 'error'); return; }
    if (await update(u, { password }, `The password of ${u.username} is reset.`)) {
      resetting = null;
      renderUsers();
    }
  }

  async function createToken() {
    const name = tokName.property('value').trim();
    const uid = Number(tokUser.property('value'));
    const days = tokDays.property('value') ? Number(tokDays.property('value')) : null;
    if (!name) { say(tokenMsg, 'Name the token first (what it is for).', 'error'); tokName.node().focus(); return; }
    if (days !== null && !(Number.isInteger(days) && days >= 1 && days <= 3650)) {
      say(tokenMsg, 'Expiry: a whole number of days, 1 to 3650, or empty for never.', 'error'); return;
    }
    tokenBtn.property('disabled', true);
    try {
      const t = await api.post('/api/v1/tokens', { name, user_id: uid, ...(days ? { expires_in_days: days } : {}) });
      const owner = userList.find((u) => u.id === t.user_id)?.username ?? `user ${t.user_id}`;
      freshText.text(`Token “${t.name}” for ${owner}. Copy it now: it is not shown again (the server keeps only its hash).`);
      freshValue.property('value', t.token);
      fresh.attr('hidden', null);
      freshValue.node().select();
      tokName.property('value', '');
      tokDays.property('value', '');
      say(tokenMsg, '');
      announce(`Token ${t.name} created for ${owner}; copy it now.`);
      const list = await api.get('/api/v1/tokens');
      tokenList = list.items || [];
    } catch (e) {
      say(tokenMsg, `Not created: ${e.message}`, 'error');
    } finally {
      tokenBtn.property('disabled', false);
      render();
    }
  }

  async function copyToken() {
    try {
      await navigator.clipboard.writeText(freshValue.property('value'));
      announce('Token copied.');
    } catch {
      freshValue.node().select(); // no clipboard access: selected for Ctrl+C
    }
  }

  // The value leaves the page: only its prefix stays in the list.
  function forgetToken() {
    freshValue.property('value', '');
    fresh.attr('hidden', true);
    tokName.node().focus();
  }

  async function revoke(t) {
    confirming = null;
    busy.add(`token:${t.id}`);
    renderTokens();
    try {
      await api.del(`/api/v1/tokens/${t.id}`);
      tokenList = tokenList.map((x) => (x.id === t.id ? { ...x, revoked_at: new Date().toISOString() } : x));
      say(status, `The token “${t.name}” is revoked: it no longer signs anyone in.`, 'ok');
      announce(`Token ${t.name} revoked.`);
    } catch (e) {
      say(status, e.status === 404 ? `The token “${t.name}” was already revoked.` : `Could not revoke “${t.name}”: ${e.message}`, 'error');
    } finally {
      busy.delete(`token:${t.id}`);
      renderTokens();
    }
  }

  load();
  return { remove: () => root.remove() };
}
