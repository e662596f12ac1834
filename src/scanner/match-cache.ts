// Match results cached on disk next to the layer cache: the key is a hash of the vulnerability
// database's state (each source's name, import time and record count) and of the exact matcher
// input (OS and packages, with their layers), so any change to either is a miss. A cached rescan of
// an unchanged image against an unchanged database then reads two small files instead of querying
// and comparing thousands of versions.
import { createHash, randomUUID } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { OsInfo, Package, Vulnerability } from './types.ts';

export const MATCH_CACHE_VERSION = 1;

export function databaseFingerprint(sources: Array<{ name: string; importedAt: number | null; records: number }>): string {
  const h = createHash('sha256').update(`v${MATCH_CACHE_VERSION}`);
  for (const s of [...sources].sort((a, b) => a.name.localeCompare(b.name))) h.update(`\0${s.name}\0${s.importedAt ?? ''}\0${s.records}`);
  return h.digest('hex');
}

export function cachedMatcher(
  dir: string,
  dbFingerprint: string,
  match: (input: { os?: OsInfo; packages: Package[] }) => Promise<Vulnerability[]>,
): (input: { os?: OsInfo; packages: Package[] }) => Promise<Vulnerability[]> {
  return async (input) => {
    const key = createHash('sha256').update(dbFingerprint).update(JSON.stringify({ os: input.os ?? null, packages: input.packages })).digest('hex');
    const file = path.join(dir, `match-${key}.json`);
    try {
      const v = JSON.parse(await readFile(file, 'utf8'));
      if (Array.isArray(v)) return v as Vulnerability[];
    } catch {
      /* miss or unreadable: compute */
    }
    const out = await match(input);
    const tmp = `${file}.${randomUUID()}.tmp`;
    try {
      await writeFile(tmp, JSON.stringify(out));
      await rename(tmp, file);
    } catch {
      /* a cache that cannot be written is only slower */
    }
    return out;
  };
}
