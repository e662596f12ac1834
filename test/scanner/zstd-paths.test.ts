// zstd layers are decoded by the system's `zstd` when installed, else by fzstd (WHARF_SCAN_ZSTD=js
// forces it): both must give the same index, and a corrupt stream is an issue on both.
import { afterEach, describe, expect, test } from 'vitest';
import { osAnalyzers, readLayerDetailed } from '../../src/scanner/indexer/index.ts';
import { hasZstd, makeTar, streamOf, zstd } from './indexer-helpers.ts';

const status = (n: number) =>
  Array.from({ length: n }, (_, i) => `Package: p${i}\nStatus: install ok installed\nVersion: 1.${i}-1\nArchitecture: amd64\n`).join('\n');

async function index(blob: Buffer) {
  const r = await readLayerDetailed(streamOf(blob), { digest: 'sha256:' + '0'.repeat(64), analyzers: [...osAnalyzers] });
  return r.index;
}

describe.skipIf(!hasZstd())('zstd decoding paths', () => {
  const saved = process.env.WHARF_SCAN_ZSTD;
  afterEach(() => {
    if (saved === undefined) delete process.env.WHARF_SCAN_ZSTD;
    else process.env.WHARF_SCAN_ZSTD = saved;
  });

  test('the zstd CLI and fzstd give the same index', async () => {
    const tarBuf = await makeTar([
      { name: 'etc/os-release', content: 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n' },
      { name: 'var/lib/dpkg/status', content: status(2000) },
      { name: 'big.bin', content: Buffer.alloc(8 << 20, 7) },
    ]);
    const blob = zstd(tarBuf);
    delete process.env.WHARF_SCAN_ZSTD;
    const cli = await index(blob);
    process.env.WHARF_SCAN_ZSTD = 'js';
    const js = await index(blob);
    expect(cli.issues).toEqual([]);
    expect(cli.files.flatMap((f) => f.output.packages ?? []).length).toBe(2000);
    expect(cli).toEqual(js);
  });

  test('a corrupt zstd stream is an issue with either decoder', async () => {
    const blob = zstd(await makeTar([{ name: 'var/lib/dpkg/status', content: status(500) }]));
    const bad = Buffer.from(blob);
    for (let i = 64; i < bad.length - 8; i += 97) bad[i] ^= 0xff;
    for (const mode of [undefined, 'js']) {
      if (mode) process.env.WHARF_SCAN_ZSTD = mode;
      else delete process.env.WHARF_SCAN_ZSTD;
      const r = await index(bad);
      expect(r.issues.some((i) => /corrupt/.test(i.message)), `mode ${mode ?? 'cli'}: ${JSON.stringify(r.issues)}`).toBe(true);
    }
  });
});
