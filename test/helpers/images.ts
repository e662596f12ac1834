// Offline test images for the real-client tests: a tiny ustar writer/reader, gzip via node:zlib,
// and an OCI image layout (oci-layout, index.json, blobs/sha256/...) holding a single-platform
// image and a multi-arch index. Everything is derived from a seed, so the same seed gives the
// same bytes (and so the same digests) on every run.
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export function sha256(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Deterministic bytes

/** Deterministic pseudo-random bytes: AES-128-CTR keystream keyed by sha256(seed). */
export function seededBytes(seed: string, length: number): Buffer {
  const key = createHash('sha256').update('wharf-test-key:' + seed).digest();
  const c = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return Buffer.concat([c.update(Buffer.alloc(length)), c.final()]);
}

/** Deterministic integer in [min, max] from a seed. */
export function seededInt(seed: string, min: number, max: number): number {
  const n = seededBytes(seed, 4).readUInt32BE(0);
  return min + (n % (max - min + 1));
}

// ---------------------------------------------------------------------------------------------
// tar

export type TarEntry =
  | { type: 'file'; path: string; content: Buffer; mode?: number; mtime?: number }
  | { type: 'dir'; path: string; mode?: number; mtime?: number }
  | { type: 'symlink'; path: string; target: string; mtime?: number };

const BLOCK = 512;
/** a fixed mtime (2020-01-01T00:00:00Z) so the same entries always give the same tar */
export const FIXED_MTIME = 1577836800;

function writeString(h: Buffer, off: number, len: number, s: string): void {
  const b = Buffer.from(s, 'utf8');
  if (b.length > len) throw new Error(`tar: "${s}" does not fit in ${len} bytes`);
  b.copy(h, off);
}

/** octal number, zero padded, NUL terminated, in a field of `len` bytes */
function writeOctal(h: Buffer, off: number, len: number, n: number): void {
  const s = Math.floor(n).toString(8).padStart(len - 1, '0');
  if (s.length > len - 1) throw new Error(`tar: ${n} does not fit in ${len} bytes`);
  writeString(h, off, len, s + '\0');
}

/** split a long path into ustar's prefix (155) + name (100) at a slash */
function splitName(p: string): { name: string; prefix: string } {
  if (Buffer.byteLength(p) <= 100) return { name: p, prefix: '' };
  for (let i = p.length - 1; i > 0; i--) {
    if (p[i] !== '/') continue;
    const prefix = p.slice(0, i);
    const name = p.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0) return { name, prefix };
  }
  throw new Error(`tar: path too long for ustar: ${p}`);
}

function tarHeader(e: TarEntry): Buffer {
  const h = Buffer.alloc(BLOCK);
  let p = e.path.replace(/^\/+/, '');
  if (e.type === 'dir' && !p.endsWith('/')) p += '/';
  const { name, prefix } = splitName(p);
  const size = e.type === 'file' ? e.content.length : 0;
  const mode = e.type === 'symlink' ? 0o777 : (e.mode ?? (e.type === 'dir' ? 0o755 : 0o644));
  writeString(h, 0, 100, name);
  writeOctal(h, 100, 8, mode);
  writeOctal(h, 108, 8, 0); // uid
  writeOctal(h, 116, 8, 0); // gid
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, e.mtime ?? FIXED_MTIME);
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  h[156] = (e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2').charCodeAt(0);
  if (e.type === 'symlink') writeString(h, 157, 100, e.target);
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  writeString(h, 265, 32, 'root');
  writeString(h, 297, 32, 'root');
  writeOctal(h, 329, 8, 0); // devmajor
  writeOctal(h, 337, 8, 0); // devminor
  writeString(h, 345, 155, prefix);
  let sum = 0;
  for (const b of h) sum += b;
  // six octal digits, NUL, space (the traditional layout)
  writeString(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** Serialize entries as a ustar archive (ending in two zero blocks). */
export function writeTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(tarHeader(e));
    if (e.type === 'file' && e.content.length > 0) {
      parts.push(e.content);
      const pad = (BLOCK - (e.content.length % BLOCK)) % BLOCK;
      if (pad) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

function readString(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul === -1 ? len : nul).toString('utf8');
}

function readOctal(b: Buffer, off: number, len: number): number {
  const s = readString(b, off, len).trim();
  return s ? parseInt(s, 8) : 0;
}

export interface ReadTarEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';
  mode: number;
  size: number;
  content?: Buffer;
  target?: string;
}

/** Parse a (ustar / GNU / PAX) tar archive enough to check what a client pulled. */
export function readTar(buf: Buffer): ReadTarEntry[] {
  const out: ReadTarEntry[] = [];
  let off = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  while (off + BLOCK <= buf.length) {
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break;
    const size = readOctal(h, 124, 12);
    const flag = String.fromCharCode(h[156] || 0x30);
    const data = buf.subarray(off + BLOCK, off + BLOCK + size);
    off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (flag === 'L') {
      longName = readString(data, 0, data.length);
      continue;
    }
    if (flag === 'K') {
      longLink = readString(data, 0, data.length);
      continue;
    }
    if (flag === 'x') {
      pax = {};
      let p = 0;
      const text = data.toString('utf8');
      while (p < text.length) {
        const sp = text.indexOf(' ', p);
        const len = parseInt(text.slice(p, sp), 10);
        const rec = text.slice(sp + 1, p + len - 1);
        const eq = rec.indexOf('=');
        pax[rec.slice(0, eq)] = rec.slice(eq + 1);
        p += len;
      }
      continue;
    }
    if (flag === 'g') continue;
    const prefix = readString(h, 345, 155);
    let name = readString(h, 0, 100);
    if (prefix) name = `${prefix}/${name}`;
    name = pax.path ?? longName ?? name;
    const target = pax.linkpath ?? longLink ?? readString(h, 157, 100);
    const type: ReadTarEntry['type'] =
      flag === '0' || flag === '\0' || flag === '7'
        ? 'file'
        : flag === '5'
          ? 'dir'
          : flag === '2'
            ? 'symlink'
            : flag === '1'
              ? 'hardlink'
              : 'other';
    const e: ReadTarEntry = { path: name.replace(/^\.\//, '').replace(/\/$/, ''), type, mode: readOctal(h, 100, 8), size };
    if (type === 'file') e.content = Buffer.from(data);
    if (type === 'symlink' || type === 'hardlink') e.target = target;
    out.push(e);
    longName = longLink = undefined;
    pax = {};
  }
  return out;
}

/** gunzip when the buffer starts with the gzip magic, then parse the tar */
export function readLayer(blob: Buffer): ReadTarEntry[] {
  const raw = blob[0] === 0x1f && blob[1] === 0x8b ? gunzipSync(blob) : blob;
  return readTar(raw);
}

/** { path: content } of the regular files in a layer, for comparing what went in with what came out */
export function layerFiles(blob: Buffer): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  for (const e of readLayer(blob)) if (e.type === 'file' && e.content) files[e.path] = e.content;
  return files;
}

// ---------------------------------------------------------------------------------------------
// OCI image layout

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface BuiltLayer {
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar (what goes in rootfs.diff_ids; docker's RootFS.Layers) */
  diffId: string;
  entries: TarEntry[];
  /** path -> content of each regular file */
  files: Record<string, Buffer>;
  blob: Buffer;
}

export interface BuiltImage {
  /** descriptor of the manifest (what a client reports as the image digest) */
  descriptor: Descriptor;
  manifest: Record<string, unknown>;
  manifestBytes: Buffer;
  config: Descriptor;
  configJson: Record<string, any>;
  configBytes: Buffer;
  layers: BuiltLayer[];
  platform: Platform;
  /** sha256 of the config: docker's and podman's image ID */
  imageId: string;
}

export interface BuiltIndex {
  descriptor: Descriptor;
  index: Record<string, unknown>;
  indexBytes: Buffer;
  images: BuiltImage[];
}

/** Canonical-ish JSON: stable key order (insertion order, which we control), no whitespace. */
function json(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v));
}

export interface LayerSpec {
  /** seed for the random file contents */
  seed: string;
  /** number of random files (default 3) */
  files?: number;
  /** size range of each random file (default 1 KiB .. 96 KiB) */
  minSize?: number;
  maxSize?: number;
  /** extra fixed entries */
  extra?: TarEntry[];
}

/** Entries of one random layer: a directory named after the seed with files of random content and a symlink. */
export function layerEntries(spec: LayerSpec): TarEntry[] {
  const dir = `data/${spec.seed.replace(/[^A-Za-z0-9._-]/g, '_')}`;
  const entries: TarEntry[] = [
    { type: 'dir', path: 'data' },
    { type: 'dir', path: dir },
  ];
  const n = spec.files ?? 3;
  for (let i = 0; i < n; i++) {
    const size = seededInt(`${spec.seed}/size/${i}`, spec.minSize ?? 1024, spec.maxSize ?? 96 * 1024);
    entries.push({ type: 'file', path: `${dir}/file-${i}.bin`, content: seededBytes(`${spec.seed}/file/${i}`, size) });
  }
  entries.push({ type: 'file', path: `${dir}/README`, content: Buffer.from(`layer ${spec.seed}\n`), mode: 0o644 });
  entries.push({ type: 'symlink', path: `${dir}/link-to-readme`, target: 'README' });
  if (spec.extra) entries.push(...spec.extra);
  return entries;
}

export class OciLayoutBuilder {
  private blobs = new Map<string, Buffer>();
  private refs: Descriptor[] = [];

  constructor(readonly dir: string) {}

  addBlob(data: Buffer, mediaType: string): Descriptor {
    const digest = sha256(data);
    this.blobs.set(digest, data);
    return { mediaType, digest, size: data.length };
  }

  layer(spec: LayerSpec | TarEntry[]): BuiltLayer {
    const entries = Array.isArray(spec) ? spec : layerEntries(spec);
    const tar = writeTar(entries);
    const blob = gzipSync(tar, { level: 6 });
    const descriptor = this.addBlob(blob, MT.ociLayerGzip);
    const files: Record<string, Buffer> = {};
    for (const e of entries) if (e.type === 'file') files[e.path.replace(/^\/+/, '')] = e.content;
    return { descriptor, diffId: sha256(tar), entries, files, blob };
  }

  image(opts: { layers: BuiltLayer[]; platform?: Platform; name?: string; labels?: Record<string, string> }): BuiltImage {
    const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
    const created = '2020-01-01T00:00:00Z';
    const configJson: Record<string, any> = {
      created,
      architecture: platform.architecture,
      ...(platform.variant ? { variant: platform.variant } : {}),
      os: platform.os,
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Cmd: ['/bin/sh'],
        WorkingDir: '/data',
        Labels: { 'org.opencontainers.image.title': opts.name ?? 'wharf-test', ...(opts.labels ?? {}) },
      },
      rootfs: { type: 'layers', diff_ids: opts.layers.map((l) => l.diffId) },
      history: [
        ...opts.layers.map((l, i) => ({
          created,
          created_by: `wharf-test: add layer ${i} (${l.descriptor.digest.slice(7, 19)})`,
        })),
        { created, created_by: 'wharf-test: CMD ["/bin/sh"]', empty_layer: true },
      ],
    };
    const configBytes = json(configJson);
    const config = this.addBlob(configBytes, MT.ociConfig);
    const manifest = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config,
      layers: opts.layers.map((l) => l.descriptor),
      annotations: { 'org.opencontainers.image.title': opts.name ?? 'wharf-test' },
    };
    const manifestBytes = json(manifest);
    const descriptor = this.addBlob(manifestBytes, MT.ociManifest);
    return {
      descriptor: { ...descriptor, platform },
      manifest,
      manifestBytes,
      config,
      configJson,
      configBytes,
      layers: opts.layers,
      platform,
      imageId: config.digest,
    };
  }

  index(images: BuiltImage[], annotations?: Record<string, string>): BuiltIndex {
    const index = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: images.map((im) => ({
        mediaType: MT.ociManifest,
        digest: im.descriptor.digest,
        size: im.descriptor.size,
        platform: im.platform,
      })),
      ...(annotations ? { annotations } : {}),
    };
    const indexBytes = json(index);
    const descriptor = this.addBlob(indexBytes, MT.ociIndex);
    return { descriptor, index, indexBytes, images };
  }

  /** Name a manifest or index in index.json (skopeo: oci:<dir>:<ref>). */
  tag(ref: string, d: Descriptor): void {
    this.refs.push({
      mediaType: d.mediaType,
      digest: d.digest,
      size: d.size,
      annotations: { 'org.opencontainers.image.ref.name': ref },
    });
  }

  async write(): Promise<void> {
    const blobDir = path.join(this.dir, 'blobs', 'sha256');
    await mkdir(blobDir, { recursive: true });
    await writeFile(path.join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    for (const [digest, data] of this.blobs) await writeFile(path.join(blobDir, digest.slice(7)), data);
    await writeFile(
      path.join(this.dir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: this.refs }, null, 2),
    );
  }
}

export interface TestImages {
  /** the OCI layout directory */
  dir: string;
  /** oci:<dir>:<ref> for each named ref */
  ref(name: 'single' | 'multi' | 'derived' | 'arm64'): string;
  /** linux/amd64, 3 layers; its first layer is the shared base */
  single: BuiltImage;
  /** linux/amd64, shares the first two layers of `single`, adds one of its own */
  derived: BuiltImage;
  /** index over linux/amd64 + linux/arm64 (both on the shared base layer) */
  multi: BuiltIndex;
  /** the shared base layer */
  base: BuiltLayer;
  seed: string;
}

/**
 * Build the standard set of test images into `dir` (an OCI image layout). The same seed gives
 * the same digests; different seeds give images that share nothing.
 */
export async function buildTestImages(dir: string, seed = 'wharf'): Promise<TestImages> {
  const b = new OciLayoutBuilder(dir);
  const base = b.layer({
    seed: `${seed}-base`,
    files: 3,
    extra: [
      { type: 'dir', path: 'etc' },
      { type: 'file', path: 'etc/os-release', content: Buffer.from(`NAME="Wharf Test"\nID=wharf-test\nSEED=${seed}\n`) },
    ],
  });
  const mid = b.layer({ seed: `${seed}-mid`, files: 2 });
  const top = b.layer({ seed: `${seed}-top`, files: 4, maxSize: 200 * 1024 });
  const single = b.image({ layers: [base, mid, top], name: `${seed}-single` });
  const extra = b.layer({ seed: `${seed}-derived`, files: 2 });
  const derived = b.image({ layers: [base, mid, extra], name: `${seed}-derived` });
  const amdTop = b.layer({ seed: `${seed}-multi-amd64`, files: 2 });
  const armTop = b.layer({ seed: `${seed}-multi-arm64`, files: 2 });
  const amd = b.image({ layers: [base, amdTop], platform: { os: 'linux', architecture: 'amd64' }, name: `${seed}-multi` });
  const arm = b.image({
    layers: [base, armTop],
    platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    name: `${seed}-multi`,
  });
  const multi = b.index([amd, arm], { 'org.opencontainers.image.title': `${seed}-multi` });
  b.tag('single', single.descriptor);
  b.tag('derived', derived.descriptor);
  b.tag('multi', multi.descriptor);
  b.tag('arm64', arm.descriptor);
  await b.write();
  return { dir, ref: (name) => `oci:${dir}:${name}`, single, derived, multi, base, seed };
}

/**
 * An OCI layout `dir` with one image (ref "large"): a small layer plus one holding a single
 * incompressible file of `bytes` bytes, for exercising streaming of big uploads and downloads.
 */
export async function buildLargeImage(dir: string, seed: string, bytes: number): Promise<{ dir: string; ref: string; image: BuiltImage }> {
  const b = new OciLayoutBuilder(dir);
  const small = b.layer({ seed: `${seed}-large-small`, files: 1 });
  const big = b.layer([
    { type: 'dir', path: 'big' },
    { type: 'file', path: 'big/blob.bin', content: seededBytes(`${seed}-large`, bytes) },
  ]);
  const image = b.image({ layers: [small, big], name: `${seed}-large` });
  b.tag('large', image.descriptor);
  await b.write();
  return { dir, ref: `oci:${dir}:large`, image };
}

// ---------------------------------------------------------------------------------------------
// Reading what clients wrote

export interface LayoutContents {
  index: { manifests: Descriptor[] };
  blob(digest: string): Promise<Buffer>;
  /** descriptor of the manifest named `ref` (or the only one when ref is omitted) */
  manifestFor(ref?: string): Descriptor;
}

/** Open an OCI layout that a client (skopeo copy ... oci:dir:ref) wrote. */
export async function openLayout(dir: string): Promise<LayoutContents> {
  const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8'));
  return {
    index,
    blob: (digest) => readFile(path.join(dir, 'blobs', ...digest.split(':'))),
    manifestFor(ref) {
      const ms: Descriptor[] = index.manifests ?? [];
      const m = ref ? ms.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === ref) : ms.length === 1 ? ms[0] : undefined;
      if (!m) throw new Error(`no manifest ${ref ?? '(only)'} in ${dir}/index.json: ${JSON.stringify(ms)}`);
      return m;
    },
  };
}
