// The identity of the TypeScript sources a bundle was built from (scripts/build.js writes it to
// dist/build-stamp.json; bin/wharf.js compares it at each start): a hash of every non-test file's
// path, size and modification time under src/. About 7 ms for ~150 files.
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src');

export function sourceStamp(srcDir = SRC) {
  const h = createHash('sha1');
  let files = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (!e.name.endsWith('.test.ts')) {
        const s = statSync(p);
        h.update(`${path.relative(srcDir, p)}\0${s.size}\0${s.mtimeMs}\n`);
        files++;
      }
    }
  };
  walk(srcDir);
  return { files, hash: h.digest('hex') };
}
