// prefetch.js — warm a view's caches in the page's idle time, one read at a time, so
// that the next selection is drawn from memory instead of waiting on the server
// (a class click then costs one render, not a "loading" render plus another).
//
//   prefetchInIdle(reads, stillWanted)
//     reads        [() => Promise]: each starts one background read (api {background: true})
//     stillWanted  () => bool: checked before each read; false stops the rest (the
//                  version, split or project changed)
//   const release = await holdPrefetch()
//     pauses every prefetch and resolves once none of their reads is in flight: a
//     write that will make those reads fail (adding a concept makes the student
//     stale, and its reads answer 409) holds them until the views know; release()
//     lets them go on.
//
// Reads run one after another, each only when no view read is in flight and no view
// update is being waited for (perf.js) and the browser reports idle time, so they do
// not compete with what the person is doing; failures are ignored (the view reads
// again, in the foreground, when it needs the thing), but a 409 ends the list: the
// student changed under the page (someone made it stale), so the rest would be
// refused too.

import { readsInFlight } from './perf.js';

const idle = typeof requestIdleCallback === 'function'
  ? (fn) => requestIdleCallback(fn, { timeout: 3000 })
  : (fn) => setTimeout(fn, 50);

let holds = 0;
let running = null; // the prefetch read in flight, settled quietly

export async function holdPrefetch() {
  holds++;
  let held = true;
  const release = () => { if (held) { held = false; holds--; } };
  while (running) await running;
  return release;
}

export function prefetchInIdle(reads, stillWanted = () => true) {
  let i = 0;
  let refused = false;
  const step = () => {
    if (refused || i >= reads.length || !stillWanted()) return;
    if (holds || running || readsInFlight()) { setTimeout(() => idle(step), 100); return; }
    const read = reads[i++];
    let p;
    try { p = Promise.resolve(read()); } catch { p = Promise.resolve(); }
    const settled = p.then(() => {}, (e) => { if (e?.status === 409) refused = true; });
    running = settled;
    settled.then(() => { if (running === settled) running = null; idle(step); });
  };
  idle(step);
}
