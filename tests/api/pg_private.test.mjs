// pg_private.test.mjs — the private PostgreSQL cluster of `make run` / `make test`
// (scripts/pg.sh) admits the service's system user only: another local user cannot
// reach its socket, and even the service's user cannot log in as any database user
// but the mapped one. Needs root (to act as another user) and the private cluster
// that tests/run.sh starts (INFICOND_TEST_PRIVATE_PG=1); skipped otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { databaseUrl } from './harness.mjs';

const run = promisify(execFile);
const why = process.getuid?.() !== 0 ? 'needs root to act as another local user'
  : process.env.INFICOND_TEST_PRIVATE_PG !== '1' ? 'the tests use an external database (TEST_DATABASE_URL), not the private cluster'
  : null;

// The socket folder and port from the test database's URL (…?host=DIR&port=N).
function socket() {
  const m = /^postgresql:\/\/[^@/]*@\/([^?]+)\?(.*)$/.exec(databaseUrl());
  assert.ok(m, `not a private cluster's URL: ${databaseUrl()}`);
  const q = new URLSearchParams(m[2]);
  return { host: q.get('host'), port: q.get('port') || '5432', db: m[1] };
}

async function psqlAs(systemUser, dbUser) {
  const { host, port, db } = socket();
  const url = `postgresql://${dbUser}@/${db}?host=${encodeURIComponent(host)}&port=${port}`;
  const args = systemUser ? ['-u', systemUser, '--', 'psql', url, '-Atc', 'SELECT current_user'] : [url, '-Atc', 'SELECT current_user'];
  try {
    const { stdout } = await run(systemUser ? 'runuser' : 'psql', args, { timeout: 20000 });
    return { ok: true, out: stdout.trim() };
  } catch (e) {
    return { ok: false, out: `${e.stdout || ''}${e.stderr || ''}` };
  }
}

test('the service user gets in as postgres (the control)', { skip: why ?? false }, async () => {
  const r = await psqlAs(null, 'postgres');
  assert.ok(r.ok, r.out);
  assert.equal(r.out, 'postgres');
});

test('another local user cannot connect to the private cluster', { skip: why ?? false }, async () => {
  const r = await psqlAs('nobody', 'postgres');
  assert.equal(r.ok, false, `nobody got in: ${r.out}`);
  assert.match(r.out, /Permission denied|authentication failed/);
});

test('the service user cannot log in as another database user', { skip: why ?? false }, async () => {
  const r = await psqlAs(null, 'someone_else');
  assert.equal(r.ok, false, r.out);
  assert.match(r.out, /Peer authentication failed/);
});
