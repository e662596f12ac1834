// Raw HTTP for edge cases fetch() will not send: wrong Content-Length, truncated bodies, huge headers.
import net from 'node:net';
import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json(): any;
}

/** A normal request via node:http (keeps Content-Length as given, no body transformations). */
export function req(base: string, method: string, path: string, headers: Record<string, string | number> = {}, body?: Buffer | string): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const r = http.request({ host: u.hostname, port: u.port, method, path, headers: { ...(body !== undefined && headers['Content-Length'] === undefined ? { 'Content-Length': Buffer.byteLength(body) } : {}), ...headers }, agent: false }, (res) => {
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
 * or `waitMs` passed (for truncated bodies the server may answer nothing).
 */
export function rawSend(base: string, data: string | Buffer, opts: { endAfter?: boolean; waitMs?: number } = {}): Promise<string> {
  const u = new URL(base);
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
