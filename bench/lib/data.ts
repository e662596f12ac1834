// Benchmark data: one random file per size, generated once (untimed) into a temp dir.
// Every push needs a *distinct* blob (so no registry can short-circuit on "already have it"),
// without writing a new 1 GiB file each time: a variant is the shared random file with its last
// 16 bytes replaced by a unique suffix. The SHA-256 state after the shared part is kept
// (Hash.copy()), so each variant's digest costs 16 bytes of hashing, not a full pass.
import { createHash, randomFillSync, randomBytes, type Hash } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const TAIL = 16;
const READ_HWM = 1 << 20;

export interface BlobVariant {
  size: number;
  digest: string;
  /**
   * Feed bytes [start, end) of the blob to `write`, which must resolve once it no longer needs
   * the buffer. Reads go into two reused 1 MiB buffers (one being read while the other is being
   * written), so no memory is allocated per chunk: fresh allocations mean page faults, which on
   * this VM cost more than the copying itself.
   */
  pump(write: (b: Buffer) => Promise<void>, start?: number, end?: number): Promise<void>;
}

const free: Buffer[] = [];
const takeBuf = () => free.pop() ?? Buffer.allocUnsafeSlow(READ_HWM);

async function pumpFile(file: string, start: number, end: number, write: (b: Buffer) => Promise<void>): Promise<void> {
  if (start >= end) return;
  const fh = await open(file, 'r');
  const bufs = [takeBuf(), takeBuf()];
  const inflight: (Promise<void> | undefined)[] = [undefined, undefined];
  try {
    for (let off = start, k = 0; off < end; k ^= 1) {
      await inflight[k];
      const { bytesRead } = await fh.read(bufs[k], 0, Math.min(READ_HWM, end - off), off);
      if (bytesRead === 0) throw new Error(`${file}: unexpected end of file`);
      off += bytesRead;
      inflight[k] = write(bufs[k].subarray(0, bytesRead));
      inflight[k]!.catch(() => {});
    }
    await Promise.all(inflight);
  } finally {
    await fh.close();
    await Promise.allSettled(inflight);
    free.push(...bufs);
  }
}

export class BlobFile {
  private counter = 0;
  constructor(
    readonly size: number,
    readonly file: string,
    private readonly state: Hash,
  ) {}

  /** A new distinct blob of this size. */
  variant(): BlobVariant {
    const size = this.size;
    const tail = Math.min(TAIL, size);
    const common = size - tail;
    const suffix = randomBytes(tail);
    suffix.writeUInt32BE(this.counter++ >>> 0, 0);
    const digest = `sha256:${this.state.copy().update(suffix).digest('hex')}`;
    const file = this.file;
    return {
      size,
      digest,
      async pump(write, start = 0, end = size) {
        await pumpFile(file, start, Math.min(end, common), write);
        if (end > common) await write(suffix.subarray(Math.max(start, common) - common, end - common));
      },
    };
  }
}

export class DataDir {
  private constructor(readonly dir: string) {}
  private files = new Map<number, BlobFile>();

  static async create(base = os.tmpdir()): Promise<DataDir> {
    return new DataDir(await mkdtemp(path.join(base, 'wharf-bench-data-')));
  }

  /** The random file for `size` bytes, generating it on first use. */
  async blob(size: number): Promise<BlobFile> {
    const have = this.files.get(size);
    if (have) return have;
    const file = path.join(this.dir, `blob-${size}`);
    const common = size - Math.min(TAIL, size);
    const h = createHash('sha256');
    const fh = await open(file, 'w');
    try {
      const buf = Buffer.allocUnsafe(Math.min(8 << 20, Math.max(common, 1)));
      for (let off = 0; off < common; ) {
        const n = Math.min(buf.length, common - off);
        const chunk = buf.subarray(0, n);
        randomFillSync(chunk);
        h.update(chunk);
        await fh.write(chunk, 0, n);
        off += n;
      }
    } finally {
      await fh.close();
    }
    const bf = new BlobFile(size, file, h);
    this.files.set(size, bf);
    return bf;
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Small in-memory blob (image pushes). */
export function smallBlob(size: number): { data: Buffer; digest: string } {
  const data = randomBytes(size);
  return { data, digest: `sha256:${createHash('sha256').update(data).digest('hex')}` };
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
