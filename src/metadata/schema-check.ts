// The database schema's version against this build's migrations: what `wharf migrate` applies and
// reports, and the check every open runs (src/metadata/open.ts). The applied migrations are
// Kysely's rows in `wharf_migrations` (in the connection's current schema on PostgreSQL).
import { Migrator, sql } from 'kysely';
import { migrationProvider } from './migrations.ts';
import { SchemaMismatchError } from './migrate-policy.ts';
import type { MetadataStore } from './store.ts';

export const MIGRATION_TABLE = 'wharf_migrations';
export const MIGRATION_LOCK_TABLE = 'wharf_migrations_lock';

export interface SchemaStatus {
  /** migrations recorded in the database, in name order */
  applied: { name: string; appliedAt: string }[];
  /** this build's migrations, in order */
  known: string[];
  /** known and not applied */
  pending: string[];
  /** applied and not known: the database was migrated by a newer Wharf */
  unknown: string[];
  /** the last applied migration (null: empty database) */
  current: string | null;
  /** this build's last migration */
  latest: string;
}

async function currentSchema(store: MetadataStore): Promise<string | undefined> {
  if (store.dialect !== 'postgres') return undefined;
  return (await sql<{ s: string }>`select current_schema() as s`.execute(store.db)).rows[0]?.s ?? undefined;
}

/** Kysely's migrator with Wharf's table names, pinned to the connection's schema on PostgreSQL (see MetadataStore.migrate). */
export async function createMigrator(store: MetadataStore): Promise<Migrator> {
  return new Migrator({
    db: store.db,
    provider: migrationProvider(store.dialect),
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
    migrationTableSchema: await currentSchema(store),
  });
}

export async function knownMigrations(store: MetadataStore): Promise<string[]> {
  return Object.keys(await migrationProvider(store.dialect).getMigrations()).sort();
}

async function appliedMigrations(store: MetadataStore): Promise<{ name: string; appliedAt: string }[]> {
  const schema = await currentSchema(store);
  const exists =
    store.dialect === 'postgres'
      ? (await sql<{ n: number }>`select count(*)::int as n from information_schema.tables where table_schema = ${schema} and table_name = ${MIGRATION_TABLE}`.execute(store.db)).rows[0]!.n > 0
      : (await sql<{ n: number }>`select count(*) as n from sqlite_master where type = 'table' and name = ${MIGRATION_TABLE}`.execute(store.db)).rows[0]!.n > 0;
  if (!exists) return [];
  const table = schema ? sql.id(schema, MIGRATION_TABLE) : sql.id(MIGRATION_TABLE);
  const rows = (await sql<{ name: string; timestamp: string }>`select name, timestamp from ${table}`.execute(store.db)).rows;
  return rows.map((r) => ({ name: r.name, appliedAt: String(r.timestamp) })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function schemaStatus(store: MetadataStore): Promise<SchemaStatus> {
  const known = await knownMigrations(store);
  const applied = await appliedMigrations(store);
  const appliedNames = new Set(applied.map((a) => a.name));
  const knownNames = new Set(known);
  return {
    applied,
    known,
    pending: known.filter((n) => !appliedNames.has(n)),
    unknown: applied.filter((a) => !knownNames.has(a.name)).map((a) => a.name),
    current: applied.at(-1)?.name ?? null,
    latest: known.at(-1)!,
  };
}

export function newerMessage(s: SchemaStatus): string {
  return `database schema ${s.unknown.at(-1)} is newer than this Wharf (knows up to ${s.latest}): upgrade Wharf`;
}

export function pendingMessage(s: SchemaStatus): string {
  return `database schema is at ${s.current ?? 'none (empty database)'}, this Wharf needs ${s.latest}: run \`wharf migrate\``;
}

/**
 * Refuse a schema newer than this build; apply pending migrations when autoMigrate, else refuse
 * them. Throws SchemaMismatchError.
 */
export async function ensureSchema(store: MetadataStore, opts: { autoMigrate: boolean }): Promise<void> {
  const s = await schemaStatus(store);
  if (s.unknown.length) throw new SchemaMismatchError('newer', newerMessage(s));
  if (!s.pending.length) return;
  if (!opts.autoMigrate) throw new SchemaMismatchError('pending', pendingMessage(s));
  await store.migrate();
}

export interface MigrationStep {
  name: string;
  ms: number;
}

/**
 * Apply pending migrations one at a time (each in its own transaction where the database allows),
 * calling onStep after each. Refuses a newer schema. Returns the steps applied.
 */
export async function migrateToLatest(store: MetadataStore, onStep: (step: MigrationStep) => void = () => {}): Promise<MigrationStep[]> {
  const s = await schemaStatus(store);
  if (s.unknown.length) throw new SchemaMismatchError('newer', newerMessage(s));
  const migrator = await createMigrator(store);
  const steps: MigrationStep[] = [];
  for (;;) {
    const t0 = performance.now();
    const { error, results } = await migrator.migrateUp();
    const failed = results?.find((r) => r.status === 'Error');
    if (error || failed) throw new Error(`database migration failed${failed ? ` at ${failed.migrationName}` : ''}: ${(error as Error)?.message ?? error}`);
    const done = results?.filter((r) => r.status === 'Success') ?? [];
    if (!done.length) break;
    const ms = performance.now() - t0;
    for (const r of done) {
      const step = { name: r.migrationName, ms: ms / done.length };
      steps.push(step);
      onStep(step);
    }
  }
  return steps;
}
