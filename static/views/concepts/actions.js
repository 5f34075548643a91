// views/concepts/actions.js — what the Concepts view's controls do:
//   tune(view, action, concept)  POST a new version on the head (uptune / downtune by
//                                the factor, or remove); a weight an earlier tune
//                                bounded is released first. A 409 with {head} means
//                                someone else tuned first: it is explained, with a
//                                button that reloads the head (reloadHead).
//   addWord(view)                POST /corpora/{id}/words: answers when the word's
//                                presence column exists; the student is then stale
//                                until it is distilled again (the "Distil again" job).
// Each ends with reloadStudent(store): the source publishes the student again and
// every view follows without a page reload.

import { announce } from '../../ui.js';
import { begin } from '../../perf.js';
import { holdPrefetch } from '../../prefetch.js';
import { reloadStudent, fetchVersion, headOf } from '../../sources/student.js';
import { canTune, clearNote, selectedClass } from './state.js';
import { render } from './render.js';

const ACTION_WORDS = { uptune: 'Uptuning', downtune: 'Downtuning', remove: 'Removing' };

// A status line about head `head` (null: about the action in progress).
function say(view, text, kind = 'info', head = null) {
  view.state.note = { text, kind, head };
  render(view);
}

export async function tune(view, action, concept) {
  const { store, api, state } = view;
  if (state.busy || !canTune(view)) return;
  begin('tune-updated', { until: () => !state.busy }); // click -> every view on the new head
  const sid = state.info.student.id;
  const parent = headOf(state.info);
  const k = selectedClass(view);
  let ver = null;
  try { ver = await fetchVersion(api, sid, parent); } catch { /* bounds unknown: no release */ }
  const actions = [];
  // A weight held by an earlier uptune/downtune must be released before a new bound.
  const ki = ver?.classes?.indexOf(k) ?? -1, ji = ver?.concepts?.indexOf(concept) ?? -1;
  if (ver?.bounds && ki >= 0 && ji >= 0 && (ver.bounds.lo?.[ki]?.[ji] != null || ver.bounds.hi?.[ki]?.[ji] != null)) {
    actions.push({ action: 'release', concept, class: k });
  }
  actions.push(action === 'remove' ? { action, concept, class: k } : { action, concept, class: k, factor: state.factor });
  state.busy = { concept, action };
  state.conflict = null;
  say(view, `${ACTION_WORDS[action]} “${concept}” for ${k}: retraining the class and recomputing the measures…`, 'busy');
  announce(`${ACTION_WORDS[action]} ${concept}…`);
  try {
    const r = await api.post(`/api/v1/students/${sid}/versions`, { parent, actions,
      note: `${action} ${concept} for ${k}${action === 'remove' ? '' : ` ×${state.factor}`}` });
    state.busy = null;
    state.note = { text: `Version ${r.number} is the new head: ${action === 'remove' ? 'removed' : `${action}d ×${state.factor}`} “${concept}” for ${k}.`, kind: 'ok', head: r.number };
    announce(state.note.text);
    render(view);
    reloadStudent(store);
  } catch (e) {
    state.busy = null;
    if (e.conflict && e.body && e.body.head != null) {
      state.conflict = { head: e.body.head, parent };
      clearNote(state);
    } else if (e.conflict) {
      say(view, `Not applied: ${e.message}`, 'error', parent);
    } else if (e.status === 403) {
      say(view, 'Your role cannot tune students; an editor or admin can.', 'error', parent);
    } else {
      say(view, `Not applied: ${e.message}`, 'error', parent);
    }
    render(view);
    if (state.conflict) view.ui.conflictBox.select('button').node().focus();
  }
}

export function reloadHead(view) {
  const { store, state } = view;
  if (!state.info?.student?.id) return;
  const head = state.conflict?.head;
  state.conflict = null;
  state.note = { text: `Reloaded: version ${head ?? 'the newest'} is the head. Tune again if you still want your change.`, kind: 'ok', head: head ?? null };
  render(view);
  announce(state.note.text);
  reloadStudent(store);
}

export async function addWord(view) {
  const { store, api, state, ui } = view;
  const word = ui.addInput.property('value').trim();
  if (!word || state.adding) { if (!word) { state.addError = 'Type a concept word first.'; render(view); } return; }
  const corpus = state.info?.project?.corpus_id;
  if (!corpus) return;
  state.adding = true; state.addError = '';
  render(view);
  announce(`Adding ${word}…`);
  const g = state.gen;
  state.releasePrefetch?.();
  state.releasePrefetch = await holdPrefetch(); // the student goes stale: its reads would 409
  try {
    const r = await api.post(`/api/v1/corpora/${corpus}/words`, { word });
    if (g !== state.gen) { state.releasePrefetch?.(); state.releasePrefetch = null; return; }
    const norm = word.toLowerCase().replace(/\s+/g, ' ');
    const known = (r.words || []).find((w) => w === norm) || norm;
    state.pending = [...state.pending.filter((w) => w !== known), known];
    ui.addInput.property('value', '');
    state.addError = '';
    clearNote(state);
    state.adding = false;
    announce(`“${known}” added; distil again to weigh it.`);
    render(view);
    // The extraction changed, so the student is stale now: read it again.
    reloadStudent(store);
  } catch (e) {
    state.releasePrefetch?.(); state.releasePrefetch = null;
    if (g !== state.gen) return;
    state.adding = false;
    state.addError = e.status === 409 ? `“${word}” is already a concept of this corpus.`
      : e.status === 422 ? `Not added: ${e.message}`
        : e.status === 403 ? 'Your role cannot add concepts; an editor or admin can.'
          : `Not added: ${e.message}`;
    render(view);
    ui.addMsg.node().scrollIntoView({ block: 'nearest' });
  }
}
