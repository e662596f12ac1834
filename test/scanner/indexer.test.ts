import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { FsLayerCache, MemoryLayerCache, indexImage, layerRefs, osAnalyzers, readLayerDetailed } from '../../src/scanner/indexer/index.ts';
import { normalizeEntryPath, resolveSymlinkTarget } from '../../src/scanner/indexer/paths.ts';
import type { FileAnalyzer, FileInfo, ImageConfig } from '../../src/scanner/types.ts';
import { MemSource, gzip, hasZstd, makeTar, streamOf, zstd, type TarEntry } from './indexer-helpers.ts';

const NOW = new Date('2026-12-01T00:00:00Z');

/** A test analyzer: every file under a "secrets" dir (or named key*) is a finding. */
const secretAnalyzer: FileAnalyzer = {
  name: 'test-secret',
  version: 1,
  wants: (p) => /(^|\/)key\d*$/.test(p),
  analyze: (path, content) => ({
    findings: [{ check: 'secret.test', severity: 'High', title: `secret ${content.toString().trim()}`, path }],
  }),
};

/** Records every path it is offered and every byte it reads: the "does anything escape" probe. */
function probe(): FileAnalyzer & { seen: Array<{ path: string; content: string; info: FileInfo }> } {
  const seen: Array<{ path: string; content: string; info: FileInfo }> = [];
  return {
    name: 'probe',
    version: 1,
    seen,
    wants: () => true,
    analyze: (path, content, info) => {
      seen.push({ path, content: content.toString(), info });
      return {};
    },
  };
}

const status = (pkgs: Array<[string, string]>) =>
  pkgs.map(([n, v]) => `Package: ${n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${v}\n`).join('\n');

const OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n';

const analyzers = [...osAnalyzers, secretAnalyzer];

async function layers(...ls: TarEntry[][]): Promise<Buffer[]> {
  return Promise.all(ls.map(async (l) => gzip(await makeTar(l))));
}

const history: ImageConfig['history'] = [
  { created_by: 'ADD rootfs.tar /' },
  { created_by: 'ENV A=1', empty_layer: true },
  { created_by: 'RUN apt-get install c' },
  { created_by: 'RUN apt-get remove b' },
];

describe('indexImage: whiteouts and attribution across 3 layers', async () => {
  const blobs = await layers(
    [
      { name: 'usr/lib/os-release', content: OS_RELEASE },
      { name: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' },
      { name: 'var/lib/dpkg/status', content: status([['a', '1.0'], ['b', '2.0']]) },
      { name: 'secrets/key1', content: 'one' },
      { name: 'secrets/dir/key2', content: 'two' },
      { name: 'opt/app/key3', content: 'three' },
      { name: 'tmp/key4', content: 'four-old' },
      { name: 'keep/key6', content: 'six' },
    ],
    [
      { name: 'var/lib/dpkg/status', content: status([['a', '1.0'], ['b', '2.0'], ['c', '3.0']]) },
      { name: 'secrets/.wh.key1', content: '' },
      { name: 'secrets/.wh.dir', content: '' },
      { name: 'opt/app/.wh..wh..opq', content: '' },
      { name: 'opt/app/key5', content: 'five' },
      { name: 'tmp/.wh.key4', content: '' },
    ],
    [
      { name: 'var/lib/dpkg/status', content: status([['a', '1.0'], ['c', '3.0']]) },
      { name: 'tmp/key4', content: 'four-new' },
      { name: 'keep/key6', content: 'six' }, // rewritten with the same secret: not "deleted"
    ],
  );
  const src = new MemSource(new Map(), blobs, { history, rootfs: { type: 'layers', diff_ids: ['sha256:d0', 'sha256:d1', 'sha256:d2'] } });
  const img = await indexImage(src, { analyzers, now: NOW });

  test('layer refs from the config', () => {
    expect(img.layers.map((l) => [l.index, l.diffId, l.createdBy])).toEqual([
      [0, 'sha256:d0', 'ADD rootfs.tar /'],
      [1, 'sha256:d1', 'RUN apt-get install c'],
      [2, 'sha256:d2', 'RUN apt-get remove b'],
    ]);
  });
  test('packages: removed ones dropped, each attributed to the layer that introduced it', () => {
    expect(img.packages.map((p) => [p.name, p.layer?.index])).toEqual([
      ['a', 0],
      ['c', 1],
    ]);
    expect(img.packages[0]!.purl).toBe('pkg:deb/debian/a@1.0?arch=amd64&distro=bookworm');
  });
  test('OS through the etc/os-release symlink, with EOL on the scan date', () => {
    expect(img.os).toMatchObject({ id: 'debian', versionId: '12', codename: 'bookworm', path: 'usr/lib/os-release' });
    expect(img.os!.eol).toEqual({ date: '2028-06-30', eol: false });
  });
  test('findings keep their layer; deletedIn for file, dir, opaque dir, delete + re-create', () => {
    const got = img.findings.map((f) => `${f.path}@${f.layer?.index}${f.deletedIn ? ` deletedIn ${f.deletedIn.index}` : ''}`).sort();
    expect(got).toEqual([
      'keep/key6@0',
      'keep/key6@2',
      'opt/app/key3@0 deletedIn 1',
      'opt/app/key5@1',
      'secrets/dir/key2@0 deletedIn 1',
      'secrets/key1@0 deletedIn 1',
      'tmp/key4@0 deletedIn 1',
      'tmp/key4@2',
    ]);
    expect(img.issues).toEqual([]);
  });
});

describe('layer cache', () => {
  test('a shared base layer is read once (openBlob count); an FS cache survives; corrupt entry = miss', async () => {
    const [base, app1, app2] = await layers(
      [{ name: 'var/lib/dpkg/status', content: status([['base', '1']]) }],
      [{ name: 'app1/key', content: 'x' }],
      [{ name: 'app2/key', content: 'y' }],
    );
    const blobs = new Map<string, Buffer>();
    const img1 = new MemSource(blobs, [base!, app1!]);
    const img2 = new MemSource(blobs, [base!, app2!]);
    const cache = new MemoryLayerCache();
    const r1 = await indexImage(img1, { analyzers, cache });
    expect(img1.opened).toHaveLength(2);
    const r2 = await indexImage(img2, { analyzers, cache });
    expect(img2.opened).toEqual([img2.layers[1]!.digest]);
    expect(r2.packages).toEqual(r1.packages);
    expect(r2.findings.map((f) => f.path)).toEqual(['app2/key']);
    // another analyzer set (or version) is another key
    const img3 = new MemSource(blobs, [base!]);
    await indexImage(img3, { analyzers: [...analyzers, { ...secretAnalyzer, version: 2 }], cache });
    expect(img3.opened).toHaveLength(1);

    const dir = mkdtempSync(join(tmpdir(), 'wharf-layercache-'));
    try {
      const fsCache = new FsLayerCache(dir);
      const a = new MemSource(blobs, [base!, app1!]);
      await indexImage(a, { analyzers, cache: fsCache });
      const b = new MemSource(blobs, [base!, app1!]);
      const rb = await indexImage(b, { analyzers, cache: new FsLayerCache(dir) });
      expect(b.opened).toEqual([]);
      expect(rb.packages.map((p) => p.name)).toEqual(['base']);
      const files = readdirSync(dir);
      expect(files.every((f) => f.endsWith('.json'))).toBe(true); // no temp files left
      for (const f of files) writeFileSync(join(dir, f), '{"digest": tru');
      const c = new MemSource(blobs, [base!, app1!]);
      expect((await indexImage(c, { analyzers, cache: new FsLayerCache(dir) })).packages.map((p) => p.name)).toEqual(['base']);
      expect(c.opened).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('a merged image index is cached: a rescan reads one entry, no layer; same result; EOL recomputed for the scan date', async () => {
    const buster = 'PRETTY_NAME="Debian GNU/Linux 10 (buster)"\nVERSION_ID="10"\nVERSION_CODENAME=buster\nID=debian\n';
    const [base, app] = await layers(
      [
        { name: 'etc/os-release', content: buster },
        { name: 'var/lib/dpkg/status', content: status([['base', '1'], ['other', '2']]) },
      ],
      [{ name: 'app/key', content: 'x' }],
    );
    const blobs = new Map<string, Buffer>();
    const config = { history: [{ created_by: 'ADD rootfs /' }, { created_by: 'COPY app /app' }] };
    const cache = new MemoryLayerCache();
    const gets: string[] = [];
    const get = cache.get.bind(cache);
    cache.get = (k: string) => (gets.push(k), get(k));
    const before = new Date('2024-01-01T00:00:00Z'); // buster supported until 2024-06-30
    const first = await indexImage(new MemSource(blobs, [base!, app!], config), { analyzers, cache, now: before });
    expect(first.os?.eol).toMatchObject({ eol: false, date: '2024-06-30' });
    expect(gets).toHaveLength(2); // two layer misses
    const again = new MemSource(blobs, [base!, app!], config);
    const second = await indexImage(again, { analyzers, cache, now: before });
    expect(again.opened).toEqual([]);
    expect(gets).toHaveLength(2); // no layer entry read: the merged index answered
    expect(second).toEqual(first);
    // a later scan date: the cached merge gets the end-of-life status of that date
    const later = await indexImage(new MemSource(blobs, [base!, app!], config), { analyzers, cache, now: NOW });
    expect(later.os?.eol).toMatchObject({ eol: true, date: '2024-06-30' });
    expect({ ...later, os: { ...later.os, eol: undefined } }).toEqual({ ...first, os: { ...first.os, eol: undefined } });
    // another build history is another merge (attribution names the instructions)
    const other = await indexImage(new MemSource(blobs, [base!, app!], { history: [{ created_by: 'ADD other /' }, { created_by: 'COPY app /app' }] }), { analyzers, cache, now: NOW });
    expect(gets).toHaveLength(4); // merged again from the two cached layers
    expect(other.packages[0]!.layer?.createdBy).toBe('ADD other /');
    // the same layers in another order are another image
    await indexImage(new MemSource(blobs, [app!, base!]), { analyzers, cache, now: NOW });
    expect(gets).toHaveLength(6);
  });
  test('a merged index is not cached when a layer could not be read', async () => {
    const [good, bad] = await layers([{ name: 'app/key', content: 'x' }], [{ name: 'app/key2', content: 'y' }]);
    const blobs = new Map<string, Buffer>();
    const cache = new MemoryLayerCache();
    const src = new MemSource(blobs, [good!, bad!]);
    const open = src.openBlob.bind(src);
    src.openBlob = async (d: string) => {
      if (d === src.layers[1]!.digest) throw new Error('404');
      return open(d);
    };
    await indexImage(src, { analyzers, cache });
    expect(cache.size).toBe(1); // the good layer only
    const retry = new MemSource(blobs, [good!, bad!]);
    const r = await indexImage(retry, { analyzers, cache });
    expect(retry.opened).toEqual([retry.layers[1]!.digest]);
    expect(r.issues).toEqual([]);
    expect(cache.size).toBe(3); // both layers and the image
  });
  test('progress events', async () => {
    const [l] = await layers([{ name: 'f', content: 'x' }]);
    const src = new MemSource(new Map(), [l!]);
    const evs: string[] = [];
    await indexImage(src, { analyzers, onProgress: (e) => evs.push(`${e.type} ${e.index + 1}/${e.total}`) });
    expect(evs[0]).toBe('layer-start 1/1');
    expect(evs.at(-1)).toBe('layer-done 1/1');
  });
});

describe('tar bombs and limits', () => {
  test('entry count limit stops the layer with an issue', async () => {
    const entries: TarEntry[] = Array.from({ length: 500 }, (_, i) => ({ name: `d/f${i}`, content: '' }));
    const r = await readLayerDetailed(streamOf(gzip(await makeTar(entries))), { digest: 'x', analyzers, limits: { maxEntries: 100 } });
    expect(r.index.issues.map((i) => i.message)).toEqual([expect.stringMatching(/more than 100 entries/)]);
    expect(r.index.stats.entries).toBe(101);
  });
  test('decompressed byte limit: a 64 MB gzip bomb stops after 1 MiB', async () => {
    const t0 = Date.now();
    // a tar header followed by 200 MB of zeros, gzipped (≈ 200 KB)
    const hdr = (await makeTar([{ name: 'h', content: 'x' }])).subarray(0, 512);
    const bomb = gzip(Buffer.concat([hdr, Buffer.alloc(64 * 1024 * 1024)]));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const r = await readLayerDetailed(streamOf(bomb), { digest: 'x', analyzers, limits: { maxLayerBytes: 1024 * 1024 } });
    expect(r.index.issues.map((i) => i.message)).toEqual([expect.stringMatching(/more than 1048576 bytes/)]);
    expect(r.index.stats.bytes).toBeLessThan(2 * 1024 * 1024);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
  test.skipIf(!hasZstd())('zstd bomb stops at the byte limit too', async () => {
    const hdr = (await makeTar([{ name: 'h', content: 'x' }])).subarray(0, 512);
    const bomb = zstd(Buffer.concat([hdr, Buffer.alloc(32 * 1024 * 1024)]));
    const r = await readLayerDetailed(streamOf(bomb), { digest: 'x', analyzers, limits: { maxLayerBytes: 1024 * 1024 } });
    expect(r.compression).toBe('zstd');
    expect(r.index.issues.map((i) => i.message)).toEqual([expect.stringMatching(/more than 1048576 bytes/)]);
  });
  test('per-file limits: over maxBytes → issue, not analyzed; path length; head ≤ 4 KiB; contentless', async () => {
    const heads: number[] = [];
    const contentlessGot: number[] = [];
    const sniff: FileAnalyzer = {
      name: 'sniff',
      version: 1,
      wants: () => false,
      wantsContent: (_p, _i, head) => (heads.push(head.length), head.subarray(0, 4).toString() === 'ELF!'),
      analyze: (p, c) => ({ findings: [{ check: 'sniffed', severity: 'Low', title: `${c.length}`, path: p }] }),
    };
    const small: FileAnalyzer = { name: 'small', version: 1, maxBytes: 10, wants: (p) => p === 'big', analyze: () => ({}) };
    const presence: FileAnalyzer = {
      name: 'presence',
      version: 1,
      contentless: true,
      wants: (p) => p === 'big',
      analyze: (_p, c) => (contentlessGot.push(c.length), {}),
    };
    const t = await makeTar([
      { name: 'big', content: 'x'.repeat(100) },
      { name: 'bin', content: 'ELF!' + 'y'.repeat(10000) },
      { name: 'txt', content: 'z'.repeat(10000) },
      { name: 'p/' + 'a'.repeat(300), content: 'long' },
    ]);
    const r = await readLayerDetailed(streamOf(t, 1000), { digest: 'x', analyzers: [sniff, small, presence], limits: { maxPathLength: 200 } });
    expect(heads).toEqual([100, 4096, 4096]);
    expect(contentlessGot).toEqual([0]);
    expect(r.index.files.map((f) => `${f.analyzer}:${f.path}`)).toEqual(['presence:big', 'sniff:bin']);
    expect(r.index.files[1]!.output.findings![0]!.title).toBe('10004');
    expect(r.index.issues.map((i) => i.message)).toEqual([
      expect.stringMatching(/100 bytes, over the 10-byte limit of analyzer small/),
      expect.stringMatching(/entry name of 302 characters/),
    ]);
  });
  test('an analyzer that throws is an issue; the rest of the layer is read', async () => {
    const boom: FileAnalyzer = { name: 'boom', version: 1, wants: (p) => p === 'a', analyze: () => { throw new Error('kaput'); } };
    const t = await makeTar([{ name: 'a', content: '1' }, { name: 'key', content: 's' }]);
    const r = await readLayerDetailed(streamOf(t), { digest: 'x', analyzers: [boom, secretAnalyzer] });
    expect(r.index.issues).toEqual([{ path: 'a', message: 'analyzer boom failed: kaput' }]);
    expect(r.index.files.map((f) => f.path)).toEqual(['key']);
  });
});

describe('paths, links and escapes: nothing outside the layer is ever read', () => {
  test('normalisation', () => {
    expect(normalizeEntryPath('./etc//./os-release')).toBe('etc/os-release');
    expect(normalizeEntryPath('/etc/shadow')).toBe('etc/shadow');
    expect(normalizeEntryPath('a/b/../c/')).toBe('a/c');
    expect(normalizeEntryPath('../../etc/passwd')).toBeNull();
    expect(normalizeEntryPath('a/../../x')).toBeNull();
    expect(resolveSymlinkTarget('etc/os-release', '../usr/lib/os-release')).toBe('usr/lib/os-release');
    expect(resolveSymlinkTarget('a/b', '../../../../../etc/passwd')).toBe('etc/passwd'); // clamped at the image root
  });
  test('escaping entries are issues; links are never followed on the host', async () => {
    const p = probe();
    const t = await makeTar([
      { name: '../../etc/passwd', content: 'evil' },
      { name: 'a/../../x', content: 'evil' },
      { name: '/abs/file', content: 'inside' },
      { name: 'sym', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'sym2', type: 'symlink', linkname: '../../../../etc/hostname' },
      { name: 'hard', type: 'link', linkname: '../../../etc/passwd' },
      { name: 'hard2', type: 'link', linkname: '/etc/hostname' }, // = etc/hostname in the image: not in this layer
      { name: 'abs/hard3', type: 'link', linkname: 'abs/file' }, // inside: analyzed with the target's content
    ]);
    const r = await readLayerDetailed(streamOf(t), { digest: 'x', analyzers: [p] });
    expect(p.seen.map((s) => [s.path, s.content, s.info.type])).toEqual([
      ['abs/file', 'inside', 'file'],
      ['abs/hard3', 'inside', 'link'],
    ]);
    expect(r.index.issues.map((i) => i.message)).toEqual([
      'entry "../../etc/passwd" escapes the layer root; skipped',
      'entry "a/../../x" escapes the layer root; skipped',
      'hardlink "hard" → "../../../etc/passwd" escapes the layer root; skipped',
    ]);
    // and through the whole indexer: the OS is not taken from the host through a symlink
    const img = await indexImage(
      new MemSource(new Map(), [
        gzip(
          await makeTar([
            { name: 'etc/os-release', type: 'symlink', linkname: '/../../../../etc/os-release' },
            { name: 'usr/lib/os-release', type: 'symlink', linkname: '/etc/os-release' },
          ]),
        ),
      ]),
      { analyzers },
    );
    expect(img.os).toBeUndefined();
  });
  test('hardlinks: same layer analyzed from retained content; across layers resolved at merge', async () => {
    const blobs = await layers(
      [{ name: 'usr/lib/os-release', content: 'ID=alpine\nVERSION_ID=3.11.6\n' }],
      [
        { name: 'etc/.wh.os-release', content: '' },
        { name: 'etc/os-release', type: 'link', linkname: 'usr/lib/os-release' },
      ],
    );
    const img = await indexImage(new MemSource(new Map(), blobs), { analyzers, now: NOW });
    expect(img.os).toMatchObject({ id: 'alpine', versionId: '3.11.6', path: 'etc/os-release', eol: { date: '2021-11-01', eol: true } });
  });
  test('a later layer replacing a file with a symlink replaces its analysis', async () => {
    const blobs = await layers(
      [{ name: 'etc/os-release', content: 'ID=alpine\nVERSION_ID=3.10.0\n' }, { name: 'usr/lib/os-release', content: 'ID=alpine\nVERSION_ID=3.20.1\n' }],
      [{ name: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' }],
    );
    const img = await indexImage(new MemSource(new Map(), blobs), { analyzers });
    expect(img.os).toMatchObject({ versionId: '3.20.1', path: 'usr/lib/os-release' });
  });
});

describe('formats and corrupt input', () => {
  const files: TarEntry[] = [{ name: 'lib/apk/db/installed', content: 'P:musl\nV:1.2.4-r2\nA:x86_64\n\n' }, { name: 'etc/alpine-release', content: '3.18.4\n' }];
  test('plain tar, gzip, zstd give the same index', async () => {
    const t = await makeTar(files);
    const forms: Array<[string, Buffer]> = [['none', t], ['gzip', gzip(t)]];
    if (hasZstd()) forms.push(['zstd', zstd(t)]);
    for (const [kind, b] of forms) {
      const r = await readLayerDetailed(streamOf(b, 7), { digest: 'x', analyzers });
      expect(r.compression).toBe(kind);
      expect(r.index.issues).toEqual([]);
      expect(r.index.files.map((f) => f.path)).toEqual(['lib/apk/db/installed', 'etc/alpine-release']);
    }
    if (!hasZstd()) console.warn('zstd CLI absent: zstd layer case skipped');
  });
  test('pax and GNU long names', async () => {
    const long = 'very/' + 'deep/'.repeat(40) + 'key7';
    const pax = await makeTar([{ name: long, content: 'pax' }]);
    const r1 = await readLayerDetailed(streamOf(pax), { digest: 'x', analyzers: [secretAnalyzer] });
    expect(r1.index.files.map((f) => f.path)).toEqual([long]);
    const dir = mkdtempSync(join(tmpdir(), 'wharf-gnutar-'));
    try {
      mkdirSync(join(dir, 'very', ...Array(40).fill('deep')), { recursive: true });
      writeFileSync(join(dir, long), 'gnu');
      const gnu = spawnSync('tar', ['--format=gnu', '-cf', '-', '-C', dir, 'very'], { maxBuffer: 1 << 26 });
      expect(gnu.status).toBe(0);
      const r2 = await readLayerDetailed(streamOf(gnu.stdout), { digest: 'x', analyzers: [secretAnalyzer] });
      expect(r2.index.files.map((f) => [f.path, f.output.findings![0]!.title])).toEqual([[long, 'secret gnu']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('corrupt gzip, truncated tar, garbage, empty blob: issues, never throws', async () => {
    const t = await makeTar([...files, { name: 'pad', content: 'p'.repeat(5000) }]);
    const cases: Array<[Buffer, RegExp | null]> = [
      [gzip(t).subarray(0, 60), /corrupt gzip stream/],
      [Buffer.concat([gzip(t).subarray(0, 30), Buffer.alloc(200, 0x55)]), /corrupt gzip stream/],
      [t.subarray(0, 2000), /corrupt tar: Unexpected end of data/],
      [gzip(t.subarray(0, 2000)), /corrupt tar/],
      [Buffer.from('this is not a tar file at all'.repeat(30)), /corrupt tar: Invalid tar header/],
      [Buffer.alloc(0), null],
    ];
    for (const [b, re] of cases) {
      const r = await readLayerDetailed(streamOf(b, 100), { digest: 'x', analyzers });
      if (re) expect(r.index.issues.map((i) => i.message)).toEqual([expect.stringMatching(re)]);
      else expect(r.index.issues).toEqual([]);
      expect(r.cacheable).toBe(true);
    }
  });
  test('a failing blob stream is an issue and is not cached', async () => {
    const cache = new MemoryLayerCache();
    const [good] = await layers(files);
    const src = new MemSource(new Map(), [good!]);
    src.openBlob = async () => {
      const s = new PassThrough();
      s.write(good!.subarray(0, 50));
      setTimeout(() => s.destroy(new Error('connection reset')), 5);
      return s;
    };
    const img = await indexImage(src, { analyzers, cache });
    expect(img.issues.map((i) => i.message)).toEqual([expect.stringMatching(/reading the layer blob failed: connection reset/)]);
    expect(img.issues[0]!.layer?.index).toBe(0);
    expect(cache.size).toBe(0);
    src.openBlob = async () => {
      throw new Error('404');
    };
    const img2 = await indexImage(src, { analyzers, cache });
    expect(img2.issues.map((i) => i.message)).toEqual(['could not open the layer blob: 404']);
  });
  test('malformed package databases inside a layer are issues with path and layer', async () => {
    const [l] = await layers([
      { name: 'var/lib/dpkg/status', content: 'Package: x\nStatus: install ok installed\n' },
      { name: 'lib/apk/db/installed', content: 'P:y\n\n' },
      { name: 'var/lib/rpm/rpmdb.sqlite', content: 'SQLite format 3\0' + 'junk'.repeat(100) },
      { name: 'var/lib/rpm/Packages', content: Buffer.alloc(1000) },
    ]);
    const img = await indexImage(new MemSource(new Map(), [l!]), { analyzers });
    expect(img.packages).toEqual([]);
    expect(img.issues.map((i) => `${i.path} @${i.layer?.index}`)).toEqual([
      'var/lib/dpkg/status @0',
      'lib/apk/db/installed @0',
      'var/lib/rpm/rpmdb.sqlite @0',
      'var/lib/rpm/Packages @0',
    ]);
  });
  test('layerRefs: mismatched or missing history is ignored', () => {
    const ls = [{ digest: 'sha256:a' }, { digest: 'sha256:b' }];
    expect(layerRefs(ls, { history: [{ created_by: 'only one' }] })).toEqual([
      { index: 0, digest: 'sha256:a' },
      { index: 1, digest: 'sha256:b' },
    ]);
    expect(layerRefs(ls, {} as ImageConfig)).toHaveLength(2);
    expect(layerRefs(ls, { history: 'junk' } as unknown as ImageConfig)).toHaveLength(2);
  });
});
