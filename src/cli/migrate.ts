// `wharf migrate [--status] [-c config]`: apply the database's pending schema migrations, one at a
// time with a progress line each, or (--status) list them. With PostgreSQL, replicas don't migrate
// on start (WHARF_AUTO_MIGRATE defaults to false there): run this once per upgrade, before the new
// replicas start. Exit codes: 0 done / up to date, 3 (--status) migrations pending, 4 the database
// schema is newer than this Wharf, 2 configuration error, 1 migration failed.
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/config.ts';
import { openMetadata } from '../metadata/open.ts';
import { SCHEMA_NEWER_EXIT, SCHEMA_PENDING_EXIT, isSchemaMismatch } from '../metadata/migrate-policy.ts';
import { migrateToLatest, newerMessage, schemaStatus } from '../metadata/schema-check.ts';
import type { MetadataStore } from '../metadata/store.ts';

function maskDb(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database schema migrations (needed before starting replicas on PostgreSQL); --status lists them')
    .option('-c, --config <file>', 'YAML configuration file (also WHARF_CONFIG)')
    .option('--status', 'list applied and pending migrations; exit 0 when up to date, 3 when some are pending, 4 when the database is newer than this Wharf')
    .action(async (o: { config?: string; status?: boolean }) => {
      let cfg;
      try {
        cfg = loadConfig(process.env, o.config);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        console.error(`wharf: ${e.message}`);
        process.exit(2);
      }
      const store = await openMetadata(cfg.databaseUrl, { sqliteSynchronous: cfg.sqliteSynchronous, skipSchemaCheck: true, poolSize: 2 });
      let code: number;
      try {
        code = o.status ? await status(store, cfg.databaseUrl) : await migrate(store, cfg.databaseUrl);
      } catch (e) {
        console.error(`wharf: ${(e as Error).message}`);
        code = isSchemaMismatch(e) ? (e.kind === 'newer' ? SCHEMA_NEWER_EXIT : SCHEMA_PENDING_EXIT) : 1;
      } finally {
        await store.close();
      }
      if (code) process.exit(code);
    });
}

async function status(store: MetadataStore, url: string): Promise<number> {
  const s = await schemaStatus(store);
  console.log(`database ${maskDb(url)}`);
  const appliedAt = new Map(s.applied.map((a) => [a.name, a.appliedAt]));
  for (const name of s.known) console.log(appliedAt.has(name) ? `applied  ${name}  ${appliedAt.get(name)}` : `pending  ${name}`);
  for (const name of s.unknown) console.log(`unknown  ${name}  ${appliedAt.get(name)}  (applied by a newer Wharf)`);
  if (s.unknown.length) {
    console.log(newerMessage(s));
    return SCHEMA_NEWER_EXIT;
  }
  if (s.pending.length) {
    console.log(`${s.pending.length} pending: schema is at ${s.current ?? 'none (empty database)'}, this Wharf needs ${s.latest}; run \`wharf migrate\``);
    return SCHEMA_PENDING_EXIT;
  }
  console.log(`up to date at ${s.latest}`);
  return 0;
}

async function migrate(store: MetadataStore, url: string): Promise<number> {
  const s = await schemaStatus(store);
  if (s.unknown.length) {
    console.error(`wharf: ${newerMessage(s)}`);
    return SCHEMA_NEWER_EXIT;
  }
  if (!s.pending.length) {
    console.log(`database schema is up to date at ${s.latest}`);
    return 0;
  }
  console.log(`migrating ${maskDb(url)} from ${s.current ?? 'an empty database'} to ${s.latest} (${s.pending.length} pending)`);
  const t0 = performance.now();
  // migrateToLatest re-reads the state (another `wharf migrate` may have run meanwhile) and takes Kysely's migration lock
  const steps = await migrateToLatest(store, (st) => console.log(`  applied ${st.name} (${st.ms.toFixed(0)} ms)`));
  console.log(`done: ${steps.length} migration${steps.length === 1 ? '' : 's'} in ${(performance.now() - t0).toFixed(0)} ms; schema is at ${s.latest}`);
  return 0;
}
