// buildApp(deps): the HTTP server without listen(). Tests use it in-process; main.ts listens.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { OciError } from './errors/oci-errors.ts';
import { DistributionHandlers } from './distribution/handlers.ts';
import { handleV2 } from './distribution/router.ts';
import type { RegistryService } from './distribution/registry-service.ts';
import type { Logger } from './logger.ts';

export interface AppDeps {
  registry: RegistryService;
  logger: Logger;
  /** max request header bytes (Node default 16 KiB) */
  maxHeaderSize?: number;
}

export interface App {
  server: http.Server;
  handle(req: IncomingMessage, res: ServerResponse): void;
}

const COMMON_HEADERS = { 'Docker-Distribution-API-Version': 'registry/2.0' };

export function buildApp(deps: AppDeps): App {
  const handlers = new DistributionHandlers(deps.registry);
  const { logger } = deps;

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
      handleV2(handlers, req, res, pathname, query).catch((e) => fail(req, res, e));
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
