// Shared machinery for the OCI distribution-spec conformance workflows (a TypeScript port of the
// checks in opencontainers/distribution-spec `conformance/`, which is Go: ginkgo + reggie).
//
// What lives here:
//   - configuration from the same environment variables the Go suite reads (OCI_ROOT_URL,
//     OCI_NAMESPACE, OCI_CROSSMOUNT_NAMESPACE, OCI_USERNAME/OCI_PASSWORD, OCI_TEST_*, ...);
//   - the registry under test: an already running one (OCI_ROOT_URL) or one started per test file
//     through test/helpers/servers.ts `startTarget()` (Wharf, or the Go reference with
//     WHARF_TEST_TARGET=reference); a registry started here gets the projects the namespaces live
//     in (their first path component) and the suite logs in as its admin unless
//     OCI_USERNAME/OCI_PASSWORD say otherwise;
//   - a small HTTP client with reggie's request model (path templates, relative Location reuse,
//     query parameters appended to an existing query, basic/bearer auth on 401);
//   - the test data, built the way the Go suite builds it (one config + image manifest per
//     workflow, a gzipped tar layer, random blobs, a chunked blob, artifact manifests with a
//     subject, an index with a subject) but with our own values;
//   - assertion helpers whose failure messages carry the request, what was expected and what came
//     back, so a failing check can be fixed from the message alone.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeEach } from 'vitest';
import { createProjects, projectsOf, startTarget, type RunningRegistry } from '../helpers/servers.ts';

// ---------------------------------------------------------------------------------------------
// Configuration (same variables as the Go suite)
// ---------------------------------------------------------------------------------------------

const env = process.env;

function envBool(name: string): boolean | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  // Go's strconv.ParseBool
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return false;
}

export const PULL = 'pull';
export const PUSH = 'push';
export const CONTENT_DISCOVERY = 'contentDiscovery';
export const CONTENT_MANAGEMENT = 'contentManagement';
export type Workflow = typeof PULL | typeof PUSH | typeof CONTENT_DISCOVERY | typeof CONTENT_MANAGEMENT;

const workflowEnv: Record<Workflow, string> = {
  pull: 'OCI_TEST_PULL',
  push: 'OCI_TEST_PUSH',
  contentDiscovery: 'OCI_TEST_CONTENT_DISCOVERY',
  contentManagement: 'OCI_TEST_CONTENT_MANAGEMENT',
};

/**
 * The Go suite runs only the workflows whose OCI_TEST_* variable is true. Here every workflow runs
 * unless at least one OCI_TEST_* variable is set, in which case the Go rule applies.
 */
export function workflowEnabled(w: Workflow): boolean {
  const anySet = Object.values(workflowEnv).some((n) => envBool(n) !== undefined);
  if (!anySet) return true;
  return envBool(workflowEnv[w]) === true;
}

export const testTagName = 'tagtest0';
export const emptyLayerTestTag = 'emptylayer';
export const nonexistentManifest = '.INVALID_MANIFEST_NAME';
export const invalidManifestContent = Buffer.from('blablabla');
export const artifactTypeFilter = 'artifactType';

/** Pull setup is skipped when the registry is pre-populated (OCI_TAG_NAME + OCI_MANIFEST_DIGEST + OCI_BLOB_DIGEST). */
export const runPullSetup = !(env.OCI_TAG_NAME && env.OCI_MANIFEST_DIGEST && env.OCI_BLOB_DIGEST);
export const runPushSetup = true;
/** Discovery setup is skipped when OCI_TAG_LIST names the tags to expect. */
export const runContentDiscoverySetup = !env.OCI_TAG_LIST;
export const runContentManagementSetup = true;
/** OCI_DELETE_MANIFEST_BEFORE_BLOBS (default true): teardown order. */
export const deleteManifestBeforeBlobs = envBool('OCI_DELETE_MANIFEST_BEFORE_BLOBS') ?? true;
/** OCI_AUTOMATIC_CROSSMOUNT: unset skips the two "mount without from" checks; true/false picks which. */
// Wharf mounts automatically (a blob it already stores is linked without `from`), so when the
// suite starts Wharf itself the "mount without from" check runs with OCI_AUTOMATIC_CROSSMOUNT=true.
const wharfStartedHere = !env.OCI_ROOT_URL && env.WHARF_TEST_TARGET !== 'reference';
export const runAutomaticCrossmountTest = env.OCI_AUTOMATIC_CROSSMOUNT !== undefined || wharfStartedHere;
export const automaticCrossmountEnabled = envBool('OCI_AUTOMATIC_CROSSMOUNT') ?? wharfStartedHere;
// The Go suite's default is `conformance-<uuid>`; Wharf keeps every repository in a project, so
// here the random part is a repository inside a project of its own (a cross-project mount).
export const crossmountNamespace = env.OCI_CROSSMOUNT_NAMESPACE || `oci-crossmount/conformance-${randomUUID()}`;
export const debug = envBool('OCI_DEBUG') ?? false;
const defaultNamespace = 'oci-conformance/repo';

/** The error codes of the spec's error-codes table (setup.go `errorCodes`). */
export const errorCodes = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'MANIFEST_UNVERIFIED',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'TAG_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
];

// ---------------------------------------------------------------------------------------------
// Test data
// ---------------------------------------------------------------------------------------------

export const MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MT_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MT_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MT_LAYER_TGZ = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MT_EMPTY = 'application/vnd.oci.empty.v1+json';
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

export function sha256(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export interface TestBlob {
  content: Buffer;
  /** decimal length as a string, like the Go suite's ContentLength */
  contentLength: string;
  digest: string;
}

function blobOf(content: Buffer, digestOverride?: string): TestBlob {
  return { content, contentLength: String(content.length), digest: digestOverride || sha256(content) };
}

/** Go's `json.MarshalIndent(v, "", "\t")`: same layout; keys appear in the order we build them. */
function marshalIndent(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v, null, '\t'));
}

/**
 * A descriptor in the field order of the suite's `descriptor` struct. `newUnspecifiedField` is not
 * omitempty there, so every descriptor the suite writes carries it (`null` when unset): registries
 * must store and serve manifests with fields the image-spec does not define.
 */
interface DescriptorInit {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  data?: Buffer;
  artifactType?: string;
  newUnspecifiedField?: Buffer;
}
function descriptor(d: DescriptorInit): Record<string, unknown> {
  const out: Record<string, unknown> = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.annotations) out.annotations = d.annotations;
  if (d.data) out.data = d.data.toString('base64');
  if (d.artifactType) out.artifactType = d.artifactType;
  out.newUnspecifiedField = d.newUnspecifiedField ? d.newUnspecifiedField.toString('base64') : null;
  return out;
}

interface ManifestInit {
  mediaType?: string;
  artifactType?: string;
  config: Record<string, unknown>;
  layers: Record<string, unknown>[];
  subject?: Record<string, unknown>;
  annotations?: Record<string, string>;
}
function imageManifest(m: ManifestInit): Buffer {
  const out: Record<string, unknown> = { schemaVersion: 2 };
  if (m.mediaType) out.mediaType = m.mediaType;
  if (m.artifactType) out.artifactType = m.artifactType;
  out.config = m.config;
  out.layers = m.layers;
  if (m.subject) out.subject = m.subject;
  if (m.annotations) out.annotations = m.annotations;
  return marshalIndent(out);
}

const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-';
function randomString(n: number): string {
  const bytes = randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[bytes[i] % alphabet.length];
  return s;
}

/** Reproducible pseudo-random bytes from a seed (xorshift32), like the suite's seeded `randomBlob`. */
function seededBytes(size: number, seed: number): Buffer {
  let x = seed >>> 0 || 0x9e3779b9;
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** A one-file ustar archive, gzipped: what `tar czf layer.tar.gz file` would give. */
function tarGz(fileName: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const put = (s: string, off: number, len: number) => header.write(s.slice(0, len), off, len, 'ascii');
  const octal = (n: number, len: number) => n.toString(8).padStart(len - 1, '0') + '\0';
  put(fileName, 0, 100);
  put(octal(0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(content.length, 12), 124, 12);
  put(octal(1_700_000_000, 12), 136, 12);
  put('        ', 148, 8); // checksum placeholder: spaces
  put('0', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put('root', 265, 32);
  put('root', 297, 32);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  const body = Buffer.alloc(Math.ceil(content.length / 512) * 512);
  content.copy(body);
  const archive = Buffer.concat([header, body, Buffer.alloc(1024)]);
  const record = Buffer.alloc(Math.ceil(archive.length / 10240) * 10240);
  archive.copy(record);
  return gzipSync(record);
}

/** Go ginkgo's random seed plays this role in the suite; OCI_SEED pins it. */
export const seed = env.OCI_SEED ? Number(env.OCI_SEED) : randomBytes(4).readUInt32BE(0);

/** The number of workflow-specific configs/manifests; the suite indexes 0..4 (4 = referrers subject). */
const NUM_TEST_IMAGES = 5;

export const configs: TestBlob[] = [];
for (let i = 0; i < NUM_TEST_IMAGES; i++) {
  // a fresh author on every run gives every config (and so every manifest) a unique digest
  const config = {
    author: randomString(16),
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [] as string[] },
  };
  configs.push(blobOf(marshalIndent(config), env.OCI_BLOB_DIGEST));
}

export const layerBlobData = tarGz('greeting.txt', Buffer.from('a layer pushed by the Wharf conformance port\n'));
export const layerBlobDigest = sha256(layerBlobData);
export const layerBlobContentLength = String(layerBlobData.length);

const layers = [descriptor({ mediaType: MT_LAYER_TGZ, digest: layerBlobDigest, size: layerBlobData.length })];

export const manifests: TestBlob[] = [];
for (let i = 0; i < NUM_TEST_IMAGES; i++) {
  const content = imageManifest({
    mediaType: MT_MANIFEST,
    config: descriptor({
      mediaType: MT_CONFIG,
      digest: sha256(configs[i].content),
      size: configs[i].content.length,
      data: configs[i].content, // must be the config content
      newUnspecifiedField: Buffer.from('any bytes at all'), // content does not matter
    }),
    layers,
  });
  manifests.push(blobOf(content, env.OCI_MANIFEST_DIGEST));
}

/** Used in push: an image manifest with no layers and, unlike the others, no `mediaType` field. */
export const emptyLayerManifestContent = imageManifest({
  config: descriptor({
    mediaType: MT_CONFIG,
    digest: sha256(configs[1].content),
    size: configs[1].content.length,
    data: configs[1].content,
    newUnspecifiedField: Buffer.from('any bytes at all'),
  }),
  layers: [],
});
export const emptyLayerManifestDigest = sha256(emptyLayerManifestContent);

/** testBlobA: a streamed (PATCH) upload, then the cross-mount source. */
export const testBlobA = seededBytes(42, seed + 1);
export const testBlobALength = String(testBlobA.length);
export const testBlobADigest = sha256(testBlobA);

/** testBlobB: the chunked upload, split after size/2+1 bytes (setupChunkedBlob). */
export const chunked: {
  blob: Buffer;
  digest: string;
  chunk1: Buffer;
  chunk1Length: string;
  chunk1Range: string;
  chunk2: Buffer;
  chunk2Length: string;
  chunk2Range: string;
} = {
  blob: Buffer.alloc(0),
  digest: '',
  chunk1: Buffer.alloc(0),
  chunk1Length: '',
  chunk1Range: '',
  chunk2: Buffer.alloc(0),
  chunk2Length: '',
  chunk2Range: '',
};
export function setupChunkedBlob(size: number): void {
  const blob = seededBytes(size, seed + 2);
  const cut = Math.floor(size / 2) + 1;
  chunked.blob = blob;
  chunked.digest = sha256(blob);
  chunked.chunk1 = blob.subarray(0, cut);
  chunked.chunk1Length = String(chunked.chunk1.length);
  chunked.chunk1Range = `0-${chunked.chunk1.length - 1}`;
  chunked.chunk2 = blob.subarray(cut);
  chunked.chunk2Length = String(chunked.chunk2.length);
  chunked.chunk2Range = `${chunked.chunk1.length}-${blob.length - 1}`;
}
setupChunkedBlob(42);

/** A digest nothing is stored under. */
export const dummyDigest = sha256('no blob, manifest or subject has this content');

// --- referrers (artifacts whose `subject` is manifests[4], one whose subject is never pushed) ---

export const emptyJSONBlob = Buffer.from('{}');
const emptyJSONDescriptor = () => descriptor({ mediaType: MT_EMPTY, digest: sha256(emptyJSONBlob), size: emptyJSONBlob.length });
export const emptyJSONDigest = sha256(emptyJSONBlob);

export const testRefBlobA = Buffer.from('referrer payload A: a signature, perhaps');
export const testRefBlobALength = String(testRefBlobA.length);
export const testRefBlobADigest = sha256(testRefBlobA);
export const testRefArtifactTypeA = 'application/vnd.wharf.conformance.signature';

export const testRefBlobB = Buffer.from('referrer payload B: an SBOM, perhaps');
export const testRefBlobBLength = String(testRefBlobB.length);
export const testRefBlobBDigest = sha256(testRefBlobB);
export const testRefArtifactTypeB = 'application/vnd.wharf.conformance.sbom';

export const testRefArtifactTypeIndex = 'application/vnd.wharf.conformance.bundle';

export const testAnnotationKey = 'dev.wharf.conformance.test';
/** digest -> the annotation value its manifest carries; the referrers list must echo it */
export const testAnnotationValues: Record<string, string> = {};

const subjectOf = (m: TestBlob) => descriptor({ mediaType: MT_MANIFEST, digest: sha256(m.content), size: m.content.length });

function artifact(init: ManifestInit, annotation?: string): TestBlob {
  const content = imageManifest({ ...init, annotations: annotation ? { [testAnnotationKey]: annotation } : undefined });
  const b = blobOf(content);
  if (annotation) testAnnotationValues[b.digest] = annotation;
  return b;
}

/** artifact with subject, artifact type carried by config.mediaType */
export const refsManifestAConfigArtifact = artifact(
  {
    mediaType: MT_MANIFEST,
    config: descriptor({ mediaType: testRefArtifactTypeA, digest: testRefBlobADigest, size: testRefBlobA.length }),
    subject: subjectOf(manifests[4]),
    layers: [emptyJSONDescriptor()],
  },
  'config-typed artifact A',
);
export const refsManifestBConfigArtifact = artifact(
  {
    mediaType: MT_MANIFEST,
    config: descriptor({ mediaType: testRefArtifactTypeB, digest: testRefBlobBDigest, size: testRefBlobB.length }),
    subject: subjectOf(manifests[4]),
    layers: [emptyJSONDescriptor()],
  },
  'config-typed artifact B',
);
/** artifact with subject, `artifactType` set and the empty JSON config */
export const refsManifestALayerArtifact = artifact(
  {
    mediaType: MT_MANIFEST,
    artifactType: testRefArtifactTypeA,
    config: emptyJSONDescriptor(),
    subject: subjectOf(manifests[4]),
    layers: [descriptor({ mediaType: testRefArtifactTypeA, digest: testRefBlobADigest, size: testRefBlobA.length })],
  },
  'artifactType artifact A',
);
export const refsManifestBLayerArtifact = artifact(
  {
    mediaType: MT_MANIFEST,
    artifactType: testRefArtifactTypeB,
    config: emptyJSONDescriptor(),
    subject: subjectOf(manifests[4]),
    layers: [descriptor({ mediaType: testRefArtifactTypeB, digest: testRefBlobBDigest, size: testRefBlobB.length })],
  },
  'artifactType artifact B',
);
/** like B, but its subject (manifests[3]) is never pushed in this workflow; no annotations */
export const refsManifestCLayerArtifact = artifact({
  mediaType: MT_MANIFEST,
  artifactType: testRefArtifactTypeB,
  config: emptyJSONDescriptor(),
  subject: subjectOf(manifests[3]),
  layers: [descriptor({ mediaType: testRefArtifactTypeB, digest: testRefBlobBDigest, size: testRefBlobB.length })],
});

/** an index with `artifactType` and a subject, listing the two "A" artifacts */
export const refsIndexArtifact: TestBlob = (() => {
  const annotation = 'index artifact';
  const content = marshalIndent({
    schemaVersion: 2,
    mediaType: MT_INDEX,
    artifactType: testRefArtifactTypeIndex,
    manifests: [
      descriptor({ mediaType: MT_MANIFEST, digest: refsManifestAConfigArtifact.digest, size: refsManifestAConfigArtifact.content.length }),
      descriptor({ mediaType: MT_MANIFEST, digest: refsManifestALayerArtifact.digest, size: refsManifestALayerArtifact.content.length }),
    ],
    subject: subjectOf(manifests[4]),
    annotations: { [testAnnotationKey]: annotation },
  });
  const b = blobOf(content);
  testAnnotationValues[b.digest] = annotation;
  return b;
})();

// ---------------------------------------------------------------------------------------------
// HTTP client (reggie's request model)
// ---------------------------------------------------------------------------------------------

export interface RequestOptions {
  /** replaces <name>; defaults to the namespace under test */
  name?: string;
  /** replaces <reference> */
  reference?: string;
  /** replaces <digest> */
  digest?: string;
  headers?: Record<string, string>;
  /** appended to the URL's existing query, like resty's SetQueryParam */
  query?: Record<string, string>;
  body?: Buffer | string;
}

export interface SentRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyLength: number;
}

export class OciResponse {
  constructor(
    readonly request: SentRequest,
    readonly status: number,
    /** raw header pairs, in order */
    readonly rawHeaders: [string, string][],
    readonly body: Buffer,
  ) {}

  /** First value of a header, '' when absent (Go's Header.Get). */
  header(name: string): string {
    const n = name.toLowerCase();
    const h = this.rawHeaders.find(([k]) => k.toLowerCase() === n);
    return h ? h[1] : '';
  }

  text(): string {
    return this.body.toString('utf8');
  }

  /** reggie GetRelativeLocation: path + query of the Location header. */
  relativeLocation(): string {
    const loc = this.header('Location');
    if (!loc) return '';
    try {
      const u = new URL(loc, 'http://relative.invalid');
      return u.pathname + u.search;
    } catch {
      return '';
    }
  }

  /** reggie GetAbsoluteLocation: the Location header as sent. */
  absoluteLocation(): string {
    return this.header('Location');
  }

  /** reggie Errors(): the `errors` array of an OCI error body; throws when there is none. */
  errors(): { code: string; message?: string; detail?: unknown }[] {
    const parsed = JSON.parse(this.text()) as { errors?: { code: string; message?: string; detail?: unknown }[] };
    if (!parsed.errors || parsed.errors.length === 0) throw new Error('body was valid json but could not be parsed');
    return parsed.errors;
  }

  /** A one-paragraph account of the exchange, for failure messages. */
  describe(): string {
    const r = this.request;
    const reqHeaders = Object.entries(r.headers)
      .filter(([k]) => !['user-agent', 'accept-encoding', 'authorization'].includes(k.toLowerCase()))
      .map(([k, v]) => `${k}: ${v}`)
      .join('; ');
    const respHeaders = this.rawHeaders
      .filter(([k]) => !['date', 'connection', 'keep-alive', 'x-content-type-options'].includes(k.toLowerCase()))
      .map(([k, v]) => `${k}: ${v}`)
      .join('; ');
    let body = this.text();
    if (/[\x00-\x08\x0e-\x1f]/.test(body)) body = `<${this.body.length} binary bytes>`;
    if (body.length > 600) body = body.slice(0, 600) + `… (${this.body.length} bytes)`;
    return [
      `  request:  ${r.method} ${r.url}${reqHeaders ? `  [${reqHeaders}]` : ''}${r.bodyLength ? `  (body ${r.bodyLength} bytes)` : ''}`,
      `  response: ${this.status}${respHeaders ? `  [${respHeaders}]` : ''}`,
      body ? `  body:     ${body.replace(/\s*\n\s*/g, ' ')}` : `  body:     (empty)`,
    ].join('\n');
  }
}

interface RawResult {
  status: number;
  rawHeaders: [string, string][];
  body: Buffer;
}

function send(method: string, url: string, headers: Record<string, string>, body: Buffer | undefined): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(
      u,
      { method, headers, timeout: 60_000, ...(u.protocol === 'https:' ? { rejectUnauthorized: false } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw: [string, string][] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) raw.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
          let data = Buffer.concat(chunks);
          const enc = raw.find(([k]) => k.toLowerCase() === 'content-encoding')?.[1];
          // Go's transport asks for gzip itself and hands back the decoded body
          if (enc === 'gzip' && data.length > 0 && method !== 'HEAD') data = gunzipSync(data);
          resolve({ status: res.statusCode ?? 0, rawHeaders: raw, body: data });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no response after 60 s`)));
    req.on('error', reject);
    if (body && body.length > 0) req.write(body);
    req.end();
  });
}

function parseChallenge(h: string): { scheme: string; params: Record<string, string> } | undefined {
  const m = /^\s*(\w+)\s*(.*)$/.exec(h);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]))) params[p[1].toLowerCase()] = p[2] ?? p[3];
  return { scheme: m[1].toLowerCase(), params };
}

/** Every exchange of the running test, so a failure can show what led up to it. */
const exchanges: OciResponse[] = [];
beforeEach(() => {
  exchanges.length = 0;
});

export class Client {
  private tokens = new Map<string, string>();
  private basic: string | undefined;

  constructor(
    readonly rootUrl: string,
    readonly defaultName: string,
    private readonly opts: { username?: string; password?: string; authScope?: string } = {},
  ) {
    this.rootUrl = rootUrl.replace(/\/+$/, '');
    if (opts.username || opts.password) {
      this.basic = 'Basic ' + Buffer.from(`${opts.username ?? ''}:${opts.password ?? ''}`).toString('base64');
    }
  }

  /** Build the URL for a path template ("/v2/<name>/blobs/<digest>") or a relative Location. */
  url(pathTemplate: string, o: RequestOptions = {}): string {
    let p = pathTemplate;
    const name = o.name || this.defaultName;
    p = p.replaceAll('<name>', name);
    if (o.reference !== undefined && o.reference !== '') p = p.replaceAll('<reference>', o.reference);
    if (o.digest !== undefined && o.digest !== '') p = p.replaceAll('<digest>', o.digest);
    if (/<name>|<reference>|<digest>|<session_id>/.test(p)) throw new Error(`request is invalid: unreplaced placeholder in ${p}`);
    let url = `${this.rootUrl}/${p.replace(/^\/+/, '')}`;
    if (o.query && Object.keys(o.query).length > 0) {
      const q = new URLSearchParams(o.query).toString();
      url += (url.includes('?') ? '&' : '?') + q;
    }
    return url;
  }

  async do(method: string, pathTemplate: string, o: RequestOptions = {}): Promise<OciResponse> {
    let url = this.url(pathTemplate, o);
    // resty drops the payload of GET and HEAD requests (its AllowGetMethodPayload is off)
    const payloadAllowed = method !== 'GET' && method !== 'HEAD';
    const body = o.body === undefined || !payloadAllowed ? undefined : Buffer.isBuffer(o.body) ? o.body : Buffer.from(o.body);
    const headers: Record<string, string> = { 'User-Agent': 'distribution-spec-conformance-tests' };
    for (const [k, v] of Object.entries(o.headers ?? {})) {
      // Go's http client never sends a caller's Content-Length: it sends the body's length.
      if (k.toLowerCase() === 'content-length') continue;
      headers[k] = v;
    }
    // resty sets Accept to a JSON (or +json) Content-Type when no Accept is given
    const ct = Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
    const hasAccept = Object.keys(headers).some((k) => k.toLowerCase() === 'accept');
    if (ct && !hasAccept && /^(application|text)\/(json|.*\+json|json-.*)(;|$)/i.test(ct)) headers.Accept = ct;
    if (body && body.length > 0) headers['Content-Length'] = String(body.length);
    else if (['POST', 'PUT', 'PATCH'].includes(method)) headers['Content-Length'] = '0';
    if (method !== 'HEAD' && !Object.keys(headers).some((k) => k.toLowerCase() === 'range')) headers['Accept-Encoding'] = 'gzip';

    const withAuth = (h: Record<string, string>, u: string): Record<string, string> => {
      const token = this.tokens.get(new URL(u).host);
      if (token) return { ...h, Authorization: token };
      return h;
    };

    let sentHeaders = withAuth(headers, url);
    let res = await send(method, url, sentHeaders, body);
    if (res.status === 401) {
      const auth = await this.authorize(res, method, url);
      if (auth) {
        sentHeaders = { ...headers, Authorization: auth };
        res = await send(method, url, sentHeaders, body);
      }
    }
    // follow redirects for reads (blob GETs may point at storage elsewhere), as Go's client does
    for (let hops = 0; hops < 10 && (method === 'GET' || method === 'HEAD') && [301, 302, 303, 307, 308].includes(res.status); hops++) {
      const loc = res.rawHeaders.find(([k]) => k.toLowerCase() === 'location')?.[1];
      if (!loc) break;
      const next = new URL(loc, url).toString();
      const h = { ...headers };
      if (new URL(next).host === new URL(url).host) Object.assign(h, withAuth({}, next));
      url = next;
      sentHeaders = h;
      res = await send(method, url, h, undefined);
    }
    const resp = new OciResponse(
      { method, url, headers: sentHeaders, bodyLength: body?.length ?? 0 },
      res.status,
      res.rawHeaders,
      res.body,
    );
    if (debug) process.stderr.write(`--- ${method} ${url}\n${resp.describe()}\n`);
    exchanges.push(resp);
    return resp;
  }

  /** Answer a 401 challenge: Basic with the configured credentials, or Bearer via the token realm. */
  private async authorize(res: RawResult, method: string, url: string): Promise<string | undefined> {
    const h = res.rawHeaders.find(([k]) => k.toLowerCase() === 'www-authenticate')?.[1];
    const ch = h ? parseChallenge(h) : undefined;
    const host = new URL(url).host;
    if (!ch || ch.scheme === 'basic') {
      if (!this.basic) return undefined;
      this.tokens.set(host, this.basic);
      return this.basic;
    }
    if (ch.scheme !== 'bearer' || !ch.params.realm) return undefined;
    const realm = new URL(ch.params.realm);
    if (ch.params.service) realm.searchParams.set('service', ch.params.service);
    const scopes = [ch.params.scope, this.opts.authScope].filter(Boolean) as string[];
    for (const s of scopes) for (const part of s.split(' ')) realm.searchParams.append('scope', part);
    const th: Record<string, string> = { 'User-Agent': 'distribution-spec-conformance-tests' };
    if (this.basic) th.Authorization = this.basic;
    const tr = await send('GET', realm.toString(), th, undefined);
    if (tr.status !== 200) return undefined;
    const j = JSON.parse(tr.body.toString()) as { token?: string; access_token?: string };
    const tok = j.token || j.access_token;
    if (!tok) return undefined;
    const value = `Bearer ${tok}`;
    this.tokens.set(host, value);
    void method;
    return value;
  }
}

// ---------------------------------------------------------------------------------------------
// Registry under test
// ---------------------------------------------------------------------------------------------

export interface Target {
  client: Client;
  url: string;
  namespace: string;
  /** the registry process when this file started one */
  registry?: RunningRegistry;
  /** which implementation: 'wharf', 'reference' or 'external' */
  kind: string;
  close(): Promise<void>;
}

let failedChecks = 0;

/**
 * Start (or attach to) the registry under test. With OCI_ROOT_URL set, the files take turns on it
 * through a lock file, since the Go suite's workflows share one namespace and are not meant to run
 * at the same time; otherwise each file gets a registry of its own.
 */
export async function openTarget(workflow: Workflow): Promise<Target> {
  const namespace = env.OCI_NAMESPACE || defaultNamespace;
  const opts = { username: env.OCI_USERNAME, password: env.OCI_PASSWORD, authScope: env.OCI_AUTH_SCOPE };
  if (env.OCI_ROOT_URL) {
    const release = await acquireLock(`${env.OCI_ROOT_URL}|${namespace}`, workflow);
    const url = env.OCI_ROOT_URL.replace(/\/+$/, '');
    return { client: new Client(url, namespace, opts), url, namespace, kind: 'external', close: async () => release() };
  }
  const registry = await startTarget();
  const kind = registry.kind;
  try {
    await createProjects(registry, projectsOf([namespace, crossmountNamespace]));
  } catch (e) {
    await registry.stop();
    throw e;
  }
  // the registry's admin, unless the Go suite's variables name someone
  if (env.OCI_USERNAME === undefined && env.OCI_PASSWORD === undefined) {
    opts.username = registry.admin.username;
    opts.password = registry.admin.password;
  }
  return {
    client: new Client(registry.url, namespace, opts),
    url: registry.url,
    namespace,
    registry,
    kind,
    async close() {
      if (failedChecks > 0) {
        const out = registry.output().trim();
        if (out) process.stderr.write(`\n[${workflow}] ${kind} registry output (last 4000 chars):\n${out.slice(-4000)}\n`);
      }
      await registry.stop();
    },
  };
}

async function acquireLock(key: string, owner: string): Promise<() => void> {
  const file = path.join(os.tmpdir(), `oci-conformance-${createHash('sha256').update(key).digest('hex').slice(0, 16)}.lock`);
  const deadline = Date.now() + 170_000;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid} ${owner}`);
      closeSync(fd);
      return () => {
        try {
          unlinkSync(file);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // a lock left by a process that died is stale
      try {
        const pid = Number(readFileSync(file, 'utf8').split(' ')[0]);
        if (pid) process.kill(pid, 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ESRCH') {
          try {
            unlinkSync(file);
          } catch {
            /* raced */
          }
          continue;
        }
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${file} (another conformance workflow holds it)`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

export class CheckFailure extends Error {
  override name = 'ConformanceCheckFailure';
}

/** Fail with the exchange attached: what was sent, what the suite accepts, what came back. */
export function fail(what: string, expected: string, resp?: OciResponse, got?: string): never {
  failedChecks++;
  const lines = [`${what}`, `  expected: ${expected}`];
  if (got !== undefined) lines.push(`  got:      ${got}`);
  if (resp) lines.push(resp.describe());
  const earlier = exchanges.filter((e) => e !== resp && exchanges.indexOf(e) < (resp ? exchanges.indexOf(resp) : exchanges.length));
  if (earlier.length > 0) {
    lines.push('  earlier in this check:');
    for (const e of earlier.slice(-6)) {
      const body = e.status >= 300 && e.body.length > 0 ? `  ${e.text().slice(0, 200).replace(/\s*\n\s*/g, ' ')}` : '';
      const loc = e.header('Location') ? `  Location: ${e.header('Location')}` : '';
      lines.push(`    ${e.request.method} ${e.request.url} -> ${e.status}${loc}${body}`);
    }
  }
  throw new CheckFailure(lines.join('\n'));
}

export type StatusRule = number | number[] | { min: number; max: number };

function statusMatches(status: number, rule: StatusRule): boolean {
  if (typeof rule === 'number') return status === rule;
  if (Array.isArray(rule)) return rule.includes(status);
  return status >= rule.min && status < rule.max;
}

function ruleText(rule: StatusRule): string {
  if (typeof rule === 'number') return `status ${rule}`;
  if (Array.isArray(rule)) return `status ${rule.join(' or ')}`;
  return `status in [${rule.min}, ${rule.max})`;
}

/** Gomega's BeNumerically(">=", 200) + BeNumerically("<", 300). */
export const SUCCESS: StatusRule = { min: 200, max: 300 };

/** Expect a status; `rules` are alternatives (SatisfyAny). */
export function expectStatus(resp: OciResponse, what: string, ...rules: StatusRule[]): void {
  if (!rules.some((r) => statusMatches(resp.status, r))) {
    fail(what, rules.map(ruleText).join(', or '), resp, `status ${resp.status}`);
  }
}

/** Expect a header to be present (non-empty). */
export function expectHeaderPresent(resp: OciResponse, name: string, what: string): string {
  const v = resp.header(name);
  if (!v) fail(what, `a non-empty ${name} header`, resp, `no ${name} header`);
  return v;
}

/** Expect a header to equal a value exactly. */
export function expectHeaderEquals(resp: OciResponse, name: string, value: string, what: string): void {
  const v = resp.header(name);
  if (v !== value) fail(what, `${name}: ${value}`, resp, v ? `${name}: ${v}` : `no ${name} header`);
}

/** A plain condition (Expect(x).To(...)) tied to a response for context. */
export function expectThat(cond: boolean, what: string, expected: string, got: string, resp?: OciResponse): void {
  if (!cond) fail(what, expected, resp, got);
}

export function parseJSON<T>(resp: OciResponse, what: string): T {
  try {
    return JSON.parse(resp.text()) as T;
  } catch (e) {
    return fail(what, 'a JSON body', resp, `unparseable body (${(e as Error).message})`);
  }
}

/** setup.go getTagList: the tags of a tags/list body, [] when it does not parse. */
export function getTagList(resp: OciResponse): string[] {
  try {
    const j = JSON.parse(resp.text()) as { tags?: string[] | null };
    return j.tags ?? [];
  } catch {
    return [];
  }
}

export interface IndexBody {
  schemaVersion?: number;
  mediaType?: string;
  manifests?: { mediaType?: string; digest: string; size?: number; artifactType?: string; annotations?: Record<string, string> }[];
}

/** The Go suite's Warn(): a non-fatal note, printed and attached to the test. */
export async function warn(ctx: { annotate?: (m: string, t?: string) => Promise<unknown> }, message: string): Promise<void> {
  process.stderr.write(`WARNING: ${message}\n`);
  try {
    await ctx.annotate?.(message, 'warning');
  } catch {
    /* older reporters */
  }
}

/** Push a blob the way every Setup spec does: POST for a session, PUT ?digest= with the bytes. */
export async function pushBlobMonolithic(client: Client, blob: { digest: string; content: Buffer; length: string }, what: string): Promise<OciResponse> {
  const post = await client.do('POST', '/v2/<name>/blobs/uploads/');
  const put = await client.do('PUT', post.relativeLocation() || fail(`${what}: POST /blobs/uploads/ gave no Location`, 'a Location header', post), {
    query: { digest: blob.digest },
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.length },
    body: blob.content,
  });
  expectStatus(put, what, SUCCESS);
  return put;
}

/** PUT a manifest (or index) under a tag or digest, expecting 2xx (the Setup specs). */
export async function putManifest(client: Client, reference: string, content: Buffer, what: string, contentType = MT_MANIFEST): Promise<OciResponse> {
  const resp = await client.do('PUT', '/v2/<name>/manifests/<reference>', {
    reference,
    headers: { 'Content-Type': contentType },
    body: content,
  });
  expectStatus(resp, what, SUCCESS);
  return resp;
}

/** 2xx, or one of the extra statuses a teardown tolerates. */
export function deleteAccepted(resp: OciResponse, what: string, ...extra: number[]): void {
  expectStatus(resp, what, SUCCESS, ...extra);
}
