// perf.js — User Timing marks for "the views have caught up", read by
// bench/ui_perf.mjs through the browser's Performance API (and visible in any
// browser's Performance panel).
//
//   begin(name, {until, fromNavigation})   an action started (marks `${name}:start`)
//   requestStarted() / requestEnded()      api.js counts the view reads in flight
//   track(promise)                         a background read a view now waits for
//
// An action is finished when no view read is in flight, its `until()` holds and a
// frame has been drawn after that: then `${name}:end` is marked and the measure
// `name` spans start -> end (or navigation start -> end with fromNavigation).
// The views render synchronously when their answers arrive, so "no read in flight
// after a macrotask" means every view has drawn what it will draw. Long-polls and
// the jobs list's periodic refresh are background reads and are not counted;
// images are left to the browser and not waited for.
//
// Measures the app records: 'workspace-interactive' (navigation start to every view
// of the URL's project drawn after sign-in), 'selection-updated' (a selection change
// to all views updated), 'tune-updated' (a tune click to all views showing the new
// head), 'restore-updated' (same for a restore). Cost: a counter per request and one
// timer per settle; nothing runs while the page is idle.

let inflight = 0;
let pending = [];     // [{name, until, fromNavigation}]
let scheduled = false;
let drawing = false;
const hasPerf = typeof performance !== 'undefined' && typeof performance.mark === 'function';

export function requestStarted() { inflight++; }

// Whether any view read is in flight (prefetch.js waits for none).
export const readsInFlight = () => inflight > 0 || pending.length > 0;

export function requestEnded() {
  inflight = Math.max(0, inflight - 1);
  if (!inflight && pending.length) schedule();
}

// A read that started in the background (a prefetch, views/*.js) and that a view now
// waits for: counted from now until it settles, like a read of its own.
export function track(promise) {
  requestStarted();
  promise.then(requestEnded, requestEnded);
  return promise;
}

export function begin(name, { until = null, fromNavigation = false } = {}) {
  if (!hasPerf) return;
  pending = pending.filter((p) => p.name !== name); // a newer start of the same action wins
  performance.mark(`${name}:start`);
  pending.push({ name, until, fromNavigation });
  schedule();
}

// A check after the current task and its microtasks: by then every answer that
// arrived has been rendered, and any read a render started is counted.
function schedule() {
  if (scheduled) return;
  scheduled = true;
  setTimeout(check, 0);
}

function check() {
  scheduled = false;
  if (inflight || drawing || !pending.length) return;
  if (!pending.some(ready)) return;
  // Wait for the next frame to be produced (rAF runs before paint, the message
  // after it), so the measure includes style, layout and paint of the update.
  drawing = true;
  requestAnimationFrame(() => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close(); // an open port would also keep a non-browser host (node) alive
      drawing = false;
      if (inflight) return; // something new started meanwhile: wait for it
      const done = pending.filter(ready);
      pending = pending.filter((p) => !done.includes(p));
      for (const p of done) {
        performance.mark(`${p.name}:end`);
        try {
          if (p.fromNavigation) performance.measure(p.name, { start: 0, end: `${p.name}:end` });
          else performance.measure(p.name, `${p.name}:start`, `${p.name}:end`);
        } catch { /* the start mark was cleared by a caller: no measure */ }
      }
      if (pending.length) schedule();
    };
    ch.port2.postMessage(null);
  });
}

function ready(p) {
  try { return !p.until || !!p.until(); } catch { return true; }
}
