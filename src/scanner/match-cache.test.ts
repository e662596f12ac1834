import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cachedMatcher, databaseFingerprint } from './match-cache.ts';
import type { Package, Vulnerability } from './types.ts';

describe('match cache', () => {
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers an unchanged (database, input) from disk and recomputes on any change', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-match-cache-'));
    let calls = 0;
    const real = async (input: { packages: Package[] }): Promise<Vulnerability[]> => {
      calls++;
      return input.packages.map((p) => ({ id: `CVE-${calls}`, package: p.name, packageType: p.type, installedVersion: p.version, severity: 'High', source: 's', pkgPath: p.path }));
    };
    const pkgs: Package[] = [{ type: 'npm', name: 'lodash', version: '4.17.20', path: 'app/package-lock.json' }];
    const fp1 = databaseFingerprint([{ name: 'ghsa', importedAt: 1, records: 6 }]);
    const m1 = cachedMatcher(dir, fp1, real);
    const a = await m1({ packages: pkgs });
    const b = await m1({ packages: pkgs });
    expect(calls).toBe(1);
    expect(b).toEqual(a);
    // another process (a new matcher object) reads the same file
    expect(await cachedMatcher(dir, fp1, real)({ packages: pkgs })).toEqual(a);
    expect(calls).toBe(1);
    // a re-import (new time) or a new source changes the fingerprint
    const fp2 = databaseFingerprint([{ name: 'ghsa', importedAt: 2, records: 6 }]);
    expect(fp2).not.toBe(fp1);
    await cachedMatcher(dir, fp2, real)({ packages: pkgs });
    expect(calls).toBe(2);
    expect(databaseFingerprint([{ name: 'a', importedAt: 1, records: 1 }, { name: 'b', importedAt: 1, records: 1 }])).toBe(databaseFingerprint([{ name: 'b', importedAt: 1, records: 1 }, { name: 'a', importedAt: 1, records: 1 }]));
    // any change of the input (a version, a layer) misses
    await m1({ packages: [{ ...pkgs[0]!, version: '4.17.21' }] });
    expect(calls).toBe(3);
    await m1({ packages: [{ ...pkgs[0]!, layer: { index: 1, digest: 'sha256:x' } }] });
    expect(calls).toBe(4);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
