// openapi_check.test.mjs — docs/openapi.yaml as a contract (no server needed): every
// success answer of every operation has a media type, JSON ones a schema that
// compiles with its $refs resolved; and the check harness.call runs on every answer
// (openapi_check.mjs) tells a conforming answer from a wrong body, an undocumented
// status, media type or route.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerCheck, findOperation, loadSpec, responseProblems, toJsonSchema } from './openapi_check.mjs';

const spec = loadSpec();
const json = (status, body) => ({
  status, headers: new Headers({ 'content-type': 'application/json' }), json: body, text: JSON.stringify(body),
});

test('every success answer documents its media type; JSON ones a schema that compiles', () => {
  const refs = (node, out = []) => {
    if (node && typeof node === 'object') {
      if (typeof node.$ref === 'string') out.push(node.$ref);
      for (const v of Object.values(node)) refs(v, out);
    }
    return out;
  };
  for (const ref of refs(spec.spec)) {
    const [, kind, name] = ref.match(/^#\/components\/(\w+)\/(.+)$/) ?? [];
    assert.ok(spec.spec.components?.[kind]?.[name], `${ref} does not resolve`);
  }
  let schemas = 0;
  for (const op of spec.operations) {
    const success = Object.keys(op.responses).filter((s) => /^2\d\d$/.test(s));
    assert.ok(success.length, `${op.key} documents no success answer`);
    for (const status of success) {
      let doc = op.responses[status];
      if (doc.$ref) doc = spec.spec.components.responses[doc.$ref.split('/').pop()];
      if (status === '204') {
        assert.equal(doc.content, undefined, `${op.key} 204 has a body`);
        continue;
      }
      assert.ok(doc.content && Object.keys(doc.content).length, `${op.key} ${status} documents no content`);
      for (const [type, media] of Object.entries(doc.content)) {
        assert.ok(media.schema, `${op.key} ${status} ${type} has no schema`);
        if (type === 'application/json') {
          assert.notDeepEqual(media.schema, { type: 'object' }, `${op.key} ${status}: an empty object schema`);
          spec.ajv.compile(toJsonSchema(media.schema));
          schemas++;
        } else {
          assert.equal(media.schema.format, 'binary', `${op.key} ${status} ${type} is not binary`);
        }
      }
    }
  }
  assert.ok(schemas >= 50, `only ${schemas} JSON success schemas`);
});

test('operations are found by method and path template, the literal one first', () => {
  assert.equal(findOperation(spec, 'POST', '/api/v1/models/upload').key, 'POST /api/v1/models/upload');
  assert.equal(findOperation(spec, 'GET', '/api/v1/models/7').key, 'GET /api/v1/models/{id}');
  assert.equal(findOperation(spec, 'GET', '/api/v1/students/3/versions/2/export.pt').key,
    'GET /api/v1/students/{id}/versions/{v}/export.pt');
  assert.equal(findOperation(spec, 'GET', '/api/v1/students/3/versions/2/exportXpt'), null);
  assert.equal(findOperation(spec, 'PUT', '/api/v1/models/7'), null);
});

test('a conforming answer passes; a wrong body, status or media type is named', () => {
  const op = findOperation(spec, 'GET', '/api/v1/datasets/1/images');
  const image = { id: 1, split: 'train', label: null, class: null, width: 8, height: 8, sha256: 'a'.repeat(64) };
  const page = { items: [image], total: 1, limit: 100, offset: 0, added_later: true };
  assert.deepEqual(responseProblems(spec, op, json(200, page)), []);
  const bad = responseProblems(spec, op, json(200, { ...page, items: [{ ...image, width: '8', sha256: 'xyz' }] }));
  assert.ok(bad.some((p) => p.startsWith('body/items/0/width must be integer')), bad.join('\n'));
  assert.ok(bad.some((p) => p.startsWith('body/items/0/sha256 must match pattern')), bad.join('\n'));
  const { total, ...noTotal } = page;
  assert.ok(total);
  assert.match(responseProblems(spec, op, json(200, noTotal)).join('\n'), /must have required property 'total'/);
  assert.deepEqual(responseProblems(spec, op, json(201, page)), ['status 201 is not documented']);
  const jpeg = { status: 200, headers: new Headers({ 'content-type': 'image/jpeg' }), json: null, text: '\xff\xd8' };
  assert.match(responseProblems(spec, op, jpeg)[0], /the answer is image\/jpeg, documented: application\/json/);
  const thumb = findOperation(spec, 'GET', '/api/v1/images/1/thumb');
  assert.deepEqual(responseProblems(spec, thumb, jpeg), []);
  const del = findOperation(spec, 'DELETE', '/api/v1/datasets/1');
  assert.deepEqual(responseProblems(spec, del, { status: 204, headers: new Headers(), json: null, text: '' }), []);
  assert.match(responseProblems(spec, del, json(204, {}))[0], /none is documented/);
});

test('the harness\'s check names the route and every problem; error answers and pages outside /api/ pass', () => {
  const check = (method, url, res) => answerCheck(spec, method, url, res);
  const wrong = check('GET', 'http://x/api/v1/me?x=1', json(200, { id: 'one', username: 'a' }));
  assert.equal(wrong.op.key, 'GET /api/v1/me');
  assert.match(wrong.error.message, /^docs\/openapi\.yaml: GET \/api\/v1\/me \(GET \/api\/v1\/me\) answered 200/);
  assert.match(wrong.error.message, /body\/id must be integer/);
  assert.match(wrong.error.message, /must have required property 'role'/);
  assert.match(check('GET', 'http://x/api/v1/nowhere', json(200, {})).error.message, /no operation matches it/);
  assert.equal(check('GET', 'http://x/api/v1/me', json(200, { id: 1, username: 'a', role: 'viewer' })).error, null);
  assert.deepEqual(check('GET', 'http://x/api/v1/me', json(401, { nonsense: true })), { op: null, error: null });
  const head = { status: 200, headers: new Headers({ 'content-type': 'application/json' }), json: null, text: '' };
  assert.deepEqual(check('HEAD', 'http://x/api/v1/health', head), { op: null, error: null });
  assert.match(check('HEAD', 'http://x/api/v1/health', { ...head, status: 201 }).error.message, /GET does not document/);
  assert.match(check('HEAD', 'http://x/api/v1/nowhere', head).error.message, /no operation matches it/);
  const page = { status: 200, headers: new Headers({ 'content-type': 'text/html' }), json: null, text: '<html>' };
  assert.deepEqual(check('GET', 'http://x/index.html', page), { op: null, error: null });
});
