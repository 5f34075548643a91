// whatif.js — the words of the what-if figures (GET …/whatif and …/whatif/concepts):
// what removing a concept would do to a split, said before anything is applied, and
// the rows of one action's effect on every split beside the retrained measures.
//
//   rankingLine(item, split, by)   'helps Shifted test by +6.3 pp accuracy' (item: one
//                                  of …/whatif/concepts' items; by: 'accuracy' | 'fidelity')
//   effectOf(item, by)             'helps' | 'hurts' | 'none' as the line says it: a
//                                  change that rounds to zero is 'none', whatever its sign
//   effectRows(whatif, measures)   [{split, n, fidelity, accuracy, retrained}] in reading
//                                  order: each measure {before, after, delta} as fractions
//                                  (null without labels); retrained: the applied tune's
//                                  {fidelity, accuracy} on that split, or null
//   ppText(delta)                  '+1.2 pp', '−0.4 pp', '±0.0 pp', '–' (a fraction)
//   scopeWords(cls, action)        'from every class' (cls null) | 'from cat' for a removal;
//                                  'in every class' | 'for cat' for the other actions

import { orderSplits, splitLabel } from './splits.js';

const MINUS = '\u2212';

export function ppText(delta) {
  if (typeof delta !== 'number' || !Number.isFinite(delta)) return '–';
  const shown = Math.round(delta * 1000) / 10; // tenths of a point decide the sign
  if (shown === 0) return '±0.0 pp';
  return `${shown > 0 ? '+' : MINUS}${Math.abs(shown).toFixed(1)} pp`;
}

const tenths = (d) => (typeof d === 'number' && Number.isFinite(d) ? Math.round(d * 1000) / 10 : 0);

export function effectOf(item, by) {
  const shown = tenths(by === 'fidelity' ? item.fidelity : item.accuracy);
  return shown > 0 ? 'helps' : shown < 0 ? 'hurts' : 'none';
}

export function rankingLine(item, split, by) {
  const d = by === 'fidelity' ? item.fidelity : item.accuracy;
  const where = splitLabel(split);
  const shown = tenths(d);
  if (shown === 0) return `no change on ${where} (±0.0 pp)`;
  return `${shown > 0 ? 'helps' : 'hurts'} ${where} by ${ppText(d)} ${by}`;
}

export function effectRows(whatif, measures = null) {
  const splits = whatif?.splits || {};
  return orderSplits(Object.keys(splits)).map((split) => {
    const s = splits[split];
    const m = measures?.splits?.[split];
    return {
      split,
      n: s.n,
      fidelity: s.fidelity ?? null,
      accuracy: s.accuracy ?? null,
      retrained: m ? { fidelity: m.fidelity ?? null, accuracy: m.student_accuracy ?? null } : null,
    };
  });
}

export function scopeWords(cls, action = 'remove') {
  if (action === 'remove') return cls ? `from ${cls}` : 'from every class';
  return cls ? `for ${cls}` : 'in every class';
}
