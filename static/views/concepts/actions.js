// views/concepts/actions.js — what the Concepts view's controls do:
//   tune(view, action, concept, cls)  POST a new version on the head (uptune / downtune
//                                by the factor, or remove) of a concept (or of each of
//                                an array of concepts: still one version) for class cls, or for every
//                                class when cls is null (one action: one version, one
//                                provenance entry); a weight an earlier tune bounded is
//                                released first. A 409 with {head} means someone else
//                                tuned first: it is explained, with a button that
//                                reloads the head (reloadHead). The reply's measures
//                                (retrained) are kept in state.applied for the what-if
//                                panel, beside the effect it predicted.
//   addWord(view)                a tune with {"action": "add", "concept": word}: a new
//                                version with the word as a new column (the server adds
//                                it to the corpus and computes its presence within the
//                                request); a word the concept model cannot read is a
//                                422 whose message names the nearest words it has.
// Each ends with reloadStudent(store): the source publishes the student again and
// every view follows without a page reload.

import { announce } from '../../ui.js';
import { begin } from '../../perf.js';
import { holdPrefetch } from '../../prefetch.js';
import { reloadStudent, fetchVersion, headOf } from '../../sources/student.js';
import { canTune, clearNote, selectedClass } from './state.js';
import { render } from './render.js';

const ACTION_WORDS = { uptune: 'Uptuning', downtune: 'Downtuning', remove: 'Removing' };
const forWhom = (cls) => (cls ? `for ${cls}` : 'in every class');

// A status line about head `head` (null: about the action in progress).
function say(view, text, kind = 'info', head = null) {
  view.state.note = { text, kind, head };
  render(view);
}

export async function tune(view, action, concept, cls = selectedClass(view)) {
  const { store, api, state } = view;
  if (state.busy || !canTune(view)) return;
  begin('tune-updated', { until: () => !state.busy }); // click -> every view on the new head
  const sid = state.info.student.id;
  const parent = headOf(state.info);
  // One concept, or several (the what-if's picked rows): one version either way.
  const words = [].concat(concept);
  const named = words.map((w) => `“${w}”`).join(', ');
  let ver = null;
  try { ver = await fetchVersion(api, sid, parent); } catch { /* bounds unknown: no release */ }
  const actions = [];
  for (const w of words) {
    // A weight held by an earlier uptune/downtune must be released before a new bound.
    const ji = ver?.concepts?.indexOf(w) ?? -1;
    const bounded = (ki) => ver?.bounds && ki >= 0 && ji >= 0 && (ver.bounds.lo?.[ki]?.[ji] != null || ver.bounds.hi?.[ki]?.[ji] != null);
    if (cls ? bounded(ver?.classes?.indexOf(cls) ?? -1) : (ver?.classes || []).some((c, ki) => bounded(ki))) {
      actions.push(cls ? { action: 'release', concept: w, class: cls } : { action: 'release', concept: w });
    }
    const act = { action, concept: w };
    if (cls) act.class = cls;
    if (action !== 'remove') act.factor = state.factor;
    actions.push(act);
  }
  const factorText = action === 'remove' ? '' : ` ×${state.factor}`;
  const predicted = words.length === 1 && state.effect && state.candidate?.concept === words[0] &&
    state.candidate?.action === action && state.candidate?.cls === cls ? state.effect : null;
  state.busy = { concept: words.length === 1 ? words[0] : null, action, cls, words };
  state.conflict = null;
  say(view, `${ACTION_WORDS[action]} ${named} ${forWhom(cls)}: retraining ${cls ? 'the class' : 'the classes that change'} and recomputing the measures…`, 'busy');
  announce(`${ACTION_WORDS[action]} ${words.join(', ')}…`);
  try {
    const r = await api.post(`/api/v1/students/${sid}/versions`, { parent, actions,
      note: `${action} ${words.join(', ')} ${forWhom(cls)}${factorText}` });
    state.busy = null;
    state.picked.clear();
    state.applied = { words, action, cls, number: r.number, measures: r.measures, effect: predicted };
    state.note = { text: `Version ${r.number} is the new head: ${action === 'remove' ? 'removed' : `${action}d${factorText}`} ${named} ${forWhom(cls)}.`, kind: 'ok', head: r.number };
    announce(state.note.text);
    render(view);
    reloadStudent(store);
  } catch (e) {
    state.busy = null;
    if (e.conflict && e.body && e.body.head != null) {
      state.conflict = { head: e.body.head, parent };
      clearNote(state);
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
  const word = ui.addInput.property('value').trim().toLowerCase().replace(/\s+/g, ' ');
  if (!word || state.adding || state.busy) { if (!word) { state.addError = 'Type a concept word first.'; render(view); } return; }
  if (!canTune(view)) return;
  if ((state.info.student.head?.concepts || []).includes(word)) { state.addError = `“${word}” is already a concept of this version.`; render(view); return; }
  begin('tune-updated', { until: () => !state.adding });
  const sid = state.info.student.id;
  const parent = headOf(state.info);
  state.adding = true; state.addError = ''; state.conflict = null;
  clearNote(state);
  render(view);
  announce(`Adding ${word}…`);
  const g = state.gen;
  // The server rewrites the extraction's presence with the new column within the
  // request: background reads wait until the views have the new head.
  state.releasePrefetch?.();
  state.releasePrefetch = await holdPrefetch();
  try {
    const r = await api.post(`/api/v1/students/${sid}/versions`, { parent, actions: [{ action: 'add', concept: word }],
      note: `add ${word}` });
    if (g !== state.gen) { state.releasePrefetch?.(); state.releasePrefetch = null; return; }
    ui.addInput.property('value', '');
    state.adding = false;
    const retrained = r.retrained || [];
    state.note = { text: `Version ${r.number} is the new head: added “${word}”` +
      (retrained.length ? ` (retrained ${retrained.length === 1 ? 'class' : 'classes'} ${retrained.join(', ')}, where it helps).`
        : ' (no class gains from it yet: its weight is 0 everywhere).'), kind: 'ok', head: r.number };
    announce(state.note.text);
    render(view);
    reloadStudent(store);
  } catch (e) {
    state.releasePrefetch?.(); state.releasePrefetch = null;
    if (g !== state.gen) return;
    state.adding = false;
    if (e.conflict && e.body && e.body.head != null) { state.conflict = { head: e.body.head, parent }; render(view); return; }
    // The 422 names the word and the nearest ones the model has: shown as it is.
    state.addError = e.status === 403 ? 'Your role cannot add concepts; an editor or admin can.'
      : `Not added: ${e.message.replace(/^actions\[0\]\.concept: /, '')}`;
    render(view);
    ui.addMsg.node().scrollIntoView({ block: 'nearest' });
  }
}
