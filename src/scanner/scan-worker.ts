// The body of a server-side scan's worker thread (see ScanService.indexInWorker): reading and
// analysing the untrusted image happens here, under the thread's own heap limit and a wall-clock
// timeout enforced by the parent, so a hostile image cannot stall or crash the registry process.
// Matching against the vulnerability database stays in the parent.
import { parentPort, workerData } from 'node:worker_threads';
import { defaultAnalyzers } from './analyzers/index.ts';
import { FsLayerCache } from './indexer/cache.ts';
import { scanImage } from './scan.ts';
import { openLocalImage } from './source/local.ts';

export interface ScanWorkerInput {
  repository: string;
  digest: string;
  config: { dataDir: string; databaseUrl: string };
  cacheDir: string;
}

async function main(): Promise<void> {
  const input = workerData as ScanWorkerInput;
  // the report names only the digest: it is shared by every repository holding the image
  const source = await openLocalImage(`${input.repository}@${input.digest}`, { config: input.config }, { name: input.digest });
  try {
    const report = await scanImage(source, {
      analyzers: defaultAnalyzers(),
      cache: new FsLayerCache(input.cacheDir),
      onProgress: (p) => parentPort!.postMessage({ type: 'progress', message: `${p.phase}: ${p.message}` }),
    });
    parentPort!.postMessage({ type: 'done', report });
  } finally {
    await source.close?.();
  }
}

main().catch((e) => {
  parentPort!.postMessage({ type: 'error', message: String((e as Error)?.message ?? e) });
});
