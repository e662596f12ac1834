// Per-layer index caches. The key (see layerCacheKey) covers the layer digest, the analyzer set
// (names + versions), the limits and the reader's own version, so any change re-indexes.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileAnalyzer, ImageIndex, LayerCache, LayerIndex, LayerRef } from '../types.ts';
import type { LayerLimits } from './layer-reader.ts';

/** Bump when the reader's output for the same input changes. */
export const READER_VERSION = 2;

export function analyzerFingerprint(analyzers: readonly Pick<FileAnalyzer, 'name' | 'version'>[]): string {
  const ids = analyzers.map((a) => `${a.name}@${a.version}`).sort();
  return createHash('sha256').update(ids.join('\n')).digest('hex').slice(0, 16);
}

export function layerCacheKey(digest: string, analyzers: readonly Pick<FileAnalyzer, 'name' | 'version'>[], limits: LayerLimits): string {
  const lim = Object.keys(limits)
    .sort()
    .map((k) => `${k}=${(limits as unknown as Record<string, number>)[k]}`)
    .join(',');
  const h = createHash('sha256')
    .update(`reader=${READER_VERSION}\n${analyzerFingerprint(analyzers)}\n${lim}`)
    .digest('hex')
    .slice(0, 24);
  return `${digest.replace(/[^A-Za-z0-9._-]/g, '_')}.${h}`;
}

/** Bump when mergeLayers' output for the same layer indexes changes (invalidates image entries). */
export const MERGE_VERSION = 1;

/**
 * Key of a merged image index: the layer list as the merge sees it (digests, diff ids, build
 * instructions), with everything layerCacheKey covers, and the merge's own version.
 */
export function imageCacheKey(refs: readonly LayerRef[], analyzers: readonly Pick<FileAnalyzer, 'name' | 'version'>[], limits: LayerLimits): string {
  const layers = refs.map((r) => [r.digest, r.diffId ?? '', r.createdBy ?? '']);
  const h = createHash('sha256')
    .update(JSON.stringify({ merge: MERGE_VERSION, layer: layerCacheKey('', analyzers, limits), layers }))
    .digest('hex')
    .slice(0, 40);
  return `image.${h}`;
}

export function isImageIndex(v: unknown): v is ImageIndex {
  if (!v || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return (
    Array.isArray(o.packages) &&
    o.packages.every((p) => p && typeof p === 'object' && typeof (p as { name?: unknown }).name === 'string' && typeof (p as { version?: unknown }).version === 'string') &&
    Array.isArray(o.findings) &&
    Array.isArray(o.issues) &&
    Array.isArray(o.layers) &&
    (o.os === undefined || (typeof o.os === 'object' && o.os !== null))
  );
}

/** The minimal shape check a cached entry must pass; anything else is a miss. */
export function isLayerIndex(v: unknown): v is LayerIndex {
  if (!v || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  const stats = o.stats as Record<string, unknown> | undefined;
  return (
    typeof o.digest === 'string' &&
    Array.isArray(o.files) &&
    o.files.every((f) => f && typeof f === 'object' && typeof (f as { path?: unknown }).path === 'string' && typeof (f as { output?: unknown }).output === 'object') &&
    Array.isArray(o.whiteouts) &&
    o.whiteouts.every((w) => typeof w === 'string') &&
    Array.isArray(o.opaqueDirs) &&
    o.opaqueDirs.every((w) => typeof w === 'string') &&
    Array.isArray(o.issues) &&
    (o.links === undefined || Array.isArray(o.links)) &&
    !!stats &&
    typeof stats.entries === 'number' &&
    typeof stats.bytes === 'number'
  );
}

export class MemoryLayerCache implements LayerCache {
  private readonly map = new Map<string, string>();
  hits = 0;
  misses = 0;
  async get(key: string): Promise<LayerIndex | undefined> {
    const s = this.map.get(key);
    if (s === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    return JSON.parse(s) as LayerIndex; // a fresh copy: callers may not mutate the cached one
  }
  async put(key: string, index: LayerIndex): Promise<void> {
    this.map.set(key, JSON.stringify(index));
  }
  async getImage(key: string): Promise<ImageIndex | undefined> {
    const s = this.map.get(key);
    if (s === undefined) return undefined;
    return JSON.parse(s) as ImageIndex;
  }
  async putImage(key: string, index: ImageIndex): Promise<void> {
    this.map.set(key, JSON.stringify(index));
  }
  get size(): number {
    return this.map.size;
  }
}

/** One JSON file per key under `dir`; written to a temp file and renamed; an unreadable entry is a miss. */
export class FsLayerCache implements LayerCache {
  constructor(private readonly dir: string) {}

  private file(key: string): string {
    return join(this.dir, `${key.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
  }

  async get(key: string): Promise<LayerIndex | undefined> {
    return this.read(key, isLayerIndex);
  }

  async getImage(key: string): Promise<ImageIndex | undefined> {
    return this.read(key, isImageIndex);
  }

  private async read<T>(key: string, valid: (v: unknown) => v is T): Promise<T | undefined> {
    const f = this.file(key);
    let text: string;
    try {
      text = await readFile(f, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const v: unknown = JSON.parse(text);
      if (valid(v)) return v;
    } catch {
      /* corrupt: fall through */
    }
    await rm(f, { force: true }).catch(() => undefined);
    return undefined;
  }

  async putImage(key: string, index: ImageIndex): Promise<void> {
    await this.write(key, index);
  }

  async put(key: string, index: LayerIndex): Promise<void> {
    await this.write(key, index);
  }

  private async write(key: string, index: unknown): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const f = this.file(key);
    const tmp = `${f}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    try {
      await writeFile(tmp, JSON.stringify(index));
      await rename(tmp, f);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
  }
}
