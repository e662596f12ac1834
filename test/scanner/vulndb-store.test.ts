// The vulnerability database store on both metadata backends: imports of every fixture format,
// atomic replacement (a failing import changes nothing), several sources side by side, batched
// lookups, and the matcher over the result (the Debian fixture) on SQLite and PostgreSQL alike.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetadataStore } from '../../src/metadata/store.ts';
import { LATEST_MIGRATION } from '../../src/metadata/migrations.ts';
import { match } from '../../src/scanner/matcher.ts';
import { importPath } from '../../src/scanner/vulndb/import.ts';
import { VulnDb } from '../../src/scanner/vulndb/store.ts';
import type { AdvisoryRecord } from '../../src/scanner/vulndb/types.ts';
import { BACKENDS, debianPackages, fx, pgReachable } from './vulndb-lib.ts';

const pgUp = await pgReachable();

const rec = (pkg: string, id: string, extra: Partial<AdvisoryRecord> = {}): AdvisoryRecord => ({
  namespace: 'npm',
  package: pkg,
  advisoryId: id,
  aliases: [],
  affected: { kind: 'osv', ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.0.0' }] }], versions: [] },
  severity: 'Unknown',
  ...extra,
});

for (const backend of BACKENDS) {
  describe.skipIf(backend.name === 'postgres' && !pgUp)(`vulnerability database on ${backend.name}`, () => {
    let store: MetadataStore;
    let cleanup: () => Promise<void>;
    let db: VulnDb;
    beforeAll(async () => {
      ({ store, cleanup } = await backend.open());
      db = new VulnDb(store);
    });
    afterAll(async () => {
      await cleanup?.();
    });

    it(`migrates to ${LATEST_MIGRATION}`, async () => {
      expect(LATEST_MIGRATION >= '0006_vulndb').toBe(true);
      expect(await db.listSources()).toEqual([]);
    });

    it('imports each format and records the source', async () => {
      const deb = await importPath(db, fx('debian/bookworm-minbase/advisories.changelog-derived.json'), { name: 'debian' });
      expect(deb).toMatchObject({ source: 'debian', format: 'debian-tracker', records: 198, rows: 198, skipped: 0 });
      const alp = await importPath(db, fx('alpine'), { name: 'alpine' });
      expect(alp.format).toBe('alpine-secdb');
      expect(alp.files.map((f) => f.file.slice(fx('alpine').length))).toEqual(['/v3.10/community.json', '/v3.10/main.json', '/v3.11/community.json', '/v3.11/main.json']);
      // one secfix entry reads "CVE_2019-2426" in each branch: skipped and counted
      expect(alp.skipped).toBe(2);
      const node = await importPath(db, fx('npm/nodejs-security-wg/vuln-npm.json'), { name: 'nodesec' });
      // 468 array elements, one of them an empty object
      expect(node).toMatchObject({ format: 'nodejs-security-wg', records: 467, rows: 467, skipped: 1 });
      const ghsa = await importPath(db, fx('npm/ghsa-osv-exemplars'), { name: 'ghsa' });
      // lodash's advisory also names lodash-es: 7 rows from 6 advisories
      expect(ghsa).toMatchObject({ format: 'osv', records: 6, rows: 7, skipped: 0 });
      const sources = await db.listSources();
      expect(sources.map((s) => [s.name, s.format, s.records, s.rows, s.skipped])).toEqual([
        ['alpine', 'alpine-secdb', alp.records, alp.rows, 2],
        ['debian', 'debian-tracker', 198, 198, 0],
        ['ghsa', 'osv', 6, 7, 0],
        ['nodesec', 'nodejs-security-wg', 467, 467, 1],
      ]);
      for (const s of sources) {
        expect(s.importedAt).toBeGreaterThan(0);
        expect(s.lastError).toBeNull();
        expect(s.url).toBeNull();
      }
      const ns = await db.namespaces();
      expect(ns.filter((n) => n.source === 'alpine').map((n) => n.namespace)).toEqual(['alpine:v3.10', 'alpine:v3.11']);
      expect(ns.find((n) => n.source === 'debian')).toEqual({ source: 'debian', namespace: 'debian:bookworm', rows: 198 });
    });

    it('reads advisories back exactly, with the source name', async () => {
      const rows = await db.advisoriesFor('npm', ['lodash', 'nope']);
      const ghsa = rows.find((r) => r.advisoryId === 'GHSA-35jh-r3h4-6jhm')!;
      expect(ghsa).toEqual({
        source: 'ghsa',
        namespace: 'npm',
        package: 'lodash',
        advisoryId: 'GHSA-35jh-r3h4-6jhm',
        aliases: ['CVE-2021-23337'],
        affected: { kind: 'osv', ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '4.17.21' }] }], versions: [] },
        severity: 'High',
        cvssScore: 7.2,
        cvssVector: 'CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H',
        summary: 'Command Injection in lodash',
        url: expect.stringMatching(/^https:\/\//),
        published: '2021-05-06T16:05:51Z',
        modified: '2022-02-08T21:35:09Z',
      });
      const nodesec = rows.filter((r) => r.source === 'nodesec').map((r) => r.advisoryId).sort();
      expect(nodesec).toEqual(['NSWG-ECO-368', 'NSWG-ECO-493', 'NSWG-ECO-516']);
      expect(rows.find((r) => r.advisoryId === 'NSWG-ECO-493')).toMatchObject({ aliases: ['CVE-2018-16487'], affected: { kind: 'npm-range', vulnerable: '<4.17.11', patched: '>=4.17.11' } });
      expect(rows.every((r) => r.package === 'lodash')).toBe(true);
    });

    it('looks up many packages in batches', async () => {
      const names = Array.from({ length: 1800 }, (_, i) => `pkg-${i}`);
      await db.replaceSource('bulk', { format: 'test', location: 'memory' }, names.map((n, i) => rec(n, `T-${i}`)));
      const got = await db.advisoriesFor('npm', [...names.filter((_, i) => i % 3 === 0), 'lodash']);
      expect(got.filter((r) => r.source === 'bulk').length).toBe(600);
      expect(got.filter((r) => r.source !== 'bulk').length).toBeGreaterThan(3);
      expect((await db.getSource('bulk'))!.rows).toBe(1800);
      expect(await db.removeSource('bulk')).toBe(true);
      expect(await db.removeSource('bulk')).toBe(false);
      expect(await db.advisoriesFor('npm', ['pkg-0'])).toEqual([]);
    });

    it('a failed or aborted import changes nothing', async () => {
      const before = await db.advisoriesFor('debian:bookworm', ['openssl', 'xz-utils']);
      const srcBefore = await db.getSource('debian');
      expect(before.length).toBeGreaterThan(0);
      async function* failing() {
        for (let i = 0; i < 1000; i++) yield rec(`x-${i}`, `X-${i}`, { namespace: 'debian:bookworm' });
        throw new Error('disk on fire');
      }
      await expect(db.replaceSource('debian', { format: 'debian-tracker', location: 'broken' }, failing())).rejects.toThrow('disk on fire');
      expect(await db.advisoriesFor('debian:bookworm', ['openssl', 'xz-utils'])).toEqual(before);
      expect(await db.advisoriesFor('debian:bookworm', ['x-1'])).toEqual([]);
      expect(await db.getSource('debian')).toEqual(srcBefore);
      // aborted half-way
      const ac = new AbortController();
      async function* slow() {
        for (let i = 0; i < 2000; i++) {
          if (i === 900) ac.abort();
          yield rec(`y-${i}`, `Y-${i}`, { namespace: 'debian:bookworm' });
        }
      }
      await expect(db.replaceSource('debian', { format: 'x', location: 'aborted' }, slow(), { signal: ac.signal })).rejects.toThrow();
      expect(await db.advisoriesFor('debian:bookworm', ['openssl', 'xz-utils'])).toEqual(before);
      expect(await db.getSource('debian')).toEqual(srcBefore);
      // a new source that fails leaves no row behind either
      await expect(db.replaceSource('brand-new', { format: 'x', location: 'y' }, failing())).rejects.toThrow();
      expect(await db.getSource('brand-new')).toBeNull();
      // and an unknown file fails the import with its name, keeping the old rows
      await expect(importPath(db, fx('README.md'), { name: 'debian' })).rejects.toThrow(/README\.md: /);
      expect(await db.getSource('debian')).toEqual(srcBefore);
    });

    it('re-importing replaces a source (no duplicates), other sources untouched', async () => {
      const nsBefore = await db.namespaces();
      const r = await importPath(db, fx('alpine/v3.10'), { name: 'alpine' });
      expect(r.files.length).toBe(2);
      const ns = await db.namespaces();
      expect(ns.filter((n) => n.source === 'alpine').map((n) => n.namespace)).toEqual(['alpine:v3.10']);
      expect(ns.find((n) => n.source === 'alpine')!.rows).toBe(nsBefore.find((n) => n.source === 'alpine' && n.namespace === 'alpine:v3.10')!.rows);
      expect(ns.filter((n) => n.source !== 'alpine')).toEqual(nsBefore.filter((n) => n.source !== 'alpine'));
    });

    it('matches the Debian bookworm rootfs through this backend', async () => {
      const vulns = await match({ os: { id: 'debian', versionId: '12', codename: 'bookworm', path: 'etc/os-release' }, packages: debianPackages() }, db);
      expect(vulns.length).toBeGreaterThan(5);
      expect(vulns.every((v) => v.source === 'debian' && v.fixedVersion)).toBe(true);
      expect(vulns.find((v) => v.package === 'libpam-modules' && v.id === 'CVE-2024-22365')).toMatchObject({ advisoryPackage: 'pam', installedVersion: '1.5.2-6+deb12u2', fixedVersion: '1.5.2-6+deb12u3' });
    });
  });
}
