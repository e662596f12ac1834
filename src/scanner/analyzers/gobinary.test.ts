import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { FileInfo, Package } from '../types.ts';
import { goBinaryAnalyzer, parseModInfo, readGoBuildInfo, stdlibVersion } from './gobinary.ts';

const FIX = join(import.meta.dirname, '../../../test/fixtures/scanner/lang/go');
const info = (path: string, mode = 0o755, size = 0): FileInfo => ({ path, size, mode, type: 'file' });
const analyze = (path: string, buf: Buffer) =>
  goBinaryAnalyzer.analyze(path, buf, info(path, 0o755, buf.length)) as { packages?: Package[]; issues?: Array<{ message: string }> };
const ids = (ps: Package[] = []) => ps.map((p) => `${p.name}@${p.version}`);

const START = Buffer.from('3077af0c9274080241e1c107e6d618e6', 'hex');
const END = Buffer.from('f932433186182072008242104116d8f2', 'hex');
const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');

/**
 * A minimal ELF crafted byte by byte: one writable PT_LOAD mapping the whole file at 0x400000,
 * the build info blob (inline Go ≥1.18 format, or the older pointer format whose pointers lead to
 * Go string headers elsewhere in the file), and optionally a section table naming .go.buildinfo.
 */
function craftElf(o: { is64: boolean; le: boolean; inline: boolean; sections: boolean; version: string; mod: Buffer; blobAt?: number }): Buffer {
  const ptr = o.is64 ? 8 : 4;
  const base = 0x400000;
  const buf = Buffer.alloc(4096);
  const u16 = (off: number, v: number) => (o.le ? buf.writeUInt16LE(v, off) : buf.writeUInt16BE(v, off));
  const u32 = (off: number, v: number) => (o.le ? buf.writeUInt32LE(v, off) : buf.writeUInt32BE(v, off));
  const addr = (off: number, v: number) => (o.is64 ? (o.le ? buf.writeBigUInt64LE(BigInt(v), off) : buf.writeBigUInt64BE(BigInt(v), off)) : u32(off, v));
  buf.write('\x7fELF', 0, 'latin1');
  buf[4] = o.is64 ? 2 : 1;
  buf[5] = o.le ? 1 : 2;
  buf[6] = 1;
  u16(16, 2); // ET_EXEC
  const ehsize = o.is64 ? 64 : 52;
  const phentsize = o.is64 ? 56 : 32;
  const shentsize = o.is64 ? 64 : 40;
  const phoff = ehsize;
  // program header: PT_LOAD RW covering the file
  if (o.is64) {
    u32(phoff, 1); u32(phoff + 4, 6); addr(phoff + 8, 0); addr(phoff + 16, base); addr(phoff + 24, base); addr(phoff + 32, buf.length); addr(phoff + 40, buf.length);
  } else {
    u32(phoff, 1); u32(phoff + 4, 0); u32(phoff + 8, base); u32(phoff + 12, base); u32(phoff + 16, buf.length); u32(phoff + 20, buf.length); u32(phoff + 24, 6);
  }
  const blob = o.blobAt ?? 256;
  MAGIC.copy(buf, blob);
  buf[blob + 14] = ptr;
  let end: number;
  if (o.inline) {
    buf[blob + 15] = 0x2 | (o.le ? 0 : 1);
    let p = blob + 32;
    const putStr = (b: Buffer) => {
      let n = b.length;
      while (n >= 0x80) { buf[p++] = (n & 0x7f) | 0x80; n >>>= 7; }
      buf[p++] = n;
      b.copy(buf, p);
      p += b.length;
    };
    putStr(Buffer.from(o.version));
    putStr(o.mod);
    end = p;
  } else {
    buf[blob + 15] = o.le ? 0 : 1;
    const hdrs = 1024; // two Go string headers {ptr, len}
    const data = 1280;
    const vdata = data;
    const mdata = data + 64;
    Buffer.from(o.version).copy(buf, vdata);
    o.mod.copy(buf, mdata);
    addr(hdrs, base + vdata); addr(hdrs + ptr, o.version.length);
    addr(hdrs + 2 * ptr, base + mdata); addr(hdrs + 3 * ptr, o.mod.length);
    addr(blob + 16, base + hdrs);
    addr(blob + 16 + ptr, base + hdrs + 2 * ptr);
    end = mdata + o.mod.length;
  }
  if (o.sections) {
    const strtab = Math.max(end, 2048);
    const names = '\0.shstrtab\0.go.buildinfo\0';
    buf.write(names, strtab, 'latin1');
    const shoff = 3072;
    const sh = (i: number, name: number, type: number, off: number, size: number) => {
      const s = shoff + i * shentsize;
      u32(s, name); u32(s + 4, type);
      if (o.is64) { addr(s + 24, off); addr(s + 32, size); } else { u32(s + 16, off); u32(s + 20, size); }
    };
    sh(1, 1, 3, strtab, names.length); // .shstrtab
    sh(2, 11, 1, blob, 32); // .go.buildinfo (PROGBITS)
    if (o.is64) { addr(40, shoff); u16(58, shentsize); u16(60, 3); u16(62, 1); } else { u32(32, shoff); u16(46, shentsize); u16(48, 3); u16(50, 1); }
  }
  if (o.is64) { addr(32, phoff); u16(52, ehsize); u16(54, phentsize); u16(56, 1); } else { u32(28, phoff); u16(40, ehsize); u16(42, phentsize); u16(44, 1); }
  return buf;
}

const MODTEXT = 'path\texample.com/x/cmd/x\nmod\texample.com/x\tv1.4.0\th1:abc=\ndep\tgolang.org/x/net\tv0.7.0\th1:net=\ndep\tgithub.com/old/dep\tv1.0.0\th1:o=\n=>\tgithub.com/new/dep\tv1.0.1\th1:n=\ndep\texample.com/local\tv0.0.0\n=>\t./third_party/local\t\nbuild\tCGO_ENABLED=0\n';
const MOD = Buffer.concat([START, Buffer.from(MODTEXT), END]);
const EXPECTED = ['example.com/x@v1.4.0', 'golang.org/x/net@v0.7.0', 'github.com/new/dep@v1.0.1', 'example.com/local@(devel)', 'stdlib@1.16.15'];

describe('gobinary: crafted ELF, both header formats', () => {
  for (const is64 of [true, false]) {
    for (const le of [true, false]) {
      for (const inline of [true, false]) {
        for (const sections of [true, false]) {
          it(`${is64 ? 'ELF64' : 'ELF32'} ${le ? 'LE' : 'BE'} ${inline ? 'inline (Go ≥1.18)' : 'pointers (Go <1.18)'} ${sections ? 'via .go.buildinfo' : 'by segment search'}`, () => {
            const buf = craftElf({ is64, le, inline, sections, version: 'go1.16.15', mod: MOD });
            const out = analyze('usr/local/bin/x', buf);
            expect(out.issues).toBeUndefined();
            expect(ids(out.packages)).toEqual(EXPECTED);
            expect(out.packages![2].purl).toBe('pkg:golang/github.com/new/dep@v1.0.1');
          });
        }
      }
    }
  }
  it('blob not 16-aligned inside the segment is still found by the whole-file fallback', () => {
    const buf = craftElf({ is64: true, le: true, inline: true, sections: false, version: 'go1.22.0', mod: MOD, blobAt: 264 });
    expect(ids(analyze('bin/x', buf).packages)).toContain('stdlib@1.22.0');
  });
  it('dangling pointers in the old format: an issue, not a throw', () => {
    const buf = craftElf({ is64: true, le: true, inline: false, sections: true, version: 'go1.16', mod: MOD });
    buf.writeBigUInt64LE(0xdead0000n, 256 + 16);
    const out = analyze('bin/x', buf);
    expect(out.packages).toBeUndefined();
    expect(out.issues![0].message).toMatch(/not in a loaded segment/);
  });
  it('ELF without the magic yields nothing, silently; garbage never throws', () => {
    const buf = craftElf({ is64: true, le: true, inline: true, sections: true, version: 'go1.16', mod: MOD });
    buf.fill(0, 256, 272);
    expect(analyze('bin/x', buf)).toEqual({});
    for (const n of [0, 3, 4, 20, 63, 100, 300]) analyze('bin/x', buf.subarray(0, n));
    const rnd = Buffer.alloc(8192);
    for (let i = 0; i < rnd.length; i++) rnd[i] = (i * 2654435761) >>> 24;
    rnd.write('\x7fELF\x02\x01', 0, 'latin1');
    MAGIC.copy(rnd, 4096);
    expect(() => analyze('bin/x', rnd)).not.toThrow();
  });
});

describe('gobinary: helpers', () => {
  it('stdlib versions', () => {
    expect(stdlibVersion('go1.21.5')).toBe('1.21.5');
    expect(stdlibVersion('go1.20')).toBe('1.20.0');
    expect(stdlibVersion('go1.21rc2')).toBe('1.21.0-rc.2');
    expect(stdlibVersion('go1.23.1 X:nocoverageredesign')).toBe('1.23.1');
    expect(stdlibVersion('devel go1.22-abc')).toBeUndefined();
  });
  it('modinfo without sentinels (already stripped) and a replacement of the main module is ignored', () => {
    const m = parseModInfo('path\tx\nmod\tx\t(devel)\t\n');
    expect(m.main).toEqual({ path: 'x', version: '(devel)', sum: undefined });
    expect(m.deps).toEqual([]);
  });
});

describe('gobinary: wants', () => {
  const head = Buffer.from('\x7fELF\x02\x01\x01', 'latin1');
  it('ELF by content, exec bit or bin dir', () => {
    expect(goBinaryAnalyzer.wants('usr/bin/x', info('usr/bin/x'))).toBe(false);
    expect(goBinaryAnalyzer.wantsContent!('opt/app/server', info('opt/app/server', 0o755), head)).toBe(true);
    expect(goBinaryAnalyzer.wantsContent!('usr/local/bin/x', info('usr/local/bin/x', 0o644), head)).toBe(true);
    expect(goBinaryAnalyzer.wantsContent!('opt/data.bin', info('opt/data.bin', 0o644), head)).toBe(false);
    expect(goBinaryAnalyzer.wantsContent!('usr/bin/script', info('usr/bin/script', 0o755), Buffer.from('#!/bin/sh\n'))).toBe(false);
  });
});

describe('gobinary: real binaries', () => {
  // built by go1.19.8 (Debian golang-go) from ./src: see the fixtures README
  const hello = ['example.com/wharf/app@(devel)', 'example.com/wharf/lib@(devel)', 'stdlib@1.19.8'];
  for (const arch of ['amd64', '386', 's390x']) {
    it(`hello-${arch} (module, dep replaced by ../lib)`, () => {
      const buf = gunzipSync(readFileSync(join(FIX, `hello-${arch}.gz`)));
      const out = analyze(`usr/local/bin/hello`, buf);
      expect(out.issues).toBeUndefined();
      expect(ids(out.packages)).toEqual(hello);
      expect(out.packages!.every((p) => p.path === 'usr/local/bin/hello' && p.type === 'golang')).toBe(true);
      const bi = readGoBuildInfo(buf)!;
      expect(bi.modInfo).toContain('dep\texample.com/wharf/lib\tv1.2.3\n=>\t../lib\t(devel)');
    });
  }
  it('truncated real binary never throws', () => {
    const buf = gunzipSync(readFileSync(join(FIX, 'hello-amd64.gz')));
    for (const frac of [0.001, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999]) {
      expect(() => analyze('bin/hello', buf.subarray(0, Math.floor(buf.length * frac)))).not.toThrow();
    }
  });

  // Go binaries that happen to be installed on the machine: cross-checked against `go version -m`
  const haveGo = (() => {
    try {
      execFileSync('go', ['version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  const machine = ['/usr/local/bin/terraform', '/usr/lib/google-cloud-sdk/bin/kubectl', '/usr/local/bin/docker', '/usr/sbin/nats-server', '/usr/bin/skopeo', '/usr/bin/runc'];
  for (const f of machine) {
    it.skipIf(!existsSync(f) || !haveGo)(`${f} agrees with go version -m`, () => {
      const buf = readFileSync(f);
      const t0 = performance.now();
      const out = analyze(f.slice(1), buf);
      const ms = performance.now() - t0;
      const lines = execFileSync('go', ['version', '-m', f], { maxBuffer: 1 << 24 }).toString().split('\n');
      const want: string[] = [];
      for (const l of lines) {
        const x = l.trim().split('\t');
        if (x[0] === 'mod' || x[0] === 'dep') want.push(`${x[1]}@${x[2]}`);
        else if (x[0] === '=>') want[want.length - 1] = x[1].startsWith('.') || x[1].startsWith('/') ? want[want.length - 1].replace(/@.*/, '@(devel)') : `${x[1]}@${x[2]}`;
      }
      const goVer = lines[0].split(': ')[1].trim();
      want.push(`stdlib@${stdlibVersion(goVer)}`);
      expect(ids(out.packages).sort()).toEqual(want.sort());
      console.log(`${f}: ${statSync(f).size} bytes, ${out.packages!.length} packages, ${ms.toFixed(1)} ms`);
    });
  }
});
