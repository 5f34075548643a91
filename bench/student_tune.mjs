// bench/student_tune.mjs — one tune action end to end through the API (bounds,
// retrain of one class, measures on every split, new version stored) on a synthetic
// student: N images (60% train, 20% test, 20% shifted), d concepts, C classes, seeded
// straight into the database and blob store like tests/api/students.test.mjs.
// Needs INFICOND_TEST_DATABASE_URL. Prints one JSON object on its last line.
//   node bench/student_tune.mjs [N=50000] [d=584] [C=20] [reps=20]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, call, waitJob, databaseUrl } from '../tests/api/harness.mjs';

const [N, D, C, REPS] = [50000, 584, 20, 20].map((v, i) => Number(process.argv[2 + i] ?? v));
const sql = (q) => execFileSync('psql', [databaseUrl(), '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', q], { encoding: 'utf8' }).trim();
let s = 12345;
const rand = () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 4294967296; };

const server = await startServer({ env: { OPENBLAS_NUM_THREADS: '1' } });
try {
  const put = (buf) => {
    const sha = createHash('sha256').update(buf).digest('hex');
    mkdirSync(join(server.dataDir, 'blobs', sha.slice(0, 2)), { recursive: true });
    writeFileSync(join(server.dataDir, 'blobs', sha.slice(0, 2), sha.slice(2)), buf);
    return sha;
  };
  const tag = `bench${process.pid}`;
  const classes = Array.from({ length: C }, (_, k) => `c${k}`);
  const words = Array.from({ length: D }, (_, j) => `w${j}`);
  const ds = sql(`INSERT INTO datasets (name, classes) VALUES ('${tag}', ARRAY[${classes.map((c) => `'${c}'`)}]) RETURNING id`);
  sql(`INSERT INTO images (dataset_id, split, label, sha256, width, height, bytes)
       SELECT ${ds}, CASE WHEN g % 5 < 3 THEN 'train' WHEN g % 5 = 3 THEN 'test' ELSE 'shifted' END, g % ${C},
              encode(sha256(('${tag}' || g)::bytea), 'hex'), 8, 8, 0 FROM generate_series(0, ${N - 1}) g`);
  const rows = sql(`SELECT id, label FROM images WHERE dataset_id = ${ds} ORDER BY id`).split('\n').map((l) => l.split('|'));
  const x = new Float32Array(N * D), p = new Float32Array(N * C), ids = new BigInt64Array(N);
  rows.forEach(([id, label], i) => {
    ids[i] = BigInt(id);
    const k = Number(label);
    for (let j = 0; j < D; j++) x[i * D + j] = 0.2 * rand();
    for (let t = 0; t < 6; t++) x[i * D + ((k * 29 + t) % D)] += 0.6;
    const z = new Float64Array(C);
    z[k] = 2 + rand();
    for (let kk = 0; kk < C; kk++) z[kk] += rand();
    let m = -Infinity, sum = 0;
    for (const v of z) m = Math.max(m, v);
    for (let kk = 0; kk < C; kk++) sum += (z[kk] = Math.exp(z[kk] - m));
    for (let kk = 0; kk < C; kk++) p[i * C + kk] = z[kk] / sum;
  });
  const xs = put(Buffer.from(x.buffer)), ps = put(Buffer.from(p.buffer)), is = put(Buffer.from(ids.buffer));
  const model = sql(`INSERT INTO models (name, kind, encoder, manifest, sha256, dir, summary) VALUES ('${tag}', 'concept', 'dense', '{}', '${'ab'.repeat(32)}', 'x', '{}') RETURNING id`);
  const corpus = sql(`INSERT INTO corpora (name) VALUES ('${tag}') RETURNING id`);
  const ext = sql(`INSERT INTO extractions (dataset_id, concept_model_id, corpus_id, corpus_version, state, encoder, n_images, d, embedding_dim, words, presence_sha256, image_ids_sha256)
                   VALUES (${ds}, ${model}, ${corpus}, 1, 'ready', 'dense', ${N}, ${D}, 4, ARRAY[${words.map((w) => `'${w}'`)}], '${xs}', '${is}') RETURNING id`);
  const out = sql(`INSERT INTO teacher_outputs (dataset_id, source, name, classes, n, probs_sha256, image_ids_sha256) VALUES (${ds}, 'file', 'bench', ${C}, ${N}, '${ps}', '${is}') RETURNING id`);
  const t0 = Date.now();
  const r = await call(server, 'POST', '/api/v1/students', { body: { extraction_id: Number(ext), teacher_output_id: Number(out) } });
  const job = await waitJob(server, r.json.id, undefined, 1800000);
  if (job.state !== 'succeeded') throw new Error(JSON.stringify(job));
  const distillMs = Date.now() - t0;
  const sid = job.result.student_id;
  const times = [];
  let head = 1;
  for (let i = 0; i < REPS; i++) {
    const k = i % C, j = (k * 29) % D;
    const action = i % 2 ? { action: 'downtune', factor: 2 } : { action: 'release' };
    const t = process.hrtime.bigint();
    const res = await call(server, 'POST', `/api/v1/students/${sid}/versions`, { body: { parent: head, actions: [{ ...action, concept: words[j], class: classes[k] }] } });
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (res.status !== 201) throw new Error(res.text);
    head = res.json.number;
  }
  times.sort((a, b) => a - b);
  const q = (f) => times[Math.min(times.length - 1, Math.ceil(f * times.length) - 1)];
  console.log(JSON.stringify({ bench: 'student_tune', n: N, d: D, c: C, reps: REPS, distill_ms: distillMs,
    tune_ms_p50: +q(0.5).toFixed(1), tune_ms_p95: +q(0.95).toFixed(1), tune_ms_max: +times[times.length - 1].toFixed(1), target_p95_ms: 300 }));
} finally {
  await server.stop();
}
