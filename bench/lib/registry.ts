// The OCI Distribution operations the benchmark times, written against the spec only.
import type http from 'node:http';
import { HttpError, request, type Resp } from './http.ts';
import { RawPool, type RawRequest } from './rawhttp.ts';
import { sha256, smallBlob, type BlobVariant } from './data.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const ACCEPT_MANIFESTS = [
  OCI_MANIFEST,
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

function expect(r: Pick<Resp, 'status' | 'body'>, want: number | number[], what: string): void {
  const ok = Array.isArray(want) ? want.includes(r.status) : r.status === want;
  if (!ok) {
    const body = r.body.toString('utf8', 0, Math.min(r.body.length, 400)).trim();
    throw new HttpError(`${what}: HTTP ${r.status} (want ${want}) ${body}`, r.status, body);
  }
}

/**
 * Blob transfers (uploads, chunk PATCHes, blob GETs) go through the lean raw client
 * (./rawhttp.ts); small requests (manifests, the many-small-images push) through node:http.
 */
export class RegistryClient {
  readonly raw: RawPool;
  /**
   * `auth`: an Authorization header value sent on every request (Wharf: the admin's
   * pre-computed Basic credentials; the Go reference has no auth and gets none).
   */
  constructor(
    readonly base: string,
    readonly agent: http.Agent,
    readonly auth?: string,
  ) {
    this.raw = new RawPool(base);
  }

  /** headers plus Authorization when this client has credentials */
  private h(headers: Record<string, string | number> = {}): Record<string, string | number> {
    return this.auth ? { Authorization: this.auth, ...headers } : headers;
  }

  private rawReq(method: string, u: URL | string, r: Omit<RawRequest, 'method' | 'path'> = {}) {
    const url = typeof u === 'string' ? new URL(u, this.base) : u;
    if (url.host !== new URL(this.base).host) throw new HttpError(`${method} ${url}: other host`);
    return this.raw.request({ method, path: url.pathname + url.search, keepBody: true, ...r, headers: this.h(r.headers) });
  }

  close(): void {
    this.raw.destroy();
  }

  private loc(r: { status: number; headers: Record<string, string | string[] | undefined> }, what: string): URL {
    const l = r.headers.location;
    if (!l || Array.isArray(l)) throw new HttpError(`${what}: no Location header`, r.status);
    return new URL(l, this.base);
  }

  private withDigest(u: URL, digest: string): URL {
    const v = new URL(u);
    v.searchParams.set('digest', digest);
    return v;
  }

  async startUpload(repo: string): Promise<URL> {
    const r = await this.rawReq('POST', `/v2/${repo}/blobs/uploads/`);
    expect(r, 202, `POST /v2/${repo}/blobs/uploads/`);
    return this.loc(r, 'POST upload');
  }

  /** POST, then PUT ?digest= with the whole body. */
  async pushMonolithic(repo: string, blob: BlobVariant): Promise<void> {
    const u = await this.startUpload(repo);
    const r = await this.rawReq('PUT', this.withDigest(u, blob.digest), {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: { length: blob.size, pump: (w) => blob.pump(w) },
    });
    expect(r, 201, 'PUT upload (monolithic)');
  }

  /** POST, PATCH chunks with Content-Range, then PUT ?digest= with no body. */
  async pushChunked(repo: string, blob: BlobVariant, chunk: number): Promise<void> {
    let u = await this.startUpload(repo);
    for (let off = 0; off < blob.size; off += chunk) {
      const end = Math.min(blob.size, off + chunk);
      const r = await this.rawReq('PATCH', u, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${off}-${end - 1}` },
        body: { length: end - off, pump: (w) => blob.pump(w, off, end) },
      });
      expect(r, 202, `PATCH ${off}-${end - 1}`);
      const range = r.headers.range;
      if (range && range !== `0-${end - 1}` && range !== `bytes=0-${end - 1}`) {
        throw new HttpError(`PATCH ${off}-${end - 1}: server reports Range ${range}`);
      }
      u = this.loc(r, 'PATCH');
    }
    const r = await this.rawReq('PUT', this.withDigest(u, blob.digest));
    expect(r, 201, 'PUT upload (after chunks)');
  }

  /** Small in-memory blob: POST then PUT ?digest= (node:http). */
  async pushBuffer(repo: string, data: Buffer, digest: string): Promise<void> {
    const r0 = await request(this.agent, 'POST', `${this.base}/v2/${repo}/blobs/uploads/`, { headers: this.h() });
    expect(r0, 202, `POST /v2/${repo}/blobs/uploads/`);
    const u = this.loc(r0, 'POST upload');
    const r = await request(this.agent, 'PUT', this.withDigest(u, digest), {
      headers: this.h({ 'Content-Type': 'application/octet-stream' }),
      body: data,
    });
    expect(r, 201, 'PUT upload');
  }

  /** GET the blob, discard the body, check the byte count (and the digest when verify). */
  async pull(repo: string, digest: string, size: number, verify = false): Promise<void> {
    let r = await this.rawReq('GET', `/v2/${repo}/blobs/${digest}`, { hash: verify, keepBody: false });
    for (let i = 0; i < 3 && r.status >= 300 && r.status < 400 && r.headers.location; i++)
      r = await this.rawReq('GET', new URL(r.headers.location, this.base), { hash: verify, keepBody: false });
    if (r.status !== 200) throw new HttpError(`GET blob: HTTP ${r.status}`, r.status);
    if (r.bytes !== size) throw new HttpError(`GET blob: got ${r.bytes} bytes, want ${size}`);
    if (verify && r.digest !== digest) throw new HttpError(`GET blob: digest ${r.digest}, want ${digest}`);
  }

  async putManifest(repo: string, ref: string, body: Buffer, mediaType = OCI_MANIFEST): Promise<void> {
    const r = await request(this.agent, 'PUT', `${this.base}/v2/${repo}/manifests/${ref}`, {
      headers: this.h({ 'Content-Type': mediaType }),
      body,
    });
    expect(r, 201, `PUT manifest ${repo}:${ref}`);
  }

  async getManifest(repo: string, ref: string): Promise<Resp> {
    const r = await request(this.agent, 'GET', `${this.base}/v2/${repo}/manifests/${ref}`, {
      headers: this.h({ Accept: ACCEPT_MANIFESTS }),
    });
    expect(r, 200, `GET manifest ${repo}:${ref}`);
    return r;
  }
}

/** A small OCI image, fully built in memory: layer blobs, config, manifest. */
export interface SmallImage {
  blobs: { data: Buffer; digest: string }[];
  manifest: Buffer;
  manifestDigest: string;
}

export function makeSmallImage(layerSizes: number[], tag: string): SmallImage {
  const layers = layerSizes.map((s) => smallBlob(s));
  const config = Buffer.from(
    JSON.stringify({
      created: new Date().toISOString(),
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'], Labels: { 'bench.id': tag } },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      history: layers.map(() => ({ created_by: 'wharf-bench' })),
    }),
  );
  const cfg = { data: config, digest: sha256(config) };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: cfg.digest, size: config.length },
      layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.data.length })),
    }),
  );
  return { blobs: [...layers, cfg], manifest, manifestDigest: sha256(manifest) };
}

/** Push a small image the way clients do: blobs in parallel, then the manifest. */
export async function pushSmallImage(c: RegistryClient, repo: string, tag: string, img: SmallImage): Promise<void> {
  await Promise.all(img.blobs.map((b) => c.pushBuffer(repo, b.data, b.digest)));
  await c.putManifest(repo, tag, img.manifest);
}
