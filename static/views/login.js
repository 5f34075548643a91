// views/login.js — the sign-in view: username + password, or an API token.
// Both forms submit on Enter; errors go to the role="alert" region under them.
// init(store, api, el, {onSignedIn}) -> {show(message), hide()}
// onSignedIn(user) runs after a successful login ({id, username, role}).

export function init(store, api, el, { onSignedIn }) {
  const $ = (sel) => el.querySelector(sel);
  const error = $('#login-error');
  const forms = [$('#login-password'), $('#login-token')];

  function say(text) { error.textContent = text; }

  function busy(on) {
    for (const f of forms) {
      for (const c of f.elements) c.disabled = on;
    }
    el.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  async function submit(form, credentials, firstField) {
    say('');
    busy(true);
    try {
      const { user } = await api.login(credentials);
      form.reset();
      onSignedIn(user);
    } catch (e) {
      if (e.status === 401) say(credentials.token ? 'That API token was not accepted. Check it and try again.'
        : 'Wrong username or password.');
      else if (e.status === 429) say('Too many attempts. Wait a moment and try again.');
      else say(`Could not sign in: ${e.message}`);
      busy(false);
      firstField.focus();
      firstField.select?.();
      return;
    }
    busy(false);
  }

  $('#login-password').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const username = $('#login-username').value.trim();
    const password = $('#login-pass').value;
    if (!username || !password) {
      say('Enter both a username and a password, or use an API token below.');
      (username ? $('#login-pass') : $('#login-username')).focus();
      return;
    }
    submit(ev.target, { username, password }, $('#login-pass'));
  });

  $('#login-token').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = $('#login-token-input').value.trim();
    if (!token) {
      say('Paste an API token first.');
      $('#login-token-input').focus();
      return;
    }
    submit(ev.target, { token }, $('#login-token-input'));
  });

  return {
    show(message = '') {
      say(message);
      busy(false);
      el.hidden = false;
      $('#login-username').focus();
    },
    hide() {
      el.hidden = true;
      say('');
    },
  };
}
