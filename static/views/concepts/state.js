// views/concepts/state.js — what the Concepts view knows, in one object (the view's
// only mutable state), and the questions the other parts ask of it.
//
// The view's parts share one context, `view`:
//   {store, api, state: createState(), ui: buildDom()}
// and are plain functions of it: render(view), loadInfluence(view), tune(view, …).

import { canEdit } from '../../ui.js';
import { shownVersion, headOf } from '../../sources/student.js';

export const FACTORS = [1.5, 2, 4, 10];

// snap: the store's 'student' snapshot to start from (sources/student.js).
export function createState(snap) {
  return {
    snap,                    // the store's 'student' snapshot
    info: null,              // fromSnap(snap): {none, student, head, project} | null
    influence: null,         // the shown class's ranking {class, n_images, bias, items}
    influenceState: 'idle',  // idle | loading | ok | error
    influenceError: '',
    kept: new Map(),         // `${student}:${version}:${class}:${split}` -> ranking (a version never changes)
    reads: new Map(),        // the same keys -> the read in flight
    busy: null,              // {concept, action} while a tune runs
    note: { text: '', kind: '', head: null }, // the status line; head: the head it speaks of
                             // (a later head clears it: "Version 2 is the new head" is
                             // no longer true after a restore)
    conflict: null,          // {head, parent} after a 409: someone else tuned first
    query: '',               // the search box, lower case
    factor: FACTORS[1],      // what uptune multiplies (and downtune divides) a weight by
    adding: false,           // a word is being added (a tune with an "add" action)
    addError: '',            // why the word was refused (the 422's message names the nearest words)
    vocab: { prefix: null, open: false, items: [], total: 0 }, // suggestions for the word typed (the concept model's vocabulary)
    vocabGen: 0,             // bumped per vocabulary read: late answers are dropped
    vocabTimer: null,        // the pause in typing before the read
    releasePrefetch: null,   // held from adding a word until the re-read student arrives
    // What-if (views/concepts/whatif.js): removing each concept ranked on the shown
    // split, for the selected class or every class, and one candidate's exact effect.
    whatifAll: false,        // rank removals from every class, not only the selected one
    whatif: null,            // the ranking shown {version, split, class, by, baseline, items}
    whatifState: 'idle',     // idle | loading | ok | error
    whatifError: '',
    whatifKept: new Map(),   // `${student}:${version}:${class|*}:${split}` -> ranking (versions never change)
    whatifReads: new Map(),  // the same keys -> the read in flight (a prefetch joined)
    candidate: null,         // {concept, action, cls} hovered or focused: its effect is shown
    picked: new Set(),       // concepts ticked in the what-if list, removed together in one version
    effect: null,            // the candidate's …/whatif answer
    effectKept: new Map(),   // `${student}:${version}:${action}:${concept}:${class|*}:${factor}` -> answer
    applied: null,           // {words, action, cls, number, measures, effect}: the last applied action
    whatifGen: 0,            // bumped per ranking load: late rankings are dropped
    effectGen: 0,            // bumped per effect read: late effects are dropped
    gen: 0,                  // bumped on a project change: late answers are dropped
    infGen: 0,               // bumped per ranking load: late rankings are dropped
  };
}

export const clearNote = (state) => { state.note = { text: '', kind: '', head: null }; };
export const selectedClass = (view) => view.store.get('class');
// The class the what-if ranks removals from: null for every class.
export const whatifClass = (view) => (view.state.whatifAll ? null : selectedClass(view));
// The version shown: the store's version when the student has it, else the head.
export const viewing = (view) => shownVersion(view.store, view.state.snap);

// Tuning needs an editor, a fresh student, and its head on screen.
export function canTune(view) {
  const { info } = view.state;
  return canEdit(view.store.data('user')) && !!info && !info.none && !info.student?.stale &&
    viewing(view) === headOf(info);
}
