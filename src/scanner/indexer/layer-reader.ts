// Reads one layer blob as a stream: detects the compression by its magic bytes, decompresses,
// parses the tar, records whiteouts and links, and offers regular files to the analyzers
// (see FileAnalyzer in ../types.ts). Everything stays in memory and is bounded by LayerLimits;
// nothing is written to disk, nothing is executed, no link is ever followed on the host (this
// module has no file-system access at all). Problems with the input become ScanIssues.
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { spawn, spawnSync } from 'node:child_process';
import { Decompress } from 'fzstd';
import type { AnalyzedFile, AnalyzerOutput, FileAnalyzer, FileInfo, LayerIndex, ScanIssue } from '../types.ts';
import { basenameOf, dirnameOf, normalizeEntryPath } from './paths.ts';

export interface LayerLimits {
  /** total decompressed bytes of one layer (tar bomb guard) */
  maxLayerBytes: number;
  /** tar entries (headers) in one layer */
  maxEntries: number;
  /** hard cap on bytes buffered for one file, whatever an analyzer's maxBytes says */
  maxFileBytes: number;
  /** longest entry name (after pax / GNU long-name processing), in characters */
  maxPathLength: number;
  /** issues kept per layer; further ones are counted in a final summary issue */
  maxIssues: number;
  /** file contents kept in memory so that a later hardlink to them can be analyzed */
  maxRetainedBytes: number;
  /** analyzer output items (packages + findings + issues) kept per layer */
  maxOutputItems: number;
  /** bytes analyzed again through hardlinks (each link re-runs the analyzers on its target) */
  maxRelinkBytes: number;
  /** analyzed files (LayerIndex.files entries) per layer */
  maxFiles: number;
  /** symlinks + hardlinks recorded per layer */
  maxLinks: number;
  /** whiteouts + opaque directories recorded per layer */
  maxWhiteouts: number;
  /** estimated bytes of everything kept in the LayerIndex (paths, link targets, outputs) */
  maxIndexBytes: number;
  /** longest issue message kept, in characters (longer ones are truncated) */
  maxIssueLength: number;
}

export const DEFAULT_LIMITS: Readonly<LayerLimits> = Object.freeze({
  maxLayerBytes: 16 * 1024 ** 3,
  maxEntries: 2_000_000,
  maxFileBytes: 64 * 1024 ** 2,
  maxPathLength: 4096,
  maxIssues: 1000,
  maxRetainedBytes: 32 * 1024 ** 2,
  maxOutputItems: 500_000,
  maxRelinkBytes: 256 * 1024 ** 2,
  maxFiles: 200_000,
  maxLinks: 500_000,
  maxWhiteouts: 500_000,
  maxIndexBytes: 256 * 1024 ** 2,
  maxIssueLength: 500,
});

export const DEFAULT_ANALYZER_MAX_BYTES = 8 * 1024 ** 2;
export const HEAD_BYTES = 4096;

/** A symlink or hardlink entry of a layer (targets as normalised image paths for hardlinks, raw for symlinks). */
export interface LinkEntry {
  path: string;
  type: 'symlink' | 'link';
  /** symlink: the target as written in the tar; hardlink: the normalised path of the linked file */
  target: string;
  /** hardlink only: the reader already analyzed this path with the linked file's content */
  analyzed?: boolean;
}

/**
 * A LayerIndex plus the layer's links (an additive field the merge uses for symlinked os-release
 * files, hardlinks to files analyzed in earlier layers, and paths replaced by a link). Still a
 * LayerIndex: caches store and return it as one.
 */
export interface IndexedLayer extends LayerIndex {
  links?: LinkEntry[];
}

export type Compression = 'gzip' | 'zstd' | 'none';

export interface LayerProgress {
  /** compressed bytes read from the blob so far */
  compressedBytes: number;
  /** decompressed (tar) bytes so far */
  bytes: number;
  entries: number;
}

export interface ReadLayerOptions {
  digest: string;
  analyzers: readonly FileAnalyzer[];
  limits?: Partial<LayerLimits>;
  onProgress?(p: LayerProgress): void;
}

export interface ReadLayerResult {
  index: IndexedLayer;
  compression: Compression;
  /** false when the blob stream itself failed (not the image's fault: do not cache) */
  cacheable: boolean;
}

export function resolveLimits(limits?: Partial<LayerLimits>): LayerLimits {
  const out: LayerLimits = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(limits ?? {})) {
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0 && k in out) (out as unknown as Record<string, number>)[k] = v;
  }
  return out;
}

export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** Reads one layer. Never throws for bad input; see ReadLayerResult. */
export async function readLayer(blob: Readable, opts: ReadLayerOptions): Promise<IndexedLayer> {
  return (await readLayerDetailed(blob, opts)).index;
}

const EMPTY = Buffer.alloc(0);

export async function readLayerDetailed(blob: Readable, opts: ReadLayerOptions): Promise<ReadLayerResult> {
  const limits = resolveLimits(opts.limits);
  const analyzers = opts.analyzers;
  const files: AnalyzedFile[] = [];
  const whiteouts: string[] = [];
  const opaqueDirs: string[] = [];
  const links: LinkEntry[] = [];
  const issues: ScanIssue[] = [];
  let omittedIssues = 0;
  let entries = 0;
  let bytes = 0;
  let compressedBytes = 0;
  let stopped = false;
  let sourceError: unknown;
  let compression: Compression = 'none';
  const retained = new Map<string, Buffer>();
  let retainedBytes = 0;
  // budgets for what this layer keeps (see LayerLimits)
  let outputItems = 0;
  let relinkBytes = 0;
  let indexBytes = 0;

  const issue = (message: string, path?: string) => {
    message = truncate(message, limits.maxIssueLength);
    if (issues.length < limits.maxIssues) issues.push(path === undefined ? { message } : { path, message });
    else omittedIssues++;
  };

  let lastProgress = 0;
  const progress = (force = false) => {
    if (!opts.onProgress) return;
    if (!force && bytes - lastProgress < 4 * 1024 * 1024) return;
    lastProgress = bytes;
    try {
      opts.onProgress({ compressedBytes, bytes, entries });
    } catch {
      /* a progress callback never breaks indexing */
    }
  };

  blob.on('error', (err) => {
    sourceError ??= err;
  });

  // --- the compressed input, as an async sequence of chunks ------------------------------------
  const srcIt = blob[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const nextSource = async (): Promise<Buffer | undefined> => {
    const r = await srcIt.next();
    if (r.done) return undefined;
    const buf = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    compressedBytes += buf.length;
    return buf;
  };
  const headChunks: Buffer[] = [];
  let headLen = 0;
  let sourceDone = false;

  // --- the tar parser ---------------------------------------------------------------------------
  // allowUnknownFormat: pre-POSIX (v7) headers are accepted; the header checksum still guards against garbage
  const extract = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);
  let tarError: unknown;
  const stop = (message: string) => {
    if (stopped) return;
    stopped = true;
    issue(message);
    extract.destroy();
  };
  extract.on('error', (err: unknown) => {
    tarError ??= err;
  });
  /** Charges `n` estimated bytes to the index budget; false (and the layer stopped) when over it. */
  const chargeIndex = (n: number): boolean => {
    indexBytes += n;
    if (indexBytes <= limits.maxIndexBytes) return true;
    stop(`layer index would exceed ${limits.maxIndexBytes} bytes kept in memory; stopped reading the layer`);
    return false;
  };
  const extractClosed = new Promise<void>((resolve) => {
    extract.on('close', () => resolve());
  });

  const retain = (path: string, content: Buffer) => {
    if (limits.maxRetainedBytes <= 0 || content.length > limits.maxRetainedBytes) return;
    const old = retained.get(path);
    if (old) {
      retainedBytes -= old.length;
      retained.delete(path);
    }
    retained.set(path, content);
    retainedBytes += content.length;
    for (const [k, v] of retained) {
      if (retainedBytes <= limits.maxRetainedBytes) break;
      retained.delete(k);
      retainedBytes -= v.length;
    }
  };

  const safeCall = <T>(what: string, path: string, f: () => T, fallback: T): T => {
    try {
      return f();
    } catch (err) {
      issue(`${what}: ${errMessage(err)}`, path);
      return fallback;
    }
  };

  const runAnalyzers = async (
    path: string,
    info: FileInfo,
    selected: FileAnalyzer[],
    content: Buffer | undefined,
  ): Promise<void> => {
    for (const a of selected) {
      let buf: Buffer;
      if (a.contentless) buf = EMPTY;
      else if (content && content.length <= analyzerCap(a, limits)) buf = content;
      else continue;
      if (stopped) return;
      let output: AnalyzerOutput;
      try {
        output = await a.analyze(path, buf, info);
      } catch (err) {
        issue(`analyzer ${a.name} failed: ${errMessage(err)}`, path);
        continue;
      }
      if (stopped) return;
      const clean = cleanOutput(output, limits.maxIssueLength);
      const items = (clean.packages?.length ?? 0) + (clean.findings?.length ?? 0) + (clean.issues?.length ?? 0);
      if (outputItems + items > limits.maxOutputItems) {
        stop(`analyzer output of this layer exceeds ${limits.maxOutputItems} packages/findings/issues (at ${truncate(path, 200)}); stopped reading the layer`);
        return;
      }
      if (files.length >= limits.maxFiles) {
        stop(`layer has more than ${limits.maxFiles} analyzed files; stopped reading it`);
        return;
      }
      if (!chargeIndex(64 + path.length + a.name.length + estimateBytes(clean))) return;
      outputItems += items;
      files.push({ analyzer: a.name, path, output: clean });
    }
  };

  /** Decides which analyzers get a file and reads what they need from `reader`. */
  const offerFile = async (path: string, info: FileInfo, reader: EntryReader | RetainedReader): Promise<boolean> => {
    const byPath = analyzers.filter((a) => safeCall(`analyzer ${a.name} wants() failed`, path, () => a.wants(path, info), false));
    const sniffers = analyzers.filter((a) => !byPath.includes(a) && typeof a.wantsContent === 'function');
    if (byPath.length === 0 && sniffers.length === 0) return false;
    let selected = byPath;
    if (sniffers.length > 0 && info.size > 0) {
      const head = await reader.head(Math.min(HEAD_BYTES, info.size));
      const byContent = sniffers.filter((a) =>
        safeCall(`analyzer ${a.name} wantsContent() failed`, path, () => a.wantsContent!(path, info, head), false),
      );
      if (byContent.length) selected = analyzers.filter((a) => byPath.includes(a) || byContent.includes(a));
    }
    if (selected.length === 0) return false;
    const needContent = selected.filter((a) => !a.contentless);
    const fits = needContent.filter((a) => info.size <= analyzerCap(a, limits));
    for (const a of needContent) {
      if (!fits.includes(a)) {
        issue(
          `file is ${info.size} bytes, over the ${analyzerCap(a, limits)}-byte limit of analyzer ${a.name}; not analyzed`,
          path,
        );
      }
    }
    let content: Buffer | undefined;
    if (fits.length > 0) content = await reader.all(info.size);
    if (content && reader instanceof RetainedReader) {
      // each hardlink re-runs the analyzers on its target's content: bounded per layer
      relinkBytes += content.length;
      if (relinkBytes > limits.maxRelinkBytes) {
        stop(`hardlinks re-analyze more than ${limits.maxRelinkBytes} bytes in this layer; stopped reading it`);
        return false;
      }
    }
    await runAnalyzers(path, info, selected, content);
    if (content && reader instanceof EntryReader) retain(path, content);
    return true;
  };

  const onEntry = async (header: Partial<tar.Header>, stream: EntryStream): Promise<void> => {
    const reader = new EntryReader(stream);
    try {
      entries++;
      if (entries > limits.maxEntries) {
        stop(`layer has more than ${limits.maxEntries} entries; stopped reading it (tar bomb guard)`);
        return;
      }
      const rawName = header.name ?? '';
      if (rawName.length > limits.maxPathLength) {
        issue(`entry name of ${rawName.length} characters is over the ${limits.maxPathLength} limit; skipped`);
        return;
      }
      const path = normalizeEntryPath(rawName);
      if (path === null) {
        issue(`entry "${rawName}" escapes the layer root; skipped`, rawName);
        return;
      }
      if (path === '') return; // the root directory itself
      const base = basenameOf(path);
      const dir = dirnameOf(path);
      if (base.startsWith('.wh.')) {
        if (base.startsWith('.wh..wh.') && base !== '.wh..wh..opq') return; // other AUFS metadata (.wh..wh.plnk): not part of the file system
        const name = base.slice(4);
        if (base !== '.wh..wh..opq' && (name === '' || name === '.' || name === '..')) {
          issue(`invalid whiteout entry "${rawName}"; skipped`, path);
          return;
        }
        if (whiteouts.length + opaqueDirs.length >= limits.maxWhiteouts) {
          stop(`layer has more than ${limits.maxWhiteouts} whiteouts; stopped reading it`);
          return;
        }
        if (!chargeIndex(32 + path.length)) return;
        if (base === '.wh..wh..opq') opaqueDirs.push(dir);
        else whiteouts.push(dir ? `${dir}/${name}` : name);
        return;
      }
      const mode = header.mode ?? 0;
      switch (header.type) {
        case 'file':
        case 'contiguous-file':
        case undefined: {
          const size = header.size ?? 0;
          await offerFile(path, { path, size, mode, type: 'file' }, reader);
          return;
        }
        case 'symlink':
        case 'link': {
          const linkname = header.linkname ?? '';
          if (linkname.length > limits.maxPathLength) {
            issue(`${header.type} target of ${linkname.length} characters is over the ${limits.maxPathLength} limit; skipped`, path);
            return;
          }
          if (links.length >= limits.maxLinks) {
            stop(`layer has more than ${limits.maxLinks} links; stopped reading it`);
            return;
          }
          if (!chargeIndex(64 + path.length + linkname.length)) return;
          if (header.type === 'symlink') {
            links.push({ path, type: 'symlink', target: linkname });
            return;
          }
          break;
        }
        default:
          return; // directories, devices, fifos: nothing to analyze
      }
      // a hardlink: analyzed with its target's content when this layer still holds it
      const target = normalizeEntryPath(header.linkname ?? '');
      if (target === null || target === '') {
        issue(`hardlink "${rawName}" → "${header.linkname ?? ''}" escapes the layer root; skipped`, path);
        return;
      }
      const link: LinkEntry = { path, type: 'link', target };
      links.push(link);
      const content = retained.get(target);
      const info: FileInfo = { path, size: content?.length ?? 0, mode, type: 'link', linkname: target };
      if (content) link.analyzed = await offerFile(path, info, new RetainedReader(content));
      // a budget ran out on this link: record nothing half-done (the merge would copy its target's output)
      if (stopped && links.at(-1) === link) links.pop();
    } finally {
      if (!stopped) await reader.drain();
    }
  };

  let inflight: Promise<void> = Promise.resolve();
  extract.on('entry', (header, stream, next) => {
    inflight = onEntry(header, stream as unknown as EntryStream).then(
      () => {
        if (!stopped) next();
      },
      (err) => {
        // a stream failure inside one entry (corrupt tar, truncated data): stop this layer, keep what we have
        if (tarError !== undefined) stop(`corrupt tar: ${errMessage(tarError)}`);
        else stop(`reading the layer failed: ${errMessage(err)}`);
      },
    );
  });

  // --- drive: source → decompressor → tar ---------------------------------------------------------
  const feedTar = async (chunk: Buffer): Promise<void> => {
    bytes += chunk.length;
    if (bytes > limits.maxLayerBytes) {
      stop(`layer decompresses to more than ${limits.maxLayerBytes} bytes; stopped reading it (tar bomb guard)`);
      return;
    }
    progress();
    if (tarError !== undefined) return;
    if (!extract.write(chunk)) await waitDrain(extract as unknown as Emitterish);
  };

  try {
    // sniff the first bytes
    while (headLen < 4) {
      const c = await nextSource();
      if (!c) {
        sourceDone = true;
        break;
      }
      headChunks.push(c);
      headLen += c.length;
    }
    const head = Buffer.concat(headChunks);
    compression = detectCompression(head);
    const rest = async function* (): AsyncGenerator<Buffer> {
      if (head.length) yield head;
      if (sourceDone) return;
      for (;;) {
        const c = await nextSource();
        if (!c) return;
        yield c;
      }
    };
    if (compression === 'gzip') {
      for await (const chunk of gunzipStream(rest())) {
        if (stopped || tarError !== undefined) break;
        await feedTar(chunk);
      }
    } else if (compression === 'zstd' && zstdCli()) {
      for await (const chunk of zstdCliStream(rest())) {
        if (stopped || tarError !== undefined) break;
        await feedTar(chunk);
      }
    } else if (compression === 'zstd') {
      await zstdStream(rest(), async (chunk) => {
        if (stopped || tarError !== undefined) return false;
        await feedTar(chunk);
        return !stopped && tarError === undefined;
      });
    } else {
      for await (const chunk of rest()) {
        if (stopped || tarError !== undefined) break;
        await feedTar(chunk);
      }
    }
    if (!stopped && tarError === undefined) {
      (extract as unknown as { end(): void }).end();
      await Promise.race([once(extract, 'finish').catch(() => undefined), extractClosed]);
    }
  } catch (err) {
    if (sourceError !== undefined) stop(`reading the layer blob failed: ${errMessage(sourceError)}`);
    else if (tarError === undefined) {
      stop(`corrupt ${compression === 'none' ? '' : compression + ' '}stream: ${errMessage(err)}`);
    }
  }
  if (tarError !== undefined && !stopped) stop(`corrupt tar: ${errMessage(tarError)}`);
  if (!extract.destroyed) extract.destroy();
  await inflight;
  if (!blob.destroyed) blob.destroy();
  if (sourceError !== undefined && !issues.some((i) => i.message.startsWith('reading the layer blob failed'))) {
    issue(`reading the layer blob failed: ${errMessage(sourceError)}`);
  }
  if (omittedIssues > 0) issues.push({ message: `${omittedIssues} further issues in this layer omitted` });
  progress(true);
  return {
    index: { digest: opts.digest, files, whiteouts, opaqueDirs, links, issues, stats: { entries, bytes } },
    compression,
    cacheable: sourceError === undefined,
  };
}

function analyzerCap(a: FileAnalyzer, limits: LayerLimits): number {
  const want = typeof a.maxBytes === 'number' && a.maxBytes >= 0 ? a.maxBytes : DEFAULT_ANALYZER_MAX_BYTES;
  return Math.min(want, limits.maxFileBytes);
}

function cleanOutput(o: AnalyzerOutput | undefined | null, maxIssueLength: number): AnalyzerOutput {
  const out: AnalyzerOutput = {};
  if (!o || typeof o !== 'object') return out;
  if (Array.isArray(o.packages) && o.packages.length) out.packages = o.packages;
  if (o.os && typeof o.os === 'object') out.os = o.os;
  if (Array.isArray(o.findings) && o.findings.length) out.findings = o.findings;
  if (Array.isArray(o.issues) && o.issues.length) {
    out.issues = o.issues.map((i) =>
      i && typeof i.message === 'string' && i.message.length > maxIssueLength ? { ...i, message: truncate(i.message, maxIssueLength) } : i,
    );
  }
  return out;
}

function truncate(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}… (${s.length} characters)` : s;
}

/** A rough size of what a JSON value keeps in memory (strings by length, a fixed cost per slot). */
function estimateBytes(v: unknown, depth = 0): number {
  if (typeof v === 'string') return 16 + v.length;
  if (v === null || typeof v !== 'object') return 8;
  if (depth > 8) return 64;
  let n = 32;
  if (Array.isArray(v)) {
    for (const x of v) n += estimateBytes(x, depth + 1);
  } else {
    for (const k in v) n += 8 + estimateBytes((v as Record<string, unknown>)[k], depth + 1);
  }
  return n;
}

export function errMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

// ---- entry streams --------------------------------------------------------------------------------

/** The per-entry readable tar-stream hands out (a streamx Readable). */
type EntryStream = NodeJS.ReadableStream & {
  resume(): unknown;
  destroyed?: boolean;
  on(ev: string, f: (...a: unknown[]) => void): unknown;
};

/**
 * Reads an entry's bytes on demand. Must always be consumed to the end (an abandoned iterator
 * would destroy the whole tar parser): `drain()` discards whatever is left.
 */
class EntryReader {
  private it: AsyncIterator<Buffer> | undefined;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private ended = false;
  constructor(private readonly stream: EntryStream) {}

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    this.it ??= (this.stream as unknown as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    const r = await this.it.next();
    if (r.done) {
      this.ended = true;
      return false;
    }
    this.pending.push(r.value);
    this.pendingLen += r.value.length;
    return true;
  }

  /** Up to `n` first bytes (kept for `all`). */
  async head(n: number): Promise<Buffer> {
    while (this.pendingLen < n && (await this.pull()));
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [all];
    return all.subarray(0, n);
  }

  /** The whole entry (its size is known from the header). */
  async all(size: number): Promise<Buffer> {
    while (await this.pull()) {
      if (this.pendingLen > size) throw new Error('entry longer than its header says');
    }
    return this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLen);
  }

  async drain(): Promise<void> {
    this.pending = [];
    if (this.ended) return;
    if (this.it) {
      while (await this.pull()) this.pending = [];
      this.pendingLen = 0;
      return;
    }
    this.ended = true;
    const s = this.stream;
    if (s.destroyed) return;
    await new Promise<void>((resolve) => {
      s.on('end', () => resolve());
      s.on('close', () => resolve());
      s.on('error', () => resolve());
      s.resume();
    });
  }
}

/** The same interface over content already in memory (a hardlink's target). */
class RetainedReader {
  constructor(private readonly content: Buffer) {}
  async head(n: number): Promise<Buffer> {
    return this.content.subarray(0, n);
  }
  async all(_size?: number): Promise<Buffer> {
    return this.content;
  }
}

// ---- decompression ----------------------------------------------------------------------------

type Emitterish = {
  once(ev: string, f: (...a: unknown[]) => void): unknown;
  off(ev: string, f: (...a: unknown[]) => void): unknown;
  destroyed?: boolean;
};

function waitDrain(w: Emitterish): Promise<void> {
  if (w.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const fin = () => {
      w.off('drain', fin);
      w.off('close', fin);
      w.off('error', fin);
      resolve();
    };
    w.once('drain', fin);
    w.once('close', fin);
    w.once('error', fin);
  });
}

async function* gunzipStream(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const gz = zlib.createGunzip({ chunkSize: 128 * 1024 });
  const ac = new AbortController();
  const feeder = (async () => {
    try {
      for await (const c of input) {
        if (ac.signal.aborted) return;
        if (!gz.write(c)) await once(gz, 'drain', { signal: ac.signal });
      }
      gz.end();
    } catch (err) {
      if (!ac.signal.aborted) gz.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  })();
  try {
    for await (const out of gz) yield out as Buffer;
    await feeder;
  } finally {
    ac.abort();
    gz.destroy();
  }
}

let zstdCliAvailable: boolean | undefined;
/**
 * The system's `zstd` decoder (5–7× faster than fzstd here), when installed and not disabled with
 * WHARF_SCAN_ZSTD=js. It only decompresses (nothing from the image is executed) and keeps zstd's
 * own 128 MiB window limit; the tar limits above still bound what comes out.
 */
function zstdCli(): boolean {
  if (process.env.WHARF_SCAN_ZSTD === 'js') return false;
  if (zstdCliAvailable === undefined) {
    const r = spawnSync('zstd', ['-V'], { stdio: 'ignore', timeout: 5000 });
    zstdCliAvailable = r.status === 0;
  }
  return zstdCliAvailable;
}

async function* zstdCliStream(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const child = spawn('zstd', ['-d', '-c', '-q', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 2000) stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  child.stdin.on('error', () => {}); // EPIPE when zstd stops early: its exit code tells why
  const feeding = (async () => {
    try {
      for await (const c of input) {
        if (!child.stdin.write(c)) await once(child.stdin, 'drain');
      }
    } finally {
      child.stdin.end();
    }
  })();
  feeding.catch(() => child.kill());
  try {
    for await (const c of child.stdout) yield c as Buffer;
    await feeding;
    const code = await exited;
    if (code !== 0) throw new Error(`zstd: ${stderr.trim() || `exit code ${code}`}`);
  } finally {
    if (child.exitCode === null) child.kill();
  }
}

/**
 * Streams zstd through fzstd. fzstd decodes synchronously, a whole block per callback, so the
 * input is pushed in slices sized from the observed ratio to keep each push's output small even
 * for a zstd bomb (RLE blocks reach ~32,000:1).
 */
async function zstdStream(input: AsyncIterable<Buffer>, sink: (chunk: Buffer) => Promise<boolean>): Promise<void> {
  const MIN_SLICE = 256;
  const MAX_SLICE = 128 * 1024;
  const TARGET_OUT = 4 * 1024 * 1024;
  let slice = 1024;
  let out: Buffer[] = [];
  let outLen = 0;
  const dec = new Decompress((data) => {
    if (data.length) {
      out.push(Buffer.from(data)); // copy: fzstd may reuse its window
      outLen += data.length;
    }
  });
  const flush = async (): Promise<boolean> => {
    const chunks = out;
    out = [];
    outLen = 0;
    for (const c of chunks) if (!(await sink(c))) return false;
    return true;
  };
  let any = false;
  for await (const c of input) {
    any = true;
    for (let off = 0; off < c.length; ) {
      const n = Math.min(slice, c.length - off);
      dec.push(c.subarray(off, off + n));
      off += n;
      const ratio = outLen / n;
      slice = Math.max(MIN_SLICE, Math.min(MAX_SLICE, ratio > 0 ? Math.floor(TARGET_OUT / ratio) : slice * 2));
      if (!(await flush())) return;
    }
  }
  if (any) dec.push(new Uint8Array(0), true);
  await flush();
}
