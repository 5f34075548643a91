// charts/accessors.js — the chainable accessors every reusable chart has (d3's
// "towards reusable charts" convention): chart.name() gets a setting,
// chart.name(v) sets it and returns the chart, so settings chain.
//
//   const s = { width: 280, onPick: () => {} };
//   function chart(selection) { ... s.width ... }
//   return accessors(chart, s);

export function accessors(chart, state, names = Object.keys(state)) {
  for (const name of names) {
    chart[name] = function (v) {
      if (!arguments.length) return state[name];
      state[name] = v;
      return chart;
    };
  }
  return chart;
}
