// pipeline_script.test.mjs — docs/pipeline.sh, the REST walk-through for users, run
// as a user would against a real server, with files only: the fixture JPEGs as a
// dataset tar (<split>/<class>/), a teacher from `inficond teacher-init` and the tiny
// OpenAI-style CLIP fixture as tars of their folders, and a word list. It must end
// with a tuned student exported as JSON (the documented StudentExport) and as
// TorchScript; a failing call must stop it with the API's message. Then the routes
// no other suite reads are read about what it made, so that harness.call checks
// their answers against docs/openapi.yaml too.
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

let server, work, files, made;

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
  made = JSON.parse(r.stdout);
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

test('what the script made reads back through the routes no other suite reads, as documented', { skip }, async () => {
  assert.ok(made, 'the script ran');
  const ok = async (method, path, status = 200, opts = {}) => {
    const r = await call(server, method, path, opts);
    assert.equal(r.status, status, `${method} ${path}: ${r.text.slice(0, 300)}`);
    return r;
  };
  const tokens = (await ok('GET', '/api/v1/tokens')).json.items;
  assert.ok(tokens.every((t) => !('token' in t)), 'no secrets in the list');
  const images = (await ok('GET', `/api/v1/datasets/${made.dataset}/images`)).json.items;
  assert.equal(images.length, 4);
  const jpeg = await ok('GET', `/api/v1/images/${images[0].id}`);
  assert.equal(jpeg.headers.get('content-type'), 'image/jpeg');
  assert.equal(jpeg.headers.get('etag'), `"${images[0].sha256}"`);
  assert.equal((await ok('GET', `/api/v1/images/${images[0].id}/thumb?size=32`)).headers.get('content-type'), 'image/jpeg');
  const extractions = (await ok('GET', `/api/v1/extractions?dataset_id=${made.dataset}`)).json.items;
  assert.deepEqual(extractions.map((x) => [x.id, x.state, x.d]), [[made.extraction, 'ready', 5]]);
  const pt = await ok('GET', `/api/v1/students/${made.student}/versions/1/export.pt`);
  assert.equal(pt.headers.get('content-type'), 'application/octet-stream');
  assert.match(pt.headers.get('content-disposition'), new RegExp(`student-${made.student}-v1\\.pt`));
  // A second project over the same parts is ready at once; deleting it leaves the parts.
  const parts = (await ok('GET', `/api/v1/projects/${made.project}`)).json.parts;
  const again = await ok('POST', '/api/v1/projects', 201, { body: {
    name: uniq('again'), dataset_id: parts.dataset.id, teacher_model_id: parts.teacher_model.id,
    concept_model_id: parts.concept_model.id, corpus_id: parts.corpus.id } });
  assert.equal(again.json.ready, true);
  assert.deepEqual(again.json.parts, parts);
  const listed = (await ok('GET', '/api/v1/projects?limit=500')).json.items.map((p) => p.id);
  assert.ok(listed.includes(made.project) && listed.includes(again.json.id));
  await ok('DELETE', `/api/v1/projects/${again.json.id}`, 204);
  await ok('GET', `/api/v1/projects/${again.json.id}`, 404);
  // Deleting the teacher output takes the students made from it along (last: it ends the world).
  await ok('DELETE', `/api/v1/teacher-outputs/${made.teacher_output}`, 204);
  await ok('GET', `/api/v1/students/${made.student}`, 404);
  assert.equal((await ok('GET', `/api/v1/projects/${made.project}`)).json.parts.teacher_output.ready, false);
});
