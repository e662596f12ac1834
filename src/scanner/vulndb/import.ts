// Importing a file or a directory of advisory files into one source. Each file's format is
// detected from its first record (a file that is none of the known formats fails the import with
// its name); files are read as streams (JSONL, arrays and concatenated JSON one record at a time)
// and gunzipped when compressed. Everything happens inside VulnDb.replaceSource's transaction.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { detectFormat, PARSERS } from './formats.ts';
import { jsonRecords, readText } from './json-stream.ts';
import type { VulnDb, VulnSource } from './store.ts';
import { newStats, skip, type AdvisoryRecord, type ParseStats, type VulnFormat } from './types.ts';

export interface ImportProgress {
  file: string;
  records: number;
  rows: number;
  skipped: number;
}

export interface ImportSummary {
  source: string;
  /** the detected format, or "mixed" */
  format: string;
  location: string;
  files: { file: string; format: VulnFormat; records: number; rows: number; skipped: number }[];
  records: number;
  rows: number;
  skipped: number;
  /** the first reasons records were skipped */
  problems: string[];
  ms: number;
  /** for a URL source: true when the server answered 304 Not Modified (nothing imported) */
  unchanged?: boolean;
}

export interface ImportOptions {
  /** the source's name (default: the file or directory name without extensions) */
  name?: string;
  signal?: AbortSignal;
  onProgress?: (p: ImportProgress) => void;
  /** limit on one file's decompressed size */
  maxBytes?: number;
  /** for imports of downloaded files: the source's URL and validators */
  url?: string | null;
  etag?: string | null;
  lastModified?: string | null;
  /** shown as the location instead of the path (the URL of a download) */
  location?: string;
}

export class UnknownFormatError extends Error {}

const DATA_FILE = /\.(json|jsonl|ndjson)(\.gz)?$/i;

/** The default source name for a path or URL: its last segment without extensions. */
export function defaultSourceName(target: string): string {
  let base = target;
  try {
    if (/^https?:\/\//i.test(target)) base = new URL(target).pathname;
  } catch {
    /* a path */
  }
  base = path.basename(base.replace(/\/+$/, '')) || 'vulndb';
  return base.replace(/(\.(json|jsonl|ndjson|gz|osv))+$/i, '') || base;
}

/** The data files of a path: itself, or a directory's *.json / *.jsonl(.gz) files, recursively, sorted. */
export async function dataFiles(target: string): Promise<string[]> {
  const st = await stat(target);
  if (!st.isDirectory()) return [target];
  const out: string[] = [];
  const walk = async (dir: string) => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && DATA_FILE.test(e.name)) out.push(p);
    }
  };
  await walk(target);
  if (out.length === 0) throw new Error(`${target}: no *.json, *.jsonl or *.json.gz files`);
  return out;
}

/**
 * Parse one file into rows (an async generator, so the caller can consume it inside a
 * transaction). Throws UnknownFormatError naming the file when its first record is no known format.
 */
export async function* parseFile(file: string, stats: ParseStats, opts: { signal?: AbortSignal; maxBytes?: number; onFormat?: (f: VulnFormat) => void; onRecord?: () => void } = {}): AsyncGenerator<AdvisoryRecord> {
  let format: VulnFormat | null = null;
  const rows: AdvisoryRecord[] = [];
  const emit = (r: AdvisoryRecord) => rows.push(r);
  for await (const rec of jsonRecords(readText(file, { signal: opts.signal, maxBytes: opts.maxBytes }))) {
    if ('error' in rec) {
      skip(stats, `${path.basename(file)}: ${rec.error}`);
      continue;
    }
    if (format === null) {
      format = detectFormat(rec.value);
      if (!format) throw new UnknownFormatError(`${file}: not a known vulnerability data format (expected OSV JSON/JSONL, Debian security tracker JSON, Alpine secdb JSON or Node security WG advisories)`);
      opts.onFormat?.(format);
    }
    PARSERS[format](rec.value, stats, emit);
    opts.onRecord?.();
    while (rows.length) yield rows.shift()!;
  }
  if (format === null) throw new UnknownFormatError(`${file}: no JSON records (not a known vulnerability data format)`);
}

/** Import a file or directory as source `opts.name`, replacing that source's rows atomically. */
export async function importPath(db: VulnDb, target: string, opts: ImportOptions = {}): Promise<ImportSummary> {
  const t0 = Date.now();
  const files = await dataFiles(target);
  const name = opts.name ?? defaultSourceName(opts.location ?? target);
  const total = newStats();
  const perFile: ImportSummary['files'] = [];
  const formats = new Set<VulnFormat>();
  async function* all(): AsyncGenerator<AdvisoryRecord> {
    for (const file of files) {
      const stats = newStats();
      let format: VulnFormat | undefined;
      let last = 0;
      const progress = (force = false) => {
        const now = Date.now();
        if (!opts.onProgress || (!force && now - last < 250)) return;
        last = now;
        opts.onProgress({ file, records: total.records + stats.records, rows: total.rows + stats.rows, skipped: total.skipped + stats.skipped });
      };
      for await (const r of parseFile(file, stats, { signal: opts.signal, maxBytes: opts.maxBytes, onFormat: (f) => ((format = f), formats.add(f)), onRecord: () => progress() })) yield r;
      progress(true);
      perFile.push({ file, format: format!, records: stats.records, rows: stats.rows, skipped: stats.skipped });
      total.records += stats.records;
      total.rows += stats.rows;
      total.skipped += stats.skipped;
      for (const p of stats.problems) if (total.problems.length < 20) total.problems.push(p);
    }
  }
  const location = opts.location ?? path.resolve(target);
  // the format is known only after reading: replaceSource stores info.format at the end of its transaction
  const info = { format: 'unknown', location, url: opts.url, etag: opts.etag, lastModified: opts.lastModified };
  const src: VulnSource = await db.replaceSource(
    name,
    info,
    (async function* () {
      yield* all();
      info.format = formats.size === 1 ? [...formats][0]! : 'mixed';
    })(),
    { signal: opts.signal, counts: () => ({ records: total.records, skipped: total.skipped }) },
  );
  return {
    source: src.name,
    format: src.format ?? info.format,
    location,
    files: perFile,
    records: total.records,
    rows: total.rows,
    skipped: total.skipped,
    problems: total.problems,
    ms: Date.now() - t0,
  };
}
