// views/concepts/render.js — draws the Concepts view from its state: the honest
// empty state, or the caption, pickers, notices, the influence list (most positive
// first, the search applied), the what-if panel (whatif.js) and the "New concept"
// form with its suggestions.

import { canEdit, emptyState } from '../../ui.js';
import { headOf } from '../../sources/student.js';
import { shownSplit, splitLabel } from '../../splits.js';
import { canTune, viewing } from './state.js';
import { renderWhatif } from './whatif.js';

const d3 = window.d3;

export function render(view) {
  const { state, ui } = view;
  const s = view.store.state;
  const { info } = state;
  if (!info || info.none) { renderEmpty(view, s); return; }
  ui.empty.attr('hidden', true);
  ui.main.attr('hidden', null);
  const st = info.student;
  const h = headOf(info);
  const v = viewing(view);
  const { influence } = state;
  const split = shownSplit(view.store);
  ui.caption.text(`${st.name || `Student ${st.id}`} · version ${v}${v === h ? ' (head)' : `, head is ${h}`}` +
    (influence ? ` · ${influence.n_images} image${influence.n_images === 1 ? '' : 's'} the teacher puts in ${influence.class}` +
      ` on the ${splitLabel(influence.split ?? split).toLowerCase()} split` : ''));
  ui.defs.attr('hidden', influence ? null : true)
    .text('Influence = weight × mean presence on those images: how far the concept moves the class’s score there. ' +
      'The heat map shows the weight alone (the same on every split).');

  const classes = st.classes || [];
  ui.classSel.selectAll('option').data(['', ...classes], (d) => d).join('option')
    .attr('value', (d) => d).text((d) => d || 'Pick a class…');
  ui.classSel.property('value', classes.includes(s.class) ? s.class : '');
  ui.factorLabel.attr('hidden', canTune(view) ? null : true);
  ui.factorSel.attr('hidden', canTune(view) ? null : true);

  renderNotices(view, st);
  renderList(view, s, classes, st);
  renderWhatif(view);
  renderAddForm(view);
}

function renderEmpty(view, s) {
  const { state, ui } = view;
  const { info, snap } = state;
  ui.main.attr('hidden', true);
  ui.empty.attr('hidden', null);
  const title = snap?.state === 'loading' ? 'Looking for this project’s student…'
    : snap?.state === 'error' ? `Could not load the student: ${snap.error}`
      : info?.none ? 'This project has no student yet: distil one in Configuration.' : 'No student to explain yet.';
  emptyState(ui.empty.node(), {
    title,
    what: 'For the selected class, its concepts ranked by influence (weight × mean presence) as a diverging bar chart, with uptune, downtune and remove controls, what removing each concept would do on every split, and a box to add a new concept (a new version).',
    needs: ['a project with a distilled student (Configuration)', 'a class selected here or in Student performance'],
    selected: ['project', 'class'].filter((k) => s[k] !== null).map((k) => [k, s[k]]),
  });
}

// The status line, the 409 conflict, and a stale student with "Distil again" (its
// extraction or teacher output was recomputed: only a new distillation can use them).
function renderNotices(view, st) {
  const { state, ui } = view;
  const { note, conflict } = state;
  ui.status.attr('data-kind', note.kind || null).text(note.text);
  ui.conflictBox.attr('hidden', conflict ? null : true);
  if (conflict) {
    ui.conflictText.text(`Someone else changed this student while you were looking: the head is now version ${conflict.head}, ` +
      `not ${conflict.parent}, so your change was not applied (it would have undone theirs). ` +
      'Reload the head to see their change, then tune again.');
  }
  ui.staleBox.attr('hidden', st.stale ? null : true);
  if (st.stale) {
    ui.staleText.text(`This student’s head cannot be analysed or tuned: its ${st.stale_reason || 'input data'} was ` +
      'computed again since, with other results. Restore a version that is not stale (Provenance), or distil again: ' +
      'a new student on the data as they are now (this one and its versions stay).');
    ui.distil.render({ editable: canEdit(view.store.data('user')) });
  }
}

function renderList(view, s, classes, st) {
  const { state, ui } = view;
  const { influence, influenceState, influenceError, query, busy } = state;
  let rows = [];
  if ((influenceState === 'ok' || influenceState === 'loading') && influence) {
    rows = [...influence.items].sort((a, b) => b.influence - a.influence);
  }
  const shown = query ? rows.filter((d) => d.concept.toLowerCase().includes(query)) : rows;
  const msg = !s.class ? 'Pick a class to see its concepts.'
    : !classes.includes(s.class) ? `This student has no class “${s.class}”.`
      : influenceState === 'loading' ? 'Loading the concepts…'
        : influenceState === 'error' ? `Could not load the concepts: ${influenceError}`
          : st.stale ? ''
            : query ? `${shown.length} of ${rows.length} concepts match “${query}”.`
              : `${rows.length} concepts, most positive first. Hover or focus a name to outline it on the images.`;
  ui.count.attr('data-kind', influenceState === 'error' ? 'error' : null).text(msg);
  ui.list.attr('aria-busy', busy || influenceState === 'loading' ? 'true' : null).classed('is-busy', !!busy)
    .classed('is-loading', influenceState === 'loading');
  ui.list.datum(shown).call(ui.chart.max(d3.max(rows, (d) => Math.abs(d.influence ?? 0)) || 1));
  ui.list.selectAll('li.inf-row')
    .classed('selected', (d) => s.concept === d.concept)
    .attr('data-concept', (d) => d.concept)
    .attr('aria-busy', (d) => (busy && busy.concept === d.concept ? 'true' : null));
}

function renderAddForm(view) {
  const { state, ui } = view;
  const { adding, addError, info, vocab } = state;
  const typed = ui.addInput.property('value').trim().toLowerCase();
  ui.addForm.attr('hidden', canTune(view) ? null : true);
  ui.addInput.property('disabled', adding || !!state.busy).attr('aria-invalid', addError ? 'true' : null);
  ui.addBtn.property('disabled', adding || !!state.busy).attr('aria-busy', adding ? 'true' : null)
    .text(adding ? 'Adding…' : 'Add concept');
  ui.addForm.classed('is-busy', adding);
  const words = vocab.prefix === typed && !vocab.open ? vocab.items : [];
  ui.addWords.selectAll('option').data(words, (w) => w).join('option').attr('value', (w) => w);
  ui.addHint.text(vocab.open ? 'This concept model reads any text: a word or a short phrase.'
    : vocab.prefix === typed && typed && !vocab.failed
      ? (vocab.items.length ? `${vocab.total} word${vocab.total === 1 ? '' : 's'} of the concept model start${vocab.total === 1 ? 's' : ''} with “${typed}”.`
        : `The concept model has no word starting with “${typed}”.`)
      : 'Adding a word makes a new version with it as a concept; the classes it helps are retrained.');
  ui.addMsg.attr('data-kind', addError ? 'error' : adding ? 'busy' : null)
    .attr('role', addError ? 'alert' : null)
    .text(addError || (adding ? `Computing the new concept’s presence on every image from the stored segments, then a new version of ${info.student.name || 'the student'}…` : ''));
}
