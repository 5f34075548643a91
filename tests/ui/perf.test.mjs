// perf.test.mjs — static/perf.js in plain node: an action's measure is recorded only
// once no view read is in flight and its until() holds, after a frame; background
// reads (long-polls) do not hold it back. The frame is stubbed with a timer.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { begin } from '../../static/perf.js';
import { createApi } from '../../static/api.js';

globalThis.requestAnimationFrame ??= (fn) => setTimeout(fn, 1);

const measures = (name) => performance.getEntriesByName(name, 'measure');
const settle = () => sleep(30);

// A fetch whose answers the test releases by hand: pending[i].reply().
function manualFetch() {
  const pending = [];
  const fetchFn = (url) => new Promise((resolve) => {
    pending.push({ url, reply: () => resolve(new Response('{}', { status: 200 })) });
  });
  return { pending, fetchFn };
}

beforeEach(() => { performance.clearMarks(); performance.clearMeasures(); });

test('perf: a measure waits for every counted read, then spans start to end', async () => {
  const { pending, fetchFn } = manualFetch();
  const api = createApi({ fetchFn });
  const a = api.get('/api/v1/one');
  begin('t-reads');
  const b = api.get('/api/v1/two');
  await settle();
  assert.equal(measures('t-reads').length, 0, 'two reads are in flight');
  pending[0].reply();
  await a;
  await settle();
  assert.equal(measures('t-reads').length, 0, 'one read is still in flight');
  pending[1].reply();
  await b;
  await settle();
  const [m] = measures('t-reads');
  assert.ok(m, 'recorded once the last read ended');
  const start = performance.getEntriesByName('t-reads:start', 'mark')[0];
  const end = performance.getEntriesByName('t-reads:end', 'mark')[0];
  assert.equal(m.startTime, start.startTime);
  assert.ok(Math.abs(m.duration - (end.startTime - start.startTime)) < 1e-6);
});

test('perf: a read started by an answer (a chain) keeps the action open', async () => {
  const { pending, fetchFn } = manualFetch();
  const api = createApi({ fetchFn });
  begin('t-chain');
  const chain = api.get('/api/v1/first').then(() => api.get('/api/v1/second'));
  await settle();
  pending[0].reply();
  await settle();
  assert.equal(pending.length, 2, 'the second read started');
  assert.equal(measures('t-chain').length, 0);
  pending[1].reply();
  await chain;
  await settle();
  assert.equal(measures('t-chain').length, 1);
});

test('perf: background reads do not count; until() must hold', async () => {
  const { pending, fetchFn } = manualFetch();
  const api = createApi({ fetchFn });
  let done = false;
  api.get('/api/v1/jobs/1', { query: { wait: 25 }, background: true }); // never answered
  begin('t-until', { until: () => done });
  await settle();
  assert.equal(measures('t-until').length, 0, 'until() is false');
  done = true;
  const r = api.get('/api/v1/x'); // any counted read ending re-checks
  pending[1].reply();
  await r;
  await settle();
  assert.equal(measures('t-until').length, 1);
  assert.equal(pending.length, 2);
});

test('perf: a newer start of the same action replaces the older one; fromNavigation starts at 0', async () => {
  begin('t-again');
  begin('t-again');
  begin('t-nav', { fromNavigation: true });
  await settle();
  assert.equal(measures('t-again').length, 1);
  assert.equal(measures('t-nav')[0].startTime, 0);
});
