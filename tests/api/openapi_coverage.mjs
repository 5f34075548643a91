// openapi_coverage.mjs — the one-line summary tests/run.sh prints after the API
// suites: which operations of docs/openapi.yaml no suite answered with success (so
// no answer of theirs was checked against their schema). Each test process wrote the
// operations it covered to a file in the folder given (openapi_check.mjs, from
// INFICOND_OPENAPI_COVERAGE). Reports only; never fails.
//
// Usage: node tests/api/openapi_coverage.mjs DIR
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';

const dir = process.argv[2];
const spec = load(readFileSync(new URL('../../docs/openapi.yaml', import.meta.url), 'utf8'));
const all = Object.entries(spec.paths).flatMap(([path, item]) =>
  ['get', 'put', 'post', 'delete', 'patch'].filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path}`));
const covered = new Set();
let files = [];
try { files = readdirSync(dir).filter((f) => f.endsWith('.json')); } catch { /* no suite wrote one */ }
for (const f of files) for (const key of JSON.parse(readFileSync(join(dir, f), 'utf8'))) covered.add(key);
const never = all.filter((k) => !covered.has(k));
console.log(`openapi: ${all.length - never.length} of ${all.length} operations answered with success and checked`
  + ` against their schema in the API suites${never.length ? `; never: ${never.join(', ')}` : ''}`);
