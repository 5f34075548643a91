// migrate.test.mjs — `inficond migrate` applies files in order, once; a failing
// file is rolled back whole and named with its line, leaving the database as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { databaseUrl, run } from './harness.mjs';

const bin = process.env.INFICOND_BIN || 'build/asan/inficond';

// {status, stdout, stderr} of `inficond migrate` (awaited: the ASan binary takes seconds).
async function migrate(dir) {
  const env = { ...process.env, DATABASE_URL: databaseUrl(), INFICOND_MIGRATIONS_DIR: dir, ASAN_OPTIONS: 'detect_leaks=0' };
  try {
    return { status: 0, ...(await run(bin, ['migrate'], { env })) };
  } catch (e) {
    if (typeof e.code !== 'number') throw e; // not started, or killed
    return { status: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function psql(sql) {
  // psql comes with the PostgreSQL package the test run already starts.
  const r = spawnSync('psql', [databaseUrl(), '-Atqc', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

test('migrate twice changes nothing; a bad file is rolled back and named with its line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'inficond-migrations-'));
  for (const f of readdirSync('migrations')) copyFileSync(join('migrations', f), join(dir, f));
  const first = await migrate(dir);
  assert.equal(first.status, 0, first.stderr);
  const applied = psql('SELECT count(*) FROM schema_migrations');
  const again = await migrate(dir);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /migrations applied: 0/);
  assert.equal(psql('SELECT count(*) FROM schema_migrations'), applied);

  writeFileSync(join(dir, '999_broken.sql'),
    '-- a migration that fails halfway\nCREATE TABLE migrate_probe (id int);\n\nINSERT INTO migrate_probe VALUES (1);\nSELECT * FROM no_such_table;\n');
  const bad = await migrate(dir);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /999_broken\.sql/);
  assert.match(bad.stderr, /line 5/);
  assert.match(bad.stderr, /no_such_table/);
  // Nothing of the failed file is left: not its table, not its record.
  assert.equal(psql("SELECT to_regclass('public.migrate_probe') IS NULL"), 't');
  assert.equal(psql("SELECT count(*) FROM schema_migrations WHERE version = '999_broken.sql'"), '0');
  assert.equal(psql('SELECT count(*) FROM schema_migrations'), applied);
});
