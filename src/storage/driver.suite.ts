// One behaviour suite for every BlobDriver (fs, memory, and later s3). Each driver's test
// file is a few lines calling describeBlobDriver.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PathNotFoundError, type BlobDriver } from './driver.ts';

async function readAll(d: BlobDriver, p: string, range?: { start: number; end: number }): Promise<Buffer> {
  const r = await d.reader(p, range);
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

export function describeBlobDriver(name: string, make: () => Promise<{ driver: BlobDriver; cleanup(): Promise<void> }>) {
  describe(`BlobDriver: ${name}`, () => {
    let d: BlobDriver;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ driver: d, cleanup } = await make());
    });
    afterEach(async () => {
      // Every test removes what it wrote: the driver must be left clean.
      expect(await d.list('')).toEqual([]);
      await cleanup();
    });

    it('stat of a missing path is null; getContent and reader throw PathNotFound', async () => {
      expect(await d.stat('a/b')).toBeNull();
      await expect(d.getContent('a/b')).rejects.toBeInstanceOf(PathNotFoundError);
      await expect(d.reader('a/b')).rejects.toBeInstanceOf(PathNotFoundError);
    });

    it('putContent / getContent round trip, overwrite, delete', async () => {
      await d.putContent('x/y/z', Buffer.from('hello'));
      expect((await d.getContent('x/y/z')).toString()).toBe('hello');
      expect((await d.stat('x/y/z'))?.size).toBe(5);
      await d.putContent('x/y/z', Buffer.from('bye'));
      expect((await d.getContent('x/y/z')).toString()).toBe('bye');
      await d.delete('x');
      expect(await d.stat('x/y/z')).toBeNull();
    });

    it('empty content', async () => {
      await d.putContent('e', Buffer.alloc(0));
      expect((await d.getContent('e')).length).toBe(0);
      expect((await readAll(d, 'e')).length).toBe(0);
      await d.delete('e');
    });

    it('writer streams large content in many chunks and commits it', async () => {
      const data = randomBytes(5 * 1024 * 1024 + 17);
      const w = await d.writer('big/data');
      for (let i = 0; i < data.length; i += 65536) await w.write(data.subarray(i, i + 65536));
      expect(w.size).toBe(data.length);
      await w.commit();
      expect((await d.stat('big/data'))?.size).toBe(data.length);
      expect((await readAll(d, 'big/data')).equals(data)).toBe(true);
      await d.delete('big');
    });

    it('append writers continue where the content ends', async () => {
      const a = randomBytes(1000);
      const b = randomBytes(3000);
      let w = await d.writer('u/data', { append: true });
      await w.write(a);
      await w.commit();
      w = await d.writer('u/data', { append: true });
      expect(w.size).toBe(1000);
      await w.write(b);
      await w.commit();
      expect((await readAll(d, 'u/data')).equals(Buffer.concat([a, b]))).toBe(true);
      await d.delete('u');
    });

    it('cancel of an append rolls back to the previous size; cancel of a new file removes it', async () => {
      const a = randomBytes(100);
      let w = await d.writer('c/data', { append: true });
      await w.write(a);
      await w.commit();
      w = await d.writer('c/data', { append: true });
      await w.write(randomBytes(2 * 1024 * 1024));
      await w.cancel();
      expect((await readAll(d, 'c/data')).equals(a)).toBe(true);
      const n = await d.writer('c/new');
      await n.write(randomBytes(10));
      await n.cancel();
      expect(await d.stat('c/new')).toBeNull();
      await d.delete('c');
    });

    it('ranged reads', async () => {
      const data = randomBytes(3 * 1024 * 1024);
      await d.putContent('r', data);
      expect((await readAll(d, 'r', { start: 10, end: 19 })).equals(data.subarray(10, 20))).toBe(true);
      expect((await readAll(d, 'r', { start: 1024 * 1024 - 1, end: 2 * 1024 * 1024 + 5 })).equals(data.subarray(1024 * 1024 - 1, 2 * 1024 * 1024 + 6))).toBe(true);
      expect((await readAll(d, 'r', { start: data.length - 1, end: data.length - 1 }))[0]).toBe(data[data.length - 1]);
      await d.delete('r');
    });

    it('move renames atomically and overwrites; moving a missing path throws', async () => {
      await d.putContent('m/a', Buffer.from('1'));
      await d.putContent('m/b', Buffer.from('2'));
      await d.move('m/a', 'n/deep/c');
      expect(await d.stat('m/a')).toBeNull();
      expect((await d.getContent('n/deep/c')).toString()).toBe('1');
      await d.move('m/b', 'n/deep/c');
      expect((await d.getContent('n/deep/c')).toString()).toBe('2');
      await expect(d.move('m/zzz', 'n/x')).rejects.toBeInstanceOf(PathNotFoundError);
      await d.delete('m');
      await d.delete('n');
    });

    it('list gives direct children; delete of a missing path is fine', async () => {
      await d.putContent('l/a/1', Buffer.from('1'));
      await d.putContent('l/a/2', Buffer.from('2'));
      await d.putContent('l/b', Buffer.from('3'));
      expect((await d.list('l')).sort()).toEqual(['a', 'b']);
      expect((await d.list('l/a')).sort()).toEqual(['1', '2']);
      expect(await d.list('nothing')).toEqual([]);
      await d.delete('does/not/exist');
      await d.delete('l');
    });

    it('a reader opened before delete still reads the whole content', async () => {
      const data = randomBytes(2 * 1024 * 1024);
      await d.putContent('k', data);
      const r = await d.reader('k');
      await d.delete('k');
      const parts: Buffer[] = [];
      for await (const c of r) parts.push(c as Buffer);
      expect(Buffer.concat(parts).equals(data)).toBe(true);
    });

    it('concurrent writers to different paths do not interfere', async () => {
      const datas = Array.from({ length: 8 }, () => randomBytes(300_000));
      await Promise.all(
        datas.map(async (data, i) => {
          const w = await d.writer(`p/${i}`);
          for (let o = 0; o < data.length; o += 7000) await w.write(data.subarray(o, o + 7000));
          await w.commit();
        }),
      );
      for (let i = 0; i < datas.length; i++) expect((await d.getContent(`p/${i}`)).equals(datas[i])).toBe(true);
      await d.delete('p');
    });
  });
}
