// The matcher against the real advisory fixtures (test/fixtures/vulndata, imported into SQLite):
// Debian bookworm (expectation computed independently with `dpkg --compare-versions`), Alpine
// secdb, npm (GHSA in OSV form and the Node security WG format), Go and PyPI; OSV range
// semantics; alias merging; and the time to match a large package set.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMetadata } from '../metadata/open.ts';
import type { MetadataStore } from '../metadata/store.ts';
import { alpineBranch, debianCodename, inRange, match } from './matcher.ts';
import type { OsInfo, Package, Vulnerability } from './types.ts';
import { compareVersions } from './version/index.ts';
import { importPath } from './vulndb/import.ts';
import { VulnDb, type AdvisoryQuery, type StoredAdvisory } from './vulndb/store.ts';
import { alpinePackages, debianPackages, fx, npmPackages } from '../../test/scanner/vulndb-lib.ts';

const debian: OsInfo = { id: 'debian', versionId: '12', path: 'etc/os-release' };
const alpine = (versionId: string): OsInfo => ({ id: 'alpine', versionId, path: 'etc/os-release' });
const pkg = (type: Package['type'], name: string, version: string, extra: Partial<Package> = {}): Package => ({ type, name, version, path: `p/${name}`, ...extra });
const ids = (vs: Vulnerability[], name?: string) => vs.filter((v) => name === undefined || v.package === name).map((v) => v.id).sort();

let dir: string;
let store: MetadataStore;
let db: VulnDb;
const importMs: Record<string, number> = {};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-matcher-'));
  store = await openMetadata(`sqlite:${path.join(dir, 'm.db')}`);
  db = new VulnDb(store);
  for (const [name, p] of [
    ['debian-tracker', 'debian/bookworm-minbase/advisories.changelog-derived.json'],
    ['alpine-secdb', 'alpine'],
    ['ghsa', 'npm/ghsa-osv-exemplars'],
    ['nodejs-security-wg', 'npm/nodejs-security-wg/vuln-npm.json'],
    ['go-vulndb', 'osv/golang-vulndb.osv.jsonl'],
    ['pypa', 'osv/pypa-advisory-database.osv.jsonl'],
  ] as const) {
    const r = await importPath(db, fx(p), { name });
    importMs[name] = r.ms;
    expect(r.rows).toBeGreaterThan(0);
  }
  console.log('import ms per source', importMs);
});

afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('OSV range evaluation', () => {
  const sem = (a: string, b: string) => compareVersions('semver', a, b);
  it('introduced/fixed, several intervals, unsorted events, last_affected inclusive, limit', () => {
    const r = { type: 'SEMVER' as const, events: [{ introduced: '2.0.0' }, { fixed: '2.0.6' }, { introduced: '0' }, { fixed: '1.26.17' }] };
    expect(inRange(sem, '1.26.16', r)).toEqual({ affected: true, fixed: '1.26.17' });
    expect(inRange(sem, '1.26.17', r)).toEqual({ affected: false });
    expect(inRange(sem, '2.0.0', r)).toEqual({ affected: true, fixed: '2.0.6' });
    expect(inRange(sem, '2.0.6', r)).toEqual({ affected: false });
    const la = { type: 'SEMVER' as const, events: [{ introduced: '1.0.0' }, { last_affected: '1.4.2' }] };
    expect(inRange(sem, '0.9.0', la).affected).toBe(false);
    expect(inRange(sem, '1.4.2', la)).toEqual({ affected: true, fixed: undefined });
    expect(inRange(sem, '1.4.3', la).affected).toBe(false);
    const lim = { type: 'SEMVER' as const, events: [{ introduced: '0' }, { limit: '3.0.0' }] };
    expect(inRange(sem, '2.9.9', lim).affected).toBe(true);
    expect(inRange(sem, '3.0.0', lim).affected).toBe(false);
    const pre = { type: 'ECOSYSTEM' as const, events: [{ introduced: '5.0.0-alpha.1' }, { fixed: '5.0.0-beta.3' }] };
    expect(inRange(sem, '5.0.0-alpha.0', pre).affected).toBe(false);
    expect(inRange(sem, '5.0.0-beta.2', pre).affected).toBe(true);
    expect(inRange(sem, '5.0.0-beta.3', pre).affected).toBe(false);
    expect(inRange(sem, '5.0.0', pre).affected).toBe(false);
  });

  it('maps releases to namespaces', () => {
    expect(debianCodename({ ...debian, versionId: '11' })).toBe('bullseye');
    expect(debianCodename({ ...debian, versionId: '13' })).toBe('trixie');
    expect(debianCodename({ ...debian, versionId: '10', codename: 'Buster' })).toBe('buster');
    expect(alpineBranch(alpine('3.11.6'))).toBe('alpine:v3.11');
    expect(alpineBranch(alpine('3.10.0'))).toBe('alpine:v3.10');
    expect(alpineBranch(alpine('3.20.0_alpha20240315'))).toBe('alpine:edge');
  });
});

describe('Debian bookworm minbase', () => {
  it('reports exactly the CVEs whose fixed version is above the installed source version (dpkg --compare-versions)', async () => {
    const pkgs = debianPackages();
    const advisories = JSON.parse(readFileSync(fx('debian/bookworm-minbase/advisories.changelog-derived.json'), 'utf8')) as Record<string, Record<string, { releases: Record<string, { fixed_version?: string }> }>>;
    // every (installed source version, fixed version) pair, judged by dpkg in one shell run
    const pairs: [Package, string, string][] = [];
    for (const p of pkgs) {
      for (const [cve, e] of Object.entries(advisories[p.sourceName ?? p.name] ?? {})) {
        const fixed = e.releases.bookworm?.fixed_version;
        if (fixed && fixed !== '0') pairs.push([p, cve, fixed]);
      }
    }
    const script = 'while read -r a b; do if dpkg --compare-versions "$a" lt "$b"; then echo 1; else echo 0; fi; done';
    const verdicts = execFileSync('sh', ['-c', script], { input: pairs.map(([p, , f]) => `${p.sourceVersion} ${f}\n`).join('') }).toString().trim().split('\n');
    expect(verdicts.length).toBe(pairs.length);
    const expected = new Set(pairs.filter((_, i) => verdicts[i] === '1').map(([p, cve, f]) => `${p.name} ${cve} ${f}`));
    const vulns = await match({ os: debian, packages: pkgs }, db);
    const got = new Set(vulns.map((v) => `${v.package} ${v.id} ${v.fixedVersion}`));
    expect(expected.size).toBeGreaterThan(5);
    expect([...got].sort()).toEqual([...expected].sort());
    // keyed by source package, compared against the source version
    const xz = vulns.find((v) => v.package === 'liblzma5')!;
    expect(xz).toMatchObject({ advisoryPackage: 'xz-utils', installedVersion: '5.4.1-1+deb12u1', source: 'debian-tracker', severity: 'Unknown' });
    expect(vulns.every((v) => v.pkgPath === 'var/lib/dpkg/status')).toBe(true);
  });

  it('tracker semantics: open = affected without fix, "0" = never affected, urgency → severity; other releases ignored', async () => {
    const stub: AdvisoryQuery = {
      async advisoriesFor(ns, names) {
        const all: StoredAdvisory[] = [
          { source: 't', namespace: 'debian:bookworm', package: 'foo', advisoryId: 'CVE-1-1', aliases: [], affected: { kind: 'debian', status: 'open', urgency: 'high' }, severity: 'High' },
          { source: 't', namespace: 'debian:bookworm', package: 'foo', advisoryId: 'CVE-1-2', aliases: [], affected: { kind: 'debian', status: 'resolved', fixed_version: '0' }, severity: 'Unknown' },
          { source: 't', namespace: 'debian:bookworm', package: 'foo', advisoryId: 'CVE-1-3', aliases: [], affected: { kind: 'debian', status: 'resolved', fixed_version: '1.0-2' }, severity: 'Negligible' },
          { source: 't', namespace: 'debian:bookworm', package: 'foo', advisoryId: 'CVE-1-4', aliases: [], affected: { kind: 'debian', status: 'resolved', fixed_version: '1.0-1' }, severity: 'Low' },
          { source: 't', namespace: 'debian:bookworm', package: 'foo', advisoryId: 'CVE-1-5', aliases: [], affected: { kind: 'debian', status: 'undetermined' }, severity: 'Unknown' },
          { source: 't', namespace: 'debian:bullseye', package: 'foo', advisoryId: 'CVE-1-6', aliases: [], affected: { kind: 'debian', status: 'open' }, severity: 'Unknown' },
        ];
        return all.filter((a) => a.namespace === ns && names.includes(a.package));
      },
    };
    const v = await match({ os: debian, packages: [pkg('deb', 'libfoo1', '1.0-1+b1', { sourceName: 'foo', sourceVersion: '1.0-1' })] }, stub);
    expect(v.map((x) => [x.id, x.fixedVersion, x.severity])).toEqual([
      ['CVE-1-1', undefined, 'High'],
      ['CVE-1-3', '1.0-2', 'Negligible'],
      ['CVE-1-5', undefined, 'Unknown'],
    ]);
    // no OS, or another distribution: deb packages are not matched
    expect(await match({ packages: [pkg('deb', 'foo', '1.0-1')] }, stub)).toEqual([]);
    expect(await match({ os: { id: 'ubuntu', versionId: '22.04', path: 'x' }, packages: [pkg('deb', 'foo', '1.0-1')] }, stub)).toEqual([]);
  });
});

describe('Alpine', () => {
  const secfixes = (branch: string) => {
    const out = new Map<string, Map<string, string[]>>();
    for (const repo of ['main', 'community']) {
      const j = JSON.parse(readFileSync(fx(`alpine/${branch}/${repo}.json`), 'utf8')) as { packages: { pkg: { name: string; secfixes: Record<string, string[]> } }[] };
      for (const p of j.packages) {
        const m = out.get(p.pkg.name) ?? new Map<string, string[]>();
        for (const [fixed, list] of Object.entries(p.pkg.secfixes)) for (const id of list) for (const t of id.split(/\s+/)) if (/^CVE-\d+-\d+$/.test(t)) m.set(t, [...(m.get(t) ?? []), fixed]);
        out.set(p.pkg.name, m);
      }
    }
    return out;
  };

  for (const [branch, versionId] of [
    ['v3.10', '3.10.4'],
    ['v3.11', '3.11.6'],
  ] as const) {
    it(`the installed database against the ${branch} secdb, by origin`, async () => {
      const pkgs = alpinePackages();
      expect(pkgs.length).toBe(15); // 16 entries, one without a version
      const fixes = secfixes(branch);
      const expected = new Set<string>();
      for (const p of pkgs) {
        for (const [cve, fixedList] of fixes.get(p.sourceName ?? p.name) ?? []) {
          const lowest = fixedList.reduce((a, b) => (compareVersions('apk', a, b) <= 0 ? a : b));
          if (lowest !== '0' && compareVersions('apk', p.version, lowest) < 0) expected.add(`${p.name} ${cve} ${lowest}`);
        }
      }
      const vulns = await match({ os: alpine(versionId), packages: pkgs }, db);
      expect(new Set(vulns.map((v) => `${v.package} ${v.id} ${v.fixedVersion}`))).toEqual(expected);
      expect(vulns.every((v) => v.source === 'alpine-secdb')).toBe(true);
      // by origin: libcrypto1.0 is from openssl; busybox's CVE-2019-5747 is listed under two fixes
      expect(ids(vulns, 'libcrypto1.0')).toEqual(expect.arrayContaining(['CVE-2018-0734', 'CVE-2019-1543', 'CVE-2019-1547']));
      expect(vulns.find((v) => v.package === 'libcrypto1.0')!.advisoryPackage).toBe('openssl');
      expect(vulns.filter((v) => v.package === 'busybox' && v.id === 'CVE-2019-5747')).toEqual([expect.objectContaining({ fixedVersion: '1.29.3-r10' })]);
      expect(ids(vulns, 'musl')).toEqual(['CVE-2016-8859', 'CVE-2019-14697']);
    });
  }

  it('a version at or above the fix is not reported', async () => {
    const v = await match({ os: alpine('3.10.2'), packages: [pkg('apk', 'musl', '1.1.22-r3'), pkg('apk', 'busybox', '1.30.1-r2'), pkg('apk', 'sqlite-libs', '3.28.0-r0', { sourceName: 'sqlite' })] }, db);
    expect(v.map((x) => `${x.package} ${x.id}`)).toEqual(['sqlite-libs CVE-2019-16168']);
  });
});

describe('npm', () => {
  it('the testproj lockfile: known CVEs of the installed versions, via GHSA and alias merging', async () => {
    const vulns = await match({ packages: npmPackages() }, db);
    const by = (name: string, version: string) => vulns.filter((v) => v.package === name && v.installedVersion === version);
    expect(by('lodash', '4.17.20').map((v) => [v.id, v.fixedVersion, v.source, v.severity, v.cvssScore])).toEqual([['CVE-2021-23337', '4.17.21', 'ghsa', 'High', 7.2]]);
    expect(by('lodash', '4.17.20')[0]!.aliases).toEqual(['GHSA-35jh-r3h4-6jhm']);
    expect(by('minimist', '1.2.5').map((v) => [v.id, v.fixedVersion, v.severity])).toEqual([['CVE-2021-44906', '1.2.6', 'Critical']]);
    expect(by('semver', '7.5.1').map((v) => [v.id, v.fixedVersion, v.severity])).toEqual([['CVE-2022-25883', '7.5.2', 'Medium']]);
    expect(by('braces', '3.0.2').map((v) => [v.id, v.fixedVersion])).toEqual([['CVE-2024-4068', '3.0.3']]);
    expect(by('express', '4.18.2').map((v) => [v.id, v.fixedVersion])).toEqual([['CVE-2024-29041', '4.19.2']]);
    // path-to-regexp twice (express's nested 0.1.7 and the top-level 6.2.1), each with its range's fix
    expect(by('path-to-regexp', '0.1.7').map((v) => [v.id, v.fixedVersion, v.pkgPath])).toEqual([['CVE-2024-45296', '0.1.10', 'node_modules/express/node_modules/path-to-regexp']]);
    expect(by('path-to-regexp', '6.2.1').map((v) => [v.id, v.fixedVersion, v.pkgPath])).toEqual([['CVE-2024-45296', '6.3.0', 'node_modules/path-to-regexp']]);
    // nothing else in that lockfile is in these databases (the Node WG advisories are all older)
    expect(new Set(vulns.map((v) => v.package))).toEqual(new Set(['lodash', 'minimist', 'semver', 'braces', 'express', 'path-to-regexp']));
  });

  it('patched versions are absent; Node security WG ranges; pre-release bounds', async () => {
    const v = await match(
      {
        packages: [
          pkg('npm', 'lodash', '4.17.21'),
          pkg('npm', 'semver', '7.5.2'),
          pkg('npm', 'semver', '6.3.1', { path: 'b' }),
          pkg('npm', 'minimist', '1.2.6'),
          pkg('npm', 'path-to-regexp', '0.1.10'),
          pkg('npm', 'path-to-regexp', '6.3.0', { path: 'c' }),
          pkg('npm', 'path-to-regexp', '1.9.0', { path: 'd' }),
          pkg('npm', 'express', '4.19.2'),
          pkg('npm', 'express', '5.0.0-beta.3', { path: 'e' }),
          pkg('npm', 'braces', '3.0.3'),
        ],
      },
      db,
    );
    expect(v).toEqual([]);
    const old = await match(
      {
        packages: [
          pkg('npm', 'lodash', '4.17.4'),
          pkg('npm', 'lodash', '4.17.16', { path: 'x' }),
          pkg('npm', 'express', '5.0.0-beta.2'),
          pkg('npm', 'serve-static', '1.7.1'),
          pkg('npm', 'serve-static', '1.6.5', { path: 'y' }),
          pkg('npm', 'semver', '4.3.1'),
        ],
      },
      db,
    );
    const at = (name: string, p: string) => ids(old.filter((x) => x.pkgPath === p), name);
    expect(at('lodash', 'p/lodash')).toEqual(['CVE-2018-16487', 'CVE-2018-3721', 'CVE-2021-23337']);
    // an advisory without a CVE keeps its own id
    expect(at('lodash', 'x')).toEqual(['CVE-2021-23337', 'NSWG-ECO-516']);
    expect(old.find((x) => x.id === 'NSWG-ECO-516')).toMatchObject({ source: 'nodejs-security-wg', fixedVersion: '4.17.19', url: expect.stringContaining('security-wg') });
    expect(at('express', 'p/express')).toEqual(['CVE-2024-29041']);
    expect(old.find((x) => x.package === 'express')!.fixedVersion).toBe('5.0.0-beta.3');
    expect(at('serve-static', 'p/serve-static')).toEqual(['CVE-2015-1164']);
    expect(at('serve-static', 'y')).toEqual([]);
    // semver 4.3.1: the Node WG's CVE-2015-8855 and GHSA's CVE-2022-25883 (<5.7.2)
    expect(at('semver', 'p/semver')).toEqual(['CVE-2015-8855', 'CVE-2022-25883']);
  });
});

describe('Go and PyPI', () => {
  it('Go modules: SEMVER ranges with and without "v", pseudo-versions, stdlib', async () => {
    const v = await match(
      {
        packages: [
          pkg('golang', 'github.com/gin-gonic/gin', 'v1.5.0'),
          pkg('golang', 'github.com/gin-gonic/gin', 'v1.9.1', { path: 'new' }),
          pkg('golang', 'golang.org/x/net', 'v0.0.0-20180101000000-abcdefabcdef'),
        ],
      },
      db,
    );
    const gin = v.filter((x) => x.package === 'github.com/gin-gonic/gin' && x.pkgPath === 'p/github.com/gin-gonic/gin');
    expect(gin.map((x) => x.id)).toContain('CVE-2020-36567');
    const g1 = gin.find((x) => x.id === 'CVE-2020-36567')!;
    expect(g1).toMatchObject({ fixedVersion: '1.6.0', source: 'go-vulndb', aliases: expect.arrayContaining(['GO-2020-0001', 'GHSA-6vm3-jj99-7229']) });
    expect(v.filter((x) => x.pkgPath === 'new').map((x) => x.id)).not.toContain('CVE-2020-36567');
    const net = ids(v, 'golang.org/x/net');
    expect(net).toEqual(expect.arrayContaining(['CVE-2018-17846', 'CVE-2018-17075']));
    expect(v.find((x) => x.id === 'CVE-2018-17846')!.fixedVersion).toBe('0.0.0-20190125091013-d26f9f9a57f3');
    const fresh = await match({ packages: [pkg('golang', 'golang.org/x/net', 'v0.0.0-20190125091013-d26f9f9a57f3')] }, db);
    expect(ids(fresh)).not.toContain('CVE-2018-17846');
  });

  it('PyPI: PEP 503 names, PEP 440 versions, unsorted events', async () => {
    const v = await match(
      {
        packages: [
          pkg('pypi', 'Jinja2', '2.10'),
          pkg('pypi', 'PyYAML', '5.3'),
          pkg('pypi', 'urllib3', '1.26.16'),
          pkg('pypi', 'urllib3', '2.0.6', { path: 'u2' }),
          pkg('pypi', 'requests', '2.31.0'),
        ],
      },
      db,
    );
    expect(ids(v, 'Jinja2')).toEqual(expect.arrayContaining(['CVE-2019-10906', 'CVE-2020-28493']));
    expect(ids(v, 'Jinja2')).not.toContain('CVE-2014-1402');
    expect(v.find((x) => x.package === 'Jinja2' && x.id === 'CVE-2019-10906')).toMatchObject({ advisoryPackage: 'jinja2', fixedVersion: '2.10.1', source: 'pypa' });
    // 5.3 < 5.3.1 and ≥ 5.2b1
    expect(ids(v, 'PyYAML')).toEqual(expect.arrayContaining(['CVE-2020-1747', 'CVE-2020-14343']));
    expect(ids(v, 'PyYAML')).not.toContain('CVE-2019-20477');
    expect(v.find((x) => x.package === 'urllib3' && x.pkgPath === 'p/urllib3' && x.id === 'CVE-2023-43804')!.fixedVersion).toBe('1.26.17');
    const u2 = v.filter((x) => x.pkgPath === 'u2').map((x) => x.id);
    expect(u2).toContain('CVE-2023-45803');
    expect(u2).not.toContain('CVE-2023-43804');
    expect(ids(v, 'requests')).not.toContain('CVE-2023-32681');
  });
});

describe('merging and severity', () => {
  it('advisories linked by id or alias are one finding, under the CVE id; distinct ones stay apart', async () => {
    const mk = (source: string, id: string, aliases: string[], extra: Partial<StoredAdvisory> = {}): StoredAdvisory => ({
      source,
      namespace: 'npm',
      package: 'a',
      advisoryId: id,
      aliases,
      affected: { kind: 'osv', ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '2.0.0' }] }], versions: [] },
      severity: 'Unknown',
      ...extra,
    });
    const stub: AdvisoryQuery = {
      advisoriesFor: async () => [
        mk('s1', 'GHSA-aaaa', ['CVE-2020-1'], { cvssScore: 9.8, severity: 'Critical' }),
        mk('s2', 'CVE-2020-1', []),
        mk('s3', 'NSWG-ECO-1', ['CVE-2020-1']),
        mk('s1', 'GHSA-bbbb', [], { severity: 'Medium' }),
        mk('s2', 'OTHER-1', ['GHSA-bbbb'], { cvssScore: 0 }),
        mk('s2', 'X-1', [], { affected: { kind: 'osv', ranges: [], versions: ['1.0.0'] } }),
        mk('s2', 'X-2', [], { affected: { kind: 'osv', ranges: [], versions: ['1.0.1'] } }),
      ],
    };
    const v = await match({ packages: [pkg('npm', 'a', '1.0.0')] }, stub);
    expect(v.map((x) => [x.id, x.aliases, x.source, x.severity, x.fixedVersion])).toEqual([
      ['CVE-2020-1', ['GHSA-aaaa', 'NSWG-ECO-1'], 's1', 'Critical', '2.0.0'],
      ['OTHER-1', ['GHSA-bbbb'], 's2', 'Negligible', '2.0.0'],
      ['X-1', undefined, 's2', 'Unknown', undefined],
    ]);
  });
});

describe('speed', () => {
  it('matches a large package set against all fixtures in batches', async () => {
    // every Go module, PyPI project and npm package the fixtures name, at an old version, plus
    // noise names that match nothing, plus the Debian and Alpine sets
    const names = async (ns: string) =>
      (await store.db.selectFrom('vulndb_advisories').select('package').distinct().where('namespace', '=', ns).execute()).map((r) => r.package);
    const packages: Package[] = [];
    for (const n of await names('Go')) packages.push(pkg('golang', n, 'v0.0.1'));
    for (const n of await names('PyPI')) packages.push(pkg('pypi', n, '0.1'));
    for (const n of await names('npm')) packages.push(pkg('npm', n, '0.0.1'));
    for (let i = 0; i < 5000; i++) packages.push(pkg('npm', `noise-${i}`, '1.0.0'), pkg('pypi', `noise-${i}`, '1.0'));
    let calls = 0;
    const counting: AdvisoryQuery = { advisoriesFor: (ns, p) => (calls++, db.advisoriesFor(ns, p)) };
    const t0 = performance.now();
    const v = await match({ packages }, counting);
    const ms = performance.now() - t0;
    const deb = debianPackages();
    const t1 = performance.now();
    const dv = await match({ os: debian, packages: deb }, db);
    const debMs = performance.now() - t1;
    console.log(`matched ${packages.length} language packages → ${v.length} findings in ${ms.toFixed(0)} ms; ${deb.length} Debian packages → ${dv.length} in ${debMs.toFixed(1)} ms`);
    expect(calls).toBe(3); // one call per namespace (batched inside)
    expect(v.length).toBeGreaterThan(3000);
    expect(ms).toBeLessThan(20_000);
  });
});
