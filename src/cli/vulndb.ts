// `wharf vuln-db import <file|dir|url> [--name SOURCE]`, `wharf vuln-db status [--json]`,
// `wharf vuln-db update`: the scanner's vulnerability database in the local metadata database
// (the same configuration as `serve`). Progress goes to stderr, results to stdout.
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/config.ts';
import { openMetadata } from '../metadata/open.ts';
import { importPath, type ImportProgress, type ImportSummary } from '../scanner/vulndb/import.ts';
import { VulnDb } from '../scanner/vulndb/store.ts';
import { isUrl, updateAll, updateFromUrl } from '../scanner/vulndb/updater.ts';
import { rematchStoredReports } from '../scanner/notifier.ts';
import type { MetadataStore } from '../metadata/store.ts';

/** The notifier: stored scan reports matched again against the changed database. */
async function rematch(store: MetadataStore, db: VulnDb): Promise<void> {
  const r = await rematchStoredReports(store, db, { log: (m) => process.stderr.write(`  ${m}\n`) });
  if (r.reports) console.log(`scan reports re-matched: ${r.reports}, changed: ${r.changed}, new vulnerabilities: ${r.added}, fixed or withdrawn: ${r.removed}, notifications: ${r.notifications}`);
}

function die(msg: string, code = 2): never {
  console.error(`wharf: ${msg}`);
  process.exit(code);
}

async function open(configFile: string | undefined) {
  let cfg;
  try {
    cfg = loadConfig(process.env, configFile);
  } catch (e) {
    if (e instanceof ConfigError) die(e.message);
    throw e;
  }
  const store = await openMetadata(cfg.databaseUrl, { sqliteSynchronous: cfg.sqliteSynchronous });
  return { store, db: new VulnDb(store) };
}

function progressPrinter() {
  const tty = process.stderr.isTTY;
  let last = 0;
  return {
    show(p: ImportProgress) {
      const now = Date.now();
      if (now - last < (tty ? 200 : 2000)) return;
      last = now;
      const line = `importing ${p.file}: ${p.records} records, ${p.rows} rows, ${p.skipped} skipped`;
      process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
    },
    done() {
      if (tty && last) process.stderr.write('\r\x1b[2K');
    },
  };
}

function summaryLine(r: ImportSummary): string {
  if (r.unchanged) return `source ${r.source}: unchanged (304 Not Modified), ${r.rows} rows kept`;
  return `source ${r.source}: format ${r.format}, ${r.records} records, ${r.rows} rows, ${r.skipped} skipped (${r.files.length} file${r.files.length === 1 ? '' : 's'}, ${r.ms} ms)`;
}

const fmtTime = (t: number | null) => (t === null ? '-' : new Date(t).toISOString().replace(/\.\d+Z$/, 'Z'));

export function registerVulnDbCommands(program: Command): void {
  const cmd = program.command('vuln-db').description("the scanner's vulnerability database (OSV, Debian security tracker, Alpine secdb, Node security WG)");

  cmd
    .command('import <source>')
    .description('import a file, a directory of files or an http(s) URL as one source, replacing its previous content')
    .option('-c, --config <file>', 'YAML configuration file (also WHARF_CONFIG)')
    .option('--name <name>', 'the source name (default: the file, directory or URL name)')
    .action(async (target: string, o: { config?: string; name?: string }) => {
      const { store, db } = await open(o.config);
      const pp = progressPrinter();
      const ac = new AbortController();
      const onSignal = () => ac.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const r = isUrl(target) ? await updateFromUrl(db, target, { name: o.name, onProgress: pp.show, signal: ac.signal }) : await importPath(db, target, { name: o.name, onProgress: pp.show, signal: ac.signal });
        pp.done();
        for (const f of r.files) if (r.files.length > 1) process.stderr.write(`  ${f.file}: ${f.format}, ${f.records} records, ${f.rows} rows, ${f.skipped} skipped\n`);
        for (const p of r.problems.slice(0, 5)) process.stderr.write(`  skipped: ${p}\n`);
        console.log(summaryLine(r));
        if (!r.unchanged) await rematch(store, db);
      } catch (e) {
        pp.done();
        await store.close();
        die((e as Error).message, 1);
      }
      await store.close();
    });

  cmd
    .command('status')
    .description('list the sources: format, records, last update, URL, last error')
    .option('-c, --config <file>', 'YAML configuration file (also WHARF_CONFIG)')
    .option('--json', 'print JSON')
    .action(async (o: { config?: string; json?: boolean }) => {
      const { store, db } = await open(o.config);
      try {
        const sources = await db.listSources();
        if (o.json) {
          console.log(JSON.stringify(sources.map((s) => ({ ...s, importedAt: s.importedAt && new Date(s.importedAt).toISOString(), checkedAt: s.checkedAt && new Date(s.checkedAt).toISOString(), createdAt: new Date(s.createdAt).toISOString() })), null, 2));
          return;
        }
        if (sources.length === 0) {
          console.log('no vulnerability sources (add one with `wharf vuln-db import <file|dir|url>`)');
          return;
        }
        const rows = [['SOURCE', 'FORMAT', 'RECORDS', 'ROWS', 'SKIPPED', 'UPDATED', 'URL', 'LAST ERROR'], ...sources.map((s) => [s.name, s.format ?? '-', String(s.records), String(s.rows), String(s.skipped), fmtTime(s.importedAt), s.url ?? '-', s.lastError ?? '-'])];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        for (const r of rows) console.log(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
      } finally {
        await store.close();
      }
    });

  cmd
    .command('update')
    .description('refresh every URL source (conditional requests: unchanged sources are not downloaded again)')
    .option('-c, --config <file>', 'YAML configuration file (also WHARF_CONFIG)')
    .option('--force', 'download even when the server says unchanged')
    .action(async (o: { config?: string; force?: boolean }) => {
      const { store, db } = await open(o.config);
      const pp = progressPrinter();
      try {
        const r = await updateAll(db, { force: !!o.force, onProgress: pp.show, log: (m, level) => (pp.done(), process.stderr.write(`${level && level !== 'info' ? `${level}: ` : ''}${m}\n`)) });
        pp.done();
        for (const u of r.updated) console.log(summaryLine(u));
        for (const s of r.unchanged) console.log(`source ${s}: unchanged`);
        for (const f of r.failed) console.log(`source ${f.source}: failed: ${f.error}`);
        if (r.updated.length + r.unchanged.length + r.failed.length === 0) console.log('no URL sources');
        if (r.updated.length) await rematch(store, db);
        process.exitCode = r.failed.length ? 1 : 0;
      } finally {
        await store.close();
      }
    });
}
