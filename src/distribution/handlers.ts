// /v2 HTTP handlers: parse the request, call one RegistryService method, set headers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { OciError } from '../errors/oci-errors.ts';
import { parseDigest } from '../oci/digest.ts';
import { MT } from '../oci/media-types.ts';
import { assertName } from '../oci/names.ts';
import type { ContentRange, RegistryService } from './registry-service.ts';
import { sendFileToResponse } from '../storage/sendfile.ts';
import { PathNotFoundError } from '../storage/driver.ts';

export interface V2Request {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  name: string;
  query: URLSearchParams;
  /** may the caller pull from this repository? (cross-repo mount sources, catalog entries) */
  canPull: (repo: string) => Promise<boolean>;
}

const MAX_PAGE = 10_000;

function contentLength(req: IncomingMessage): number | undefined {
  const v = req.headers['content-length'];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new OciError('SIZE_INVALID', 'invalid Content-Length');
  return Number(v);
}

/** `Content-Range: <start>-<end>` (distribution's form; a `bytes ` prefix is tolerated). */
function parseContentRange(v: string | undefined): ContentRange | undefined {
  if (v === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(v.trim());
  if (!m) throw new OciError('RANGE_INVALID', `invalid Content-Range ${JSON.stringify(v)}`, { status: 416 });
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) throw new OciError('RANGE_INVALID', `invalid Content-Range ${JSON.stringify(v)}`, { status: 416 });
  return { start, end };
}

/** `Range: bytes=a-b` / `bytes=a-` / `bytes=-n` against a size; null when absent. */
function parseRange(v: string | undefined, size: number): { start: number; end: number } | null {
  if (!v) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(v.trim());
  if (!m || (m[1] === '' && m[2] === '')) {
    // Multiple ranges and other units are not supported: serve the whole blob (RFC 9110 allows ignoring Range).
    return null;
  }
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) {
    throw new OciError('RANGE_INVALID', 'requested range not satisfiable', { status: 416, headers: { 'Content-Range': `bytes */${size}` } });
  }
  return { start, end };
}

/**
 * One page of a sorted listing (`n`, `last`), with a `Link` to the next page whenever the
 * listing goes on. Fetches one entry more than the page to know; with n=0 that single lookup
 * still answers 404 for an unknown repository.
 */
async function paginate(q: URLSearchParams, base: string, list: (n: number, last?: string) => Promise<string[]>) {
  const raw = q.get('n');
  if (raw !== null && !/^\d+$/.test(raw)) throw new OciError('PAGINATION_NUMBER_INVALID', 'n must be a non-negative integer', { detail: { n: raw } });
  const limit = raw === null ? MAX_PAGE : Math.min(Number(raw), MAX_PAGE);
  const items = await list(limit + 1, q.get('last') ?? undefined);
  const page = items.slice(0, limit);
  const headers: Record<string, string> = {};
  if (items.length > limit && page.length > 0) {
    headers.Link = `<${base}?n=${limit}&last=${encodeURIComponent(page[page.length - 1])}>; rel="next"`;
  }
  return { page, headers };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length, ...headers });
  res.end(data);
}

function empty(res: ServerResponse, status: number, headers: Record<string, string | number>): void {
  res.writeHead(status, { 'Content-Length': 0, ...headers });
  res.end();
}

const uploadUrl = (name: string, id: string) => `/v2/${name}/blobs/uploads/${id}`;
const rangeHeader = (size: number) => `0-${Math.max(0, size - 1)}`;

async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req) {
    /* discard */
  }
}

async function drainUpTo(req: IncomingMessage, max: number): Promise<void> {
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > max) return;
  }
}

/** Bodies up to this size are read to the end before an error, so the client sees the answer. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const cl = contentLength(req);
  const tooLarge = () => new OciError('SIZE_INVALID', `manifest exceeds ${limit} bytes`, { status: 413 });
  if (cl !== undefined && cl > limit) {
    if (cl <= DRAIN_LIMIT) await drain(req);
    throw tooLarge();
  }
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > limit) {
      if (n <= DRAIN_LIMIT) await drainUpTo(req, DRAIN_LIMIT - n);
      throw tooLarge();
    }
    parts.push(c as Buffer);
  }
  if (cl !== undefined && n !== cl) throw new OciError('SIZE_INVALID', `received ${n} bytes, Content-Length was ${cl}`);
  return Buffer.concat(parts);
}

export class DistributionHandlers {
  constructor(
    private readonly svc: RegistryService,
    private readonly onPull?: (repo: string, digest: string) => void,
  ) {}

  // ---- blobs ----

  async blob(r: V2Request, digest: string): Promise<void> {
    const { res, req, name } = r;
    if (r.method === 'DELETE') {
      await this.svc.deleteBlob(name, digest);
      return empty(res, 202, { 'Docker-Content-Digest': digest });
    }
    const b = await this.svc.statBlob(name, digest);
    const range = r.method === 'HEAD' ? null : parseRange(req.headers.range, b.size);
    const headers: Record<string, string | number> = {
      'Docker-Content-Digest': b.digest,
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      ETag: `"${b.digest}"`,
      'Cache-Control': 'max-age=31536000',
    };
    if (r.method === 'HEAD') {
      res.writeHead(200, { ...headers, 'Content-Length': b.size });
      return void res.end();
    }
    if (req.headers['if-none-match'] === `"${b.digest}"`) {
      res.writeHead(304, headers);
      return void res.end();
    }
    if (b.size === 0) {
      res.writeHead(200, { ...headers, 'Content-Length': 0 });
      return void res.end();
    }
    // scale-out on S3 (WHARF_S3_REDIRECT): the client fetches the bytes from the storage itself;
    // access was checked above (statBlob reads through this repository's link)
    const pending = this.svc.blobRedirectUrl(b.digest);
    const redirect = pending && (await pending);
    if (redirect) {
      res.writeHead(307, { Location: redirect, 'Docker-Content-Digest': b.digest, 'Content-Length': 0 });
      return void res.end();
    }
    const start = range?.start ?? 0;
    const length = range ? range.end - range.start + 1 : b.size;
    const writeHead = () =>
      range
        ? res.writeHead(206, { ...headers, 'Content-Length': length, 'Content-Range': `bytes ${range.start}-${range.end}/${b.size}` })
        : res.writeHead(200, { ...headers, 'Content-Length': length });
    const local = this.svc.blobLocalPath(b.digest);
    if (local) {
      // Zero-copy: sendfile(2) from the blob file to the socket (falls back to streams).
      // (A blob row whose file is missing would reject here after the status line was
      // stored; the connection is then closed, as for any failure mid-response.)
      writeHead();
      if (await sendFileToResponse(res, local, start, length)) return;
    }
    let stream;
    try {
      stream = await this.svc.openBlob(name, b.digest, range ?? undefined);
    } catch (e) {
      if (e instanceof PathNotFoundError) throw new OciError('BLOB_UNKNOWN', 'blob content is missing', { detail: { digest: b.digest } });
      throw e;
    }
    if (!local) writeHead();
    await pipeline(stream, res).catch((e) => {
      // The client went away mid-download; nothing to answer.
      if ((e as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw e;
    });
  }

  // ---- uploads ----

  async startUpload(r: V2Request): Promise<void> {
    const { req, res, name, query } = r;
    const mount = query.get('mount');
    if (mount !== null) {
      parseDigest(mount);
      const from = query.get('from') ?? undefined;
      if (from !== undefined) assertName(from);
      if (await this.svc.mountBlob(name, mount, from, r.canPull)) {
        await drain(req);
        return empty(res, 201, { Location: `/v2/${name}/blobs/${mount}`, 'Docker-Content-Digest': mount });
      }
    }
    const digest = query.get('digest');
    if (digest !== null && mount === null) {
      parseDigest(digest);
      const d = await this.svc.monolithicUpload(name, digest, { stream: req, contentLength: contentLength(req) });
      return empty(res, 201, { Location: `/v2/${name}/blobs/${d}`, 'Docker-Content-Digest': d });
    }
    await drain(req);
    const id = await this.svc.startUpload(name);
    return empty(res, 202, { Location: uploadUrl(name, id), Range: '0-0', 'Docker-Upload-UUID': id });
  }

  async upload(r: V2Request, id: string): Promise<void> {
    const { req, res, name, query } = r;
    switch (r.method) {
      case 'GET': {
        const size = await this.svc.uploadOffset(name, id);
        return empty(res, 204, { Location: uploadUrl(name, id), Range: rangeHeader(size), 'Docker-Upload-UUID': id });
      }
      case 'PATCH': {
        const range = parseContentRange(req.headers['content-range']);
        const size = await this.svc.appendUpload(name, id, { stream: req, contentLength: contentLength(req) }, range);
        return empty(res, 202, { Location: uploadUrl(name, id), Range: rangeHeader(size), 'Docker-Upload-UUID': id });
      }
      case 'PUT': {
        const digest = query.get('digest');
        if (digest === null) throw new OciError('DIGEST_INVALID', 'digest query parameter is required');
        parseDigest(digest);
        const range = parseContentRange(req.headers['content-range']);
        const cl = contentLength(req);
        const d = await this.svc.finishUpload(name, id, digest, cl === 0 ? null : { stream: req, contentLength: cl }, range);
        if (cl === 0) await drain(req);
        return empty(res, 201, { Location: `/v2/${name}/blobs/${d}`, 'Docker-Content-Digest': d });
      }
      case 'DELETE': {
        await this.svc.cancelUpload(name, id);
        return empty(res, 204, {});
      }
    }
  }

  // ---- manifests ----

  async manifest(r: V2Request, reference: string): Promise<void> {
    const { req, res, name } = r;
    switch (r.method) {
      case 'GET':
      case 'HEAD': {
        const m = await this.svc.getManifest(name, reference);
        if (r.method === 'GET') this.onPull?.(name, m.digest);
        const headers: Record<string, string | number> = {
          'Content-Type': m.mediaType,
          'Content-Length': m.size,
          'Docker-Content-Digest': m.digest,
          ETag: `"${m.digest}"`,
        };
        res.writeHead(200, headers);
        return void res.end(r.method === 'HEAD' ? undefined : m.content);
      }
      case 'PUT': {
        const body = await readBody(req, 4 * 1024 * 1024);
        const { digest, subject } = await this.svc.putManifest(name, reference, body, req.headers['content-type']);
        const headers: Record<string, string> = { Location: `/v2/${name}/manifests/${digest}`, 'Docker-Content-Digest': digest };
        if (subject) headers['OCI-Subject'] = subject;
        return empty(res, 201, headers);
      }
      case 'DELETE': {
        await this.svc.deleteManifest(name, reference);
        return empty(res, 202, {});
      }
    }
  }

  // ---- listings ----

  async tags(r: V2Request): Promise<void> {
    const { page, headers } = await paginate(r.query, `/v2/${r.name}/tags/list`, (n, last) => this.svc.listTags(r.name, n, last));
    sendJson(r.res, 200, { name: r.name, tags: page }, headers);
  }

  async referrers(r: V2Request, digest: string): Promise<void> {
    const { res, name, query } = r;
    const artifactType = query.get('artifactType') ?? undefined;
    const manifests = await this.svc.listReferrers(name, digest, artifactType);
    const headers: Record<string, string> = { 'Content-Type': MT.OCI_INDEX };
    if (artifactType !== undefined) headers['OCI-Filters-Applied'] = 'artifactType';
    sendJson(res, 200, { schemaVersion: 2, mediaType: MT.OCI_INDEX, manifests }, headers);
  }

  async catalog(r: V2Request): Promise<void> {
    // Only what the caller may pull: read on in batches until the page is full or the catalog ends.
    const visible = async (n: number, last?: string): Promise<string[]> => {
      const out: string[] = [];
      let cursor = last;
      const batch = Math.min(Math.max(n, 100), MAX_PAGE);
      for (;;) {
        const names = await this.svc.catalog(batch, cursor);
        for (const name of names) if (out.length < n && (await r.canPull(name))) out.push(name);
        if (out.length >= n || names.length < batch) return out;
        cursor = names[names.length - 1];
      }
    };
    const { page, headers } = await paginate(r.query, '/v2/_catalog', visible);
    sendJson(r.res, 200, { repositories: page }, headers);
  }
}
