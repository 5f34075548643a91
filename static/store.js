// store.js — the shared selection every view reads, the shared data, and the events
// that tell views either changed or ask for something. Views never call each other:
// they call store.select(...) / store.command(...) and listen with namespaced
// listeners, e.g. store.on('select.concepts', fn), store.on('concept:hover.instances', fn).
//
// State: {project, class, concept, subset, version, split}, each a string or null.
//   project  a project id (dataset + teacher + concept model + corpus)
//   class    a class name/id of the project's dataset
//   concept  a concept id or word
//   subset   a named subset of instances, e.g. a disagreement cell "teacher=3,student=5"
//   version  a student version id (provenance)
//   split    which split the measures are computed on; null = the held-out default
// The URL's query string mirrors the state (only keys that are set), so a link
// reopens the same view; back/forward restore it.
//
// Events (d3.dispatch):
//   "select" ({state, changed: [keys], source})  after the selection changed
//   "data"   ({key, value})                       shared data was loaded or replaced
// Shared data (store.setData/store.data) is what several views need and one loads:
// the signed-in user ('user'), the Jobs panel's list ('jobs'), the project list
// ('projects'), the selected project's student ('student', sources/student.js).
// Commands (store.command(type, value)) ask for something and keep nothing; each
// is its own event type, so a listener wakes only for the ones it names:
//   "student:reload"  ({full})       re-read the student after a tune, restore or
//                                    distillation (sources/student.js)
//   "projects:reload" ()             re-read the project list (views/projects.js)
//   "job:new"         (job)          a job started on this page: the Jobs panel
//                                    shows and follows it at once
//   "concept:hover"   (word | null)  a concept name hovered or focused: the Instances
//                                    view outlines its segments
//   "predict:open"    ({version})    open "Try an image" on that version of the
//                                    shown student (views/predict.js)
// Leaves out: caching of API answers (each view owns its fetches).

export const KEYS = ['project', 'class', 'concept', 'subset', 'version', 'split'];
export const COMMANDS = ['student:reload', 'projects:reload', 'job:new', 'concept:hover', 'predict:open'];

// Selecting a broader key clears what only made sense under it.
const CLEARS = {
  project: ['class', 'concept', 'subset', 'version'],
  class: ['concept', 'subset'],
};

function emptyState() {
  return Object.fromEntries(KEYS.map((k) => [k, null]));
}

function clean(v) {
  if (v === undefined || v === null) return null;
  const s = String(v).trim();
  return s === '' ? null : s.slice(0, 200);
}

export function stateFromSearch(search) {
  const q = new URLSearchParams(search);
  const s = emptyState();
  for (const k of KEYS) s[k] = clean(q.get(k));
  return s;
}

export function searchFromState(state, keep = '') {
  // Unknown parameters already in the URL (someone else's) are kept.
  const q = new URLSearchParams(keep);
  for (const k of KEYS) {
    if (state[k] === null) q.delete(k);
    else q.set(k, state[k]);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

// createStore({win}) -> store. `win` is the window whose URL and history it mirrors
// (injectable for tests; pass null to keep the state in memory only).
export function createStore({ win = window, d3 = window.d3 } = {}) {
  const dispatch = d3.dispatch('select', 'data', ...COMMANDS);
  let state = win ? stateFromSearch(win.location.search) : emptyState();
  const data = new Map();

  function writeUrl(replace) {
    if (!win) return;
    const search = searchFromState(state, win.location.search);
    if (search === win.location.search) return;
    const url = win.location.pathname + search + win.location.hash;
    if (replace) win.history.replaceState(null, '', url);
    else win.history.pushState(null, '', url);
  }

  function apply(next, source, { push = false, replace = false } = {}) {
    const changed = KEYS.filter((k) => next[k] !== state[k]);
    if (!changed.length) return changed;
    state = next;
    if (push || replace) writeUrl(replace);
    dispatch.call('select', null, { state: { ...state }, changed, source });
    return changed;
  }

  if (win) {
    win.addEventListener('popstate', () => apply(stateFromSearch(win.location.search), 'history'));
  }

  return {
    KEYS,
    // A copy; mutate through select().
    get state() { return { ...state }; },
    get(key) { return state[key]; },

    // select({class: 'cat'}, {source: 'concepts', replace: false}) -> changed keys.
    // A key given as null clears it; keys not given stay, except those a broader
    // key clears (a new project clears class, concept, subset and version).
    select(patch, { source = null, replace = false } = {}) {
      const next = { ...state };
      for (const k of Object.keys(patch)) {
        if (!KEYS.includes(k)) throw new Error(`store: unknown selection key "${k}"`);
        const v = clean(patch[k]);
        if (v !== state[k] && CLEARS[k]) for (const c of CLEARS[k]) if (!(c in patch)) next[c] = null;
        next[k] = v;
      }
      return apply(next, source, { push: !replace, replace });
    },

    clear(source = null) {
      return apply(emptyState(), source, { push: true });
    },

    // on('select.heatmap', fn) adds a listener (null removes it); on(name) gets it.
    // The types: 'select', 'data' and each of COMMANDS.
    on(typenames, fn) {
      if (fn === undefined) return dispatch.on(typenames);
      dispatch.on(typenames, fn);
      return this;
    },

    data(key) { return data.get(key); },
    setData(key, value) {
      data.set(key, value);
      dispatch.call('data', null, { key, value });
    },

    // command('concept:hover', 'grass'): tell the listeners of that command, and only
    // them; nothing is stored.
    command(type, value) {
      if (!COMMANDS.includes(type)) throw new Error(`store: unknown command "${type}"`);
      dispatch.call(type, null, value);
    },
  };
}
