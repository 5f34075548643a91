// views/concepts.js — the selected class's concepts ranked by influence (weight ×
// mean presence) as a diverging bar chart, searchable, with no-code tuning: uptune /
// downtune by a factor and remove per row, and a box to add a new concept word.
//
// Data: the project's student comes from store data 'student' (sources/student.js,
// {project, state, info, student}). Tuning (and adding a word: a tune with an "add"
// action) POSTs a new version on the head, then
// reloadStudent(store) asks the source for the new head, so every view re-reads
// without a page reload. Hovering or focusing a concept's name sends the store
// command 'concept:hover' (the word, or null): the Instances view outlines that
// concept's segments.
//
// Parts (views/concepts/, plain functions of one context {store, api, state, ui}):
//   state.js      the view's state object and the questions asked of it (canTune, …)
//   dom.js        the nodes, built once, and the ranking chart's row controls
//   influence.js  reading (and prefetching) the rankings
//   whatif.js     every concept's removal ranked on the split, one action's effect
//                 (it redraws and tunes through what dom.js hands it: render.js draws it)
//   vocabulary.js suggestions for the word typed
//   actions.js    tune (one class or every class), reload the head after a conflict, add a word
//   render.js     drawing the state
// This file starts the view and follows the store.
//
// init(store, api, el) -> {update()}

import { studentSource, fromSnap, headOf } from '../sources/student.js';
import { createState, clearNote } from './concepts/state.js';
import { buildDom } from './concepts/dom.js';
import { loadInfluence } from './concepts/influence.js';
import { loadWhatif } from './concepts/whatif.js';
import { render } from './concepts/render.js';

export function init(store, api, el) {
  const source = studentSource(store, api);
  const view = { store, api, state: createState(source.current), ui: null };
  view.ui = buildDom(view, el);

  store.on('select.concepts', ({ changed }) => {
    if (changed.includes('project')) { leaveProject(view); return; }
    if (changed.some((k) => ['class', 'split', 'version'].includes(k))) { clearNote(view.state); loadAll(view); return; }
    render(view);
  });
  store.on('data.concepts', ({ key, value }) => {
    if (key === 'student' && value) takeSnap(view, value);
    else if (key === 'user') render(view);
  });

  takeSnap(view, source.current);
  return { update: () => render(view) };
}

// A new snapshot: the same student at the same head keeps what is shown.
function takeSnap(view, next) {
  const { store, state } = view;
  if (next.project !== store.get('project')) return;
  const old = state.info;
  state.snap = next;
  const info = fromSnap(next);
  state.info = info;
  // The student read again after an added word: the views have the new head now.
  if (state.releasePrefetch && !state.adding && next.state !== 'loading') { state.releasePrefetch(); state.releasePrefetch = null; }
  if (old && old.student?.id !== info?.student?.id) { view.ui.distil.reset(); state.conflict = null; state.applied = null; clearNote(state); }
  // Notices that no longer hold: a word about an earlier head (a restore or someone's
  // tune came since), a conflict whose newer head is now the one shown.
  const h = headOf(info);
  if (state.note.head !== null && h !== null && h > state.note.head && !state.busy) clearNote(state);
  if (state.conflict && h !== null && h >= state.conflict.head) state.conflict = null;
  if (old?.student?.id !== info?.student?.id || headOf(old) !== headOf(info) ||
    !!old?.student?.stale !== !!info?.student?.stale) loadAll(view);
  else render(view);
}

// What is shown for a (student, version, class, split): the ranking and the what-if.
function loadAll(view) {
  loadWhatif(view);
  loadInfluence(view);
}

// Another project: nothing of this one's stays (late answers are dropped by gen).
function leaveProject(view) {
  const { state } = view;
  state.gen++;
  state.info = null; state.snap = null; state.influence = null; state.conflict = null;
  state.whatif = null; state.whatifState = 'idle'; state.candidate = null; state.effect = null; state.applied = null;
  state.whatifGen++;
  state.releasePrefetch?.(); state.releasePrefetch = null;
  clearNote(state); state.addError = ''; state.busy = null;
  view.ui.distil.reset();
  render(view);
}
