// charts/confusion.js — a student-vs-teacher confusion matrix as a <table> (rows:
// the teacher's class, columns: the student's), every cell a button that picks its
// subset. Colour: blue on the diagonal (they agree), orange off it (they disagree),
// each scaled to its own largest count; empty cells white.
//
//   const cm = confusionMatrix().width(300).caption('…').selected({teacher, student}).onPick(fn);
//   d3.select(el).datum({classes, counts}).call(cm);
//
// Datum: {classes: [name], counts: C x C numbers (rows teacher, columns student)}.
// Accessors: width (the px the table may take: it is laid out to fit them; null: as
// wide as its content), caption (the table's caption), describedBy (an id for
// aria-describedby), selected ({teacher, student} | null: the pressed cell),
// onPick(teacher, student, n).
// Fitting the width: the row heads take at most about a fifth of it and the
// columns share the rest (table-layout: fixed). With room (cells of 34 px or more)
// the counts and the column heads read across; narrower, the column heads turn
// upright and the counts get smaller (19 px or more: 10 classes in a 1280-wide
// window); narrower still (20 classes there) the cells are colour only, their count
// in the tooltip and the accessible name, and the caption says so. Names too long
// are cut with "…", whole in the tooltip.
// Cells carry data-teacher / data-student, so a new selection can move the pressed
// cell without drawing the table again.

import { accessors } from './accessors.js';

const d3 = window.d3;
const SPACING = 2; // border-spacing, px

// How the matrix is laid out in `width` px for `names`: {mode, head, cell} where mode
// is 'roomy' | 'compact' | 'dense' | 'natural' (no width given), head the row heads'
// width and cell a column's width (px).
export function confusionLayout(width, names) {
  if (!width) return { mode: 'natural', head: null, cell: null };
  const c = Math.max(1, names.length);
  const longest = d3.max(names, (n) => n.length) || 1;
  const head = Math.round(Math.max(40, Math.min(12 + 6 * longest, 96, width * 0.22)));
  const cell = (width - head - SPACING * (c + 2)) / c;
  return { mode: cell >= 34 ? 'roomy' : cell >= 19 ? 'compact' : 'dense', head, cell };
}

// A count in few characters: 1234 -> "1.2k".
const count = (n) => (n >= 1000 ? d3.format('.2~s')(n) : String(n));

export function confusionMatrix() {
  const s = { width: null, caption: '', describedBy: null, selected: null, onPick: () => {} };
  function chart(selection) {
    selection.each(function ({ classes, counts: conf }) {
      const sub = s.selected;
      const lay = confusionLayout(s.width, classes);
      const maxOff = d3.max(classes.flatMap((a, i) => classes.map((b, j) => (i === j ? 0 : conf[i][j])))) || 1;
      const maxDiag = d3.max(classes.map((a, i) => conf[i][i])) || 1;
      const table = d3.select(this).selectAll('table.confusion').data([null]).join((enter) => {
        const t = enter.append('table').attr('class', 'confusion').attr('aria-describedby', s.describedBy);
        t.append('caption');
        t.append('colgroup');
        t.append('thead').append('tr');
        t.append('tbody');
        return t;
      });
      table.attr('data-mode', lay.mode)
        .style('width', lay.mode === 'natural' ? null : `${Math.floor(s.width)}px`);
      table.select('caption').text(lay.mode === 'dense'
        ? `${s.caption} At this width the cells show colour only: hover or focus one for its count.` : s.caption);
      table.select('colgroup').selectAll('col').data(['', ...classes]).join('col')
        .style('width', (d, i) => (lay.mode === 'natural' ? null : i ? null : `${lay.head}px`));
      const hr = table.select('thead tr');
      hr.selectAll('th').data(['', ...classes]).join((enter) => enter.append('th').call((th) => th.append('span')))
        .attr('scope', (d, i) => (i ? 'col' : null))
        .attr('class', (d, i) => (i ? 'cm-col' : 'cm-corner'))
        .attr('title', (d, i) => (i ? `student: ${d}` : null))
        .select('span')
        .text((d, i) => (i ? d : 'teacher ↓ student →'));
      const tr = table.select('tbody').selectAll('tr').data(classes, (d) => d).join((enter) => {
        const r = enter.append('tr');
        r.append('th').attr('scope', 'row');
        return r;
      });
      tr.select('th').text((d) => d).attr('title', (d) => `teacher: ${d}`);
      tr.selectAll('td').data((t, i) => classes.map((c, j) => ({ t, s: c, i, j, n: conf[i][j] })), (d) => d.s)
        .join((enter) => enter.append('td').call((td) => td.append('button').attr('type', 'button').attr('class', 'cm-cell')))
        .each(function (d) {
          const diag = d.i === d.j;
          const f = diag ? d.n / maxDiag : d.n / maxOff;
          const bg = d.n === 0 ? '#ffffff' : diag ? d3.interpolateBlues(0.15 + 0.6 * f) : d3.interpolateOranges(0.2 + 0.6 * f);
          const selected = !!sub && sub.teacher === d.t && sub.student === d.s;
          const words = `${d.n} image${d.n === 1 ? '' : 's'}: teacher ${d.t}, student ${d.s}${diag ? ' (agree)' : ' (disagree)'}`;
          d3.select(this).select('button')
            .classed('diag', diag)
            .classed('off', !diag && d.n > 0)
            .attr('data-teacher', d.t).attr('data-student', d.s)
            .attr('aria-pressed', String(selected))
            .attr('aria-label', words)
            .attr('title', words)
            .style('background', bg)
            .style('color', (diag ? 0.15 + 0.6 * f : 0.2 + 0.6 * f) > 0.55 && d.n ? '#fff' : 'var(--ink)')
            .text(lay.mode === 'dense' ? '' : count(d.n))
            .on('click', () => s.onPick(d.t, d.s, d.n));
        });
    });
  }
  return accessors(chart, s);
}
