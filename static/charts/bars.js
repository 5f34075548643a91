// charts/bars.js — horizontal bars (images per split, teacher accuracy per split):
// a closure with chainable accessors, applied to a selection whose datum is the data
// array (d3 "towards reusable charts" style):
//
//   const bars = barChart().key((d) => d.split).label((d) => d.split).value((d) => d.n);
//   d3.select(el).datum(rows).call(bars);
//
// It draws into one <svg role="img"> per container with an aria-label that says in
// words what the bars show, so a screen reader gets the numbers too.

import { accessors } from './accessors.js';

const d3 = window.d3;

// barChart(): horizontal bars, one row per datum, keyed by key(d).
//   label(d) text left of the bar; value(d) number; format(v) the number's text;
//   valueText(d) the text right of the bar and in the aria-label (null = format(value(d)));
//   max: the scale's top (null = the data's max); title: the aria-label's prefix.
//   Shapes: data is an array of any objects; rows keep their order.
export function barChart() {
  const s = {
    width: 280,
    barHeight: 16,
    gap: 6,
    labelWidth: 80,
    valueWidth: 64,
    key: (d, i) => i,
    label: (d) => String(d.label),
    value: (d) => +d.value,
    format: d3.format(','),
    valueText: null,
    max: null,
    title: 'Bar chart',
    className: 'bar-chart',
  };

  function chart(selection) {
    selection.each(function (data) {
      const rows = data || [];
      const h = rows.length * (s.barHeight + s.gap);
      const top = s.max ?? d3.max(rows, s.value) ?? 0;
      const x = d3.scaleLinear().domain([0, top || 1])
        .range([0, Math.max(10, s.width - s.labelWidth - s.valueWidth)]);
      const text = (d) => (s.valueText ? s.valueText(d) : s.format(s.value(d)));
      const summary = rows.map((d) => `${s.label(d)} ${text(d)}`).join(', ');

      const svg = d3.select(this).selectAll(`svg.${s.className}`).data([rows]).join('svg')
        .attr('class', s.className)
        .attr('role', 'img')
        .attr('aria-label', `${s.title}: ${summary || 'nothing to show'}`)
        .attr('width', s.width)
        .attr('height', Math.max(h, 1))
        .attr('viewBox', `0 0 ${s.width} ${Math.max(h, 1)}`);

      const row = svg.selectAll('g.bar-row').data(rows, s.key).join((enter) => {
        const g = enter.append('g').attr('class', 'bar-row').attr('aria-hidden', 'true');
        g.append('text').attr('class', 'bar-label');
        g.append('rect').attr('class', 'bar-track');
        g.append('rect').attr('class', 'bar');
        g.append('text').attr('class', 'bar-value');
        return g;
      }).attr('transform', (d, i) => `translate(0,${i * (s.barHeight + s.gap)})`);

      row.select('.bar-label')
        .attr('x', s.labelWidth - 6).attr('y', s.barHeight / 2).attr('dy', '0.35em')
        .attr('text-anchor', 'end')
        .text((d) => s.label(d));
      row.select('.bar-track')
        .attr('x', s.labelWidth).attr('width', x.range()[1]).attr('height', s.barHeight).attr('rx', 3);
      row.select('.bar')
        .attr('x', s.labelWidth).attr('height', s.barHeight).attr('rx', 3)
        .attr('width', (d) => Math.max(0, x(Math.min(top || 1, s.value(d)))));
      row.select('.bar-value')
        .attr('x', s.labelWidth + x.range()[1] + 6).attr('y', s.barHeight / 2).attr('dy', '0.35em')
        .text(text);
    });
  }

  return accessors(chart, s);
}
