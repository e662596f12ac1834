// Parsing and validating manifests and indexes (image-spec manifest.md, image-index.md,
// descriptor.md) into what the registry must check and record: the blobs and child
// manifests a manifest references, its subject and artifactType.
import { OciError } from '../errors/oci-errors.ts';
import { parseDigest } from './digest.ts';
import { MANIFEST_KINDS, MT, isNonDistributable, type ManifestKind } from './media-types.ts';

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: unknown;
}

export interface ParsedManifest {
  kind: ManifestKind;
  mediaType: string;
  /** the manifest's artifactType, or for an image manifest without one, its config media type */
  artifactType: string | null;
  /** blobs that must be linked in the repository (config + distributable layers) */
  blobs: Descriptor[];
  /** child manifests that must exist in the repository (index entries) */
  manifests: Descriptor[];
  subject: Descriptor | null;
  annotations: Record<string, string> | null;
}

function invalid(msg: string, detail?: unknown): never {
  throw new OciError('MANIFEST_INVALID', msg, { detail });
}

function descriptor(v: unknown, where: string): Descriptor {
  if (!v || typeof v !== 'object' || Array.isArray(v)) invalid(`${where}: descriptor must be an object`);
  const d = v as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType.length === 0) invalid(`${where}: mediaType must be a non-empty string`);
  if (typeof d.digest !== 'string') invalid(`${where}: digest must be a string`);
  try {
    parseDigest(d.digest);
  } catch {
    invalid(`${where}: invalid digest ${JSON.stringify(d.digest)}`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) invalid(`${where}: size must be a non-negative integer`);
  if (d.artifactType !== undefined && typeof d.artifactType !== 'string') invalid(`${where}: artifactType must be a string`);
  if (d.annotations !== undefined) checkAnnotations(d.annotations, where);
  if (d.urls !== undefined && (!Array.isArray(d.urls) || d.urls.some((u) => typeof u !== 'string'))) invalid(`${where}: urls must be strings`);
  return d as unknown as Descriptor;
}

function checkAnnotations(a: unknown, where: string): asserts a is Record<string, string> {
  if (!a || typeof a !== 'object' || Array.isArray(a)) invalid(`${where}: annotations must be an object`);
  for (const [, val] of Object.entries(a as object)) if (typeof val !== 'string') invalid(`${where}: annotation values must be strings`);
}

/**
 * Validate a manifest body sent with a Content-Type. The media type is the Content-Type, or the
 * body's own mediaType when the Content-Type is absent or generic; when both are present they
 * must agree.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (e) {
    invalid(`manifest is not valid JSON: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) invalid('manifest must be a JSON object');
  const m = doc as Record<string, unknown>;
  const ct = (contentType ?? '').split(';')[0].trim().toLowerCase();
  const bodyMt = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  if (m.mediaType !== undefined && typeof m.mediaType !== 'string') invalid('mediaType must be a string');
  if (m.schemaVersion === 1 || ct === MT.DOCKER_SCHEMA1 || ct === MT.DOCKER_SCHEMA1_SIGNED) {
    throw new OciError('MANIFEST_INVALID', 'Docker schema 1 manifests are not supported', { detail: { mediaType: ct || bodyMt } });
  }
  if (m.schemaVersion !== 2) invalid('schemaVersion must be 2');
  let mediaType: string | undefined;
  const generic = !ct || ct === 'application/json' || ct === 'application/octet-stream';
  if (!generic) {
    mediaType = ct;
    if (bodyMt !== undefined && bodyMt !== ct) invalid(`mediaType ${bodyMt} does not match Content-Type ${ct}`);
  } else if (bodyMt) {
    mediaType = bodyMt;
  } else if (Array.isArray(m.manifests)) {
    mediaType = MT.OCI_INDEX;
  } else if (m.config !== undefined) {
    mediaType = MT.OCI_MANIFEST;
  }
  const kind = mediaType ? MANIFEST_KINDS[mediaType] : undefined;
  if (!mediaType || !kind) invalid(`unsupported manifest media type ${mediaType ?? '(none)'}`, { mediaType: mediaType ?? null });
  if (m.artifactType !== undefined && typeof m.artifactType !== 'string') invalid('artifactType must be a string');
  if (m.annotations !== undefined) checkAnnotations(m.annotations, 'annotations');
  const subject = m.subject !== undefined ? descriptor(m.subject, 'subject') : null;
  const annotations = (m.annotations as Record<string, string> | undefined) ?? null;

  if (kind === 'image') {
    if (m.manifests !== undefined) invalid('an image manifest must not have manifests');
    const config = descriptor(m.config, 'config');
    if (!Array.isArray(m.layers)) invalid('layers must be an array');
    const layers = (m.layers as unknown[]).map((l, i) => descriptor(l, `layers[${i}]`));
    const blobs = [config, ...layers.filter((l) => !(isNonDistributable(l.mediaType) && l.urls && l.urls.length > 0))];
    const artifactType = (m.artifactType as string | undefined) ?? config.mediaType ?? null;
    return { kind, mediaType, artifactType, blobs, manifests: [], subject, annotations };
  }
  if (!Array.isArray(m.manifests)) invalid('manifests must be an array');
  if (m.layers !== undefined || m.config !== undefined) invalid('an index must not have config or layers');
  const manifests = (m.manifests as unknown[]).map((d, i) => descriptor(d, `manifests[${i}]`));
  return { kind, mediaType, artifactType: (m.artifactType as string | undefined) ?? null, blobs: [], manifests, subject, annotations };
}
