// buildApp(deps): the HTTP server without listen(). Tests use it in-process; main.ts listens.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { OciError } from './errors/oci-errors.ts';
import { DistributionHandlers } from './distribution/handlers.ts';
import { handleV2, type V2Context } from './distribution/router.ts';
import type { RegistryService } from './distribution/registry-service.ts';
import type { Logger } from './logger.ts';
import type { Identity } from './identity/identity.ts';
import type { AuditLog } from './identity/audit.ts';
import type { ApiRouter } from './api/framework.ts';
import { loginEndpoint, logoutEndpoint, tokenEndpoint, type EndpointDeps } from './identity/endpoints.ts';
import { errorBody } from './api/framework.ts';

export interface AppDeps {
  registry: RegistryService;
  logger: Logger;
  identity: Identity;
  audit: AuditLog;
  api: ApiRouter;
  externalUrl?: string;
  sessionTtlMs: number;
  /** a manifest was pulled (GET, not HEAD): retention's pull-time tracking */
  onManifestPull?: (repo: string, digest: string) => void;
  onManifestPush?: V2Context['onManifestPush'];
  /** max request header bytes (Node default 16 KiB) */
  maxHeaderSize?: number;
}

export interface App {
  server: http.Server;
  handle(req: IncomingMessage, res: ServerResponse): void;
}

const COMMON_HEADERS = { 'Docker-Distribution-API-Version': 'registry/2.0' };

export function buildApp(deps: AppDeps): App {
  const handlers = new DistributionHandlers(deps.registry, deps.onManifestPull);
  const { logger } = deps;
  const v2ctx: V2Context = { access: { identity: deps.identity, externalUrl: deps.externalUrl }, audit: deps.audit, onManifestPush: deps.onManifestPush };
  const ep: EndpointDeps = { identity: deps.identity, audit: deps.audit, sessionTtlMs: deps.sessionTtlMs, externalUrl: deps.externalUrl };
  const failPlain = (req: IncomingMessage, res: ServerResponse, e: unknown) => {
    logger.error('request failed', { method: req.method, path: (req.url ?? '').split('?')[0], error: (e as Error)?.stack ?? String(e) });
    if (res.headersSent) return void res.destroy();
    const body = errorBody('INTERNAL_SERVER_ERROR', 'internal server error');
    res.writeHead(500, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };

  const fail = (req: IncomingMessage, res: ServerResponse, e: unknown) => {
    let err: OciError;
    if (e instanceof OciError) err = e;
    else {
      const code = (e as NodeJS.ErrnoException)?.code;
      if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (e as Error)?.message === 'aborted') {
        // The client went away (short body, cancelled transfer): nothing can be answered.
        logger.debug('client aborted', { method: req.method, url: req.url });
        if (!res.headersSent) res.destroy();
        return;
      }
      logger.error('request failed', { method: req.method, url: req.url, error: (e as Error)?.stack ?? String(e) });
      err = new OciError('UNKNOWN', 'internal server error');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = req.method === 'HEAD' ? undefined : err.body();
    res.writeHead(err.status, {
      ...err.headers,
      'Content-Type': 'application/json',
      'Content-Length': body ? Buffer.byteLength(body) : 0,
    });
    res.end(body);
    // A request whose body we did not read would poison the keep-alive connection.
    if (!req.complete) req.resume();
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    for (const [k, v] of Object.entries(COMMON_HEADERS)) res.setHeader(k, v);
    if (logger.enabled('debug')) {
      const t0 = process.hrtime.bigint();
      res.on('finish', () => logger.debug('request', { method: req.method, path: pathname, status: res.statusCode, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    }
    if (pathname === '/v2' || pathname.startsWith('/v2/')) {
      handleV2(handlers, v2ctx, req, res, pathname, query).catch((e) => fail(req, res, e));
      return;
    }
    if (pathname.startsWith('/api/v2.0/')) {
      deps.api.handle(req, res, pathname.slice('/api/v2.0'.length), query).catch((e) => failPlain(req, res, e));
      return;
    }
    if (pathname === '/service/token') {
      tokenEndpoint(ep, req, res, query).catch((e) => failPlain(req, res, e));
      return;
    }
    if (pathname === '/c/login') {
      loginEndpoint(ep, req, res).catch((e) => failPlain(req, res, e));
      return;
    }
    if (pathname === '/c/log_out') {
      logoutEndpoint(ep, req, res).catch((e) => failPlain(req, res, e));
      return;
    }
    if (pathname === '/health' || pathname === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"status":"healthy"}');
      return;
    }
    fail(req, res, new OciError('NAME_UNKNOWN', 'not found', { status: 404, detail: { path: pathname } }));
  };

  const server = http.createServer({ maxHeaderSize: deps.maxHeaderSize ?? 16 * 1024, keepAliveTimeout: 65_000 }, handle);
  // Large uploads may take longer than Node's default 5 minute request timeout.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? 431 : 400;
    const body = JSON.stringify({ errors: [{ code: tooLarge ? 'SIZE_INVALID' : 'UNSUPPORTED', message: tooLarge ? 'request headers too large' : 'malformed HTTP request' }] });
    socket.end(
      `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  return { server, handle };
}
