// views/performance.js — how well the student follows the teacher, on the selected
// split (store 'split'; null = test) and version (store 'version'; null = head):
//   a summary line (fidelity, accuracies, disagreements),
//   per-class bars of fidelity, student accuracy and teacher accuracy, each with its
//   count of disagreements, the classes whose fidelity is well below the student's
//   overall marked ⚠ (standout.js; charts/class-bars.js); a row selects its class,
//   the student-vs-teacher confusion matrix (charts/confusion.js; rows: teacher,
//   columns: student), laid out to the panel's width (re-laid out when it changes);
//   a cell selects its subset "teacher=A,student=B" (formatSubset).
// Without a student it offers "Distil a student" (editor+, a student.distill job
// followed with jobrun.js) when the project's teacher output and extraction are
// ready, else says what is missing.
// Data: store data 'student' (sources/student.js) and the version body (fetchVersion).
// init(store, api, el) -> {update()}

import { emptyState, canEdit, announce } from '../ui.js';
import { TERMINAL } from '../api.js';
import { createJobRunner } from '../jobrun.js';
import { classBars } from '../charts/class-bars.js';
import { confusionMatrix } from '../charts/confusion.js';
import { formatSubset, parseSubset } from '../shapes.js';
import { shownSplit, splitLabel } from '../splits.js';
import { standsOut, MIN_SHORTFALL } from '../standout.js';
import { studentSource, fetchVersion, reloadStudent, shownVersion } from '../sources/student.js';

const d3 = window.d3;
const pct = (v) => (v === null || v === undefined ? '–' : d3.format('.1%')(v));
const MEASURES = [
  { key: 'fidelity', label: 'Fidelity' },
  { key: 'student_accuracy', label: 'Student accuracy' },
  { key: 'teacher_accuracy', label: 'Teacher accuracy' },
];

export function init(store, api, el) {
  const source = studentSource(store, api);
  const root = d3.select(el);
  const status = root.append('p').attr('class', 'perf-status sv-status').attr('role', 'status');
  const emptyBox = root.append('div').attr('class', 'perf-empty');
  const distil = root.append('div').attr('class', 'perf-distil').attr('hidden', true);
  const distilWhat = distil.append('p').attr('class', 'sv-note perf-distil-what');
  const distilNeeds = distil.append('ul').attr('class', 'sv-needs');
  const body = root.append('div').attr('class', 'perf').attr('hidden', true);
  const summary = body.append('p').attr('class', 'perf-summary');
  const legend = body.append('p').attr('class', 'perf-legend').attr('aria-hidden', 'true');
  for (const m of MEASURES) {
    const item = legend.append('span').attr('class', `perf-key m-${m.key}`);
    item.append('span').attr('class', 'perf-swatch');
    item.append('span').text(m.label);
  }
  const flagNote = body.append('p').attr('class', 'sv-note perf-flag-note');
  const barsBox = body.append('div').attr('class', 'perf-bars-list').attr('role', 'group')
    .attr('aria-label', 'Per-class fidelity and accuracy');
  body.append('h3').attr('class', 'sv-h3').attr('id', 'perf-cm-title').text('Student vs teacher');
  const cmBox = body.append('div').attr('class', 'perf-cm-wrap');
  const bars = classBars().measures(MEASURES).onPick((name) => {
    store.select({ class: name }, { source: 'performance' });
    announce(`Class ${name} selected.`);
  });
  const matrix = confusionMatrix().describedBy('perf-cm-title').onPick((t, st, n) => {
    store.select({ subset: formatSubset(t, st) }, { source: 'performance' });
    announce(`Subset selected: teacher ${t}, student ${st}, ${n} images.`);
  });

  let key = null;       // project this view's runner belongs to
  let version = null;   // {sid, number, body} shown
  let vgen = 0;

  const runner = createJobRunner(api, store, distil.node(), {
    label: 'Distil a student',
    what: 'Distillation',
    notFound: 'Distillation is not available in this version of the server.',
    start: () => {
      const p = source.current.info;
      return api.post('/api/v1/students', { extraction_id: p.extraction_id, teacher_output_id: p.teacher_output_id });
    },
    onDone: () => reloadStudent(store, { full: true }), // a new student
  });

  function missing(info) {
    const parts = info?.parts || {};
    const out = [];
    if (!info?.teacher_output_id || parts.teacher_output?.ready === false) {
      out.push('teacher outputs: run the teacher over the dataset (Configuration → Run teacher outputs)');
    }
    if (!info?.extraction_id || (parts.extraction && parts.extraction.ready === false)) {
      out.push('concepts extracted from the images (Configuration → Run concept extraction)');
    }
    return out;
  }

  function renderDistil(snap) {
    const show = snap.state === 'none' || (snap.state === 'ready' && runner.job);
    distil.attr('hidden', show ? null : true);
    if (!show) return;
    const user = store.data('user');
    const needs = snap.state === 'none' ? missing(snap.info) : [];
    if (snap.state === 'none') {
      distilWhat.text(needs.length
        ? 'This project has no student yet. Distilling one needs:'
        : 'This project has no student yet. Distilling fits one linear model per class over the extracted concepts, on the training split.');
    } else distilWhat.text('');
    distilNeeds.selectAll('li').data(needs).join('li').text((d) => d);
    // A distillation already running for these inputs (started elsewhere) is followed.
    const p = snap.info;
    const running = (store.data('jobs') || []).find((j) => j.kind === 'student.distill' && !TERMINAL.has(j.state) &&
      j.params?.extraction_id === p?.extraction_id && j.params?.teacher_output_id === p?.teacher_output_id);
    if (running && snap.state === 'none') runner.attach(running);
    runner.render({
      // Once the student exists, the finished job stays in view but is not offered again.
      editable: canEdit(user) && snap.state === 'none',
      disabledReason: needs.length ? 'The project is not ready to distil yet.' : '',
    });
    if (!canEdit(user) && snap.state === 'none' && !needs.length) {
      distilWhat.text('This project has no student yet; an editor or admin can distil one.');
    }
  }

  let sid = null; // the student shown
  function render() {
    const snap = source.current;
    if (snap.project !== key) { key = snap.project; runner.reset(); }
    // Another student replaced this one (distilled again elsewhere): the finished
    // job shown here was about the old one.
    const now = snap.student?.id ?? null;
    if (now !== null && sid !== null && now !== sid && runner.job && TERMINAL.has(runner.job.state)) runner.reset();
    if (now !== null) sid = now;
    status.attr('data-kind', snap.state === 'error' ? 'error' : null)
      .text(snap.state === 'loading' ? 'Loading the student…' : snap.state === 'error' ? snap.error : '');
    const showEmpty = ['idle', 'draft', 'error'].includes(snap.state);
    emptyBox.attr('hidden', showEmpty ? null : true);
    if (showEmpty) {
      emptyState(emptyBox.node(), {
        title: snap.state === 'draft' ? 'Save this as a project to distil a student.' : 'No student to measure yet.',
        what: 'Per-class fidelity and accuracy of the student against the teacher, the classes where they disagree, and a student-vs-teacher confusion matrix.',
        needs: ['a project (pick one in Projects)', 'a distilled student for it'],
      });
    }
    renderDistil(snap);
    const ready = snap.state === 'ready' && version && version.sid === snap.student.id;
    body.attr('hidden', ready ? null : true);
    if (ready) renderBody(snap);
  }

  function renderBody(snap) {
    const v = version.body;
    const splitKey = shownSplit(store);
    const m = v.measures?.splits?.[splitKey];
    const head = snap.student.head.number;
    const which = `version ${v.number}${v.number === head ? ' (head)' : ` of ${head}`}`;
    if (!m) {
      summary.text(`${snap.student.name || `Student ${snap.student.id}`}, ${which}: this dataset has no “${splitKey}” split. Pick another split above.`);
      flagNote.text('');
      barsBox.selectAll('*').remove();
      cmBox.selectAll('*').remove();
      return;
    }
    const classes = v.classes;
    const conf = m.confusion; // C x C, rows teacher, columns student
    summary.text(`${snap.student.name || `Student ${snap.student.id}`}, ${which}, on the ${splitKey} split (${m.n} images): ` +
      `fidelity ${pct(m.fidelity)}, student accuracy ${pct(m.student_accuracy)}, teacher accuracy ${pct(m.teacher_accuracy)}; ` +
      `${m.disagreements} disagreement${m.disagreements === 1 ? '' : 's'}.` + (snap.student.stale ? ' The inputs changed since it was fitted (stale).' : ''));
    const selClass = store.get('class');
    const rows = classes.map((name, k) => {
      const row = { name, ...m.classes[k], disagree: d3.sum(conf[k]) - conf[k][k], n: d3.sum(conf[k]), selected: name === selClass };
      return { ...row, flag: standsOut(row, m.fidelity) };
    });
    barsBox.datum(rows).call(bars);
    const flagged = rows.filter((r) => r.flag).length;
    flagNote.text(`⚠ marks a class whose fidelity is well below the student’s ${pct(m.fidelity)} on this split ` +
      `(more than ${Math.round(MIN_SHORTFALL * 100)} points and two standard errors): ` +
      `${flagged ? `${flagged} class${flagged === 1 ? '' : 'es'} here` : 'none here'}.`);
    drawMatrix();
  }

  // Confusion matrix as a table: every cell is a button choosing its subset; laid
  // out to the width the panel gives it now.
  function drawMatrix() {
    if (!version || body.attr('hidden') !== null) return;
    const m = version.body.measures?.splits?.[shownSplit(store)];
    if (!m) return;
    const split = splitLabel(shownSplit(store)).toLowerCase();
    drawnWidth = cmBox.node().clientWidth;
    cmBox.datum({ classes: version.body.classes, counts: m.confusion })
      .call(matrix.width(drawnWidth || null).selected(parseSubset(store.get('subset')))
        .caption(`Rows: the teacher's class; columns: the student's. ${m.n} images on the ${split} split; off the diagonal they disagree. Choose a cell to see its images.`));
  }
  let drawnWidth = 0;
  // The panel's width changes with the window: lay the matrix out again (not on
  // every pixel: a few px either way keeps the columns).
  if (typeof ResizeObserver === 'function') {
    new ResizeObserver(() => {
      const w = cmBox.node().clientWidth;
      if (w && Math.abs(w - drawnWidth) > 4) drawMatrix();
    }).observe(cmBox.node());
  }

  async function loadVersion() {
    const snap = source.current;
    const g = ++vgen;
    if (snap.state !== 'ready') { version = null; render(); return; }
    const n = shownVersion(store, snap);
    if (version && version.sid === snap.student.id && version.number === n) { render(); return; }
    render();
    try {
      const body = await fetchVersion(api, snap.student.id, n);
      if (g !== vgen) return;
      version = { sid: snap.student.id, number: n, body };
    } catch (e) {
      if (g !== vgen) return;
      version = null;
      status.attr('data-kind', 'error').text(`Could not read version ${n}: ${e.message}`);
      return;
    }
    render();
  }

  store.on('data.performance', ({ key: k }) => {
    if (k === 'student') loadVersion();
    else if (k === 'jobs' && source.current.state === 'none') render();
  });
  // A new class or subset only moves the highlight: the bars and counts stay.
  function markSelection() {
    const cls = store.get('class');
    const sub = parseSubset(store.get('subset'));
    barsBox.selectAll('button.perf-row').attr('aria-pressed', (d) => String(d.name === cls));
    cmBox.selectAll('button.cm-cell')
      .attr('aria-pressed', function () { return String(!!sub && sub.teacher === this.dataset.teacher && sub.student === this.dataset.student); });
  }

  store.on('select.performance', ({ changed }) => {
    if (changed.includes('version')) loadVersion();
    else if (changed.some((k) => k === 'project' || k === 'split')) render();
    else if (changed.includes('class') || changed.includes('subset')) markSelection();
  });
  loadVersion();
  return { update: render };
}
