// bench.test.mjs — the benchmarks' own checks, on small inputs: `inficond bench teacher`
// runs its Python peer on the same frozen, optimised module and both checksums agree
// (needs python3-torch, which `make bench` installs); a peer that disagrees makes it fail
// with both values and the tolerance; bench/summary.sh gathers every bench's last JSON
// line into one file and says which failed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = process.env.INFICOND_BIN || 'build/asan/inficond';
const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch, PIL, numpy']).status === 0;
let work, images;

before(() => {
  work = mkdtempSync(join(tmpdir(), 'inficond-bench-'));
  images = join(work, 'scenes');
});
after(() => rmSync(work, { recursive: true, force: true }));

// The bench on 48 demo scenes in batches of 16; {status, stdout, stderr, last}.
function teacherBench(...extra) {
  const r = spawnSync(bin, ['bench', 'teacher', '--images', images, '--make-images', '--n', '48', '--batch', '16',
    '--warmup', '1', ...extra], { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
  const lines = r.stdout.trim().split('\n');
  let last = null;
  try { last = JSON.parse(lines.at(-1)); } catch { /* asserted by the caller */ }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, last };
}

test('bench teacher: the Python peer freezes and optimises too, and the checksums agree', { skip: !hasTorch && 'python3-torch is not installed' }, () => {
  const r = teacherBench();
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const j = r.last;
  assert.ok(j, r.stdout);
  assert.equal(j.bench, 'teacher');
  assert.equal(j.n, 48);
  assert.equal(j.optimized, true);
  assert.equal(j.python_optimized, true);
  assert.equal(j.checksums_match, true);
  assert.equal(j.checksum_tolerance, 1e-4);
  // 48 probabilities of 10 classes: about 4.8, identical up to float rounding.
  assert.ok(j.checksum_c > 1 && j.checksum_c < 48, JSON.stringify(j));
  for (const k of ['checksum_c_plain', 'checksum_python', 'checksum_python_plain'])
    assert.ok(Math.abs(j[k] - j.checksum_c) <= 1e-4 * j.checksum_c, `${k}: ${JSON.stringify(j)}`);
  assert.ok(j.checksum_rel_diff >= 0 && j.checksum_rel_diff <= 1e-4);
  assert.ok(j.c_images_per_s > 0 && j.python_images_per_s > 0 && j.python_plain_images_per_s > 0);
  console.log(`teacher checksums: C ${j.checksum_c}, Python ${j.checksum_python}, relative difference ${j.checksum_rel_diff}`);
});

test('bench teacher fails when the peer\'s checksum differs beyond the tolerance', () => {
  // A peer that does no work and reports a wrong checksum.
  const peer = join(work, 'wrong_peer.sh');
  writeFileSync(peer, 'echo \'{"images": 48, "seconds": 0.5, "images_per_s": 96, "checksum": 1.5, "optimized": true}\'\n');
  const r = teacherBench('--python', '/bin/sh', '--peer', peer);
  assert.equal(r.status, 1, r.stderr + r.stdout);
  assert.match(r.stderr, /checksums differ beyond the tolerance: C [0-9.]+ \(plain [0-9.]+\) vs Python 1\.5 \(plain 1\.5\)/);
  assert.match(r.stderr, /> 1e-04/);
  assert.equal(r.last?.checksums_match, false, r.stdout);
  assert.equal(r.last.checksum_python, 1.5);
  assert.ok(Math.abs(r.last.checksum_c - 1.5) / 1.5 > 1e-4);
});

test('bench/summary.sh: one file with every bench\'s last JSON line, failures named', () => {
  const logs = join(work, 'logs');
  mkdirSync(logs, { recursive: true });
  writeFileSync(join(logs, 'presence.log'), 'table\n{"bench":"presence","gflops":12.5}\n');
  writeFileSync(join(logs, 'teacher.log'), 'bench teacher: checksums differ\n{"bench":"teacher","checksums_match":false}\n');
  writeFileSync(join(logs, 'student.log'), 'Segmentation fault\n');
  writeFileSync(join(logs, 'steps'), 'presence\t0\t3.5\nteacher\t1\t20.0\nstudent\t0\t1.0\nui\tskipped\t0\tno chromium\n');
  const out = join(work, 'summary.json');
  const r = spawnSync('bash', ['bench/summary.sh', logs, out], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  const s = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(s.ok, false);
  assert.deepEqual(s.failed, ['teacher', 'student']);
  assert.deepEqual(s.benches.map((b) => b.name), ['presence', 'teacher', 'student', 'ui']);
  assert.deepEqual(s.benches[0], { name: 'presence', exit: 0, seconds: 3.5, result: { bench: 'presence', gflops: 12.5 } });
  assert.equal(s.benches[1].result.checksums_match, false);
  assert.equal(s.benches[2].result, null);
  assert.equal(s.benches[3].skipped, 'no chromium');
  assert.match(s.generated_at, /^\d{4}-\d\d-\d\dT/);

  // All good: ok, exit 0.
  writeFileSync(join(logs, 'steps'), 'presence\t0\t3.5\nui\tskipped\t0\tno chromium\n');
  const good = spawnSync('bash', ['bench/summary.sh', logs, out], { encoding: 'utf8' });
  assert.equal(good.status, 0, good.stderr);
  const g = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(g.ok, true);
  assert.deepEqual(g.failed, []);
});
