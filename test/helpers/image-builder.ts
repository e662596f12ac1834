// Small container images built offline, by hand (tar + JSON), for the scanner's tests.
//
// Built on the ustar writer of ./images.ts (which makes the random-content images of the e2e
// suites); this one is for images whose *content* matters: given files (an os-release, a dpkg
// status, a package.json…), whiteouts and opaque directories, a chosen compression per layer
// (gzip, zstd, none), a config with User/Env/Cmd and a history, OCI or Docker media types,
// multi-platform indexes, and blobs left out of the layout (non-distributable layers).
//
//   const b = new ImageBuilder(dir);
//   const img = b.image({
//     platform: 'linux/amd64', user: 'app',
//     layers: [
//       { files: { 'etc/os-release': 'ID=debian\nVERSION_ID="12"\n' }, createdBy: 'ADD rootfs.tar /' },
//       { files: { 'app/secret.pem': pem }, compression: 'zstd' },
//       { whiteouts: ['app/secret.pem'], opaque: ['var/cache/apt'], compression: 'none' },
//     ],
//   });
//   b.tag('v1', img.descriptor);             // oci:<dir>:v1 for skopeo, <dir>:v1 for wharf scan
//   await b.write();
//
// or, for the common case, `await buildImageLayout(dir, { v1: {...}, multi: { platforms: [...] } })`.
// The same specs give the same bytes (fixed mtimes, deterministic compression), hence digests.
// Layer files are regular files unless given as { symlink } or { dir }; parent directories are
// added automatically. Paths are relative ("etc/passwd"), as in an image.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeTar, type TarEntry } from './images.ts';

export { readLayer, readTar, writeTar, type TarEntry } from './images.ts';

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type Compression = 'gzip' | 'zstd' | 'none';
export type Format = 'oci' | 'docker';

/** A file in a layer: its content (string = UTF-8), or `{content, mode}`, `{symlink}` or `{dir}`. */
export type FileSpec = string | Buffer | { content: string | Buffer; mode?: number } | { symlink: string } | { dir: true; mode?: number };

export interface LayerSpec {
  /** path → content; parent directories are added */
  files?: Record<string, FileSpec>;
  /** raw tar entries appended after `files` */
  entries?: TarEntry[];
  /** paths deleted by this layer: writes `<dir>/.wh.<name>` */
  whiteouts?: string[];
  /** directories made opaque by this layer: writes `<dir>/.wh..wh..opq` */
  opaque?: string[];
  /** default gzip */
  compression?: Compression;
  /** the history entry's created_by (default "test: layer <n>") */
  createdBy?: string;
  /** override the descriptor's media type (e.g. MEDIA.dockerForeignLayer) */
  mediaType?: string;
  /** keep the blob out of the layout (what a non-distributable layer looks like) */
  omitBlob?: boolean;
  /** descriptor urls (non-distributable layers) */
  urls?: string[];
}

export interface ImageSpec {
  layers: LayerSpec[];
  /** os/arch[/variant], default linux/amd64 */
  platform?: string;
  /** OCI (default) or Docker v2 schema 2 media types */
  format?: Format;
  user?: string;
  env?: string[];
  cmd?: string[];
  entrypoint?: string[];
  workingDir?: string;
  labels?: Record<string, string>;
  /** history entries (empty_layer) appended after the layers' ones, e.g. { created_by: 'USER app', empty_layer: true } */
  history?: { created_by: string; empty_layer?: boolean; comment?: string }[];
  /** extra top-level config fields */
  configExtra?: Record<string, unknown>;
  /** extra manifest fields (annotations, artifactType…) */
  manifestExtra?: Record<string, unknown>;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
  urls?: string[];
}

export interface BuiltLayer {
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar */
  diffId: string;
  /** the uncompressed tar */
  tar: Buffer;
  /** the blob as stored (compressed per spec) */
  blob: Buffer;
  entries: TarEntry[];
  createdBy: string;
}

export interface BuiltImage {
  descriptor: Descriptor;
  manifest: Record<string, unknown>;
  manifestBytes: Buffer;
  config: Descriptor;
  configJson: Record<string, any>;
  configBytes: Buffer;
  layers: BuiltLayer[];
}

export interface BuiltIndex {
  descriptor: Descriptor;
  index: Record<string, unknown>;
  indexBytes: Buffer;
  images: BuiltImage[];
}

export function sha256(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export function parsePlatform(p: string): { os: string; architecture: string; variant?: string } {
  const [os, architecture, variant] = p.split('/');
  return { os, architecture, ...(variant ? { variant } : {}) };
}

// ---------------------------------------------------------------------------------------------
// zstd

let zstdCli: boolean | undefined;

/**
 * zstd-compress: with the `zstd` tool when installed (real compressed blocks), else a valid frame
 * of raw (stored) blocks (RFC 8878 §3.1.1), which every decoder reads too.
 */
export function zstdCompress(data: Buffer): Buffer {
  zstdCli ??= spawnSync('zstd', ['--version']).status === 0;
  if (zstdCli) {
    const r = spawnSync('zstd', ['-q', '-c', '-3', '--no-progress'], { input: data, maxBuffer: 1 << 30 });
    if (r.status === 0) return r.stdout;
  }
  return zstdStoredFrame(data);
}

/** A zstd frame of raw blocks: magic, single-segment header with an 8-byte content size, blocks ≤ 128 KiB. */
export function zstdStoredFrame(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(13);
  head.writeUInt32LE(0xfd2fb528, 0);
  head[4] = 0xe0; // Frame_Content_Size_flag = 3 (8 bytes), Single_Segment_flag = 1
  head.writeBigUInt64LE(BigInt(data.length), 5);
  parts.push(head);
  const MAX = 128 * 1024;
  let off = 0;
  do {
    const n = Math.min(MAX, data.length - off);
    const last = off + n >= data.length ? 1 : 0;
    const bh = Buffer.alloc(3);
    bh.writeUIntLE(last | (0 << 1) | (n << 3), 0, 3); // Block_Type 0 = Raw
    parts.push(bh, data.subarray(off, off + n));
    off += n;
  } while (off < data.length);
  return Buffer.concat(parts);
}

export function compress(tar: Buffer, c: Compression): Buffer {
  return c === 'gzip' ? gzipSync(tar, { level: 6 }) : c === 'zstd' ? zstdCompress(tar) : tar;
}

function layerMediaType(c: Compression, format: Format): string {
  if (format === 'docker') return c === 'gzip' ? MEDIA.dockerLayerGzip : c === 'zstd' ? MEDIA.ociLayerZstd : MEDIA.dockerLayer;
  return c === 'gzip' ? MEDIA.ociLayerGzip : c === 'zstd' ? MEDIA.ociLayerZstd : MEDIA.ociLayer;
}

// ---------------------------------------------------------------------------------------------
// Layers

/** The tar entries of a layer spec, parents first, whiteouts and opaque markers last. */
export function layerTarEntries(spec: LayerSpec): TarEntry[] {
  const out: TarEntry[] = [];
  const dirs = new Set<string>();
  const addParents = (p: string) => {
    const parts = p.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        out.push({ type: 'dir', path: d });
      }
    }
  };
  for (const [raw, f] of Object.entries(spec.files ?? {})) {
    const p = raw.replace(/^\/+/, '');
    addParents(p);
    if (typeof f === 'string' || Buffer.isBuffer(f)) out.push({ type: 'file', path: p, content: Buffer.from(f) });
    else if ('symlink' in f) out.push({ type: 'symlink', path: p, target: f.symlink });
    else if ('dir' in f) {
      if (!dirs.has(p)) {
        dirs.add(p);
        out.push({ type: 'dir', path: p, mode: f.mode });
      }
    } else out.push({ type: 'file', path: p, content: Buffer.from(f.content), mode: f.mode });
  }
  out.push(...(spec.entries ?? []));
  for (const w of spec.whiteouts ?? []) {
    const p = w.replace(/^\/+|\/+$/g, '');
    addParents(p);
    const i = p.lastIndexOf('/');
    out.push({ type: 'file', path: `${i >= 0 ? p.slice(0, i + 1) : ''}.wh.${p.slice(i + 1)}`, content: Buffer.alloc(0) });
  }
  for (const o of spec.opaque ?? []) {
    const d = o.replace(/^\/+|\/+$/g, '');
    addParents(`${d}/x`);
    out.push({ type: 'file', path: `${d}/.wh..wh..opq`, content: Buffer.alloc(0) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The builder

const CREATED = '2024-01-01T00:00:00Z';

export class ImageBuilder {
  private readonly blobs = new Map<string, Buffer>();
  private readonly refs: Descriptor[] = [];
  private layerCount = 0;

  constructor(readonly dir: string) {}

  /** Add any blob to the layout; returns its descriptor. */
  blob(data: Buffer, mediaType: string): Descriptor {
    const digest = sha256(data);
    this.blobs.set(digest, data);
    return { mediaType, digest, size: data.length };
  }

  layer(spec: LayerSpec, format: Format = 'oci'): BuiltLayer {
    const entries = layerTarEntries(spec);
    const tar = writeTar(entries);
    const c = spec.compression ?? 'gzip';
    const blob = compress(tar, c);
    const mediaType = spec.mediaType ?? layerMediaType(c, format);
    const descriptor: Descriptor = spec.omitBlob ? { mediaType, digest: sha256(blob), size: blob.length } : this.blob(blob, mediaType);
    if (spec.urls) descriptor.urls = spec.urls;
    const n = this.layerCount++;
    return { descriptor, diffId: sha256(tar), tar, blob, entries, createdBy: spec.createdBy ?? `test: layer ${n}` };
  }

  image(spec: ImageSpec): BuiltImage {
    const format = spec.format ?? 'oci';
    const platform = parsePlatform(spec.platform ?? 'linux/amd64');
    const layers = spec.layers.map((l) => this.layer(l, format));
    const configJson: Record<string, any> = {
      created: CREATED,
      architecture: platform.architecture,
      ...(platform.variant ? { variant: platform.variant } : {}),
      os: platform.os,
      config: {
        ...(spec.user !== undefined ? { User: spec.user } : {}),
        Env: spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
        Cmd: spec.cmd ?? ['/bin/sh'],
        ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
        ...(spec.labels ? { Labels: spec.labels } : {}),
      },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: [...layers.map((l) => ({ created: CREATED, created_by: l.createdBy })), ...(spec.history ?? []).map((h) => ({ created: CREATED, ...h }))],
      ...(spec.configExtra ?? {}),
    };
    const configBytes = Buffer.from(JSON.stringify(configJson));
    const config = this.blob(configBytes, format === 'docker' ? MEDIA.dockerConfig : MEDIA.ociConfig);
    const manifest = {
      schemaVersion: 2,
      mediaType: format === 'docker' ? MEDIA.dockerManifest : MEDIA.ociManifest,
      config,
      layers: layers.map((l) => l.descriptor),
      ...(spec.manifestExtra ?? {}),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const d = this.blob(manifestBytes, manifest.mediaType);
    return { descriptor: { ...d, platform }, manifest, manifestBytes, config, configJson, configBytes, layers };
  }

  /** An OCI index (or, with format 'docker', a Docker manifest list) over images (their platforms). */
  index(images: BuiltImage[], opts: { format?: Format; annotations?: Record<string, string>; extraEntries?: Descriptor[] } = {}): BuiltIndex {
    const mediaType = opts.format === 'docker' ? MEDIA.dockerList : MEDIA.ociIndex;
    const index = {
      schemaVersion: 2,
      mediaType,
      manifests: [...images.map((im) => ({ mediaType: im.descriptor.mediaType, digest: im.descriptor.digest, size: im.descriptor.size, platform: im.descriptor.platform })), ...(opts.extraEntries ?? [])],
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
    };
    const indexBytes = Buffer.from(JSON.stringify(index));
    return { descriptor: this.blob(indexBytes, mediaType), index, indexBytes, images };
  }

  /** Name a manifest or index in index.json (`org.opencontainers.image.ref.name`). */
  tag(ref: string, d: Descriptor): void {
    this.refs.push({ mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: { 'org.opencontainers.image.ref.name': ref } });
  }

  /** An index.json entry as is (e.g. with a platform, without a ref name). */
  addIndexEntry(d: Descriptor): void {
    this.refs.push(d);
  }

  /** Every blob added so far (digest → bytes), e.g. to push them by hand. */
  allBlobs(): Map<string, Buffer> {
    return new Map(this.blobs);
  }

  async write(): Promise<void> {
    await mkdir(path.join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(path.join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    for (const [digest, data] of this.blobs) await writeFile(path.join(this.dir, 'blobs', 'sha256', digest.slice(7)), data);
    await writeFile(path.join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: this.refs }, null, 2));
  }
}

export type LayoutSpec = Record<string, ImageSpec | { platforms: ImageSpec[]; format?: Format }>;

/** Build an OCI layout with one ref per key: an image, or an index over `platforms`. */
export async function buildImageLayout(dir: string, spec: LayoutSpec): Promise<{ dir: string; builder: ImageBuilder; refs: Record<string, BuiltImage | BuiltIndex> }> {
  const b = new ImageBuilder(dir);
  const refs: Record<string, BuiltImage | BuiltIndex> = {};
  for (const [ref, s] of Object.entries(spec)) {
    const built = 'platforms' in s ? b.index(s.platforms.map((p) => b.image({ ...p, format: p.format ?? s.format })), { format: s.format }) : b.image(s);
    b.tag(ref, built.descriptor);
    refs[ref] = built;
  }
  await b.write();
  return { dir, builder: b, refs };
}

/**
 * Push built content to a registry by plain HTTP (monolithic blob uploads, then manifests in the
 * order given: children before their index). `auth` is an Authorization header value (Wharf takes
 * Basic on every request). For what skopeo will not push (e.g. Docker manifest lists from a layout).
 */
export async function pushRaw(
  url: string,
  repo: string,
  blobs: Iterable<[string, Buffer]>,
  manifests: { ref: string; bytes: Buffer; mediaType: string }[],
  auth?: string,
): Promise<void> {
  const h = (extra: Record<string, string> = {}) => ({ ...(auth ? { Authorization: auth } : {}), ...extra });
  for (const [digest, data] of blobs) {
    const start = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: h() });
    await start.arrayBuffer();
    if (start.status !== 202) throw new Error(`POST upload ${repo}: ${start.status}`);
    const loc = new URL(start.headers.get('location')!, url);
    loc.searchParams.set('digest', digest);
    const put = await fetch(loc, { method: 'PUT', headers: h({ 'Content-Type': 'application/octet-stream' }), body: new Uint8Array(data) });
    const text = await put.text();
    if (put.status !== 201) throw new Error(`PUT blob ${digest}: ${put.status} ${text.slice(0, 300)}`);
  }
  for (const m of manifests) {
    const r = await fetch(`${url}/v2/${repo}/manifests/${m.ref}`, { method: 'PUT', headers: h({ 'Content-Type': m.mediaType }), body: new Uint8Array(m.bytes) });
    const text = await r.text();
    if (r.status !== 201) throw new Error(`PUT manifest ${repo}:${m.ref}: ${r.status} ${text.slice(0, 300)}`);
  }
}
