// views/selection.js — the header's selection bar: one chip per selected key with a
// button that clears it, and the split picker. It reads and writes only the store.
// init(store, api, el) where el is the header's nav.selection.

import { announce } from '../ui.js';

const d3 = window.d3;

// Splits the measures can be computed on; null (the default) is the held-out test
// split. The names follow the demo world (train / test / shifted test); a project's
// own list will replace this once the datasets API describes its splits.
export const SPLITS = [
  { value: 'test', label: 'Held-out test (default)' },
  { value: 'shifted', label: 'Shifted test' },
  { value: 'train', label: 'Training' },
];
const DEFAULT_SPLIT = 'test';
const CHIP_KEYS = ['project', 'class', 'concept', 'subset', 'version'];

export function init(store, api, el) {
  const chips = d3.select(el).select('#selection-chips');
  const split = d3.select(el).select('#split-select');

  split.selectAll('option').data(SPLITS).join('option')
    .attr('value', (d) => d.value).text((d) => d.label);
  split.on('change', (ev) => {
    const v = ev.target.value;
    store.select({ split: v === DEFAULT_SPLIT ? null : v }, { source: 'selection' });
    announce(`Measures now on the ${SPLITS.find((s) => s.value === v)?.label || v} split.`);
  });

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
    const known = SPLITS.some((o) => o.value === s.split);
    // An unknown split from a link is still shown, not silently replaced.
    split.selectAll('option.unknown').data(s.split && !known ? [s.split] : []).join('option')
      .attr('class', 'unknown').attr('value', (d) => d).text((d) => d);
    split.property('value', s.split ?? DEFAULT_SPLIT);
  }

  store.on('select.selection', render);
  render();
  return { render };
}
