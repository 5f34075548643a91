// views/overview.js — the concept × class heat map of every weight of the shown
// version (store 'version', else the head): rows are concepts, columns classes,
// colour a diverging blue (negative) – light grey (0) – orange (positive) scale,
// the app's colour-blind-safe pair, symmetric about 0.
// Order (a simple seriation, so blocks show): classes as the dataset lists them;
// each concept goes under the class of its largest |weight|, within it by that
// |weight|, largest first; concepts with no weight at all come last.
// A cell selects its class and concept; a column head its class; a row head its
// concept. Keyboard: one cell is in the tab order; arrows move, Enter/Space select.
// init(store, api, el) -> {update()}

import { emptyState, announce } from '../ui.js';
import { studentSource, fetchVersion, shownVersion } from './student.js';

const d3 = window.d3;
const fmt = d3.format('+.3f');

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

const short = (t) => (t.length > 20 ? `${t.slice(0, 19)}…` : t);

// heatmap(): rows x columns of cells from a datum {rows: [name], cols: [name],
// value(r, c) -> number, max}. Chainable: cell, onCell(row, col), onRow(row),
// onCol(col), selected {row, col}.
function heatmap() {
  const s = { cell: 16, onCell: () => {}, onRow: () => {}, onCol: () => {}, selected: {}, labelWidth: 140 };
  let focus = { r: 0, c: 0 }; // the roving tab stop

  function chart(selection) {
    selection.each(function (m) {
      const { rows, cols } = m;
      // Room for the labels, from their length (11px text, about 6.5px a character).
      const colChars = d3.max(cols, (d) => d.length) || 1;
      const labelWidth = Math.max(40, Math.min(s.labelWidth, 12 + 6.5 * (d3.max(rows, (d) => d.length) || 1)));
      const headHeight = Math.max(24, Math.min(110, 10 + 6.5 * colChars * Math.sin(55 * Math.PI / 180)));
      const padRight = Math.min(90, 6.5 * colChars * Math.cos(55 * Math.PI / 180));
      const W = labelWidth + cols.length * s.cell + padRight + 8;
      const H = headHeight + rows.length * s.cell + 4;
      const color = d3.scaleDiverging([-m.max, 0, m.max], d3.piecewise(d3.interpolateRgb, ['#0072b2', '#f2f2f2', '#d55e00']));
      focus = { r: Math.min(focus.r, rows.length - 1), c: Math.min(focus.c, cols.length - 1) };
      const svg = d3.select(this).selectAll('svg.heatmap').data([m]).join('svg')
        .attr('class', 'heatmap').attr('width', W).attr('height', H).attr('viewBox', `0 0 ${W} ${H}`)
        .attr('role', 'grid').attr('aria-label', `Weights of ${rows.length} concepts (rows) for ${cols.length} classes (columns)`);
      const colHeads = svg.selectAll('g.hm-cols').data([null]).join('g').attr('class', 'hm-cols');
      colHeads.selectAll('text').data(cols, (d) => d).join('text')
        .attr('class', 'hm-col')
        .classed('selected', (d) => d === s.selected.col)
        .attr('transform', (d, i) => `translate(${labelWidth + i * s.cell + s.cell / 2},${headHeight - 4}) rotate(-55)`)
        .text(short)
        .on('click', (ev, d) => s.onCol(d));
      const rowHeads = svg.selectAll('g.hm-rows').data([null]).join('g').attr('class', 'hm-rows');
      rowHeads.selectAll('text').data(rows, (d) => d).join('text')
        .attr('class', 'hm-row')
        .classed('selected', (d) => d === s.selected.row)
        .attr('x', labelWidth - 6).attr('y', (d, i) => headHeight + i * s.cell + s.cell / 2).attr('dy', '0.35em')
        .attr('text-anchor', 'end')
        .text(short)
        .on('click', (ev, d) => s.onRow(d));
      const grid = svg.selectAll('g.hm-grid').data([null]).join('g').attr('class', 'hm-grid');
      const rowG = grid.selectAll('g.hm-line').data(rows, (d) => d).join('g').attr('class', 'hm-line').attr('role', 'row')
        .attr('transform', (d, i) => `translate(${labelWidth},${headHeight + i * s.cell})`);
      const cells = rowG.selectAll('rect.hm-cell')
        .data((r, ri) => cols.map((c, ci) => ({ r, c, ri, ci, v: m.value(r, c) })), (d) => d.c)
        .join('rect')
        .attr('class', 'hm-cell')
        .attr('role', 'gridcell')
        .attr('x', (d) => d.ci * s.cell).attr('width', s.cell - 1).attr('height', s.cell - 1)
        .attr('fill', (d) => color(d.v))
        .attr('data-class', (d) => d.c).attr('data-concept', (d) => d.r)
        .attr('tabindex', (d) => (d.ri === focus.r && d.ci === focus.c ? 0 : -1))
        .attr('aria-selected', (d) => String(d.r === s.selected.row && d.c === s.selected.col))
        .attr('aria-label', (d) => `concept ${d.r}, class ${d.c}: weight ${fmt(d.v)}`)
        .classed('selected', (d) => d.r === s.selected.row && d.c === s.selected.col)
        .classed('in-line', (d) => d.r === s.selected.row || d.c === s.selected.col)
        .on('click', (ev, d) => { focus = { r: d.ri, c: d.ci }; s.onCell(d.r, d.c); })
        .on('keydown', (ev, d) => {
          const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
          if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); focus = { r: d.ri, c: d.ci }; s.onCell(d.r, d.c); return; }
          let r = d.ri; let c = d.ci;
          if (moves[ev.key]) { r += moves[ev.key][0]; c += moves[ev.key][1]; }
          else if (ev.key === 'Home') c = 0;
          else if (ev.key === 'End') c = cols.length - 1;
          else return;
          ev.preventDefault();
          r = Math.max(0, Math.min(rows.length - 1, r)); c = Math.max(0, Math.min(cols.length - 1, c));
          focus = { r, c };
          cells.attr('tabindex', (x) => (x.ri === r && x.ci === c ? 0 : -1));
          cells.filter((x) => x.ri === r && x.ci === c).node()?.focus();
        });
      cells.selectAll('title').data((d) => [d]).join('title').text((d) => `${d.r} → ${d.c}: ${fmt(d.v)}`);
    });
  }
  for (const name of ['cell', 'onCell', 'onRow', 'onCol', 'selected', 'labelWidth']) {
    chart[name] = function (v) { if (!arguments.length) return s[name]; s[name] = v; return chart; };
  }
  return chart;
}

export function init(store, api, el) {
  const source = studentSource(store, api);
  const root = d3.select(el);
  const status = root.append('p').attr('class', 'sv-status').attr('role', 'status');
  const emptyBox = root.append('div');
  const body = root.append('div').attr('class', 'overview').attr('hidden', true);
  const caption = body.append('p').attr('class', 'sv-note ov-caption');
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
    svg.selectAll('text').text((d) => [`${d3.format('.2f')(-max)} against`, '0', `+${d3.format('.2f')(max)} for`][d]);
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
    chart.selected(now);
    const svg = scroller.select('svg.heatmap');
    if (!svg.empty()) {
      const near = (d) => d.r === now.row || d.c === now.col || d.r === marked.row || d.c === marked.col;
      svg.selectAll('rect.hm-cell').filter(near)
        .classed('selected', (d) => d.r === now.row && d.c === now.col)
        .classed('in-line', (d) => d.r === now.row || d.c === now.col)
        .attr('aria-selected', (d) => String(d.r === now.row && d.c === now.col));
      svg.selectAll('text.hm-col').classed('selected', (d) => d === now.col);
      svg.selectAll('text.hm-row').classed('selected', (d) => d === now.row);
    }
    marked = now;
  }

  store.on('select.overview', ({ changed }) => {
    if (changed.includes('version') || changed.includes('project')) loadVersion();
    else if (changed.includes('class') || changed.includes('concept')) markSelection();
  });
  loadVersion();
  return { update: render };
}
