// modules.test.mjs — static/store.js and static/api.js in plain node, no browser:
// the selection rules, the URL mirror and history, commands apart from data, error
// bodies turned into ApiError, the 401 hook, followJob's long-poll loop and stop(),
// bytes up and files down, the idle-time prefetch (static/prefetch.js) with the read
// counting it defers to (static/perf.js), and the page's pure helpers: the splits
// offered (splits.js), deltas that never colour a rounded zero (deltas.js), the
// classes that stand out (standout.js), mask outlines (outline.js) and the what-if's
// words (whatif.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as d3 from 'd3';
import { createStore, stateFromSearch, searchFromState } from '../../static/store.js';
import { createApi, ApiError, filenameOf } from '../../static/api.js';
import { requestStarted, requestEnded, readsInFlight, track } from '../../static/perf.js';
import { prefetchInIdle, holdPrefetch } from '../../static/prefetch.js';
import { splitOptions, orderSplits, shownSplit } from '../../static/splits.js';
import { formatDelta, formatValue } from '../../static/deltas.js';
import { standsOut, standoutMargin, MIN_SHORTFALL } from '../../static/standout.js';
import { maskPath } from '../../static/outline.js';
import { ppText, rankingLine, effectRows, scopeWords, effectOf } from '../../static/whatif.js';

// A window with just what the store touches: location, history, popstate.
function fakeWindow(search = '') {
  const listeners = {};
  const stack = [search];
  let at = 0;
  const win = {
    location: { pathname: '/', hash: '', search },
    history: {
      pushState(_s, _t, url) { stack.splice(at + 1); stack.push(new URL(url, 'http://x').search); at++; win.location.search = stack[at]; },
      replaceState(_s, _t, url) { stack[at] = new URL(url, 'http://x').search; win.location.search = stack[at]; },
    },
    addEventListener(type, fn) { (listeners[type] ||= []).push(fn); },
    back() { at--; win.location.search = stack[at]; for (const fn of listeners.popstate || []) fn(); },
    get stack() { return stack.slice(0, at + 1); },
  };
  return win;
}

test('store: the URL seeds the state; select() pushes history and fires namespaced events', () => {
  const win = fakeWindow('?project=p1&class=cat&other=keep');
  const store = createStore({ win, d3 });
  assert.deepEqual(store.state, { project: 'p1', class: 'cat', concept: null, subset: null, version: null, split: null });
  const seenA = [];
  const seenB = [];
  store.on('select.a', (e) => seenA.push(e)).on('select.b', (e) => seenB.push(e.changed));
  assert.deepEqual(store.select({ concept: 'grass' }, { source: 'concepts' }), ['concept']);
  assert.equal(win.location.search, '?project=p1&class=cat&other=keep&concept=grass');
  assert.equal(seenA[0].source, 'concepts');
  assert.deepEqual(seenB, [['concept']]);
  // Same value: no event, no history entry.
  assert.deepEqual(store.select({ concept: 'grass' }), []);
  assert.equal(seenA.length, 1);
  // A new class clears the concept and subset chosen under the old one.
  store.select({ class: 'dog' });
  assert.equal(store.get('concept'), null);
  // A new project clears everything under it but keeps the split.
  store.select({ split: 'train' });
  store.select({ project: 'p2' });
  assert.deepEqual(store.state, { project: 'p2', class: null, concept: null, subset: null, version: null, split: 'train' });
  // Removing a listener by name.
  store.on('select.a', null);
  store.select({ class: 'x' });
  assert.equal(seenA.length, 4);
  assert.throws(() => store.select({ nope: 1 }), /unknown selection key/);
});

test('store: back restores the previous selection and says it came from history', () => {
  const win = fakeWindow('');
  const store = createStore({ win, d3 });
  const events = [];
  store.on('select.t', (e) => events.push(e));
  store.select({ class: 'cat' });
  store.select({ class: 'dog' });
  win.back();
  assert.equal(store.get('class'), 'cat');
  assert.equal(events.at(-1).source, 'history');
  assert.equal(win.location.search, '?class=cat'); // popstate does not push again
  store.select({ split: 'shifted' }, { replace: true });
  assert.equal(win.stack.length, 2);
});

test('store: URL helpers round-trip and ignore junk', () => {
  const s = stateFromSearch('?class=%20a%20b%20&concept=&version=3');
  assert.equal(s.class, 'a b');
  assert.equal(s.concept, null);
  assert.equal(searchFromState(s), '?class=a+b&version=3');
  assert.deepEqual(stateFromSearch(searchFromState(s)), s);
  assert.equal(searchFromState(stateFromSearch('')), '');
  const data = [];
  const store = createStore({ win: null, d3 });
  store.on('data.x', (e) => data.push(e.key));
  store.setData('user', { username: 'a' });
  assert.equal(store.data('user').username, 'a');
  assert.deepEqual(data, ['user']);
});

test('store: commands are their own events, apart from data, and keep nothing', () => {
  const store = createStore({ win: null, d3 });
  const data = [];
  const hovers = [];
  const reloads = [];
  store.on('data.x', (e) => data.push(e.key));
  store.on('concept:hover.a', (w) => hovers.push(w));
  store.on('student:reload.b', (v) => reloads.push(v));
  store.command('concept:hover', 'grass');
  store.command('concept:hover', null);
  store.command('student:reload', { full: true });
  assert.deepEqual(hovers, ['grass', null]);
  assert.deepEqual(reloads, [{ full: true }]);
  assert.deepEqual(data, [], 'a command wakes no data listener');
  assert.equal(store.data('concept:hover'), undefined);
  store.setData('user', { username: 'a' });
  assert.equal(hovers.length, 2, 'data wakes no command listener');
  assert.throws(() => store.command('hoverConcept', 'x'), /unknown command/);
});

// A fetch that answers from a list of [status, body] and records the calls.
function fakeFetch(answers) {
  const calls = [];
  const fn = async (url, init) => {
    calls.push({ url, init });
    const a = typeof answers === 'function' ? await answers(url, init, calls.length) : answers.shift();
    if (a instanceof Error) throw a;
    const [status, body] = a;
    return {
      status, ok: status >= 200 && status < 300,
      text: async () => (body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body)),
    };
  };
  fn.calls = calls;
  return fn;
}

test('api: JSON in and out, same-origin credentials, errors become ApiError', async () => {
  let lost = 0;
  const fetchFn = fakeFetch([
    [201, { id: 7 }],
    [422, { error: { code: 'unprocessable', message: "field 'kind' is required" } }],
    [409, { error: { code: 'conflict', message: 'job 7 already finished' } }],
    [401, { error: { code: 'unauthorized', message: 'no session' } }],
    [401, { error: { code: 'unauthorized', message: 'wrong username or password' } }],
    [502, '<html>bad gateway</html>'],
    [204],
  ]);
  const api = createApi({ fetchFn, onUnauthorized: () => lost++ });
  assert.deepEqual(await api.post('/api/v1/jobs', { kind: 'diag.sleep' }), { id: 7 });
  const c0 = fetchFn.calls[0];
  assert.equal(c0.init.method, 'POST');
  assert.equal(c0.init.credentials, 'same-origin');
  assert.equal(c0.init.headers['Content-Type'], 'application/json');
  assert.equal(c0.init.body, '{"kind":"diag.sleep"}');

  await assert.rejects(api.post('/api/v1/jobs', {}), (e) => e instanceof ApiError && e.status === 422 &&
    e.code === 'unprocessable' && e.message === "field 'kind' is required" && !e.conflict);
  await assert.rejects(api.post('/api/v1/jobs/7/cancel'), (e) => e.status === 409 && e.conflict && e.code === 'conflict');
  await assert.rejects(api.get('/api/v1/me'), (e) => e.status === 401);
  assert.equal(lost, 1, 'a 401 on an ordinary call means the session is gone');
  await assert.rejects(api.login({ username: 'a', password: 'b' }), (e) => e.status === 401);
  assert.equal(lost, 1, 'a 401 from login is only a wrong password');
  await assert.rejects(api.get('/x'), (e) => e.status === 502 && e.code === 'http_502' && /HTTP 502/.test(e.message));
  assert.equal(await api.logout(), null);
  await assert.rejects(createApi({ fetchFn: fakeFetch([new TypeError('Failed to fetch')]) }).get('/x'),
    (e) => e.status === 0 && e.code === 'network');
  const q = fakeFetch([[200, {}]]);
  await createApi({ fetchFn: q }).get('/api/v1/jobs', { query: { state: 'running', kind: '', limit: 5 } });
  assert.equal(q.calls[0].url, '/api/v1/jobs?state=running&limit=5');
});

test('api.followJob: long-polls with after=seq until the job finishes', async () => {
  const seqs = [];
  const states = [
    { id: 3, seq: 5, state: 'running', progress: 0.5 },
    { id: 3, seq: 5, state: 'running', progress: 0.5 }, // wait expired, nothing new
    { id: 3, seq: 6, state: 'running', progress: 0.9 },
    { id: 3, seq: 7, state: 'succeeded', progress: 1 },
  ];
  const fetchFn = fakeFetch((url) => { seqs.push(new URL(url, 'http://x').searchParams.get('after')); return [200, states.shift()]; });
  const updates = [];
  const f = createApi({ fetchFn }).followJob(3, (j) => updates.push(j.progress), { after: 4, wait: 25 });
  const last = await f.done;
  assert.equal(last.state, 'succeeded');
  assert.deepEqual(updates, [0.5, 0.9, 1]);
  assert.deepEqual(seqs, ['4', '5', '5', '6']);
  assert.match(fetchFn.calls[0].url, /^\/api\/v1\/jobs\/3\?wait=25&after=4$/);
});

test('api.followJob: stop() aborts the open request; 404 ends it with the error', async () => {
  const fetchFn = fakeFetch((url, init) => new Promise((resolve, reject) => {
    init.signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })));
  }));
  const f = createApi({ fetchFn }).followJob(9, () => assert.fail('no update expected'));
  setTimeout(() => f.stop(), 20);
  assert.equal(await f.done, null);
  assert.equal(fetchFn.calls.length, 1);

  const gone = createApi({ fetchFn: fakeFetch([[404, { error: { code: 'not_found', message: 'no job 9' } }]]) })
    .followJob(9, () => {});
  await assert.rejects(gone.done, (e) => e.status === 404);
});

const pause = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(cond, ms = 3000) {
  for (const t0 = Date.now(); !cond(); await pause(10)) if (Date.now() - t0 > ms) throw new Error('timed out');
}

test('prefetch: one read at a time, held while a view read is in flight, failures skipped', async () => {
  const started = [];
  let running = 0;
  let most = 0;
  const read = (name, fails = false) => async () => {
    started.push(name);
    most = Math.max(most, ++running);
    await pause(15);
    running--;
    if (fails) throw new Error(`${name} failed`);
    return name;
  };
  requestStarted(); // a view's own read is in flight: the prefetch waits for it
  assert.equal(readsInFlight(), true);
  prefetchInIdle([read('a'), read('b', true), read('c')]);
  await pause(250);
  assert.deepEqual(started, []);
  requestEnded();
  assert.equal(readsInFlight(), false);
  await until(() => started.length === 3 && running === 0);
  assert.deepEqual(started, ['a', 'b', 'c']); // in order, the failure did not stop it
  assert.equal(most, 1);
});

test('prefetch: stops when the thing it warms is no longer shown', async () => {
  const started = [];
  let wanted = true;
  const read = (name) => async () => { started.push(name); wanted = false; await pause(5); };
  prefetchInIdle([read('a'), read('b'), read('c')], () => wanted);
  await until(() => started.length === 1);
  await pause(200);
  assert.deepEqual(started, ['a']);
});

test('prefetch: a 409 (the student changed under the page) ends the list', async () => {
  const started = [];
  const read = (name, status) => async () => {
    started.push(name);
    await pause(5);
    if (status) throw Object.assign(new Error(`${name}: HTTP ${status}`), { status });
  };
  prefetchInIdle([read('a', 500), read('b', 409), read('c'), read('d')]);
  await until(() => started.length === 2);
  await pause(300);
  assert.deepEqual(started, ['a', 'b']); // a 500 is skipped, a 409 stops the rest
});

test('perf.track: a joined background read counts as in flight until it settles', async () => {
  let settle;
  const p = track(new Promise((resolve, reject) => { settle = { resolve, reject }; }));
  assert.equal(readsInFlight(), true);
  settle.reject(new Error('gone'));
  await assert.rejects(p, /gone/); // the caller still sees the outcome
  await pause(0);
  assert.equal(readsInFlight(), false);
});

test('prefetch: a hold waits for the read in flight and pauses the rest until released', async () => {
  const log = [];
  const read = (name) => async () => { log.push(`start ${name}`); await pause(40); log.push(`end ${name}`); };
  prefetchInIdle([read('a'), read('b')]);
  await until(() => log.length === 1);
  const release = await holdPrefetch(); // resolves only once "a" has finished
  log.push('held');
  await pause(250);
  assert.deepEqual(log, ['start a', 'end a', 'held']);
  release();
  release(); // a second call is harmless
  await until(() => log.length === 5);
  assert.deepEqual(log.slice(3), ['start b', 'end b']);
});

// ---- the pure helpers of issue 16's page: splits, deltas, standing out, outlines,
// the confusion matrix's layout, downloads.

test('splits: the picker offers the data\'s splits in reading order, val included, and keeps a missing one', () => {
  assert.deepEqual(splitOptions(['test', 'val', 'train']).map((o) => o.value), ['train', 'val', 'test']);
  assert.equal(splitOptions(['test', 'val']).find((o) => o.value === 'test').label, 'Held-out test (default)');
  assert.equal(splitOptions(['val']).find((o) => o.value === 'val').label, 'Validation');
  // No data yet: the four known splits.
  assert.deepEqual(splitOptions(null).map((o) => o.value), ['train', 'val', 'test', 'shifted']);
  // Other names follow the known ones, by name.
  assert.deepEqual(orderSplits(['zeta', 'test', 'alpha', 'train']), ['train', 'test', 'alpha', 'zeta']);
  // A split from a link that this data lacks stays, marked, instead of silently switching.
  const opts = splitOptions(['train', 'test'], 'shifted');
  assert.deepEqual(opts.at(-1), { value: 'shifted', label: 'Shifted test (not in this data)', missing: true });
  assert.equal(splitOptions(['train', 'test'], 'test').some((o) => o.missing), false);
  // The split the views use: the store's, else the held-out test split.
  const store = createStore({ win: null, d3 });
  assert.equal(shownSplit(store), 'test');
  store.select({ split: 'val' });
  assert.equal(shownSplit(store), 'val');
});

test('deltas: a change that rounds to zero is grey "±0", never a coloured arrow', () => {
  // The "▼ −0.0 pp": −0.04 pp rounds to 0.0.
  assert.deepEqual(formatDelta(-0.0004), { text: '±0.0', dir: 'same', better: 'same' });
  assert.deepEqual(formatDelta(0.00049), { text: '±0.0', dir: 'same', better: 'same' });
  assert.deepEqual(formatDelta(-0.0005 + 1e-12), { text: '±0.0', dir: 'same', better: 'same' });
  assert.deepEqual(formatDelta(-0.0006), { text: '▼ −0.1', dir: 'down', better: 'worse' });
  assert.deepEqual(formatDelta(0.0123), { text: '▲ +1.2', dir: 'up', better: 'better' });
  // Counts where down is better (disagreements).
  assert.deepEqual(formatDelta(-3, { pp: false, up: false }), { text: '▼ −3', dir: 'down', better: 'better' });
  assert.deepEqual(formatDelta(0.4, { pp: false, up: false }), { text: '±0', dir: 'same', better: 'same' });
  assert.deepEqual(formatDelta(2, { pp: false, up: false }), { text: '▲ +2', dir: 'up', better: 'worse' });
  // No value (a split with no labelled images): a dash, no colour.
  assert.deepEqual(formatDelta(null), { text: '–', dir: 'none', better: 'none' });
  assert.deepEqual(formatDelta(NaN), { text: '–', dir: 'none', better: 'none' });
  assert.equal(formatValue(0.97912), '97.9%');
  assert.equal(formatValue(12, { pp: false }), '12');
  assert.equal(formatValue(undefined), '–');
});

test('standout: only classes well below the overall fidelity are flagged', () => {
  // The issue: a 97.9% student, a class at 96% with 4 disagreements out of 100: not flagged.
  assert.equal(standsOut({ fidelity: 0.96, n: 100, disagree: 4 }, 0.979), false);
  // 10 points below on 100 images: flagged.
  assert.equal(standsOut({ fidelity: 0.879, n: 100, disagree: 12 }, 0.979), true);
  // No disagreement, or no measure: never.
  assert.equal(standsOut({ fidelity: 0.5, n: 100, disagree: 0 }, 0.979), false);
  assert.equal(standsOut({ fidelity: null, n: 0, disagree: 0 }, 0.979), false);
  // Few images: one miss out of 4 (25 points below a 100%-ish student) is within noise
  // of a 70% student, but not of a 99% one.
  assert.equal(standsOut({ fidelity: 0.75, n: 4, disagree: 1 }, 0.7), false);
  assert.ok(standoutMargin(0.7, 4) > 0.4);
  assert.equal(standoutMargin(0.99, 1000), MIN_SHORTFALL);
  assert.equal(standoutMargin(0.9, 0), Infinity);
});

test('outline: a mask\'s outline is the edges between set and unset cells', () => {
  // One set cell of a 2x2 mask: its four edges.
  assert.equal(maskPath({ h: 2, w: 2, bits: '1000' }), 'M0 0H0.5M0 0.5H0.5M0 0V0.5M0.5 0V0.5');
  // Two cells side by side share no inner edge.
  const p = maskPath({ h: 1, w: 2, bits: '11' });
  assert.equal((p.match(/V/g) || []).length, 2);
  assert.equal(maskPath({ h: 2, w: 2, bits: '0000' }), '');
});

test('api: postBytes sends the bytes with their type; download returns the file and its name', async () => {
  const seen = [];
  const api = createApi({
    fetchFn: async (url, init) => {
      seen.push({ url, init });
      if (url.endsWith('.pt')) {
        return new Response(new Uint8Array([1, 2, 3]), { status: 200, headers: { 'Content-Disposition': 'attachment; filename="student-3-v2.pt"' } });
      }
      if (url.endsWith('/gone')) return new Response(JSON.stringify({ error: { code: 'conflict', message: 'stale' } }), { status: 409 });
      return new Response(JSON.stringify({ class: 'cat' }), { status: 200 });
    },
  });
  const bytes = new Blob([new Uint8Array([0xff, 0xd8, 0xff])], { type: 'image/jpeg' });
  assert.deepEqual(await api.postBytes('/p', bytes, 'image/jpeg'), { class: 'cat' });
  assert.equal(seen[0].init.headers['Content-Type'], 'image/jpeg');
  assert.equal(seen[0].init.body, bytes);
  const { blob, filename } = await api.download('/x/export.pt');
  assert.equal(filename, 'student-3-v2.pt');
  assert.deepEqual([...new Uint8Array(await blob.arrayBuffer())], [1, 2, 3]);
  await assert.rejects(api.download('/gone'), (e) => e instanceof ApiError && e.conflict && e.message === 'stale');
  assert.equal(filenameOf(null), null);
  assert.equal(filenameOf('attachment; filename=a.json'), 'a.json');
});

test('whatif: a removal helps or hurts a split by the rounded change; rows in reading order with the retrained measures', () => {
  assert.equal(ppText(0.0634), '+6.3 pp');
  assert.equal(ppText(-0.004), '\u22120.4 pp');
  assert.equal(ppText(0.0004), '±0.0 pp');
  assert.equal(ppText(null), '–');
  const item = { concept: 'brick', effect: 'helps', fidelity: -0.01, accuracy: 0.063 };
  assert.equal(rankingLine(item, 'shifted', 'accuracy'), 'helps Shifted test by +6.3 pp accuracy');
  assert.equal(rankingLine(item, 'shifted', 'fidelity'), 'hurts Shifted test by \u22121.0 pp fidelity');
  assert.equal(rankingLine({ ...item, accuracy: -0.0001 }, 'val', 'accuracy'), 'no change on Validation (±0.0 pp)');
  assert.deepEqual([effectOf(item, 'accuracy'), effectOf(item, 'fidelity'), effectOf({ ...item, accuracy: -0.0001 }, 'accuracy')],
    ['helps', 'hurts', 'none']);
  const m = (b, a) => ({ before: b, after: a, delta: a - b });
  const whatif = { splits: { shifted: { n: 10, fidelity: m(0.5, 0.6), accuracy: m(0.4, 0.5) },
    train: { n: 30, fidelity: m(0.9, 0.8), accuracy: null } } };
  const rows = effectRows(whatif, { splits: { shifted: { fidelity: 0.7, student_accuracy: 0.55 } } });
  assert.deepEqual(rows.map((r) => r.split), ['train', 'shifted']);
  assert.equal(rows[0].accuracy, null);
  assert.equal(rows[0].retrained, null);
  assert.deepEqual(rows[1].retrained, { fidelity: 0.7, accuracy: 0.55 });
  assert.deepEqual(effectRows(whatif).map((r) => r.retrained), [null, null]);
  assert.deepEqual([scopeWords(null), scopeWords('cat'), scopeWords(null, 'downtune'), scopeWords('cat', 'uptune')],
    ['from every class', 'from cat', 'in every class', 'for cat']);
});
