// synthetic.mjs — a distillation problem seeded straight into the database and a
// server's blob store: a dataset of image rows (no image files), a ready extraction
// over a made-up presence matrix and a predictions-file teacher output. A student
// only reads those rows and blobs, while a real extraction needs a concept model run.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from './pgtools.mjs';

// A small seeded generator in [0, 1): the same problem on every run.
export function rng(seed) {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 4294967296; };
}

// Stores buf in the blob store under dataDir as the server would; returns its sha256.
export function putBlob(dataDir, buf) {
  const sha = createHash('sha256').update(buf).digest('hex');
  const dir = join(dataDir, 'blobs', sha.slice(0, 2));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, sha.slice(2)), buf);
  return sha;
}

// Points extraction `ext` at a new presence matrix x, as a recompute would: the
// students made from the old one become stale.
export function replacePresence(dataDir, ext, x) {
  const sha = putBlob(dataDir, Buffer.from(x.buffer));
  sql(`UPDATE extractions SET presence_sha256 = '${sha}' WHERE id = ${ext}`);
}

// n images named `tag` + g for g in 0..n-1, label g % classes.length, split by g % 5:
// 0-2 train, 3 test, 4 shifted (test when shifted is false). image(label, split, xi)
// fills xi, the image's row of presence over `words`, and returns the teacher's logits
// (softmaxed into its probabilities). Returns the ids made, the matrices (x, p) and, per image
// in id order, its id, label and split.
export function seedProblem({ dataDir, tag, classes, words, n, shifted = false, modelSha, image }) {
  const d = words.length, c = classes.length;
  const quoted = (a) => `ARRAY[${a.map((w) => `'${w}'`).join(',')}]`;
  const ds = sql(`INSERT INTO datasets (name, classes) VALUES ('${tag}', ${quoted(classes)}) RETURNING id`);
  sql(`INSERT INTO images (dataset_id, split, label, sha256, width, height, bytes)
       SELECT ${ds}, CASE WHEN g % 5 < 3 THEN 'train' WHEN g % 5 = 3 THEN 'test' ELSE '${shifted ? 'shifted' : 'test'}' END, g % ${c},
              encode(sha256(('${tag}' || g)::bytea), 'hex'), 8, 8, 0 FROM generate_series(0, ${n - 1}) g`);
  const rows = sql(`SELECT id, label, split FROM images WHERE dataset_id = ${ds} ORDER BY id`).split('\n')
    .map((l) => l.split('|')).map(([id, label, split]) => ({ id: Number(id), label: Number(label), split }));
  const x = new Float32Array(n * d), p = new Float32Array(n * c), ids = new BigInt64Array(n);
  rows.forEach(({ id, label, split }, i) => {
    ids[i] = BigInt(id);
    const z = image(label, split, x.subarray(i * d, (i + 1) * d));
    const m = Math.max(...z), e = z.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
    for (let k = 0; k < c; k++) p[i * c + k] = e[k] / s;
  });
  const xs = putBlob(dataDir, Buffer.from(x.buffer)), ps = putBlob(dataDir, Buffer.from(p.buffer));
  const is = putBlob(dataDir, Buffer.from(ids.buffer));
  const model = sql(`INSERT INTO models (name, kind, encoder, manifest, sha256, dir, summary)
                     VALUES ('${tag}-cm', 'concept', 'dense', '{}', '${modelSha}', 'x', '{}') RETURNING id`);
  const corpus = sql(`INSERT INTO corpora (name) VALUES ('${tag}') RETURNING id`);
  const ext = sql(`INSERT INTO extractions (dataset_id, concept_model_id, corpus_id, corpus_version, state, encoder,
                     n_images, d, embedding_dim, words, presence_sha256, image_ids_sha256)
                   VALUES (${ds}, ${model}, ${corpus}, 1, 'ready', 'dense', ${n}, ${d}, 4, ${quoted(words)}, '${xs}', '${is}')
                   RETURNING id`);
  const out = sql(`INSERT INTO teacher_outputs (dataset_id, source, name, classes, n, probs_sha256, image_ids_sha256)
                   VALUES (${ds}, 'file', 'synthetic', ${c}, ${n}, '${ps}', '${is}') RETURNING id`);
  return { ds: Number(ds), ext: Number(ext), out: Number(out), presence: xs, x, p, ids, rows };
}
