// Denial-of-service regressions for the layer reader (security review): hardlink amplification
// of analyzer output, oversized link targets, and unbounded links / whiteouts / files / issue texts
// kept in the LayerIndex. Each case is the review's proof of concept at small scale, with the
// limits scaled down through LayerLimits where the default would need a large input.
import { describe, expect, test } from 'vitest';
import { DEFAULT_LIMITS, osAnalyzers, readLayerDetailed, type LayerLimits } from '../../src/scanner/indexer/index.ts';
import type { FileAnalyzer } from '../../src/scanner/types.ts';
import { gzip, makeTar, streamOf, type TarEntry } from './indexer-helpers.ts';

const read = async (entries: TarEntry[], limits: Partial<LayerLimits> = {}, analyzers: readonly FileAnalyzer[] = osAnalyzers) => {
  const blob = gzip(await makeTar(entries));
  const t0 = performance.now();
  const r = await readLayerDetailed(streamOf(blob), { digest: 'sha256:dos', analyzers, limits });
  return { ...r.index, ms: performance.now() - t0, blobBytes: blob.length };
};
const messages = (ix: { issues: Array<{ message: string }> }) => ix.issues.map((i) => i.message);
const packageCount = (ix: { files: Array<{ output: { packages?: unknown[] } }> }) => ix.files.reduce((n, f) => n + (f.output.packages?.length ?? 0), 0);

/** A distroless-style dpkg status.d file of n packages. */
const statusD = (n: number) =>
  Array.from({ length: n }, (_, i) => `Package: pkg${i}\nVersion: 1.0-${i}\nArchitecture: amd64\n`).join('\n');

/** Every file is analyzed and yields one finding: counts what the reader keeps. */
const everyFile: FileAnalyzer = {
  name: 'every-file',
  version: 1,
  wants: () => true,
  analyze: (path) => ({ findings: [{ check: 'test', severity: 'Low', title: 'seen', path }] }),
};

describe('layer reader: hardlink amplification', () => {
  test('hardlinks to a big dpkg status.d file stop at the output-item budget', async () => {
    // PoC: one status.d file and many hardlinks to it (as status.d/<name>), each re-analyzed
    const entries: TarEntry[] = [{ name: 'var/lib/dpkg/status.d/base', content: statusD(2000) }];
    for (let i = 0; i < 60; i++) entries.push({ name: `var/lib/dpkg/status.d/l${i}`, type: 'link', linkname: 'var/lib/dpkg/status.d/base' });
    const ix = await read(entries, { maxOutputItems: 10_000 });
    // unbounded: 61 × 2000 = 122,000 packages from a few KiB of gzip
    expect(packageCount(ix)).toBeLessThanOrEqual(10_000);
    expect(packageCount(ix)).toBe(10_000); // the file + 4 links fit; the 5th link would go over
    expect(messages(ix)).toEqual([expect.stringMatching(/^analyzer output of this layer exceeds 10000 packages\/findings\/issues \(at var\/lib\/dpkg\/status\.d\/l4\); stopped reading the layer$/)]);
    expect(ix.links!.map((l) => l.path)).toEqual(['l0', 'l1', 'l2', 'l3'].map((n) => `var/lib/dpkg/status.d/${n}`));
    expect(ix.ms).toBeLessThan(5000);
  });

  test('bytes re-analyzed through hardlinks are bounded (maxRelinkBytes)', async () => {
    const content = 'x'.repeat(100 * 1024);
    const entries: TarEntry[] = [{ name: 'data/key', content }];
    for (let i = 0; i < 50; i++) entries.push({ name: `data/key${i}`, type: 'link', linkname: 'data/key' });
    let analyzed = 0;
    const counting: FileAnalyzer = { name: 'count', version: 1, wants: (p) => p.startsWith('data/'), analyze: (_p, c) => ((analyzed += c.length), {}) };
    const ix = await read(entries, { maxRelinkBytes: 1024 * 1024 }, [counting]);
    expect(analyzed).toBe(11 * 100 * 1024); // the file itself + 10 links of 100 KiB
    expect(messages(ix)).toEqual([`hardlinks re-analyze more than ${1024 * 1024} bytes in this layer; stopped reading it`]);
    expect(ix.files).toHaveLength(11);
    expect(ix.links).toHaveLength(10); // the link that went over is not recorded
  });

  test('the defaults are set', () => {
    expect(DEFAULT_LIMITS).toMatchObject({
      maxOutputItems: 500_000,
      maxRelinkBytes: 256 * 1024 ** 2,
      maxFiles: 200_000,
      maxLinks: 500_000,
      maxWhiteouts: 500_000,
      maxIndexBytes: 256 * 1024 ** 2,
      maxIssueLength: 500,
    });
  });
});

describe('layer reader: what a layer can make the index keep', () => {
  test('symlink and hardlink targets over maxPathLength are skipped with a short issue (default limit)', async () => {
    // PoC: symlinks with 1 MB targets; here 40 × 100 KB
    const entries: TarEntry[] = [];
    for (let i = 0; i < 40; i++) entries.push({ name: `s${i}`, type: 'symlink', linkname: 'a/'.repeat(50_000) });
    entries.push({ name: 'h', type: 'link', linkname: 'b/'.repeat(3000) });
    entries.push({ name: 'ok', type: 'symlink', linkname: 'usr/lib/os-release' });
    const ix = await read(entries);
    expect(ix.links).toEqual([{ path: 'ok', type: 'symlink', target: 'usr/lib/os-release' }]);
    expect(ix.issues).toHaveLength(41);
    expect(ix.issues[0]).toEqual({ path: 's0', message: `symlink target of 100000 characters is over the ${DEFAULT_LIMITS.maxPathLength} limit; skipped` });
    expect(ix.issues[40]!.message).toMatch(/^link target of 6000 characters/);
    expect(JSON.stringify(ix).length).toBeLessThan(20_000);
  });

  test('links, whiteouts and analyzed files are capped per layer', async () => {
    const links: TarEntry[] = Array.from({ length: 150 }, (_, i) => ({ name: `l${i}`, type: 'symlink' as const, linkname: 'x' }));
    const li = await read(links, { maxLinks: 100 });
    expect(li.links).toHaveLength(100);
    expect(messages(li)).toEqual(['layer has more than 100 links; stopped reading it']);

    const wh: TarEntry[] = Array.from({ length: 150 }, (_, i) => ({ name: i % 2 ? `d${i}/.wh..wh..opq` : `d/.wh.f${i}`, content: '' }));
    const wi = await read(wh, { maxWhiteouts: 100 });
    expect(wi.whiteouts.length + wi.opaqueDirs.length).toBe(100);
    expect(messages(wi)).toEqual(['layer has more than 100 whiteouts; stopped reading it']);

    const files: TarEntry[] = Array.from({ length: 150 }, (_, i) => ({ name: `f${i}`, content: 'x' }));
    const fi = await read(files, { maxFiles: 100 }, [everyFile]);
    expect(fi.files).toHaveLength(100);
    expect(messages(fi)).toEqual(['layer has more than 100 analyzed files; stopped reading it']);
  });

  test('everything kept counts against maxIndexBytes', async () => {
    const entries: TarEntry[] = Array.from({ length: 200 }, (_, i) => ({ name: `l${i}`, type: 'symlink' as const, linkname: 't'.repeat(4000) }));
    const ix = await read(entries, { maxIndexBytes: 100_000 });
    expect(ix.links!.length).toBeGreaterThan(20);
    expect(ix.links!.length).toBeLessThan(25);
    expect(messages(ix)).toEqual(['layer index would exceed 100000 bytes kept in memory; stopped reading the layer']);
    // analyzer outputs too
    const big: FileAnalyzer = { name: 'big', version: 1, wants: () => true, analyze: (path) => ({ packages: [{ type: 'npm', name: 'n'.repeat(10_000), version: '1', path }] }) };
    const fx = await read(Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, content: 'x' })), { maxIndexBytes: 100_000 }, [big]);
    expect(fx.files).toHaveLength(9);
    expect(messages(fx)[0]).toMatch(/^layer index would exceed 100000 bytes/);
  });

  test('issue messages are truncated, the reader’s and the analyzers’', async () => {
    const noisy: FileAnalyzer = { name: 'noisy', version: 1, wants: () => true, analyze: () => ({ issues: [{ message: 'e'.repeat(1_000_000) }] }) };
    const failing: FileAnalyzer = { name: 'failing', version: 1, wants: () => true, analyze: () => { throw new Error('f'.repeat(1_000_000)); } };
    const ix = await read([{ name: 'a', content: 'x' }, { name: '../' + 'y'.repeat(3000), content: 'x' }], {}, [noisy, failing]);
    const all = [...ix.issues, ...ix.files.flatMap((f) => f.output.issues ?? [])].map((i) => i.message);
    expect(all).toHaveLength(3);
    for (const m of all) expect(m.length).toBeLessThan(DEFAULT_LIMITS.maxIssueLength + 40);
    expect(all).toContainEqual(expect.stringMatching(/^e+… \(1000000 characters\)$/));
  });
});

describe('merge: hardlinks across layers', () => {
  test('copies of a lower layer\'s analyzed output through hardlinks are bounded per image', async () => {
    const { mergeLayers, MAX_CLONED_ITEMS } = await import('../../src/scanner/indexer/merge.ts');
    const n = 200_000;
    const packages = Array.from({ length: n }, (_, i) => ({ type: 'deb' as const, name: `p${i}`, version: '1', path: 'var/lib/dpkg/status.d/big' }));
    const base = { digest: 'sha256:' + 'a'.repeat(64), files: [{ analyzer: 'dpkg', path: 'var/lib/dpkg/status.d/big', output: { packages } }], whiteouts: [], opaqueDirs: [], issues: [], stats: { entries: 1, bytes: 1 } };
    const links = Array.from({ length: 50 }, (_, i) => ({ path: `var/lib/dpkg/status.d/l${i}`, type: 'link' as const, target: 'var/lib/dpkg/status.d/big' }));
    const top = { digest: 'sha256:' + 'b'.repeat(64), files: [], whiteouts: [], opaqueDirs: [], issues: [], stats: { entries: 50, bytes: 0 }, links };
    const refs = [{ index: 0, digest: base.digest }, { index: 1, digest: top.digest }];
    const t0 = performance.now();
    const idx = mergeLayers(refs, [base, top]);
    const ms = performance.now() - t0;
    // without the budget: 51 × 200,000 packages
    expect(idx.packages.length).toBeLessThanOrEqual(n + MAX_CLONED_ITEMS);
    expect(idx.packages.length).toBeGreaterThanOrEqual(n);
    expect(idx.issues.some((i) => /hardlinks re-use more analyzer output/.test(i.message))).toBe(true);
    expect(ms).toBeLessThan(20_000);
  });
});
