// `wharf scan <image>`: scan an image in Wharf's own storage (`--local project/repo:tag` or
// `wharf://project/repo:tag`), an OCI layout directory (`DIR[:ref]`), an image archive, or any
// registry by reference. Vulnerabilities are matched against the vulnerability database in the
// configured metadata database (`wharf vuln-db import`); best-practice checks always run.
// Exit codes: 0 = nothing at or above --severity, 1 = something is, 2 = the scan could not run.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/config.ts';

function die(msg: string, code = 2): never {
  console.error(`wharf scan: ${msg}`);
  process.exit(code);
}

const FORMATS = ['table', 'json', 'sarif', 'cyclonedx'] as const;
type Format = (typeof FORMATS)[number];

interface ScanCliOptions {
  config?: string;
  format: string;
  output?: string;
  severity?: string;
  minSeverity?: string;
  platform?: string;
  ref?: string;
  local?: boolean;
  username?: string;
  insecure?: boolean;
  plainHttp?: boolean;
  vulns: boolean;
  cache: boolean;
  cacheDir?: string;
  quiet?: boolean;
  secrets: boolean;
}

export function registerScanCommand(program: Command): void {
  program
    .command('scan')
    .description('scan an image for vulnerabilities and best-practice problems (table, JSON, SARIF or CycloneDX SBOM)')
    .argument('<image>', 'registry reference (host/repo:tag), OCI layout dir[:ref], image archive, or with --local / wharf:// an image in this Wharf')
    .option('-c, --config <file>', 'YAML configuration file (also WHARF_CONFIG): where the data dir and vulnerability database are')
    .option('-f, --format <format>', `output format: ${FORMATS.join(', ')}`, 'table')
    .option('-o, --output <file>', 'write the report to a file instead of stdout')
    .option('--severity <level>', 'exit with 1 when anything at or above this severity is found (Unknown, Negligible, Low, Medium, High, Critical)')
    .option('--min-severity <level>', 'report only vulnerabilities and findings at or above this severity')
    .option('--platform <os/arch[/variant]>', 'image to pick from a multi-platform index (default linux/amd64)')
    .option('--ref <name>', 'image to pick inside an OCI layout (org.opencontainers.image.ref.name)')
    .option('--local', "the reference names an image in this Wharf's storage (project/repo:tag)")
    .option('-u, --username <user>', 'registry user (also WHARF_SCAN_USERNAME); the password comes from WHARF_SCAN_PASSWORD')
    .option('--insecure', 'do not verify the registry TLS certificate')
    .option('--plain-http', 'talk to the registry over plain http')
    .option('--no-vulns', 'skip vulnerability matching (best-practice checks only)')
    .option('--no-secrets', 'skip the secret scan of file contents')
    .option('--no-cache', 'do not use or fill the per-layer index cache')
    .option('--cache-dir <dir>', 'per-layer index cache (default <dataDir>/scan-cache)')
    .option('-q, --quiet', 'no progress on stderr')
    .action(async (image: string, o: ScanCliOptions) => {
      const code = await runScan(image, o);
      process.exitCode = code;
    });
}

async function runScan(image: string, o: ScanCliOptions): Promise<number> {
  const { parseSeverity, filterReport, highestSeverity, severityRank, reportDatabases } = await import('../scanner/report/report.ts');
  if (!(FORMATS as readonly string[]).includes(o.format)) die(`unknown format "${o.format}" (one of ${FORMATS.join(', ')})`);
  const format = o.format as Format;
  let threshold, minSeverity;
  try {
    threshold = o.severity ? parseSeverity(o.severity) : undefined;
    minSeverity = o.minSeverity ? parseSeverity(o.minSeverity) : undefined;
  } catch (e) {
    die((e as Error).message);
  }
  let cfg;
  try {
    cfg = loadConfig(process.env, o.config);
  } catch (e) {
    if (e instanceof ConfigError) die(e.message);
    throw e;
  }
  const { openImageSource, ImageSourceError } = await import('../scanner/source/index.ts');
  const { scanImage } = await import('../scanner/scan.ts');
  const { defaultAnalyzers } = await import('../scanner/analyzers/index.ts');
  const { FsLayerCache } = await import('../scanner/indexer/cache.ts');

  const tty = process.stderr.isTTY && !o.quiet;
  const progress = (msg: string) => {
    if (tty) process.stderr.write(`\r\x1b[K${msg}`);
  };
  const username = o.username ?? process.env.WHARF_SCAN_USERNAME;
  const password = process.env.WHARF_SCAN_PASSWORD;
  if (username && password === undefined) die('--username needs the password in WHARF_SCAN_PASSWORD');

  const cacheDir = async () => {
    const dir = o.cacheDir ?? path.join(cfg.dataDir, 'scan-cache');
    await mkdir(dir, { recursive: true });
    return dir;
  };
  let meta: import('../metadata/store.ts').MetadataStore | undefined;
  const openMeta = async () => {
    if (!meta) {
      const { openMetadata } = await import('../metadata/open.ts');
      meta = await openMetadata(cfg.databaseUrl, { sqliteSynchronous: cfg.sqliteSynchronous });
    }
    return meta;
  };
  let source;
  try {
    const wantsLocal = o.local || image.startsWith('wharf://');
    let local;
    if (wantsLocal) {
      const { openBlobDriver } = await import('../storage/open.ts');
      local = { store: await openMeta(), driver: await openBlobDriver(cfg) };
    }
    progress(`resolving ${image}`);
    source = await openImageSource(wantsLocal && !image.startsWith('wharf://') ? `wharf://${image}` : image, {
      platform: o.platform,
      ref: o.ref,
      local,
      username,
      password,
      insecure: o.insecure,
      plainHttp: o.plainHttp,
    });
  } catch (e) {
    progress('');
    if (tty) process.stderr.write('\r\x1b[K');
    if (e instanceof ImageSourceError) die(e.message);
    die((e as Error).message);
  }

  try {
    let matcher;
    let databases: Array<{ name: string; records: number; updatedAt?: string | null }> = [];
    if (o.vulns) {
      const { VulnDb } = await import('../scanner/vulndb/store.ts');
      const { match } = await import('../scanner/matcher.ts');
      const db = new VulnDb(await openMeta());
      const sources = await db.listSources();
      databases = reportDatabases(sources);
      if (databases.length === 0 && !o.quiet) process.stderr.write('wharf scan: the vulnerability database is empty (import one with `wharf vuln-db import`); running best-practice checks only\n');
      matcher = (input: Parameters<typeof match>[0]) => match(input, db);
      if (o.cache) {
        const { cachedMatcher, databaseFingerprint } = await import('../scanner/match-cache.ts');
        matcher = cachedMatcher(await cacheDir(), databaseFingerprint(sources), matcher);
      }
    }
    const analyzers = defaultAnalyzers(o.secrets ? undefined : ['os', 'lang', 'caches']);
    let cache;
    if (o.cache) cache = new FsLayerCache(await cacheDir());
    const report = await scanImage(source, {
      analyzers,
      cache,
      matcher,
      databases,
      onProgress: (p) => progress(`${p.phase}: ${p.message}`),
    });
    if (tty) process.stderr.write('\r\x1b[K');
    const shown = minSeverity ? filterReport(report, minSeverity) : report;
    const text = await render(format, shown);
    if (o.output) await writeFile(o.output, text);
    else process.stdout.write(text);
    if (threshold) {
      const top = highestSeverity(report);
      if (top && severityRank(top) >= severityRank(threshold)) return 1;
    }
    return 0;
  } catch (e) {
    if (tty) process.stderr.write('\r\x1b[K');
    return die((e as Error).message);
  } finally {
    await source.close?.();
    await meta?.close();
  }
}

async function render(format: Format, report: import('../scanner/report/report.ts').ScanReport): Promise<string> {
  switch (format) {
    case 'table':
      return (await import('../scanner/report/table.ts')).formatTable(report);
    case 'json':
      return JSON.stringify(report, null, 2) + '\n';
    case 'sarif':
      return (await import('../scanner/report/sarif.ts')).formatSarif(report);
    case 'cyclonedx':
      return (await import('../scanner/report/cyclonedx.ts')).formatCycloneDx(report);
  }
}
