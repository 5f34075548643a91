// charts/confusion.js — a student-vs-teacher confusion matrix as a <table> (rows:
// the teacher's class, columns: the student's), every cell a button that picks its
// subset. Colour: blue on the diagonal (they agree), orange off it (they disagree),
// each scaled to its own largest count; empty cells white.
//
//   const cm = confusionMatrix().caption('…').selected({teacher, student}).onPick(fn);
//   d3.select(el).datum({classes, counts}).call(cm);
//
// Datum: {classes: [name], counts: C x C numbers (rows teacher, columns student)}.
// Accessors: caption (the table's caption), describedBy (an id for aria-describedby),
// selected ({teacher, student} | null: the pressed cell), onPick(teacher, student, n).
// Cells carry data-teacher / data-student, so a new selection can move the pressed
// cell without drawing the table again.

import { accessors } from './accessors.js';

const d3 = window.d3;

export function confusionMatrix() {
  const s = { caption: '', describedBy: null, selected: null, onPick: () => {} };
  function chart(selection) {
    selection.each(function ({ classes, counts: conf }) {
      const sub = s.selected;
      const maxOff = d3.max(classes.flatMap((a, i) => classes.map((b, j) => (i === j ? 0 : conf[i][j])))) || 1;
      const maxDiag = d3.max(classes.map((a, i) => conf[i][i])) || 1;
      const table = d3.select(this).selectAll('table.confusion').data([null]).join((enter) => {
        const t = enter.append('table').attr('class', 'confusion').attr('aria-describedby', s.describedBy);
        t.append('caption');
        t.append('thead').append('tr');
        t.append('tbody');
        return t;
      });
      table.select('caption').text(s.caption);
      const hr = table.select('thead tr');
      hr.selectAll('th').data(['', ...classes]).join('th')
        .attr('scope', (d, i) => (i ? 'col' : null))
        .attr('class', (d, i) => (i ? 'cm-col' : 'cm-corner'))
        .text((d, i) => (i ? d : 'teacher ↓ student →'));
      const tr = table.select('tbody').selectAll('tr').data(classes, (d) => d).join((enter) => {
        const r = enter.append('tr');
        r.append('th').attr('scope', 'row');
        return r;
      });
      tr.select('th').text((d) => d);
      tr.selectAll('td').data((t, i) => classes.map((c, j) => ({ t, s: c, i, j, n: conf[i][j] })), (d) => d.s)
        .join((enter) => enter.append('td').call((td) => td.append('button').attr('type', 'button').attr('class', 'cm-cell')))
        .each(function (d) {
          const diag = d.i === d.j;
          const f = diag ? d.n / maxDiag : d.n / maxOff;
          const bg = d.n === 0 ? '#ffffff' : diag ? d3.interpolateBlues(0.15 + 0.6 * f) : d3.interpolateOranges(0.2 + 0.6 * f);
          const selected = !!sub && sub.teacher === d.t && sub.student === d.s;
          d3.select(this).select('button')
            .classed('diag', diag)
            .classed('off', !diag && d.n > 0)
            .attr('data-teacher', d.t).attr('data-student', d.s)
            .attr('aria-pressed', String(selected))
            .attr('aria-label', `${d.n} image${d.n === 1 ? '' : 's'}: teacher ${d.t}, student ${d.s}${diag ? ' (agree)' : ' (disagree)'}`)
            .style('background', bg)
            .style('color', (diag ? 0.15 + 0.6 * f : 0.2 + 0.6 * f) > 0.55 && d.n ? '#fff' : 'var(--ink)')
            .text(d.n)
            .on('click', () => s.onPick(d.t, d.s, d.n));
        });
    });
  }
  return accessors(chart, s);
}
