// node:http with keep-alive agents, for the small requests (manifests, the many-small-images
// push). Large blob transfers use ./rawhttp.ts (see there why).
import http from 'node:http';
import type { Readable } from 'node:stream';

export interface Resp {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** at most the first 64 KiB of the body (error messages, manifests) */
  body: Buffer;
}

export class HttpError extends Error {
  constructor(
    message: string,
    public status?: number,
    public body?: string,
  ) {
    super(message);
  }
}

export function makeAgent(maxSockets = Infinity): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, scheduling: 'lifo' });
}

export type Body = Buffer | string | (() => Readable) | undefined;

export interface ReqOpts {
  headers?: Record<string, string | number>;
  body?: Body;
  /** required when body is a stream factory */
  length?: number;
  /** idle socket timeout (ms) */
  timeoutMs?: number;
}

const KEEP_BODY = 64 * 1024;

/** One request; resolves with the status, headers and (truncated) body. Never rejects on HTTP status. */
export function request(agent: http.Agent, method: string, url: string | URL, opts: ReqOpts = {}): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const u = typeof url === 'string' ? new URL(url) : url;
    const headers: Record<string, string | number> = { ...(opts.headers ?? {}) };
    const b = opts.body;
    if (b === undefined) {
      if (method !== 'GET' && method !== 'HEAD') headers['Content-Length'] = 0;
    } else if (typeof b === 'function') {
      if (opts.length === undefined) throw new Error('stream body needs length');
      headers['Content-Length'] = opts.length;
    } else {
      headers['Content-Length'] = Buffer.byteLength(b);
    }
    let settled = false;
    const req = http.request(
      { agent, method, hostname: u.hostname, port: u.port, path: u.pathname + u.search, headers },
      (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (d: Buffer) => {
          if (kept < KEEP_BODY) {
            chunks.push(d);
            kept += d.length;
          }
        });
        res.on('end', () => {
          settled = true;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on('error', (e) => {
          if (!settled) {
            settled = true;
            reject(e);
          }
        });
      },
    );
    req.setTimeout(opts.timeoutMs ?? 120_000, () => req.destroy(new Error(`${method} ${u.pathname}: socket idle timeout`)));
    req.on('error', (e) => {
      if (!settled) {
        settled = true;
        reject(e);
      }
    });
    if (typeof b === 'function') {
      const src = b();
      src.on('error', (e) => req.destroy(e));
      src.pipe(req);
    } else {
      req.end(b);
    }
  });
}
