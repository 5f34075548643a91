// views/concepts/whatif.js — "what if a concept went?" before anything is applied:
//   loadWhatif(view)       every concept's removal ranked by its exact effect on the
//                          shown split (GET …/versions/{v}/whatif/concepts?split=&class=),
//                          for the selected class or every class; read once per
//                          (student, version, class, split): versions never change; the
//                          other classes' rankings are read in idle time (prefetch.js)
//   showCandidate(view, c) the exact effect on every split of one candidate action
//                          {concept, action, cls} (GET …/versions/{v}/whatif), shown as
//                          soon as a row or its button is hovered or focused
//   renderWhatif(view)     the ranked rows ("removing brick helps Shifted test by
//                          +6.3 pp accuracy") with their actions (on the class, or
//                          across every class), a tick per row to remove several
//                          together (one version), and the
//                          effect table; after an apply, the retrained measures (the
//                          tune's reply) beside the predicted ones.
//   buildWhatif(view, main, { redraw, tune })  the panel's nodes, with what its
//                          controls and late answers call: redraw(view) draws the whole
//                          view again (render.js, which draws this panel), tune(view, …)
//                          applies an action (actions.js). dom.js hands them in, so this
//                          file imports neither and no import runs back up to it.

import { track } from '../../perf.js';
import { prefetchInIdle } from '../../prefetch.js';
import { shownSplit, splitLabel, orderSplits } from '../../splits.js';
import { rankingLine, effectOf, ppText, scopeWords } from '../../whatif.js';
import { headOf } from '../../sources/student.js';
import { canTune, viewing, whatifClass } from './state.js';

const SHOWN = 6;   // ranked rows shown: the best candidates (the list is best first)
const KEEP = 64;   // rankings and effects kept, newest last
const pct = (v) => (typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : '–');

function keep(map, key, value) {
  map.set(key, value);
  if (map.size > KEEP) map.delete(map.keys().next().value);
}

// Whether the what-if can be read for what is shown (a fresh student, a known class).
function readable(view) {
  const { info } = view.state;
  const k = whatifClass(view);
  return !!info && !info.none && !info.student?.stale && (!k || (info.student?.classes || []).includes(k));
}

export function loadWhatif(view) {
  const { store, state } = view;
  const g = ++state.whatifGen;
  state.candidate = null; state.effect = null;
  if (!readable(view)) { state.whatif = null; state.whatifState = 'idle'; return; }
  const sid = state.info.student.id, v = viewing(view), k = whatifClass(view), split = shownSplit(store);
  const kept = state.whatifKept.get(`${sid}:${v}:${k ?? '*'}:${split}`);
  if (kept) { state.whatif = kept; state.whatifState = 'ok'; return; }
  state.whatifState = 'loading'; state.whatifError = '';
  readRanking(view, sid, v, k, split).then((r) => {
    if (g !== state.whatifGen) return;
    state.whatif = r; state.whatifState = 'ok';
    view.ui.whatif.redraw(view);
    prefetchRankings(view);
  }, (e) => {
    if (g !== state.whatifGen) return;
    state.whatif = null; state.whatifState = 'error'; state.whatifError = e.message;
    view.ui.whatif.redraw(view);
  });
}

// One ranking, read once (a prefetch in flight is joined and then waited for).
function readRanking(view, sid, v, k, split, { background = false } = {}) {
  const { api, state } = view;
  const key = `${sid}:${v}:${k ?? '*'}:${split}`;
  const inFlight = state.whatifReads.get(key);
  if (inFlight) return background ? inFlight : track(inFlight);
  const p = api.get(`/api/v1/students/${sid}/versions/${v}/whatif/concepts`, { query: { split, class: k ?? undefined }, background })
    .then((r) => { keep(state.whatifKept, key, r); return r; });
  state.whatifReads.set(key, p);
  p.then(() => state.whatifReads.delete(key), () => state.whatifReads.delete(key));
  return p;
}

// Every class's ranking (and every class at once) of the shown version, in idle time,
// so that picking another class shows its what-if at once.
function prefetchRankings(view) {
  const { store, state } = view;
  const sid = state.info.student.id, v = viewing(view), split = shownSplit(store);
  const todo = [null, ...(state.info.student.classes || [])].filter((c) => !state.whatifKept.has(`${sid}:${v}:${c ?? '*'}:${split}`));
  prefetchInIdle(todo.map((c) => () => readRanking(view, sid, v, c, split, { background: true })),
    () => state.info?.student?.id === sid && !state.info.student.stale && viewing(view) === v && shownSplit(store) === split);
}

export function showCandidate(view, cand) {
  const { api, state } = view;
  if (!cand || !readable(view)) return;
  const same = state.candidate && ['concept', 'action', 'cls'].every((f) => state.candidate[f] === cand[f]);
  if (same) return;
  state.candidate = cand;
  const sid = state.info.student.id, v = viewing(view);
  const factor = cand.action === 'remove' ? undefined : state.factor;
  const key = `${sid}:${v}:${cand.action}:${cand.concept}:${cand.cls ?? '*'}:${factor ?? ''}`;
  const kept = state.effectKept.get(key);
  if (kept) { state.effect = kept; view.ui.whatif.redraw(view); return; }
  const g = ++state.effectGen;
  api.get(`/api/v1/students/${sid}/versions/${v}/whatif`, {
    query: { action: cand.action, concept: cand.concept, class: cand.cls ?? undefined, factor },
    background: true, // a hover's read: the views are not waiting on it
  }).then((r) => {
    keep(state.effectKept, key, r);
    if (g !== state.effectGen) return;
    state.effect = r;
    view.ui.whatif.redraw(view);
  }, () => { /* the table keeps saying "hover a concept"; the apply still works */ });
}

const ACTS = [
  { action: 'remove', label: 'Remove', mark: '✕' },
  { action: 'downtune', label: 'Downtune', mark: '▼' },
  { action: 'uptune', label: 'Uptune', mark: '▲' },
];

export function renderWhatif(view) {
  const { store, state, ui } = view;
  const w = ui.whatif;
  const split = shownSplit(store);
  const k = whatifClass(view);
  const sel = store.get('class');
  const show = !!state.info && !state.info.none && !state.info.student?.stale;
  w.box.attr('hidden', show ? null : true);
  if (!show) return;
  // Which ranking is drawn (bench/ui_perf.mjs waits for it after a class click).
  w.box.attr('data-for', state.whatifState === 'ok' && state.whatif ? `${state.whatif.class ?? '*'}:${state.whatif.split}` : null);
  w.title.text(`What if a concept went? On the ${splitLabel(split).toLowerCase()} split`);
  w.scope.selectAll('option').data([sel, null].filter((c, i) => i === 1 || c), (c) => c ?? '*').join('option')
    .attr('value', (c) => c ?? '*').text((c) => (c ? `${c} only` : 'every class'));
  w.scope.property('value', k ?? '*');
  const by = state.whatif?.by || 'accuracy';
  const items = state.whatifState === 'ok' && state.whatif ? state.whatif.items.slice(0, SHOWN) : [];
  w.note.attr('data-kind', state.whatifState === 'error' ? 'error' : null).text(
    state.whatifState === 'loading' && !state.whatif ? 'Computing every concept’s removal…'
      : state.whatifState === 'error' ? `Could not compute the what-if: ${state.whatifError}`
        : state.whatif ? `Removing each of the ${state.whatif.total} concepts with a weight ${scopeWords(k)}, best for ` +
          `${by} first (exact for this linear student, before retraining). Hover or focus one to see every split.`
          : '');
  const editable = canTune(view);
  const acts = editable ? ACTS : [];
  const rows = w.list.selectAll('li.wi-row').data(items, (d) => d.concept).join((enter) => {
    const li = enter.append('li').attr('class', 'wi-row');
    li.append('input').attr('type', 'checkbox').attr('class', 'wi-pick');
    li.append('span').attr('class', 'wi-concept');
    li.append('span').attr('class', 'wi-effect');
    li.append('span').attr('class', 'wi-actions');
    return li;
  })
    .attr('data-concept', (d) => d.concept)
    .attr('data-effect', (d) => effectOf(d, by))
    .classed('is-candidate', (d) => state.candidate?.concept === d.concept)
    .on('mouseenter', (ev, d) => showCandidate(view, { concept: d.concept, action: 'remove', cls: k }));
  rows.select('input.wi-pick')
    .classed('is-off', !editable) // kept in the grid (its column), unseen and unused
    .attr('aria-label', (d) => `Pick “${d.concept}” to remove with the others picked`)
    .property('checked', (d) => state.picked.has(d.concept))
    .property('disabled', !editable || !!state.busy || state.adding)
    .on('change', (ev, d) => { if (ev.target.checked) state.picked.add(d.concept); else state.picked.delete(d.concept); w.redraw(view); });
  rows.select('.wi-concept').text((d) => d.concept);
  rows.select('.wi-effect').text((d) => rankingLine(d, state.whatif.split, by))
    .attr('class', (d) => `wi-effect ${effectOf(d, by)}`);
  rows.select('.wi-actions').selectAll('button').data((d) => acts.map((a) => ({ ...a, d })), (x) => x.action).join('button')
    .attr('type', 'button').attr('class', (x) => `quiet wi-act wi-${x.action}`)
    .attr('data-action', (x) => x.action)
    .attr('aria-label', (x) => `${x.label} “${x.d.concept}” ${scopeWords(k, x.action)}${x.action === 'remove' ? '' : ` ×${state.factor}`}: apply as one new version`)
    .attr('title', (x) => `${x.label} ${scopeWords(k, x.action)}${x.action === 'remove' ? '' : ` ×${state.factor}`}: one new version`)
    .property('disabled', !!state.busy || state.adding)
    .text((x) => (state.busy && state.busy.words?.includes(x.d.concept) && state.busy.action === x.action ? '…' : x.mark))
    .on('mouseenter focus', (ev, x) => showCandidate(view, { concept: x.d.concept, action: x.action, cls: k }))
    .on('click', (ev, x) => w.tune(view, x.action, x.d.concept, k));
  // The picked rows (still in the list) removed together: one version.
  const shown = new Set(items.map((d) => d.concept));
  for (const c of state.picked) if (!shown.has(c)) state.picked.delete(c);
  const picked = [...state.picked];
  w.removePicked.attr('hidden', editable ? null : true)
    .property('disabled', !picked.length || !!state.busy || state.adding)
    .text(picked.length ? `Remove the ${picked.length} picked ${scopeWords(k)} (one version)` : 'Tick concepts above to remove them together')
    .on('click', () => { if (picked.length) w.tune(view, 'remove', picked, k); });
  renderEffect(view);
}

// One row per split, always (the table keeps its place while the mouse moves over the
// list): the measures now; with a candidate, now → after it (its exact effect, before
// retraining); after an apply, the retrained measures beside the prediction.
function renderEffect(view) {
  const { store, state, ui } = view;
  const w = ui.whatif;
  const split = shownSplit(store);
  const { applied, candidate: cand, whatif } = state;
  const eff = state.effect && cand && state.effect.action?.concept === cand.concept &&
    state.effect.action?.action === cand.action ? state.effect : null;
  const showApplied = !cand && applied && applied.number === headOf(state.info) ? applied : null;
  const src = showApplied ? showApplied.effect : eff;
  const act = showApplied || cand;
  const factor = act && act.action !== 'remove' && !showApplied ? ` ×${state.factor}` : '';
  w.effectCaption.text(!act ? 'The measures now; hover or focus a concept to see what its removal would do on every split.'
    : showApplied ? `Applied as version ${showApplied.number}: ${showApplied.action} ${showApplied.words.map((c) => `“${c}”`).join(', ')} ${scopeWords(showApplied.cls, showApplied.action)}. ` +
      (showApplied.effect ? 'Predicted before retraining, then measured after it:' : 'Measured after retraining:')
      : !eff ? `Computing ${act.action} “${act.concept}” ${scopeWords(act.cls, act.action)}…`
        : `If you ${act.action} “${act.concept}” ${scopeWords(act.cls, act.action)}${factor} (before retraining; the retrained classes may make up for it):`);
  const base = whatif?.baseline || {};
  // The applied version's retrained measures stay while it is the head, hovered or
  // not: a third line in each cell (its presence never changes under the mouse).
  const done = applied && applied.number === headOf(state.info) ? applied : null;
  const retrained = done?.measures?.splits || null;
  const names = orderSplits(Object.keys(src?.splits || retrained || base));
  const rows = names.map((s) => ({
    split: s,
    n: src?.splits?.[s]?.n ?? base[s]?.n ?? retrained?.[s]?.n,
    fidelity: src ? src.splits[s]?.fidelity ?? null : base[s] ? { before: base[s].fidelity } : null,
    accuracy: src ? src.splits[s]?.accuracy ?? null : base[s] ? { before: base[s].accuracy } : null,
    retrained: retrained?.[s] ? { fidelity: retrained[s].fidelity, accuracy: retrained[s].student_accuracy } : null,
  }));
  w.effectTable.attr('hidden', rows.length ? null : true);
  w.effectTable.select('thead tr').selectAll('th').data(['split', 'fidelity (Δ pp)', 'accuracy (Δ pp)'], (h) => h).join('th')
    .attr('scope', 'col').text((h) => h);
  // Lines per measure, always the same number (now; → after the candidate; the
  // applied version retrained), so no row grows under the mouse.
  // Short enough for the view's narrowest width (the header says the changes are pp).
  const measure = (m, r) => [
    { c: 'wi-now', t: !m || m.before == null ? '–' : m.after == null ? pct(m.before) : `${pct(m.before)} ` },
    { c: 'wi-after', t: m && m.before != null && m.after != null ? `→ ${pct(m.after)} (${ppText(m.delta).replace(' pp', '')})` : '\u00a0' },
    ...(done ? [{ c: 'wi-retrained', t: `v${done.number} retrained ${pct(r)}` }] : []),
  ];
  const tr = w.effectTable.select('tbody').selectAll('tr').data(rows, (r) => r.split).join('tr')
    .attr('data-split', (r) => r.split)
    .classed('is-split', (r) => r.split === split);
  tr.selectAll('td').data((r) => [
    { c: 'wi-split', t: [{ c: 'wi-name', t: r.split }, { c: 'wi-n', t: r.n != null ? `${r.n} images` : '\u00a0' }] },
    { c: 'wi-fid', t: measure(r.fidelity, r.retrained?.fidelity) },
    { c: 'wi-acc', t: measure(r.accuracy, r.retrained?.accuracy) },
  ], (d) => d.c).join('td').attr('class', (d) => d.c)
    .selectAll('span').data((d) => d.t, (x) => x.c).join('span').attr('class', (x) => x.c).text((x) => x.t);
}

// The panel's nodes (built once by dom.js), kept with redraw and tune.
export function buildWhatif(view, main, { redraw, tune }) {
  const { state } = view;
  const box = main.append('section').attr('class', 'whatif').attr('aria-labelledby', 'whatif-title').attr('hidden', true);
  const title = box.append('h3').attr('id', 'whatif-title');
  const pick = box.append('div').attr('class', 'wi-pick');
  pick.append('label').attr('for', 'whatif-scope').text('Classes');
  const scope = pick.append('select').attr('id', 'whatif-scope')
    .on('change', (ev) => { state.whatifAll = ev.target.value === '*'; loadWhatif(view); redraw(view); });
  const note = box.append('p').attr('class', 'wi-note').attr('role', 'status');
  const effectCaption = box.append('p').attr('class', 'wi-effect-caption').attr('aria-live', 'polite');
  const effectTable = box.append('table').attr('class', 'wi-table').attr('hidden', true)
    .attr('aria-label', 'The measures on every split, and the candidate action’s effect on them');
  effectTable.append('thead').append('tr');
  effectTable.append('tbody');
  const list = box.append('ol').attr('class', 'wi-list').attr('aria-label', 'Concepts whose removal helps most first')
    .on('mouseleave', () => { state.candidate = null; redraw(view); });
  const removePicked = box.append('button').attr('type', 'button').attr('class', 'quiet wi-remove-picked');
  return { box, title, scope, note, list, removePicked, effectCaption, effectTable, redraw, tune };
}
