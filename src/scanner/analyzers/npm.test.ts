import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FileInfo } from '../types.ts';
import { npmAnalyzer, npmLicenses, type NpmPackage } from './npm.ts';

const FIX = join(import.meta.dirname, '../../../test/fixtures/scanner/lang/npm');
const info = (path: string, size = 0): FileInfo => ({ path, size, mode: 0o644, type: 'file' });
const run = (rel: string, imagePath = rel) => {
  const buf = readFileSync(join(FIX, rel));
  return npmAnalyzer.analyze(imagePath, buf, info(imagePath, buf.length)) as { packages?: NpmPackage[]; issues?: unknown[] };
};

describe('npm analyzer: wants', () => {
  it('takes package roots inside node_modules and lockfiles outside node_modules', () => {
    const w = (p: string) => npmAnalyzer.wants(p, info(p));
    expect(w('usr/lib/node_modules/npm/package.json')).toBe(true);
    expect(w('app/node_modules/@npmcli/arborist/package.json')).toBe(true);
    expect(w('node_modules/a/node_modules/b/package.json')).toBe(true);
    expect(w('app/package.json')).toBe(false); // the application itself
    expect(w('package.json')).toBe(false);
    expect(w('app/node_modules/glob/dist/esm/package.json')).toBe(false); // below a package root
    expect(w('app/node_modules/@scope/package.json')).toBe(false);
    expect(w('app/package-lock.json')).toBe(true);
    expect(w('package-lock.json')).toBe(true);
    expect(w('app/npm-shrinkwrap.json')).toBe(true);
    expect(w('app/node_modules/.package-lock.json')).toBe(false);
    expect(w('app/node_modules/x/package-lock.json')).toBe(false);
  });
});

describe('npm analyzer: real package.json files (npm 11.19.1 install, this repo)', () => {
  it('npm itself', () => {
    const out = run('usr/lib/node_modules/npm/package.json');
    expect(out.packages).toEqual([
      { type: 'npm', name: 'npm', version: '11.19.1', licenses: ['Artistic-2.0'], path: 'usr/lib/node_modules/npm/package.json', purl: 'pkg:npm/npm@11.19.1' },
    ]);
  });
  it('scoped package', () => {
    const [p] = run('usr/lib/node_modules/npm/node_modules/@npmcli/arborist/package.json').packages!;
    expect(p).toMatchObject({ name: '@npmcli/arborist', version: '9.9.1', licenses: ['ISC'], purl: 'pkg:npm/%40npmcli/arborist@9.9.1' });
  });
  it('legacy licenses array of objects, and license string + licenses array together', () => {
    expect(run('usr/lib/node_modules/npm/node_modules/qrcode-terminal/package.json').packages![0].licenses).toEqual(['Apache 2.0']);
    const [d] = run('app/node_modules/deep-extend/package.json').packages!;
    expect(d).toMatchObject({ name: 'deep-extend', version: '0.6.0', licenses: ['MIT'] });
  });
  it('a {"type":"module"} package.json yields nothing, without an issue', () => {
    expect(run('usr/lib/node_modules/npm/node_modules/glob/dist/esm/package.json', 'x/node_modules/glob/package.json')).toEqual({});
  });
});

describe('npm analyzer: lockfiles', () => {
  it('v3: /work/shared testproj lockfile, 82 packages incl. nested path-to-regexp', () => {
    const out = run('testproj-package-lock.json', 'usr/src/app/package-lock.json');
    const pk = out.packages!;
    expect(out.issues).toBeUndefined();
    expect(pk).toHaveLength(82);
    const has = (n: string, v: string) => pk.some((p) => p.name === n && p.version === v);
    expect(has('lodash', '4.17.20')).toBe(true);
    expect(has('minimist', '1.2.5')).toBe(true);
    expect(has('semver', '7.5.1')).toBe(true);
    expect(has('braces', '3.0.2')).toBe(true);
    expect(has('express', '4.18.2')).toBe(true);
    expect(has('path-to-regexp', '0.1.7')).toBe(true); // node_modules/express/node_modules/path-to-regexp
    expect(pk.filter((p) => p.name === 'path-to-regexp').length).toBe(2); // and the top-level one
    expect(pk.some((p) => p.name === 'npm-app')).toBe(false); // root project
    expect(pk.every((p) => p.path === 'usr/src/app/package-lock.json' && p.purl === `pkg:npm/${p.name}@${p.version}`)).toBe(true);
    expect(pk.find((p) => p.name === 'lodash')!.licenses).toEqual(['MIT']);
  });
  it('v3: this repo\'s lockfile, 178 packages, dev flag kept', () => {
    const pk = run('wharf-package-lock.json', 'package-lock.json').packages!;
    expect(pk).toHaveLength(178);
    expect(pk.filter((p) => p.dev).length).toBe(80);
    expect(pk.find((p) => p.name === 'vitest')).toMatchObject({ version: '3.2.7', dev: true });
    expect(pk.find((p) => p.name === 'better-sqlite3')!.dev).toBeUndefined();
    expect(pk.some((p) => p.name === 'tar-stream' && p.version === '2.2.0')).toBe(true); // nested under tar-fs
  });
  it('v1: pprof d3flamegraph lockfile (Go 1.19 sources), 136 entries in a nested tree', () => {
    const pk = run('d3flamegraph-package-lock-v1.json', 'src/package-lock.json').packages!;
    expect(pk).toHaveLength(136);
    expect(pk.filter((p) => p.dev).length).toBe(119);
    expect(pk.filter((p) => p.name === 'd3-array').map((p) => p.version).sort()).toContain('3.1.1');
  });
  it('v2/v3 links, workspaces, aliases and non-registry versions', () => {
    const lock = {
      lockfileVersion: 3,
      packages: {
        '': { name: 'root', version: '1.0.0' },
        'packages/ws': { name: 'ws-pkg', version: '0.1.0' },
        'node_modules/ws-pkg': { resolved: 'packages/ws', link: true },
        'node_modules/@s/x': { version: '2.0.0', license: { type: 'BSD-3-Clause' } },
        'node_modules/alias': { name: 'real', version: '1.2.3' },
        'node_modules/gitdep': { version: 'git+ssh://git@github.com/a/b.git#abc' },
        'node_modules/filedep': { version: 'file:../x' },
        'node_modules/a/node_modules/b': { version: '3.0.0', devOptional: true },
        'node_modules/bad': 'nonsense',
      },
    };
    const out = npmAnalyzer.analyze('package-lock.json', Buffer.from(JSON.stringify(lock)), info('package-lock.json')) as { packages: NpmPackage[] };
    expect(out.packages.map((p) => `${p.name}@${p.version}${p.dev ? ' dev' : ''}`)).toEqual(['@s/x@2.0.0', 'real@1.2.3', 'b@3.0.0 dev']);
    expect(out.packages[0].licenses).toEqual(['BSD-3-Clause']);
    const v1 = { lockfileVersion: 1, dependencies: { x: { version: 'npm:y@1.0.0' }, z: { version: 'github:a/b' } } };
    const o1 = npmAnalyzer.analyze('package-lock.json', Buffer.from(JSON.stringify(v1)), info('package-lock.json')) as { packages: NpmPackage[] };
    expect(o1.packages.map((p) => `${p.name}@${p.version}`)).toEqual(['y@1.0.0']);
  });
  it('malformed input gives issues, never throws', () => {
    for (const body of ['{', '[]', 'null', '\u0000\u0001', '{"lockfileVersion":2}', '{"lockfileVersion":3,"packages":[1]}']) {
      for (const p of ['package-lock.json', 'node_modules/a/package.json']) {
        const out = npmAnalyzer.analyze(p, Buffer.from(body), info(p)) as { packages?: unknown[]; issues?: unknown[] };
        expect(out.packages?.length ?? 0).toBe(0);
      }
    }
    const out = npmAnalyzer.analyze('package-lock.json', Buffer.from('{'), info('package-lock.json')) as { issues: Array<{ message: string }> };
    expect(out.issues[0].message).toMatch(/invalid JSON/);
  });
  it('licenses helper', () => {
    expect(npmLicenses('MIT')).toEqual(['MIT']);
    expect(npmLicenses({ type: 'ISC', url: 'x' })).toEqual(['ISC']);
    expect(npmLicenses(['MIT', { type: 'Apache-2.0' }, 3])).toEqual(['MIT', 'Apache-2.0']);
    expect(npmLicenses(undefined)).toBeUndefined();
  });
});
