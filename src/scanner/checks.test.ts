import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeLayer, instructionText, isRootUser, lastUserInstruction, runChecks, upstreamVersion, versionBelow } from './checks.ts';
import type { ImageConfig, ImageIndex, LayerRef, OsInfo, Package } from './types.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../../test/fixtures/scanner/checks/${name}`, import.meta.url));
const loadConfig = (name: string) => JSON.parse(readFileSync(fixture(name), 'utf8')) as ImageConfig;

const layers: LayerRef[] = [
  { index: 0, digest: 'sha256:' + 'a'.repeat(64), createdBy: '/bin/sh -c #(nop) ADD file:0123456789abcdef in / ' },
  { index: 1, digest: 'sha256:' + 'b'.repeat(64), createdBy: '/bin/sh -c apt-get update && apt-get install -y libssl1.1' },
  { index: 2, digest: 'sha256:' + 'c'.repeat(64), createdBy: 'COPY app /app # buildkit' },
];

function index(over: Partial<ImageIndex> = {}): ImageIndex {
  return { packages: [], findings: [], issues: [], layers, ...over };
}
const nonRoot: ImageConfig = { config: { User: 'app' } };

describe('config.root-user', () => {
  it.each([
    [undefined, true],
    ['', true],
    ['  ', true],
    ['root', true],
    ['0', true],
    ['0:0', true],
    ['root:root', true],
    ['0:1000', true],
    ['root:staff', true],
    [':1000', true],
    ['000', true],
    ['app', false],
    ['1000', false],
    ['1000:0', false],
    ['65532:65532', false],
    ['nobody', false],
    ['rootless', false],
    ['10', false],
  ])('User %j → root %s', (user, root) => {
    expect(isRootUser(user)).toBe(root);
    const f = runChecks({ index: index(), config: { config: user === undefined ? {} : { User: user } } }).filter((x) => x.check === 'config.root-user');
    expect(f.length).toBe(root ? 1 : 0);
  });

  it('no USER anywhere: attributed to the last layer, says root is the default', () => {
    const [f] = runChecks({ index: index(), config: loadConfig('config-no-user.json') });
    expect(f).toMatchObject({ check: 'config.root-user', severity: 'Medium', title: 'Image runs as root (no USER set)', layer: layers[2] });
    expect(f!.detail).toContain('no USER instruction');
    expect(f!.detail).toContain('layer 2 (sha256:cccccccccccc, built by `COPY app /app # buildkit`)');
  });

  it('an explicit USER root: the detail names that instruction', () => {
    const cfg = loadConfig('config-classic-user-root.json');
    expect(lastUserInstruction(cfg)).toEqual({ step: 3, of: 5, instruction: 'USER root', user: 'root' });
    const [f] = runChecks({ index: index(), config: cfg });
    expect(f).toMatchObject({ check: 'config.root-user', title: 'Image runs as root (USER root)' });
    expect(f!.detail).toContain('`USER root` (history step 3 of 5)');
  });

  it('BuildKit history with a numeric non-root user: nothing', () => {
    const cfg = loadConfig('config-buildkit-nonroot.json');
    expect(lastUserInstruction(cfg)?.user).toBe('65532:65532');
    expect(runChecks({ index: index(), config: cfg })).toEqual([]);
  });

  it('an image without layers still gets the finding (no layer)', () => {
    const [f] = runChecks({ index: index({ layers: [] }), config: {} });
    expect(f!.layer).toBeUndefined();
    expect(f!.detail).toContain('an unknown layer');
  });
});

describe('instruction text', () => {
  it.each([
    ['/bin/sh -c #(nop)  USER app', 'USER app'],
    ['/bin/sh -c apt-get update', 'RUN apt-get update'],
    ['RUN |2 A=1 B=2 /bin/sh -c make install # buildkit', 'RUN make install # buildkit'],
    ['USER 1000', 'USER 1000'],
  ])('%s → %s', (a, b) => expect(instructionText(a)).toBe(b));

  it('long instructions are cut', () => {
    expect(instructionText('/bin/sh -c ' + 'x'.repeat(400)).length).toBe(160);
  });

  it('describeLayer without createdBy', () => {
    expect(describeLayer({ index: 4, digest: 'sha256:' + '1'.repeat(64) })).toBe('layer 4 (sha256:111111111111, no build instruction recorded)');
  });
});

describe('os.eol', () => {
  const os = (date: string, eol: boolean): OsInfo => ({
    id: 'debian',
    versionId: '9',
    codename: 'stretch',
    prettyName: 'Debian GNU/Linux 9 (stretch)',
    path: 'etc/os-release',
    eol: { date, eol },
  });
  const now = new Date('2025-06-01T00:00:00Z');

  it('past EOL: High, title names release and date, base layer', () => {
    const f = runChecks({ index: index({ os: os('2022-06-30', true) }), config: nonRoot, now });
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({
      check: 'os.eol',
      severity: 'High',
      title: 'Debian GNU/Linux 9 (stretch) reached end of life on 2022-06-30',
      path: 'etc/os-release',
      layer: layers[0],
    });
    expect(f[0]!.detail).toContain('built by `ADD file:0123456789abcdef in /`');
  });

  it('a stale eol=false flag with a past date is still EOL', () => {
    expect(runChecks({ index: index({ os: os('2025-01-01', false) }), config: nonRoot, now })[0]!.check).toBe('os.eol');
  });

  it('within 90 days: Low os.eol-soon', () => {
    const [f] = runChecks({ index: index({ os: os('2025-07-31', false) }), config: nonRoot, now });
    expect(f).toMatchObject({ check: 'os.eol-soon', severity: 'Low', title: 'Debian GNU/Linux 9 (stretch) reaches end of life on 2025-07-31 (in 60 days)' });
  });

  it('far away, or no EOL data: nothing', () => {
    expect(runChecks({ index: index({ os: os('2028-06-30', false) }), config: nonRoot, now })).toEqual([]);
    expect(runChecks({ index: index({ os: { id: 'alpine', versionId: '3.20.1', path: 'etc/os-release' } }), config: nonRoot, now })).toEqual([]);
  });

  it('without PRETTY_NAME the title uses id and version', () => {
    const o = { ...os('2022-06-30', true), prettyName: undefined };
    expect(runChecks({ index: index({ os: o }), config: nonRoot, now })[0]!.title).toBe('debian 9 reached end of life on 2022-06-30');
  });
});

describe('tls.outdated', () => {
  const dbPath: Record<string, string> = { deb: 'var/lib/dpkg/status', rpm: 'var/lib/rpm/rpmdb.sqlite', apk: 'lib/apk/db/installed' };
  const rows = readFileSync(fixture('tls-packages.tsv'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const [type, name, version, expected, distro] = l.split('\t');
      return { type: type as Package['type'], name: name!, version: version!, expected: expected!, distro: distro! };
    });

  it('the fixture covers every distro family', () => {
    expect(new Set(rows.map((r) => r.type))).toEqual(new Set(['deb', 'rpm', 'apk']));
    expect(rows.length).toBeGreaterThan(20);
  });

  // All packages of one type share one database, as in a real image (the CLI-beside-libs rule
  // depends on it); each row is judged on its own.
  for (const type of ['deb', 'rpm', 'apk'] as const) {
    const pkgs: Package[] = rows.filter((r) => r.type === type).map((r) => ({ type, name: r.name, version: r.version, path: dbPath[type]!, layer: layers[1] }));
    const findings = runChecks({ index: index({ packages: pkgs }), config: nonRoot });
    for (const r of rows.filter((x) => x.type === type)) {
      it(`${type} ${r.name} ${r.version} (${r.distro}) → ${r.expected}`, () => {
        const f = findings.filter((x) => x.title.startsWith(`Outdated TLS library ${r.name} ${r.version}:`));
        if (r.expected === '-') {
          expect(f).toEqual([]);
          return;
        }
        expect(f).toHaveLength(1);
        expect(f[0]).toMatchObject({ check: 'tls.outdated', severity: r.expected, path: dbPath[type], layer: layers[1] });
        expect(f[0]!.detail).toContain('layer 1 (sha256:bbbbbbbbbbbb, built by `RUN apt-get update && apt-get install -y libssl1.1`)');
        expect(f[0]!.detail).toContain(`/${dbPath[type]}`);
      });
    }
  }

  it('EL6-style rpm: the openssl package is the library when there is no openssl-libs', () => {
    const f = runChecks({ index: index({ packages: [{ type: 'rpm', name: 'openssl', version: '1.0.1e-58.el6_10', path: 'var/lib/rpm/Packages' }] }), config: nonRoot });
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ severity: 'High', layer: undefined });
    expect(f[0]!.title).toContain('OpenSSL 1.0.1e (1.0.x or older)');
  });

  it('OpenSSL 1.1 finding names the upstream EOL date', () => {
    const [f] = runChecks({ index: index({ packages: [{ type: 'deb', name: 'libssl1.1', version: '1.1.1w-0+deb11u1', path: 'var/lib/dpkg/status' }] }), config: nonRoot });
    expect(f!.detail).toContain('2023-09-11');
  });

  it('language packages are not TLS libraries here', () => {
    const pkgs: Package[] = [
      { type: 'npm', name: 'openssl', version: '1.0.0', path: 'app/node_modules/openssl/package.json' },
      { type: 'pypi', name: 'pyOpenSSL', version: '0.13', path: 'usr/lib/python3/dist-packages/pyOpenSSL.egg-info/PKG-INFO' },
    ];
    expect(runChecks({ index: index({ packages: pkgs }), config: nonRoot })).toEqual([]);
  });

  it('upstreamVersion strips epoch, revision, release and -rN', () => {
    expect(upstreamVersion('deb', '1:1.1.1n-0+deb11u5')).toBe('1.1.1n');
    expect(upstreamVersion('deb', '1.0.2g-1ubuntu4.20')).toBe('1.0.2g');
    expect(upstreamVersion('rpm', '1:1.0.2k-26.el7_9')).toBe('1.0.2k');
    expect(upstreamVersion('apk', '1.1.1t-r2')).toBe('1.1.1t');
  });

  it('versionBelow: the ecosystem comparator, else a numeric fallback', () => {
    expect(versionBelow('deb', '1.1.1n', '3.0')).toBe(true);
    expect(versionBelow('deb', '3.0.0~alpha1', '3.0')).toBe(false);
    expect(versionBelow('rpm', '1.1.1k', '1.1')).toBe(false);
    expect(versionBelow('apk', '1.0.2u', '1.1')).toBe(true);
    // no comparator for this type: numeric major.minor.patch
    expect(versionBelow('npm', '1.0.9', '1.1')).toBe(true);
    expect(versionBelow('npm', '3.0.1', '3.0')).toBe(false);
    expect(versionBelow('npm', 'garbage', '3.0')).toBe(false);
  });
});

it('runChecks returns root, EOL and TLS findings together', () => {
  const f = runChecks({
    index: index({
      os: { id: 'ubuntu', versionId: '16.04', prettyName: 'Ubuntu 16.04.7 LTS', path: 'etc/os-release', eol: { date: '2021-04-30', eol: true } },
      packages: [{ type: 'deb', name: 'libssl1.0.0', version: '1.0.2g-1ubuntu4.20', path: 'var/lib/dpkg/status', layer: layers[0] }],
    }),
    config: {},
    now: new Date('2025-01-01T00:00:00Z'),
  });
  expect(f.map((x) => x.check)).toEqual(['config.root-user', 'os.eol', 'tls.outdated']);
  for (const x of f) expect(x.layer).toBeDefined();
});
