// The blob driver contract: a small key → bytes store, in the spirit of distribution's
// storagedriver.StorageDriver. Everything above it (content addressing, links, uploads,
// GC) lives in services, so a new backend (fs, memory, s3) stays small.
//
// Keys are '/'-separated relative paths made only by storage/paths.ts; drivers never see
// user input. Layout (one drawing, see paths.ts):
//
//   blobs/<alg>/<first two hex>/<hex>        committed, verified content (immutable)
//   uploads/<uuid>                           an upload session's bytes so far
//   tmp/<uuid>                               monolithic writes before verification
import type { Readable } from 'node:stream';

export class PathNotFoundError extends Error {
  readonly path: string;
  constructor(path: string) {
    super(`path not found: ${path}`);
    this.path = path;
  }
}

export class InvalidOffsetError extends Error {
  constructor(path: string, offset: number, size: number) {
    super(`invalid offset ${offset} for ${path} of size ${size}`);
  }
}

export interface FileInfo {
  size: number;
  modTime: Date;
}

export interface ByteRange {
  /** first byte, inclusive */
  start: number;
  /** last byte, inclusive */
  end: number;
}

export interface DriverWriter {
  /** bytes in the file, including what existed before an append */
  readonly size: number;
  write(chunk: Buffer): Promise<void>;
  /**
   * Flush the writes. With `sync` (the default) also fsync, so the content at the path is
   * durable; without it the content survives a process crash but not a power loss.
   */
  commit(opts?: { sync?: boolean }): Promise<void>;
  /** Abandon this write: an append is rolled back to the size it started from, a new file removed. */
  cancel(): Promise<void>;
}

export interface BlobDriver {
  readonly name: string;
  stat(path: string): Promise<FileInfo | null>;
  /** Whole content (small files only: manifests, metadata). */
  getContent(path: string): Promise<Buffer>;
  /** Atomically replace the content (write to temp, fsync, rename). */
  putContent(path: string, data: Buffer): Promise<void>;
  /** Stream content, optionally a byte range. Throws PathNotFoundError. */
  reader(path: string, range?: ByteRange): Promise<Readable>;
  /** Write a file, or append to it when `append` (offset = current size). */
  writer(path: string, opts?: { append?: boolean }): Promise<DriverWriter>;
  /**
   * fsync a file's content (before it is renamed into a place that makes it visible); with
   * `entry`, also the directory entry that names it.
   */
  sync(path: string, opts?: { entry?: boolean }): Promise<void>;
  /** Atomic rename; overwrites the destination. Throws PathNotFoundError. */
  move(from: string, to: string): Promise<void>;
  /** Delete a file or a whole subtree; deleting what is not there is not an error. */
  delete(path: string): Promise<void>;
  /** Direct children names of a directory-like prefix (empty when none). */
  list(prefix: string): Promise<string[]>;
  /** A local filesystem path for a key, when the driver has one (lets pulls use zero-copy reads). */
  localPath?(path: string): string;
}
