import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { apkPurl, parseApkInstalled } from './apk.ts';

const text = readFileSync(new URL('../../../test/fixtures/scanner/os/apk-installed', import.meta.url), 'utf8');

test('apk installed db: 15 packages kept, the malformed entry is an issue', () => {
  const out = parseApkInstalled('lib/apk/db/installed', text);
  expect(out.packages).toHaveLength(15);
  expect(out.issues).toEqual([{ path: 'lib/apk/db/installed', message: expect.stringMatching(/line 23.*no V:.*invalidPackageWithoutAVersion/) }]);
  const musl = out.packages!.find((p) => p.name === 'musl')!;
  expect(musl).toMatchObject({ type: 'apk', version: '1.1.14-r10', arch: 'x86_64', licenses: ['MIT'], path: 'lib/apk/db/installed' });
  expect(musl.sourceName).toBeUndefined();
  const withOrigin = out.packages!.filter((p) => p.sourceName);
  for (const p of withOrigin) expect(p.sourceName).not.toBe(p.name);
  expect(out.packages!.find((p) => p.name === 'busybox')!.purl).toBe('pkg:apk/alpine/busybox@1.24.2-r9?arch=x86_64');
  expect(apkPurl(musl, { id: 'alpine', versionId: '3.11.6' })).toBe('pkg:apk/alpine/musl@1.1.14-r10?arch=x86_64&distro=3.11.6');
});

test('origin, CRLF, garbage', () => {
  const out = parseApkInstalled('x', 'P:libcrypto1.1\r\nV:1.1.1g-r0\r\nA:x86_64\r\no:openssl\r\n\r\nV:1\n\n\0\0\n');
  expect(out.packages).toEqual([expect.objectContaining({ name: 'libcrypto1.1', version: '1.1.1g-r0', sourceName: 'openssl' })]);
  expect(out.issues).toHaveLength(2);
  expect(() => parseApkInstalled('x', 'P\nV\n::::\n')).not.toThrow();
});
