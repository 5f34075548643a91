// views/selection.js — the header's selection bar: one chip per selected key with a
// button that clears it, and the split picker. The picker offers the splits the
// shown student's data has (its head's measures, store data 'student'; train, val,
// test, shifted before there is one), the held-out test split by default; every
// student view computes on the split picked here. It reads and writes only the store.
// init(store, api, el) where el is the header's nav.selection.

import { announce } from '../ui.js';
import { DEFAULT_SPLIT, splitOptions, splitLabel } from '../splits.js';

const d3 = window.d3;

const CHIP_KEYS = ['project', 'class', 'concept', 'subset', 'version'];

export function init(store, api, el) {
  const chips = d3.select(el).select('#selection-chips');
  const split = d3.select(el).select('#split-select');

  let have = null; // the splits of the shown student's data, null before there is one
  split.on('change', (ev) => {
    const v = ev.target.value;
    store.select({ split: v === DEFAULT_SPLIT ? null : v }, { source: 'selection' });
    announce(`Measures, rankings and images now on the ${splitLabel(v)} split.`);
  });

  function renderSplits() {
    const selected = store.get('split') ?? DEFAULT_SPLIT;
    split.selectAll('option').data(splitOptions(have, selected), (d) => d.value).join('option')
      .attr('value', (d) => d.value).text((d) => d.label)
      .classed('unknown', (d) => d.missing);
    split.property('value', selected);
  }

  function render() {
    const s = store.state;
    const set = CHIP_KEYS.filter((k) => s[k] !== null).map((k) => ({ key: k, value: s[k] }));
    const rows = set.length ? set : [{ key: null }];
    chips.selectAll('li')
      .data(rows, (d) => d.key ?? 'none')
      .join((enter) => enter.append('li'))
      .attr('class', (d) => (d.key ? 'chip' : 'chip-none'))
      .attr('data-key', (d) => d.key)
      .each(function (d) {
        const li = d3.select(this);
        if (!d.key) { li.text('nothing selected'); return; }
        li.selectAll('span.chip-key').data([d]).join('span').attr('class', 'chip-key').text(`${d.key}:`);
        li.selectAll('span.chip-value').data([d]).join('span').attr('class', 'chip-value').text(d.value);
        li.selectAll('button').data([d]).join('button')
          .attr('type', 'button').attr('class', 'chip-clear')
          .attr('aria-label', `Clear the ${d.key} selection`)
          .text('×')
          .on('click', (ev, dd) => store.select({ [dd.key]: null }, { source: 'selection' }));
      });
    renderSplits();
  }

  store.on('select.selection', render);
  store.on('data.selection', ({ key, value }) => {
    if (key !== 'student') return;
    const splits = value?.state === 'ready' ? Object.keys(value.student?.head?.measures?.splits || {}) : null;
    const next = splits && splits.length ? splits : null;
    if (String(next) === String(have)) return;
    have = next;
    renderSplits();
  });
  render();
  return { render };
}
