// Opening the metadata database from a URL: `sqlite:<path>` (default, embedded) or
// `postgres://user@host:port/db` (scale-out). Optional `?schema=` on postgres selects a schema.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import type { Database } from './schema.ts';
import { MetadataStore } from './store.ts';
import { getAutoMigrateDefault } from './migrate-policy.ts';
import { ensureSchema } from './schema-check.ts';

// The drivers are loaded on first use: a command on SQLite does not pay for loading pg (~45 ms).
async function loadPg(): Promise<typeof import('pg').default> {
  const pg = (await import('pg')).default;
  // int8 columns (sizes, times) come back as numbers; all values we store fit in 2^53.
  pg.types.setTypeParser(20, (v: string) => Number(v));
  return pg;
}

export interface OpenOptions {
  /** sqlite `synchronous` pragma: FULL (default) survives power loss, NORMAL survives process crashes */
  sqliteSynchronous?: 'FULL' | 'NORMAL';
  poolSize?: number;
  /**
   * Apply pending migrations on open (default: getAutoMigrateDefault(), true unless the CLI set it
   * from WHARF_AUTO_MIGRATE). Off: pending migrations throw SchemaMismatchError. A schema newer
   * than this build always throws.
   */
  autoMigrate?: boolean;
  /** open without checking or migrating the schema (`wharf migrate` does both itself) */
  skipSchemaCheck?: boolean;
}

async function prepare(store: MetadataStore, opts: OpenOptions): Promise<MetadataStore> {
  if (opts.skipSchemaCheck) return store;
  try {
    await ensureSchema(store, { autoMigrate: opts.autoMigrate ?? getAutoMigrateDefault() });
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
  return store;
}

export async function openMetadata(url: string, opts: OpenOptions = {}): Promise<MetadataStore> {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\//, '');
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const { default: BetterSqlite3 } = await import('better-sqlite3');
    const sqlite = new BetterSqlite3(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma(`synchronous = ${opts.sqliteSynchronous ?? 'FULL'}`);
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 10000');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    return prepare(new MetadataStore({ dialect: 'sqlite', db }), opts);
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const u = new URL(url);
    const schema = u.searchParams.get('schema');
    u.searchParams.delete('schema');
    const pg = await loadPg();
    const pool = new pg.Pool({
      connectionString: u.toString(),
      max: opts.poolSize ?? 10,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
      // a request waiting for a connection while the database is unreachable fails instead of hanging
      connectionTimeoutMillis: 10_000,
    });
    // An idle pooled connection that the server drops (restart, failover, admin termination) is
    // reported here; without a listener node-postgres would crash the process. The pool replaces
    // it on the next checkout; requests in flight get their own error.
    // A connection checked out (inside a transaction, between queries) reports on the client
    // itself: the same listener, so the error reaches the caller's query instead of the process.
    let lastWarn = 0;
    const onLost = (e: Error) => {
      if (Date.now() - lastWarn > 10_000) {
        lastWarn = Date.now();
        process.stderr.write(`wharf: database connection lost (${e.message}); reconnecting on the next request\n`);
      }
    };
    pool.on('error', onLost);
    pool.on('connect', (client) => client.on('error', onLost));
    if (schema) {
      if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid postgres schema name ${schema}`);
      await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    }
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return prepare(new MetadataStore({ dialect: 'postgres', db }), opts);
  }
  throw new Error(`unsupported database URL ${url} (use sqlite:<path> or postgres://…)`);
}
