// concurrency.test.mjs — two editors tuning the same student in a tight loop, each
// with its own token: every tune is applied (201, on the head it named) or answered
// 409 with a head newer than the one it named; afterwards the version chain has no
// gaps or duplicates, each version's parent is the one before, and the provenance log
// holds exactly one entry per applied tune, with that tune's action and author.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, call, errorCode } from './harness.mjs';
import { buildWorld, WORDS, CLASSES } from './world.mjs';

const ROUNDS = Number(process.env.INFICOND_TEST_TUNE_ROUNDS || 15);
let server, work, world;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'inficond-concurrency-'));
  server = await startServer({ env: { INFICOND_WORKERS: '1', INFICOND_HTTP_THREADS: '4', OMP_NUM_THREADS: '1' } });
  world = await buildWorld(server, work, { tag: `conc${process.pid}` });
});
after(async () => {
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function editor(name) {
  const u = await call(server, 'POST', '/api/v1/users', { body: { username: name, role: 'editor', password: 'correct horse battery' } });
  assert.equal(u.status, 201, u.text);
  const t = await call(server, 'POST', '/api/v1/tokens', { body: { name: `${name}-token`, user_id: u.json.id } });
  assert.equal(t.status, 201, t.text);
  return { id: u.json.id, token: t.json.token };
}

async function all(path, key = 'items', limit = 200) {
  const out = [];
  for (let offset = 0; ; offset += limit) {
    const r = await call(server, 'GET', `${path}?limit=${limit}&offset=${offset}`);
    assert.equal(r.status, 200, r.text);
    out.push(...r.json[key]);
    if (out.length >= r.json.total) return out;
  }
}

// One editor's loop: read the head, tune it, repeat. Each tune sets a weight of its
// own class to a value no other request uses, so the version it made can be told.
async function loop(ed, cls, who) {
  const sent = [];
  for (let i = 0; i < ROUNDS; i++) {
    const st = await call(server, 'GET', `/api/v1/students/${world.student}`, { token: ed.token });
    assert.equal(st.status, 200, st.text);
    const parent = st.json.head.number;
    const value = Number(((who + 1) * 0.5 + i * 0.01).toFixed(2));
    const concept = WORDS[i % WORDS.length];
    const actions = [{ action: 'release', concept, class: cls }, { action: 'set', concept, class: cls, value }];
    const r = await call(server, 'POST', `/api/v1/students/${world.student}/versions`,
      { token: ed.token, body: { parent, actions, note: `editor ${who} round ${i}` } });
    sent.push({ who, author: ed.id, parent, cls, concept, value, status: r.status, json: r.json, text: r.text });
  }
  return sent;
}

test('two editors tuning one head: 201 or 409, a chain with no gaps or duplicates', { timeout: 600000 }, async (t) => {
  const a = await editor(`ed_a_${process.pid}`), b = await editor(`ed_b_${process.pid}`);
  const [ra, rb] = await Promise.all([loop(a, CLASSES[0], 0), loop(b, CLASSES[2], 1)]);
  const results = [...ra, ...rb];

  const applied = [];
  let conflicts = 0;
  for (const r of results) {
    assert.ok(r.status === 201 || r.status === 409, `status ${r.status}: ${r.text}`);
    if (r.status === 201) {
      assert.equal(r.json.number, r.parent + 1, r.text);
      assert.equal(r.json.parent, r.parent);
      applied.push(r);
    } else {
      conflicts++;
      assert.equal(errorCode(r), 'conflict');
      // The head it names is the one that beat this request, never the stale parent.
      assert.equal(typeof r.json.head, 'number', r.text);
      assert.ok(r.json.head > r.parent, `409 names head ${r.json.head} for parent ${r.parent}: ${r.text}`);
    }
  }
  assert.ok(applied.length >= ROUNDS, `at least one editor's worth applied (${applied.length})`);
  assert.equal(applied.length + conflicts, 2 * ROUNDS);
  t.diagnostic(`${applied.length} tunes applied, ${conflicts} answered 409, of ${2 * ROUNDS}`);

  // The chain: 1..M, each the child of the one before, M = successes + the distilled one.
  const versions = (await all(`/api/v1/students/${world.student}/versions`, 'items', 500))
    .sort((x, y) => x.number - y.number);
  assert.equal(versions.length, applied.length + 1);
  versions.forEach((v, i) => {
    assert.equal(v.number, i + 1);
    assert.equal(v.parent, i === 0 ? null : i);
  });
  const byNumber = new Map(applied.map((r) => [r.json.number, r]));
  assert.equal(byNumber.size, applied.length, 'two 201s named the same version');
  for (const v of versions.slice(1)) {
    const r = byNumber.get(v.number);
    assert.ok(r, `version ${v.number} matches no applied request`);
    assert.equal(v.note, `editor ${r.who} round ${results.filter((x) => x.who === r.who).indexOf(r)}`);
    assert.equal(v.author, r.author);
  }

  // Provenance: one entry per version, with the action that made it and its author.
  const prov = await all(`/api/v1/students/${world.student}/provenance`);
  assert.equal(prov.length, versions.length);
  assert.deepEqual(prov.map((p) => p.version).sort((x, y) => x - y), versions.map((v) => v.number));
  for (const p of prov) {
    if (p.version === 1) {
      assert.equal(p.kind, 'distill');
      continue;
    }
    const r = byNumber.get(p.version);
    assert.equal(p.kind, 'tune');
    assert.equal(p.parent, p.version - 1);
    assert.equal(p.author, r.author);
    const set = p.actions.find((x) => x.action === 'set');
    assert.ok(set, JSON.stringify(p.actions));
    assert.equal(set.value, r.value);
    assert.equal(set.class, r.cls);
    assert.equal(set.concept, r.concept);
  }

  // Each applied value is in the version it made (weights are float32).
  for (const r of applied.slice(0, 6)) {
    const v = await call(server, 'GET', `/api/v1/students/${world.student}/versions/${r.json.number}`);
    assert.equal(v.status, 200, v.text);
    const w = v.json.weights[CLASSES.indexOf(r.cls)][WORDS.indexOf(r.concept)];
    assert.equal(w, Math.fround(r.value));
  }
});
