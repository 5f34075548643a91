// views/configuration/new-corpus.js — the Configuration view's "New corpus" button and
// the dialog it opens (modal: the view's pane is too small for the form): a
// name, the words (a textarea, one per line, that a .txt word list fills), and the
// class-name filter (on by default, τ shown and changeable). The words go as text to
// POST /api/v1/corpora/import, so blank lines and repeats are dropped and reported as
// a file's would be, not refused. After a create it shows the server's report: words
// kept, each word the filter left out with its class and cosine, lines not taken.
//
//   const nc = createNewCorpus(api, container, {
//     context: () => ({ key, params, reason, modelName }),
//        // key: the view's generation (handed back to onCreated); params: the filter's
//        // {project_id} or {dataset_id, concept_model_id}, or null with the reason why
//        // there is no filter (no concept model chosen yet); modelName for the help text
//     onCreated: (corpus, key) => ...,   // e.g. select it in the corpus picker
//   });
//   nc.render({ editable });   // editors only; call after every view render
//   nc.reset();                // another project: the report and error go, the words stay

import { announce } from '../../ui.js';

const d3 = window.d3;
const TAU_DEFAULT = 0.85;        // the server's default (CLASS_FILTER_TAU_DEFAULT)
const MAX_TEXT_BYTES = 1 << 20;  // the import route's body limit
const cosineText = d3.format('.3f');

export function createNewCorpus(api, container, { context, onCreated }) {
  const f = { busy: false, error: '', fileNote: '', report: null, filterWanted: true };

  const root = d3.select(container).append('div').attr('class', 'new-corpus-box');
  const toggle = root.append('button').attr('type', 'button').attr('class', 'quiet new-corpus-toggle')
    .attr('aria-haspopup', 'dialog').attr('aria-controls', 'cfg-new-corpus-dialog').text('New corpus')
    .on('click', () => setOpen(true));
  // Escape closes it too (the dialog's own cancel); the focus goes back to the button.
  const dialog = root.append('dialog').attr('id', 'cfg-new-corpus-dialog').attr('class', 'new-corpus-dialog')
    .attr('aria-labelledby', 'nc-title')
    .on('close', () => { render(); toggle.node().focus(); });
  const form = dialog.append('form').attr('id', 'cfg-new-corpus').attr('class', 'new-corpus')
    .attr('novalidate', true).attr('aria-labelledby', 'nc-title')
    .on('submit', (ev) => { ev.preventDefault(); submit(); });
  form.append('h2').attr('id', 'nc-title').text('New corpus');

  form.append('label').attr('for', 'nc-name').text('Name');
  const nameIn = form.append('input').attr('id', 'nc-name').attr('name', 'name').attr('autocomplete', 'off')
    .attr('maxlength', 128);
  form.append('label').attr('for', 'nc-words').text('Words, one per line');
  const wordsIn = form.append('textarea').attr('id', 'nc-words').attr('name', 'words').attr('rows', 8)
    .attr('spellcheck', 'false').attr('aria-describedby', 'nc-words-help');
  form.append('p').attr('class', 'cfg-sub').attr('id', 'nc-words-help')
    .text('Blank lines and repeats are dropped; case and spacing do not matter.');
  form.append('label').attr('for', 'nc-file').text('Add the words of a .txt file');
  form.append('input').attr('id', 'nc-file').attr('type', 'file').attr('accept', '.txt,text/plain')
    .attr('aria-describedby', 'nc-file-note')
    .on('change', (ev) => readFile(ev.target));
  const fileNote = form.append('p').attr('class', 'cfg-sub nc-file-note').attr('id', 'nc-file-note').attr('aria-live', 'polite');

  const filterBox = form.append('fieldset').attr('class', 'nc-filter');
  filterBox.append('legend').text('Class-name filter');
  const check = filterBox.append('div').attr('class', 'nc-check');
  const filterIn = check.append('input').attr('type', 'checkbox').attr('id', 'nc-filter').attr('checked', true)
    .attr('aria-describedby', 'nc-filter-reason')
    .on('change', (ev) => { f.filterWanted = ev.target.checked; render(); });
  check.append('label').attr('for', 'nc-filter').text('Leave out words that name a class');
  const tauRow = filterBox.append('div').attr('class', 'nc-tau');
  tauRow.append('label').attr('for', 'nc-tau').text('Cosine cut τ');
  // No min/max enforcement here (the form is novalidate): the server says what is wrong.
  const tauIn = tauRow.append('input').attr('type', 'number').attr('id', 'nc-tau').attr('name', 'tau')
    .attr('min', -1).attr('max', 1).attr('step', 0.01).attr('value', TAU_DEFAULT)
    .attr('aria-describedby', 'nc-tau-help');
  const tauHelp = filterBox.append('p').attr('class', 'cfg-sub').attr('id', 'nc-tau-help');
  const filterReason = filterBox.append('p').attr('class', 'form-note').attr('id', 'nc-filter-reason');

  const actions = form.append('div').attr('class', 'form-actions');
  const submitBtn = actions.append('button').attr('type', 'submit').text('Create corpus');
  actions.append('button').attr('type', 'button').attr('class', 'quiet').text('Close').on('click', () => setOpen(false));
  const formError = form.append('p').attr('class', 'form-error').attr('role', 'alert').attr('id', 'nc-error');

  // The last create's report: outside the form, so it stays when the form closes.
  const report = root.append('div').attr('class', 'nc-report').attr('role', 'status').attr('aria-live', 'polite');

  let editable = false;

  function setOpen(open) {
    const el = dialog.node();
    if (open && !el.open) {
      render();
      el.showModal();
      nameIn.node().focus();
    } else if (!open && el.open) {
      el.close(); // its close event renders and refocuses
    }
  }

  function render(opts) {
    if (opts) editable = !!opts.editable;
    const ctx = context();
    toggle.attr('hidden', editable ? null : true);
    if (!editable && dialog.node().open) dialog.node().close();
    const available = !!ctx.params;
    filterIn.property('disabled', !available).property('checked', available && f.filterWanted);
    tauIn.property('disabled', !available || !f.filterWanted);
    const model = ctx.modelName ? `the concept model “${ctx.modelName}”` : 'the concept model';
    tauHelp.text(`A word is left out when its cosine similarity under ${model} to a class name or “a photo of a {class}” is τ or more (−1 to 1).`);
    filterReason.text(available ? '' : ctx.reason || 'The filter needs a concept model.');
    fileNote.text(f.fileNote);
    submitBtn.property('disabled', f.busy).text(f.busy ? 'Creating…' : 'Create corpus');
    formError.text(f.error);
    nameIn.attr('aria-invalid', /name/i.test(f.error) ? 'true' : null).attr('aria-describedby', f.error ? 'nc-error' : null);
    tauIn.attr('aria-invalid', /tau|τ/i.test(f.error) ? 'true' : null);
    renderReport();
  }

  // A .txt word list is added to the textarea (one word a line), where it can be read
  // and edited before the create.
  async function readFile(input) {
    const file = input.files?.[0];
    if (!file) return;
    if (file.size > MAX_TEXT_BYTES) {
      f.fileNote = '';
      f.error = `${file.name} is over 1 MB, more than a corpus may hold.`;
      input.value = '';
      render();
      return;
    }
    try {
      const text = (await file.text()).replace(/\r\n?/g, '\n').replace(/\n+$/, '');
      const el = wordsIn.node();
      el.value = el.value && !el.value.endsWith('\n') ? `${el.value}\n${text}` : el.value + text;
      const lines = text ? text.split('\n').length : 0;
      f.fileNote = `Added ${lines} ${lines === 1 ? 'line' : 'lines'} from ${file.name}.`;
      f.error = '';
    } catch (e) {
      f.error = `Could not read ${file.name}: ${e.message}`;
    }
    input.value = '';
    render();
  }

  async function submit() {
    if (f.busy) return;
    const ctx = context();
    const name = nameIn.property('value').trim();
    const text = wordsIn.property('value');
    if (!name) { f.error = 'Give the corpus a name.'; render(); nameIn.node().focus(); return; }
    if (!text.trim()) { f.error = 'Type some words, one per line, or add a .txt file.'; render(); wordsIn.node().focus(); return; }
    if (new Blob([text]).size > MAX_TEXT_BYTES) { f.error = 'The words are over 1 MB, more than a corpus may hold.'; render(); return; }
    const query = { name };
    const filtered = !!ctx.params && f.filterWanted;
    // τ is sent as typed: a value out of range gets the server's 422 and its words.
    const tau = tauIn.property('value');
    if (filtered && tau === '') { f.error = 'Give τ, a number from −1 to 1.'; render(); tauIn.node().focus(); return; }
    if (filtered) Object.assign(query, ctx.params, { tau });
    f.busy = true;
    f.error = '';
    render();
    try {
      const corpus = await api.postBytes('/api/v1/corpora/import', text, 'text/plain; charset=utf-8', { query });
      f.busy = false;
      f.report = corpus;
      f.fileNote = '';
      nameIn.property('value', '');
      wordsIn.property('value', '');
      setOpen(false);
      render();
      const out = corpus.class_filter?.dropped?.length;
      announce(`Created corpus ${corpus.name}: ${(corpus.words || []).length} words${out ? `, ${out} left out as class names` : ''}.`);
      onCreated(corpus, ctx.key);
    } catch (e) {
      f.busy = false;
      f.error = e.status === 422 || e.status === 409 || e.status === 413 ? `Not created: ${e.message}`
        : `Could not create the corpus: ${e.message}`;
      render(); // the name and words stay as they were
    }
  }

  function renderReport() {
    const r = f.report;
    report.attr('hidden', r ? null : true);
    const cf = r?.class_filter;
    const imp = r?.import;
    const n = (r?.words || []).length;
    const lines = !r ? [] : [
      { cls: 'nc-report-title', text: `Created corpus “${r.name}” with ${n} ${n === 1 ? 'word' : 'words'}.` },
      cf ? {
        cls: 'nc-report-filter',
        text: `The class-name filter (τ ${cf.tau}) kept ${cf.kept} and left out ${cf.dropped.length} ${cf.dropped.length === 1 ? 'word' : 'words'}${cf.dropped.length ? ':' : '.'}`,
      } : { cls: 'nc-report-filter', text: 'No class-name filter was asked for.' },
    ];
    report.selectAll('p.nc-report-line').data(lines, (d) => d.cls).join('p')
      .attr('class', (d) => `nc-report-line ${d.cls}`).text((d) => d.text);
    report.selectAll('ul.nc-dropped').data(cf?.dropped?.length ? [cf.dropped] : []).join('ul')
      .attr('class', 'nc-dropped').attr('aria-label', 'Words left out')
      .selectAll('li').data((d) => d, (d) => d.word).join((enter) => {
        const li = enter.append('li');
        li.append('span').attr('class', 'nc-word');
        li.append('span').attr('class', 'nc-why');
        return li;
      })
      .call((li) => li.select('.nc-word').text((d) => d.word))
      .call((li) => li.select('.nc-why').text((d) => ` — ${whyDropped(d)}`));
    const notes = !r ? [] : [
      cf?.classes_not_embedded?.length ? `The concept model reads no phrase for ${cf.classes_not_embedded.map((c) => `“${c}”`).join(', ')}: only their spellings were left out.` : '',
      cf?.words_not_embedded ? `${cf.words_not_embedded} ${cf.words_not_embedded === 1 ? 'word' : 'words'} the concept model cannot read ${cf.words_not_embedded === 1 ? 'was' : 'were'} compared by spelling only.` : '',
      imp ? linesNotTaken(imp) : '',
    ].filter(Boolean);
    report.selectAll('p.nc-report-note').data(notes).join('p').attr('class', 'nc-report-note cfg-sub').text((d) => d);
  }

  // One dropped word of the report: its class and the cosine that put it out.
  function whyDropped(d) {
    const cos = d.cosine == null ? '' : `cosine ${cosineText(d.cosine)}`;
    if (d.by === 'embedding') return `${cos} to “${d.near}” (class ${d.class})`;
    return `spells the class ${d.class}${cos ? `, ${cos}` : ''}`;
  }

  function linesNotTaken(imp) {
    const parts = [];
    const at = (ls) => (ls?.length ? ` (line ${ls.join(', ')})` : '');
    if (imp.dropped_duplicates) parts.push(`${imp.dropped_duplicates} repeated`);
    if (imp.too_long) parts.push(`${imp.too_long} over ${imp.max_word_bytes} bytes${at(imp.too_long_lines)}`);
    if (imp.invalid) parts.push(`${imp.invalid} not a word${at(imp.invalid_lines)}`);
    return parts.length ? `Lines not taken: ${parts.join(', ')}.` : '';
  }

  return {
    render,
    reset() { f.report = null; f.error = ''; f.fileNote = ''; render(); },
  };
}
