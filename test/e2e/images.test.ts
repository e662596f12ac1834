// The offline image builder itself: deterministic per seed, tars that GNU tar and umoci accept,
// configs whose diff_ids match the layers. (The client suites trust these images.)
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, test } from 'vitest';
import { removeTree, run } from '../helpers/clients.ts';
import { buildTestImages, readTar, sha256, writeTar, type TarEntry } from '../helpers/images.ts';

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'wharf-images-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await removeTree(d);
});

describe('test image builder', () => {
  test('the same seed gives the same bytes; another seed shares nothing', async () => {
    const [a, b, c] = await Promise.all([tmp(), tmp(), tmp()]);
    const [x, y, z] = await Promise.all([buildTestImages(a, 'same'), buildTestImages(b, 'same'), buildTestImages(c, 'other')]);
    expect(y.single.descriptor.digest).toBe(x.single.descriptor.digest);
    expect(y.multi.descriptor.digest).toBe(x.multi.descriptor.digest);
    expect((await readdir(path.join(a, 'blobs/sha256'))).sort()).toEqual((await readdir(path.join(b, 'blobs/sha256'))).sort());
    const zs = new Set(await readdir(path.join(c, 'blobs/sha256')));
    for (const f of await readdir(path.join(a, 'blobs/sha256'))) expect(zs.has(f)).toBe(false);
    expect(z.single.descriptor.digest).not.toBe(x.single.descriptor.digest);
  });

  test('layout blobs are named by digest, configs list the diff IDs, images share the base layer', async () => {
    const d = await tmp();
    const t = await buildTestImages(d, 'check');
    for (const f of await readdir(path.join(d, 'blobs/sha256'))) {
      expect(sha256(await readFile(path.join(d, 'blobs/sha256', f)))).toBe(`sha256:${f}`);
    }
    for (const img of [t.single, t.derived, ...t.multi.images]) {
      expect(img.configJson.rootfs.diff_ids).toEqual(img.layers.map((l) => sha256(gunzipSync(l.blob))));
      expect(img.layers[0]!.descriptor.digest).toBe(t.base.descriptor.digest);
      expect(img.configJson.history.filter((h: any) => !h.empty_layer)).toHaveLength(img.layers.length);
    }
    expect(t.single.layers).toHaveLength(3);
    expect(t.multi.images.map((i) => i.platform.architecture)).toEqual(['amd64', 'arm64']);
    const index = JSON.parse(await readFile(path.join(d, 'index.json'), 'utf8'));
    expect(index.manifests.map((m: any) => m.annotations['org.opencontainers.image.ref.name']).sort()).toEqual([
      'arm64',
      'derived',
      'multi',
      'single',
    ]);
  });

  test('GNU tar reads our tars: files, dirs, symlinks, long (prefix-split) paths', async () => {
    const d = await tmp();
    const long = `${'a'.repeat(60)}/${'b'.repeat(60)}/${'c'.repeat(60)}/file.txt`;
    const entries: TarEntry[] = [
      { type: 'dir', path: 'top' },
      { type: 'file', path: 'top/empty', content: Buffer.alloc(0) },
      { type: 'file', path: 'top/exact-block', content: Buffer.alloc(512, 7), mode: 0o600 },
      { type: 'file', path: 'top/odd', content: Buffer.from('x'.repeat(1000)), mode: 0o755 },
      { type: 'symlink', path: 'top/link', target: 'odd' },
      { type: 'file', path: long, content: Buffer.from('deep\n') },
    ];
    const tar = writeTar(entries);
    expect(tar.length % 512).toBe(0);
    const file = path.join(d, 't.tar');
    await writeFile(file, tar);
    const list = await run('tar', ['-tvf', file]);
    expect(list.stderr).toBe('');
    expect(list.stdout).toContain('top/link -> odd');
    expect(list.stdout).toContain(long);
    expect(list.stdout).toMatch(/-rwxr-xr-x root\/root\s+1000 .* top\/odd/);
    const out = path.join(d, 'x');
    await mkdir(out);
    await run('tar', ['-xf', file, '-C', out]);
    expect((await readFile(path.join(out, long))).toString()).toBe('deep\n');
    expect((await readFile(path.join(out, 'top/exact-block'))).equals(Buffer.alloc(512, 7))).toBe(true);
    // and our reader reads it back
    const back = readTar(tar);
    expect(back.map((e) => [e.path, e.type])).toEqual(entries.map((e) => [e.path.replace(/\/$/, ''), e.type]));
    expect(back.find((e) => e.path === 'top/link')?.target).toBe('odd');
  });

  test('umoci unpacks the single and the arm64 image with every file in place', async () => {
    const d = await tmp();
    const t = await buildTestImages(path.join(d, 'layout'), 'umoci');
    for (const [ref, img] of [
      ['single', t.single],
      ['arm64', t.multi.images[1]!],
    ] as const) {
      const bundle = path.join(d, `bundle-${ref}`);
      await run('umoci', ['unpack', '--rootless', '--image', `${t.dir}:${ref}`, bundle], { timeoutMs: 60_000 });
      for (const l of img.layers) {
        for (const [p, c] of Object.entries(l.files)) expect((await readFile(path.join(bundle, 'rootfs', p))).equals(c), p).toBe(true);
      }
    }
  });
});
