// S3 BlobDriver (AWS S3 and S3-compatible stores: MinIO, Ceph RGW, s3rver in tests), for
// scale-out: every replica sees the same bytes, none keeps local state.
//
// Layout under `<bucket>/<prefix>/`: a key K of the BlobDriver is the object `<prefix>/K`.
//
// Appendable files. S3 objects are immutable, so a file written with `writer(K, {append})` is
// stored as a *base object* K carrying the metadata `x-amz-meta-wharf-append: 1` plus *part
// objects* `<dir(K)>/.parts.<base(K)>/<offset, 16 digits>`, one per flushed piece (a PATCH chunk,
// or 8 MiB of it). The part's name is the byte offset it starts at, so any replica can append:
// it stats the file (HEAD + one LIST of the parts), then writes parts named from that size on.
// The content is the base object's bytes followed by the parts in offset order; a part whose
// offset does not continue the content seen so far (left by a crashed or racing writer) ends
// the content there and is ignored. stat is a HEAD for plain objects (blobs) and HEAD + LIST
// for appendable files. Part prefixes start with '.', and list() hides them.
//
// move() of an appendable file into blobs/ builds one object server-side when it can:
//   - one segment ≤ 5 GiB: CopyObject;
//   - otherwise a multipart upload whose parts are UploadPartCopy ranges of the segments ≥ 5 MiB;
//     runs of segments smaller than S3's 5 MiB minimum part size are coalesced by reading them
//     and re-uploading them as one part (at most ~10 MiB buffered per part, see planParts);
//   - under 8 MiB in total: read it all and PutObject (fewer requests).
// Then the source (base and parts) is deleted. The destination appears atomically (S3 makes an
// object visible only when its PUT / Copy / CompleteMultipartUpload succeeds); the source is
// removed after, so a crash in between leaves a copy, never a loss.
//
// Durability: an object is durable when its PUT / CompleteMultipartUpload returns, so
// commit({sync}) and sync() have nothing more to do (sync checks the path exists).
//
// Limits: readers of appendable files fetch parts lazily, so deleting such a file while it is
// being read can end the read with an error (plain objects are read with one GET and keep
// streaming). There is no localPath (pulls stream; presignedUrl() can redirect them instead).
// Reads of plain objects are one GET; of appendable files a HEAD, a LIST, then a GET per part.
// stat() of a "directory" (a prefix with objects under it) is null here, unlike fs/memory.
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { PathNotFoundError, type BlobDriver, type ByteRange, type DriverWriter, type FileInfo } from './driver.ts';

const MiB = 1024 * 1024;
/** S3's minimum size of every part of a multipart upload but the last */
export const MIN_PART = 5 * MiB;
/** part size of new-file multipart uploads, and the flush size of append writers */
export const PART_SIZE = 8 * MiB;
/** largest CopyObject source / UploadPartCopy range */
const MAX_COPY = 5 * 1024 * MiB;
/** ranges of a big single-object move copied per UploadPartCopy */
const COPY_PART = 512 * MiB;
const APPEND_META = 'wharf-append';
const PARTS_DIR = '.parts.';
const CONCURRENCY = 4;

export interface S3DriverOptions {
  bucket: string;
  /** key prefix inside the bucket ('' = bucket root) */
  prefix?: string;
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** path-style URLs (http://host/bucket/key), needed by most S3-compatible stores */
  forcePathStyle?: boolean;
  /** a ready client (tests); the connection options above are then ignored */
  client?: S3Client;
}

interface Segment {
  key: string;
  /** offset in the logical file */
  offset: number;
  size: number;
}

interface Layout {
  size: number;
  modTime: Date;
  /** plain object (no parts) */
  plain: boolean;
  segments: Segment[];
}

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return err?.name === 'NoSuchKey' || err?.name === 'NotFound' || err?.Code === 'NoSuchKey' || err?.$metadata?.httpStatusCode === 404;
}

function pad(n: number): string {
  return String(n).padStart(16, '0');
}

/** Run fns with at most `n` in flight; rejects with the first error (after the rest settle). */
async function pool<T>(items: T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown = null;
  const run = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        await fn(items[i], i);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, run));
  if (failed) throw failed;
}

async function bodyToBuffer(body: unknown): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for await (const c of body as AsyncIterable<Uint8Array>) parts.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  return Buffer.concat(parts);
}

async function* takeBytes(src: Readable, n: number): AsyncGenerator<Buffer> {
  let left = n;
  try {
    for await (const c of src) {
      const b = c as Buffer;
      if (b.length >= left) {
        yield b.subarray(0, left);
        return;
      }
      left -= b.length;
      yield b;
    }
  } finally {
    src.destroy();
  }
}

/** One part of a move's multipart upload: a server-side copy of a range, or bytes to re-upload. */
export type PlannedPart = { kind: 'copy'; key: string; start: number; end: number } | { kind: 'upload'; pieces: { key: string; start: number; end: number }[] };

/**
 * Cut a file made of segments into multipart-upload parts: every part but the last ≥ MIN_PART,
 * copies server-side where a segment has ≥ MIN_PART left, re-uploads runs of small segments
 * (each such part < 2 × MIN_PART + PART_SIZE bytes, usually ~MIN_PART). Ranges are inclusive and
 * relative to the segment's object.
 */
export function planParts(segments: Segment[], total: number): PlannedPart[] {
  const out: PlannedPart[] = [];
  const segs = segments.filter((s) => s.size > 0);
  let p = 0;
  let si = 0;
  while (p < total) {
    while (segs[si].offset + segs[si].size <= p) si++;
    const seg = segs[si];
    const segLeft = seg.offset + seg.size - p;
    const isLast = p + segLeft === total;
    if (segLeft >= MIN_PART || isLast) {
      // server-side copy; keep what remains of the segment ≥ MIN_PART or nothing
      let len = Math.min(segLeft, MAX_COPY);
      if (segLeft > len && segLeft - len < MIN_PART) len -= MIN_PART;
      out.push({ kind: 'copy', key: seg.key, start: p - seg.offset, end: p - seg.offset + len - 1 });
      p += len;
      continue;
    }
    // coalesce: read from p until ≥ MIN_PART, ending at a segment end unless the segment that
    // crosses the line has enough left to be copied server-side afterwards
    const pieces: { key: string; start: number; end: number }[] = [];
    let q = p;
    let j = si;
    while (q < total && q - p < MIN_PART) {
      const s = segs[j];
      const sEnd = s.offset + s.size;
      let to = sEnd;
      if (q - p + (sEnd - q) > MIN_PART) {
        const cut = p + MIN_PART;
        if (sEnd - cut >= MIN_PART) to = cut;
      }
      pieces.push({ key: s.key, start: q - s.offset, end: to - s.offset - 1 });
      q = to;
      if (q === sEnd) j++;
    }
    out.push({ kind: 'upload', pieces });
    p = q;
  }
  return out;
}

export class S3BlobDriver implements BlobDriver {
  readonly name = 's3';
  readonly client: S3Client;
  readonly bucket: string;
  private readonly prefix: string;
  /** set when the store answers UploadPartCopy with NotImplemented (s3rver): parts are re-uploaded */
  partCopyUnsupported = false;

  constructor(opts: S3DriverOptions) {
    this.bucket = opts.bucket;
    this.prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (opts.client) {
      this.client = opts.client;
    } else {
      const cfg: S3ClientConfig = {
        region: opts.region || 'us-east-1',
        forcePathStyle: opts.forcePathStyle ?? Boolean(opts.endpoint),
        // checksums only where S3 requires them: streamed bodies then go as plain
        // Content-Length uploads, which every S3-compatible store understands
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      };
      if (opts.endpoint) cfg.endpoint = opts.endpoint;
      if (opts.accessKeyId) cfg.credentials = { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey ?? '' };
      this.client = new S3Client(cfg);
    }
  }

  /** The object key of a driver path. */
  private k(p: string): string {
    return this.prefix ? `${this.prefix}/${p}` : p;
  }

  /** The key prefix of p's parts (ends with '/'). */
  private partsPrefix(p: string): string {
    const i = p.lastIndexOf('/');
    return this.k(`${p.slice(0, i + 1)}${PARTS_DIR}${p.slice(i + 1)}/`);
  }

  private async head(key: string): Promise<{ size: number; modTime: Date; appendable: boolean } | null> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: r.ContentLength ?? 0, modTime: r.LastModified ?? new Date(), appendable: r.Metadata?.[APPEND_META] === '1' };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  /** All objects under a key prefix (paginated). */
  private async listAll(prefix: string): Promise<{ key: string; size: number; modTime: Date }[]> {
    const out: { key: string; size: number; modTime: Date }[] = [];
    // Pages continue with StartAfter rather than continuation tokens: same result on S3, and
    // s3rver's tokens need a cipher OpenSSL 3 no longer has.
    let after: string | undefined;
    for (;;) {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, StartAfter: after }));
      for (const o of r.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0, modTime: o.LastModified ?? new Date() });
      const last = r.Contents?.at(-1)?.Key;
      if (!r.IsTruncated || !last) return out;
      after = last;
    }
  }

  private async layout(p: string): Promise<Layout | null> {
    const key = this.k(p);
    const h = await this.head(key);
    if (!h) return null;
    const base: Segment = { key, offset: 0, size: h.size };
    if (!h.appendable) return { size: h.size, modTime: h.modTime, plain: true, segments: [base] };
    const pp = this.partsPrefix(p);
    const parts = (await this.listAll(pp))
      .map((o) => ({ ...o, offset: Number(o.key.slice(pp.length)) }))
      .filter((o) => Number.isSafeInteger(o.offset))
      .sort((a, b) => a.offset - b.offset);
    const segments = [base];
    let size = h.size;
    let modTime = h.modTime;
    for (const o of parts) {
      if (o.offset !== size) break; // a gap or an overlap: the content ends here
      segments.push({ key: o.key, offset: o.offset, size: o.size });
      size += o.size;
      if (o.modTime > modTime) modTime = o.modTime;
    }
    return { size, modTime, plain: false, segments };
  }

  async stat(p: string): Promise<FileInfo | null> {
    const l = await this.layout(p);
    return l ? { size: l.size, modTime: l.modTime } : null;
  }

  async getContent(p: string): Promise<Buffer> {
    const r = await this.reader(p);
    return bodyToBuffer(r);
  }

  async putContent(p: string, data: Buffer): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.k(p), Body: data, ContentLength: data.length }));
  }

  /** GET bytes start..end (inclusive) of an object. */
  private async getRange(key: string, start: number, end: number): Promise<Readable> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${start}-${end}` }));
      const body = r.Body as Readable;
      const want = end - start + 1;
      // Some stores answer `bytes=0-0` with the whole object (s3rver): never pass on more than asked.
      if (r.ContentLength === undefined || r.ContentLength <= want) return body;
      return Readable.from(takeBytes(body, want), { objectMode: false });
    } catch (e) {
      if (isNotFound(e)) throw new PathNotFoundError(key);
      throw e;
    }
  }

  async reader(p: string, range?: ByteRange): Promise<Readable> {
    // Plain objects (every blob) in one request: the GET itself tells whether p is appendable.
    let r;
    try {
      r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.k(p), Range: range ? `bytes=${range.start}-${range.end}` : undefined }));
    } catch (e) {
      if (isNotFound(e)) throw new PathNotFoundError(p);
      // 416 (a range on an empty object): the general path below answers it
      if ((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 416) throw e;
    }
    if (r && r.Metadata?.[APPEND_META] !== '1') {
      const body = r.Body as Readable;
      const want = range ? range.end - range.start + 1 : undefined;
      if (want === undefined || r.ContentLength === undefined || r.ContentLength <= want) return body;
      return Readable.from(takeBytes(body, want), { objectMode: false });
    }
    (r?.Body as Readable | undefined)?.destroy();
    const l = await this.layout(p);
    if (!l) throw new PathNotFoundError(p);
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? l.size - 1, l.size - 1);
    if (end < start || l.size === 0) return Readable.from([]);
    const pieces = l.segments
      .filter((s) => s.size > 0 && s.offset <= end && s.offset + s.size - 1 >= start)
      .map((s) => ({ key: s.key, start: Math.max(start, s.offset) - s.offset, end: Math.min(end, s.offset + s.size - 1) - s.offset }));
    // The first GET starts now (a plain object keeps streaming even if deleted meanwhile).
    const first = await this.getRange(pieces[0].key, pieces[0].start, pieces[0].end).catch((e) => {
      if (e instanceof PathNotFoundError) throw new PathNotFoundError(p);
      throw e;
    });
    if (pieces.length === 1) return first;
    const self = this;
    async function* gen(): AsyncGenerator<Buffer> {
      for (let i = 0; i < pieces.length; i++) {
        const body = i === 0 ? first : await self.getRange(pieces[i].key, pieces[i].start, pieces[i].end);
        for await (const c of body) yield c as Buffer;
      }
    }
    return Readable.from(gen(), { objectMode: false });
  }

  async writer(p: string, opts: { append?: boolean } = {}): Promise<DriverWriter> {
    if (!opts.append) return new NewObjectWriter(this, this.k(p));
    const l = await this.layout(p);
    let created = false;
    if (!l) {
      await this.makeAppendable(p, null);
      created = true;
    } else if (l.plain) {
      await this.makeAppendable(p, l.size);
    }
    return new AppendWriter(this, p, this.partsPrefix(p), l?.size ?? 0, created);
  }

  /** Mark p appendable: a new empty base, or the existing plain object copied onto itself with the marker. */
  private async makeAppendable(p: string, existingSize: number | null): Promise<void> {
    const key = this.k(p);
    // parts left by an earlier appendable life of this path must not reappear
    await this.deleteKeys((await this.listAll(this.partsPrefix(p))).map((o) => o.key));
    if (existingSize === null || existingSize === 0) {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: Buffer.alloc(0), ContentLength: 0, Metadata: { [APPEND_META]: '1' } }));
    } else if (existingSize <= MAX_COPY) {
      await this.client.send(
        new CopyObjectCommand({ Bucket: this.bucket, Key: key, CopySource: this.copySource(key), MetadataDirective: 'REPLACE', Metadata: { [APPEND_META]: '1' } }),
      );
    } else {
      // a > 5 GiB plain object: keep its bytes as the (only) part and start an empty base
      await this.copyWhole(key, `${this.partsPrefix(p)}${pad(0)}`, existingSize);
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: Buffer.alloc(0), ContentLength: 0, Metadata: { [APPEND_META]: '1' } }));
    }
  }

  copySource(key: string): string {
    return `${this.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** @internal PutObject of one part / object. */
  async putObject(key: string, body: Buffer, metadata?: Record<string, string>): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: body.length, Metadata: metadata }));
  }

  async sync(p: string, _opts?: { entry?: boolean }): Promise<void> {
    // S3 objects are durable once their PUT returned; only check that p exists.
    if (!(await this.head(this.k(p)))) throw new PathNotFoundError(p);
  }

  /** Copy a plain object of `size` bytes to another key, server-side. */
  private async copyWhole(from: string, to: string, size: number): Promise<void> {
    if (size <= MAX_COPY) {
      await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: to, CopySource: this.copySource(from), MetadataDirective: 'REPLACE' }));
      return;
    }
    const plan: PlannedPart[] = [];
    for (let o = 0; o < size; o += COPY_PART) plan.push({ kind: 'copy', key: from, start: o, end: Math.min(size, o + COPY_PART) - 1 });
    await this.multipart(to, plan);
  }

  /** Build `to` from planned parts with one multipart upload (aborted on failure). */
  private async multipart(to: string, plan: PlannedPart[]): Promise<void> {
    const up = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: to }));
    const uploadId = up.UploadId!;
    const done: CompletedPart[] = new Array(plan.length);
    try {
      await pool(plan, CONCURRENCY, async (part, i) => {
        const PartNumber = i + 1;
        if (part.kind === 'copy' && !this.partCopyUnsupported) {
          let r;
          try {
            r = await this.client.send(
            new UploadPartCopyCommand({
              Bucket: this.bucket,
              Key: to,
              UploadId: uploadId,
              PartNumber,
              CopySource: this.copySource(part.key),
              CopySourceRange: `bytes=${part.start}-${part.end}`,
              }),
            );
          } catch (e) {
            if ((e as { name?: string }).name !== 'NotImplemented') throw e;
            this.partCopyUnsupported = true; // e.g. s3rver: re-upload instead (below)
          }
          if (r) {
            done[i] = { PartNumber, ETag: r.CopyPartResult?.ETag };
            return;
          }
        }
        if (part.kind === 'copy') {
          // no server-side part copy: stream the range through this replica
          const len = part.end - part.start + 1;
          const body = await this.getRange(part.key, part.start, part.end);
          const r = await this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key: to, UploadId: uploadId, PartNumber, Body: body, ContentLength: len }));
          done[i] = { PartNumber, ETag: r.ETag };
        } else {
          const bufs: Buffer[] = [];
          for (const pc of part.pieces) bufs.push(await bodyToBuffer(await this.getRange(pc.key, pc.start, pc.end)));
          const body = Buffer.concat(bufs);
          const r = await this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key: to, UploadId: uploadId, PartNumber, Body: body, ContentLength: body.length }));
          done[i] = { PartNumber, ETag: r.ETag };
        }
      });
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: to, UploadId: uploadId, MultipartUpload: { Parts: done } }));
    } catch (e) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: to, UploadId: uploadId })).catch(() => {});
      throw e;
    }
  }

  async move(from: string, to: string): Promise<void> {
    const l = await this.layout(from);
    if (!l) throw new PathNotFoundError(from);
    const dest = this.k(to);
    const segs = l.segments.filter((s) => s.size > 0);
    if (l.size === 0) {
      await this.putObject(dest, Buffer.alloc(0));
    } else if (segs.length === 1) {
      await this.copyWhole(segs[0].key, dest, segs[0].size);
    } else if (l.size < PART_SIZE) {
      const bufs: Buffer[] = [];
      for (const s of segs) bufs.push(await bodyToBuffer(await this.getRange(s.key, 0, s.size - 1)));
      await this.putObject(dest, Buffer.concat(bufs));
    } else {
      await this.multipart(dest, planParts(segs, l.size));
    }
    await this.deleteKeys([this.k(from), ...(l.plain ? [] : (await this.listAll(this.partsPrefix(from))).map((o) => o.key))]);
  }

  /** DeleteObjects in batches of 1000 (S3's limit per request). */
  async deleteKeys(keys: string[]): Promise<void> {
    const batches: string[][] = [];
    for (let i = 0; i < keys.length; i += 1000) batches.push(keys.slice(i, i + 1000));
    await pool(batches, CONCURRENCY, (batch) => this.deleteBatch(batch));
  }

  /**
   * One DeleteObjects; when the store fails it as a whole with a server error (after the SDK's
   * retries), the batch is split in halves down to single DeleteObject calls, one after the
   * other (s3rver fails large batches: its concurrent per-key cleanup of empty directories races).
   */
  private async deleteBatch(batch: string[]): Promise<void> {
    if (batch.length === 0) return;
    if (batch.length === 1) {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: batch[0] })).catch((e) => {
        if (!isNotFound(e)) throw e;
      });
      return;
    }
    let r;
    try {
      r = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
    } catch (e) {
      if (((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0) < 500) throw e;
      const half = Math.ceil(batch.length / 2);
      await this.deleteBatch(batch.slice(0, half));
      await this.deleteBatch(batch.slice(half));
      return;
    }
    const errs = (r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
    if (errs.length) throw new Error(`S3 DeleteObjects failed for ${errs.length} keys, first ${errs[0].Key}: ${errs[0].Code} ${errs[0].Message ?? ''}`);
  }

  async delete(p: string): Promise<void> {
    const key = this.k(p);
    const [under, parts] = await Promise.all([this.listAll(`${key}/`), this.listAll(this.partsPrefix(p))]);
    await this.deleteKeys([key, ...under.map((o) => o.key), ...parts.map((o) => o.key)]);
  }

  /**
   * Delete the objects under a prefix last modified more than `ageMs` ago; returns how many.
   * For start-up cleanups of shared storage, where other replicas may be writing right now.
   */
  async deleteOlderThan(prefix: string, ageMs: number): Promise<number> {
    const cutoff = Date.now() - ageMs;
    const old = (await this.listAll(`${this.k(prefix)}/`)).filter((o) => o.modTime.getTime() < cutoff).map((o) => o.key);
    await this.deleteKeys(old);
    return old.length;
  }

  async list(prefix: string): Promise<string[]> {
    const base = prefix === '' ? '' : prefix.endsWith('/') ? prefix : `${prefix}/`;
    const pre = this.prefix ? `${this.prefix}/${base}` : base;
    const names = new Set<string>();
    let after: string | undefined;
    for (;;) {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: pre, Delimiter: '/', StartAfter: after }));
      let next = '';
      for (const o of r.Contents ?? []) {
        if (!o.Key) continue;
        names.add(o.Key.slice(pre.length));
        if (o.Key > next) next = o.Key;
      }
      for (const c of r.CommonPrefixes ?? []) {
        if (!c.Prefix) continue;
        names.add(c.Prefix.slice(pre.length).replace(/\/$/, ''));
        // continue after everything under this common prefix
        if (`${c.Prefix}\u{10FFFF}` > next) next = `${c.Prefix}\u{10FFFF}`;
      }
      if (!r.IsTruncated || !next) break;
      after = next;
    }
    return [...names].filter((n) => n !== '' && !n.startsWith(PARTS_DIR)).sort();
  }

  /**
   * A presigned GET URL of a (plain) object, e.g. to redirect blob pulls to the store. Not for
   * appendable files (upload sessions): their bytes are spread over several objects.
   */
  async presignedUrl(p: string, ttlSeconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.k(p) }), { expiresIn: ttlSeconds });
  }
}

/** A new object: buffered; PutObject under PART_SIZE, else a multipart upload of PART_SIZE parts. */
class NewObjectWriter implements DriverWriter {
  size = 0;
  private buf: Buffer[] = [];
  private bufBytes = 0;
  private uploadId: string | null = null;
  private parts: CompletedPart[] = [];
  private inflight: Promise<void>[] = [];
  private failed: unknown = null;
  private done = false;

  constructor(
    private readonly d: S3BlobDriver,
    private readonly key: string,
  ) {}

  private take(n: number): Buffer {
    const all = Buffer.concat(this.buf);
    this.buf = all.length > n ? [all.subarray(n)] : [];
    this.bufBytes = all.length - Math.min(n, all.length);
    return all.subarray(0, n);
  }

  private async uploadPart(body: Buffer): Promise<void> {
    const { client, bucket } = this.d;
    if (!this.uploadId) this.uploadId = (await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: this.key }))).UploadId!;
    const PartNumber = this.parts.length + 1;
    const slot: CompletedPart = { PartNumber };
    this.parts.push(slot);
    const p = client.send(new UploadPartCommand({ Bucket: bucket, Key: this.key, UploadId: this.uploadId, PartNumber, Body: body, ContentLength: body.length })).then(
      (r) => {
        slot.ETag = r.ETag;
      },
      (e) => {
        this.failed ??= e;
      },
    );
    this.inflight.push(p);
    // at most 2 parts in flight (bounded memory: ~3 × PART_SIZE per writer)
    if (this.inflight.length >= 2) await this.inflight.shift();
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.done) throw new Error('writer closed');
    if (this.failed) throw this.failed;
    this.buf.push(chunk);
    this.bufBytes += chunk.length;
    this.size += chunk.length;
    while (this.bufBytes >= PART_SIZE) await this.uploadPart(this.take(PART_SIZE));
    if (this.failed) throw this.failed;
  }

  async commit(_opts?: { sync?: boolean }): Promise<void> {
    if (this.done) throw new Error('writer closed');
    try {
      if (!this.uploadId) {
        await this.d.putObject(this.key, this.take(this.bufBytes));
      } else {
        if (this.bufBytes > 0) await this.uploadPart(this.take(this.bufBytes));
        await Promise.all(this.inflight);
        if (this.failed) throw this.failed;
        await this.d.client.send(
          new CompleteMultipartUploadCommand({ Bucket: this.d.bucket, Key: this.key, UploadId: this.uploadId, MultipartUpload: { Parts: this.parts } }),
        );
      }
      this.done = true;
    } catch (e) {
      await this.cancel();
      throw e;
    }
  }

  async cancel(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.buf = [];
    await Promise.allSettled(this.inflight);
    if (this.uploadId) await this.d.client.send(new AbortMultipartUploadCommand({ Bucket: this.d.bucket, Key: this.key, UploadId: this.uploadId })).catch(() => {});
  }
}

/** Appends to an appendable file: every PART_SIZE buffered bytes (and the rest at commit) become a part object. */
class AppendWriter implements DriverWriter {
  size: number;
  private buf: Buffer[] = [];
  private bufBytes = 0;
  /** offset of the next part */
  private pos: number;
  private written: string[] = [];
  private inflight: Promise<void> | null = null;
  private failed: unknown = null;
  private done = false;

  constructor(
    private readonly d: S3BlobDriver,
    private readonly path: string,
    private readonly partsPrefix: string,
    private readonly startSize: number,
    private readonly created: boolean,
  ) {
    this.size = startSize;
    this.pos = startSize;
  }

  private flush(): void {
    if (this.bufBytes === 0) return;
    const body = Buffer.concat(this.buf);
    this.buf = [];
    this.bufBytes = 0;
    const key = `${this.partsPrefix}${pad(this.pos)}`;
    this.pos += body.length;
    this.written.push(key);
    this.inflight = this.d.putObject(key, body).catch((e) => {
      this.failed ??= e;
    });
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.done) throw new Error('writer closed');
    if (this.failed) throw this.failed;
    this.buf.push(chunk);
    this.bufBytes += chunk.length;
    this.size += chunk.length;
    if (this.bufBytes >= PART_SIZE) {
      if (this.inflight) await this.inflight;
      if (this.failed) throw this.failed;
      this.flush();
    }
  }

  async commit(_opts?: { sync?: boolean }): Promise<void> {
    if (this.done) throw new Error('writer closed');
    if (this.inflight) await this.inflight;
    this.flush();
    if (this.inflight) await this.inflight;
    if (this.failed) {
      await this.cancel();
      throw this.failed;
    }
    this.done = true;
  }

  async cancel(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.buf = [];
    if (this.inflight) await this.inflight;
    if (this.created) await this.d.delete(this.path);
    else await this.d.deleteKeys(this.written);
  }
}
