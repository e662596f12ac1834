// A minimal, defensive ZIP reader over an in-memory buffer (APPNOTE.TXT 6.3): the End of Central
// Directory record (+ the ZIP64 locator and record), central directory entries (+ the ZIP64
// extended-information extra field), local headers, methods 0 (stored) and 8 (deflate, via
// zlib.inflateRawSync). Nothing is written anywhere.
// Data before the archive (a launch script prepended to a Spring Boot "fully executable" jar, a
// self-extractor stub) is tolerated: the offsets are shifted by the difference between where the
// central directory is and where the EOCD says it is.
// Limits, so that a hostile archive costs bounded time and memory: the number of entries, each
// entry's inflated size (checked against the declared size and enforced by zlib's
// maxOutputLength), the compression ratio of large entries, and a budget of inflated bytes
// shared by the caller across nested archives, and entries that overlap each other or the central
// directory (the overlapping-entries zip bomb). Violations throw ZipError; callers turn that into a
// ScanIssue.

import { inflateRawSync } from 'node:zlib';

export class ZipError extends Error {}

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  /** absolute offset of the local header in the buffer (prefix shift applied) */
  localHeaderOffset: number;
}

export interface ZipLimits {
  maxEntries: number;
  /** largest single inflated entry */
  maxEntrySize: number;
  /** entries larger than 1 MiB may not inflate more than this many times their compressed size */
  maxRatio: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = {
  maxEntries: 200_000,
  maxEntrySize: 128 * 1024 * 1024,
  maxRatio: 200,
};

/** Inflated bytes still allowed; shared across nested archives of one analyzed file. */
export interface InflateBudget {
  remaining: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOC = 0x07064b50;
const SIG_CEN = 0x02014b50;
const SIG_LOC = 0x04034b50;

function u64(buf: Buffer, off: number): number {
  const v = buf.readBigUInt64LE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError('ZIP64 value out of range');
  return Number(v);
}

function findEocd(buf: Buffer): number {
  // the record's comment must run exactly to the end of the file: a truncated archive otherwise
  // "finds" the end record of a stored nested jar and reads that jar as if it were the outer one
  const min = Math.max(0, buf.length - 22 - 0xffff);
  for (let i = buf.length - 22; i >= min; i--) {
    if (buf[i] === 0x50 && buf.readUInt32LE(i) === SIG_EOCD && i + 22 + buf.readUInt16LE(i + 20) === buf.length) return i;
  }
  return -1;
}

export function isZip(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32LE(0) === SIG_LOC;
}

/** Parse the central directory. */
export function readZipDirectory(buf: Buffer, limits: ZipLimits = DEFAULT_ZIP_LIMITS): ZipEntry[] {
  try {
    return readDirectory(buf, limits);
  } catch (e) {
    if (e instanceof RangeError) throw new ZipError(`malformed ZIP (${e.message})`);
    throw e;
  }
}

function readDirectory(buf: Buffer, limits: ZipLimits): ZipEntry[] {
  if (buf.length < 22) throw new ZipError('not a ZIP archive (too short)');
  const eocd = findEocd(buf);
  if (eocd < 0) throw new ZipError('not a ZIP archive (no end of central directory record)');
  let total = buf.readUInt16LE(eocd + 10);
  let cdSize = buf.readUInt32LE(eocd + 12);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  let cdEnd = eocd; // where the central directory must end
  if (total === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc >= 0 && buf.readUInt32LE(loc) === SIG_EOCD64_LOC) {
      let rec = u64(buf, loc + 8);
      // with a prefix the recorded offset is off by the prefix length: the record sits right
      // before the locator (no extensible data in practice)
      if (rec + 56 > buf.length || buf.readUInt32LE(rec) !== SIG_EOCD64) {
        const guess = loc - 56;
        if (guess >= 0 && buf.readUInt32LE(guess) === SIG_EOCD64) rec = guess;
        else throw new ZipError('ZIP64 end of central directory record not found');
      }
      total = u64(buf, rec + 32);
      cdSize = u64(buf, rec + 40);
      cdOffset = u64(buf, rec + 48);
      cdEnd = rec;
    }
  }
  if (total > limits.maxEntries) throw new ZipError(`ZIP has ${total} entries (limit ${limits.maxEntries})`);
  if (cdSize > cdEnd) throw new ZipError('central directory larger than the archive');
  const cdStart = cdEnd - cdSize;
  const shift = cdStart - cdOffset; // bytes prepended before the archive
  if (shift < 0) throw new ZipError('central directory offset beyond its position');
  const entries: ZipEntry[] = [];
  let p = cdStart;
  for (let i = 0; i < total; i++) {
    if (p + 46 > cdEnd || buf.readUInt32LE(p) !== SIG_CEN) throw new ZipError(`bad central directory entry ${i}`);
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const crc32 = buf.readUInt32LE(p + 16);
    let csize = buf.readUInt32LE(p + 20);
    let usize = buf.readUInt32LE(p + 24);
    const nlen = buf.readUInt16LE(p + 28);
    const xlen = buf.readUInt16LE(p + 30);
    const clen = buf.readUInt16LE(p + 32);
    let loff = buf.readUInt32LE(p + 42);
    if (p + 46 + nlen + xlen + clen > cdEnd) throw new ZipError(`central directory entry ${i} overruns the directory`);
    const name = buf.toString(flags & 0x800 ? 'utf8' : 'latin1', p + 46, p + 46 + nlen);
    // ZIP64 extended information: the 0xffffffff fields, in order usize, csize, offset
    let x = p + 46 + nlen;
    const xend = x + xlen;
    while (x + 4 <= xend) {
      const id = buf.readUInt16LE(x);
      const sz = buf.readUInt16LE(x + 2);
      if (x + 4 + sz > xend) break;
      if (id === 0x0001) {
        let q = x + 4;
        const take = () => {
          if (q + 8 > x + 4 + sz) throw new ZipError('short ZIP64 extra field');
          const v = u64(buf, q);
          q += 8;
          return v;
        };
        if (usize === 0xffffffff) usize = take();
        if (csize === 0xffffffff) csize = take();
        if (loff === 0xffffffff) loff = take();
      }
      x += 4 + sz;
    }
    entries.push({ name, method, flags, crc32, compressedSize: csize, uncompressedSize: usize, localHeaderOffset: loff + shift });
    p += 46 + nlen + xlen + clen;
  }
  checkOverlaps(buf, entries, cdStart);
  return entries;
}

/**
 * Every entry must own its bytes: local header + name + extra + data, disjoint from every other
 * entry and from the central directory. Overlapping entries (many directory records pointing at one
 * stored nested archive, or at the directory itself) are the "non-recursive zip bomb" and let a
 * small file be analyzed a thousand times over; no archiver writes them (Info-ZIP refuses them too).
 */
function checkOverlaps(buf: Buffer, entries: ZipEntry[], cdStart: number): void {
  if (entries.length === 0) return;
  const spans: Array<[number, number]> = entries.map((e) => {
    const lh = e.localHeaderOffset;
    // an unreadable local header is readZipEntry's to report; it still claims its 30 bytes
    const head = lh >= 0 && lh + 30 <= buf.length && buf.readUInt32LE(lh) === SIG_LOC ? 30 + buf.readUInt16LE(lh + 26) + buf.readUInt16LE(lh + 28) : 30;
    return [lh, lh + head + e.compressedSize];
  });
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 0; i < spans.length; i++) {
    const [start, end] = spans[i]!;
    if (i > 0 && start < spans[i - 1]![1]) throw new ZipError('overlapping entries (zip bomb)');
    if (start < cdStart && end > cdStart) throw new ZipError('overlapping entries (zip bomb): entry data runs into the central directory');
  }
}

/** The entry's bytes, inflated when needed, within the limits and the shared budget. */
export function readZipEntry(buf: Buffer, e: ZipEntry, budget: InflateBudget, limits: ZipLimits = DEFAULT_ZIP_LIMITS): Buffer {
  try {
    return readEntry(buf, e, budget, limits);
  } catch (err) {
    if (err instanceof RangeError) throw new ZipError(`${e.name}: malformed entry (${err.message})`);
    throw err;
  }
}

function readEntry(buf: Buffer, e: ZipEntry, budget: InflateBudget, limits: ZipLimits): Buffer {
  if (e.flags & 0x1) throw new ZipError(`${e.name}: encrypted entry`);
  if (e.uncompressedSize > limits.maxEntrySize) throw new ZipError(`${e.name}: ${e.uncompressedSize} bytes inflated exceeds the ${limits.maxEntrySize}-byte entry limit`);
  if (e.uncompressedSize > 1024 * 1024 && e.uncompressedSize > e.compressedSize * limits.maxRatio) {
    throw new ZipError(`${e.name}: compression ratio ${Math.round(e.uncompressedSize / Math.max(1, e.compressedSize))}:1 exceeds ${limits.maxRatio}:1 (zip bomb?)`);
  }
  if (e.uncompressedSize > budget.remaining) throw new ZipError(`${e.name}: inflated-size budget for this file exhausted`);
  const lh = e.localHeaderOffset;
  if (lh < 0 || lh + 30 > buf.length || buf.readUInt32LE(lh) !== SIG_LOC) throw new ZipError(`${e.name}: bad local header`);
  const start = lh + 30 + buf.readUInt16LE(lh + 26) + buf.readUInt16LE(lh + 28);
  const end = start + e.compressedSize;
  if (end > buf.length) throw new ZipError(`${e.name}: data runs past the end of the archive`);
  const raw = buf.subarray(start, end);
  let out: Buffer;
  if (e.method === 0) {
    if (e.compressedSize !== e.uncompressedSize) throw new ZipError(`${e.name}: stored entry with differing sizes`);
    out = raw;
  } else if (e.method === 8) {
    try {
      // +1: a stream that inflates to more than declared fails instead of being cut silently
      out = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.uncompressedSize + 1) });
    } catch (err) {
      throw new ZipError(`${e.name}: inflate failed (${(err as Error).message})`);
    }
    if (out.length !== e.uncompressedSize) throw new ZipError(`${e.name}: inflated to ${out.length} bytes, ${e.uncompressedSize} declared`);
  } else {
    throw new ZipError(`${e.name}: unsupported compression method ${e.method}`);
  }
  budget.remaining -= out.length;
  return out;
}
