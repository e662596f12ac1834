// The management API's machinery: a route table in which every route declares the permission it
// needs, Harbor's error envelope, JSON bodies, pagination, and the OpenAPI document generated
// from the same table.
import type { ScanService } from '../scanner/service.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Action, Resource } from '../rbac/permissions.ts';
import { AuthError, Identity, type ProjectInfo, type Subject } from '../identity/identity.ts';
import { authenticate, clientIp, CSRF_HEADER, type RequestAuth } from '../identity/http-auth.ts';
import type { Project } from '../identity/store.ts';
import { safeEqual } from '../identity/secrets.ts';
import type { AuditLog } from '../identity/audit.ts';
import type { Logger } from '../logger.ts';
import type { MetadataStore } from '../metadata/store.ts';
import type { RegistryService } from '../distribution/registry-service.ts';
import type { Config } from '../config/config.ts';
import type { JobService } from '../jobs/types.ts';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a route needs. `project` routes take the project from the `{project_name_or_id}` path parameter. */
export type Perm =
  | { kind: 'anyone' }
  | { kind: 'login' }
  | { kind: 'system'; resource: string; action: string }
  | { kind: 'project'; resource: Resource; action: Action }
  /** the handler decides (documented in `note`) */
  | { kind: 'custom'; note: string };

export const anyone: Perm = { kind: 'anyone' };
export const login: Perm = { kind: 'login' };
export const system = (resource: string, action: string): Perm => ({ kind: 'system', resource, action });
export const project = (resource: Resource, action: Action): Perm => ({ kind: 'project', resource, action });
export const custom = (note: string): Perm => ({ kind: 'custom', note });

export interface ApiRoute {
  method: HttpMethod;
  /** e.g. `/projects/{project_name_or_id}/members/{mid}` (relative to /api/v2.0) */
  path: string;
  tag: string;
  summary: string;
  perm: Perm;
  handler: (c: ApiCtx) => Promise<void>;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (m: string) => new ApiError(400, 'BAD_REQUEST', m);
export const notFound = (m: string) => new ApiError(404, 'NOT_FOUND', m);
export const conflict = (m: string) => new ApiError(409, 'CONFLICT', m);
export const forbidden = (m = 'forbidden') => new ApiError(403, 'FORBIDDEN', m);
export const unauthorized = (m = 'unauthorized') => new ApiError(401, 'UNAUTHORIZED', m);
export const preconditionFailed = (m: string) => new ApiError(412, 'PRECONDITION', m);

export function errorBody(code: string, message: string): string {
  return JSON.stringify({ errors: [{ code, message }] });
}

export interface ApiServices {
  identity: Identity;
  audit: AuditLog;
  logger: Logger;
  store: MetadataStore;
  registry: RegistryService;
  config: Config;
  /** durable jobs (GC, retention) */
  jobs?: JobService;
  /** image scanning (scan jobs and stored reports) */
  scans?: ScanService;
  /** scale-out coordination over Redis (WHARF_REDIS_URL): its state for /health */
  redis?: () => { healthy: boolean; publisher: string; subscriber: string };
}

export class ApiCtx {
  /** the project named by `{project_name_or_id}`, loaded (and permission-checked) for project routes */
  project?: Project;
  private bodyCache?: unknown;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly params: Record<string, string>,
    readonly query: URLSearchParams,
    readonly auth: RequestAuth,
    readonly svc: ApiServices,
  ) {}

  get subject(): Subject {
    return this.auth.subject;
  }
  get identity(): Identity {
    return this.svc.identity;
  }
  get username(): string {
    return Identity.nameOf(this.auth.subject);
  }
  get sysadmin(): boolean {
    return this.subject.kind === 'user' && this.subject.sysadmin;
  }

  /** The JSON body (an object), or a 400. Bodies over 1 MiB are refused. */
  async body<T = Record<string, unknown>>(): Promise<T> {
    if (this.bodyCache !== undefined) return this.bodyCache as T;
    // JSON only: a cross-site form post (text/plain, urlencoded) cannot set this content type
    // without a CORS preflight, so browsers holding credentials cannot be made to send one.
    const ct = String(this.req.headers['content-type'] ?? '').toLowerCase();
    if (!/^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/.test(ct)) throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'request bodies must be JSON (Content-Type: application/json)');
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of this.req) {
      n += (c as Buffer).length;
      if (n > 1 << 20) throw new ApiError(413, 'BAD_REQUEST', 'request body too large');
      chunks.push(c as Buffer);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (!text.trim()) throw badRequest('a JSON request body is required');
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw badRequest('the request body is not valid JSON');
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest('the request body must be a JSON object');
    this.bodyCache = v;
    return v as T;
  }

  /** May the caller do this in the project? Honors personal-access-token scopes for the API. */
  async can(p: ProjectInfo, resource: Resource, action: Action): Promise<boolean> {
    if (!Identity.scopeAllows(this.subject, apiScope(this.req.method ?? 'GET'))) return false;
    return this.identity.can(this.subject, p, resource, action);
  }

  /** Throw 401/403 unless allowed. */
  async require(p: ProjectInfo, resource: Resource, action: Action): Promise<void> {
    if (!(await this.can(p, resource, action))) throw denial(this.subject);
  }

  json(status: number, body: unknown, headers: Record<string, string | number> = {}): void {
    const data = Buffer.from(JSON.stringify(body));
    this.res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length, ...headers });
    this.res.end(this.req.method === 'HEAD' ? undefined : data);
  }

  /** 201 with Location `/api/v2.0/<path>` (Harbor's answer to POST). */
  created(location: string, body?: unknown): void {
    const headers = { Location: `/api/v2.0${location}` };
    if (body === undefined) this.empty(201, headers);
    else this.json(201, body, headers);
  }

  empty(status = 200, headers: Record<string, string | number> = {}): void {
    this.res.writeHead(status, { 'Content-Length': 0, ...headers });
    this.res.end();
  }

  /** `page` (from 1) and `page_size` (default 10, at most 100), as Harbor reads them. */
  page(): { page: number; pageSize: number; offset: number } {
    const p = this.query.get('page') ?? '1';
    const s = this.query.get('page_size') ?? '10';
    if (!/^\d{1,7}$/.test(p) || Number(p) < 1) throw badRequest('page must be an integer from 1 to 9999999');
    if (!/^\d{1,7}$/.test(s) || Number(s) < 1) throw badRequest('page_size must be a positive integer');
    const page = Number(p);
    const pageSize = Math.min(Number(s), 100);
    return { page, pageSize, offset: (page - 1) * pageSize };
  }

  /** Send a page with X-Total-Count and Link headers. */
  paged(items: unknown[], total: number, pg: { page: number; pageSize: number }): void {
    const headers: Record<string, string | number> = { 'X-Total-Count': total };
    const url = new URL(this.req.url ?? '/', 'http://x');
    const links: string[] = [];
    const link = (page: number, rel: string) => {
      url.searchParams.set('page', String(page));
      url.searchParams.set('page_size', String(pg.pageSize));
      links.push(`<${url.pathname}?${url.searchParams.toString()}>; rel="${rel}"`);
    };
    if (pg.page > 1) link(pg.page - 1, 'prev');
    if (pg.page * pg.pageSize < total) link(pg.page + 1, 'next');
    if (links.length) headers.Link = links.join(' , ');
    this.json(200, items, headers);
  }

  audit(operation: string, resourceType: string, resource: string, projectId: number | null = null): void {
    this.svc.audit.record({ username: this.username, operation, resourceType, resource, projectId, clientIp: clientIp(this.req) ?? null });
  }
}

/** A numeric id from the path (at most 15 digits, so it is a safe integer in every database), or a 400. */
export function idParam(c: ApiCtx, name: string): number {
  const v = c.params[name];
  if (v === undefined || !/^\d{1,15}$/.test(v)) throw badRequest(`${name} must be a positive integer`);
  return Number(v);
}

export function apiScope(method: string): 'api:read' | 'api:write' {
  return method === 'GET' || method === 'HEAD' ? 'api:read' : 'api:write';
}

export function denial(s: Subject): ApiError {
  return s.kind === 'anonymous' ? unauthorized() : forbidden();
}

/** Harbor's rule for `{project_name_or_id}`: numeric = id unless `X-Is-Resource-Name: true`. */
export async function resolveProject(c: ApiCtx, ref: string): Promise<Project | null> {
  const byName = String(c.req.headers['x-is-resource-name'] ?? '').toLowerCase() === 'true';
  const store = c.identity.store;
  if (!byName && /^\d+$/.test(ref)) return /^\d{1,15}$/.test(ref) ? store.getProject(Number(ref)) : null;
  return store.getProjectByName(ref);
}

interface Compiled {
  route: ApiRoute;
  re: RegExp;
  names: string[];
}

export class ApiRouter {
  private readonly compiled: Compiled[];

  constructor(
    readonly routes: ApiRoute[],
    private readonly svc: ApiServices,
  ) {
    this.compiled = routes.map((route) => {
      const names: string[] = [];
      const re = new RegExp(
        '^' +
          route.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_m, n: string) => {
            names.push(n);
            return '([^/]+)';
          }) +
          '/?$',
      );
      return { route, re, names };
    });
  }

  /** Handle a request under /api/v2.0 (`sub` is the path after it). */
  async handle(req: IncomingMessage, res: ServerResponse, sub: string, query: URLSearchParams): Promise<void> {
    try {
      await this.dispatch(req, res, sub, query);
    } catch (e) {
      this.fail(req, res, e);
    }
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, sub: string, query: URLSearchParams): Promise<void> {
    const method = (req.method ?? 'GET') as HttpMethod;
    let pathMatched = false;
    // An exact method match wins; HEAD falls back to the GET route of the same path.
    let hit: { c: Compiled; m: RegExpExecArray } | undefined;
    let headFallback: { c: Compiled; m: RegExpExecArray } | undefined;
    for (const c of this.compiled) {
      const m = c.re.exec(sub);
      if (!m) continue;
      pathMatched = true;
      if (c.route.method === method) {
        hit = { c, m };
        break;
      }
      if (method === 'HEAD' && c.route.method === 'GET' && !headFallback) headFallback = { c, m };
    }
    hit ??= headFallback;
    if (hit) {
      const { c, m } = hit;
      const params: Record<string, string> = {};
      c.names.forEach((n, i) => {
        try {
          params[n] = decodeURIComponent(m[i + 1]);
        } catch {
          throw badRequest(`malformed path parameter ${n}`);
        }
      });
      let auth: RequestAuth;
      try {
        auth = await authenticate(req, this.svc.identity, { allowSession: true, allowBearer: false });
      } catch (e) {
        if (e instanceof AuthError) throw unauthorized(e.message);
        throw e;
      }
      if (auth.via === 'session' && !['GET', 'HEAD', 'OPTIONS'].includes(method)) {
        const sent = req.headers[CSRF_HEADER];
        if (typeof sent !== 'string' || !auth.csrf || !safeEqual(sent, auth.csrf)) throw forbidden('CSRF token invalid');
      }
      const ctx = new ApiCtx(req, res, params, query, auth, this.svc);
      await this.authorize(ctx, c.route);
      await c.route.handler(ctx);
      return;
    }
    if (pathMatched) throw new ApiError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on this resource`);
    throw notFound(`no such API endpoint: ${sub}`);
  }

  private async authorize(c: ApiCtx, route: ApiRoute): Promise<void> {
    const p = route.perm;
    const s = c.subject;
    const scopeOk = Identity.scopeAllows(s, apiScope(c.req.method ?? 'GET'));
    switch (p.kind) {
      case 'anyone':
        if (s.kind !== 'anonymous' && !scopeOk) throw forbidden('the access token lacks the scope for this request');
        return;
      case 'custom':
        if (s.kind !== 'anonymous' && !scopeOk) throw forbidden('the access token lacks the scope for this request');
        return;
      case 'login':
        if (s.kind === 'anonymous') throw unauthorized();
        if (!scopeOk) throw forbidden('the access token lacks the scope for this request');
        return;
      case 'system':
        if (s.kind === 'anonymous') throw unauthorized();
        if (!scopeOk || !c.identity.canSystem(s, p.resource, p.action)) throw forbidden();
        return;
      case 'project': {
        const ref = c.params.project_name_or_id;
        const proj = await resolveProject(c, ref);
        if (!proj) {
          // Do not tell anonymous callers which private projects exist.
          if (s.kind === 'anonymous') throw unauthorized();
          throw notFound(`project ${ref} not found`);
        }
        c.project = proj;
        // Harbor's answer: 401 to anonymous callers, 403 to others (also for private projects
        // they cannot read; Harbor does not hide a project's existence behind 404 either).
        if (!(await c.can(proj, p.resource, p.action))) throw denial(s);
        return;
      }
    }
  }

  private fail(req: IncomingMessage, res: ServerResponse, e: unknown): void {
    let err: ApiError;
    if (e instanceof ApiError) err = e;
    else {
      this.svc.logger.error('API request failed', { method: req.method, url: req.url, error: (e as Error)?.stack ?? String(e) });
      err = new ApiError(500, 'INTERNAL_SERVER_ERROR', 'internal server error');
    }
    if (res.headersSent) return void res.destroy();
    const body = errorBody(err.code, err.message);
    res.writeHead(err.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
    if (!req.complete) req.resume();
  }

  /** OpenAPI 3 document generated from the route table. */
  openapi(version: string): unknown {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.routes) {
      const params = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
      (paths[r.path] ??= {})[r.method.toLowerCase()] = {
        tags: [r.tag],
        summary: r.summary,
        parameters: params,
        'x-wharf-permission': permText(r.perm),
        responses: { default: { description: 'Harbor error envelope on failure', content: { 'application/json': { schema: { $ref: '#/components/schemas/Errors' } } } } },
      };
    }
    return {
      openapi: '3.0.3',
      info: { title: 'Wharf management API (Harbor v2.0 compatible)', version },
      servers: [{ url: '/api/v2.0' }],
      components: {
        securitySchemes: { basic: { type: 'http', scheme: 'basic' }, session: { type: 'apiKey', in: 'cookie', name: 'sid' } },
        schemas: { Errors: { type: 'object', properties: { errors: { type: 'array', items: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } } } } },
      },
      security: [{ basic: [] }, { session: [] }],
      paths,
    };
  }
}

export function permText(p: Perm): string {
  switch (p.kind) {
    case 'anyone':
      return 'anyone';
    case 'login':
      return 'any authenticated user';
    case 'system':
      return `system ${p.resource}:${p.action} (system admin)`;
    case 'project':
      return `project ${p.resource}:${p.action}`;
    case 'custom':
      return p.note;
  }
}
