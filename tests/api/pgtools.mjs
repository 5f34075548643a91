// pgtools.mjs — PostgreSQL client tools for tests: psql/pg_dump/pg_restore from the
// installed server version, and sibling databases of the test database on the same
// cluster (a suite that needs a database of its own, e.g. one whose first start must
// see no earlier demo project).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { databaseUrl } from './harness.mjs';

// The newest installed server version's tool, as scripts/pg.sh picks it.
export function pgBin(name) {
  const root = '/usr/lib/postgresql';
  const vers = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => b - a) : [];
  for (const v of vers) if (existsSync(join(root, v, 'bin', name))) return join(root, v, 'bin', name);
  return name;
}
// maxBuffer: a query over the whole test database (every suite's rows, e.g. gc.test's
// list of every blob hash) can print far more than execFileSync's 1 MiB default.
export const pgRun = (bin, args) => execFileSync(pgBin(bin), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20 });
export const psql = (url, q) => pgRun('psql', [url, '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', q]).trim();
// One statement on the test database itself; its rows as `a|b` lines.
export const sql = (q) => psql(databaseUrl(), q);

// The same server, another database (URI form: postgresql://user@host/NAME?params;
// an empty host, as for a Unix socket, is not a WHATWG URL, so by pattern).
export function withDatabase(url, name) {
  const m = /^(postgres(?:ql)?:\/\/[^/?]*\/)([^?]*)(\?.*)?$/.exec(url);
  if (!m) throw new Error(`INFICOND_TEST_DATABASE_URL must be a postgresql:// URI with a database name: ${url}`);
  return { url: m[1] + encodeURIComponent(name) + (m[3] || ''), name, current: decodeURIComponent(m[2]) };
}
export const siblingUrl = (url, suffix) => withDatabase(url, withDatabase(url, '').current + suffix);
export const adminUrl = (url) => withDatabase(url, 'postgres').url;

// A new, empty database beside the test database: {url, name, drop()}.
export function freshDatabase(suffix) {
  const db = siblingUrl(databaseUrl(), suffix);
  const admin = adminUrl(databaseUrl());
  psql(admin, `DROP DATABASE IF EXISTS "${db.name}" WITH (FORCE)`);
  psql(admin, `CREATE DATABASE "${db.name}"`);
  return { ...db, drop: () => psql(admin, `DROP DATABASE IF EXISTS "${db.name}" WITH (FORCE)`) };
}
