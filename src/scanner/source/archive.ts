// An image in a tar archive (optionally gzip-compressed): an OCI layout in a tar (`oci-archive`,
// and `docker save` from Docker 25 on, which writes both formats) or the legacy `docker save`
// format (`manifest.json` + config JSON + uncompressed layer tars). The archive is unpacked into a
// private temp directory (regular files only; symlinks are resolved by name inside the archive;
// no path may leave the directory), removed by close(). Unpacking is bounded: at most
// `maxUnpackedBytes` of regular-file content (default max(4 GiB, 8 × the archive's size), the
// sizes declared in the tar headers, checked before a file is written) and `maxEntries` tar entries
// of any type (default 100,000); past either limit the archive is refused and the temp directory
// removed, so a tar (or gzip) bomb cannot fill the temp file system or its inodes.
//
// Legacy docker-save archives have no registry manifest: the source describes one (a Docker v2
// schema 2 manifest of the config and layer files, digests computed here), so manifestDigest is
// that of the described manifest, not of any manifest a registry ever served.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { MT } from '../../oci/media-types.ts';
import { ImageSourceError, MAX_CONFIG_BYTES, digestBytes, verifyingStream, type ResolvedImageSource } from './common.ts';
import { isOciLayout, openOciLayout } from './oci-layout.ts';

export interface ArchiveOptions {
  ref?: string;
  platform?: string;
  verify?: 'digest' | 'size';
  name?: string;
  /** limit on the bytes of regular files unpacked (default max(4 GiB, 8 × the archive's size)) */
  maxUnpackedBytes?: number;
  /** limit on the number of tar entries (default 100,000) */
  maxEntries?: number;
}

export const DEFAULT_MIN_UNPACKED_BYTES = 4 * 1024 ** 3;
/** the default byte limit is this many times the archive's size, when that is more than 4 GiB */
export const DEFAULT_UNPACK_RATIO = 8;
export const DEFAULT_MAX_ENTRIES = 100_000;

interface DockerSaveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** the entries of a docker-save manifest.json, checked; Error (with what is wrong) otherwise */
function checkDockerManifest(v: unknown): DockerSaveEntry[] {
  if (!Array.isArray(v)) throw new Error('not a JSON array');
  if (!v.length) throw new Error('no images');
  v.forEach((e: unknown, i) => {
    const at = `image ${i + 1}`;
    if (!e || typeof e !== 'object' || Array.isArray(e)) throw new Error(`${at} is not an object`);
    const o = e as Record<string, unknown>;
    if (typeof o.Config !== 'string' || !o.Config) throw new Error(`${at}: Config is not a file name`);
    if (!Array.isArray(o.Layers) || !o.Layers.every((l) => typeof l === 'string' && l)) throw new Error(`${at}: Layers is not a list of file names`);
    if (o.RepoTags != null && (!Array.isArray(o.RepoTags) || !o.RepoTags.every((t) => typeof t === 'string'))) throw new Error(`${at}: RepoTags is not a list of strings`);
  });
  return v as DockerSaveEntry[];
}

/** a name inside the archive, normalised; null when it would leave the root */
function safeName(name: string): string | null {
  const n = path.posix.normalize(name.replace(/^\.\/+/, ''));
  if (!n || n === '.' || n.startsWith('../') || n === '..' || path.posix.isAbsolute(n)) return null;
  return n.replace(/\/+$/, '');
}

async function unpack(file: string, dest: string, limits: { maxBytes: number; maxEntries: number }): Promise<Map<string, string>> {
  const links = new Map<string, string>();
  const head = Buffer.alloc(2);
  const fh = await open(file, 'r');
  try {
    await fh.read(head, 0, 2, 0);
  } finally {
    await fh.close();
  }
  const ex = tar.extract();
  const src = createReadStream(file);
  const feeding = head[0] === 0x1f && head[1] === 0x8b ? pipeline(src, createGunzip(), ex) : pipeline(src, ex);
  feeding.catch(() => undefined);
  let entries = 0;
  let bytes = 0;
  try {
    for await (const entry of ex) {
      const h = entry.header;
      if (++entries > limits.maxEntries) {
        throw new ImageSourceError('UNSUPPORTED', `${file}: the archive has more than ${limits.maxEntries} entries (the limit; not unpacked)`);
      }
      const name = safeName(h.name);
      if (name && (h.type === 'file' || h.type === 'contiguous-file')) {
        bytes += h.size ?? 0;
        if (bytes > limits.maxBytes) {
          throw new ImageSourceError('UNSUPPORTED', `${file}: the archive unpacks to more than ${limits.maxBytes} bytes (the limit; not unpacked)`);
        }
        const out = path.join(dest, name);
        await mkdir(path.dirname(out), { recursive: true });
        await pipeline(entry, createWriteStream(out, { flags: 'wx' }));
        continue;
      }
      if (name && (h.type === 'symlink' || h.type === 'link') && h.linkname) {
        const target = h.type === 'symlink' ? path.posix.join(path.posix.dirname(name), h.linkname) : h.linkname;
        const t = safeName(target);
        if (t) links.set(name, t);
      }
      entry.resume();
    }
    await feeding;
  } catch (e) {
    src.destroy();
    if (e instanceof ImageSourceError) throw e;
    throw new ImageSourceError('UNSUPPORTED', `${file} is not a readable image archive: ${(e as Error).message}`);
  }
  return links;
}

function resolveLink(name: string, links: Map<string, string>): string {
  let n = name;
  for (let i = 0; i < 16 && links.has(n); i++) n = links.get(n)!;
  return n;
}

async function fileDigest(p: string): Promise<{ digest: string; size: number; head: Buffer }> {
  const h = createHash('sha256');
  let size = 0;
  let head = Buffer.alloc(0);
  for await (const chunk of createReadStream(p) as AsyncIterable<Buffer>) {
    if (head.length < 4) head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
    h.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size, head };
}

function layerType(head: Buffer): string {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'application/vnd.docker.image.rootfs.diff.tar.gzip';
  if (head.readUInt32LE(0) === 0xfd2fb528) return 'application/vnd.oci.image.layer.v1.tar+zstd';
  return 'application/vnd.docker.image.rootfs.diff.tar';
}

export async function openImageArchive(file: string, opts: ArchiveOptions = {}): Promise<ResolvedImageSource> {
  const st = await stat(file).catch(() => null);
  if (!st?.isFile()) throw new ImageSourceError('NOT_FOUND', `${file}: no such file`);
  const name = opts.name ?? file;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-scan-archive-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const links = await unpack(file, dir, {
      maxBytes: opts.maxUnpackedBytes ?? Math.max(DEFAULT_MIN_UNPACKED_BYTES, DEFAULT_UNPACK_RATIO * st.size),
      maxEntries: opts.maxEntries ?? DEFAULT_MAX_ENTRIES,
    });
    if (await isOciLayout(dir)) {
      const src = await openOciLayout(dir, { ref: opts.ref, platform: opts.platform, verify: opts.verify, name });
      return { ...src, kind: 'archive', close: cleanup };
    }
    const manifestFile = path.join(dir, 'manifest.json');
    if (!(await stat(manifestFile).catch(() => null))) throw new ImageSourceError('UNSUPPORTED', `${file} is neither an OCI archive (oci-layout, index.json) nor a docker save archive (manifest.json)`);
    let entries: DockerSaveEntry[];
    try {
      const mst = await stat(manifestFile);
      if (mst.size > MAX_CONFIG_BYTES) throw new Error(`larger than ${MAX_CONFIG_BYTES} bytes`);
      entries = checkDockerManifest(JSON.parse(await readFile(manifestFile, 'utf8')));
    } catch (e) {
      throw new ImageSourceError('UNSUPPORTED', `${file}: invalid manifest.json: ${(e as Error).message}`);
    }
    let entry = entries[0];
    if (opts.ref !== undefined) {
      const want = opts.ref;
      const found = entries.find((e) => (e.RepoTags ?? []).some((t) => t === want || t.endsWith(`/${want}`) || t.split('/').pop()?.split(':')[1] === want));
      if (!found) throw new ImageSourceError('MANIFEST_UNKNOWN', `manifest unknown: no image tagged ${JSON.stringify(want)} in ${file} (available: ${entries.flatMap((e) => e.RepoTags ?? []).join(', ') || 'none tagged'})`);
      entry = found;
    } else if (entries.length > 1) {
      throw new ImageSourceError('INVALID_REFERENCE', `${file} holds ${entries.length} images; choose one with ${file}:<tag> (available: ${entries.flatMap((e) => e.RepoTags ?? []).join(', ')})`);
    }
    const local = (n: string) => {
      const s = safeName(n);
      if (!s) throw new ImageSourceError('UNSUPPORTED', `${file}: invalid path ${JSON.stringify(n)} in manifest.json`);
      return path.join(dir, resolveLink(s, links));
    };
    const configPath = local(entry.Config);
    const cst = await stat(configPath).catch(() => null);
    if (!cst) throw new ImageSourceError('BLOB_UNKNOWN', `${file}: config ${entry.Config} is missing`);
    if (cst.size > MAX_CONFIG_BYTES) throw new ImageSourceError('UNSUPPORTED', `${file}: config is larger than ${MAX_CONFIG_BYTES} bytes`);
    const configBytes = await readFile(configPath);
    const configDescriptor = { mediaType: 'application/vnd.docker.container.image.v1+json', digest: digestBytes(configBytes), size: configBytes.length };
    let config: ResolvedImageSource['config'];
    try {
      config = JSON.parse(configBytes.toString('utf8'));
    } catch {
      throw new ImageSourceError('UNSUPPORTED', `${file}: the config is not JSON`);
    }
    const files = new Map<string, string>();
    const layers = [];
    for (const l of entry.Layers) {
      const p = local(l);
      if (!(await stat(p).catch(() => null))) throw new ImageSourceError('BLOB_UNKNOWN', `${file}: layer ${l} is missing`);
      const { digest, size, head } = await fileDigest(p);
      files.set(digest, p);
      layers.push({ mediaType: layerType(head), digest, size });
    }
    const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.DOCKER_MANIFEST, config: configDescriptor, layers }));
    files.set(configDescriptor.digest, configPath);
    const sizes = new Map([[configDescriptor.digest, configDescriptor], ...layers.map((l) => [l.digest, l] as const)]);
    return {
      kind: 'archive',
      name,
      manifestDigest: digestBytes(manifestBytes),
      manifestMediaType: MT.DOCKER_MANIFEST,
      manifestBytes,
      config,
      configDescriptor,
      configBytes,
      layers,
      platform: typeof config.os === 'string' && typeof config.architecture === 'string' ? { os: config.os, architecture: config.architecture } : undefined,
      tag: entry.RepoTags?.[0],
      async openBlob(digest) {
        const p = files.get(digest);
        const d = sizes.get(digest);
        if (!p || !d) throw new ImageSourceError('BLOB_UNKNOWN', `${digest} is not a layer or the config of ${name}`);
        return verifyingStream(createReadStream(p), d, `blob in ${file}`, opts.verify);
      },
      close: cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
