import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { debPurl, dpkgAnalyzer, parseDeb822, parseDpkgStatus } from './dpkg.ts';

const FIX = new URL('../../../test/fixtures/scanner/os/', import.meta.url);

describe('dpkg', () => {
  const out = parseDpkgStatus('var/lib/dpkg/status', readFileSync(new URL('dpkg-status', FIX), 'utf8'));
  test('installed entries only (install/hold ok installed), malformed → issue', () => {
    expect(out.packages!.map((p) => p.name)).toEqual(['base-files', 'bash', 'gcc-12-base', 'libc6', 'zlib1g']);
    expect(out.issues).toHaveLength(1);
    expect(out.issues![0]!.message).toMatch(/without Version.*broken-entry/);
  });
  test('versions and sources agree with dpkg-query of a real bookworm rootfs', () => {
    const tsv = new Map(
      readFileSync(new URL('bookworm-minbase-installed.tsv', FIX), 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split('\t'))
        .map(([n, v, s, sv, a]) => [n!, { v, s, sv, a }]),
    );
    for (const p of out.packages!) {
      const t = tsv.get(p.name)!;
      expect(p.version).toBe(t.v);
      expect(p.sourceName ?? p.name).toBe(t.s);
      expect(p.sourceVersion ?? p.version).toBe(t.sv);
      expect(p.arch).toBe(t.a);
    }
  });
  test('purl', () => {
    const bash = out.packages!.find((p) => p.name === 'bash')!;
    expect(bash.purl).toBe('pkg:deb/debian/bash@5.2.15-2%2Bb13?arch=amd64');
    expect(debPurl(bash, { id: 'debian', versionId: '12', codename: 'bookworm' })).toBe(
      'pkg:deb/debian/bash@5.2.15-2%2Bb13?arch=amd64&distro=bookworm',
    );
    const z = out.packages!.find((p) => p.name === 'zlib1g')!;
    expect(debPurl(z, { id: 'ubuntu', versionId: '22.04' })).toBe('pkg:deb/ubuntu/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=ubuntu-22.04');
  });
  test('distroless status.d files; md5sums ignored', () => {
    expect(dpkgAnalyzer.wants('var/lib/dpkg/status.d/libc6', { path: '', size: 1, mode: 0, type: 'file' })).toBe(true);
    expect(dpkgAnalyzer.wants('var/lib/dpkg/status.d/libc6.md5sums', { path: '', size: 1, mode: 0, type: 'file' })).toBe(false);
    expect(dpkgAnalyzer.wants('var/lib/dpkg/status-old', { path: '', size: 1, mode: 0, type: 'file' })).toBe(false);
    const d = parseDpkgStatus('var/lib/dpkg/status.d/libssl3', 'Package: libssl3\nVersion: 3.0.15-1~deb12u1\nArchitecture: amd64\nSource: openssl\n');
    expect(d.packages).toEqual([
      expect.objectContaining({ name: 'libssl3', version: '3.0.15-1~deb12u1', sourceName: 'openssl', path: 'var/lib/dpkg/status.d/libssl3' }),
    ]);
  });
  test('garbage never throws', () => {
    for (const s of ['', '\0\0\0', 'Package\n\n:::\n', ' continuation first\nPackage: x\n', 'Package: a b\nVersion: 1\nStatus: install ok installed\n']) {
      expect(() => parseDpkgStatus('p', s)).not.toThrow();
    }
    expect(parseDeb822('A: 1\n b\n\n\nC: 2')).toEqual([{ A: '1\nb' }, { C: '2' }]);
  });
});
