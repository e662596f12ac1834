import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FileInfo, Package } from '../types.ts';
import { pythonAnalyzer } from './python.ts';

const FIX = join(import.meta.dirname, '../../../test/fixtures/scanner/lang/python');
const info = (path: string): FileInfo => ({ path, size: 0, mode: 0o644, type: 'file' });
const one = (rel: string): Package => {
  const out = pythonAnalyzer.analyze(rel, readFileSync(join(FIX, rel)), info(rel)) as { packages?: Package[]; issues?: unknown };
  expect(out.issues).toBeUndefined();
  expect(out.packages).toHaveLength(1);
  return out.packages![0];
};

describe('python analyzer', () => {
  it('wants metadata files by path only', () => {
    const w = (p: string) => pythonAnalyzer.wants(p, info(p));
    expect(w('usr/lib/python3.11/site-packages/pip-23.2.1.dist-info/METADATA')).toBe(true);
    expect(w('usr/lib/python3/dist-packages/PyJWT-2.6.0.egg-info/PKG-INFO')).toBe(true);
    expect(w('usr/lib/python2.7/wsgiref.egg-info')).toBe(true); // distutils single file
    expect(w('site-packages/foo-1.0-py3.11.egg/EGG-INFO/PKG-INFO')).toBe(true);
    expect(w('src/foo-1.0/PKG-INFO')).toBe(false); // unpacked sdist, not installed
    expect(w('site-packages/pip-23.2.1.dist-info/RECORD')).toBe(false);
    expect(w('site-packages/pip/__init__.py')).toBe(false);
  });

  // expected values as printed by `python3 -m pip show` / importlib.metadata on the source machine
  const cases: Array<[string, string, string, string[] | undefined, string]> = [
    ['site-packages/pip-23.2.1.dist-info/METADATA', 'pip', '23.2.1', ['MIT', 'MIT License'], 'pkg:pypi/pip@23.2.1'],
    ['site-packages/attrs-26.1.0.dist-info/METADATA', 'attrs', '26.1.0', ['MIT'], 'pkg:pypi/attrs@26.1.0'],
    ['site-packages/typing_extensions-4.15.0.dist-info/METADATA', 'typing_extensions', '4.15.0', ['PSF-2.0'], 'pkg:pypi/typing-extensions@4.15.0'],
    ['site-packages/markupsafe-3.0.3.dist-info/METADATA', 'MarkupSafe', '3.0.3', ['BSD-3-Clause'], 'pkg:pypi/markupsafe@3.0.3'],
    // License: is the whole license text (multi-line): only the classifier is used
    ['site-packages/scipy-1.17.1.dist-info/METADATA', 'scipy', '1.17.1', ['BSD License'], 'pkg:pypi/scipy@1.17.1'],
    ['dist-packages/PyYAML-6.0.dist-info/METADATA', 'PyYAML', '6.0', ['MIT', 'MIT License'], 'pkg:pypi/pyyaml@6.0'],
    ['dist-packages/PyJWT-2.6.0.egg-info/PKG-INFO', 'PyJWT', '2.6.0', ['MIT', 'MIT License'], 'pkg:pypi/pyjwt@2.6.0'],
    ['dist-packages/lazr.restfulclient-0.14.5.egg-info/PKG-INFO', 'lazr.restfulclient', '0.14.5',
      ['LGPL v3', 'GNU Library or Lesser General Public License (LGPL)'], 'pkg:pypi/lazr-restfulclient@0.14.5'],
    ['python2.7/wsgiref.egg-info', 'wsgiref', '0.1.2', ['PSF or ZPL'], 'pkg:pypi/wsgiref@0.1.2'],
  ];
  it.each(cases)('%s', (rel, name, version, licenses, purl) => {
    const p = one(rel);
    expect(p).toMatchObject({ type: 'pypi', name, version, path: rel, purl });
    expect(p.licenses).toEqual(licenses);
  });

  it('multi-line License (traitlets pastes the text): the classifier is used instead', () => {
    const p = one('site-packages/traitlets-5.15.0.dist-info/METADATA');
    expect(p).toMatchObject({ name: 'traitlets', version: '5.15.0' });
    expect(p.licenses).toEqual(['BSD License']);
  });

  it('multi-line License without classifiers: its first line', () => {
    const out = pythonAnalyzer.analyze('x.dist-info/METADATA', Buffer.from('Name: a\nVersion: 1\nLicense: BSD 3-Clause License\n        \n        Copyright (c) x\n'), info('x')) as { packages: Package[] };
    expect(out.packages[0].licenses).toEqual(['BSD 3-Clause License']);
  });

  it('headers stop at the first blank line; continuation lines; CRLF', () => {
    const text = 'Metadata-Version: 2.1\r\nName: Foo.Bar_baz\r\nVersion: 1.0\r\nLicense: line one\r\n        line two\r\n\r\nVersion: 9.9\r\n';
    const out = pythonAnalyzer.analyze('x.dist-info/METADATA', Buffer.from(text), info('x')) as { packages: Package[] };
    expect(out.packages[0]).toMatchObject({ name: 'Foo.Bar_baz', version: '1.0', licenses: ['line one'], purl: 'pkg:pypi/foo-bar-baz@1.0' });
  });

  it('malformed input gives issues, never throws', () => {
    for (const body of ['', 'Name: x\n', 'Version: 1\n', '\n\nName: x\nVersion: 1', '\u0000\u0001\u0002', ':::\n  \n']) {
      const out = pythonAnalyzer.analyze('x.dist-info/METADATA', Buffer.from(body), info('x')) as { packages?: Package[]; issues?: unknown[] };
      expect(out.packages).toBeUndefined();
      expect(out.issues?.length).toBe(1);
    }
  });
});
