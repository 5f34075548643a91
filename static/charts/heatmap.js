// charts/heatmap.js — a rows x columns grid of coloured cells (the concept × class
// overview: rows concepts, columns classes) on a diverging blue (negative) – light
// grey (0) – orange (positive) scale, the app's colour-blind-safe pair, symmetric
// about 0, with rotated column heads and row heads sized to their text.
//
//   const hm = heatmap().cell(16).selected({row, col}).onCell(fn).onRow(fn).onCol(fn);
//   d3.select(el).datum({rows, cols, value, max}).call(hm);
//   hm.selected({row, col}).highlight(d3.select(el), before); // move the highlight only
//
// Datum: {rows: [name], cols: [name], value(row, col) -> number, max}. Accessors:
// cell (px), labelWidth (the most the row heads take), selected {row, col},
// onCell(row, col), onRow(row), onCol(col). Keyboard: one cell is in the tab order
// (a roving tab stop kept in the closure); arrows, Home and End move it, Enter or
// Space picks the cell. The cells are role="gridcell" with data-class / data-concept.

import { accessors } from './accessors.js';

const d3 = window.d3;
const fmt = d3.format('+.3f');
const short = (t) => (t.length > 20 ? `${t.slice(0, 19)}…` : t);

export function heatmap() {
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
  // chart.highlight(selection, before): move the highlight from `before` ({row, col})
  // to the chart's selected(): touch the cells of the old and new row and column,
  // not all rows x cols of them.
  chart.highlight = function (selection, before = {}) {
    const now = s.selected;
    const svg = selection.select('svg.heatmap');
    if (svg.empty()) return chart;
    const near = (d) => d.r === now.row || d.c === now.col || d.r === before.row || d.c === before.col;
    svg.selectAll('rect.hm-cell').filter(near)
      .classed('selected', (d) => d.r === now.row && d.c === now.col)
      .classed('in-line', (d) => d.r === now.row || d.c === now.col)
      .attr('aria-selected', (d) => String(d.r === now.row && d.c === now.col));
    svg.selectAll('text.hm-col').classed('selected', (d) => d === now.col);
    svg.selectAll('text.hm-row').classed('selected', (d) => d === now.row);
    return chart;
  };
  return accessors(chart, s);
}

