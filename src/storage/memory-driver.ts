// In-memory BlobDriver, for tests and ephemeral registries. Same contract as the fs driver.
import { Readable } from 'node:stream';
import { PathNotFoundError, type BlobDriver, type ByteRange, type DriverWriter, type FileInfo } from './driver.ts';

interface Entry {
  data: Buffer;
  modTime: Date;
}

export class MemoryBlobDriver implements BlobDriver {
  readonly name = 'inmemory';
  private files = new Map<string, Entry>();

  async stat(p: string): Promise<FileInfo | null> {
    const e = this.files.get(p);
    if (e) return { size: e.data.length, modTime: e.modTime };
    const prefix = p.endsWith('/') ? p : `${p}/`;
    for (const k of this.files.keys()) if (k.startsWith(prefix)) return { size: 0, modTime: new Date() };
    return null;
  }

  async getContent(p: string): Promise<Buffer> {
    const e = this.files.get(p);
    if (!e) throw new PathNotFoundError(p);
    return Buffer.from(e.data);
  }

  async putContent(p: string, data: Buffer): Promise<void> {
    this.files.set(p, { data: Buffer.from(data), modTime: new Date() });
  }

  async reader(p: string, range?: ByteRange): Promise<Readable> {
    const e = this.files.get(p);
    if (!e) throw new PathNotFoundError(p);
    const data = range ? e.data.subarray(range.start, range.end + 1) : e.data;
    return Readable.from(chunks(data), { objectMode: false });
  }

  async writer(p: string, opts: { append?: boolean } = {}): Promise<DriverWriter> {
    const existing = opts.append ? this.files.get(p) : undefined;
    const created = !existing;
    const startSize = existing?.data.length ?? 0;
    const parts: Buffer[] = existing ? [existing.data] : [];
    let size = startSize;
    let done = false;
    const files = this.files;
    if (!existing) files.set(p, { data: Buffer.alloc(0), modTime: new Date() });
    return {
      get size() {
        return size;
      },
      async write(chunk: Buffer) {
        if (done) throw new Error('writer closed');
        parts.push(Buffer.from(chunk));
        size += chunk.length;
      },
      async commit() {
        done = true;
        files.set(p, { data: Buffer.concat(parts), modTime: new Date() });
      },
      async cancel() {
        if (done) return;
        done = true;
        if (created) files.delete(p);
      },
    };
  }

  async sync(p: string, _opts?: { entry?: boolean }): Promise<void> {
    if (!this.files.has(p)) throw new PathNotFoundError(p);
  }

  async move(from: string, to: string): Promise<void> {
    const e = this.files.get(from);
    if (!e) throw new PathNotFoundError(from);
    this.files.delete(from);
    this.files.set(to, e);
  }

  async delete(p: string): Promise<void> {
    this.files.delete(p);
    const prefix = p.endsWith('/') ? p : `${p}/`;
    for (const k of [...this.files.keys()]) if (k.startsWith(prefix)) this.files.delete(k);
  }

  async list(prefix: string): Promise<string[]> {
    const pre = prefix === '' ? '' : prefix.endsWith('/') ? prefix : `${prefix}/`;
    const out = new Set<string>();
    for (const k of this.files.keys()) {
      if (!k.startsWith(pre)) continue;
      out.add(k.slice(pre.length).split('/')[0]);
    }
    return [...out].sort();
  }
}

function* chunks(b: Buffer): Generator<Buffer> {
  const step = 1 << 20;
  for (let i = 0; i < b.length; i += step) yield b.subarray(i, i + step);
  if (b.length === 0) return;
}
