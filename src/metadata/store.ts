// MetadataStore: repositories, blob records and links, manifests with their references, tags,
// upload sessions. One implementation over Kysely for SQLite and PostgreSQL; every multi-row
// change runs in one transaction.
import { Kysely, Migrator, sql } from 'kysely';
import type { Database } from './schema.ts';
import { migrationProvider, type Dialect } from './migrations.ts';

export interface RepositoryRow {
  id: number;
  name: string;
}

export interface ManifestRecord {
  digest: string;
  mediaType: string;
  size: number;
  content: Buffer;
  subjectDigest: string | null;
  artifactType: string | null;
}

export interface ManifestRef {
  digest: string;
  kind: 'config' | 'layer' | 'manifest' | 'subject';
  size: number;
}

export interface PutManifestInput {
  /** the repository, created in the same transaction when the manifest is accepted */
  repository: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  subjectDigest: string | null;
  annotations: Record<string, string> | null;
  content: Buffer;
  refs: ManifestRef[];
  tag?: string;
}

export interface Referrer {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export class MissingReferencesError extends Error {
  constructor(readonly missing: ManifestRef[]) {
    super(`manifest references unknown content: ${missing.map((m) => m.digest).join(', ')}`);
  }
}

const now = () => Date.now();

export interface MetadataStoreOptions {
  dialect: Dialect;
  db: Kysely<Database>;
  close?: () => Promise<void>;
}

export class MetadataStore {
  readonly dialect: Dialect;
  readonly db: Kysely<Database>;
  private readonly closeFn?: () => Promise<void>;

  constructor(opts: MetadataStoreOptions) {
    this.dialect = opts.dialect;
    this.db = opts.db;
    this.closeFn = opts.close;
  }

  async migrate(): Promise<void> {
    const migrator = new Migrator({ db: this.db, provider: migrationProvider(this.dialect), migrationTableName: 'wharf_migrations', migrationLockTableName: 'wharf_migrations_lock' });
    const { error, results } = await migrator.migrateToLatest();
    const failed = results?.find((r) => r.status === 'Error');
    if (error || failed) throw new Error(`database migration failed${failed ? ` at ${failed.migrationName}` : ''}: ${(error as Error)?.message ?? error}`);
  }

  async close(): Promise<void> {
    await this.db.destroy();
    await this.closeFn?.();
  }

  // ---- repositories ----

  async getRepository(name: string): Promise<RepositoryRow | null> {
    const r = await this.db.selectFrom('repositories').select(['id', 'name']).where('name', '=', name).executeTakeFirst();
    return r ? { id: Number(r.id), name: r.name } : null;
  }

  async ensureRepository(name: string, trx: Kysely<Database> = this.db): Promise<RepositoryRow> {
    const existing = await trx.selectFrom('repositories').select(['id', 'name']).where('name', '=', name).executeTakeFirst();
    if (existing) return { id: Number(existing.id), name: existing.name };
    await trx.insertInto('repositories').values({ name, created_at: now() }).onConflict((oc) => oc.column('name').doNothing()).execute();
    const r = await trx.selectFrom('repositories').select(['id', 'name']).where('name', '=', name).executeTakeFirstOrThrow();
    return { id: Number(r.id), name: r.name };
  }

  /** Repositories that hold content (a link or a manifest), sorted, after `last`, at most n. */
  async listRepositories(n: number, last?: string): Promise<string[]> {
    let q = this.db
      .selectFrom('repositories as r')
      .select('r.name')
      .where((eb) =>
        eb.or([
          eb.exists(eb.selectFrom('manifests as m').select('m.digest').whereRef('m.repository_id', '=', 'r.id')),
          eb.exists(eb.selectFrom('repository_blobs as b').select('b.digest').whereRef('b.repository_id', '=', 'r.id')),
        ]),
      )
      .orderBy(this.bytewise('r.name'))
      .limit(n);
    if (last !== undefined) q = q.where(this.bytewise('r.name'), '>', last);
    return (await q.execute()).map((r) => r.name);
  }

  /** A column compared byte-wise (PostgreSQL would otherwise use the database locale's collation). */
  private bytewise(column: string) {
    return this.dialect === 'postgres' ? sql<string>`${sql.ref(column)} collate "C"` : sql<string>`${sql.ref(column)}`;
  }

  // ---- blobs and links ----

  async getBlob(digest: string): Promise<{ size: number } | null> {
    const r = await this.db.selectFrom('blobs').select('size').where('digest', '=', digest).executeTakeFirst();
    return r ? { size: Number(r.size) } : null;
  }

  /** Names of (up to `limit`) repositories that link a blob. */
  async repositoriesLinking(digest: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('repository_blobs as l')
      .innerJoin('repositories as r', 'r.id', 'l.repository_id')
      .select('r.name')
      .where('l.digest', '=', digest)
      .limit(limit)
      .execute();
    return rows.map((r) => r.name);
  }

  /** The blob as the repository sees it: only through its link. */
  async getLinkedBlob(repository: string, digest: string): Promise<{ size: number } | null> {
    const r = await this.db
      .selectFrom('repository_blobs as l')
      .innerJoin('repositories as r', 'r.id', 'l.repository_id')
      .innerJoin('blobs as b', 'b.digest', 'l.digest')
      .select('b.size')
      .where('r.name', '=', repository)
      .where('l.digest', '=', digest)
      .executeTakeFirst();
    return r ? { size: Number(r.size) } : null;
  }

  private blobCommits: BlobCommit[] = [];
  private blobCommitRunning = false;

  /**
   * Record a verified blob (idempotent) and link it into a repository; with `uploadId`, the
   * finished session's row goes in the same transaction. Concurrent calls are group-committed:
   * all that arrive while one transaction runs share the next one (one fsync for many blobs),
   * which is what keeps many parallel pushes fast on a durable database.
   */
  commitBlob(repositoryId: number, digest: string, size: number, uploadId?: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.blobCommits.push({ repositoryId, digest, size, uploadId, resolve, reject });
      if (!this.blobCommitRunning) void this.flushBlobCommits();
    });
  }

  private async flushBlobCommits(): Promise<void> {
    this.blobCommitRunning = true;
    try {
      while (this.blobCommits.length) {
        const batch = this.blobCommits.splice(0, 500);
        try {
          await this.writeTx((trx) => insertBlobCommits(trx, batch));
          for (const b of batch) b.resolve();
        } catch (e) {
          if (batch.length === 1) {
            batch[0].reject(e);
            continue;
          }
          // One bad entry must not fail the others: retry them one by one.
          for (const b of batch) {
            await this.writeTx((trx) => insertBlobCommits(trx, [b])).then(b.resolve, b.reject);
          }
        }
      }
    } finally {
      this.blobCommitRunning = false;
    }
  }

  /** Link an already stored blob into a repository; false if the blob is not stored. */
  async linkBlob(repositoryId: number, digest: string): Promise<boolean> {
    return this.writeTx(async (trx) => {
      const b = await trx.selectFrom('blobs').select('digest').where('digest', '=', digest).executeTakeFirst();
      if (!b) return false;
      await trx
        .insertInto('repository_blobs')
        .values({ repository_id: repositoryId, digest, created_at: now() })
        .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
        .execute();
      return true;
    });
  }

  async unlinkBlob(repositoryId: number, digest: string): Promise<boolean> {
    const r = await this.db.deleteFrom('repository_blobs').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // ---- upload sessions ----

  async createUpload(id: string, repositoryId: number): Promise<void> {
    const t = now();
    await this.db.insertInto('uploads').values({ id, repository_id: repositoryId, created_at: t, updated_at: t }).execute();
  }

  async getUpload(id: string): Promise<{ id: string; repository: string; repositoryId: number; createdAt: number } | null> {
    const r = await this.db
      .selectFrom('uploads as u')
      .innerJoin('repositories as r', 'r.id', 'u.repository_id')
      .select(['u.id', 'r.name', 'u.repository_id', 'u.created_at'])
      .where('u.id', '=', id)
      .executeTakeFirst();
    return r ? { id: r.id, repository: r.name, repositoryId: Number(r.repository_id), createdAt: Number(r.created_at) } : null;
  }

  async deleteUpload(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('uploads').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listUploads(): Promise<{ id: string; updatedAt: number }[]> {
    return (await this.db.selectFrom('uploads').select(['id', 'updated_at']).execute()).map((r) => ({ id: r.id, updatedAt: Number(r.updated_at) }));
  }

  // ---- manifests and tags ----

  /**
   * Store a manifest, its references and (optionally) a tag in one transaction. Every config,
   * layer and child manifest must already be in the repository, checked inside the transaction;
   * otherwise MissingReferencesError and nothing changes.
   */
  async putManifest(input: PutManifestInput): Promise<void> {
    await this.writeTx(async (trx) => {
      const repo = await trx.selectFrom('repositories').select('id').where('name', '=', input.repository).executeTakeFirst();
      if (!repo && input.refs.some((r) => r.kind !== 'subject')) {
        throw new MissingReferencesError(input.refs.filter((r) => r.kind !== 'subject'));
      }
      const m = { ...input, repositoryId: repo ? Number(repo.id) : (await this.ensureRepository(input.repository, trx)).id };
      const blobDigests = [...new Set(m.refs.filter((r) => r.kind === 'config' || r.kind === 'layer').map((r) => r.digest))];
      const childDigests = [...new Set(m.refs.filter((r) => r.kind === 'manifest').map((r) => r.digest))];
      const haveBlobs = await present(trx, 'repository_blobs', m.repositoryId, blobDigests);
      const haveManifests = await present(trx, 'manifests', m.repositoryId, childDigests);
      const missing = m.refs.filter(
        (r) => ((r.kind === 'config' || r.kind === 'layer') && !haveBlobs.has(r.digest)) || (r.kind === 'manifest' && !haveManifests.has(r.digest)),
      );
      if (missing.length) throw new MissingReferencesError(missing);
      const t = now();
      await trx
        .insertInto('manifests')
        .values({
          repository_id: m.repositoryId,
          digest: m.digest,
          media_type: m.mediaType,
          artifact_type: m.artifactType,
          subject_digest: m.subjectDigest,
          annotations: m.annotations ? JSON.stringify(m.annotations) : null,
          size: m.content.length,
          content: m.content,
          created_at: t,
        })
        .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
        .execute();
      const seen = new Set<string>();
      const refs = m.refs.filter((r) => {
        const k = `${r.kind}|${r.digest}`;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      });
      for (const chunk of chunks(refs, 200)) {
        await trx
          .insertInto('manifest_references')
          .values(chunk.map((r) => ({ repository_id: m.repositoryId, manifest_digest: m.digest, ref_digest: r.digest, ref_kind: r.kind, ref_size: r.size })))
          .onConflict((oc) => oc.columns(['repository_id', 'manifest_digest', 'ref_digest', 'ref_kind']).doNothing())
          .execute();
      }
      if (m.tag !== undefined) {
        await trx
          .insertInto('tags')
          .values({ repository_id: m.repositoryId, name: m.tag, manifest_digest: m.digest, created_at: t, updated_at: t })
          .onConflict((oc) => oc.columns(['repository_id', 'name']).doUpdateSet({ manifest_digest: m.digest, updated_at: t }))
          .execute();
      }
    });
  }

  async getManifestByDigest(repository: string, digest: string): Promise<ManifestRecord | null> {
    const r = await this.db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['m.digest', 'm.media_type', 'm.size', 'm.content', 'm.subject_digest', 'm.artifact_type'])
      .where('r.name', '=', repository)
      .where('m.digest', '=', digest)
      .executeTakeFirst();
    return r ? toManifest(r) : null;
  }

  async getManifestByTag(repository: string, tag: string): Promise<ManifestRecord | null> {
    const r = await this.db
      .selectFrom('tags as t')
      .innerJoin('repositories as r', 'r.id', 't.repository_id')
      .innerJoin('manifests as m', (j) => j.onRef('m.repository_id', '=', 't.repository_id').onRef('m.digest', '=', 't.manifest_digest'))
      .select(['m.digest', 'm.media_type', 'm.size', 'm.content', 'm.subject_digest', 'm.artifact_type'])
      .where('r.name', '=', repository)
      .where('t.name', '=', tag)
      .executeTakeFirst();
    return r ? toManifest(r) : null;
  }

  /** Delete a manifest (and the tags that point at it); false if it was not there. */
  async deleteManifest(repositoryId: number, digest: string): Promise<boolean> {
    return this.writeTx(async (trx) => {
      await trx.deleteFrom('tags').where('repository_id', '=', repositoryId).where('manifest_digest', '=', digest).execute();
      await trx.deleteFrom('manifest_references').where('repository_id', '=', repositoryId).where('manifest_digest', '=', digest).execute();
      const r = await trx.deleteFrom('manifests').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async deleteTag(repositoryId: number, tag: string): Promise<boolean> {
    const r = await this.db.deleteFrom('tags').where('repository_id', '=', repositoryId).where('name', '=', tag).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listTags(repositoryId: number, n: number, last?: string): Promise<string[]> {
    let q = this.db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).orderBy(this.bytewise('name')).limit(n);
    if (last !== undefined) q = q.where(this.bytewise('name'), '>', last);
    return (await q.execute()).map((r) => r.name);
  }

  async listReferrers(repositoryId: number, subject: string, artifactType?: string): Promise<Referrer[]> {
    let q = this.db
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'size', 'artifact_type', 'annotations'])
      .where('repository_id', '=', repositoryId)
      .where('subject_digest', '=', subject)
      .orderBy('created_at')
      .orderBy('digest');
    if (artifactType !== undefined) q = q.where('artifact_type', '=', artifactType);
    return (await q.execute()).map((r) => {
      const d: Referrer = { mediaType: r.media_type, digest: r.digest, size: Number(r.size) };
      if (r.artifact_type) d.artifactType = r.artifact_type;
      if (r.annotations) d.annotations = JSON.parse(r.annotations);
      return d;
    });
  }

  /** All references of a manifest (for tests, GC and scanning). */
  async manifestReferences(repositoryId: number, digest: string): Promise<ManifestRef[]> {
    const rows = await this.db
      .selectFrom('manifest_references')
      .select(['ref_digest', 'ref_kind', 'ref_size'])
      .where('repository_id', '=', repositoryId)
      .where('manifest_digest', '=', digest)
      .orderBy('ref_kind')
      .orderBy('ref_digest')
      .execute();
    return rows.map((r) => ({ digest: r.ref_digest, kind: r.ref_kind as ManifestRef['kind'], size: Number(r.ref_size) }));
  }

  /**
   * A write transaction. On SQLite it starts with BEGIN IMMEDIATE: the write lock is taken up
   * front, so concurrent writers from several processes (WHARF_WORKERS > 1) wait on the busy
   * timeout instead of failing with SQLITE_BUSY when a deferred read transaction tries to
   * upgrade to a write.
   */
  async writeTx<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    if (this.dialect !== 'sqlite') return this.db.transaction().execute(fn);
    return this.db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      try {
        const r = await fn(conn);
        await sql`commit`.execute(conn);
        return r;
      } catch (e) {
        await sql`rollback`.execute(conn).catch(() => {});
        throw e;
      }
    });
  }
}

function toManifest(r: { digest: string; media_type: string; size: number; content: Buffer; subject_digest: string | null; artifact_type: string | null }): ManifestRecord {
  return {
    digest: r.digest,
    mediaType: r.media_type,
    size: Number(r.size),
    content: Buffer.isBuffer(r.content) ? r.content : Buffer.from(r.content as Uint8Array),
    subjectDigest: r.subject_digest,
    artifactType: r.artifact_type,
  };
}

/** Which of `digests` have a row in `table` for the repository (in chunks of 500). */
async function present(db: Kysely<Database>, table: 'repository_blobs' | 'manifests', repositoryId: number, digests: string[]): Promise<Set<string>> {
  const have = new Set<string>();
  for (const chunk of chunks(digests, 500)) {
    const rows = await db.selectFrom(table).select('digest').where('repository_id', '=', repositoryId).where('digest', 'in', chunk).execute();
    for (const r of rows) have.add(r.digest);
  }
  return have;
}

interface BlobCommit {
  repositoryId: number;
  digest: string;
  size: number;
  uploadId?: string;
  resolve(): void;
  reject(e: unknown): void;
}

async function insertBlobCommits(trx: Kysely<Database>, batch: BlobCommit[]): Promise<void> {
  const t = now();
  const blobs = new Map(batch.map((b) => [b.digest, { digest: b.digest, size: b.size, created_at: t }]));
  await trx.insertInto('blobs').values([...blobs.values()]).onConflict((oc) => oc.column('digest').doNothing()).execute();
  const links = new Map(batch.map((b) => [`${b.repositoryId}|${b.digest}`, { repository_id: b.repositoryId, digest: b.digest, created_at: t }]));
  await trx
    .insertInto('repository_blobs')
    .values([...links.values()])
    .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
    .execute();
  const uploads = batch.flatMap((b) => (b.uploadId ? [b.uploadId] : []));
  if (uploads.length) await trx.deleteFrom('uploads').where('id', 'in', uploads).execute();
}

function* chunks<T>(a: T[], n: number): Generator<T[]> {
  for (let i = 0; i < a.length; i += n) yield a.slice(i, i + n);
}

