// charts/class-bars.js — the Student performance view's per-class rows: one button
// per class (keyed by name) with one horizontal bar (0..1) per measure; each row says
// how many images student and teacher disagree on, and the classes that stand out
// (flag: fidelity well below the student's overall, standout.js) are marked (band,
// ⚠ and words).
//
//   const bars = classBars().measures([{key, label}]).onPick((name) => ...);
//   d3.select(el).datum(rows).call(bars);
//
// Datum: [{name, n, disagree, flag, selected, [measure.key]: 0..1 | null}]. Accessors:
// measures (the bars of a row, in order), onPick(name) when a row is chosen,
// format(v) a measure's words ('–' for none).

import { accessors } from './accessors.js';

const d3 = window.d3;
const pct = (v) => (v === null || v === undefined ? '–' : d3.format('.1%')(v));

export function classBars() {
  const s = { onPick: () => {}, measures: [], format: pct };
  function chart(selection) {
    const fmt = s.format;
    selection.each(function (rows) {
      const rowSel = d3.select(this).selectAll('button.perf-row').data(rows, (d) => d.name)
        .join((enter) => {
          const b = enter.append('button').attr('type', 'button').attr('class', 'perf-row');
          const head = b.append('span').attr('class', 'perf-row-head');
          head.append('span').attr('class', 'perf-class');
          head.append('span').attr('class', 'perf-flag');
          const bars = b.append('span').attr('class', 'perf-bars');
          for (const m of s.measures) {
            const line = bars.append('span').attr('class', `perf-bar-line m-${m.key}`);
            line.append('span').attr('class', 'perf-track').append('span').attr('class', 'perf-bar');
            line.append('span').attr('class', 'perf-val');
          }
          return b;
        })
        .classed('disagree', (d) => !!d.flag)
        .classed('some-disagree', (d) => !d.flag && d.disagree > 0)
        .attr('aria-pressed', (d) => String(!!d.selected))
        .attr('data-class', (d) => d.name)
        .attr('aria-label', (d) => `${d.name}: ${s.measures.map((m) => `${m.label.toLowerCase()} ${fmt(d[m.key])}`).join(', ')}` +
          `, ${d.n} image${d.n === 1 ? '' : 's'} the teacher puts here, ${d.disagree} where the student disagrees with the teacher` +
          `${d.flag ? ', fidelity well below the student’s overall' : ''}. Select this class.`)
        .on('click', (ev, d) => s.onPick(d.name));
      rowSel.select('.perf-class').text((d) => d.name);
      rowSel.select('.perf-flag').text((d) => (d.flag ? `⚠ ${d.disagree} disagree` : d.disagree > 0 ? `${d.disagree} disagree`
        : d.n ? '✓ agrees' : 'no images here'));
      for (const m of s.measures) {
        const line = rowSel.select(`.m-${m.key}`);
        line.select('.perf-bar').style('width', (d) => `${Math.round(100 * Math.max(0, Math.min(1, d[m.key] ?? 0)))}%`);
        line.select('.perf-val').text((d) => fmt(d[m.key]));
      }
    });
  }
  return accessors(chart, s);
}
