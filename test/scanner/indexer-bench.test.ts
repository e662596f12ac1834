// Throughput of the layer reader on a synthetic ~300 MB layer vs. `gunzip | tar t`.
// Opt-in (slow): WHARF_BENCH=1 npx vitest run test/scanner/indexer-bench.test.ts
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { expect, test } from 'vitest';
import { osAnalyzers, readLayerDetailed } from '../../src/scanner/indexer/index.ts';
import { makeTar, type TarEntry } from './indexer-helpers.ts';

test.skipIf(!process.env.WHARF_BENCH)('layer reader throughput (300 MB gzip layer)', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-bench-'));
  try {
    // ~300 MB of files of mixed sizes, half-compressible content (text-like + random), plus a dpkg db
    const entries: TarEntry[] = [];
    const rnd = randomBytes(1 << 20);
    const text = Buffer.from('lorem ipsum dolor sit amet, consectetur adipiscing elit\n'.repeat(20000));
    let total = 0;
    let i = 0;
    while (total < 300 * 1024 * 1024) {
      const size = [512, 4096, 30_000, 200_000, 1_000_000][i % 5]!;
      const content = Buffer.concat([rnd.subarray(i % 1000, (i % 1000) + size / 2), text.subarray(0, size / 2)]);
      entries.push({ name: `usr/lib/pkg${i % 97}/file${i}`, content });
      total += content.length;
      i++;
    }
    entries.push({ name: 'var/lib/dpkg/status', content: 'Package: a\nStatus: install ok installed\nVersion: 1\n' });
    const tarBuf = await makeTar(entries);
    const layer = join(dir, 'layer.tar.gz');
    writeFileSync(layer, zlib.gzipSync(tarBuf, { level: 6 }));
    const mb = tarBuf.length / 1024 / 1024;
    const gzMb = statSync(layer).size / 1024 / 1024;

    let t = process.hrtime.bigint();
    const base = spawnSync('sh', ['-c', `gunzip -c ${layer} | tar tf - | wc -l`]);
    const baseS = Number(process.hrtime.bigint() - t) / 1e9;
    expect(base.status).toBe(0);

    t = process.hrtime.bigint();
    const r = await readLayerDetailed(createReadStream(layer), { digest: 'x', analyzers: [...osAnalyzers] });
    const ourS = Number(process.hrtime.bigint() - t) / 1e9;
    expect(r.index.issues).toEqual([]);
    expect(r.index.stats.entries).toBe(entries.length);
    console.log(
      `layer: ${entries.length} entries, ${mb.toFixed(0)} MB tar, ${gzMb.toFixed(0)} MB gzip\n` +
        `gunzip | tar t : ${baseS.toFixed(2)} s  (${(mb / baseS).toFixed(0)} MB/s of tar)\n` +
        `readLayer      : ${ourS.toFixed(2)} s  (${(mb / ourS).toFixed(0)} MB/s of tar), rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`,
    );
    if (spawnSync('zstd', ['--version']).status === 0) {
      const zl = join(dir, 'layer.tar.zst');
      writeFileSync(join(dir, 'layer.tar'), tarBuf);
      spawnSync('zstd', ['-q', '-3', join(dir, 'layer.tar'), '-o', zl]);
      t = process.hrtime.bigint();
      spawnSync('sh', ['-c', `zstd -dc ${zl} | tar tf - | wc -l`]);
      const zb = Number(process.hrtime.bigint() - t) / 1e9;
      t = process.hrtime.bigint();
      const rz = await readLayerDetailed(createReadStream(zl), { digest: 'x', analyzers: [...osAnalyzers] });
      const zs = Number(process.hrtime.bigint() - t) / 1e9;
      expect(rz.index.stats.entries).toBe(entries.length);
      console.log(`zstd -dc | tar t: ${zb.toFixed(2)} s (${(mb / zb).toFixed(0)} MB/s); readLayer zstd (fzstd): ${zs.toFixed(2)} s (${(mb / zs).toFixed(0)} MB/s)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
