// A "null" registry for calibration: speaks just enough of the distribution API for the
// benchmark (uploads, blob GET, manifest PUT/GET) but stores and verifies nothing: upload
// bodies are counted and dropped, blob GETs stream zeros of the recorded size. Running the
// benchmark against it gives the ceiling of this client + loopback on this machine, so a real
// registry that comes close to it is being limited by the harness, not by itself.
//
// Raw HTTP/1.1 on net (keep-alive, Content-Length bodies only) rather than node:http, so that
// the server side of the calibration is cheap and the ceiling is the client's.
// Usage: node --import tsx bench/null-registry.ts <port>
import net from 'node:net';
import { createHash, randomUUID } from 'node:crypto';

const port = Number(process.argv[2] ?? 0);
const sizes = new Map<string, number>(); // digest -> size
const uploads = new Map<string, number>(); // uuid -> bytes so far
const manifests = new Map<string, { body: Buffer; type: string; digest: string }>(); // repo:ref -> manifest
const ZERO = Buffer.alloc(1 << 20);
const MAX_KEEP = 4 << 20; // bodies kept in memory (manifests); larger ones are only counted

interface Req {
  method: string;
  url: URL;
  headers: Record<string, string>;
  length: number;
  got: number;
  body: Buffer[];
  keep: boolean;
}

const STATUS: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted', 400: 'Bad Request', 404: 'Not Found', 500: 'Internal Server Error' };

function respond(sock: net.Socket, status: number, headers: Record<string, string | number>, body?: Buffer | string, length?: number): void {
  const len = length ?? (body ? Buffer.byteLength(body) : 0);
  const head =
    `HTTP/1.1 ${status} ${STATUS[status] ?? 'Status'}\r\n` +
    Object.entries({ 'Content-Length': len, ...headers })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('') +
    '\r\n';
  sock.write(body ? Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]) : head);
}

function streamZeros(sock: net.Socket, size: number): Promise<void> {
  return new Promise((resolve) => {
    let left = size;
    const pump = () => {
      while (left > 0) {
        if (sock.destroyed) return resolve();
        const n = Math.min(left, ZERO.length);
        left -= n;
        if (!sock.write(n === ZERO.length ? ZERO : ZERO.subarray(0, n))) return void sock.once('drain', pump);
      }
      resolve();
    };
    pump();
  });
}

async function handle(sock: net.Socket, r: Req): Promise<void> {
  const p = r.url.pathname;
  const body = () => Buffer.concat(r.body);
  let m: RegExpExecArray | null;
  if (p === '/v2/' || p === '/v2') return respond(sock, 200, { 'Content-Type': 'application/json' }, '{}');
  if ((m = /^\/v2\/(.+)\/blobs\/uploads\/?$/.exec(p)) && r.method === 'POST') {
    const id = randomUUID();
    uploads.set(id, 0);
    return respond(sock, 202, { Location: `/v2/${m[1]}/blobs/uploads/${id}`, Range: '0-0', 'Docker-Upload-UUID': id });
  }
  if ((m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/.exec(p))) {
    const [, repo, id] = m;
    const total = (uploads.get(id) ?? 0) + r.got;
    if (r.method === 'PATCH') {
      uploads.set(id, total);
      return respond(sock, 202, { Location: `/v2/${repo}/blobs/uploads/${id}`, Range: `0-${total - 1}`, 'Docker-Upload-UUID': id });
    }
    if (r.method === 'PUT') {
      const digest = r.url.searchParams.get('digest') ?? '';
      uploads.delete(id);
      sizes.set(digest, total);
      return respond(sock, 201, { Location: `/v2/${repo}/blobs/${digest}`, 'Docker-Content-Digest': digest });
    }
  }
  if ((m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(p)) && (r.method === 'GET' || r.method === 'HEAD')) {
    const size = sizes.get(m[2]);
    if (size === undefined) return respond(sock, 404, {});
    respond(sock, 200, { 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': m[2] }, undefined, size);
    if (r.method === 'GET') await streamZeros(sock, size);
    return;
  }
  if ((m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(p))) {
    const [, repo, ref] = m;
    if (r.method === 'PUT') {
      const b = body();
      const digest = `sha256:${createHash('sha256').update(b).digest('hex')}`;
      const e = { body: b, type: r.headers['content-type'] ?? '', digest };
      manifests.set(`${repo}:${ref}`, e);
      manifests.set(`${repo}:${digest}`, e);
      return respond(sock, 201, { Location: `/v2/${repo}/manifests/${digest}`, 'Docker-Content-Digest': digest });
    }
    const e = manifests.get(`${repo}:${ref}`);
    if (!e) return respond(sock, 404, {});
    const h = { 'Content-Type': e.type, 'Docker-Content-Digest': e.digest };
    if (r.method === 'HEAD') return respond(sock, 200, h, undefined, e.body.length);
    return respond(sock, 200, h, e.body);
  }
  respond(sock, 404, {});
}

const server = net.createServer({ noDelay: true }, (sock) => {
  let head: Buffer[] = [];
  let req: Req | undefined;
  let queue: Promise<void> = Promise.resolve();
  const onBytes = (b: Buffer): void => {
    while (b.length) {
      if (!req) {
        head.push(Buffer.from(b));
        const all = Buffer.concat(head);
        const i = all.indexOf('\r\n\r\n');
        if (i < 0) {
          head = [all];
          if (all.length > 65536) sock.destroy();
          return;
        }
        head = [];
        const lines = all.subarray(0, i).toString('latin1').split('\r\n');
        const [method, target] = lines[0].split(' ');
        const headers: Record<string, string> = {};
        for (const l of lines.slice(1)) {
          const c = l.indexOf(':');
          if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        req = { method, url: new URL(target, 'http://x'), headers, length, got: 0, body: [], keep: length <= MAX_KEEP };
        b = all.subarray(i + 4);
      }
      const n = Math.min(b.length, req.length - req.got);
      if (req.keep && n) req.body.push(Buffer.from(b.subarray(0, n)));
      req.got += n;
      b = b.subarray(n);
      if (req.got === req.length) {
        const r = req;
        req = undefined;
        queue = queue.then(() => handle(sock, r)).catch(() => void sock.destroy());
      }
    }
  };
  sock.on('data', onBytes);
  sock.on('error', () => sock.destroy());
});

server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
