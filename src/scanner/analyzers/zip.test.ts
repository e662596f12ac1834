import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readZipDirectory, readZipEntry, ZipError } from './zip.ts';
import { makeZip, overlapping } from '../../../test/fixtures/scanner/lang/make-zip.ts';

const FIX = join(import.meta.dirname, '../../../test/fixtures/scanner/lang/java');

const budget = () => ({ remaining: 1 << 30 });

describe('zip reader', () => {
  it('reads a real jar like unzip does (commons-cli-1.5.0.jar)', () => {
    const buf = readFileSync(join(FIX, 'commons-cli-1.5.0.jar'));
    const entries = readZipDirectory(buf);
    const listing = execFileSync('python3', ['-c', 'import zipfile,sys; print("\\n".join(i.filename+" "+str(i.file_size) for i in zipfile.ZipFile(sys.argv[1]).infolist()))', join(FIX, 'commons-cli-1.5.0.jar')]).toString().trim().split('\n');
    expect(entries.map((e) => `${e.name} ${e.uncompressedSize}`)).toEqual(listing);
    const pom = entries.find((e) => e.name.endsWith('pom.properties'))!;
    expect(readZipEntry(buf, pom, budget()).toString()).toContain('version=1.5.0');
    // every entry inflates to its declared size
    const b = budget();
    for (const e of entries) expect(readZipEntry(buf, e, b).length).toBe(e.uncompressedSize);
  });

  it('stored and deflated entries, comment, ZIP64 records and extra fields', () => {
    for (const zip64 of [false, true]) {
      const z = makeZip([{ name: 'a.txt', data: Buffer.from('hello'), method: 0 }, { name: 'dir/b.txt', data: Buffer.from('x'.repeat(1000)) }], { zip64, comment: 'c' });
      const es = readZipDirectory(z);
      expect(es.map((e) => e.name)).toEqual(['a.txt', 'dir/b.txt']);
      expect(readZipEntry(z, es[1], budget()).toString()).toBe('x'.repeat(1000));
    }
  });

  it('tolerates a prefix (launch script) before the archive, ZIP64 too', () => {
    const prefix = Buffer.from('#!/bin/sh\nexec java -jar "$0" "$@"\n');
    for (const zip64 of [false, true]) {
      const z = Buffer.concat([prefix, makeZip([{ name: 'x', data: Buffer.from('data') }], { zip64 })]);
      const [e] = readZipDirectory(z);
      expect(readZipEntry(z, e, budget()).toString()).toBe('data');
    }
  });

  it('zip bomb defences: ratio, declared size lies, entry limit, budget, entry count', () => {
    const zeros = Buffer.alloc(20 * 1024 * 1024);
    const bomb = makeZip([{ name: 'big', data: zeros }]);
    const [e] = readZipDirectory(bomb);
    expect(() => readZipEntry(bomb, e, budget())).toThrow(/compression ratio/);
    // declares 10 bytes but inflates to 1 MiB: zlib stops at the declared size + 1
    const liar = makeZip([{ name: 'liar', data: Buffer.alloc(1 << 20), declaredSize: 10 }]);
    expect(() => readZipEntry(liar, readZipDirectory(liar)[0], budget())).toThrow(ZipError);
    const two = makeZip([{ name: 'a', data: Buffer.alloc(1000, 1) }, { name: 'b', data: Buffer.alloc(1000, 2) }]);
    const es = readZipDirectory(two);
    const b = { remaining: 1500 };
    readZipEntry(two, es[0], b);
    expect(() => readZipEntry(two, es[1], b)).toThrow(/budget/);
    expect(() => readZipDirectory(two, { maxEntries: 1, maxEntrySize: 1e9, maxRatio: 200 })).toThrow(/entries/);
    expect(() => readZipEntry(two, es[0], budget(), { maxEntries: 10, maxEntrySize: 999, maxRatio: 200 })).toThrow(/entry limit/);
  });

  it('encrypted, unknown method, truncation and garbage: ZipError, never anything else', () => {
    const enc = makeZip([{ name: 'e', data: Buffer.from('x'), flags: 1 }]);
    expect(() => readZipEntry(enc, readZipDirectory(enc)[0], budget())).toThrow(/encrypted/);
    const z = makeZip([{ name: 'a', data: Buffer.from('abc'.repeat(100)) }]);
    const m = Buffer.from(z);
    const cen = m.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    m.writeUInt16LE(12, cen + 10); // bzip2
    expect(() => readZipEntry(m, readZipDirectory(m)[0], budget())).toThrow(/method 12/);
    for (let n = 0; n < z.length; n++) {
      const cut = z.subarray(0, n);
      try {
        for (const e of readZipDirectory(cut)) readZipEntry(cut, e, budget());
      } catch (err) {
        expect(err).toBeInstanceOf(ZipError);
      }
    }
    // flip every byte of the archive in turn
    for (let i = 0; i < z.length; i++) {
      const c = Buffer.from(z);
      c[i] ^= 0xff;
      try {
        for (const e of readZipDirectory(c)) readZipEntry(c, e, budget());
      } catch (err) {
        expect(err).toBeInstanceOf(ZipError);
      }
    }
  });

  it('overlapping entries (the non-recursive zip bomb) are refused: shared, overlapping, into the directory', () => {
    const inner = makeZip([{ name: 'META-INF/maven/g/a/pom.properties', data: Buffer.from('groupId=g\nartifactId=a\nversion=1\n') }]);
    const z = makeZip([{ name: 'a.txt', data: Buffer.from('hello') }, { name: 'lib/inner.jar', data: inner, method: 0 }]);
    expect(readZipDirectory(z)).toHaveLength(2); // the well-formed archive is fine
    // 1000 directory records → one stored jar: ~60 bytes each
    const bomb = overlapping(z, 'lib/inner.jar', 1000, (i) => `lib/x${i}.jar`);
    expect(bomb.length).toBeLessThan(z.length + 1000 * 70);
    expect(() => readZipDirectory(bomb)).toThrow(/overlapping entries \(zip bomb\)/);
    // an entry whose data overlaps the next local header
    const cen = z.readUInt32LE(z.length - 22 + 16); // the outer directory (the stored jar has one too)
    const grown = Buffer.from(z);
    grown.writeUInt32LE(grown.readUInt32LE(cen + 20) + 1, cen + 20); // a.txt's compressed size
    expect(() => readZipDirectory(grown)).toThrow(/overlapping entries/);
    // the last entry's data running into the central directory
    const cen2 = cen + 46 + 'a.txt'.length;
    const intoCd = Buffer.from(z);
    intoCd.writeUInt32LE(intoCd.readUInt32LE(cen2 + 20) + 10, cen2 + 20);
    intoCd.writeUInt32LE(intoCd.readUInt32LE(cen2 + 24) + 10, cen2 + 24);
    expect(() => readZipDirectory(intoCd)).toThrow(/central directory/);
    // ZIP64 and a prepended launch script: still checked, still fine when well-formed
    const z64 = Buffer.concat([Buffer.from('#!/bin/sh\n'), makeZip([{ name: 'a', data: Buffer.from('1') }, { name: 'b', data: Buffer.from('2') }], { zip64: true })]);
    expect(readZipDirectory(z64).map((e) => readZipEntry(z64, e, budget()).toString())).toEqual(['1', '2']);
  });
});
