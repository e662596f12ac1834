// `wharf gc [--dry-run] [--delete-untagged] [--time-window H] [--workers N]`: garbage collection
// against the local database and storage directly (the same configuration as `serve`). Safe while
// a server uses the same data dir: every deletion is the same transaction a server's GC runs (see
// src/gc/gc.ts). The log (what was deleted) goes to stdout, a progress line to stderr; Ctrl-C stops
// after the current batch.
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/config.ts';
import { openMetadata } from '../metadata/open.ts';
import { openBlobDriver } from '../storage/open.ts';
import { runGc, type GcProgress } from '../gc/gc.ts';
import { validateGcParams, toGcParams } from '../gc/job.ts';

function die(msg: string, code = 2): never {
  console.error(`wharf: ${msg}`);
  process.exit(code);
}

export function registerGcCommand(program: Command): void {
  program
    .command('gc')
    .description('garbage-collect unreferenced blobs (and, with --delete-untagged, untagged manifests) in the local data dir; safe while a server runs')
    .option('-c, --config <file>', 'YAML configuration file (also WHARF_CONFIG)')
    .option('--dry-run', 'report what would be deleted (counts, bytes, list), delete nothing')
    .option('--delete-untagged', 'also delete untagged manifests no other manifest references')
    .option('--time-window <hours>', 'keep content created within this many hours (default 2; 0 = no protection)')
    .option('--workers <n>', 'sweep concurrency, 1-5 (default 1)')
    .option('--list-limit <n>', 'items listed one by one per kind (default 10000)')
    .action(async (o: { config?: string; dryRun?: boolean; deleteUntagged?: boolean; timeWindow?: string; workers?: string; listLimit?: string }) => {
      let cfg;
      try {
        cfg = loadConfig(process.env, o.config);
      } catch (e) {
        if (e instanceof ConfigError) die(e.message);
        throw e;
      }
      const num = (v: string | undefined, name: string) => {
        if (v === undefined) return undefined;
        if (!/^\d+(\.\d+)?$/.test(v)) die(`${name} must be a number`);
        return Number(v);
      };
      let params;
      try {
        params = toGcParams(validateGcParams({ dry_run: !!o.dryRun, delete_untagged: !!o.deleteUntagged, time_window: num(o.timeWindow, '--time-window'), workers: num(o.workers, '--workers') }));
      } catch (e) {
        die((e as Error).message);
      }
      const listLimit = num(o.listLimit, '--list-limit');
      const store = await openMetadata(cfg.databaseUrl, { sqliteSynchronous: cfg.sqliteSynchronous });
      const driver = await openBlobDriver(cfg);
      const ac = new AbortController();
      const onSignal = () => {
        if (ac.signal.aborted) process.exit(130);
        process.stderr.write('\nstopping after the current batch (Ctrl-C again to quit at once)\n');
        ac.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const tty = process.stderr.isTTY;
      let last = 0;
      let shown = '';
      const show = (p: GcProgress, force = false) => {
        const now = Date.now();
        if (!force && now - last < (tty ? 200 : 5000)) return;
        last = now;
        shown = `gc ${p.phase}: ${p.manifestsDeleted} manifests, ${p.linksDeleted} links, ${p.blobsDeleted}/${p.blobsExamined} blobs, ${p.orphanFiles} orphans, ${p.bytesFreed} bytes ${params.dryRun ? 'to free' : 'freed'}`;
        process.stderr.write(tty ? `\r\x1b[2K${shown}` : `${shown}\n`);
      };
      try {
        const r = await runGc(store, driver, params, {
          signal: ac.signal,
          listLimit,
          log: (m, level) => {
            if (tty && shown) process.stderr.write('\r\x1b[2K');
            (level === 'info' ? process.stdout : process.stderr).write(`${level === 'info' ? '' : `${level}: `}${m}\n`);
          },
          progress: (p) => show(p, p.phase === 'done'),
        });
        if (tty) process.stderr.write('\n');
        process.exitCode = r.stopped ? 130 : 0;
      } finally {
        await store.close();
      }
    });
}
