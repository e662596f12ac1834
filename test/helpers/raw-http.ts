// Raw HTTP for edge cases fetch() will not send: wrong Content-Length, truncated bodies, huge headers.
//
// `base` is a URL, or a registry ({url, admin}): then every request carries the admin's Basic
// credentials, unless the caller sets Authorization itself ('' sends none).
import net from 'node:net';
import http from 'node:http';
import { basicAuth, type Credentials } from './servers.ts';

export type Base = string | { url: string; admin?: Credentials };

function target(base: Base): { url: string; auth?: string } {
  if (typeof base === 'string') return { url: base };
  return { url: base.url, auth: base.admin ? basicAuth(base.admin) : undefined };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json(): any;
}

/** A normal request via node:http (keeps Content-Length as given, no body transformations). */
export function req(base: Base, method: string, path: string, headers: Record<string, string | number> = {}, body?: Buffer | string): Promise<RawResponse> {
  const { url, auth } = target(base);
  const u = new URL(url);
  const h: Record<string, string | number> = { ...(body !== undefined && headers['Content-Length'] === undefined ? { 'Content-Length': Buffer.byteLength(body) } : {}) };
  if (auth && !Object.keys(headers).some((k) => k.toLowerCase() === 'authorization')) h.Authorization = auth;
  for (const [k, v] of Object.entries(headers)) if (!(k.toLowerCase() === 'authorization' && v === '')) h[k] = v;
  return new Promise((resolve, reject) => {
    const r = http.request({ host: u.hostname, port: u.port, method, path, headers: h, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => {
        const b = Buffer.concat(parts);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, json: () => JSON.parse(b.toString()) });
      });
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(body);
  });
}

/**
 * Send raw bytes on a fresh connection and return what came back before the server closed
 * or `waitMs` passed (for truncated bodies the server may answer nothing). With a registry as
 * `base`, an Authorization header line is inserted after the request line (`auth: false`: none).
 */
export function rawSend(base: Base, data: string | Buffer, opts: { endAfter?: boolean; waitMs?: number; auth?: boolean } = {}): Promise<string> {
  const { url, auth } = target(base);
  const u = new URL(url);
  if (auth && opts.auth !== false) {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data); // (utf8, as socket.write(string) sends it)
    const eol = buf.indexOf('\r\n');
    if (eol >= 0) data = Buffer.concat([buf.subarray(0, eol + 2), Buffer.from(`Authorization: ${auth}\r\n`, 'latin1'), buf.subarray(eol + 2)]);
  }
  return new Promise((resolve) => {
    const s = net.connect(Number(u.port), u.hostname);
    let out = '';
    const done = () => {
      s.destroy();
      resolve(out);
    };
    s.on('data', (d) => (out += d.toString()));
    s.on('close', done);
    s.on('error', done);
    s.write(data, () => {
      if (opts.endAfter) s.end();
    });
    setTimeout(done, opts.waitMs ?? 1500);
  });
}
