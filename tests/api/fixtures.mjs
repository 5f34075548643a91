// fixtures.mjs — what the API tests hand the server from the fixtures: concept model
// folders (the tiny dense model with a `words` tokenizer, the OpenAI-style CLIP with
// clip-bpe), tars of the fixture JPEGs (or of members named exactly as given), a
// dataset of the fixture JPEGs uploaded through the API, and PNGs made on the spot.
//
// The CLIP fixture and OpenAI's vocab are not in the repository: they sit in
// ../shared, beside the clone (CI has it). A test that needs them takes
// `{ skip: needShared(CLIP, VOCAB) }`: without them it is reported as skipped with the
// missing path, which tests/run.sh counts (and under CI=true, fails on).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import { call, waitJob } from './harness.mjs';

export const SHARED = resolve('../shared');
export const CLIP = join(SHARED, 'fixtures/clip_tiny_openai_style.pt');
export const VOCAB = join(SHARED, 'clip/bpe_simple_vocab_16e6.txt.gz');

// false when every path given exists; else a skip reason naming the missing ones.
export function needShared(...paths) {
  const missing = paths.filter((p) => !existsSync(p));
  if (!missing.length) return false;
  return `needs ${missing.join(' and ')} (the shared fixtures beside the clone, absent here)`;
}
// The skip reason of the tests that use the OpenAI-style CLIP fixture (clipFolder).
export const NO_CLIP = needShared(CLIP, VOCAB);
// Debian's Fashion-MNIST (package dataset-fashion-mnist): the tests that import its
// test split skip without it, with this reason.
export const FMNIST = '/usr/share/datasets/fashion-mnist';
export const FMNIST_TEST = { images: join(FMNIST, 't10k-images-idx3-ubyte.gz'), labels: join(FMNIST, 't10k-labels-idx1-ubyte.gz') };
export const NO_FMNIST = [FMNIST_TEST.images, FMNIST_TEST.labels].every(existsSync) ? false
  : `needs ${FMNIST_TEST.images} and its labels (apt-get install dataset-fashion-mnist; scripts/deps.sh does)`;
export const DENSE = resolve('tests/fixtures/models/tiny_dense.pt');
export const IMAGES = resolve('tests/fixtures/images');

// The dense fixture as a model folder: label-map segments, words from words.txt.
export function denseFolder(dir) {
  mkdirSync(dir, { recursive: true });
  copyFileSync(DENSE, join(dir, 'model.pt'));
  writeFileSync(join(dir, 'words.txt'), 'cat\ndog\nred\nblue\ngreen\nstripes\n');
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({
    format: 'inficond-model/1', kind: 'concept', encoder: 'dense', file: 'model.pt',
    input: { channels: 1, height: 8, width: 8, mean: [0.5], std: [0.5] },
    methods: { image: 'encode_dense', text: 'encode_words' },
    embedding_dim: 16,
    tokenizer: { type: 'words', words: 'words.txt', context_length: 5 },
  }));
  return dir;
}

// The OpenAI-style CLIP fixture as a model folder; manifestPatch replaces top-level
// manifest fields (for the tests of bad manifests). Only in tests that skip on NO_CLIP.
export function clipFolder(dir, manifestPatch = {}) {
  if (NO_CLIP) throw new Error(`clipFolder in a test that does not skip without it: ${NO_CLIP}`);
  mkdirSync(dir, { recursive: true });
  copyFileSync(CLIP, join(dir, 'model.pt'));
  copyFileSync(VOCAB, join(dir, 'bpe_simple_vocab_16e6.txt.gz'));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({
    format: 'inficond-model/1', kind: 'concept', encoder: 'global', file: 'model.pt',
    input: { channels: 3, height: 64, width: 64, mean: [0.4815, 0.4578, 0.4082], std: [0.2686, 0.2613, 0.2758] },
    methods: { image: 'encode_image', text: 'encode_text' },
    embedding_dim: 64,
    tokenizer: { type: 'clip-bpe', vocab: 'bpe_simple_vocab_16e6.txt.gz', context_length: 77 },
    ...manifestPatch,
  }));
  return dir;
}

// A tar at `tar` of the fixture JPEGs laid out under `dir` as layout's {folder: [files]}
// (default: all of them in one class folder, colour/); returns its bytes.
export function fixtureTar(dir, tar, layout = { colour: readdirSync(IMAGES) }) {
  for (const [folder, files] of Object.entries(layout)) {
    mkdirSync(join(dir, folder), { recursive: true });
    for (const f of files) copyFileSync(join(IMAGES, f), join(dir, folder, f));
  }
  execFileSync('tar', ['-cf', tar, '-C', dir, ...Object.keys(layout)]);
  return readFileSync(tar);
}

// A tar built with Python's tarfile so that member names are exactly what we say,
// "../evil.jpg" included (scratch files under `work`). members: [[name, Buffer]].
export function makeTar(work, path, members) {
  const dir = mkdtempSync(join(work, 'tar-'));
  const list = members.map(([name, data], i) => {
    const f = join(dir, `m${i}`);
    writeFileSync(f, data);
    return [name, f];
  });
  writeFileSync(join(dir, 'list.json'), JSON.stringify(list));
  execFileSync('python3', ['-c', `
import json, sys, tarfile
with tarfile.open(sys.argv[1], 'w') as t:
    for name, f in json.load(open(sys.argv[2])):
        t.add(f, arcname=name)
`, path, join(dir, 'list.json')]);
  return path;
}

// Dataset `name` of the fixture JPEGs (colour/, uploaded as a tar built under `work`
// at tarDir and tar); returns {id, images: [{id, sha256, …}]} once the upload succeeded.
export async function fixtureDataset(server, name, tarDir, tar) {
  const ds = await call(server, 'POST', '/api/v1/datasets', { body: { name } });
  assert.equal(ds.status, 201, ds.text);
  const up = await call(server, 'POST', `/api/v1/datasets/${ds.json.id}/upload`, {
    raw: fixtureTar(tarDir, tar), headers: { 'Content-Type': 'application/x-tar' },
  });
  assert.equal(up.status, 202, up.text);
  assert.equal((await waitJob(server, up.json.id)).state, 'succeeded');
  const page = await call(server, 'GET', `/api/v1/datasets/${ds.json.id}/images?limit=100`);
  return { id: ds.json.id, images: page.json.items };
}

// A PNG of w x h, 8-bit, colour type 2 (RGB, 3 samples) or 6 (RGBA, 4) or 0 (grey, 1),
// every pixel `px` (an array of samples). `header` patches the IHDR's width and height
// (its CRC kept right), to lie about the size.
export function makePng(w, h, colourType, px, header = { w, h }) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const sum = Buffer.alloc(4); sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(header.w, 0); ihdr.writeUInt32BE(header.h, 4);
  ihdr[8] = 8; ihdr[9] = colourType;
  const row = Buffer.from([0, ...Array.from({ length: w }, () => px).flat()]); // filter 0, then pixels
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
