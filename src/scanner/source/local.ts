// An image in Wharf's own storage, read directly (no HTTP, no auth: whoever runs this reads the
// data dir): manifests and tags from the metadata store, blobs from the blob driver, always
// through the repository (a manifest or blob must be in that repository, as a pull would see it).
import path from 'node:path';
import type { Readable } from 'node:stream';
import { openMetadata } from '../../metadata/open.ts';
import type { MetadataStore } from '../../metadata/store.ts';
import { PathNotFoundError, type BlobDriver } from '../../storage/driver.ts';
import { FsBlobDriver } from '../../storage/fs-driver.ts';
import { pathFor } from '../../storage/paths.ts';
import {
  ImageSourceError,
  blobsOf,
  isNonDistributable,
  nonDistributableError,
  notInImage,
  resolveManifest,
  splitDigest,
  verifyBytes,
  verifyingStream,
  type ContentFetcher,
  type ResolvedImageSource,
} from './common.ts';
import { parseRepoReference } from './reference.ts';

/** Wharf's storage: an open store + driver (in the server), or the config to open them (CLI). */
export type LocalStorage = { store: MetadataStore; driver: BlobDriver } | { config: { dataDir: string; databaseUrl: string } };

export interface LocalOptions {
  platform?: string;
  /** what openBlob verifies while streaming: the size (default; Wharf verified the digest on push) or the digest */
  verify?: 'digest' | 'size';
  name?: string;
}

function blobKey(digest: string): string {
  const { algorithm, hex } = splitDigest(digest);
  return pathFor({ kind: 'blob', digest: { algorithm, hex, digest } });
}

/**
 * Open `project/repo:tag` or `project/repo@digest` (optionally prefixed `wharf://`) in Wharf's
 * storage. With `{config}` the store is opened here and closed by `close()`.
 */
export async function openLocalImage(ref: string, storage: LocalStorage, opts: LocalOptions = {}): Promise<ResolvedImageSource> {
  const name = opts.name ?? ref;
  const { repository, tag, digest } = parseRepoReference(ref.replace(/^wharf:\/\//, ''));
  let store: MetadataStore;
  let driver: BlobDriver;
  let owned = false;
  if ('config' in storage) {
    store = await openMetadata(storage.config.databaseUrl);
    driver = new FsBlobDriver(path.join(storage.config.dataDir, 'storage'));
    owned = true;
  } else {
    ({ store, driver } = storage);
  }
  const close = async () => {
    if (owned) await store.close();
  };
  try {
    const rec = digest ? await store.getManifestByDigest(repository, digest) : await store.getManifestByTag(repository, tag ?? 'latest');
    if (!rec) {
      if (!(await store.getRepository(repository))) throw new ImageSourceError('NOT_FOUND', `repository ${repository} not found in Wharf's storage`);
      throw new ImageSourceError('MANIFEST_UNKNOWN', `manifest unknown: ${repository}${digest ? `@${digest}` : `:${tag ?? 'latest'}`}`);
    }
    verifyBytes(rec.content, { digest: rec.digest }, 'stored manifest');
    const readSmall = async (d: { digest: string; size: number }, max: number): Promise<Buffer> => {
      const linked = await store.getLinkedBlob(repository, d.digest);
      if (!linked) throw new ImageSourceError('BLOB_UNKNOWN', `blob ${d.digest} is not in repository ${repository}`);
      if (linked.size > max) throw new ImageSourceError('UNSUPPORTED', `blob ${d.digest} is larger than ${max} bytes`);
      return driver.getContent(blobKey(d.digest));
    };
    const fetcher: ContentFetcher = {
      async manifest(d) {
        const m = await store.getManifestByDigest(repository, d.digest);
        if (!m) throw new ImageSourceError('MANIFEST_UNKNOWN', `manifest unknown: ${repository}@${d.digest} (listed in the index)`);
        return { bytes: m.content, contentType: m.mediaType };
      },
      blob: readSmall,
    };
    const r = await resolveManifest({ bytes: rec.content, contentType: rec.mediaType, digest: rec.digest }, fetcher, { platform: opts.platform, what: name });
    const blobs = blobsOf(r);
    return {
      kind: 'wharf',
      name,
      ...r,
      repository,
      tag: digest ? undefined : (tag ?? 'latest'),
      async openBlob(d: string): Promise<Readable> {
        const desc = blobs.get(d);
        if (!desc) throw notInImage(d, name);
        const linked = await store.getLinkedBlob(repository, d);
        if (!linked) {
          if (isNonDistributable(desc.mediaType)) throw nonDistributableError(desc, `repository ${repository}`);
          throw new ImageSourceError('BLOB_UNKNOWN', `blob ${d} is not in repository ${repository}`);
        }
        const key = blobKey(d);
        const st = await driver.stat(key);
        if (!st) throw new ImageSourceError('BLOB_UNKNOWN', `blob ${d} is recorded but its bytes are missing from storage`);
        if (st.size !== desc.size) throw new ImageSourceError('SIZE_MISMATCH', `blob ${d}: stored size ${st.size} does not match the manifest's ${desc.size}`);
        let s: Readable;
        try {
          s = await driver.reader(key);
        } catch (e) {
          if (e instanceof PathNotFoundError) throw new ImageSourceError('BLOB_UNKNOWN', `blob ${d} is recorded but its bytes are missing from storage`);
          throw e;
        }
        return verifyingStream(s, desc, `blob ${repository}@`, opts.verify ?? 'size');
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
