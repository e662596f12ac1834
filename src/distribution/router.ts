// Routing for /v2. Repository names contain slashes, so routes are matched from the end of
// the path. The raw (undecoded) path is matched: a percent-encoded name (e.g. %2e%2e) never
// matches the name grammar and is refused as NAME_INVALID.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OciError } from '../errors/oci-errors.ts';
import { isValidName } from '../oci/names.ts';
import type { DistributionHandlers, V2Request } from './handlers.ts';

type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'referrers'; name: string; digest: string };

const PATTERNS: [RegExp, (m: RegExpExecArray) => Route][] = [
  [/^\/v2\/?$/, () => ({ kind: 'base' })],
  [/^\/v2\/_catalog$/, () => ({ kind: 'catalog' })],
  [/^\/v2\/(.+)\/tags\/list$/, (m) => ({ kind: 'tags', name: m[1] })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1], reference: m[2] })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: 'uploads', name: m[1] })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: 'upload', name: m[1], id: m[2] })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1], digest: m[2] })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: 'referrers', name: m[1], digest: m[2] })],
];

const METHODS: Record<Route['kind'], string[]> = {
  base: ['GET', 'HEAD'],
  catalog: ['GET'],
  tags: ['GET'],
  manifest: ['GET', 'HEAD', 'PUT', 'DELETE'],
  uploads: ['POST'],
  upload: ['GET', 'PATCH', 'PUT', 'DELETE'],
  blob: ['GET', 'HEAD', 'DELETE'],
  referrers: ['GET'],
};

/** References, digests and upload ids may arrive percent-encoded (`sha256%3A…`); names never are. */
function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function matchRoute(pathname: string): Route | null {
  for (const [re, make] of PATTERNS) {
    const m = re.exec(pathname);
    if (!m) continue;
    const r = make(m);
    if ('reference' in r) r.reference = decodeSegment(r.reference);
    if ('digest' in r) r.digest = decodeSegment(r.digest);
    if ('id' in r) r.id = decodeSegment(r.id);
    return r;
  }
  return null;
}

export async function handleV2(h: DistributionHandlers, req: IncomingMessage, res: ServerResponse, pathname: string, query: URLSearchParams): Promise<void> {
  const route = matchRoute(pathname);
  if (!route) throw new OciError('NAME_INVALID', 'no such endpoint or invalid repository name', { status: pathname.includes('%') || pathname.includes('..') ? 400 : 404, detail: { path: pathname } });
  const method = req.method ?? 'GET';
  if ('name' in route && !isValidName(route.name)) throw new OciError('NAME_INVALID', 'invalid repository name', { detail: { name: route.name } });
  if (!METHODS[route.kind].includes(method)) {
    throw new OciError('UNSUPPORTED', `${method} is not supported here`, { headers: { Allow: METHODS[route.kind].join(', ') } });
  }
  const r: V2Request = { req, res, method, name: 'name' in route ? route.name : '', query };
  switch (route.kind) {
    case 'base':
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 2 });
      return void res.end(method === 'HEAD' ? undefined : '{}');
    case 'catalog':
      return h.catalog(r);
    case 'tags':
      return h.tags(r);
    case 'manifest':
      return h.manifest(r, route.reference);
    case 'uploads':
      return h.startUpload(r);
    case 'upload':
      return h.upload(r, route.id);
    case 'blob':
      return h.blob(r, route.digest);
    case 'referrers':
      return h.referrers(r, route.digest);
  }
}
