// The `wharf` command line.
import cluster from 'node:cluster';
import { Command } from 'commander';
import { ConfigError, CONFIG_FIELDS, loadConfig } from '../config/config.ts';
import { SCHEMA_NEWER_EXIT, SCHEMA_PENDING_EXIT, isSchemaMismatch, setAutoMigrateDefault } from '../metadata/migrate-policy.ts';

declare const __WHARF_BUNDLE__: boolean | undefined; // defined by scripts/build.js in dist/

const program = new Command();
program.name('wharf').description('Wharf container image registry').version('0.1.0');

// Every command that opens the database follows WHARF_AUTO_MIGRATE (autoMigrate): by default
// embedded SQLite migrates on open, PostgreSQL refuses a pending schema until `wharf migrate` ran
// (replicas must not race to migrate). A configuration error is left to the command to report.
program.hook('preAction', (_program, action) => {
  try {
    setAutoMigrateDefault(loadConfig(process.env, action.optsWithGlobals<{ config?: string }>().config).autoMigrate);
  } catch {
    /* reported by the command */
  }
});

/** A command refused to run on a schema it doesn't match: one clear line, no stack. */
function schemaMismatchExit(e: unknown): void {
  if (!isSchemaMismatch(e)) return;
  console.error(`wharf: ${e.message}`);
  process.exit(e.kind === 'newer' ? SCHEMA_NEWER_EXIT : SCHEMA_PENDING_EXIT);
}

program
  .command('serve')
  .description('serve the registry (OCI distribution API under /v2)')
  .option('-c, --config <file>', 'YAML configuration file (also WHARF_CONFIG)')
  .action(async (opts: { config?: string }) => {
    let cfg;
    try {
      cfg = loadConfig(process.env, opts.config);
    } catch (e) {
      if (e instanceof ConfigError) {
        console.error(`wharf: ${e.message}`);
        process.exit(2);
      }
      throw e;
    }
    if (cfg.workers > 1 && cluster.isPrimary) {
      try {
        await runPrimary(cfg);
      } catch (e) {
        schemaMismatchExit(e);
        throw e;
      }
      return;
    }
    const { createWharf } = await import('../main.ts');
    let wharf;
    try {
      // refuses (SchemaMismatchError) a schema newer than this build, or pending migrations when not auto-migrating
      wharf = await createWharf(cfg, undefined, { cleanTmp: !cluster.isWorker, bootstrap: !cluster.isWorker });
    } catch (e) {
      schemaMismatchExit(e);
      throw e;
    }
    const { host, port } = await wharf.listen();
    if (cluster.isWorker) {
      wharf.logger.debug('worker listening', { pid: process.pid });
    } else {
      const { zeroCopyAvailable } = await import('../storage/sendfile.ts');
      wharf.logger.info('wharf listening', { addr: `${host}:${port}`, dataDir: cfg.dataDir, database: cfg.databaseUrl.replace(/\/\/[^@/]*@/, '//***@'), zeroCopy: zeroCopyAvailable, bundle: typeof __WHARF_BUNDLE__ !== 'undefined' });
    }
    let stopping = false;
    const stop = async (sig: string) => {
      if (stopping) return;
      stopping = true;
      wharf.logger.info('shutting down', { signal: sig });
      await wharf.close();
      process.exit(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  });

/**
 * Several HTTP worker processes on one port (node:cluster). The primary runs the migrations once,
 * then forks; a worker that dies is replaced. SQLite in WAL mode is shared safely between them.
 */
async function runPrimary(cfg: ReturnType<typeof loadConfig>) {
  const { openMetadata } = await import('../metadata/open.ts');
  const { createLogger } = await import('../logger.ts');
  const logger = createLogger(cfg.logLevel);
  const store = await openMetadata(cfg.databaseUrl, { sqliteSynchronous: cfg.sqliteSynchronous });
  const { IdentityStore } = await import('../identity/store.ts');
  const { bootstrapIdentity } = await import('../identity/bootstrap.ts');
  await bootstrapIdentity(new IdentityStore(store), cfg.adminPassword, logger);
  await store.close();
  const { cleanTmp } = await import('../main.ts');
  await cleanTmp(cfg);
  let stopping = false;
  let ready = 0;
  const fork = () => cluster.fork();
  cluster.on('listening', () => {
    ready++;
    if (ready === cfg.workers) logger.info('wharf listening', { addr: cfg.addr, workers: cfg.workers, dataDir: cfg.dataDir, database: cfg.databaseUrl.replace(/\/\/[^@/]*@/, '//***@') });
  });
  cluster.on('exit', (w, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    logger.warn('worker exited; starting another', { pid: w.process.pid, code, signal });
    fork();
  });
  const { CLUSTER_AUTH_MESSAGE } = await import('../main.ts');
  cluster.on('message', (from, msg: { type?: string }) => {
    if (msg?.type !== CLUSTER_AUTH_MESSAGE) return;
    for (const w of Object.values(cluster.workers ?? {})) if (w && w !== from) w.send(msg);
  });
  for (let i = 0; i < cfg.workers; i++) fork();
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal: sig });
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 15_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

program
  .command('config')
  .description('print the configuration keys (env and YAML) with their current values')
  .action(() => {
    let cfg;
    try {
      cfg = loadConfig();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      console.error(`wharf: ${e.message}`);
      process.exit(2);
    }
    for (const f of CONFIG_FIELDS) console.log(`${f.env.padEnd(32)} ${f.yaml.padEnd(22)} ${(f.secret ? (cfg[f.key] ? '(set)' : '(unset)') : String(cfg[f.key])).padEnd(30)} ${f.description}`);
  });

// Each command group's module is loaded only when its command runs (or for help): the CLI starts
// without importing the database, identity and scanner code a command does not use.
const GROUPS: Record<string, () => Promise<void>> = {
  admin: async () => (await import('./admin.ts')).registerAdminCommands(program),
  gc: async () => (await import('./gc.ts')).registerGcCommand(program),
  vulndb: async () => (await import('./vulndb.ts')).registerVulnDbCommands(program),
  vercmp: async () => (await import('./vercmp.ts')).registerVercmpCommand(program),
  scan: async () => (await import('./scan.ts')).registerScanCommand(program),
  migrate: async () => (await import('./migrate.ts')).registerMigrateCommand(program),
};
const GROUP_OF: Record<string, string> = { user: 'admin', project: 'admin', robot: 'admin', gc: 'gc', 'vuln-db': 'vulndb', vercmp: 'vercmp', scan: 'scan', migrate: 'migrate' };
const first = process.argv[2];
if (first === 'serve' || first === 'config') {
  /* defined above */
} else if (first !== undefined && GROUP_OF[first]) {
  await GROUPS[GROUP_OF[first]]!();
} else {
  for (const g of Object.values(GROUPS)) await g();
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  schemaMismatchExit(e);
  throw e;
}
