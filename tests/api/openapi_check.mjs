// openapi_check.mjs — holds every success answer the API tests receive through
// harness.call to docs/openapi.yaml: the request's method and path pick the
// documented operation (path templates, the most literal one first), the status and
// the media type must be documented for it, and a JSON body must match the
// documented schema (ajv). A mismatch throws, naming the route and ajv's errors, so
// the test that made the call fails. Error answers (4xx, 5xx) are not checked here.
//
// It also records the operations answered with success: at exit each test process
// prints how many it covered and, when INFICOND_OPENAPI_COVERAGE names a folder,
// writes them there for openapi_coverage.mjs to sum up over all suites.
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { load } from 'js-yaml';
import { mkdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const SPEC_FILE = new URL('../../docs/openapi.yaml', import.meta.url);
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const COMPONENTS_ID = 'openapi-components';

// OpenAPI 3.0 schema -> JSON Schema (draft-07, what ajv reads): `nullable: true`
// becomes anyOf [schema, null] (so it also works beside $ref/allOf and enum), the
// annotations only OpenAPI knows go, and component references point at the
// components schema ajv holds.
export function toJsonSchema(s) {
  if (Array.isArray(s)) return s.map(toJsonSchema);
  if (!s || typeof s !== 'object') return s;
  const out = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'nullable' || k === 'example' || k === 'xml' || k === 'externalDocs' || k.startsWith('x-')) continue;
    if (k === '$ref') out.$ref = v.replace(/^#\/components\/schemas\//, `${COMPONENTS_ID}#/definitions/`);
    else if (k === 'properties') out.properties = Object.fromEntries(Object.entries(v).map(([p, ps]) => [p, toJsonSchema(ps)]));
    else out[k] = toJsonSchema(v);
  }
  // OpenAPI 3.0 writes an exclusive bound as a flag beside minimum/maximum.
  for (const [flag, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']]) {
    if (typeof out[flag] !== 'boolean') continue;
    if (out[flag]) out[flag] = out[bound], delete out[bound];
    else delete out[flag];
  }
  return s.nullable === true ? { anyOf: [out, { type: 'null' }] } : out;
}

// A path template's segments as a regular expression: {name} matches one segment.
function templateRegExp(template) {
  const parts = template.split('/').map((seg) =>
    /^\{[^}]+\}$/.test(seg) ? '[^/]+' : seg.replace(/[.*+?^$()|[\]\\{}]/g, '\\$&'));
  return new RegExp(`^${parts.join('/')}$`);
}

// The spec read once: the operations (most literal templates first) and ajv.
export function loadSpec(file = SPEC_FILE) {
  const spec = load(readFileSync(file, 'utf8'));
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  addFormats(ajv);
  ajv.addFormat('binary', true);
  ajv.addSchema({ $id: COMPONENTS_ID, definitions: toJsonSchema(spec.components?.schemas ?? {}) });
  const operations = [];
  for (const [template, item] of Object.entries(spec.paths ?? {})) {
    for (const m of METHODS) {
      if (!item[m]) continue;
      operations.push({
        key: `${m.toUpperCase()} ${template}`, method: m.toUpperCase(), template, re: templateRegExp(template),
        params: (template.match(/\{/g) || []).length, responses: item[m].responses ?? {},
      });
    }
  }
  operations.sort((a, b) => a.params - b.params);
  return { spec, ajv, operations, validators: new Map() };
}

export function findOperation(loaded, method, path) {
  return loaded.operations.find((o) => o.method === method && o.re.test(path)) ?? null;
}

// The reasons `res` ({status, headers, text, json}) breaks the documented answer of
// operation `op` (an empty list when it keeps it).
export function responseProblems(loaded, op, res) {
  let doc = op.responses[String(res.status)];
  if (doc?.$ref) doc = loaded.spec.components?.responses?.[doc.$ref.replace('#/components/responses/', '')];
  if (!doc) return [`status ${res.status} is not documented`];
  const type = (res.headers.get('content-type') || '').split(';')[0].trim().toLowerCase();
  const content = doc.content ?? null;
  if (!res.text) return content ? [`the answer is empty, but ${Object.keys(content).join(', ')} is documented`] : [];
  if (!content) return [`the answer has a ${type || 'typeless'} body, but none is documented`];
  const media = content[type];
  if (!media) return [`the answer is ${type || 'typeless'}, documented: ${Object.keys(content).join(', ')}`];
  if (type !== 'application/json') return [];
  if (!media.schema) return ['no schema is documented for the JSON body'];
  const vkey = `${op.key} ${res.status}`;
  let validate = loaded.validators.get(vkey);
  if (!validate) {
    validate = loaded.ajv.compile(toJsonSchema(media.schema));
    loaded.validators.set(vkey, validate);
  }
  if (res.json === null && res.text !== 'null') return ['the body is not JSON'];
  if (validate(res.json)) return [];
  return validate.errors.map((e) => `body${e.instancePath} ${e.message}${e.params && Object.keys(e.params).length
    ? ` ${JSON.stringify(e.params)}` : ''}`);
}

// What a success answer of an /api/ route breaks in the spec `l`: {op, error}, op the
// operation it matched (null for none), error the Error to throw (null when it keeps
// the documented answer). Other answers are not checked: {op: null, error: null}.
// HEAD is GET without the body (the server answers it for every GET route): only its
// status is checked, and it covers nothing.
export function answerCheck(l, method, url, res) {
  if (res.status < 200 || res.status > 299) return { op: null, error: null };
  const path = new URL(url).pathname;
  const head = method === 'HEAD';
  const op = findOperation(l, head ? 'GET' : method, path);
  if (!op) {
    return { op, error: path.startsWith('/api/')
      ? new Error(`docs/openapi.yaml: ${method} ${path} answered ${res.status} but no operation matches it`) : null };
  }
  if (head) {
    return { op: null, error: op.responses[String(res.status)] ? null
      : new Error(`docs/openapi.yaml: HEAD ${path} (${op.key}) answered ${res.status}, which GET does not document`) };
  }
  const problems = responseProblems(l, op, res);
  return { op, error: problems.length ? new Error(`docs/openapi.yaml: ${method} ${path} (${op.key}) answered `
    + `${res.status}, which breaks its documented answer:\n  ${problems.slice(0, 20).join('\n  ')}\n`
    + `body: ${res.text.slice(0, 600)}`) : null };
}

// Read at import, before any server starts: the first check inside a timed test
// would otherwise pay for it.
const loaded = loadSpec();
const covered = new Set();

// Throws when a success answer of an /api/ route is not what docs/openapi.yaml says.
export function checkAnswer(method, url, res) {
  const { op, error } = answerCheck(loaded, method, url, res);
  if (op) covered.add(op.key);
  if (error) throw error;
}

process.on('exit', () => {
  if (!covered.size) return;
  const all = loaded.operations.length;
  writeSync(1, `openapi: ${covered.size} of ${all} documented operations answered with success in this file\n`);
  const dir = process.env.INFICOND_OPENAPI_COVERAGE;
  if (dir) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify([...covered]));
  }
});
