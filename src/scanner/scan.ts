// The scan pipeline: index (per layer, cached) → match against the vulnerability databases →
// best-practice checks → one ScanReport. Sources, analyzers, cache and matcher are passed in, so
// the CLI, the API's scan job and the tests assemble the same pipeline differently.
import { indexImage } from './indexer/indexer.ts';
import { runChecks } from './checks.ts';
import { purlOf } from './purl.ts';
import { SCANNER_NAME, SCANNER_VERSION, type ScanReport } from './report/report.ts';
import type { FileAnalyzer, ImageSource, LayerCache, OsInfo, Package, Vulnerability } from './types.ts';

export interface ScanProgress {
  phase: 'index' | 'match' | 'checks';
  message: string;
}

export interface ScanImageOptions {
  analyzers: FileAnalyzer[];
  cache?: LayerCache;
  now?: Date;
  /** vulnerability matching; absent = best-practice checks only */
  matcher?: (input: { os?: OsInfo; packages: Package[] }) => Promise<Vulnerability[]>;
  databases?: ScanReport['databases'];
  onProgress?: (p: ScanProgress) => void;
  indexOptions?: Record<string, unknown>;
}

export async function scanImage(source: ImageSource, opts: ScanImageOptions): Promise<ScanReport> {
  const t0 = performance.now();
  const now = opts.now ?? new Date();
  const index = await indexImage(source, {
    analyzers: opts.analyzers,
    cache: opts.cache,
    now,
    onProgress: (ev: unknown) => opts.onProgress?.({ phase: 'index', message: describeIndexProgress(ev) }),
    ...(opts.indexOptions ?? {}),
  } as Parameters<typeof indexImage>[1]);
  for (const p of index.packages) p.purl ??= purlOf(p, index.os);
  opts.onProgress?.({ phase: 'match', message: `matching ${index.packages.length} packages` });
  const vulnerabilities = opts.matcher ? await opts.matcher({ os: index.os, packages: index.packages }) : [];
  opts.onProgress?.({ phase: 'checks', message: 'best-practice checks' });
  const findings = [...index.findings, ...runChecks({ index, config: source.config, now })];
  return {
    scanner: { name: SCANNER_NAME, version: SCANNER_VERSION },
    generatedAt: new Date().toISOString(),
    durationMs: Math.round(performance.now() - t0),
    artifact: {
      name: source.name,
      digest: source.manifestDigest,
      ...(source.config.os ? { os: source.config.os } : {}),
      ...(source.config.architecture ? { architecture: source.config.architecture } : {}),
      layers: index.layers,
    },
    ...(index.os ? { os: index.os } : {}),
    packages: index.packages,
    vulnerabilities,
    findings,
    issues: index.issues,
    databases: opts.databases ?? [],
  };
}

function describeIndexProgress(ev: unknown): string {
  if (ev && typeof ev === 'object') {
    const e = ev as Record<string, unknown>;
    const parts: string[] = [];
    if (typeof e.layer === 'number' && typeof e.layers === 'number') parts.push(`layer ${e.layer + 1}/${e.layers}`);
    if (typeof e.bytes === 'number') parts.push(`${(e.bytes / 1048576).toFixed(1)} MiB`);
    if (e.cached === true) parts.push('cached');
    if (parts.length) return parts.join(' ');
  }
  return 'indexing';
}
