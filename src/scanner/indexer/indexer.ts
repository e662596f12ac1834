// indexImage: every layer of an ImageSource → LayerIndex (cached by digest + analyzer set +
// limits) → merged ImageIndex. Layers are read concurrently; a layer digest appearing twice is
// read once; a layer already in the cache is not opened at all. When the cache keeps merged
// indexes too (getImage/putImage), a rescan of the same layer list reads one entry and merges
// nothing; only the end-of-life status, which depends on the scan date, is computed again.
import type { FileAnalyzer, ImageConfig, ImageIndex, ImageSource, LayerCache, LayerRef } from '../types.ts';
import { eolOf } from '../analyzers/eol.ts';
import { imageCacheKey, layerCacheKey } from './cache.ts';
import { errMessage, readLayerDetailed, resolveLimits, type IndexedLayer, type LayerLimits } from './layer-reader.ts';
import { mergeLayers } from './merge.ts';

export type IndexProgress =
  | { type: 'layer-start'; index: number; total: number; digest: string; size: number; cached: boolean }
  | { type: 'layer-progress'; index: number; total: number; digest: string; compressedBytes: number; size: number; bytes: number; entries: number }
  | { type: 'layer-done'; index: number; total: number; digest: string; cached: boolean; bytes: number; entries: number; issues: number };

export interface IndexImageOptions {
  analyzers: FileAnalyzer[];
  cache?: LayerCache;
  /** layers read at the same time (default 2) */
  concurrency?: number;
  limits?: Partial<LayerLimits>;
  /** scan date for OsInfo.eol (default: now) */
  now?: Date;
  onProgress?(ev: IndexProgress): void;
}

/** LayerRefs from the manifest's layers and the config (diff_ids; history without empty layers). */
export function layerRefs(layers: readonly { digest: string }[], config: ImageConfig | undefined): LayerRef[] {
  const diffIds = Array.isArray(config?.rootfs?.diff_ids) ? config!.rootfs!.diff_ids : [];
  const history = Array.isArray(config?.history) ? config!.history! : [];
  const nonEmpty = history.filter((h) => h && typeof h === 'object' && !h.empty_layer);
  // history that does not line up with the layers (squashed, hand-made configs) is not used
  const useHistory = nonEmpty.length === layers.length;
  return layers.map((l, index) => {
    const ref: LayerRef = { index, digest: l.digest };
    const diffId = diffIds.length === layers.length ? diffIds[index] : undefined;
    if (typeof diffId === 'string') ref.diffId = diffId;
    const createdBy = useHistory ? nonEmpty[index]?.created_by : undefined;
    if (typeof createdBy === 'string' && createdBy !== '') ref.createdBy = createdBy;
    return ref;
  });
}

export async function indexImage(source: ImageSource, opts: IndexImageOptions): Promise<ImageIndex> {
  const limits = resolveLimits(opts.limits);
  const refs = layerRefs(source.layers, source.config);
  const total = source.layers.length;
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 2));
  const emit = (ev: IndexProgress) => {
    try {
      opts.onProgress?.(ev);
    } catch {
      /* progress never breaks a scan */
    }
  };

  const imageKey = opts.cache?.getImage && opts.cache.putImage ? imageCacheKey(refs, opts.analyzers, limits) : undefined;
  if (imageKey) {
    let hit: ImageIndex | undefined;
    try {
      hit = await opts.cache!.getImage!(imageKey);
    } catch {
      hit = undefined;
    }
    if (hit && hit.layers.length === total && hit.layers.every((l, i) => l.digest === refs[i]!.digest)) {
      source.layers.forEach((l, i) => {
        emit({ type: 'layer-start', index: i, total, digest: l.digest, size: l.size, cached: true });
        emit({ type: 'layer-done', index: i, total, digest: l.digest, cached: true, bytes: 0, entries: 0, issues: 0 });
      });
      if (hit.os) {
        // the one date-dependent part of a merge (mergeLayers sets nothing else from `now`)
        delete hit.os.eol;
        const eol = eolOf(hit.os, opts.now ?? new Date());
        if (eol) hit.os.eol = eol;
      }
      return hit;
    }
  }
  // only a merge of layers that were all read (or cached) completely is kept
  let imageCacheable = true;

  // one read per distinct digest
  const byDigest = new Map<string, Promise<IndexedLayer>>();
  const indexOne = async (i: number): Promise<IndexedLayer> => {
    const desc = source.layers[i]!;
    const key = layerCacheKey(desc.digest, opts.analyzers, limits);
    if (opts.cache) {
      let hit: IndexedLayer | undefined;
      try {
        hit = (await opts.cache.get(key)) as IndexedLayer | undefined;
      } catch {
        hit = undefined;
      }
      if (hit && hit.digest === desc.digest) {
        emit({ type: 'layer-start', index: i, total, digest: desc.digest, size: desc.size, cached: true });
        emit({ type: 'layer-done', index: i, total, digest: desc.digest, cached: true, bytes: hit.stats.bytes, entries: hit.stats.entries, issues: hit.issues.length });
        return hit;
      }
    }
    emit({ type: 'layer-start', index: i, total, digest: desc.digest, size: desc.size, cached: false });
    let index: IndexedLayer;
    let cacheable = true;
    try {
      const blob = await source.openBlob(desc.digest);
      const r = await readLayerDetailed(blob, {
        digest: desc.digest,
        analyzers: opts.analyzers,
        limits,
        onProgress: (p) => emit({ type: 'layer-progress', index: i, total, digest: desc.digest, size: desc.size, ...p }),
      });
      index = r.index;
      cacheable = r.cacheable;
    } catch (err) {
      index = {
        digest: desc.digest,
        files: [],
        whiteouts: [],
        opaqueDirs: [],
        issues: [{ message: `could not open the layer blob: ${errMessage(err)}` }],
        stats: { entries: 0, bytes: 0 },
      };
      cacheable = false;
    }
    if (!cacheable) imageCacheable = false;
    if (opts.cache && cacheable) {
      try {
        await opts.cache.put(key, index);
      } catch (err) {
        index.issues.push({ message: `layer cache write failed: ${errMessage(err)}` });
        imageCacheable = false;
      }
    }
    emit({ type: 'layer-done', index: i, total, digest: desc.digest, cached: false, bytes: index.stats.bytes, entries: index.stats.entries, issues: index.issues.length });
    return index;
  };

  const results: IndexedLayer[] = new Array(total);
  let nextLayer = 0;
  const worker = async () => {
    for (;;) {
      const i = nextLayer++;
      if (i >= total) return;
      const digest = source.layers[i]!.digest;
      let p = byDigest.get(digest);
      if (!p) {
        p = indexOne(i);
        byDigest.set(digest, p);
      }
      results[i] = await p;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(total, 1)) }, worker));
  const merged = mergeLayers(refs, results, { now: opts.now });
  if (imageKey && imageCacheable) {
    try {
      await opts.cache!.putImage!(imageKey, merged);
    } catch {
      /* the layer entries are kept; the next scan merges again */
    }
  }
  return merged;
}
