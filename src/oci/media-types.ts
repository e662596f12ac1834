// Manifest media types we accept (image-spec media-types.md; Docker Image Manifest V2 Schema 2).
export const MT = {
  OCI_MANIFEST: 'application/vnd.oci.image.manifest.v1+json',
  OCI_INDEX: 'application/vnd.oci.image.index.v1+json',
  OCI_EMPTY: 'application/vnd.oci.empty.v1+json',
  OCI_CONFIG: 'application/vnd.oci.image.config.v1+json',
  DOCKER_MANIFEST: 'application/vnd.docker.distribution.manifest.v2+json',
  DOCKER_LIST: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DOCKER_SCHEMA1: 'application/vnd.docker.distribution.manifest.v1+json',
  DOCKER_SCHEMA1_SIGNED: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  DOCKER_FOREIGN_LAYER: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type ManifestKind = 'image' | 'index';

export const MANIFEST_KINDS: Record<string, ManifestKind> = {
  [MT.OCI_MANIFEST]: 'image',
  [MT.DOCKER_MANIFEST]: 'image',
  [MT.OCI_INDEX]: 'index',
  [MT.DOCKER_LIST]: 'index',
};

/** Layers that live outside the registry (Docker foreign layers, OCI non-distributable). */
export function isNonDistributable(mediaType: string): boolean {
  return mediaType === MT.DOCKER_FOREIGN_LAYER || mediaType.includes('.nondistributable.');
}
