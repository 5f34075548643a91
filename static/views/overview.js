// views/overview.js — the concept × class heat map of every weight of the shown
// version (store 'version', else the head): rows are concepts, columns classes
// (the chart: charts/heatmap.js). The cells are weights, defined beside the map
// (the Concepts view ranks the same pairs by influence, which also depends on the
// split; the weights do not).
// Order (a simple seriation, so blocks show): classes as the dataset lists them;
// each concept goes under the class of its largest |weight|, within it by that
// |weight|, largest first; concepts with no weight at all come last.
// A cell selects its class and concept; a column head its class; a row head its
// concept. Keyboard: one cell is in the tab order; arrows move, Enter/Space select.
// init(store, api, el) -> {update()}

import { emptyState, announce } from '../ui.js';
import { heatmap } from '../charts/heatmap.js';
import { studentSource, fetchVersion, shownVersion } from '../sources/student.js';

const d3 = window.d3;

// seriate(weights C x d) -> {rows: [concept index], owner: [class index | -1]}
export function seriate(weights) {
  const c = weights.length;
  const d = c ? weights[0].length : 0;
  const key = [];
  for (let j = 0; j < d; j++) {
    let k = -1;
    let best = 0;
    for (let i = 0; i < c; i++) if (Math.abs(weights[i][j]) > best) { best = Math.abs(weights[i][j]); k = i; }
    key.push({ j, k, best });
  }
  key.sort((a, b) => (a.k < 0) - (b.k < 0) || a.k - b.k || b.best - a.best || a.j - b.j);
  return { rows: key.map((x) => x.j), owner: key.map((x) => x.k) };
}

export function init(store, api, el) {
  const source = studentSource(store, api);
  const root = d3.select(el);
  const status = root.append('p').attr('class', 'sv-status').attr('role', 'status');
  const emptyBox = root.append('div');
  const body = root.append('div').attr('class', 'overview').attr('hidden', true);
  const caption = body.append('p').attr('class', 'sv-note ov-caption');
  body.append('p').attr('class', 'sv-note ov-defs')
    .text('Cells are weights: what a concept’s presence adds to (orange) or takes from (blue) a class’s score, on every ' +
      'split alike. Concepts ranks by influence: weight × mean presence on the selected split.');
  const legend = body.append('div').attr('class', 'ov-legend');
  const scroller = body.append('div').attr('class', 'ov-scroll');
  let version = null;
  let vgen = 0;
  let marked = { row: null, col: null }; // the selection the heat map shows

  const chart = heatmap()
    .onCell((concept, cls) => {
      store.select({ class: cls, concept }, { source: 'overview' });
      announce(`Class ${cls} and concept ${concept} selected.`);
    })
    .onCol((cls) => store.select({ class: cls }, { source: 'overview' }))
    .onRow((concept) => store.select({ concept }, { source: 'overview' }));

  function renderLegend(max) {
    const W = 240;
    const svg = legend.selectAll('svg').data([max]).join((enter) => {
      const g = enter.append('svg').attr('class', 'ov-legend-svg').attr('width', W).attr('height', 30).attr('aria-hidden', 'true');
      const grad = g.append('defs').append('linearGradient').attr('id', 'ov-grad');
      grad.selectAll('stop').data([['0%', '#0072b2'], ['50%', '#f2f2f2'], ['100%', '#d55e00']]).join('stop')
        .attr('offset', (d) => d[0]).attr('stop-color', (d) => d[1]);
      g.append('rect').attr('x', 0).attr('y', 0).attr('width', W).attr('height', 10).attr('fill', 'url(#ov-grad)');
      g.selectAll('text').data([0, 1, 2]).join('text').attr('y', 24)
        .attr('x', (d) => [2, W / 2, W - 2][d]).attr('text-anchor', (d) => ['start', 'middle', 'end'][d]);
      return g;
    });
    svg.selectAll('text').text((d) => [`${d3.format('.2f')(-max)} lowers`, 'weight 0', `+${d3.format('.2f')(max)} raises`][d]);
  }

  function render() {
    const snap = source.current;
    status.attr('data-kind', snap.state === 'error' ? 'error' : null)
      .text(snap.state === 'loading' ? 'Loading the student…' : snap.state === 'error' ? snap.error : '');
    const ready = snap.state === 'ready' && version && version.sid === snap.student.id;
    emptyBox.attr('hidden', ready || snap.state === 'loading' ? true : null);
    if (!ready) {
      emptyState(emptyBox.node(), {
        title: 'No weights to show yet.',
        what: 'A heat map of every weight of the student: one row per concept, one column per class.',
        needs: ['a project with a distilled student (Student performance → Distil a student)'],
      });
    }
    body.attr('hidden', ready ? null : true);
    if (!ready) return;
    const v = version.body;
    const { rows } = seriate(v.weights);
    const conceptAt = new Map(v.concepts.map((w, j) => [w, j]));
    const classAt = new Map(v.classes.map((c, i) => [c, i]));
    const max = d3.max(v.weights.flat().map(Math.abs)) || 1;
    const head = snap.student.head.number;
    caption.text(`Version ${v.number}${v.number === head ? ' (head)' : ` of ${head}`}: ${v.classes.length} classes × ${v.concepts.length} concepts, ` +
      'each concept listed under the class it weighs most on. Choose a cell to select its class and concept.');
    renderLegend(max);
    const cellSize = v.concepts.length > 60 ? 12 : v.concepts.length > 20 ? 16 : 20;
    marked = { row: store.get('concept'), col: store.get('class') };
    chart.cell(cellSize).selected(marked);
    scroller.datum({
      rows: rows.map((j) => v.concepts[j]),
      cols: v.classes,
      max,
      value: (r, c) => v.weights[classAt.get(c)][conceptAt.get(r)],
    }).call(chart);
  }

  async function loadVersion() {
    const snap = source.current;
    const g = ++vgen;
    if (snap.state !== 'ready') { version = null; render(); return; }
    const n = shownVersion(store, snap);
    if (version && version.sid === snap.student.id && version.number === n) { render(); return; }
    try {
      const body = await fetchVersion(api, snap.student.id, n);
      if (g !== vgen) return;
      version = { sid: snap.student.id, number: n, body };
    } catch (e) {
      if (g !== vgen) return;
      status.attr('data-kind', 'error').text(`Could not read version ${n}: ${e.message}`);
      return;
    }
    render();
  }

  store.on('data.overview', ({ key }) => { if (key === 'student') loadVersion(); });
  // A new class or concept only moves the highlight: touch the cells of the old and
  // new row and column, not all C x d of them.
  function markSelection() {
    const now = { row: store.get('concept'), col: store.get('class') };
    chart.selected(now).highlight(scroller, marked);
    marked = now;
  }

  store.on('select.overview', ({ changed }) => {
    if (changed.includes('version') || changed.includes('project')) loadVersion();
    else if (changed.includes('class') || changed.includes('concept')) markSelection();
  });
  loadVersion();
  return { update: render };
}
