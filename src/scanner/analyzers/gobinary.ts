// Go module build information from ELF executables, read as bytes (never run).
//
// The Go linker (1.13+) leaves a blob in the `.go.buildinfo` section of the writable data:
//   0..13  magic "\xff Go buildinf:"
//   14     pointer size (4 or 8)
//   15     flags: 0x1 big endian, 0x2 strings inline (Go ≥ 1.18)
//   inline (flag 0x2):  at 32, uvarint length + runtime version ("go1.21.5"), then uvarint length
//                       + module info
//   older:             at 16, two pointers (pointer size, byte order above) to Go string headers
//                       {data pointer, length} somewhere in the image: virtual addresses,
//                       translated to file offsets through the PT_LOAD program headers
// The blob is 16-byte aligned. When there is no section table (stripped by sstrip, or a section
// name we do not find), the file ranges of the writable PT_LOAD segments are searched for the magic,
// and as a last resort the whole file.
// Module info is framed by two 16-byte sentinels and holds tab-separated lines:
//   path <main package path>
//   mod  <module path> <version> [<sum>]
//   dep  <module path> <version> [<sum>]
//   =>   <replacement path> <version> [<sum>]      (replaces the preceding mod/dep)
//   build <key>=<value>
// Output: the main module (version "(devel)" when built from a checkout, reported as is; the
// matcher skips it), every dependency (with the replacement's path and version when replaced by
// another module version; when replaced by a local directory — "=> ../lib (devel)" — the original
// module path with version "(devel)": it is local code no advisory range describes), and the toolchain
// as module "stdlib" (OSV's name for the standard library) with "go1.21.5" → "1.21.5",
// "go1.20" → "1.20.0", "go1.21rc2" → "1.21.0-rc.2".
// Only ELF is read (Linux container images); Mach-O and PE binaries are not offered to us.
// Binaries built in GOPATH mode (Debian's dh-golang before modules) carry a version but little or
// no module info: we report stdlib and whatever `path`/`mod` lines exist.
import type { AnalyzerOutput, FileAnalyzer, FileInfo, Package, ScanIssue } from '../types.ts';
import { purlOf } from '../purl.ts';

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const INFO_START = Buffer.from('3077af0c9274080241e1c107e6d618e6', 'hex');
// the closing sentinel is f932433186182072008242104116d8f2; only its position is checked
const MAX_STRING = 16 * 1024 * 1024;

interface Segment {
  vaddr: bigint;
  offset: number;
  filesz: number;
  writable: boolean;
}

interface Elf {
  is64: boolean;
  le: boolean;
  segments: Segment[];
  sections: Array<{ name: string; offset: number; size: number; nobits: boolean }>;
}

class FormatError extends Error {}

function need(buf: Buffer, off: number, len: number): void {
  if (off < 0 || len < 0 || off + len > buf.length) throw new FormatError(`truncated ELF (need ${len} bytes at ${off})`);
}

function rdU16(buf: Buffer, off: number, le: boolean): number {
  need(buf, off, 2);
  return le ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
}
function rdU32(buf: Buffer, off: number, le: boolean): number {
  need(buf, off, 4);
  return le ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
}
function rdU64(buf: Buffer, off: number, le: boolean): bigint {
  need(buf, off, 8);
  return le ? buf.readBigUInt64LE(off) : buf.readBigUInt64BE(off);
}
function rdAddr(buf: Buffer, off: number, le: boolean, ptrSize: number): bigint {
  return ptrSize === 8 ? rdU64(buf, off, le) : BigInt(rdU32(buf, off, le));
}
function toNum(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError('ELF offset out of range');
  return Number(v);
}

export function isElf(head: Buffer): boolean {
  return head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
}

function parseElf(buf: Buffer): Elf {
  need(buf, 0, 52);
  const cls = buf[4];
  const data = buf[5];
  if (cls !== 1 && cls !== 2) throw new FormatError(`unknown ELF class ${cls}`);
  if (data !== 1 && data !== 2) throw new FormatError(`unknown ELF data encoding ${data}`);
  const is64 = cls === 2;
  const le = data === 1;
  const phoff = is64 ? toNum(rdU64(buf, 32, le)) : rdU32(buf, 28, le);
  const shoff = is64 ? toNum(rdU64(buf, 40, le)) : rdU32(buf, 32, le);
  const phentsize = rdU16(buf, is64 ? 54 : 42, le);
  const phnum = rdU16(buf, is64 ? 56 : 44, le);
  const shentsize = rdU16(buf, is64 ? 58 : 46, le);
  const shnum = rdU16(buf, is64 ? 60 : 48, le);
  const shstrndx = rdU16(buf, is64 ? 62 : 50, le);

  const segments: Segment[] = [];
  if (phoff && phnum && phentsize >= (is64 ? 56 : 32)) {
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      if (o + phentsize > buf.length) break;
      const type = rdU32(buf, o, le);
      if (type !== 1) continue; // PT_LOAD
      if (is64) {
        segments.push({
          writable: (rdU32(buf, o + 4, le) & 2) !== 0,
          offset: toNum(rdU64(buf, o + 8, le)),
          vaddr: rdU64(buf, o + 16, le),
          filesz: toNum(rdU64(buf, o + 32, le)),
        });
      } else {
        segments.push({
          offset: rdU32(buf, o + 4, le),
          vaddr: BigInt(rdU32(buf, o + 8, le)),
          filesz: rdU32(buf, o + 16, le),
          writable: (rdU32(buf, o + 24, le) & 2) !== 0,
        });
      }
    }
  }

  const sections: Elf['sections'] = [];
  if (shoff && shnum && shentsize >= (is64 ? 64 : 40) && shoff + shnum * shentsize <= buf.length && shstrndx < shnum) {
    const hdr = (i: number) => {
      const o = shoff + i * shentsize;
      const nameOff = rdU32(buf, o, le);
      const type = rdU32(buf, o + 4, le);
      const offset = is64 ? toNum(rdU64(buf, o + 24, le)) : rdU32(buf, o + 16, le);
      const size = is64 ? toNum(rdU64(buf, o + 32, le)) : rdU32(buf, o + 20, le);
      return { nameOff, type, offset, size };
    };
    const strtab = hdr(shstrndx);
    for (let i = 0; i < shnum; i++) {
      const h = hdr(i);
      let name = '';
      const start = strtab.offset + h.nameOff;
      if (strtab.type !== 8 && start < buf.length && h.nameOff < strtab.size) {
        const end = buf.indexOf(0, start);
        name = buf.toString('latin1', start, end < 0 ? Math.min(buf.length, start + 256) : Math.min(end, start + 256));
      }
      sections.push({ name, offset: h.offset, size: h.size, nobits: h.type === 8 });
    }
  }
  return { is64, le, segments, sections };
}

/** File bytes at a virtual address, through the PT_LOAD segments. */
function readVirtual(buf: Buffer, elf: Elf, addr: bigint, len: number): Buffer {
  for (const s of elf.segments) {
    if (addr >= s.vaddr && addr < s.vaddr + BigInt(s.filesz)) {
      const rel = Number(addr - s.vaddr);
      if (rel + len > s.filesz) break;
      const off = s.offset + rel;
      need(buf, off, len);
      return buf.subarray(off, off + len);
    }
  }
  throw new FormatError(`virtual address 0x${addr.toString(16)} not in a loaded segment`);
}

function readUvarint(buf: Buffer, off: number): [number, number] {
  let x = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    need(buf, off + i, 1);
    const b = buf[off + i];
    x += (b & 0x7f) * mul;
    if (b < 0x80) {
      if (x > MAX_STRING) throw new FormatError('build info string too long');
      return [x, off + i + 1];
    }
    mul *= 128;
  }
  throw new FormatError('bad uvarint in build info');
}

export interface GoBuildInfo {
  goVersion: string;
  modInfo: string;
}

/** Decode the blob at `at` (the magic). */
function decodeBlob(buf: Buffer, elf: Elf, at: number): GoBuildInfo {
  need(buf, at, 32);
  const ptrSize = buf[at + 14];
  const flags = buf[at + 15];
  if (flags & 0x2) {
    const [vlen, vstart] = readUvarint(buf, at + 32);
    need(buf, vstart, vlen);
    const goVersion = buf.toString('utf8', vstart, vstart + vlen);
    const [mlen, mstart] = readUvarint(buf, vstart + vlen);
    need(buf, mstart, mlen);
    return { goVersion, modInfo: stripModInfo(buf.subarray(mstart, mstart + mlen)).toString('utf8') };
  }
  if (ptrSize !== 4 && ptrSize !== 8) throw new FormatError(`bad pointer size ${ptrSize} in build info`);
  const le = (flags & 0x1) === 0;
  const readString = (ptrAddr: bigint): Buffer => {
    const hdr = readVirtual(buf, elf, ptrAddr, 2 * ptrSize);
    const data = rdAddr(hdr, 0, le, ptrSize);
    const len = rdAddr(hdr, ptrSize, le, ptrSize);
    if (len > BigInt(MAX_STRING)) throw new FormatError('build info string too long');
    if (len === 0n) return Buffer.alloc(0);
    return readVirtual(buf, elf, data, Number(len));
  };
  const versionPtr = rdAddr(buf, at + 16, le, ptrSize);
  const modPtr = rdAddr(buf, at + 16 + ptrSize, le, ptrSize);
  return { goVersion: readString(versionPtr).toString('utf8'), modInfo: stripModInfo(readString(modPtr)).toString('utf8') };
}

function* magicHits(buf: Buffer, start: number, end: number, aligned: boolean): Generator<number> {
  let i = buf.indexOf(MAGIC, start);
  while (i >= 0 && i + MAGIC.length <= end) {
    if (!aligned || (i - start) % 16 === 0) yield i;
    i = buf.indexOf(MAGIC, i + 1);
  }
}

/** Find and decode the build info; undefined when the file is not a Go binary. */
export function readGoBuildInfo(buf: Buffer): GoBuildInfo | undefined {
  const elf = parseElf(buf);
  let lastErr: Error | undefined;
  const tryAt = (at: number): GoBuildInfo | undefined => {
    try {
      return decodeBlob(buf, elf, at);
    } catch (e) {
      lastErr = e as Error;
      return undefined;
    }
  };
  const sec = elf.sections.find((s) => s.name === '.go.buildinfo' && !s.nobits);
  if (sec && sec.offset + 32 <= buf.length && buf.subarray(sec.offset, sec.offset + MAGIC.length).equals(MAGIC)) {
    const r = tryAt(sec.offset);
    if (r) return r;
  }
  for (const s of elf.segments.filter((x) => x.writable)) {
    const end = Math.min(buf.length, s.offset + s.filesz);
    for (const at of magicHits(buf, s.offset, end, true)) {
      const r = tryAt(at);
      if (r) return r;
    }
  }
  for (const at of magicHits(buf, 0, buf.length, false)) {
    const r = tryAt(at);
    if (r) return r;
  }
  if (lastErr) throw lastErr;
  return undefined;
}

/** Strip the 16-byte sentinels around module info (the end one is checked loosely, as Go does). */
export function stripModInfo(b: Buffer): Buffer {
  if (b.length >= 33 && b.subarray(0, 16).equals(INFO_START) && b[b.length - 17] === 0x0a) return b.subarray(16, b.length - 16);
  return b;
}

/** "go1.21.5" → "1.21.5"; "go1.20" → "1.20.0"; "go1.21rc2" → "1.21.0-rc.2"; else undefined. */
export function stdlibVersion(goVersion: string): string | undefined {
  const v = goVersion.trim().split(/\s+/)[0]; // "go1.22.1 X:boringcrypto"
  const m = /^go(\d+)\.(\d+)(?:\.(\d+))?(?:(rc|beta|alpha)(\d+))?$/.exec(v);
  if (!m) return undefined;
  const patch = m[3] ?? '0';
  return `${m[1]}.${m[2]}.${patch}${m[4] ? `-${m[4]}.${m[5]}` : ''}`;
}

export interface GoModules {
  path?: string;
  main?: { path: string; version: string; sum?: string };
  deps: Array<{ path: string; version: string; sum?: string; replacedFrom?: { path: string; version: string } }>;
  build: Record<string, string>;
}

export function parseModInfo(text: string): GoModules {
  const out: GoModules = { deps: [], build: {} };
  let last: { path: string; version: string; sum?: string; replacedFrom?: { path: string; version: string } } | undefined;
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    switch (f[0]) {
      case 'path':
        out.path = f[1];
        break;
      case 'mod':
        if (f[1]) {
          last = { path: f[1], version: f[2] ?? '', sum: f[3] || undefined };
          out.main = last;
        }
        break;
      case 'dep':
        if (f[1]) {
          last = { path: f[1], version: f[2] ?? '', sum: f[3] || undefined };
          out.deps.push(last);
        }
        break;
      case '=>':
        if (last && f[1]) {
          last.replacedFrom = { path: last.path, version: last.version };
          if (/^(?:\.{1,2}(?:\/|$)|\/)/.test(f[1]) || !f[2]) {
            // replaced by a local directory ("=> ../lib (devel)"): local code under the original
            // module path; no registry version describes it
            last.version = '(devel)';
            last.sum = undefined;
          } else {
            last.path = f[1];
            last.version = f[2];
            last.sum = f[3] || undefined;
          }
        }
        break;
      case 'build': {
        const kv = f.slice(1).join('\t');
        const i = kv.indexOf('=');
        if (i > 0) out.build[kv.slice(0, i)] = kv.slice(i + 1);
        break;
      }
    }
  }
  return out;
}

export function analyzeGoBinary(path: string, content: Buffer): AnalyzerOutput {
  let bi: GoBuildInfo | undefined;
  try {
    bi = readGoBuildInfo(content);
  } catch (e) {
    if (e instanceof FormatError || e instanceof RangeError) {
      // an ELF with a Go magic we cannot decode is worth reporting; a plain non-Go ELF is not
      if (content.includes(MAGIC)) return { issues: [{ path, message: `gobinary: ${(e as Error).message}` }] };
      return {};
    }
    throw e;
  }
  if (!bi) return {};
  const packages: Package[] = [];
  const add = (name: string, version: string) => {
    const p: Package = { type: 'golang', name, version, path };
    p.purl = purlOf(p);
    packages.push(p);
  };
  const mods = parseModInfo(bi.modInfo);
  if (mods.main) add(mods.main.path, mods.main.version || '(devel)');
  for (const d of mods.deps) if (d.version) add(d.path, d.version);
  const sv = stdlibVersion(bi.goVersion);
  const issues: ScanIssue[] = [];
  if (sv) add('stdlib', sv);
  else if (bi.goVersion) issues.push({ path, message: `gobinary: unrecognised Go version "${bi.goVersion}"` });
  return issues.length ? { packages, issues } : { packages };
}

const BIN_DIR_RE = /(?:^|\/)(?:s?bin|libexec)\//;

export const goBinaryAnalyzer: FileAnalyzer = {
  name: 'gobinary',
  version: 1,
  // The whole executable is handed to us. Real Go binaries run 10–130 MB (kubectl 57 MB,
  // terraform 90 MB, anthoscli 127 MB on the build machine); 256 MiB leaves room for the biggest
  // (kubelet/cockroach-class) without letting one file pin unbounded memory.
  maxBytes: 256 * 1024 * 1024,
  wants(): boolean {
    return false;
  },
  wantsContent(path: string, info: FileInfo, head: Buffer): boolean {
    if (!isElf(head)) return false;
    return (info.mode & 0o111) !== 0 || BIN_DIR_RE.test(path);
  },
  analyze(path: string, content: Buffer): AnalyzerOutput {
    try {
      return analyzeGoBinary(path, content);
    } catch (e) {
      return { issues: [{ path, message: `gobinary: ${(e as Error).message}` }] };
    }
  },
};
