// views/concepts/influence.js — the selected class's concepts ranked by influence
// (GET …/versions/{v}/classes/{k}/influence?split=, the split the header shows:
// influence = weight × mean presence over the images the teacher puts in the class
// on that split): read once per (student, version, class, split) and kept (a
// version never changes), a prefetch in flight joined,
// and the other classes' rankings read in idle time (prefetch.js) so that picking
// another class draws at once (bench/ui_perf.mjs "select").

import { track } from '../../perf.js';
import { prefetchInIdle } from '../../prefetch.js';
import { shownSplit } from '../../splits.js';
import { selectedClass, viewing } from './state.js';
import { render } from './render.js';

const KEEP = 64; // rankings kept, newest last

export function loadInfluence(view) {
  const { store, state } = view;
  const g = ++state.infGen;
  state.influenceError = '';
  const k = selectedClass(view);
  const { info } = state;
  if (!info || info.none || !k || info.student?.stale || !(info.student?.classes || []).includes(k)) {
    state.influence = null; state.influenceState = 'idle'; render(view); return;
  }
  const v = viewing(view);
  const split = shownSplit(store);
  const key = `${info.student.id}:${v}:${k}:${split}`;
  const kept = state.kept.get(key);
  if (kept) {
    state.kept.delete(key); state.kept.set(key, kept);
    state.influence = kept; state.influenceState = 'ok';
    render(view);
    return;
  }
  // The rows shown stay (dimmed, their buttons off) until the new ones arrive: the
  // keyed join then updates them in place instead of rebuilding the list.
  state.influenceState = 'loading';
  render(view);
  readInfluence(view, info.student.id, v, k, split).then((r) => {
    if (g !== state.infGen) return;
    state.influence = r; state.influenceState = 'ok';
    render(view);
    prefetchOtherClasses(view);
  }, (e) => {
    if (g !== state.infGen) return;
    state.influenceState = 'error'; state.influenceError = e.message;
    render(view);
  });
}

// One class's ranking of one version, read once (a prefetch in flight is joined).
function readInfluence(view, sid, v, k, split, { background = false } = {}) {
  const { api, state } = view;
  const key = `${sid}:${v}:${k}:${split}`;
  const inFlight = state.reads.get(key);
  if (inFlight) return background ? inFlight : track(inFlight);
  const p = api.get(`/api/v1/students/${sid}/versions/${v}/classes/${encodeURIComponent(k)}/influence`,
    { query: { split }, background }).then((r) => {
    state.kept.set(key, r);
    if (state.kept.size > KEEP) state.kept.delete(state.kept.keys().next().value);
    return r;
  });
  state.reads.set(key, p);
  p.then(() => state.reads.delete(key), () => state.reads.delete(key));
  return p;
}

// The other classes' rankings of the shown version, in idle time.
function prefetchOtherClasses(view) {
  const { store, state } = view;
  const sid = state.info.student.id;
  const v = viewing(view);
  const split = shownSplit(store);
  const todo = (state.info.student.classes || []).filter((c) => !state.kept.has(`${sid}:${v}:${c}:${split}`));
  prefetchInIdle(todo.map((c) => () => readInfluence(view, sid, v, c, split, { background: true })),
    () => state.info?.student?.id === sid && !state.info.student.stale && viewing(view) === v && shownSplit(store) === split);
}
