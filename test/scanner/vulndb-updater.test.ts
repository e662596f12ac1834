// Updaters against a local HTTP server serving the fixture files: conditional requests (ETag and
// Last-Modified; 304 leaves the rows alone), gzip (Content-Encoding and .gz bodies), the size
// limit and the timeout, errors recorded on the source, and the 'vulndb_update' durable job.
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Jobs } from '../../src/jobs/service.ts';
import { openMetadata } from '../../src/metadata/open.ts';
import type { MetadataStore } from '../../src/metadata/store.ts';
import { VulnDb } from '../../src/scanner/vulndb/store.ts';
import { fetchToFile, registerVulnDbJobs, updateAll, updateFromUrl, VULNDB_UPDATE_CRON, VULNDB_UPDATE_JOB } from '../../src/scanner/vulndb/updater.ts';
import { jsonRecords, RecordSizeError, splitJson } from '../../src/scanner/vulndb/json-stream.ts';
import { fx } from './vulndb-lib.ts';

interface Seen {
  path: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  acceptEncoding?: string;
}

let server: http.Server;
let base: string;
const seen: Seen[] = [];
let dir: string;
let store: MetadataStore;
let db: VulnDb;
const LAST_MODIFIED = 'Tue, 01 Dec 2026 10:00:00 GMT';

beforeAll(async () => {
  const node = readFileSync(fx('npm/nodejs-security-wg/vuln-npm.json'));
  const secdb = readFileSync(fx('alpine/v3.10/main.json'));
  const go = readFileSync(fx('osv/golang-vulndb.osv.jsonl'));
  let nodeVersion = 1;
  server = http.createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    seen.push({ path: u.pathname, ifNoneMatch: req.headers['if-none-match'], ifModifiedSince: req.headers['if-modified-since'], acceptEncoding: req.headers['accept-encoding'] });
    if (u.pathname === '/vuln-npm.json') {
      const etag = `"node-${nodeVersion}"`;
      if (req.headers['if-none-match'] === etag) return res.writeHead(304, { etag }).end();
      return res.writeHead(200, { etag, 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync(node));
    }
    if (u.pathname === '/bump') {
      nodeVersion++;
      return res.writeHead(204).end();
    }
    if (u.pathname === '/v3.10/main.json') {
      if (req.headers['if-modified-since'] === LAST_MODIFIED) return res.writeHead(304).end();
      return res.writeHead(200, { 'last-modified': LAST_MODIFIED, 'content-type': 'application/json' }).end(secdb);
    }
    if (u.pathname === '/go.jsonl.gz') return res.writeHead(200, { 'content-type': 'application/gzip' }).end(gzipSync(go));
    if (u.pathname === '/slow') {
      res.writeHead(200);
      res.write('[');
      return; // never ends
    }
    if (u.pathname === '/garbage.json') return res.writeHead(200).end('<html>not json</html>\n');
    const hop = /^\/r\/(\d+)$/.exec(u.pathname);
    if (hop) return Number(hop[1]) === 0 ? res.writeHead(200).end('{"ok":true}\n') : res.writeHead(302, { location: `/r/${Number(hop[1]) - 1}` }).end();
    res.writeHead(404).end('no');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-vdb-upd-'));
  store = await openMetadata(`sqlite:${path.join(dir, 'm.db')}`);
  db = new VulnDb(store);
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

const hits = (p: string) => seen.filter((s) => s.path === p);

describe('URL sources', () => {
  it('downloads (gzip), then asks conditionally and gets 304 with the rows left as they are', async () => {
    const r1 = await updateFromUrl(db, `${base}/vuln-npm.json`);
    expect(r1).toMatchObject({ source: 'vuln-npm', format: 'nodejs-security-wg', records: 467, skipped: 1 });
    expect(r1.unchanged).toBeUndefined();
    const s1 = (await db.getSource('vuln-npm'))!;
    expect(s1).toMatchObject({ url: `${base}/vuln-npm.json`, location: `${base}/vuln-npm.json`, etag: '"node-1"', rows: 467, lastError: null });
    expect(hits('/vuln-npm.json')[0]).toMatchObject({ ifNoneMatch: undefined, acceptEncoding: expect.stringContaining('gzip') });

    const r2 = await updateFromUrl(db, `${base}/vuln-npm.json`);
    expect(r2.unchanged).toBe(true);
    expect(hits('/vuln-npm.json')).toHaveLength(2);
    expect(hits('/vuln-npm.json')[1]!.ifNoneMatch).toBe('"node-1"');
    const s2 = (await db.getSource('vuln-npm'))!;
    expect(s2.importedAt).toBe(s1.importedAt);
    expect(s2.checkedAt).toBeGreaterThanOrEqual(s1.checkedAt!);
    expect(s2.rows).toBe(467);

    // the server's content changes: a new ETag, downloaded again
    await fetch(`${base}/bump`);
    const r3 = await updateFromUrl(db, `${base}/vuln-npm.json`);
    expect(r3.unchanged).toBeUndefined();
    expect((await db.getSource('vuln-npm'))!.etag).toBe('"node-2"');
    expect((await db.advisoriesFor('npm', ['lodash'])).length).toBe(3);
  });

  it('Last-Modified / If-Modified-Since, and a gzipped body by its magic', async () => {
    await updateFromUrl(db, `${base}/v3.10/main.json`, { name: 'secdb-main' });
    expect((await db.getSource('secdb-main'))!.lastModified).toBe(LAST_MODIFIED);
    const r = await updateFromUrl(db, `${base}/v3.10/main.json`, { name: 'secdb-main' });
    expect(r.unchanged).toBe(true);
    expect(hits('/v3.10/main.json')[1]!.ifModifiedSince).toBe(LAST_MODIFIED);
    const go = await updateFromUrl(db, `${base}/go.jsonl.gz`, { name: 'go' });
    expect(go).toMatchObject({ format: 'osv', records: 4291 });
  });

  it('update refreshes every URL source; failures are recorded and do not stop the others', async () => {
    await db.ensureUrlSource('missing', `${base}/nope.json`);
    await db.ensureUrlSource('garbage', `${base}/garbage.json`);
    const before = seen.length;
    const r = await updateAll(db);
    expect(r.unchanged.sort()).toEqual(['secdb-main', 'vuln-npm']);
    expect(r.updated.map((u) => u.source)).toEqual(['go']); // no validators: downloaded again
    expect(r.failed.map((f) => f.source).sort()).toEqual(['garbage', 'missing']);
    expect(r.failed.find((f) => f.source === 'missing')!.error).toContain('HTTP 404');
    expect(r.failed.find((f) => f.source === 'garbage')!.error).toMatch(/not a known vulnerability data format/);
    expect(seen.length - before).toBe(5);
    expect((await db.getSource('missing'))!.lastError).toContain('HTTP 404');
    expect((await db.getSource('missing'))!.importedAt).toBeNull();
    // the failing sources did not lose anything, the others are intact
    expect((await db.getSource('vuln-npm'))!.rows).toBe(467);
  });

  it('size limit and timeout', async () => {
    await expect(fetchToFile(`${base}/vuln-npm.json`, { maxBytes: 1000 })).rejects.toThrow(/over the limit/);
    const t0 = Date.now();
    await expect(fetchToFile(`${base}/slow`, { timeoutMs: 300 })).rejects.toThrow(/timed out/);
    expect(Date.now() - t0).toBeLessThan(5000);
    await expect(fetchToFile('ftp://example.com/x')).rejects.toThrow(/only http and https/);
  });
});

describe('redirects', () => {
  it('http → http is followed, at most 5 times', async () => {
    const r = await fetchToFile(`${base}/r/5`);
    expect(r.status).toBe('downloaded');
    if (r.status === 'downloaded') {
      expect(await readFile(r.file, 'utf8')).toBe('{"ok":true}\n');
      await r.cleanup();
    }
    await expect(fetchToFile(`${base}/r/6`)).rejects.toThrow(/more than 5 redirects/);
  });

  it('https → https is followed; https → http is refused without a request to the http URL', async () => {
    const tls = await mkdtemp(path.join(os.tmpdir(), 'wharf-vdb-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(tls, 'k.pem'), '-out', path.join(tls, 'c.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    const srv = https.createServer({ key: await readFile(path.join(tls, 'k.pem')), cert: await readFile(path.join(tls, 'c.pem')) }, (req, res) => {
      if (req.url === '/to-http') return res.writeHead(302, { location: `${base}/vuln-npm.json` }).end();
      if (req.url === '/to-https') return res.writeHead(301, { location: '/data' }).end();
      if (req.url === '/data') return res.writeHead(200).end('[]');
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const tbase = `https://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'; // the self-signed test certificate
    try {
      const ok = await fetchToFile(`${tbase}/to-https`);
      expect(ok.status).toBe('downloaded');
      if (ok.status === 'downloaded') await ok.cleanup();
      const before = hits('/vuln-npm.json').length;
      await expect(fetchToFile(`${tbase}/to-http`)).rejects.toThrow(/refusing a redirect from https to plain http \(http:\/\/127\.0\.0\.1:\d+\)/);
      expect(hits('/vuln-npm.json').length).toBe(before);
    } finally {
      if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved;
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
      await rm(tls, { recursive: true, force: true });
    }
  });
});

describe('one JSON record is limited in size', () => {
  async function* chunks(s: string, size: number): AsyncGenerator<string> {
    for (let i = 0; i < s.length; i += size) yield s.slice(i, i + size);
  }
  const collect = async (s: string, max: number) => {
    const out: string[] = [];
    for await (const p of splitJson(chunks(s, 7), { maxRecordChars: max })) out.push(p.text);
    return out;
  };

  it('records up to the limit pass; a larger top-level value, array element or non-JSON line is a clear error', async () => {
    const small = JSON.stringify({ id: 'x', d: 'y'.repeat(40) }); // 53 characters
    expect(await collect(`${small}\n${small}\n`, 60)).toEqual([small, small]);
    expect(await collect(`[${small},${small}]`, 60)).toEqual([small, small]);
    const big = JSON.stringify({ id: 'x', d: 'y'.repeat(200) });
    await expect(collect(`${small}\n${big}\n`, 60)).rejects.toThrow(RecordSizeError);
    await expect(collect(big, 60)).rejects.toThrow(/a single JSON value is larger than the limit of 60 characters/);
    await expect(collect(`[${small},${big}]`, 60)).rejects.toThrow(/a single JSON array element is larger/);
    await expect(collect(`${'z'.repeat(200)}\n`, 60)).rejects.toThrow(/line of non-JSON text is larger/);
    // jsonRecords passes the limit on
    const recs = jsonRecords(chunks(big, 7), { maxRecordChars: 60 });
    await expect(recs.next()).rejects.toThrow(RecordSizeError);
  });
});

describe("the 'vulndb_update' job", () => {
  it('registers with a cron schedule and refreshes the URL sources when run', async () => {
    const jobs = new Jobs(store, { pollMs: 20 });
    await registerVulnDbJobs(jobs, store);
    expect((await jobs.getSchedule(VULNDB_UPDATE_JOB, 'system'))!.cron).toBe(VULNDB_UPDATE_CRON);
    await expect(jobs.enqueue(VULNDB_UPDATE_JOB, { bogus: 1 })).rejects.toThrow(/unknown vulndb_update parameter/);
    await db.removeSource('missing');
    await db.removeSource('garbage');
    jobs.start();
    try {
      const before = hits('/vuln-npm.json').length;
      const job = await jobs.enqueue(VULNDB_UPDATE_JOB, {});
      const done = await jobs.wait(job.id, 60_000);
      expect(done.status).toBe('success');
      expect(done.result).toMatchObject({ unchanged: expect.arrayContaining(['vuln-npm', 'secdb-main']), failed: [] });
      expect(hits('/vuln-npm.json').length).toBe(before + 1);
      const forced = await jobs.wait((await jobs.enqueue(VULNDB_UPDATE_JOB, { force: true })).id, 60_000);
      expect(forced.status).toBe('success');
      expect((forced.result as { updated: unknown[] }).updated).toHaveLength(3);
      expect(hits('/vuln-npm.json').at(-1)!.ifNoneMatch).toBeUndefined();
    } finally {
      await jobs.close();
    }
  });
});
