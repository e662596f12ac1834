// Filesystem BlobDriver. Durable writes: data is fsync'd before commit returns, putContent and
// move are renames (atomic on one filesystem), and the parent directory is fsync'd after.
import { createReadStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { PathNotFoundError, type BlobDriver, type ByteRange, type DriverWriter, type FileInfo } from './driver.ts';

const FLUSH_BYTES = 1 << 20;
/**
 * Large writes are flushed to disk progressively (an fdatasync every SYNC_EVERY bytes, in the
 * background) so that the disk works while the network is still receiving and the final fsync
 * at commit has only the tail left (the intent; not measured separately from the rest).
 */
const SYNC_EVERY = 32 << 20;

function isENOENT(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}

async function fsyncDir(dir: string): Promise<void> {
  let h: fsp.FileHandle | undefined;
  try {
    h = await fsp.open(dir, 'r');
    await h.sync();
  } catch {
    /* some filesystems refuse directory fsync; the rename is still atomic */
  } finally {
    await h?.close();
  }
}

class FsWriter implements DriverWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private inflight: Promise<unknown> | null = null;
  private failed: unknown = null;
  private closed = false;
  private unsynced = 0;
  private syncing: Promise<unknown> | null = null;
  /** where the next flush writes: writes are positional, so appends and new files work alike */
  private pos: number;
  size: number;

  constructor(
    private readonly fh: fsp.FileHandle,
    private readonly file: string,
    private readonly startSize: number,
    private readonly created: boolean,
  ) {
    this.size = startSize;
    this.pos = startSize;
  }

  private startFlush(): void {
    if (this.pendingBytes === 0) return;
    const bufs = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    const want = bufs.reduce((n, b) => n + b.length, 0);
    const at = this.pos;
    this.pos += want;
    this.inflight = this.fh.writev(bufs, at).then(
      async (r) => {
        if (r.bytesWritten !== want) await this.writeRest(bufs, r.bytesWritten, at);
        this.unsynced += want;
        if (this.unsynced >= SYNC_EVERY && !this.syncing) {
          this.unsynced = 0;
          this.syncing = this.fh.datasync().then(
            () => (this.syncing = null),
            (e) => {
              this.failed = e;
              this.syncing = null;
            },
          );
        }
      },
      (e) => {
        this.failed = e;
      },
    );
  }

  /** Finish a short writev (rare: signals, full disks report errors instead). */
  private async writeRest(bufs: Buffer[], done: number, at: number): Promise<void> {
    const all = Buffer.concat(bufs);
    for (let off = done; off < all.length; ) {
      const { bytesWritten } = await this.fh.write(all, off, all.length - off, at + off);
      off += bytesWritten;
    }
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failed) throw this.failed;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.size += chunk.length;
    if (this.pendingBytes >= FLUSH_BYTES) {
      if (this.inflight) await this.inflight;
      if (this.failed) throw this.failed;
      this.startFlush();
    }
  }

  private async drain(): Promise<void> {
    if (this.inflight) await this.inflight;
    this.startFlush();
    if (this.inflight) await this.inflight;
    this.inflight = null;
    if (this.failed) throw this.failed;
  }

  async commit(opts: { sync?: boolean } = {}): Promise<void> {
    await this.drain();
    if (this.syncing) await this.syncing;
    if (this.failed) throw this.failed;
    if (opts.sync !== false) await this.fh.sync();
    await this.fh.close();
    this.closed = true;
  }

  async cancel(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.inflight) await this.inflight;
      if (this.syncing) await this.syncing;
    } catch {
      /* ignore */
    }
    this.pending = [];
    try {
      if (!this.created) await this.fh.truncate(this.startSize);
    } finally {
      await this.fh.close().catch(() => {});
    }
    if (this.created) await fsp.rm(this.file, { force: true });
  }
}

export class FsBlobDriver implements BlobDriver {
  readonly name = 'filesystem';
  constructor(readonly root: string) {}

  localPath(p: string): string {
    return path.join(this.root, p);
  }

  async stat(p: string): Promise<FileInfo | null> {
    try {
      const s = await fsp.stat(this.localPath(p));
      return { size: s.isDirectory() ? 0 : s.size, modTime: s.mtime };
    } catch (e) {
      if (isENOENT(e)) return null;
      throw e;
    }
  }

  async getContent(p: string): Promise<Buffer> {
    try {
      return await fsp.readFile(this.localPath(p));
    } catch (e) {
      if (isENOENT(e)) throw new PathNotFoundError(p);
      throw e;
    }
  }

  async putContent(p: string, data: Buffer): Promise<void> {
    const dest = this.localPath(p);
    const dir = path.dirname(dest);
    await fsp.mkdir(dir, { recursive: true });
    const tmp = path.join(dir, `.tmp-${randomUUID()}`);
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await fsp.rename(tmp, dest);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
    await fsyncDir(dir);
  }

  async reader(p: string, range?: ByteRange): Promise<Readable> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.localPath(p), 'r');
    } catch (e) {
      if (isENOENT(e)) throw new PathNotFoundError(p);
      throw e;
    }
    // The open handle keeps the content readable even if it is deleted meanwhile. The stream
    // owns the FileHandle and closes it exactly once (closing a raw fd number twice could close
    // whatever socket reused it).
    return createReadStream('', {
      fd: fh,
      autoClose: true,
      start: range?.start,
      end: range?.end,
      highWaterMark: 1 << 20,
    });
  }

  async writer(p: string, opts: { append?: boolean } = {}): Promise<DriverWriter> {
    const file = this.localPath(p);
    if (opts.append) {
      try {
        const fh = await fsp.open(file, 'r+');
        return new FsWriter(fh, file, (await fh.stat()).size, false);
      } catch (e) {
        if (!isENOENT(e)) throw e;
      }
    }
    await fsp.mkdir(path.dirname(file), { recursive: true });
    return new FsWriter(await fsp.open(file, 'w'), file, 0, true);
  }

  async sync(p: string, opts: { entry?: boolean } = {}): Promise<void> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.localPath(p), 'r+');
    } catch (e) {
      if (isENOENT(e)) throw new PathNotFoundError(p);
      throw e;
    }
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (opts.entry) await fsyncDir(path.dirname(this.localPath(p)));
  }

  /** mkdir -p, then fsync every directory that gained an entry, so the new path survives power loss. */
  private async mkdirDurable(dir: string): Promise<void> {
    const first = await fsp.mkdir(dir, { recursive: true });
    if (!first) return;
    // The parents of every created directory gained an entry: dirname(dir) up to dirname(first).
    for (let d = path.dirname(dir); ; d = path.dirname(d)) {
      await fsyncDir(d);
      if (d === path.dirname(first) || d === path.dirname(d)) break;
    }
  }

  async move(from: string, to: string): Promise<void> {
    const src = this.localPath(from);
    const dest = this.localPath(to);
    await this.mkdirDurable(path.dirname(dest));
    try {
      await fsp.rename(src, dest);
    } catch (e) {
      if (isENOENT(e)) throw new PathNotFoundError(from);
      throw e;
    }
    await fsyncDir(path.dirname(dest));
  }

  async delete(p: string): Promise<void> {
    await fsp.rm(this.localPath(p), { recursive: true, force: true });
  }

  async list(prefix: string): Promise<string[]> {
    try {
      return (await fsp.readdir(this.localPath(prefix))).filter((n) => !n.startsWith('.tmp-'));
    } catch (e) {
      if (isENOENT(e) || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
      throw e;
    }
  }
}
