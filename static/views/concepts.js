// views/concepts.js — the selected class's concepts ranked by influence (weight ×
// mean presence) as a diverging bar chart, searchable, with no-code tuning: uptune /
// downtune by a factor and remove per row, and a box to add a new concept word.
//
// Data: the project's student comes from store data 'student' (sources/student.js,
// {project, state, info, student}). Tuning POSTs a new version on the head, then
// reloadStudent(store) publishes the new head, so every view re-reads without a
// page reload.
// A 409 with {head} means someone else tuned first: it is explained, with a button
// that reloads the head. Adding a word (POST /corpora/{id}/words) answers when its
// presence column exists; the student is then stale (its data changed) until it is
// distilled again, which this view offers as a job.
//
// Hovering or focusing a concept's name sends the store command 'concept:hover' (the
// word, or null): the Instances view outlines that concept's segments.
//
// init(store, api, el) -> {update()}

import { announce, canEdit, emptyState } from '../ui.js';
import { begin, track } from '../perf.js';
import { prefetchInIdle, holdPrefetch } from '../prefetch.js';
import { createJobRunner } from '../jobrun.js';
import { divergingBars } from '../charts/diverging-bars.js';
import { studentSource, reloadStudent, fetchVersion, shownVersion, fromSnap, headOf } from '../sources/student.js';

const d3 = window.d3;
const FACTORS = [1.5, 2, 4, 10];
const fmt = (v) => d3.format('+.3~g')(v);
const ACTION_WORDS = { uptune: 'Uptuning', downtune: 'Downtuning', remove: 'Removing' };

// ---- the view --------------------------------------------------------------------------

export function init(store, api, el) {
  const source = studentSource(store, api);
  let info = null;          // fromSnap(): {none, student, head, project} | null
  let snap = source.current; // the store's 'student' snapshot
  let influence = null;     // {class, n_images, bias, items}
  const influenceKept = new Map(); // `${student}:${version}:${class}:${split}` -> influence body
  const influenceReads = new Map(); // the same keys -> the read in flight
  let influenceState = 'idle';
  let influenceError = '';
  let busy = null;          // {concept, action} while a tune runs
  let note = { text: '', kind: '' };
  let conflict = null;      // {message, head}
  let query = '';
  let factor = 2;
  let pending = [];         // words added since the student was distilled
  let adding = false;
  let addError = '';
  let releasePrefetch = null; // held from adding a word until the reloaded student arrives
  let gen = 0;              // bumped on project change; late answers are dropped
  let infGen = 0;

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
  const search = picks.append('input').attr('id', 'concepts-search').attr('type', 'search')
    .attr('autocomplete', 'off').attr('spellcheck', 'false').attr('placeholder', 'concept…')
    .attr('aria-describedby', 'concepts-count')
    .on('input', (ev) => { query = ev.target.value.trim().toLowerCase(); render(); });
  const factorLabel = picks.append('label').attr('for', 'concepts-factor').text('Factor');
  const factorSel = picks.append('select').attr('id', 'concepts-factor')
    .attr('title', 'How much uptune multiplies (and downtune divides) a weight')
    .on('change', (ev) => { factor = Number(ev.target.value); render(); });
  factorSel.selectAll('option').data(FACTORS).join('option').attr('value', (d) => d).text((d) => `×${d}`);
  factorSel.property('value', factor);

  const status = main.append('p').attr('class', 'tuning-status').attr('role', 'status').attr('aria-live', 'polite');
  const conflictBox = main.append('div').attr('class', 'tuning-conflict').attr('role', 'alert').attr('hidden', true);
  const conflictText = conflictBox.append('p');
  conflictBox.append('button').attr('type', 'button').attr('class', 'reload-head').text('Reload head')
    .on('click', () => reloadHead());
  const staleBox = main.append('div').attr('class', 'tuning-stale').attr('hidden', true);
  const staleText = staleBox.append('p');
  const distilEl = staleBox.append('div').node();
  const distil = createJobRunner(api, store, distilEl, {
    label: 'Distil again', what: 'Distillation',
    start: () => api.post('/api/v1/students', {
      extraction_id: info.student.extraction_id, teacher_output_id: info.student.teacher_output_id,
      lambda: info.student.lambda, name: info.student.name,
    }),
    onDone: () => { pending = []; reloadStudent(store, { full: true }); }, // a new student
  });

  const count = main.append('p').attr('class', 'tuning-count').attr('id', 'concepts-count');
  const list = main.append('ul').attr('class', 'inf-list').attr('aria-label', 'Concepts by influence');

  const addForm = main.append('form').attr('class', 'add-concept').attr('novalidate', true)
    .on('submit', (ev) => { ev.preventDefault(); addWord(); });
  addForm.append('label').attr('for', 'concepts-new').text('New concept');
  const addRow = addForm.append('div').attr('class', 'add-row');
  const addInput = addRow.append('input').attr('id', 'concepts-new').attr('autocomplete', 'off')
    .attr('spellcheck', 'false').attr('placeholder', 'a word, e.g. “grass”').attr('aria-describedby', 'concepts-new-msg');
  const addBtn = addRow.append('button').attr('type', 'submit').text('Add concept');
  const addMsg = addForm.append('p').attr('class', 'add-msg').attr('id', 'concepts-new-msg').attr('aria-live', 'polite');

  const chart = divergingBars()
    .labelControl((sel) => sel.selectAll('button').data((d) => [d]).join('button')
      .attr('type', 'button').attr('class', 'concept-name')
      .attr('aria-pressed', (d) => String(store.get('concept') === d.concept))
      .attr('aria-label', (d) => `${d.concept}: influence ${d.pending ? 'not computed yet' : fmt(d.influence)}. Show its images`)
      .text((d) => d.concept)
      .on('click', (ev, d) => store.select({ concept: store.get('concept') === d.concept ? null : d.concept }, { source: 'concepts' }))
      .on('mouseenter focus', (ev, d) => store.command('concept:hover', d.concept))
      .on('mouseleave blur', () => store.command('concept:hover', null)))
    .valueText((d) => (d.pending ? 'new' : fmt(d.influence)))
    .controls((sel) => {
      const editable = canTune();
      const acts = editable ? ['uptune', 'downtune', 'remove'] : [];
      sel.selectAll('button').data((d) => acts.map((a) => ({ a, d })), (x) => x.a).join('button')
        .attr('type', 'button').attr('class', (x) => `tune tune-${x.a} quiet`)
        .attr('data-action', (x) => x.a)
        .attr('aria-label', (x) => (x.a === 'remove' ? `Remove ${x.d.concept} from ${cls()}`
          : `${x.a === 'uptune' ? 'Uptune' : 'Downtune'} ${x.d.concept} for ${cls()} by ×${factor}`))
        .attr('title', (x) => (x.a === 'remove' ? 'Remove (weight 0)' : `${x.a === 'uptune' ? 'Uptune' : 'Downtune'} ×${factor}`))
        .attr('aria-busy', (x) => (busy && busy.concept === x.d.concept && busy.action === x.a ? 'true' : null))
        .property('disabled', (x) => !!busy || !!x.d.pending || influenceState === 'loading')
        .text((x) => (busy && busy.concept === x.d.concept && busy.action === x.a ? '…'
          : x.a === 'uptune' ? '▲' : x.a === 'downtune' ? '▼' : '✕'))
        .on('click', (ev, x) => tune(x.a, x.d.concept));
    });

  const cls = () => store.get('class');
  const user = () => store.data('user');
  const viewing = () => shownVersion(store, snap);
  function canTune() {
    return canEdit(user()) && info && !info.none && !info.student?.stale && viewing() === headOf(info);
  }

  function say(text, kind = 'info') { note = { text, kind }; render(); }

  // ---- loading ------------------------------------------------------------------------
  // A new snapshot: the same student at the same head keeps what is shown.
  function takeSnap(next) {
    if (next.project !== store.get('project')) return;
    const old = info;
    snap = next;
    info = fromSnap(next);
    // The student read again after an added word: the views know it is stale now.
    if (releasePrefetch && !adding && next.state !== 'loading') { releasePrefetch(); releasePrefetch = null; }
    if (!info?.student?.stale) pending = [];
    if (old && old.student?.id !== info?.student?.id) { distil.reset(); conflict = null; note = { text: '', kind: '' }; }
    if (old?.student?.id !== info?.student?.id || headOf(old) !== headOf(info) ||
      !!old?.student?.stale !== !!info?.student?.stale) loadInfluence();
    else render();
  }

  function loadInfluence() {
    const g = ++infGen;
    influenceError = '';
    const k = cls();
    if (!info || info.none || !k || info.student?.stale || !(info.student?.classes || []).includes(k)) {
      influence = null; influenceState = 'idle'; render(); return;
    }
    const v = viewing();
    const split = store.get('split');
    // A version never changes, so its rankings are kept (a few dozen, newest last).
    const key = `${info.student.id}:${v}:${k}:${split}`;
    const kept = influenceKept.get(key);
    if (kept) {
      influenceKept.delete(key); influenceKept.set(key, kept);
      influence = kept; influenceState = 'ok';
      render();
      return;
    }
    // The rows shown stay (dimmed, their buttons off) until the new ones arrive: the
    // keyed join then updates them in place instead of rebuilding the list.
    influenceState = 'loading';
    render();
    readInfluence(info.student.id, v, k, split).then((r) => {
      if (g !== infGen) return;
      influence = r; influenceState = 'ok';
      render();
      prefetchOtherClasses();
    }, (e) => {
      if (g !== infGen) return;
      influenceState = 'error'; influenceError = e.message;
      render();
    });
  }

  // One class's ranking of one version, read once (a prefetch in flight is joined).
  function readInfluence(sid, v, k, split, { background = false } = {}) {
    const key = `${sid}:${v}:${k}:${split}`;
    const inFlight = influenceReads.get(key);
    if (inFlight) return background ? inFlight : track(inFlight);
    const p = api.get(`/api/v1/students/${sid}/versions/${v}/classes/${encodeURIComponent(k)}/influence`,
      { query: { split }, background }).then((r) => {
      influenceKept.set(key, r);
      if (influenceKept.size > 64) influenceKept.delete(influenceKept.keys().next().value);
      return r;
    });
    influenceReads.set(key, p);
    p.then(() => influenceReads.delete(key), () => influenceReads.delete(key));
    return p;
  }

  // The other classes' rankings of the shown version, in idle time: picking another
  // class then draws at once (bench/ui_perf.mjs "select").
  function prefetchOtherClasses() {
    const sid = info.student.id;
    const v = viewing();
    const split = store.get('split');
    const todo = (info.student.classes || []).filter((c) => !influenceKept.has(`${sid}:${v}:${c}:${split}`));
    prefetchInIdle(todo.map((c) => () => readInfluence(sid, v, c, split, { background: true })),
      () => info?.student?.id === sid && !info.student.stale && viewing() === v && store.get('split') === split);
  }

  // ---- actions ------------------------------------------------------------------------
  async function tune(action, concept) {
    if (busy || !canTune()) return;
    begin('tune-updated', { until: () => !busy }); // click -> every view on the new head
    const sid = info.student.id;
    const parent = headOf(info);
    const k = cls();
    let ver = null;
    try { ver = await fetchVersion(api, sid, parent); } catch { /* bounds unknown: no release */ }
    const actions = [];
    // A weight held by an earlier uptune/downtune must be released before a new bound.
    const ki = ver?.classes?.indexOf(k) ?? -1, ji = ver?.concepts?.indexOf(concept) ?? -1;
    if (ver?.bounds && ki >= 0 && ji >= 0 && (ver.bounds.lo?.[ki]?.[ji] != null || ver.bounds.hi?.[ki]?.[ji] != null)) {
      actions.push({ action: 'release', concept, class: k });
    }
    actions.push(action === 'remove' ? { action, concept, class: k } : { action, concept, class: k, factor });
    busy = { concept, action };
    conflict = null;
    say(`${ACTION_WORDS[action]} “${concept}” for ${k}: retraining the class and recomputing the measures…`, 'busy');
    announce(`${ACTION_WORDS[action]} ${concept}…`);
    try {
      const r = await api.post(`/api/v1/students/${sid}/versions`, { parent, actions,
        note: `${action} ${concept} for ${k}${action === 'remove' ? '' : ` ×${factor}`}` });
      busy = null;
      note = { text: `Version ${r.number} is the new head: ${action === 'remove' ? 'removed' : `${action}d ×${factor}`} “${concept}” for ${k}.`, kind: 'ok' };
      announce(note.text);
      render();
      reloadStudent(store);
    } catch (e) {
      busy = null;
      if (e.conflict && e.body && e.body.head != null) {
        conflict = { head: e.body.head, parent };
        note = { text: '', kind: '' };
      } else if (e.conflict) {
        say(`Not applied: ${e.message}`, 'error');
      } else if (e.status === 403) {
        say('Your role cannot tune students; an editor or admin can.', 'error');
      } else {
        say(`Not applied: ${e.message}`, 'error');
      }
      render();
      if (conflict) conflictBox.select('button').node().focus();
    }
  }

  async function reloadHead() {
    const sid = info?.student?.id;
    if (!sid) return;
    const head = conflict?.head;
    conflict = null;
    note = { text: `Reloaded: version ${head ?? 'the newest'} is the head. Tune again if you still want your change.`, kind: 'ok' };
    render();
    announce(note.text);
    reloadStudent(store);
  }

  async function addWord() {
    const word = addInput.property('value').trim();
    if (!word || adding) { if (!word) { addError = 'Type a concept word first.'; render(); } return; }
    const corpus = info?.project?.corpus_id;
    if (!corpus) return;
    adding = true; addError = '';
    render();
    announce(`Adding ${word}…`);
    const g = gen;
    releasePrefetch?.();
    releasePrefetch = await holdPrefetch(); // the student goes stale: its reads would 409
    try {
      const r = await api.post(`/api/v1/corpora/${corpus}/words`, { word });
      if (g !== gen) { releasePrefetch?.(); releasePrefetch = null; return; }
      const norm = word.toLowerCase().replace(/\s+/g, ' ');
      const known = (r.words || []).find((w) => w === norm) || norm;
      pending = [...pending.filter((w) => w !== known), known];
      addInput.property('value', '');
      addError = '';
      note = { text: '', kind: '' };
      adding = false;
      announce(`“${known}” added; distil again to weigh it.`);
      render();
      // The extraction changed, so the student is stale now: read it again.
      reloadStudent(store);
    } catch (e) {
      releasePrefetch?.(); releasePrefetch = null;
      if (g !== gen) return;
      adding = false;
      addError = e.status === 409 ? `“${word}” is already a concept of this corpus.`
        : e.status === 422 ? `Not added: ${e.message}`
          : e.status === 403 ? 'Your role cannot add concepts; an editor or admin can.'
            : `Not added: ${e.message}`;
      render();
      addMsg.node().scrollIntoView({ block: 'nearest' });
    }
  }

  // ---- render -----------------------------------------------------------------------
  function render() {
    const s = store.state;
    const ready = info && !info.none;
    if (!ready) {
      main.attr('hidden', true);
      empty.attr('hidden', null);
      const title = snap?.state === 'loading' ? 'Looking for this project’s student…'
        : snap?.state === 'error' ? `Could not load the student: ${snap.error}`
          : info?.none ? 'This project has no student yet: distil one in Configuration.' : 'No student to explain yet.';
      emptyState(empty.node(), {
        title,
        what: 'For the selected class, its concepts ranked by influence (weight × mean presence) as a diverging bar chart, with uptune, downtune and remove controls and a box to add a new concept.',
        needs: ['a project with a distilled student (Configuration)', 'a class selected here or in Student performance'],
        selected: ['project', 'class'].filter((k) => s[k] !== null).map((k) => [k, s[k]]),
      });
      return;
    }
    empty.attr('hidden', true);
    main.attr('hidden', null);
    const st = info.student;
    const h = headOf(info);
    const v = viewing();
    caption.text(`${st.name || `Student ${st.id}`} · version ${v}${v === h ? ' (head)' : `, head is ${h}`}` +
      (influence ? ` · ${influence.n_images} images the teacher puts in ${influence.class}` : ''));

    const classes = st.classes || [];
    classSel.selectAll('option').data(['', ...classes], (d) => d).join('option')
      .attr('value', (d) => d).text((d) => d || 'Pick a class…');
    classSel.property('value', classes.includes(s.class) ? s.class : '');
    factorLabel.attr('hidden', canTune() ? null : true);
    factorSel.attr('hidden', canTune() ? null : true);

    status.attr('data-kind', note.kind || null).text(note.text);
    conflictBox.attr('hidden', conflict ? null : true);
    if (conflict) {
      conflictText.text(`Someone else changed this student while you were looking: the head is now version ${conflict.head}, ` +
        `not ${conflict.parent}, so your change was not applied (it would have undone theirs). ` +
        'Reload the head to see their change, then tune again.');
    }
    staleBox.attr('hidden', st.stale ? null : true);
    if (st.stale) {
      staleText.text(pending.length
        ? `Added ${pending.map((w) => `“${w}”`).join(', ')}. The student was distilled before, so it has no weight for ${pending.length > 1 ? 'them' : 'it'} yet: distil again to include ${pending.length > 1 ? 'them' : 'it'} (a new student; this one’s history stays).`
        : 'The concepts of this project changed since this student was distilled, so it cannot be analysed or tuned. Distil again to get a student on the new concepts.');
      distil.render({ editable: canEdit(user()) });
    }

    let rows = [];
    if ((influenceState === 'ok' || influenceState === 'loading') && influence) {
      rows = [...influence.items].sort((a, b) => b.influence - a.influence);
    }
    const have = new Set(rows.map((d) => d.concept));
    for (const w of pending) if (!have.has(w)) rows.push({ concept: w, influence: null, pending: true });
    const shown = query ? rows.filter((d) => d.concept.toLowerCase().includes(query)) : rows;
    const msg = !s.class ? 'Pick a class to see its concepts.'
      : !classes.includes(s.class) ? `This student has no class “${s.class}”.`
        : influenceState === 'loading' ? 'Loading the concepts…'
          : influenceState === 'error' ? `Could not load the concepts: ${influenceError}`
            : st.stale ? (rows.length ? 'The student is out of date, so only the new concepts are listed.' : '')
              : query ? `${shown.length} of ${rows.length} concepts match “${query}”.`
                : `${rows.length} concepts, most positive first. Hover or focus a name to outline it on the images.`;
    count.attr('data-kind', influenceState === 'error' ? 'error' : null).text(msg);
    list.attr('aria-busy', busy || influenceState === 'loading' ? 'true' : null).classed('is-busy', !!busy)
      .classed('is-loading', influenceState === 'loading');
    list.datum(shown).call(chart.max(d3.max(rows, (d) => Math.abs(d.influence ?? 0)) || 1));
    list.selectAll('li.inf-row')
      .classed('selected', (d) => s.concept === d.concept)
      .classed('pending', (d) => !!d.pending)
      .attr('data-concept', (d) => d.concept)
      .attr('aria-busy', (d) => (busy && busy.concept === d.concept ? 'true' : null));

    addForm.attr('hidden', canEdit(user()) && info.project?.corpus_id ? null : true);
    addInput.property('disabled', adding).attr('aria-invalid', addError ? 'true' : null);
    addBtn.property('disabled', adding).attr('aria-busy', adding ? 'true' : null)
      .text(adding ? 'Adding…' : 'Add concept');
    addForm.classed('is-busy', adding);
    addMsg.attr('data-kind', addError ? 'error' : adding ? 'busy' : null)
      .attr('role', addError ? 'alert' : null)
      .text(addError || (adding ? 'Computing the new concept’s presence on every image from the stored segments…' : ''));
  }

  store.on('select.concepts', ({ changed }) => {
    if (changed.includes('project')) {
      gen++; info = null; snap = null; influence = null; conflict = null; pending = [];
      releasePrefetch?.(); releasePrefetch = null;
      note = { text: '', kind: '' }; addError = ''; busy = null; distil.reset();
      render();
      return;
    }
    if (changed.some((k) => ['class', 'split', 'version'].includes(k))) { note = { text: '', kind: '' }; loadInfluence(); return; }
    render();
  });
  store.on('data.concepts', ({ key, value }) => {
    if (key === 'student' && value) takeSnap(value);
    else if (key === 'user') render();
  });

  takeSnap(source.current);
  return { update: render };
}
