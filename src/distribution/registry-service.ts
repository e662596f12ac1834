// RegistryService: the OCI distribution operations over a BlobDriver (bytes) and a
// MetadataStore (links, manifests, tags, sessions). HTTP handlers call one method each.
//
// Durability rule: bytes are fsync'd and renamed into the content-addressed store before the
// metadata row that makes them visible is committed; a manifest is committed (with its
// references and tag) in one transaction that re-checks every reference. A crash at any point
// therefore leaves at worst an unreferenced file, never a visible reference to missing bytes.
import { randomUUID, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { OciError } from '../errors/oci-errors.ts';
import { digestOf, newHash, parseDigest, type DigestAlgorithm, type ParsedDigest } from '../oci/digest.ts';
import { MAX_MANIFEST_BYTES, parseManifest } from '../oci/manifest.ts';
import { isValidTag } from '../oci/names.ts';
import { PathNotFoundError, type BlobDriver, type ByteRange, type DriverWriter } from '../storage/driver.ts';
import { pathFor } from '../storage/paths.ts';
import { BlobGarbageCollectedError, MissingReferencesError, type ManifestRecord, type ManifestRef, type MetadataStore, type Referrer } from '../metadata/store.ts';

export interface ContentRange {
  start: number;
  end: number;
}

/** A body to consume: an async iterable of chunks (an IncomingMessage), with its declared length. */
export interface Body {
  stream: AsyncIterable<Buffer>;
  contentLength?: number;
}

interface HashState {
  hash: Hash;
  offset: number;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Policy checks run before content changes (quotas, tag immutability, …). A guard refuses by
 * throwing an OciError; it must not change anything itself. The management API calls the same
 * checks (through RegistryService.check*) before its own deletes.
 */
export interface RegistryGuard {
  /** bytes about to be linked into `repo` (a committed upload or a mount); `size` in bytes */
  beforeBlob?(e: { repo: string; digest: string; size: number }): Promise<void>;
  /** a manifest about to be stored (and tagged, when `tag` is set) */
  beforeManifestPut?(e: { repo: string; digest: string; tag?: string; size: number; refs: ManifestRef[] }): Promise<void>;
  /** a manifest about to be deleted by digest (its tags go with it) */
  beforeManifestDelete?(e: { repo: string; digest: string }): Promise<void>;
  /** a tag about to be deleted (the manifest stays) */
  beforeTagDelete?(e: { repo: string; tag: string }): Promise<void>;
}

export interface RegistryServiceOptions {
  store: MetadataStore;
  driver: BlobDriver;
  guards?: RegistryGuard[];
  /** allow `POST ?mount=<digest>` without `from` to link a blob the registry already has */
  autoMount?: boolean;
  /**
   * answer blob GETs with a redirect to a pre-signed URL of the storage (S3), so pulls bypass
   * the replicas (seconds the URL stays valid); needs a driver with presignedUrl
   */
  redirectTtlSeconds?: number;
}

export class RegistryService {
  private readonly store: MetadataStore;
  private readonly driver: BlobDriver;
  private readonly autoMount: boolean;
  /** running sha256 state per upload session, so PUT need not re-read the data */
  private readonly hashes = new Map<string, HashState>();
  /** one request at a time per upload session */
  private readonly locks = new Map<string, Promise<void>>();

  /** policy checks (quotas, immutability); add with addGuard() */
  private readonly guards: RegistryGuard[];

  constructor(opts: RegistryServiceOptions) {
    this.guards = [...(opts.guards ?? [])];
    this.store = opts.store;
    this.driver = opts.driver;
    // Commits re-check that the bytes are still there (a concurrent GC may have deleted them).
    this.store.blobExists ??= async (digest) => (await this.driver.stat(pathFor({ kind: 'blob', digest: parseDigest(digest) }))) !== null;
    this.autoMount = opts.autoMount ?? true;
    this.redirectTtlSeconds = opts.redirectTtlSeconds ?? 0;
  }

  private readonly redirectTtlSeconds: number;

  /** A pre-signed URL to redirect a blob GET to (after the caller checked access), or null. */
  blobRedirectUrl(digest: string): Promise<string | null> | null {
    if (!this.redirects) return null; // the common case: no promise, no await on the hot path
    const d = this.driver as BlobDriver & { presignedUrl: (p: string, ttl: number) => Promise<string> };
    return d.presignedUrl(pathFor({ kind: 'blob', digest: parseDigest(digest) }), this.redirectTtlSeconds);
  }

  /** Redirects configured and the driver can pre-sign. */
  get redirects(): boolean {
    return this.redirectTtlSeconds > 0 && typeof (this.driver as { presignedUrl?: unknown }).presignedUrl === 'function';
  }

  addGuard(g: RegistryGuard): void {
    this.guards.push(g);
  }

  async checkBlob(e: { repo: string; digest: string; size: number }): Promise<void> {
    for (const g of this.guards) await g.beforeBlob?.(e);
  }
  async checkManifestPut(e: { repo: string; digest: string; tag?: string; size: number; refs: ManifestRef[] }): Promise<void> {
    for (const g of this.guards) await g.beforeManifestPut?.(e);
  }
  async checkManifestDelete(e: { repo: string; digest: string }): Promise<void> {
    for (const g of this.guards) await g.beforeManifestDelete?.(e);
  }
  async checkTagDelete(e: { repo: string; tag: string }): Promise<void> {
    for (const g of this.guards) await g.beforeTagDelete?.(e);
  }

  // ---------------------------------------------------------------- blobs

  async statBlob(repo: string, digest: string): Promise<{ size: number; digest: string }> {
    const d = parseDigest(digest);
    const b = await this.store.getLinkedBlob(repo, d.digest);
    if (!b) throw new OciError('BLOB_UNKNOWN', undefined, { detail: { digest } });
    return { size: b.size, digest: d.digest };
  }

  async openBlob(repo: string, digest: string, range?: ByteRange): Promise<Readable> {
    const d = parseDigest(digest);
    return this.driver.reader(pathFor({ kind: 'blob', digest: d }), range);
  }

  /** A local file for the blob when the driver has one (zero-copy reads). */
  blobLocalPath(digest: string): string | undefined {
    return this.driver.localPath?.(pathFor({ kind: 'blob', digest: parseDigest(digest) }));
  }

  async deleteBlob(repo: string, digest: string): Promise<void> {
    const d = parseDigest(digest);
    const r = await this.requireRepository(repo, 'BLOB_UNKNOWN');
    if (!(await this.store.unlinkBlob(r.id, d.digest))) throw new OciError('BLOB_UNKNOWN', undefined, { detail: { digest } });
  }

  // ---------------------------------------------------------------- uploads

  /**
   * Cross-repository mount; true when mounted, false when the caller should get a new session.
   * Without `from` (automatic mount) the blob is mounted only when a repository the caller may
   * read links it, so a mount never reveals content from elsewhere.
   */
  async mountBlob(repo: string, digest: string, from: string | undefined, canRead: (repo: string) => Promise<boolean> = async () => true): Promise<boolean> {
    const d = parseDigest(digest);
    let source: { size: number } | null = null;
    if (from !== undefined) {
      if (!(await canRead(from))) return false;
      source = await this.store.getLinkedBlob(from, d.digest);
    } else if (this.autoMount) {
      for (const other of await this.store.repositoriesLinking(d.digest, 50)) {
        if (other === repo || (await canRead(other))) {
          source = await this.store.getLinkedBlob(other, d.digest);
          if (source) break;
        }
      }
    }
    if (!source) return false;
    await this.checkBlob({ repo, digest: d.digest, size: source.size });
    const r = await this.store.ensureRepository(repo);
    return this.store.linkBlob(r.id, d.digest);
  }

  async startUpload(repo: string): Promise<string> {
    const r = await this.store.ensureRepository(repo);
    const id = randomUUID();
    // The empty data file marks the session in storage; no fsync: a session lost to a power
    // failure is simply unknown afterwards and the client starts again.
    const w = await this.driver.writer(pathFor({ kind: 'upload', id }));
    await w.commit({ sync: false });
    await this.store.createUpload(id, r.id);
    this.hashes.set(id, { hash: newHash('sha256'), offset: 0 });
    return id;
  }

  private async session(repo: string, id: string): Promise<{ id: string; repositoryId: number }> {
    if (!UUID_RE.test(id)) throw new OciError('BLOB_UPLOAD_UNKNOWN', undefined, { detail: { uuid: id } });
    const u = await this.store.getUpload(id);
    if (!u || u.repository !== repo) throw new OciError('BLOB_UPLOAD_UNKNOWN', undefined, { detail: { uuid: id } });
    return { id, repositoryId: u.repositoryId };
  }

  private async withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    while (this.locks.has(id)) await this.locks.get(id);
    let release!: () => void;
    this.locks.set(id, new Promise<void>((r) => (release = r)));
    try {
      return await fn();
    } finally {
      this.locks.delete(id);
      release();
    }
  }

  async uploadOffset(repo: string, id: string): Promise<number> {
    await this.session(repo, id);
    const st = await this.driver.stat(pathFor({ kind: 'upload', id }));
    if (!st) throw new OciError('BLOB_UPLOAD_UNKNOWN', undefined, { detail: { uuid: id } });
    return st.size;
  }

  /** PATCH: append a chunk (Content-Range must start at the current offset). Returns the new size. */
  async appendUpload(repo: string, id: string, body: Body, range?: ContentRange): Promise<number> {
    await this.session(repo, id);
    return this.withLock(id, async () => {
      const path = pathFor({ kind: 'upload', id });
      const st = await this.driver.stat(path);
      if (!st) throw new OciError('BLOB_UPLOAD_UNKNOWN', undefined, { detail: { uuid: id } });
      if (range) {
        checkChunkStart(repo, id, range, st.size);
        const want = range.end - range.start + 1;
        if (body.contentLength !== undefined && body.contentLength !== want) {
          throw new OciError('SIZE_INVALID', `Content-Length ${body.contentLength} does not match Content-Range ${range.start}-${range.end}`);
        }
      }
      // No fsync and no database write per chunk: the data file's size is the offset and its
      // mtime the session's age. After a power loss the status endpoint reports what really
      // reached the disk and the client resumes from there; the final PUT verifies the digest.
      return this.appendBody(id, path, st.size, body, range ? range.end - range.start + 1 : undefined);
    });
  }

  private async appendBody(id: string, path: string, startSize: number, body: Body, expect?: number): Promise<number> {
    let hs = this.hashes.get(id);
    if (hs && hs.offset !== startSize) {
      this.hashes.delete(id);
      hs = undefined;
    }
    const w = await this.driver.writer(path, { append: true });
    // Hash into a copy until the chunk is committed, so a failed chunk leaves the state intact.
    const hash = hs ? hs.hash.copy() : undefined;
    let n: number;
    try {
      n = await pump(body, w, hash, expect);
      await w.commit({ sync: false });
    } catch (e) {
      await w.cancel();
      throw e;
    }
    if (hash) this.hashes.set(id, { hash, offset: startSize + n });
    return startSize + n;
  }

  /** PUT ?digest=: optional final chunk, verify, move into the blob store, link. */
  async finishUpload(repo: string, id: string, digest: string, body: Body | null, range?: ContentRange): Promise<string> {
    const d = parseDigest(digest);
    const sess = await this.session(repo, id);
    return this.withLock(id, async () => {
      const path = pathFor({ kind: 'upload', id });
      const st = await this.driver.stat(path);
      if (!st) throw new OciError('BLOB_UPLOAD_UNKNOWN', undefined, { detail: { uuid: id } });
      if (range) checkChunkStart(repo, id, range, st.size);
      const size = body && (body.contentLength ?? 1) > 0 ? await this.appendBody(id, path, st.size, body, range ? range.end - range.start + 1 : undefined) : st.size;
      const actual = await this.digestOfUpload(id, path, size, d.algorithm);
      if (actual !== d.digest) {
        // The session's bytes are now known to be wrong (possibly including a final chunk sent
        // with this PUT): end it, as the Go reference does, so a retry starts clean.
        await this.store.deleteUpload(id);
        this.hashes.delete(id);
        await this.driver.delete(path);
        throw new OciError('DIGEST_INVALID', 'provided digest did not match uploaded content', { detail: { expected: d.digest, actual } });
      }
      await this.commitBlobFile(repo, path, d, sess.repositoryId, size, id);
      this.hashes.delete(id);
      return d.digest;
    });
  }

  private async digestOfUpload(id: string, path: string, size: number, alg: DigestAlgorithm): Promise<string> {
    const hs = this.hashes.get(id);
    if (alg === 'sha256' && hs && hs.offset === size) return `sha256:${hs.hash.copy().digest('hex')}`;
    // After a restart (or another algorithm) the running state is gone: read the data again.
    const h = newHash(alg);
    if (size > 0) for await (const c of await this.driver.reader(path)) h.update(c as Buffer);
    return `${alg}:${h.digest('hex')}`;
  }

  /** Move verified bytes into the blob store, then record and link them. */
  private async commitBlobFile(repo: string, from: string, d: ParsedDigest, repositoryId: number, size: number, uploadId?: string): Promise<void> {
    await this.checkBlob({ repo, digest: d.digest, size });
    const dest = pathFor({ kind: 'blob', digest: d });
    const existing = await this.driver.stat(dest);
    let placed = false;
    if (existing && existing.size === size) {
      // Another upload of the same bytes got there first and may not have synced yet (or a GC
      // deletes them right now: then ours go into place after all).
      try {
        await this.driver.sync(dest, { entry: true });
        placed = true;
      } catch (e) {
        if (!(e instanceof PathNotFoundError)) throw e;
      }
      if (placed) await this.driver.delete(from);
    }
    if (!placed) {
      if (uploadId) await this.driver.sync(from);
      await this.driver.move(from, dest);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await this.store.commitBlob(repositoryId, d.digest, size, uploadId);
        return;
      } catch (e) {
        if (!(e instanceof BlobGarbageCollectedError)) throw e;
        // The bytes were missing when the commit looked. Either GC deleted them between the
        // rename and this commit, or a store without atomic overwrites (s3rver, some
        // S3-compatible servers) showed the object as absent while a concurrent upload of the
        // same digest rewrote it. The commit re-checks under its transaction, so retrying is
        // safe whenever the bytes are (again) in place; otherwise the session's data is gone:
        // end it, the client's retry uploads again and succeeds.
        if (attempt < 3) {
          await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
          const st = await this.driver.stat(dest);
          if (st && st.size === size) continue;
        }
        if (uploadId) await this.store.deleteUpload(uploadId);
        throw new OciError('BLOB_UPLOAD_INVALID', e.message, { detail: { digest: d.digest } });
      }
    }
  }

  /** Drop in-memory state of a session removed elsewhere (purge). */
  forgetUpload(id: string): void {
    this.hashes.delete(id);
  }

  async cancelUpload(repo: string, id: string): Promise<void> {
    await this.session(repo, id);
    await this.withLock(id, async () => {
      await this.store.deleteUpload(id);
      this.hashes.delete(id);
      await this.driver.delete(pathFor({ kind: 'upload', id }));
    });
  }

  /** POST ?digest= with the whole blob as body. */
  async monolithicUpload(repo: string, digest: string, body: Body): Promise<string> {
    const d = parseDigest(digest);
    const tmp = pathFor({ kind: 'tmp', id: randomUUID() });
    const w = await this.driver.writer(tmp);
    const h = newHash(d.algorithm);
    let n: number;
    try {
      n = await pump(body, w, h);
      const actual = `${d.algorithm}:${h.digest('hex')}`;
      if (actual !== d.digest) throw new OciError('DIGEST_INVALID', 'provided digest did not match uploaded content', { detail: { expected: d.digest, actual } });
      await w.commit();
    } catch (e) {
      await w.cancel();
      throw e;
    }
    try {
      const r = await this.store.ensureRepository(repo);
      await this.commitBlobFile(repo, tmp, d, r.id, n);
    } catch (e) {
      await this.driver.delete(tmp);
      throw e;
    }
    return d.digest;
  }

  // ---------------------------------------------------------------- manifests

  async putManifest(repo: string, reference: string, content: Buffer, contentType: string | undefined): Promise<{ digest: string; subject: string | null }> {
    if (content.length > MAX_MANIFEST_BYTES) {
      throw new OciError('SIZE_INVALID', `manifest exceeds ${MAX_MANIFEST_BYTES} bytes`, { status: 413 });
    }
    let digest: string;
    let tag: string | undefined;
    if (reference.includes(':')) {
      const d = parseDigest(reference);
      digest = digestOf(content, d.algorithm);
      if (digest !== d.digest) throw new OciError('DIGEST_INVALID', 'manifest digest does not match the reference', { detail: { expected: d.digest, actual: digest } });
    } else {
      if (!isValidTag(reference)) throw new OciError('TAG_INVALID', 'invalid tag', { detail: { tag: reference } });
      digest = digestOf(content);
      tag = reference;
    }
    const m = parseManifest(content, contentType);
    const refs: ManifestRef[] = [];
    if (m.kind === 'image') {
      m.blobs.forEach((b, i) => refs.push({ digest: b.digest, kind: i === 0 ? 'config' : 'layer', size: b.size }));
    }
    for (const c of m.manifests) refs.push({ digest: c.digest, kind: 'manifest', size: c.size });
    if (m.subject) refs.push({ digest: m.subject.digest, kind: 'subject', size: m.subject.size });
    await this.checkManifestPut({ repo, digest, tag, size: content.length, refs });
    try {
      await this.store.putManifest({
        repository: repo,
        digest,
        mediaType: m.mediaType,
        artifactType: m.artifactType,
        subjectDigest: m.subject?.digest ?? null,
        annotations: m.annotations,
        content,
        refs,
        tag,
      });
    } catch (e) {
      if (e instanceof MissingReferencesError) {
        throw new OciError('MANIFEST_BLOB_UNKNOWN', undefined, { detail: e.missing.map((x) => ({ digest: x.digest, kind: x.kind })) });
      }
      throw e;
    }
    return { digest, subject: m.subject?.digest ?? null };
  }

  async getManifest(repo: string, reference: string): Promise<ManifestRecord> {
    let m: ManifestRecord | null;
    if (reference.includes(':')) {
      const d = parseDigest(reference);
      m = await this.store.getManifestByDigest(repo, d.digest);
    } else {
      // A reference that is not a valid tag cannot name anything stored: unknown, as the
      // conformance suite expects (404), rather than a 400.
      m = isValidTag(reference) ? await this.store.getManifestByTag(repo, reference) : null;
    }
    if (!m) throw new OciError('MANIFEST_UNKNOWN', undefined, { detail: { name: repo, reference } });
    return m;
  }

  async deleteManifest(repo: string, reference: string): Promise<void> {
    const r = await this.requireRepository(repo, 'MANIFEST_UNKNOWN');
    if (reference.includes(':')) {
      const d = parseDigest(reference);
      await this.checkManifestDelete({ repo, digest: d.digest });
      if (!(await this.store.deleteManifest(r.id, d.digest))) throw new OciError('MANIFEST_UNKNOWN', undefined, { detail: { reference } });
    } else {
      if (!isValidTag(reference)) throw new OciError('TAG_INVALID', 'invalid tag', { detail: { tag: reference } });
      await this.checkTagDelete({ repo, tag: reference });
      if (!(await this.store.deleteTag(r.id, reference))) throw new OciError('MANIFEST_UNKNOWN', undefined, { detail: { reference } });
    }
  }

  // ---------------------------------------------------------------- listing

  async listTags(repo: string, n: number, last?: string): Promise<string[]> {
    const r = await this.requireRepository(repo, 'NAME_UNKNOWN');
    return this.store.listTags(r.id, n, last);
  }

  async listReferrers(repo: string, digest: string, artifactType?: string): Promise<Referrer[]> {
    const d = parseDigest(digest);
    const r = await this.store.getRepository(repo);
    if (!r) return [];
    return this.store.listReferrers(r.id, d.digest, artifactType);
  }

  async catalog(n: number, last?: string): Promise<string[]> {
    return this.store.listRepositories(n, last);
  }

  private async requireRepository(repo: string, code: 'NAME_UNKNOWN' | 'BLOB_UNKNOWN' | 'MANIFEST_UNKNOWN') {
    const r = await this.store.getRepository(repo);
    if (!r) throw new OciError(code, code === 'NAME_UNKNOWN' ? undefined : 'repository name not known to registry', { detail: { name: repo } });
    return r;
  }
}

/** 416 for a chunk that does not start where the upload is, with the range to resume from. */
function checkChunkStart(repo: string, id: string, range: ContentRange, size: number): void {
  if (range.start === size) return;
  throw new OciError('RANGE_INVALID', `chunk starts at ${range.start}, upload is at ${size}`, {
    status: 416,
    detail: { offset: size },
    headers: { Range: `0-${Math.max(0, size - 1)}`, Location: `/v2/${repo}/blobs/uploads/${id}` },
  });
}

/**
 * Stream a body into a writer, hashing as it goes; checks the byte count against
 * Content-Length and (for chunks) the length the Content-Range announced. Returns the count.
 */
async function pump(body: Body, w: DriverWriter, hash: Hash | undefined, expect?: number): Promise<number> {
  let n = 0;
  for await (const chunk of body.stream) {
    n += chunk.length;
    if (expect !== undefined && n > expect) throw new OciError('SIZE_INVALID', 'body is longer than Content-Range');
    hash?.update(chunk);
    await w.write(chunk);
  }
  if (body.contentLength !== undefined && n !== body.contentLength) {
    throw new OciError('SIZE_INVALID', `received ${n} bytes, Content-Length was ${body.contentLength}`);
  }
  if (expect !== undefined && n !== expect) throw new OciError('SIZE_INVALID', `received ${n} bytes, Content-Range announced ${expect}`);
  return n;
}
