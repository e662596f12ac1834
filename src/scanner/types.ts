// The scanner's shared contract (issue 5). Clair's shape:
//   ImageSource → indexer (per layer: tar stream → file analyzers → LayerIndex, cached by layer
//   digest) → merge across layers (whiteouts) → ImageIndex (OS, packages, per-layer findings)
//   → matcher (packages × vulnerability DB) → ScanReport (+ best-practice checks, SBOM).
// Paths inside an image are always relative, POSIX, normalised, without a leading "/"
// ("var/lib/dpkg/status"). Nothing from an image is ever written outside a scan's own temp area
// or executed.
import type { Readable } from 'node:stream';

/** Harbor's severity scale (pluggable-scanner-spec), lowest first. */
export const SEVERITIES = ['Unknown', 'Negligible', 'Low', 'Medium', 'High', 'Critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Version schemes the matcher knows; each is a module in ./version/. */
export type VersionScheme = 'dpkg' | 'apk' | 'rpm' | 'semver' | 'pep440' | 'go' | 'maven';

/** Package types, as purl spells them. */
export type PackageType = 'deb' | 'apk' | 'rpm' | 'npm' | 'pypi' | 'golang' | 'maven';

export interface LayerRef {
  /** position in the manifest's layer list, 0 = base */
  index: number;
  /** the layer blob's digest (compressed, as in the manifest) */
  digest: string;
  /** uncompressed digest from the config's rootfs.diff_ids, when known */
  diffId?: string;
  /** the build instruction from the config's history (empty_layer entries skipped), when known */
  createdBy?: string;
}

export interface Package {
  type: PackageType;
  /** binary package name; npm/pypi name; Go module path; Maven "groupId:artifactId" */
  name: string;
  version: string;
  /** dpkg "Source:", apk origin ("o:"), rpm source RPM name; absent = same as name */
  sourceName?: string;
  sourceVersion?: string;
  arch?: string;
  licenses?: string[];
  /** file the package was read from (the database, the package.json, the binary, the jar) */
  path: string;
  /** set by the merge step: the layer that introduced this package (name+version) */
  layer?: LayerRef;
  /** Package URL (https://github.com/package-url/purl-spec); set by the analyzer or by purlOf() */
  purl?: string;
}

export interface EolInfo {
  /** ISO date the release's (standard/security) support ends or ended */
  date: string;
  /** true when that date is before the scan date */
  eol: boolean;
}

export interface OsInfo {
  /** os-release ID: debian, ubuntu, alpine, rhel, centos, rocky, almalinux, fedora, amzn, … */
  id: string;
  /** os-release VERSION_ID ("12", "3.11.6", "9.3") */
  versionId: string;
  /** VERSION_CODENAME ("bookworm") when known */
  codename?: string;
  prettyName?: string;
  /** file it was read from */
  path: string;
  /** filled by OS detection when the release is in the end-of-life table */
  eol?: EolInfo;
}

/** A best-practice finding (secrets, root user, EOL OS, outdated TLS library, package caches). */
export interface Finding {
  /** stable check id: "secret.private-key", "config.root-user", "os.eol", "tls.outdated", "cache.apt", … */
  check: string;
  severity: Severity;
  title: string;
  detail?: string;
  path?: string;
  /** the layer that introduced the file / package (set at merge time for per-layer findings) */
  layer?: LayerRef;
  /** for a file finding: the later layer that deleted the file (it is still inside the image) */
  deletedIn?: LayerRef;
}

/** A problem with the input (malformed package database, tar bomb limit, …): reported, never thrown. */
export interface ScanIssue {
  path?: string;
  layer?: LayerRef;
  message: string;
}

export interface FileInfo {
  path: string;
  size: number;
  mode: number;
  type: 'file' | 'symlink' | 'link';
  /** for symlinks and hardlinks: the target as written in the tar */
  linkname?: string;
}

/** What an analyzer returns for one file. */
export interface AnalyzerOutput {
  packages?: Package[];
  os?: OsInfo;
  findings?: Finding[];
  issues?: ScanIssue[];
}

/**
 * A file analyzer. The indexer streams every layer once; for each regular file it asks each
 * analyzer `wants(path, info)`; when an analyzer also defines `wantsContent`, files it did not want
 * by path are offered by their first bytes (≤ 4 KiB, e.g. the ELF magic). Wanted files are read
 * into memory up to `maxBytes` (default 8 MiB; a larger file is reported as a ScanIssue, not
 * analyzed) and passed to `analyze`. Analyzers are pure: no I/O, no state across calls.
 */
export interface FileAnalyzer {
  /** stable name; part of the cache key together with `version` */
  name: string;
  /** bump when the output for the same input changes (invalidates cached layer indexes) */
  version: number;
  wants(path: string, info: FileInfo): boolean;
  wantsContent?(path: string, info: FileInfo, head: Buffer): boolean;
  maxBytes?: number;
  /** presence-only analyzer (e.g. package caches): gets an empty buffer, the file is not read */
  contentless?: boolean;
  analyze(path: string, content: Buffer, info: FileInfo): AnalyzerOutput | Promise<AnalyzerOutput>;
}

/** One analyzer's output for one file of one layer. */
export interface AnalyzedFile {
  analyzer: string;
  path: string;
  output: AnalyzerOutput;
}

/** The per-layer result, cached by (layer digest, analyzer set fingerprint). */
export interface LayerIndex {
  digest: string;
  /** analyzer outputs for the files of this layer, in tar order */
  files: AnalyzedFile[];
  /** paths deleted by `.wh.<name>` entries in this layer (the path of the deleted entry) */
  whiteouts: string[];
  /** directories made opaque by `.wh..wh..opq` in this layer */
  opaqueDirs: string[];
  /** problems reading the layer (limits, malformed entries) */
  issues: ScanIssue[];
  stats: { entries: number; bytes: number };
}

/** The merged image: what survives the whiteouts of later layers. */
export interface ImageIndex {
  os?: OsInfo;
  packages: Package[];
  /** per-layer findings (secrets keep their layer even when a later layer deleted the file) */
  findings: Finding[];
  issues: ScanIssue[];
  layers: LayerRef[];
}

export interface Vulnerability {
  /** CVE-…, GHSA-…, PYSEC-…, GO-… */
  id: string;
  aliases?: string[];
  package: string;
  packageType: PackageType;
  /** the name the advisory is keyed by, when different (Debian source package, Alpine origin) */
  advisoryPackage?: string;
  installedVersion: string;
  /** absent: no fix released */
  fixedVersion?: string;
  severity: Severity;
  cvssScore?: number;
  /** the vulnerability database (source) this finding came from */
  source: string;
  title?: string;
  url?: string;
  pkgPath: string;
  layer?: LayerRef;
}

/** The resolved image to scan, whatever it came from (Wharf storage, OCI layout, a registry). */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface ImageConfig {
  architecture?: string;
  os?: string;
  config?: { User?: string; Env?: string[]; Entrypoint?: string[] | null; Cmd?: string[] | null; [k: string]: unknown };
  rootfs?: { type: string; diff_ids: string[] };
  history?: Array<{ created?: string; created_by?: string; empty_layer?: boolean; comment?: string }>;
  [k: string]: unknown;
}

export interface ImageSource {
  /** what the user named (a reference or a directory) */
  name: string;
  manifestDigest: string;
  config: ImageConfig;
  layers: Descriptor[];
  /** a stream of the blob's bytes as stored (compressed); the indexer verifies nothing else */
  openBlob(digest: string): Promise<Readable>;
  close?(): Promise<void>;
}

/** Where per-layer indexes are cached (and, optionally, whole merged image indexes). */
export interface LayerCache {
  get(key: string): Promise<LayerIndex | undefined>;
  put(key: string, index: LayerIndex): Promise<void>;
  /** a merged index of a whole layer list (key: imageCacheKey), so a rescan neither reads nor merges layers */
  getImage?(key: string): Promise<ImageIndex | undefined>;
  putImage?(key: string, index: ImageIndex): Promise<void>;
}
