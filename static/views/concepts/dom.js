// views/concepts/dom.js — the Concepts view's nodes, built once: the class, search
// and factor pickers, the status, conflict and stale notices (with the "Distil
// again" job control, for a student whose extraction or teacher output was
// recomputed), the influence list (charts/diverging-bars.js) with each row's name
// button and tune buttons, the what-if panel (whatif.js), and the "New concept" form
// with the concept model's words as suggestions (vocabulary.js). Returns the
// handles render(view) fills.

import { createJobRunner } from '../../jobrun.js';
import { divergingBars } from '../../charts/diverging-bars.js';
import { reloadStudent } from '../../sources/student.js';
import { FACTORS, canTune, selectedClass } from './state.js';
import { tune, reloadHead, addWord } from './actions.js';
import { buildWhatif } from './whatif.js';
import { suggestWords } from './vocabulary.js';
import { render } from './render.js';

const d3 = window.d3;
const fmt = (v) => d3.format('+.3~g')(v);

export function buildDom(view, el) {
  const { store, api, state } = view;
  const root = d3.select(el).append('div').attr('class', 'tuning concepts-view');
  const empty = root.append('div').attr('class', 'tuning-empty');
  const main = root.append('div').attr('class', 'tuning-main').attr('hidden', true);

  const head = main.append('div').attr('class', 'tuning-head');
  const caption = head.append('p').attr('class', 'tuning-caption');
  const picks = main.append('div').attr('class', 'tuning-picks');
  picks.append('label').attr('for', 'concepts-class').text('Class');
  const classSel = picks.append('select').attr('id', 'concepts-class')
    .on('change', (ev) => store.select({ class: ev.target.value || null }, { source: 'concepts' }));
  picks.append('label').attr('for', 'concepts-search').text('Search');
  picks.append('input').attr('id', 'concepts-search').attr('type', 'search')
    .attr('autocomplete', 'off').attr('spellcheck', 'false').attr('placeholder', 'concept…')
    .attr('aria-describedby', 'concepts-count')
    .on('input', (ev) => { state.query = ev.target.value.trim().toLowerCase(); render(view); });
  const factorLabel = picks.append('label').attr('for', 'concepts-factor').text('Factor');
  const factorSel = picks.append('select').attr('id', 'concepts-factor')
    .attr('title', 'How much uptune multiplies (and downtune divides) a weight')
    .on('change', (ev) => { state.factor = Number(ev.target.value); render(view); });
  factorSel.selectAll('option').data(FACTORS).join('option').attr('value', (d) => d).text((d) => `×${d}`);
  factorSel.property('value', state.factor);

  const status = main.append('p').attr('class', 'tuning-status').attr('role', 'status').attr('aria-live', 'polite');
  const conflictBox = main.append('div').attr('class', 'tuning-conflict').attr('role', 'alert').attr('hidden', true);
  const conflictText = conflictBox.append('p');
  conflictBox.append('button').attr('type', 'button').attr('class', 'reload-head').text('Reload head')
    .on('click', () => reloadHead(view));
  const staleBox = main.append('div').attr('class', 'tuning-stale').attr('hidden', true);
  const staleText = staleBox.append('p');
  const distilEl = staleBox.append('div').node();
  const distil = createJobRunner(api, store, distilEl, {
    label: 'Distil again', what: 'Distillation',
    start: () => {
      const st = state.info.student;
      return api.post('/api/v1/students', {
        extraction_id: st.extraction_id, teacher_output_id: st.teacher_output_id, lambda: st.lambda, name: st.name,
      });
    },
    onDone: () => reloadStudent(store, { full: true }), // a new student
  });

  // What removing each concept would do, above the (long) ranking it is about. It
  // redraws and tunes through these: render.js draws it, so it cannot import them.
  const whatif = buildWhatif(view, main, { redraw: render, tune });

  const count = main.append('p').attr('class', 'tuning-count').attr('id', 'concepts-count');
  // What the bars are, beside them (the heat map shows weights for the same pairs).
  const defs = main.append('p').attr('class', 'tuning-defs').attr('id', 'concepts-defs');
  const list = main.append('ul').attr('class', 'inf-list').attr('aria-label', 'Concepts by influence')
    .attr('aria-describedby', 'concepts-defs');

  const addForm = main.append('form').attr('class', 'add-concept').attr('novalidate', true)
    .on('submit', (ev) => { ev.preventDefault(); addWord(view); });
  addForm.append('label').attr('for', 'concepts-new').text('New concept');
  const addRow = addForm.append('div').attr('class', 'add-row');
  const addInput = addRow.append('input').attr('id', 'concepts-new').attr('autocomplete', 'off')
    .attr('spellcheck', 'false').attr('placeholder', 'a word, e.g. “grass”').attr('aria-describedby', 'concepts-new-msg')
    .attr('list', 'concepts-new-words')
    .on('input', () => { state.addError = ''; suggestWords(view); });
  const addWords = addForm.append('datalist').attr('id', 'concepts-new-words');
  const addBtn = addRow.append('button').attr('type', 'submit').text('Add concept');
  const addHint = addForm.append('p').attr('class', 'add-hint sv-note');
  const addMsg = addForm.append('p').attr('class', 'add-msg').attr('id', 'concepts-new-msg').attr('aria-live', 'polite');

  return {
    empty, main, caption, classSel, factorLabel, factorSel, status, conflictBox, conflictText,
    staleBox, staleText, distil, count, defs, list, whatif, addForm, addInput, addWords, addHint, addBtn, addMsg,
    chart: influenceChart(view),
  };
}

// The ranking chart: each row's name selects (or clears) the concept and, hovered
// or focused, asks the Instances view to outline it; editors get ▲ ▼ ✕ per row.
function influenceChart(view) {
  const { store, state } = view;
  const cls = () => selectedClass(view);
  const isBusy = (x) => state.busy && state.busy.concept === x.d.concept && state.busy.action === x.a;
  return divergingBars()
    .labelControl((sel) => sel.selectAll('button').data((d) => [d]).join('button')
      .attr('type', 'button').attr('class', 'concept-name')
      .attr('aria-pressed', (d) => String(store.get('concept') === d.concept))
      .attr('aria-label', (d) => `${d.concept}: influence ${fmt(d.influence)} (weight ${fmt(d.weight)} × mean presence ${d3.format('.2f')(d.mean_presence)}). Show its images`)
      .text((d) => d.concept)
      .on('click', (ev, d) => store.select({ concept: store.get('concept') === d.concept ? null : d.concept }, { source: 'concepts' }))
      .on('mouseenter focus', (ev, d) => store.command('concept:hover', d.concept))
      .on('mouseleave blur', () => store.command('concept:hover', null)))
    .valueText((d) => fmt(d.influence))
    .valueTitle((d) => `influence ${fmt(d.influence)} = weight ${fmt(d.weight)} × mean presence ${d3.format('.3f')(d.mean_presence)}`)
    .controls((sel) => {
      const acts = canTune(view) ? ['uptune', 'downtune', 'remove'] : [];
      const factor = state.factor;
      sel.selectAll('button').data((d) => acts.map((a) => ({ a, d })), (x) => x.a).join('button')
        .attr('type', 'button').attr('class', (x) => `tune tune-${x.a} quiet`)
        .attr('data-action', (x) => x.a)
        .attr('aria-label', (x) => (x.a === 'remove' ? `Remove ${x.d.concept} from ${cls()}`
          : `${x.a === 'uptune' ? 'Uptune' : 'Downtune'} ${x.d.concept} for ${cls()} by ×${factor}`))
        .attr('title', (x) => (x.a === 'remove' ? 'Remove (weight 0)' : `${x.a === 'uptune' ? 'Uptune' : 'Downtune'} ×${factor}`))
        .attr('aria-busy', (x) => (isBusy(x) ? 'true' : null))
        .property('disabled', (x) => !!state.busy || state.adding || state.influenceState === 'loading')
        .text((x) => (isBusy(x) ? '…' : x.a === 'uptune' ? '▲' : x.a === 'downtune' ? '▼' : '✕'))
        .on('click', (ev, x) => tune(view, x.a, x.d.concept));
    });
}
