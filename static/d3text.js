// d3text.js — selection.text(v) that leaves an element alone when it already holds
// exactly that text. D3's own text() always replaces the text node, and a new node
// makes the browser lay the element out again; the views re-render on every
// selection or new head with most of their text unchanged, so skipping those no-op
// writes keeps an update's layout to what really changed (bench/ui_perf.mjs).
// The DOM that results is the same as with D3's text(); getters are untouched.

const d3 = window.d3;

if (d3 && !d3.selection.prototype.text.keepsSameText) {
  const original = d3.selection.prototype.text;
  const text = function (value) {
    if (!arguments.length) return original.call(this);
    return this.each(function (d, i, nodes) {
      const v = typeof value === 'function' ? value.call(this, d, i, nodes) : value;
      const t = v == null ? '' : String(v);
      const only = this.firstChild;
      // Same text in a single text node (or nothing to clear): nothing to do.
      if (only && only === this.lastChild && only.nodeType === 3 && only.data === t) return;
      if (!only && t === '') return;
      this.textContent = t;
    });
  };
  text.keepsSameText = true;
  d3.selection.prototype.text = text;
}
