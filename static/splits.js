// splits.js — the dataset splits the views compute their measures, rankings and
// galleries on: their order and names, the default (the held-out test split), the
// split the views show (store 'split', else the default) and the options the
// header's picker offers.
//
//   shownSplit(store)              'test' unless the store names another split
//   splitOptions(have, selected)   [{value, label, missing}] for the picker
//   splitLabel(value)              'Validation' for 'val', the name itself otherwise
//   orderSplits(names)             the known splits first (train, val, test, shifted)

export const DEFAULT_SPLIT = 'test';

// The names the demo world and the importers use, in the order a person reads them.
const KNOWN = [
  { value: 'train', label: 'Training' },
  { value: 'val', label: 'Validation' },
  { value: 'test', label: 'Held-out test' },
  { value: 'shifted', label: 'Shifted test' },
];
const RANK = new Map(KNOWN.map((s, i) => [s.value, i]));

export const shownSplit = (store) => store.get('split') ?? DEFAULT_SPLIT;

export function splitLabel(value) {
  return KNOWN.find((s) => s.value === value)?.label ?? value;
}

// Known splits in their order, then any others by name.
export function orderSplits(names) {
  return [...new Set(names)].sort((a, b) => (RANK.get(a) ?? 99) - (RANK.get(b) ?? 99) || (a < b ? -1 : a > b ? 1 : 0));
}

// have: the split names the shown data has (the student's measures), or null when
// there is no data yet (then the four known ones are offered). A selected split the
// data lacks (a link from another project) stays listed, marked missing, so the
// picker never silently shows another split than the views use.
export function splitOptions(have, selected = DEFAULT_SPLIT) {
  const names = orderSplits(have && have.length ? have : KNOWN.map((s) => s.value));
  const out = names.map((value) => ({
    value,
    label: `${splitLabel(value)}${value === DEFAULT_SPLIT ? ' (default)' : ''}`,
    missing: false,
  }));
  if (selected && !names.includes(selected)) {
    out.push({ value: selected, label: `${splitLabel(selected)} (not in this data)`, missing: true });
  }
  return out;
}
