// `wharf vuln-db import|status|update` through the real CLI (bin/wharf.js) on a temp data dir.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/servers.ts';
import { fx } from './vulndb-lib.ts';

let dataDir: string;
let server: http.Server;
let base: string;
let requests = 0;

function wharf(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', ['bin/wharf.js', 'vuln-db', ...args], { cwd: repoRoot, env: { ...process.env, WHARF_DATA_DIR: dataDir, WHARF_CONFIG: '' } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'wharf-vdb-cli-'));
  const body = readFileSync(fx('npm/ghsa-osv-exemplars/GHSA-35jh-r3h4-6jhm.json'));
  server = http.createServer((req, res) => {
    requests++;
    if (req.headers['if-none-match'] === '"v1"') return res.writeHead(304).end();
    res.writeHead(200, { etag: '"v1"' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await rm(dataDir, { recursive: true, force: true });
});

describe('wharf vuln-db', () => {
  it('imports files and directories, prints a summary; status lists the sources', async () => {
    const a = await wharf('import', fx('alpine'), '--name', 'alpine');
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/^source alpine: format alpine-secdb, 499 records, \d+ rows, 2 skipped \(4 files/m);
    expect(a.stderr).toContain('skipped: ');
    const d = await wharf('import', fx('debian/bookworm-minbase/advisories.changelog-derived.json'));
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain('source advisories.changelog-derived: format debian-tracker, 198 records, 198 rows, 0 skipped');
    const u = await wharf('import', `${base}/lodash.json`, '--name', 'ghsa-lodash');
    expect(u.code, u.stderr).toBe(0);
    expect(u.stdout).toContain('source ghsa-lodash: format osv, 1 records, 2 rows, 0 skipped');

    const s = await wharf('status');
    expect(s.code, s.stderr).toBe(0);
    const lines = s.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^SOURCE\s+FORMAT\s+RECORDS\s+ROWS\s+SKIPPED\s+UPDATED\s+URL\s+LAST ERROR$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['advisories.changelog-derived', 'alpine', 'ghsa-lodash']);
    expect(lines[3]).toContain(`${base}/lodash.json`);
    const j = JSON.parse((await wharf('status', '--json')).stdout) as { name: string; format: string; records: number; url: string | null; lastError: string | null; importedAt: string }[];
    expect(j.map((x) => [x.name, x.format, x.records])).toEqual([
      ['advisories.changelog-derived', 'debian-tracker', 198],
      ['alpine', 'alpine-secdb', 499],
      ['ghsa-lodash', 'osv', 1],
    ]);
    expect(j[2]!.url).toBe(`${base}/lodash.json`);
    expect(new Date(j[0]!.importedAt).getTime()).toBeGreaterThan(Date.now() - 120_000);
  });

  it('update refreshes URL sources with conditional requests', async () => {
    const before = requests;
    const r = await wharf('update');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('source ghsa-lodash: unchanged');
    expect(requests).toBe(before + 1);
  });

  it('rejects an unknown file with its name and keeps the source', async () => {
    const bad = path.join(dataDir, 'weird.json');
    await writeFile(bad, JSON.stringify({ hello: 'world' }));
    const r = await wharf('import', bad, '--name', 'alpine');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}: not a known vulnerability data format`);
    const j = JSON.parse((await wharf('status', '--json')).stdout) as { name: string; records: number }[];
    expect(j.find((x) => x.name === 'alpine')!.records).toBe(499);
    const missing = await wharf('import', path.join(dataDir, 'nope.json'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nope.json');
  });
});
