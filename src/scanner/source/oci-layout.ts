// An OCI image layout directory (image-spec image-layout.md): `oci-layout`, `index.json`,
// `blobs/<alg>/<hex>`. Which image: `ref` (the `org.opencontainers.image.ref.name` annotation of
// an index.json entry; also matched against containerd's `io.containerd.image.name`), or the only
// entry; entries that all carry a platform are chosen from by platform like an index.
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  ANNOTATION_REF_NAME,
  ImageSourceError,
  MAX_MANIFEST_BYTES,
  blobsOf,
  isNonDistributable,
  nonDistributableError,
  notInImage,
  resolveManifest,
  selectPlatform,
  splitDigest,
  verifyBytes,
  verifyingStream,
  type ContentFetcher,
  type IndexEntry,
  type ResolvedImageSource,
} from './common.ts';

export interface OciLayoutOptions {
  /** the ref name in index.json (the `:tag` of `dir:tag`) */
  ref?: string;
  /** os/arch[/variant]; default linux/amd64, else the only image */
  platform?: string;
  /** what openBlob verifies while streaming: the digest (default) or only the size */
  verify?: 'digest' | 'size';
  /** shown in messages and as ImageSource.name (default: the directory) */
  name?: string;
}

/** Is `dir` an OCI image layout (has `oci-layout` and `index.json`)? */
export async function isOciLayout(dir: string): Promise<boolean> {
  try {
    const [a, b, c] = await Promise.all([stat(dir), stat(path.join(dir, 'oci-layout')), stat(path.join(dir, 'index.json'))]);
    return a.isDirectory() && b.isFile() && c.isFile();
  } catch {
    return false;
  }
}

function blobPath(dir: string, digest: string): string {
  const { algorithm, hex } = splitDigest(digest); // validated: no path tricks
  return path.join(dir, 'blobs', algorithm, hex);
}

async function readBlob(dir: string, d: { digest: string; size: number; mediaType?: string; urls?: string[] }, maxBytes: number, what: string): Promise<Buffer> {
  if (d.size > maxBytes) throw new ImageSourceError('UNSUPPORTED', `${what} ${d.digest} is larger than ${maxBytes} bytes`);
  try {
    return await readFile(blobPath(dir, d.digest));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ImageSourceError('BLOB_UNKNOWN', `${what} ${d.digest} is missing from the OCI layout ${dir}`);
    throw e;
  }
}

export async function openOciLayout(dir: string, opts: OciLayoutOptions = {}): Promise<ResolvedImageSource> {
  const name = opts.name ?? (opts.ref ? `${dir}:${opts.ref}` : dir);
  if (!(await isOciLayout(dir))) throw new ImageSourceError('NOT_FOUND', `${dir} is not an OCI image layout (no oci-layout and index.json)`);
  let layoutVersion: unknown;
  try {
    layoutVersion = JSON.parse(await readFile(path.join(dir, 'oci-layout'), 'utf8')).imageLayoutVersion;
  } catch {
    throw new ImageSourceError('UNSUPPORTED', `${dir}/oci-layout is not valid JSON`);
  }
  if (typeof layoutVersion !== 'string' || !layoutVersion.startsWith('1.')) throw new ImageSourceError('UNSUPPORTED', `${dir}: unsupported imageLayoutVersion ${JSON.stringify(layoutVersion)}`);
  const indexBytes = await readFile(path.join(dir, 'index.json'));
  if (indexBytes.length > MAX_MANIFEST_BYTES) throw new ImageSourceError('UNSUPPORTED', `${dir}/index.json is too large`);
  let index: { manifests?: IndexEntry[] };
  try {
    index = JSON.parse(indexBytes.toString('utf8'));
  } catch (e) {
    throw new ImageSourceError('UNSUPPORTED', `${dir}/index.json is not valid JSON: ${(e as Error).message}`);
  }
  const all = Array.isArray(index.manifests) ? index.manifests : [];
  if (!all.length) throw new ImageSourceError('MANIFEST_UNKNOWN', `${dir}/index.json lists no images`);

  const refOf = (e: IndexEntry) => e.annotations?.[ANNOTATION_REF_NAME];
  let candidates = all;
  if (opts.ref !== undefined) {
    candidates = all.filter((e) => refOf(e) === opts.ref || e.annotations?.['io.containerd.image.name'] === opts.ref);
    if (!candidates.length) {
      const refs = [...new Set(all.map(refOf).filter(Boolean))];
      throw new ImageSourceError('MANIFEST_UNKNOWN', `manifest unknown: no image named ${JSON.stringify(opts.ref)} in ${dir} (available: ${refs.join(', ') || 'none named'})`);
    }
  }
  let entry: IndexEntry;
  if (candidates.length === 1) entry = candidates[0];
  else if (candidates.every((e) => e.platform)) entry = selectPlatform(candidates, opts.platform, name);
  else {
    const refs = [...new Set(candidates.map(refOf).filter(Boolean))];
    throw new ImageSourceError('INVALID_REFERENCE', `${dir} holds ${candidates.length} images; choose one with ${dir}:<ref> (available: ${refs.join(', ') || 'none named'})`);
  }

  const fetcher: ContentFetcher = {
    manifest: async (d) => ({ bytes: await readBlob(dir, d, MAX_MANIFEST_BYTES, 'manifest'), contentType: d.mediaType }),
    blob: (d, max) => readBlob(dir, d, max, 'config'),
  };
  const rootBytes = await fetcher.manifest(entry);
  verifyBytes(rootBytes.bytes, entry, 'manifest');
  const r = await resolveManifest({ ...rootBytes, digest: entry.digest }, fetcher, { platform: opts.platform, what: name });
  const blobs = blobsOf(r);
  return {
    kind: 'oci-layout',
    name,
    ...r,
    tag: opts.ref,
    async openBlob(digest) {
      const d = blobs.get(digest);
      if (!d) throw notInImage(digest, name);
      const file = blobPath(dir, digest);
      const st = await stat(file).catch(() => null);
      if (!st) {
        if (isNonDistributable(d.mediaType)) throw nonDistributableError(d, `the OCI layout ${dir}`);
        throw new ImageSourceError('BLOB_UNKNOWN', `blob ${digest} is missing from the OCI layout ${dir}`);
      }
      if (st.size !== d.size) throw new ImageSourceError('SIZE_MISMATCH', `blob ${digest} in ${dir}: size ${st.size} does not match the manifest's ${d.size}`);
      return verifyingStream(createReadStream(file), d, `blob in ${dir}`, opts.verify);
    },
  };
}
