// Helpers for the vulnerability database tests: fixture paths, metadata backends (SQLite in a temp
// dir; PostgreSQL in a private schema, skipped when no server answers), package lists from the
// fixtures' installed databases.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openMetadata } from '../../src/metadata/open.ts';
import { openPgTestStore, pgReachable } from '../../src/metadata/pg-test-store.ts';
import type { MetadataStore } from '../../src/metadata/store.ts';
import type { Package } from '../../src/scanner/types.ts';

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/vulndata');
export const fx = (p: string) => path.join(FIXTURES, p);
export { pgReachable };

export interface Backend {
  name: string;
  open(): Promise<{ store: MetadataStore; cleanup(): Promise<void> }>;
}

export const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    async open() {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-vulndb-'));
      const store = await openMetadata(`sqlite:${path.join(dir, 'm.db')}`);
      return { store, cleanup: async () => (await store.close(), await rm(dir, { recursive: true, force: true })) };
    },
  },
  { name: 'postgres', open: () => openPgTestStore('wharf_vdb') },
];

/** installed.tsv of the bookworm minbase rootfs: package, version, source, source version, arch. */
export function debianPackages(): Package[] {
  return readFileSync(fx('debian/bookworm-minbase/installed.tsv'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const [name, version, source, sourceVersion, arch] = l.split('\t');
      return { type: 'deb' as const, name: name!, version: version!, sourceName: source, sourceVersion, arch, path: 'var/lib/dpkg/status' };
    });
}

/** The packages of an apk `installed` database (entries without P or V skipped). */
export function alpinePackages(): Package[] {
  const out: Package[] = [];
  for (const para of readFileSync(fx('alpine/installed'), 'utf8').split(/\n\s*\n/)) {
    const f: Record<string, string> = {};
    for (const line of para.split('\n')) {
      const m = /^([A-Za-z]):(.*)$/.exec(line);
      if (m && !(m[1]! in f)) f[m[1]!] = m[2]!;
    }
    if (!f.P || !f.V) continue;
    out.push({ type: 'apk', name: f.P, version: f.V, sourceName: f.o, path: 'lib/apk/db/installed' });
  }
  return out;
}

/** The packages of the testproj lockfile (lockfileVersion 3 `packages`). */
export function npmPackages(): Package[] {
  const lock = JSON.parse(readFileSync(fx('npm/testproj-package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  return Object.entries(lock.packages)
    .filter(([k, v]) => k !== '' && v.version)
    .map(([k, v]) => ({ type: 'npm' as const, name: k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length), version: v.version!, path: k }));
}
