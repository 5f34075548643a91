// pipeline_script.test.mjs — docs/pipeline.sh, the REST walk-through for users, run
// as a user would against a real server, with files only: the fixture JPEGs as a
// dataset tar (<split>/<class>/), a teacher from `inficond teacher-init` and the tiny
// OpenAI-style CLIP fixture as tars of their folders, and a word list. It must end
// with a tuned student exported as JSON (the documented StudentExport) and as
// TorchScript; a failing call must stop it with the API's message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startServer, call, uniq, ADMIN_TOKEN } from './harness.mjs';
import { CLIP, VOCAB, clipFolder, fixtureTar } from './fixtures.mjs';
import { loadSpec, toJsonSchema } from './openapi_check.mjs';

const execFile = promisify(execFileCb);
const BIN = process.env.INFICOND_BIN || 'build/asan/inficond';
const SCRIPT = 'docs/pipeline.sh';
const missing = [CLIP, VOCAB].filter((f) => !existsSync(f));
const skip = missing.length ? `needs the CLIP fixture: ${missing.join(', ')} is absent` : false;
const binEnv = { ...process.env, ASAN_OPTIONS: 'detect_leaks=0', OMP_NUM_THREADS: '1' };

let server, work, files;

// The script's inputs, as a user would have them: four files.
async function inputs() {
  const dataset = join(work, 'images.tar');
  fixtureTar(join(work, 'tree'), dataset,
    { 'train/plain': ['red.jpg', 'green.jpg'], 'train/striped': ['stripes.jpg'], 'test/plain': ['blue.jpg'] });
  const teacherDir = join(work, 'teacher');
  await execFile(BIN, ['teacher-init', teacherDir, '--classes', 'plain,striped', '--size', '64'], { env: binEnv });
  const clipDir = clipFolder(join(work, 'clip'));
  const teacher = join(work, 'teacher.tar'), concept = join(work, 'clip.tar'), words = join(work, 'words.txt');
  await execFile('tar', ['-cf', teacher, '-C', teacherDir, '.']);
  await execFile('tar', ['-cf', concept, '-C', clipDir, '.']);
  writeFileSync(words, 'red\ngreen\nblue\nstripes\nsky\n');
  return { dataset, teacher, concept, words };
}

// Runs the script; resolves {code, stdout, stderr} whether it succeeds or not.
async function runScript(args, env = {}) {
  try {
    const r = await execFile('bash', [SCRIPT, ...args], { env: { ...process.env, ...env }, timeout: 600_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    if (e.code === undefined || typeof e.code !== 'number') throw e;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'inficond-pipeline-'));
  server = await startServer({ env: { INFICOND_WORKERS: '2', OMP_NUM_THREADS: '1' } });
  files = await inputs();
});
after(async () => {
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('docs/pipeline.sh drives the pipeline from a dataset tar to the exported tuned student', { skip }, async (t) => {
  const out = join(work, 'out');
  const r = await runScript([server.url, ADMIN_TOKEN, files.dataset, files.teacher, files.concept, files.words, out],
    { NAME: uniq('script') });
  assert.equal(r.code, 0, `pipeline.sh failed:\n${r.stderr}`);
  for (const line of r.stderr.trim().split('\n')) t.diagnostic(line);
  const made = JSON.parse(r.stdout);
  assert.equal(made.version, 2, 'one tune after the distillation');
  // What the script reports is what the server holds.
  const project = await call(server, 'GET', `/api/v1/projects/${made.project}`);
  assert.equal(project.json.ready, true, project.text);
  assert.equal(project.json.parts.extraction.id, made.extraction);
  const versions = await call(server, 'GET', `/api/v1/students/${made.student}/versions`);
  assert.equal(versions.json.head, 2);
  assert.equal(versions.json.items[0].kind, 'tune');
  const corpus = await call(server, 'GET', `/api/v1/corpora/${made.corpus}`);
  assert.deepEqual(corpus.json.words, ['red', 'green', 'blue', 'stripes', 'sky']);
  // The JSON export is the documented StudentExport of version 2, with one weight removed.
  const exported = JSON.parse(readFileSync(made.export.json, 'utf8'));
  const loaded = loadSpec();
  const validate = loaded.ajv.compile(toJsonSchema({ $ref: '#/components/schemas/StudentExport' }));
  assert.ok(validate(exported), JSON.stringify(validate.errors));
  assert.equal(exported.number, 2);
  assert.equal(exported.student_id, made.student);
  const removed = (await call(server, 'GET', `/api/v1/students/${made.student}/provenance?limit=1`)).json.items[0].actions[0];
  assert.equal(removed.action, 'remove');
  const k = exported.classes.indexOf(removed.class), j = exported.concepts.indexOf(removed.concept);
  assert.equal(exported.weights[k][j], 0, `the removed weight of '${removed.concept}' for '${removed.class}'`);
  // TorchScript archives are zip files.
  const pt = readFileSync(made.export.torchscript);
  assert.equal(pt.subarray(0, 2).toString('latin1'), 'PK');
  assert.match(r.stderr, /pipeline: student \d+: fidelity/);
});

test('docs/pipeline.sh stops at the first failing call with the API\'s message', { skip }, async () => {
  const bad = await runScript([server.url, 'not-a-valid-token-but-long-enough', files.dataset, files.teacher,
    files.concept, files.words, join(work, 'bad')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /POST \/api\/v1\/datasets: HTTP 401: \S/);
  assert.equal(bad.stdout, '');
  // A teacher whose classes do not match the dataset's: the teacher-outputs call is refused.
  const teacherDir = join(work, 'teacher3');
  await execFile(BIN, ['teacher-init', teacherDir, '--classes', 'a,b,c', '--size', '64'], { env: binEnv });
  const teacher3 = join(work, 'teacher3.tar');
  await execFile('tar', ['-cf', teacher3, '-C', teacherDir, '.']);
  const wrong = await runScript([server.url, ADMIN_TOKEN, files.dataset, teacher3, files.concept, files.words,
    join(work, 'wrong')], { NAME: uniq('wrong') });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /teacher-outputs: HTTP 422: field 'model_id': the teacher '[^']+' has 3 classes/);
  const usage = await runScript([server.url]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /Usage: docs\/pipeline\.sh/);
});
