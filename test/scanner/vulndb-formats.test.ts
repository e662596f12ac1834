// The format parsers, the JSON record splitter and the CVSS v3 calculator, as pure functions.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { cvss3, roundup, severityOfScore, severityOfText } from '../../src/scanner/vulndb/cvss.ts';
import { detectFormat, PARSERS } from '../../src/scanner/vulndb/formats.ts';
import { parseFile } from '../../src/scanner/vulndb/import.ts';
import { splitJson } from '../../src/scanner/vulndb/json-stream.ts';
import { osvNamespace, pep503 } from '../../src/scanner/vulndb/namespace.ts';
import { newStats, type AdvisoryRecord, type VulnFormat } from '../../src/scanner/vulndb/types.ts';
import { fx } from './vulndb-lib.ts';

async function* chunks(s: string, size: number) {
  for (let i = 0; i < s.length; i += size) yield s.slice(i, i + size);
}
const split = async (s: string, size = 7) => {
  const out: string[] = [];
  for await (const p of splitJson(chunks(s, size))) out.push(p.garbage ? `!${p.text}` : p.text);
  return out;
};
const parse = (format: VulnFormat, value: unknown) => {
  const stats = newStats();
  const rows: AdvisoryRecord[] = [];
  PARSERS[format](value, stats, (r) => rows.push(r));
  return { stats, rows };
};

describe('CVSS v3', () => {
  it('computes base scores by the 3.1 formulas', () => {
    expect(cvss3('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H')!.baseScore).toBe(9.8);
    expect(cvss3('CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H')!.baseScore).toBe(7.2);
    expect(cvss3('CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N')!.baseScore).toBe(6.1);
    expect(cvss3('CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H')!.baseScore).toBe(9.9);
    expect(cvss3('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H')!.baseScore).toBe(10);
    expect(cvss3('CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:L')!.baseScore).toBe(1.8);
    expect(cvss3('CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N')!.baseScore).toBe(0);
    expect(roundup(4.000000000000001)).toBe(4);
    expect(roundup(4.02)).toBe(4.1);
    for (const bad of ['CVSS:2.0/AV:N', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:X/C:H/I:H/A:H', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H', 'AV:N/AC:L/Au:N/C:P/I:P/A:P', 'CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H']) expect(cvss3(bad)).toBeNull();
  });

  it("agrees with the Node security WG's own scores where those follow the vector", () => {
    const all = JSON.parse(readFileSync(fx('npm/nodejs-security-wg/vuln-npm.json'), 'utf8')) as { cvss_vector?: string; cvss_score?: number }[];
    const withVector = all.filter((a) => a.cvss_vector && /^CVSS:3/.test(a.cvss_vector));
    const valid = withVector.filter((a) => cvss3(a.cvss_vector!));
    // #504's vector has "I:U/A:U", not a CVSS v3 value: no score computed
    expect(withVector.length - valid.length).toBe(1);
    const agree = valid.filter((a) => cvss3(a.cvss_vector!)!.baseScore === a.cvss_score);
    // 435 of 457 agree; the rest are hand-assigned scores that contradict their vectors
    // (e.g. #363 AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N scored 9.3; that vector is 7.5 by the spec)
    expect(withVector.length).toBe(458);
    expect(valid.length).toBe(457);
    expect(agree.length).toBe(435);
  });

  it('severity bands', () => {
    expect([9, 8.9, 7, 6.9, 4, 3.9, 0.1, 0].map(severityOfScore)).toEqual(['Critical', 'High', 'High', 'Medium', 'Medium', 'Low', 'Low', 'Negligible']);
    expect(['unimportant', 'low**', 'medium', 'HIGH', 'not yet assigned', 'MODERATE', 'end-of-life'].map(severityOfText)).toEqual(['Negligible', 'Low', 'Medium', 'High', 'Unknown', 'Medium', 'Unknown']);
  });
});

describe('JSON record splitting', () => {
  it('JSONL, arrays, concatenated pretty-printed objects, garbage lines, truncation', async () => {
    expect(await split('{"a":1}\n{"b":"}{"}\n\n{"c":[1,{"d":"\\"}"}]}\n')).toEqual(['{"a":1}', '{"b":"}{"}', '{"c":[1,{"d":"\\"}"}]}']);
    expect(await split('[\n {"a": 1},\n {"b": [2, 3]}\n]\n')).toEqual(['{"a": 1}', '{"b": [2, 3]}']);
    expect(await split('{\n "a": 1\n}\n{\n "b": 2\n}')).toEqual(['{\n "a": 1\n}', '{\n "b": 2\n}']);
    expect(await split('{"a":1}\nthis is not json\n{"b":2}\n')).toEqual(['{"a":1}', '!this is not json', '{"b":2}']);
    expect(await split('{"a":1}\n{"b":2')).toEqual(['{"a":1}', '!{"b":2']);
    expect(await split('\ufeff{"bom":true}')).toEqual(['{"bom":true}']);
  });
});

describe('format detection and parsers', () => {
  it('detects each format from its first record', () => {
    expect(detectFormat({ id: 'GO-1', modified: 'x', affected: [] })).toBe('osv');
    expect(detectFormat({ distroversion: 'v3.10', packages: [] })).toBe('alpine-secdb');
    expect(detectFormat({ id: 1, module_name: 'x', vulnerable_versions: '<1' })).toBe('nodejs-security-wg');
    expect(detectFormat({ openssl: { 'CVE-1': { releases: { bookworm: { status: 'open' } } } } })).toBe('debian-tracker');
    expect(detectFormat({ hello: 'world' })).toBeNull();
    expect(detectFormat([1, 2])).toBeNull();
  });

  it('OSV: ecosystems to namespaces, GIT ranges dropped, entries of one package merged, malformed parts skipped', () => {
    const { rows, stats } = parse('osv', {
      id: 'X-1',
      aliases: ['CVE-2020-1'],
      modified: '2024-01-01T00:00:00Z',
      severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
      affected: [
        { package: { ecosystem: 'PyPI', name: 'Foo_Bar.baz' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.0' }] }, { type: 'GIT', repo: 'r', events: [{ introduced: 'abc' }] }] },
        { package: { ecosystem: 'PyPI', name: 'foo-bar-baz' }, versions: ['2.0'] },
        { package: { ecosystem: 'Debian:12', name: 'openssl' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.11-1~deb12u1' }] }] },
        { package: { ecosystem: 'Alpine:v3.18', name: 'musl' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.2.4-r1' }] }] },
        { package: { ecosystem: 'Go', name: 'example.com/m' }, ranges: [{ type: 'GIT', events: [{ introduced: '0' }] }] },
        { package: { ecosystem: 'npm', name: 'x' }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0', fixed: '1.0.0' }] }] },
        { package: { name: 'no-ecosystem' } },
      ],
    });
    expect(rows.map((r) => [r.namespace, r.package])).toEqual([
      ['PyPI', 'foo-bar-baz'],
      ['debian:bookworm', 'openssl'],
      ['alpine:v3.18', 'musl'],
    ]);
    expect(rows[0]!.affected).toEqual({ kind: 'osv', ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.0' }] }], versions: ['2.0'] });
    expect(rows[0]).toMatchObject({ advisoryId: 'X-1', aliases: ['CVE-2020-1'], cvssScore: 9.8, severity: 'Critical' });
    expect(stats).toMatchObject({ records: 1, rows: 3, skipped: 2 });
    // withdrawn advisories and records without an id
    expect(parse('osv', { id: 'W', withdrawn: '2024-01-01', affected: [{ package: { ecosystem: 'npm', name: 'a' }, versions: ['1'] }] }).rows).toEqual([]);
    expect(parse('osv', { affected: [] }).stats.skipped).toBe(1);
    // GHSA's textual severity when there is no CVSS v3 vector
    expect(parse('osv', { id: 'G', database_specific: { severity: 'MODERATE' }, affected: [{ package: { ecosystem: 'npm', name: 'a' }, versions: ['1'] }] }).rows[0]!.severity).toBe('Medium');
    expect(osvNamespace('crates.io')).toBe('crates.io');
    expect(osvNamespace('pypi')).toBe('PyPI');
    expect(osvNamespace('Debian:11')).toBe('debian:bullseye');
    expect(osvNamespace('Rocky Linux:9')).toBe('rocky linux:9');
    expect(pep503('Zope.Interface__x')).toBe('zope-interface-x');
  });

  it('Debian tracker: per release rows, statuses and urgencies as given', () => {
    const { rows, stats } = parse('debian-tracker', {
      openssl: {
        'CVE-1': { description: 'd1', releases: { bookworm: { status: 'resolved', fixed_version: '3.0.11-1', urgency: 'medium**' }, trixie: { status: 'open', urgency: 'unimportant' } } },
        'CVE-2': { releases: { bookworm: { status: 'resolved', fixed_version: '0', urgency: 'not yet assigned' }, sid: { urgency: 'low' } } },
        'CVE-3': 'broken',
      },
      broken: 5,
    });
    expect(rows.map((r) => [r.namespace, r.advisoryId, r.affected, r.severity])).toEqual([
      ['debian:bookworm', 'CVE-1', { kind: 'debian', status: 'resolved', fixed_version: '3.0.11-1', urgency: 'medium' }, 'Medium'],
      ['debian:trixie', 'CVE-1', { kind: 'debian', status: 'open', urgency: 'unimportant' }, 'Negligible'],
      ['debian:bookworm', 'CVE-2', { kind: 'debian', status: 'resolved', fixed_version: '0', urgency: 'not yet assigned' }, 'Unknown'],
    ]);
    expect(rows[0]!.summary).toBe('d1');
    expect(stats).toMatchObject({ records: 2, rows: 3, skipped: 3 });
  });

  it('Alpine secdb: a row per id and fix, "0" kept (never affected), odd entries skipped', () => {
    const { rows, stats } = parse('alpine-secdb', {
      distroversion: 'v3.18',
      packages: [{ pkg: { name: 'a', secfixes: { '1.2-r0': ['CVE-1 CVE-2', 'CVE_3'], '0': ['CVE-4'] } } }, { pkg: { name: 'b' } }, 7],
    });
    expect(rows.map((r) => [r.namespace, r.package, r.advisoryId, r.affected])).toEqual([
      ['alpine:v3.18', 'a', 'CVE-4', { kind: 'alpine', fixed_version: '0' }],
      ['alpine:v3.18', 'a', 'CVE-1', { kind: 'alpine', fixed_version: '1.2-r0' }],
      ['alpine:v3.18', 'a', 'CVE-2', { kind: 'alpine', fixed_version: '1.2-r0' }],
    ]);
    expect(stats).toMatchObject({ records: 1, rows: 3, skipped: 3 });
  });

  it('Node security WG: ranges kept as strings, CVSS from the vector', () => {
    const { rows } = parse('nodejs-security-wg', { id: 1, module_name: 'bassmaster', cves: ['CVE-2014-7205'], vulnerable_versions: '<=1.5.1', patched_versions: '>=1.5.2', cvss_vector: 'CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:N', cvss_score: 6.5, title: 'Arbitrary JavaScript Execution' });
    expect(rows).toEqual([
      expect.objectContaining({ namespace: 'npm', package: 'bassmaster', advisoryId: 'NSWG-ECO-1', aliases: ['CVE-2014-7205'], affected: { kind: 'npm-range', vulnerable: '<=1.5.1', patched: '>=1.5.2' }, cvssScore: 6.5, severity: 'Medium', summary: 'Arbitrary JavaScript Execution' }),
    ]);
  });

  it('files: gzip by magic, broken lines skipped and counted, unknown formats named', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-vdb-fmt-'));
    try {
      const lines = readFileSync(fx('osv/golang-vulndb.osv.jsonl'), 'utf8').split('\n').slice(0, 50);
      lines.splice(10, 0, '{"id": "broken", "affected": [');
      lines.splice(20, 0, 'garbage');
      const gz = path.join(dir, 'go.jsonl.gz');
      await writeFile(gz, gzipSync(lines.join('\n')));
      const stats = newStats();
      const rows: AdvisoryRecord[] = [];
      for await (const r of parseFile(gz, stats)) rows.push(r);
      // the unterminated line swallows the rest of the file; its lines are recovered one by one
      // (the broken line and the garbage line inside that stretch count as one malformed record)
      expect(stats.records).toBe(50);
      expect(stats.skipped).toBe(1);
      expect(new Set(rows.map((r) => r.advisoryId)).size).toBe(50);
      const clean = path.join(dir, 'go2.jsonl');
      const l2 = readFileSync(fx('osv/golang-vulndb.osv.jsonl'), 'utf8').split('\n').slice(0, 50);
      l2.splice(20, 0, 'garbage', '{"id": 5}', '{"affected": "x"');
      await writeFile(clean, l2.join('\n'));
      const s2 = newStats();
      for await (const _ of parseFile(clean, s2)) void _;
      expect(s2.records).toBe(50);
      expect(s2.skipped).toBe(3);
      const weird = path.join(dir, 'weird.json');
      await writeFile(weird, '{"hello": "world"}');
      await expect(async () => {
        for await (const _ of parseFile(weird, newStats())) void _;
      }).rejects.toThrow(`${weird}: not a known vulnerability data format`);
      const empty = path.join(dir, 'empty.json');
      await writeFile(empty, '  \n');
      await expect(async () => {
        for await (const _ of parseFile(empty, newStats())) void _;
      }).rejects.toThrow(/empty\.json: no JSON records/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
