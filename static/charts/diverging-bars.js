// charts/diverging-bars.js — the Concepts view's influence ranking: one row per
// datum (an <li>, keyed by key(d)) with a bar from zero to value(d), left when
// negative and right when positive, on a scale symmetric about zero.
//
//   const chart = divergingBars().labelControl(fn).controls(fn);
//   d3.select(ul).datum(rows).call(chart.max(m));
//
// Accessors: width, barHeight (the bar's viewBox); key(d), label(d), value(d) (null:
// no bar), valueText(d) (the number's words), valueTitle(d) (its tooltip: how it is
// made, or null); max (null: the data's largest |value|);
// labelControl(selection) fills each row's name cell, controls(selection) the row's
// own buttons (called on every render, so they follow the view's state).

import { accessors } from './accessors.js';

const d3 = window.d3;
const fmt = (v) => d3.format('+.3~g')(v);

export function divergingBars() {
  const s = {
    width: 180, barHeight: 14,
    key: (d) => d.concept, label: (d) => d.concept, value: (d) => d.influence,
    valueText: (d) => fmt(d.influence), valueTitle: () => null, max: null,
    labelControl: () => {}, controls: () => {},
  };
  function chart(selection) {
    selection.each(function (rows) {
      const m = s.max ?? d3.max(rows, (d) => Math.abs(s.value(d) ?? 0)) ?? 0;
      const x = d3.scaleLinear().domain([-(m || 1), m || 1]).range([2, s.width - 2]);
      const row = d3.select(this).selectAll('li.inf-row').data(rows, s.key).join((enter) => {
        const li = enter.append('li').attr('class', 'inf-row');
        li.append('span').attr('class', 'inf-name');
        const svg = li.append('svg').attr('class', 'inf-bar').attr('aria-hidden', 'true')
          .attr('viewBox', `0 0 ${s.width} ${s.barHeight}`).attr('preserveAspectRatio', 'none');
        svg.append('line').attr('class', 'inf-axis');
        svg.append('rect').attr('class', 'inf-fill');
        li.append('span').attr('class', 'inf-value');
        li.append('span').attr('class', 'inf-controls');
        return li;
      });
      row.select('.inf-axis').attr('x1', x(0)).attr('x2', x(0)).attr('y1', 0).attr('y2', s.barHeight);
      row.select('.inf-fill')
        .attr('class', (d) => `inf-fill ${(s.value(d) ?? 0) < 0 ? 'neg' : 'pos'}`)
        .attr('y', 2).attr('height', s.barHeight - 4)
        .attr('x', (d) => Math.min(x(0), x(s.value(d) ?? 0)))
        .attr('width', (d) => Math.abs(x(s.value(d) ?? 0) - x(0)));
      row.select('.inf-value').text(s.valueText).attr('title', s.valueTitle);
      row.select('.inf-name').call(s.labelControl);
      row.select('.inf-controls').call(s.controls);
    });
  }
  return accessors(chart, s);
}
