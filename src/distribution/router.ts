// Routing for /v2. Repository names contain slashes, so routes are matched from the end of
// the path. The raw (undecoded) path is matched: a percent-encoded name (e.g. %2e%2e) never
// matches the name grammar and is refused as NAME_INVALID.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OciError } from '../errors/oci-errors.ts';
import { isValidName } from '../oci/names.ts';
import type { DistributionHandlers, V2Request } from './handlers.ts';
import { authenticateV2, authorizeMountSource, authorizeRepo, canPull, requireLogin, type RepoAction, type V2Access } from './access.ts';
import { Identity, tokenAllows, type ProjectInfo } from '../identity/identity.ts';
import { clientIp } from '../identity/http-auth.ts';
import type { AuditLog } from '../identity/audit.ts';

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

/**
 * Each route's methods and the repository permission each needs (null: login only — `/v2/` and
 * the catalog, which is filtered per caller). Uploads, including their status GET, are push.
 */
const PERMISSIONS: Record<Route['kind'], Record<string, RepoAction | null>> = {
  base: { GET: null, HEAD: null },
  catalog: { GET: null },
  tags: { GET: 'pull' },
  manifest: { GET: 'pull', HEAD: 'pull', PUT: 'push', DELETE: 'delete' },
  uploads: { POST: 'push' },
  upload: { GET: 'push', PATCH: 'push', PUT: 'push', DELETE: 'push' },
  blob: { GET: 'pull', HEAD: 'pull', DELETE: 'delete' },
  referrers: { GET: 'pull' },
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

export interface V2Context {
  access: V2Access;
  audit?: AuditLog;
  /** after a successful manifest PUT (scan-on-push) */
  onManifestPush?: (repo: string, digest: string, project: ProjectInfo | null) => void;
}

export async function handleV2(h: DistributionHandlers, ctx: V2Context, req: IncomingMessage, res: ServerResponse, pathname: string, query: URLSearchParams): Promise<void> {
  const route = matchRoute(pathname);
  if (!route) throw new OciError('NAME_INVALID', 'no such endpoint or invalid repository name', { status: pathname.includes('%') || pathname.includes('..') ? 400 : 404, detail: { path: pathname } });
  const method = req.method ?? 'GET';
  if ('name' in route && !isValidName(route.name)) throw new OciError('NAME_INVALID', 'invalid repository name', { detail: { name: route.name } });
  const perms = PERMISSIONS[route.kind];
  if (!Object.prototype.hasOwnProperty.call(perms, method)) {
    throw new OciError('UNSUPPORTED', `${method} is not supported here`, { headers: { Allow: Object.keys(perms).join(', ') } });
  }
  const auth = await authenticateV2(ctx.access, req);
  const action = perms[method];
  const name = 'name' in route ? route.name : '';
  let project: ProjectInfo | null = null;
  if (route.kind === 'base') requireLogin(ctx.access, req, auth);
  else if (route.kind === 'catalog') requireLogin(ctx.access, req, auth, 'registry:catalog:*');
  else {
    const from = route.kind === 'uploads' && query.get('mount') !== null ? query.get('from') : null;
    const fromOk = from !== null && isValidName(from);
    project = await authorizeRepo(ctx.access, req, auth, name, action!, fromOk ? `repository:${from}:pull` : undefined);
    if (fromOk) await authorizeMountSource(ctx.access, req, auth, name, from!);
  }
  // A mount source must be covered by the token as well; the catalog (which a token grants as a
  // whole) is filtered by the caller's current rights.
  const canPullRepo =
    route.kind === 'catalog'
      ? (repo: string) => canPull(ctx.access, auth.subject, repo)
      : async (repo: string) => (auth.via !== 'bearer' || tokenAllows(auth.claims!, repo, 'pull')) && canPull(ctx.access, auth.subject, repo);
  const r: V2Request = { req, res, method, name, query, canPull: canPullRepo };
  if (ctx.audit && route.kind === 'manifest' && method !== 'HEAD') {
    const audit = ctx.audit;
    res.once('finish', () => {
      if (res.statusCode >= 300) return;
      const reference = route.reference;
      audit.record({
        username: Identity.nameOf(auth.subject),
        operation: method === 'GET' ? 'pull' : method === 'PUT' ? 'create' : 'delete',
        resourceType: 'artifact',
        resource: `${name}${reference.includes(':') ? '@' : ':'}${reference}`,
        projectId: project?.id ?? null,
        clientIp: clientIp(req) ?? null,
      });
    });
  }
  if (ctx.onManifestPush && route.kind === 'manifest' && method === 'PUT') {
    const hook = ctx.onManifestPush;
    res.once('finish', () => {
      const digest = res.getHeader('Docker-Content-Digest');
      if (res.statusCode === 201 && typeof digest === 'string') hook(name, digest, project);
    });
  }
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
