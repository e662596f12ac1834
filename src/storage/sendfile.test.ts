import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createReadStream, promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveSendMode, sendFileToResponse, setZeroCopyIdleTimeout, zeroCopyAvailable, type SendMode } from './sendfile.ts';

const SIZE = 20 << 20;
const SKIP_MSG =
  'zero-copy tests SKIPPED: build/Release/wharf_native.node is not built (run `npm run install` / `node scripts/build-native.js`, WHARF_NATIVE_VERBOSE=1 shows why it failed)';

// Set WHARF_REQUIRE_ZERO_COPY=1 (e.g. in CI) to make a missing addon a failure instead of a skip.
if (!zeroCopyAvailable) {
  if (process.env.WHARF_REQUIRE_ZERO_COPY === '1') throw new Error(SKIP_MSG.replace('SKIPPED', 'FAILED (WHARF_REQUIRE_ZERO_COPY=1)'));
  console.warn(SKIP_MSG);
}

type Outcome = boolean | Error;

interface Fetched {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  localPort: number;
}

let dir: string;
let file: string;
let shortFile: string;
let data: Buffer;
let server: http.Server;
let port: number;
let connections = 0;
/** What sendFileToResponse answered, by the request's `id` query parameter. */
const outcomes = new Map<string, Outcome>();
let nextId = 0;
/** A fresh request id; the server records its outcome under it. */
function rid(): string {
  return String(++nextId);
}

async function outcomeOf(ids: string[], ms = 20_000): Promise<Outcome[]> {
  const deadline = Date.now() + ms;
  while (!ids.every((id) => outcomes.has(id))) {
    if (Date.now() > deadline) throw new Error(`only ${ids.filter((id) => outcomes.has(id)).length}/${ids.length} transfers finished in ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return ids.map((id) => outcomes.get(id)!);
}

async function handler(req: http.IncomingMessage, res: http.ServerResponse) {
  const u = new URL(req.url ?? '/', 'http://x');
  const target = u.pathname === '/short' ? shortFile : u.pathname === '/missing' ? path.join(dir, 'nope') : file;
  const start = Number(u.searchParams.get('start') ?? 0);
  const length = Number(u.searchParams.get('length') ?? SIZE - start);
  const id = u.searchParams.get('id') ?? '';
  const mode = (u.searchParams.get('mode') ?? undefined) as SendMode | undefined;
  const recordOutcome = (o: Outcome) => outcomes.set(id, o);
  res.writeHead(u.searchParams.has('start') ? 206 : 200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': length,
  });
  try {
    const ok = await sendFileToResponse(res, target, start, length, { mode });
    recordOutcome(ok);
    if (!ok) await pipeline(createReadStream(target, { start, end: start + length - 1 }), res).catch(() => {});
  } catch (e) {
    recordOutcome(e as Error);
    res.destroy();
  }
}

function get(urlPath: string, agent: http.Agent | false): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), localPort: req.socket?.localPort ?? 0 }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

function expectBody(got: Buffer, start: number, length: number) {
  expect(got.length).toBe(length);
  // Buffer.equals, not toEqual: a 20 MiB diff would be unreadable.
  expect(got.equals(data.subarray(start, start + length))).toBe(true);
}

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'wharf-sendfile-'));
  data = randomBytes(SIZE);
  file = path.join(dir, 'blob');
  shortFile = path.join(dir, 'short');
  await fsp.writeFile(file, data);
  await fsp.writeFile(shortFile, data.subarray(0, 1 << 20));
  server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => void handler(req, res));
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

/** The native mode the data-path tests below run with (each describe block sets it). */
let currentMode: SendMode = 'sendfile';

/** `/blob?id=…&mode=…[&start=…&length=…]`: a request path whose outcome is recorded under `id`. */
function url(id: string, p = '/blob', range?: [number, number]): string {
  const q = `${p}?id=${id}&mode=${currentMode}`;
  return range ? `${q}&start=${range[0]}&length=${range[1]}` : q;
}

describe('sendFileToResponse', () => {
  it('SIGPIPE is ignored process-wide by Node (sendfile(2) on a reset socket cannot kill us)', async () => {
    const status = await fsp.readFile('/proc/self/status', 'utf8');
    const ign = BigInt('0x' + /SigIgn:\s*([0-9a-f]+)/.exec(status)![1]);
    expect((ign >> 12n) & 1n).toBe(1n); // SIGPIPE = 13 → bit 12
  });

  it("default is copy for every peer; mode 'auto' copies for peers on this host and uses sendfile(2) for remote ones", () => {
    const prev = process.env.WHARF_SEND_MODE;
    delete process.env.WHARF_SEND_MODE;
    try {
      for (const a of ['127.0.0.1', '10.0.0.7', '2001:db8::1']) expect(resolveSendMode({ remoteAddress: a })).toBe('copy');
      for (const a of ['127.0.0.1', '127.3.4.5', '::1', '::ffff:127.0.0.1', undefined]) expect(resolveSendMode({ remoteAddress: a }, 'auto')).toBe('copy');
      for (const a of ['10.0.0.7', '192.168.1.2', '::ffff:10.0.0.7', '2001:db8::1']) expect(resolveSendMode({ remoteAddress: a }, 'auto')).toBe('sendfile');
      expect(resolveSendMode({ remoteAddress: '127.0.0.1' }, 'sendfile')).toBe('sendfile');
      expect(resolveSendMode({ remoteAddress: '10.0.0.7' }, 'copy')).toBe('copy');
      process.env.WHARF_SEND_MODE = 'sendfile';
      expect(resolveSendMode({ remoteAddress: '127.0.0.1' })).toBe('sendfile');
      process.env.WHARF_SEND_MODE = 'copy';
      expect(resolveSendMode({ remoteAddress: '10.0.0.7' })).toBe('copy');
    } finally {
      if (prev === undefined) delete process.env.WHARF_SEND_MODE;
      else process.env.WHARF_SEND_MODE = prev;
    }
  });

  it('returns false (stream fallback) when WHARF_ZERO_COPY=0', async () => {
    const prev = process.env.WHARF_ZERO_COPY;
    process.env.WHARF_ZERO_COPY = '0';
    try {
      const id = rid();
      const agent = new http.Agent({ keepAlive: true });
      const r = await get(url(id, '/blob', [5, 1000]), agent);
      agent.destroy();
      expect(r.status).toBe(206);
      expectBody(r.body, 5, 1000);
      expect(await outcomeOf([id])).toEqual([false]);
    } finally {
      if (prev === undefined) delete process.env.WHARF_ZERO_COPY;
      else process.env.WHARF_ZERO_COPY = prev;
    }
  });

});

describe.each(['sendfile', 'copy'] as const)('sendFileToResponse, mode %s', (mode) => {
  beforeAll(() => {
    currentMode = mode;
  });

  it.skipIf(!zeroCopyAvailable)('serves whole files and ranges, sequentially, on one keep-alive connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const conns = connections;
    const ranges: Array<[number, number]> = [
      [0, SIZE],
      [0, SIZE],
      [0, 1],
      [SIZE - 1, 1],
      [12345, 7 << 20],
      [SIZE - 3_000_001, 3_000_001],
      [4096, 0],
      [0, SIZE],
    ];
    const ports = new Set<number>();
    const ids: string[] = [];
    for (const [start, length] of ranges) {
      const whole = start === 0 && length === SIZE;
      const id = rid();
      ids.push(id);
      const r = await get(whole ? url(id) : url(id, '/blob', [start, length]), agent);
      expect(r.status).toBe(whole ? 200 : 206);
      expect(r.headers['content-length']).toBe(String(length));
      expect(r.headers['transfer-encoding']).toBeUndefined();
      expectBody(r.body, start, length);
      ports.add(r.localPort);
    }
    agent.destroy();
    // Every request went through sendfile and all of them rode the same connection.
    expect(await outcomeOf(ids)).toEqual(ranges.map(() => true));
    expect(connections - conns).toBe(1);
    expect(ports.size).toBe(1);
  });

  it.skipIf(!zeroCopyAvailable)('serves 8 concurrent downloads (whole and ranges) correctly, twice over', async () => {
    const agent = new http.Agent({ keepAlive: true });
    const ids: string[] = [];
    for (let round = 0; round < 2; round++) {
      const jobs = Array.from({ length: 8 }, (_, i) => {
        const start = i % 2 === 0 ? 0 : i * 1_000_003;
        const length = i % 2 === 0 ? SIZE : SIZE - start - i;
        const id = rid();
        ids.push(id);
        return get(i % 2 === 0 ? url(id) : url(id, '/blob', [start, length]), agent).then((r) => expectBody(r.body, start, length));
      });
      await Promise.all(jobs);
    }
    agent.destroy();
    expect(await outcomeOf(ids)).toEqual(Array(16).fill(true));
  });

  it.skipIf(!zeroCopyAvailable)('a slow reader (socket full for a while) still gets every byte', async () => {
    const id = rid();
    const body = await new Promise<Buffer>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: url(id), agent: false }, (res) => {
          const chunks: Buffer[] = [];
          let pauses = 0;
          res.on('data', (c: Buffer) => {
            chunks.push(c);
            // Stall three times: the sender fills the socket and parks off the threadpool.
            if (pauses < 3 && chunks.length % 20 === 1) {
              pauses++;
              res.pause();
              setTimeout(() => res.resume(), 300);
            }
          });
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    expectBody(body, 0, SIZE);
    expect(await outcomeOf([id])).toEqual([true]);
  });

  it.skipIf(!zeroCopyAvailable)('a client aborting mid-transfer neither crashes nor hangs the server; the next request works', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = rid();
      ids.push(id);
      await new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path: url(id), agent: false }, (res) => {
          let got = 0;
          res.on('error', () => {});
          res.on('data', (c: Buffer) => {
            got += c.length;
            if (got > (i + 1) * 256 * 1024) {
              req.destroy();
              resolve();
            }
          });
          res.on('end', resolve);
        });
        req.on('error', () => resolve());
      });
    }
    // A client that went away is not a server error.
    expect(await outcomeOf(ids)).toEqual([true, true, true]);
    const agent = new http.Agent({ keepAlive: true });
    const id = rid();
    const r = await get(url(id), agent);
    agent.destroy();
    expectBody(r.body, 0, SIZE);
    expect(await outcomeOf([id])).toEqual([true]);
  });

  it.skipIf(!zeroCopyAvailable)('stalled clients do not pin the libuv threadpool, and time out without progress', async () => {
    setZeroCopyIdleTimeout(3000);
    // More never-reading clients than threadpool threads (4 by default).
    const ids = Array.from({ length: 6 }, rid);
    const reqs = ids.map((id) => {
      const req = http.get({ host: '127.0.0.1', port, path: url(id), agent: false }, (res) => {
        res.on('error', () => {});
        res.pause();
      });
      req.on('error', () => {});
      return req;
    });
    try {
      await new Promise((r) => setTimeout(r, 500));
      expect(ids.some((id) => outcomes.has(id))).toBe(false); // all still stuck
      // fs uses the same threadpool: it must still answer promptly (were the 4 threads pinned by
      // the stalled transfers, this would wait ~2.5 s for their idle timeouts).
      const t0 = Date.now();
      await fsp.readFile(shortFile);
      await fsp.stat(file);
      expect(Date.now() - t0).toBeLessThan(1500);
      // No byte accepted for 3 s → each transfer ends (ETIMEDOUT, treated as client gone).
      expect(await outcomeOf(ids, 10_000)).toEqual(Array(ids.length).fill(true));
    } finally {
      setZeroCopyIdleTimeout(60_000);
      for (const r of reqs) r.destroy();
    }
  });

  it.skipIf(!zeroCopyAvailable)('a file shorter than the promised length rejects (code EOF) and drops the connection', async () => {
    const id = rid();
    const err = await get(url(id, '/short', [0, 2 << 20]), false).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).not.toBeNull(); // the body is cut short: the client sees an aborted response
    const [o] = await outcomeOf([id]);
    expect(o).toBeInstanceOf(Error);
    expect((o as NodeJS.ErrnoException).code).toBe('EOF');
  });

  it.skipIf(!zeroCopyAvailable)('a missing file rejects with ENOENT before anything is sent', async () => {
    const id = rid();
    await get(url(id, '/missing', [0, 10]), false).catch(() => null);
    const [o] = await outcomeOf([id]);
    expect((o as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});
