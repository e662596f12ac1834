// The scanner's indexer: layer blobs → per-layer indexes (cached) → merged ImageIndex.
export { indexImage, layerRefs, type IndexImageOptions, type IndexProgress } from './indexer.ts';
export {
  readLayer,
  readLayerDetailed,
  detectCompression,
  resolveLimits,
  DEFAULT_LIMITS,
  type LayerLimits,
  type IndexedLayer,
  type LinkEntry,
  type ReadLayerOptions,
  type ReadLayerResult,
  type LayerProgress,
  type Compression,
} from './layer-reader.ts';
export { mergeLayers, packageKey, OS_FILE_PREFERENCE, type MergeOptions } from './merge.ts';
export { FsLayerCache, MemoryLayerCache, layerCacheKey, analyzerFingerprint, READER_VERSION } from './cache.ts';
export { normalizeEntryPath, resolveSymlinkTarget } from './paths.ts';

import { osReleaseAnalyzer } from '../analyzers/os-release.ts';
import { dpkgAnalyzer } from '../analyzers/dpkg.ts';
import { apkAnalyzer } from '../analyzers/apk.ts';
import { rpmAnalyzer, rpmLegacyDbAnalyzer } from '../analyzers/rpm.ts';
import type { FileAnalyzer } from '../types.ts';

/** The OS-level analyzers (OS detection, dpkg, apk, rpm). */
export const osAnalyzers: readonly FileAnalyzer[] = [osReleaseAnalyzer, dpkgAnalyzer, apkAnalyzer, rpmAnalyzer, rpmLegacyDbAnalyzer];
