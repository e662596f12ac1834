// What every image source shares: the error type, digest/size verification (whole buffers and
// streams), platform parsing and selection in an index, and the manifest → config → layers
// resolution (image-spec manifest.md, image-index.md, config.md; Docker Image Manifest V2
// Schema 2 and manifest list). A source only knows how to fetch bytes by digest or by tag.
import { createHash } from 'node:crypto';
import { Transform, pipeline, type Readable } from 'node:stream';
import { MT, isNonDistributable } from '../../oci/media-types.ts';
import type { Descriptor, ImageConfig, ImageSource } from '../types.ts';

export type SourceErrorCode =
  | 'INVALID_REFERENCE'
  | 'NOT_FOUND'
  | 'MANIFEST_UNKNOWN'
  | 'BLOB_UNKNOWN'
  | 'UNAUTHORIZED'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'UNSUPPORTED'
  | 'PLATFORM_NOT_FOUND'
  | 'NOT_AN_IMAGE'
  | 'NON_DISTRIBUTABLE'
  | 'NETWORK'
  | 'REGISTRY_ERROR';

/** Every failure of a source; `message` is meant for the user (never holds credentials). */
export class ImageSourceError extends Error {
  constructor(
    readonly code: SourceErrorCode,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ImageSourceError';
  }
}

/** Manifests and indexes larger than this are refused (as the registry itself does). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Image configs larger than this are refused. */
export const MAX_CONFIG_BYTES = 32 * 1024 * 1024;
/** Nested indexes are followed this deep. */
const MAX_INDEX_DEPTH = 4;

export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';

export const IMAGE_CONFIG_TYPES = new Set<string>([MT.OCI_CONFIG, 'application/vnd.docker.container.image.v1+json']);

/** The Accept header for manifests: both image manifests and both index types. */
export const MANIFEST_ACCEPT = [MT.OCI_MANIFEST, MT.OCI_INDEX, MT.DOCKER_MANIFEST, MT.DOCKER_LIST].join(', ');

// ---------------------------------------------------------------------------------------------
// Digests

const ALGS: Record<string, number> = { sha256: 64, sha512: 128 };

/** Split and check a digest we can verify (sha256 / sha512); UNSUPPORTED otherwise. */
export function splitDigest(digest: string): { algorithm: 'sha256' | 'sha512'; hex: string } {
  const i = digest.indexOf(':');
  const algorithm = digest.slice(0, i);
  const hex = digest.slice(i + 1);
  if (i <= 0) throw new ImageSourceError('INVALID_REFERENCE', `invalid digest ${JSON.stringify(digest)}`);
  if (!(algorithm in ALGS)) throw new ImageSourceError('UNSUPPORTED', `unsupported digest algorithm ${algorithm} in ${digest} (sha256 and sha512 are supported)`);
  if (hex.length !== ALGS[algorithm] || !/^[a-f0-9]+$/.test(hex)) throw new ImageSourceError('INVALID_REFERENCE', `invalid digest ${JSON.stringify(digest)}`);
  return { algorithm: algorithm as 'sha256' | 'sha512', hex };
}

export function digestBytes(data: Uint8Array, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** Check bytes against a descriptor's digest (and size, when given). */
export function verifyBytes(data: Buffer, expected: { digest: string; size?: number }, what: string): void {
  const { algorithm } = splitDigest(expected.digest);
  if (expected.size !== undefined && expected.size !== data.length) {
    throw new ImageSourceError('SIZE_MISMATCH', `${what} ${expected.digest}: size ${data.length} does not match the expected ${expected.size}`);
  }
  const got = digestBytes(data, algorithm);
  if (got !== expected.digest) throw new ImageSourceError('DIGEST_MISMATCH', `${what}: content digest ${got} does not match ${expected.digest}`);
}

/**
 * Pass a blob stream through, hashing it: the stream fails (at its end) when the digest does not
 * match, and as soon as it grows past `size`. `mode: 'size'` checks only the length.
 */
export function verifyingStream(src: Readable, expected: { digest: string; size: number }, what: string, mode: 'digest' | 'size' = 'digest'): Readable {
  const hash = mode === 'digest' ? createHash(splitDigest(expected.digest).algorithm) : null;
  let n = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      if (n > expected.size) return cb(new ImageSourceError('SIZE_MISMATCH', `${what} ${expected.digest}: more than the expected ${expected.size} bytes`));
      hash?.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      if (n !== expected.size) return cb(new ImageSourceError('SIZE_MISMATCH', `${what} ${expected.digest}: ${n} bytes, expected ${expected.size}`));
      if (hash) {
        const got = `${splitDigest(expected.digest).algorithm}:${hash.digest('hex')}`;
        if (got !== expected.digest) return cb(new ImageSourceError('DIGEST_MISMATCH', `${what}: content digest ${got} does not match ${expected.digest}`));
      }
      cb();
    },
  });
  pipeline(src, t, () => undefined); // errors reach the consumer through t
  return t;
}

// ---------------------------------------------------------------------------------------------
// Platforms

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm', i686: '386', i386: '386' };

/** "linux/amd64", "linux/arm64/v8", "linux/arm/v7" → Platform (architecture aliases normalised). */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !p)) {
    throw new ImageSourceError('INVALID_REFERENCE', `invalid platform ${JSON.stringify(s)} (expected os/arch[/variant], e.g. linux/amd64)`);
  }
  const architecture = ARCH_ALIASES[parts[1]] ?? parts[1];
  return { os: parts[0], architecture, ...(parts[2] ? { variant: parts[2] } : {}) };
}

export function formatPlatform(p: Partial<Platform> | undefined): string {
  if (!p) return 'unknown';
  return [p.os ?? 'unknown', p.architecture ?? 'unknown', p.variant].filter(Boolean).join('/');
}

/** The variant a platform has when it names none (containerd's normalisation). */
function defaultVariant(arch: string): string | undefined {
  return arch === 'arm64' ? 'v8' : arch === 'arm' ? 'v7' : undefined;
}

export interface IndexEntry extends Descriptor {
  platform?: Platform;
  annotations?: Record<string, string>;
  urls?: string[];
}

/** Attestation manifests (BuildKit) and other non-runnable entries of an index. */
function isAttestation(e: IndexEntry): boolean {
  return e.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || (e.platform?.os === 'unknown' && e.platform?.architecture === 'unknown');
}

/**
 * Pick an index entry for a platform. An explicit `wanted` must match (os, architecture, and the
 * variant when it names one). Without one, linux/amd64 is preferred, else the only runnable entry;
 * otherwise PLATFORM_NOT_FOUND lists what there is.
 */
export function selectPlatform(entries: IndexEntry[], wanted: string | undefined, where: string): IndexEntry {
  const runnable = entries.filter((e) => !isAttestation(e));
  if (runnable.length === 0) throw new ImageSourceError('PLATFORM_NOT_FOUND', `${where}: the index lists no image manifests`);
  const want = parsePlatform(wanted ?? 'linux/amd64');
  const wantVariant = want.variant ?? defaultVariant(want.architecture);
  const matches = runnable.filter((e) => {
    const p = e.platform;
    if (!p || p.os !== want.os || (ARCH_ALIASES[p.architecture] ?? p.architecture) !== want.architecture) return false;
    if (!want.variant) return true;
    return (p.variant ?? defaultVariant(p.architecture)) === want.variant;
  });
  if (matches.length) {
    // prefer the default variant (linux/arm64 → v8), then the first listed
    return matches.find((e) => (e.platform?.variant ?? defaultVariant(want.architecture)) === wantVariant) ?? matches[0];
  }
  if (wanted === undefined && runnable.length === 1) return runnable[0];
  const available = runnable.map((e) => formatPlatform(e.platform)).join(', ');
  throw new ImageSourceError('PLATFORM_NOT_FOUND', `${where}: no image for platform ${formatPlatform(want)}; available: ${available} (choose one with --platform)`);
}

// ---------------------------------------------------------------------------------------------
// Layers

/** How a layer's bytes are compressed, by media type; undefined for what is not a layer tarball. */
export function layerCompression(mediaType: string): 'gzip' | 'zstd' | 'none' | undefined {
  switch (mediaType) {
    case 'application/vnd.oci.image.layer.v1.tar':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
    case 'application/vnd.docker.image.rootfs.diff.tar':
      return 'none';
    case 'application/vnd.oci.image.layer.v1.tar+gzip':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip':
    case 'application/vnd.docker.image.rootfs.diff.tar.gzip':
    case MT.DOCKER_FOREIGN_LAYER:
      return 'gzip';
    case 'application/vnd.oci.image.layer.v1.tar+zstd':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd':
    case 'application/vnd.docker.image.rootfs.diff.tar.zstd':
      return 'zstd';
    default:
      return undefined;
  }
}

export { isNonDistributable };

// ---------------------------------------------------------------------------------------------
// Resolution

export interface ManifestBytes {
  bytes: Buffer;
  /** the Content-Type / media type the source reported, if any */
  contentType?: string;
  /** the verified digest of `bytes` */
  digest: string;
}

/** How a source fetches by digest; the resolver verifies what comes back. */
export interface ContentFetcher {
  /** a child manifest of an index (bytes unverified) */
  manifest(d: IndexEntry): Promise<{ bytes: Buffer; contentType?: string }>;
  /** a small blob (the config) into memory (bytes unverified) */
  blob(d: Descriptor, maxBytes: number): Promise<Buffer>;
}

export interface ResolvedImage {
  manifestDigest: string;
  manifestMediaType: string;
  manifestBytes: Buffer;
  configDescriptor: Descriptor;
  configBytes: Buffer;
  config: ImageConfig;
  layers: (Descriptor & { urls?: string[]; annotations?: Record<string, string> })[];
  /** the index the manifest was selected from (the outermost one) */
  indexDigest?: string;
  /** the platform of the selected index entry, or from the config */
  platform?: Platform;
}

/** Extra facts every source gives besides the ImageSource contract. */
export interface ResolvedImageSource extends ImageSource {
  kind: 'oci-layout' | 'wharf' | 'registry' | 'archive';
  manifestMediaType: string;
  manifestBytes: Buffer;
  configDescriptor: Descriptor;
  configBytes: Buffer;
  indexDigest?: string;
  platform?: Platform;
  /** registry host (as given, e.g. "127.0.0.1:5000", "docker.io") for registry sources */
  registry?: string;
  repository?: string;
  tag?: string;
}

function parseJson(bytes: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ImageSourceError('UNSUPPORTED', `${what} is not valid JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ImageSourceError('UNSUPPORTED', `${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

function checkDescriptor(v: unknown, where: string): IndexEntry {
  const d = v as Record<string, unknown> | null;
  if (!d || typeof d !== 'object' || typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new ImageSourceError('UNSUPPORTED', `${where}: invalid descriptor ${JSON.stringify(v)?.slice(0, 200)}`);
  }
  splitDigest(d.digest);
  return d as unknown as IndexEntry;
}

/** The media type of a manifest document: body's mediaType, else a specific Content-Type, else by shape. */
export function manifestMediaType(doc: Record<string, unknown>, contentType: string | undefined): string {
  const ct = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (doc.schemaVersion === 1 || ct === MT.DOCKER_SCHEMA1 || ct === MT.DOCKER_SCHEMA1_SIGNED) {
    throw new ImageSourceError('UNSUPPORTED', 'Docker image manifest schema 1 is deprecated and not supported; re-push the image with a current client (schema 2 or OCI)');
  }
  if (typeof doc.mediaType === 'string' && doc.mediaType) return doc.mediaType;
  if (ct && ct !== 'application/json' && ct !== 'application/octet-stream' && ct !== 'text/plain') return ct;
  if (Array.isArray(doc.manifests)) return MT.OCI_INDEX;
  if (doc.config !== undefined) return MT.OCI_MANIFEST;
  return ct || '(none)';
}

/**
 * Resolve a manifest (by its verified bytes) to one image: follow an index to the platform's
 * manifest (verifying each by digest), then fetch and verify the config.
 */
export async function resolveManifest(root: ManifestBytes, fetch: ContentFetcher, opts: { platform?: string; what: string }): Promise<ResolvedImage> {
  let cur = root;
  let indexDigest: string | undefined;
  let platform: Platform | undefined;
  for (let depth = 0; ; depth++) {
    const doc = parseJson(cur.bytes, `manifest ${cur.digest}`);
    const mt = manifestMediaType(doc, cur.contentType);
    if (mt === MT.OCI_INDEX || mt === MT.DOCKER_LIST) {
      if (depth >= MAX_INDEX_DEPTH) throw new ImageSourceError('UNSUPPORTED', `${opts.what}: indexes nested deeper than ${MAX_INDEX_DEPTH}`);
      if (doc.schemaVersion !== 2) throw new ImageSourceError('UNSUPPORTED', `index ${cur.digest}: schemaVersion must be 2`);
      if (!Array.isArray(doc.manifests)) throw new ImageSourceError('UNSUPPORTED', `index ${cur.digest}: manifests must be an array`);
      const entries = doc.manifests.map((m, i) => checkDescriptor(m, `index ${cur.digest} manifests[${i}]`));
      const entry = selectPlatform(entries, opts.platform, opts.what);
      indexDigest ??= cur.digest;
      if (entry.platform) platform = { os: entry.platform.os, architecture: entry.platform.architecture, ...(entry.platform.variant ? { variant: entry.platform.variant } : {}) };
      if (entry.size > MAX_MANIFEST_BYTES) throw new ImageSourceError('UNSUPPORTED', `manifest ${entry.digest} is larger than ${MAX_MANIFEST_BYTES} bytes`);
      const got = await fetch.manifest(entry);
      verifyBytes(got.bytes, entry, 'manifest');
      cur = { bytes: got.bytes, contentType: got.contentType ?? entry.mediaType, digest: entry.digest };
      continue;
    }
    if (mt !== MT.OCI_MANIFEST && mt !== MT.DOCKER_MANIFEST) {
      throw new ImageSourceError('UNSUPPORTED', `${opts.what}: unsupported manifest media type ${mt} (supported: ${MANIFEST_ACCEPT})`);
    }
    if (doc.schemaVersion !== 2) throw new ImageSourceError('UNSUPPORTED', `manifest ${cur.digest}: schemaVersion must be 2`);
    const configDescriptor = checkDescriptor(doc.config, `manifest ${cur.digest} config`);
    if (!Array.isArray(doc.layers)) throw new ImageSourceError('UNSUPPORTED', `manifest ${cur.digest}: layers must be an array`);
    const layers = doc.layers.map((l, i) => checkDescriptor(l, `manifest ${cur.digest} layers[${i}]`));
    if (!IMAGE_CONFIG_TYPES.has(configDescriptor.mediaType) || (typeof doc.artifactType === 'string' && doc.artifactType)) {
      const type = (typeof doc.artifactType === 'string' && doc.artifactType) || configDescriptor.mediaType;
      throw new ImageSourceError('NOT_AN_IMAGE', `${opts.what} is an artifact of type ${type}, not a container image`);
    }
    layers.forEach((l, i) => {
      if (l.mediaType.includes('+encrypted')) throw new ImageSourceError('UNSUPPORTED', `${opts.what}: layer ${i} (${l.digest}) is encrypted (${l.mediaType})`);
      if (!layerCompression(l.mediaType)) throw new ImageSourceError('UNSUPPORTED', `${opts.what}: layer ${i} (${l.digest}) has unsupported media type ${l.mediaType}`);
    });
    if (configDescriptor.size > MAX_CONFIG_BYTES) throw new ImageSourceError('UNSUPPORTED', `config ${configDescriptor.digest} is larger than ${MAX_CONFIG_BYTES} bytes`);
    const configBytes = await fetch.blob(configDescriptor, MAX_CONFIG_BYTES);
    verifyBytes(configBytes, configDescriptor, 'config');
    const config = parseJson(configBytes, `config ${configDescriptor.digest}`) as ImageConfig;
    if (!platform && typeof config.os === 'string' && typeof config.architecture === 'string') {
      platform = { os: config.os, architecture: config.architecture, ...(typeof config.variant === 'string' ? { variant: config.variant } : {}) };
    }
    return {
      manifestDigest: cur.digest,
      manifestMediaType: mt,
      manifestBytes: cur.bytes,
      configDescriptor: { mediaType: configDescriptor.mediaType, digest: configDescriptor.digest, size: configDescriptor.size },
      configBytes,
      config,
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, ...(l.urls ? { urls: l.urls } : {}), ...(l.annotations ? { annotations: l.annotations } : {}) })),
      indexDigest,
      platform,
    };
  }
}

/** The blobs openBlob may serve: the config and the layers (nothing else by digest). */
export function blobsOf(r: ResolvedImage): Map<string, ResolvedImage['layers'][number]> {
  const m = new Map<string, ResolvedImage['layers'][number]>();
  m.set(r.configDescriptor.digest, r.configDescriptor);
  for (const l of r.layers) m.set(l.digest, l);
  return m;
}

export function notInImage(digest: string, what: string): ImageSourceError {
  return new ImageSourceError('BLOB_UNKNOWN', `${digest} is not a layer or the config of ${what}`);
}

export function nonDistributableError(l: { digest: string; mediaType: string; urls?: string[] }, where: string): ImageSourceError {
  const urls = l.urls?.length ? `; it is fetched from ${l.urls.join(', ')} by container runtimes, which the scanner does not do` : '';
  return new ImageSourceError('NON_DISTRIBUTABLE', `layer ${l.digest} is non-distributable (${l.mediaType}) and is not in ${where}${urls}`);
}
