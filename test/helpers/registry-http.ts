// Direct HTTP checks against a registry under test (what a client left behind), plus an optional
// tracing proxy that records every request/response so a failing client run can be explained.
import http from 'node:http';
import { MT } from './images.ts';

export interface HttpResult {
  status: number;
  headers: Headers;
  body: Buffer;
  text(): string;
  json(): any;
}

export const ALL_MANIFEST_TYPES = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

export class RegistryHttp {
  /**
   * `auth`: the Authorization header every request carries (e.g. the admin's Basic credentials,
   * see servers.ts basicAuth); a request's own Authorization header wins ('' sends none).
   */
  constructor(
    readonly url: string,
    readonly auth?: string,
  ) {}

  async request(method: string, p: string, headers: Record<string, string> = {}, body?: Buffer): Promise<HttpResult> {
    const h: Record<string, string> = {};
    if (this.auth && !Object.keys(headers).some((k) => k.toLowerCase() === 'authorization')) h.Authorization = this.auth;
    for (const [k, v] of Object.entries(headers)) if (!(k.toLowerCase() === 'authorization' && v === '')) h[k] = v;
    const r = await fetch(this.url + p, { method, headers: h, body: body ? new Uint8Array(body) : undefined, redirect: 'follow' });
    const b = Buffer.from(await r.arrayBuffer());
    return {
      status: r.status,
      headers: r.headers,
      body: b,
      text: () => b.toString('utf8'),
      json: () => JSON.parse(b.toString('utf8')),
    };
  }

  manifest(name: string, ref: string, opts: { method?: 'GET' | 'HEAD'; accept?: string } = {}): Promise<HttpResult> {
    return this.request(opts.method ?? 'GET', `/v2/${name}/manifests/${ref}`, { Accept: opts.accept ?? ALL_MANIFEST_TYPES });
  }

  blob(name: string, digest: string, method: 'GET' | 'HEAD' = 'GET'): Promise<HttpResult> {
    return this.request(method, `/v2/${name}/blobs/${digest}`);
  }

  async tags(name: string): Promise<string[]> {
    const r = await this.request('GET', `/v2/${name}/tags/list`);
    if (r.status !== 200) throw new Error(`GET /v2/${name}/tags/list -> ${r.status}: ${r.text()}`);
    return r.json().tags ?? [];
  }
}

// ---------------------------------------------------------------------------------------------
// Tracing proxy (enabled by WHARF_E2E_TRACE=1): clients talk to it, it forwards to the registry
// unchanged (Host header included, so absolute Location URLs come back through it) and keeps a
// log of the exchanges.

export interface TraceEntry {
  at: number;
  method: string;
  url: string;
  reqHeaders: Record<string, string | string[] | undefined>;
  status?: number;
  resHeaders?: Record<string, string | string[] | undefined>;
  /** body of error responses (>= 400), clipped */
  errorBody?: string;
  error?: string;
}

export interface TraceProxy {
  host: string;
  url: string;
  entries: TraceEntry[];
  /** the last n exchanges, one per line, with error bodies */
  format(n?: number): string;
  close(): Promise<void>;
}

const SHOW_REQ = ['accept', 'content-type', 'content-length', 'content-range', 'transfer-encoding', 'user-agent'];
const SHOW_RES = ['content-type', 'content-length', 'docker-content-digest', 'location', 'range', 'docker-upload-uuid', 'oci-subject', 'www-authenticate'];

export async function startTraceProxy(targetHost: string, port: number): Promise<TraceProxy> {
  const [tHost, tPort] = targetHost.split(':');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const entries: TraceEntry[] = [];
  const server = http.createServer((req, res) => {
    const e: TraceEntry = { at: Date.now(), method: req.method ?? '?', url: req.url ?? '', reqHeaders: pick(req.headers, SHOW_REQ) };
    entries.push(e);
    if (entries.length > 5000) entries.splice(0, 1000);
    const up = http.request(
      { host: tHost, port: Number(tPort), method: req.method, path: req.url, headers: req.headers, agent },
      (ur) => {
        e.status = ur.statusCode;
        e.resHeaders = pick(ur.headers, SHOW_RES);
        res.writeHead(ur.statusCode ?? 502, ur.rawHeaders);
        if ((ur.statusCode ?? 0) >= 400) {
          let s = '';
          ur.on('data', (d: Buffer) => {
            if (s.length < 2000) s += d.toString('utf8');
          });
          ur.on('end', () => (e.errorBody = s.slice(0, 2000)));
        }
        ur.pipe(res);
      },
    );
    up.on('error', (err) => {
      e.error = String(err);
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    entries,
    format(n = 60) {
      return entries
        .slice(-n)
        .map((e) => {
          const line = `${e.method} ${e.url} ${JSON.stringify(e.reqHeaders)} -> ${e.status ?? e.error ?? 'no response'} ${JSON.stringify(e.resHeaders ?? {})}`;
          return e.errorBody ? `${line}\n    body: ${e.errorBody.trim()}` : line;
        })
        .join('\n');
    },
    async close() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function pick(h: http.IncomingHttpHeaders, keys: string[]): Record<string, string | string[] | undefined> {
  const o: Record<string, string | string[] | undefined> = {};
  for (const k of keys) if (h[k] !== undefined) o[k] = h[k];
  return o;
}
