// Updaters: refreshing URL sources. A download is conditional (If-None-Match / If-Modified-Since
// from the last import's ETag / Last-Modified; 304 = unchanged, nothing imported), limited in size
// and time, gunzipped (Content-Encoding by fetch, a .gz body by its magic), written to a temp file
// and only then imported, so the database transaction never waits on the network.
// Redirects are followed by hand, at most MAX_REDIRECTS, and never from https to http (nor to http
// at all unless the URL itself was http): a man in the middle must not be able to move the
// download to a plain-http URL and serve data that hides advisories.
// The durable job 'vulndb_update' (scope 'system', exclusive, cron schedule) refreshes every URL
// source; registerVulnDbJobs wires it into a process's job service.
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MetadataStore } from '../../metadata/store.ts';
import type { JobHandler } from '../../jobs/types.ts';
import { defaultSourceName, importPath, type ImportOptions, type ImportSummary } from './import.ts';
import { VulnDb } from './store.ts';

export const DEFAULT_MAX_BYTES = 1 << 30; // 1 GiB (the Debian tracker's JSON is ~80 MB)
export const DEFAULT_TIMEOUT_MS = 10 * 60_000;
export const MAX_REDIRECTS = 5;
const REDIRECT = new Set([301, 302, 303, 307, 308]);

export interface FetchOptions {
  etag?: string | null;
  lastModified?: string | null;
  /** limit on the body (after Content-Encoding decoding) */
  maxBytes?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** where the temp file goes (default the OS temp dir) */
  tmpDir?: string;
}

export type FetchResult =
  | { status: 'unchanged' }
  | { status: 'downloaded'; file: string; bytes: number; etag: string | null; lastModified: string | null; cleanup(): Promise<void> };

export function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** Download `url` to a temp file, conditionally. Throws Error with the URL and reason on failure. */
export async function fetchToFile(url: string, opts: FetchOptions = {}): Promise<FetchResult> {
  if (!isUrl(url)) throw new Error(`${url}: only http and https URLs are supported`);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const signals = [AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS), ...(opts.signal ? [opts.signal] : [])];
  const signal = AbortSignal.any(signals);
  const headers: Record<string, string> = { 'accept-encoding': 'gzip', 'user-agent': 'wharf-vulndb' };
  if (opts.etag) headers['if-none-match'] = opts.etag;
  if (opts.lastModified) headers['if-modified-since'] = opts.lastModified;
  let res: Response;
  let cur = new URL(url);
  for (let hops = 0; ; hops++) {
    try {
      res = await fetch(cur, { headers, signal, redirect: 'manual' });
    } catch (e) {
      throw new Error(`${url}: ${signal.aborted && !opts.signal?.aborted ? 'timed out' : ((e as Error).cause as Error)?.message ?? (e as Error).message}`);
    }
    if (!REDIRECT.has(res.status)) break;
    const location = res.headers.get('location');
    await res.body?.cancel();
    if (!location) throw new Error(`${url}: HTTP ${res.status} redirect without a Location`);
    if (hops >= MAX_REDIRECTS) throw new Error(`${url}: more than ${MAX_REDIRECTS} redirects`);
    let next: URL;
    try {
      next = new URL(location, cur);
    } catch {
      throw new Error(`${url}: redirect to an invalid URL ${JSON.stringify(location.slice(0, 200))}`);
    }
    // https → https; http only while everything so far was http (the URL given was http)
    const ok = next.protocol === 'https:' || (next.protocol === 'http:' && cur.protocol === 'http:');
    if (!ok) throw new Error(`${url}: refusing a redirect from ${cur.protocol.slice(0, -1)} to ${next.protocol === 'http:' ? 'plain http' : next.protocol} (${next.origin})`);
    cur = next;
  }
  if (res.status === 304) {
    await res.body?.cancel();
    return { status: 'unchanged' };
  }
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel();
    throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (!res.headers.get('content-encoding') && Number.isFinite(declared) && declared > maxBytes) {
    await res.body.cancel();
    throw new Error(`${url}: ${declared} bytes is over the limit of ${maxBytes}`);
  }
  const dir = await mkdtemp(path.join(opts.tmpDir ?? os.tmpdir(), 'wharf-vulndb-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  const file = path.join(dir, 'body');
  let bytes = 0;
  try {
    const limit = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        if (bytes > maxBytes) cb(new Error(`${url}: body over the limit of ${maxBytes} bytes`));
        else cb(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(res.body as any), limit, createWriteStream(file), { signal });
  } catch (e) {
    await cleanup();
    if (signal.aborted && !opts.signal?.aborted) throw new Error(`${url}: timed out`);
    throw e;
  }
  return { status: 'downloaded', file, bytes, etag: res.headers.get('etag'), lastModified: res.headers.get('last-modified'), cleanup };
}

export interface UpdateOptions extends Omit<FetchOptions, 'etag' | 'lastModified'> {
  onProgress?: ImportOptions['onProgress'];
  /** ignore the stored validators (always download) */
  force?: boolean;
}

/**
 * Import `url` as source `name` (new or existing; default name from the URL). A 304 answer leaves
 * the rows as they are; any failure is recorded as the source's last error and rethrown.
 */
export async function updateFromUrl(db: VulnDb, url: string, opts: UpdateOptions & { name?: string } = {}): Promise<ImportSummary> {
  const name = opts.name ?? defaultSourceName(url);
  const t0 = Date.now();
  const src = await db.ensureUrlSource(name, url);
  try {
    const r = await fetchToFile(url, { ...opts, etag: opts.force ? null : src.etag, lastModified: opts.force ? null : src.lastModified });
    if (r.status === 'unchanged') {
      await db.noteCheck(name, { error: null });
      return { source: name, format: src.format ?? 'unknown', location: url, files: [], records: src.records, rows: src.rows, skipped: src.skipped, problems: [], ms: Date.now() - t0, unchanged: true };
    }
    try {
      return await importPath(db, r.file, { name, signal: opts.signal, onProgress: opts.onProgress, maxBytes: opts.maxBytes ?? DEFAULT_MAX_BYTES, url, location: url, etag: r.etag, lastModified: r.lastModified });
    } finally {
      await r.cleanup();
    }
  } catch (e) {
    await db.noteCheck(name, { error: (e as Error).message }).catch(() => {});
    throw e;
  }
}

export interface UpdateAllResult {
  updated: ImportSummary[];
  unchanged: string[];
  failed: { source: string; error: string }[];
}

/** Refresh every URL source, one after the other; a failing source does not stop the others. */
export async function updateAll(db: VulnDb, opts: UpdateOptions & { log?: (m: string, level?: 'info' | 'warn' | 'error') => void } = {}): Promise<UpdateAllResult> {
  const out: UpdateAllResult = { updated: [], unchanged: [], failed: [] };
  for (const s of await db.listSources()) {
    if (!s.url) continue;
    opts.signal?.throwIfAborted();
    try {
      const r = await updateFromUrl(db, s.url, { ...opts, name: s.name });
      if (r.unchanged) {
        out.unchanged.push(s.name);
        opts.log?.(`${s.name}: unchanged (304)`);
      } else {
        out.updated.push(r);
        opts.log?.(`${s.name}: ${r.format}, ${r.records} records, ${r.rows} rows, ${r.skipped} skipped, ${r.ms} ms`);
      }
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      out.failed.push({ source: s.name, error: (e as Error).message });
      opts.log?.(`${s.name}: ${(e as Error).message}`, 'error');
    }
  }
  return out;
}

// ---------------------------------------------------------------- the durable job

export const VULNDB_UPDATE_JOB = 'vulndb_update';
export const VULNDB_SCOPE = 'system';
/** every 6 hours, at minute 17 */
export const VULNDB_UPDATE_CRON = '17 */6 * * *';

export interface VulnDbJobOptions extends Omit<UpdateOptions, 'signal' | 'onProgress'> {
  /** the schedule to create when there is none (an admin's change is kept); null: no schedule */
  cron?: string | null;
  /** called after an update that replaced at least one source (the notifier re-matches stored reports) */
  afterUpdate?: (log: (m: string) => void, signal: AbortSignal) => Promise<Record<string, unknown>>;
}

export function vulnDbUpdateHandler(store: MetadataStore, opts: VulnDbJobOptions = {}): JobHandler<{ force: boolean }> {
  return {
    kind: VULNDB_UPDATE_JOB,
    exclusive: true,
    maxAttempts: 3,
    validate(params) {
      const p = params ?? {};
      for (const k of Object.keys(p)) if (k !== 'force') throw new Error(`unknown ${VULNDB_UPDATE_JOB} parameter ${k} (supported: force)`);
      if (p.force !== undefined && typeof p.force !== 'boolean') throw new Error('force must be true or false');
      return { force: p.force === true };
    },
    async run(ctx) {
      const r = await updateAll(new VulnDb(store), { ...opts, force: ctx.params.force, signal: ctx.signal, log: (m, level) => ctx.log(m, level) });
      ctx.progress({ updated: r.updated.length, unchanged: r.unchanged.length, failed: r.failed.length });
      // an update that failed for every URL source fails the attempt (retried); partial failures are in the result
      if (r.failed.length > 0 && r.updated.length === 0 && r.unchanged.length === 0) throw new Error(r.failed.map((f) => `${f.source}: ${f.error}`).join('; '));
      const rematch = r.updated.length > 0 && opts.afterUpdate ? await opts.afterUpdate((m) => ctx.log(m), ctx.signal) : undefined;
      return {
        ...(rematch ? { rematch } : {}), updated: r.updated.map((u) => ({ source: u.source, format: u.format, records: u.records, rows: u.rows, skipped: u.skipped, ms: u.ms })), unchanged: r.unchanged, failed: r.failed };
    },
  };
}

/** What registerVulnDbJobs needs of the job service (src/jobs/service.ts Jobs). */
export interface VulnDbJobHost {
  register(h: JobHandler<any>): void;
  ensureSchedule(kind: string, scope: string, cron: string, params?: Record<string, unknown>): Promise<unknown>;
}

/** Register the 'vulndb_update' handler and create its schedule (default VULNDB_UPDATE_CRON) if none exists. */
export async function registerVulnDbJobs(jobs: VulnDbJobHost, store: MetadataStore, opts: VulnDbJobOptions = {}): Promise<void> {
  jobs.register(vulnDbUpdateHandler(store, opts));
  const cron = opts.cron === undefined ? VULNDB_UPDATE_CRON : opts.cron;
  if (cron !== null) await jobs.ensureSchedule(VULNDB_UPDATE_JOB, VULNDB_SCOPE, cron);
}
