// deltas.js — the words and marks of a change in a measure (provenance): rounded to
// the precision shown first, so a change too small to show is "±0" in grey, never a
// coloured arrow over "−0.0".
//
//   formatDelta(v, {pp, up}) -> {text, dir, better}
//     v    the change: a ratio (0..1 scale) when pp, else a count
//     pp   show percentage points with one decimal; else a whole number
//     up   whether a rise is better (fidelity, accuracy) or worse (disagreements)
//     text "▲ +1.2", "▼ −3", "±0.0", "–" for no value (a measure with no images)
//     dir  'up' | 'down' | 'same' | 'none';  better: 'better' | 'worse' | 'same' | 'none'
//   formatValue(v, {pp}) -> "97.9%" | "12" | "–": a measure itself (a distillation's entry)

const MINUS = '\u2212';

export function formatDelta(v, { pp = true, up = true } = {}) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return { text: '–', dir: 'none', better: 'none' };
  // Tenths of a point (pp) or whole counts: what the text shows decides the sign.
  const shown = pp ? Math.round(v * 1000) / 10 : Math.round(v);
  if (shown === 0) return { text: pp ? '±0.0' : '±0', dir: 'same', better: 'same' };
  const dir = shown > 0 ? 'up' : 'down';
  const num = pp ? Math.abs(shown).toFixed(1) : String(Math.abs(shown));
  return {
    text: `${dir === 'up' ? '▲ +' : `▼ ${MINUS}`}${num}`,
    dir,
    better: (dir === 'up') === up ? 'better' : 'worse',
  };
}

export function formatValue(v, { pp = true } = {}) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
  return pp ? `${(v * 100).toFixed(1)}%` : String(Math.round(v));
}
