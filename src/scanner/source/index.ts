// Image sources for the scanner: resolve a `wharf scan` spec to an ImageSource (see resolve.ts).
export { openImageSource, classifySpec, type OpenImageOptions, type SourceKind } from './resolve.ts';
export { openOciLayout, isOciLayout, type OciLayoutOptions } from './oci-layout.ts';
export { openLocalImage, type LocalStorage, type LocalOptions } from './local.ts';
export { openRegistryImage, RegistryClient, parseChallenge, type RegistryClientOptions, type RegistryImageOptions } from './registry.ts';
export { openImageArchive, type ArchiveOptions } from './archive.ts';
export { parseRegistryReference, parseRepoReference, isLoopbackHost, type RegistryReference, type RepoReference } from './reference.ts';
export {
  ImageSourceError,
  layerCompression,
  parsePlatform,
  formatPlatform,
  selectPlatform,
  verifyingStream,
  type Platform,
  type ResolvedImageSource,
  type SourceErrorCode,
} from './common.ts';
