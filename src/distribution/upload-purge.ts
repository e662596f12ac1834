// Removes upload sessions untouched for longer than maxAgeMs (and their data).
import type { Logger } from '../logger.ts';
import type { MetadataStore } from '../metadata/store.ts';
import type { BlobDriver } from '../storage/driver.ts';
import { pathFor } from '../storage/paths.ts';

export async function purgeUploads(
  store: MetadataStore,
  driver: BlobDriver,
  maxAgeMs: number,
  logger: Logger,
  onPurged: (id: string) => void = () => {},
  /** stops between sessions (what is purged so far stays purged) */
  signal?: AbortSignal,
): Promise<number> {
  const cutoff = Date.now() - maxAgeMs;
  let n = 0;
  for (const u of await store.listUploads()) {
    signal?.throwIfAborted();
    if (u.updatedAt >= cutoff) continue;
    // PATCHes do not touch the row; the data file's mtime says when the session last moved.
    const st = await driver.stat(pathFor({ kind: 'upload', id: u.id }));
    if (st && st.modTime.getTime() >= cutoff) continue;
    await store.deleteUpload(u.id);
    await driver.delete(pathFor({ kind: 'upload', id: u.id }));
    onPurged(u.id);
    n++;
  }
  if (n) logger.info('purged abandoned uploads', { count: n });
  return n;
}
