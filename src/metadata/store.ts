// MetadataStore: repositories, blob records and links, manifests with their references, tags,
// upload sessions. One implementation over Kysely for SQLite and PostgreSQL; every multi-row
// change runs in one transaction.
import { Kysely, Migrator, sql, type ExpressionBuilder } from 'kysely';
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

/**
 * A blob's bytes were deleted by garbage collection between the upload renaming them into the
 * store and the commit that records them (issue 4): the commit is refused, the client retries the
 * upload and then succeeds.
 */
export class BlobGarbageCollectedError extends Error {
  constructor(readonly digest: string) {
    super('blob was garbage-collected during the upload; retry');
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
  /**
   * Does the blob's file exist in storage? Set by RegistryService (which has the driver). Commits
   * of new or GC-marked blobs and links to GC-marked blobs check it inside their transaction, so
   * a row never becomes visible for bytes a concurrent GC deleted (see src/gc/gc.ts). Unset (unit
   * tests of the store alone): no check.
   */
  blobExists?: (digest: string) => Promise<boolean>;

  constructor(opts: MetadataStoreOptions) {
    this.dialect = opts.dialect;
    this.db = opts.db;
    this.closeFn = opts.close;
  }

  async migrate(): Promise<void> {
    // On PostgreSQL, Kysely looks for its migration tables in every schema unless told which one:
    // another schema of the same database holding wharf_migrations* would make it skip creating
    // ours. Pin them to the schema the connection writes to (search_path).
    const migrationTableSchema =
      this.dialect === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(this.db)).rows[0]?.s ?? undefined : undefined;
    const migrator = new Migrator({ db: this.db, provider: migrationProvider(this.dialect), migrationTableName: 'wharf_migrations', migrationLockTableName: 'wharf_migrations_lock', migrationTableSchema });
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
        let batch = this.blobCommits.splice(0, 500);
        try {
          // Items whose bytes GC deleted are refused alone; the rest commit (in a new transaction).
          for (;;) {
            const gone = await this.tryBlobCommits(batch);
            if (!gone.length) break;
            for (const b of gone) b.reject(new BlobGarbageCollectedError(b.digest));
            batch = batch.filter((b) => !gone.includes(b));
            if (!batch.length) break;
          }
          for (const b of batch) b.resolve();
        } catch (e) {
          if (batch.length === 1) {
            batch[0].reject(e);
            continue;
          }
          // One bad entry must not fail the others: retry them one by one.
          for (const b of batch) {
            await this.tryBlobCommits([b]).then((gone) => (gone.length ? b.reject(new BlobGarbageCollectedError(b.digest)) : b.resolve()), b.reject);
          }
        }
      }
    } finally {
      this.blobCommitRunning = false;
    }
  }

  /**
   * One group-commit transaction; the items whose bytes are gone (GC deleted them after the upload
   * renamed them into place) are returned and nothing is committed, so the caller retries without them.
   */
  private async tryBlobCommits(batch: BlobCommit[]): Promise<BlobCommit[]> {
    try {
      await this.writeTx((trx) => insertBlobCommits(trx, batch, this.dialect, this.blobExists));
      return [];
    } catch (e) {
      if (e instanceof BlobsGone) return batch.filter((b) => e.digests.has(b.digest));
      throw e;
    }
  }

  /**
   * Link an already stored blob into a repository; false if the blob is not stored. A link is a
   * new reference: it rescues a blob GC has marked (after checking its bytes are still there).
   */
  async linkBlob(repositoryId: number, digest: string): Promise<boolean> {
    try {
      return await this.writeTx(async (trx) => {
        // Clears a GC mark (locking the row on PostgreSQL, so a sweep of it waits or has finished).
        const rescued = await trx.updateTable('blobs').set({ gc_marked_at: null }).where('digest', '=', digest).where('gc_marked_at', 'is not', null).returning('digest').executeTakeFirst();
        if (rescued && this.blobExists && !(await this.blobExists(digest))) throw new BlobsGone(new Set([digest]));
        let q = trx.selectFrom('blobs').select('digest').where('digest', '=', digest);
        if (this.dialect === 'postgres') q = q.forShare();
        const b = await q.executeTakeFirst();
        if (!b) return false;
        await trx
          .insertInto('repository_blobs')
          .values({ repository_id: repositoryId, digest, created_at: now() })
          .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
          .execute();
        return true;
      });
    } catch (e) {
      if (e instanceof BlobsGone) return false;
      throw e;
    }
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
      // On PostgreSQL the links and children are share-locked: a GC deleting one of them (it
      // locks the row, then re-checks for references) either waits for this commit and sees its
      // references, or has deleted it already and the manifest is refused here.
      const lock = this.dialect === 'postgres';
      const haveBlobs = await present(trx, 'repository_blobs', m.repositoryId, blobDigests, lock);
      const haveManifests = await present(trx, 'manifests', m.repositoryId, childDigests, lock);
      const missing = m.refs.filter(
        (r) => ((r.kind === 'config' || r.kind === 'layer') && !haveBlobs.has(r.digest)) || (r.kind === 'manifest' && !haveManifests.has(r.digest)),
      );
      if (missing.length) throw new MissingReferencesError(missing);
      // New references rescue blobs a GC run has marked.
      for (const chunk of chunks(blobDigests, 500)) {
        await trx.updateTable('blobs').set({ gc_marked_at: null }).where('digest', 'in', chunk).where('gc_marked_at', 'is not', null).execute();
      }
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
        // PostgreSQL: lock an existing row (a GC deleting it as untagged waits, then sees the new
        // tag and references), or insert it again if that GC has just deleted it.
        .onConflict((oc) => (lock ? oc.columns(['repository_id', 'digest']).doUpdateSet({ size: m.content.length }) : oc.columns(['repository_id', 'digest']).doNothing()))
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

  // ---- management API (issue 3): repositories, artifacts and tags as Harbor shows them ----

  /** Upload sessions open in a repository. */
  async uploadsOf(repositoryId: number): Promise<string[]> {
    return (await this.db.selectFrom('uploads').select('id').where('repository_id', '=', repositoryId).execute()).map((r) => r.id);
  }

  /**
   * Delete a repository with its manifests, references, tags, blob links and upload sessions, in
   * one transaction; false if it was not there. Blobs stay in the global store (garbage
   * collection removes unreferenced ones).
   */
  async deleteRepository(name: string): Promise<boolean> {
    return this.writeTx(async (trx) => {
      const r = await trx.selectFrom('repositories').select('id').where('name', '=', name).executeTakeFirst();
      if (!r) return false;
      const id = Number(r.id);
      await trx.deleteFrom('tags').where('repository_id', '=', id).execute();
      await trx.deleteFrom('manifest_references').where('repository_id', '=', id).execute();
      await trx.deleteFrom('manifests').where('repository_id', '=', id).execute();
      await trx.deleteFrom('repository_blobs').where('repository_id', '=', id).execute();
      await trx.deleteFrom('uploads').where('repository_id', '=', id).execute();
      await trx.deleteFrom('repositories').where('id', '=', id).execute();
      return true;
    });
  }

  /** Bytes of the distinct blobs linked in the repositories `<project>/…`. */
  async projectStorageUsed(project: string): Promise<number> {
    const prefix = `${project}/`;
    const r = await this.db
      .selectFrom('blobs as b')
      .select((eb) => eb.fn.sum<number>('b.size').as('n'))
      .where('b.digest', 'in', (eb) =>
        eb
          .selectFrom('repository_blobs as l')
          .innerJoin('repositories as r', 'r.id', 'l.repository_id')
          .select('l.digest')
          .where(sql`substr(r.name, 1, ${prefix.length})`, '=', prefix),
      )
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /**
   * Top-level artifacts of a repository, newest first: manifests that are neither the child of an
   * index nor a referrer (Harbor's accessories) in the repository, unless tagged.
   */
  async listArtifacts(repositoryId: number, opts: { offset: number; limit: number }): Promise<{ items: ArtifactRecord[]; total: number }> {
    const q = this.db
      .selectFrom('manifests as m')
      .where('m.repository_id', '=', repositoryId)
      .where(topLevelArtifact);
    const total = Number((await q.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const rows = await q
      .select(['m.digest', 'm.media_type', 'm.size', 'm.content', 'm.subject_digest', 'm.artifact_type', 'm.annotations', 'm.created_at'])
      .orderBy('m.created_at', 'desc')
      .orderBy('m.digest')
      .offset(opts.offset)
      .limit(opts.limit)
      .execute();
    return { items: rows.map(toArtifact), total };
  }

  /** One manifest of a repository with its push time and annotations. */
  async getArtifact(repositoryId: number, digest: string): Promise<ArtifactRecord | null> {
    const r = await this.db
      .selectFrom('manifests as m')
      .select(['m.digest', 'm.media_type', 'm.size', 'm.content', 'm.subject_digest', 'm.artifact_type', 'm.annotations', 'm.created_at'])
      .where('m.repository_id', '=', repositoryId)
      .where('m.digest', '=', digest)
      .executeTakeFirst();
    return r ? toArtifact(r) : null;
  }

  /** The digest a tag points at, or null. */
  async tagDigest(repositoryId: number, tag: string): Promise<string | null> {
    const r = await this.db.selectFrom('tags').select('manifest_digest').where('repository_id', '=', repositoryId).where('name', '=', tag).executeTakeFirst();
    return r ? r.manifest_digest : null;
  }

  /** Tags pointing at any of `digests`, by name. */
  async tagsOf(repositoryId: number, digests: string[]): Promise<TagRecord[]> {
    const out: TagRecord[] = [];
    for (const chunk of chunks([...new Set(digests)], 500)) {
      const rows = await this.db
        .selectFrom('tags')
        .select(['name', 'manifest_digest', 'created_at', 'updated_at'])
        .where('repository_id', '=', repositoryId)
        .where('manifest_digest', 'in', chunk)
        .execute();
      for (const r of rows) out.push({ name: r.name, digest: r.manifest_digest, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Tag a manifest unless the tag exists in the repository (on any manifest). */
  async createTag(repositoryId: number, name: string, digest: string): Promise<'created' | 'exists' | 'no-manifest'> {
    return this.writeTx(async (trx) => {
      const m = await trx.selectFrom('manifests').select('digest').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
      if (!m) return 'no-manifest';
      const t = now();
      const r = await trx
        .insertInto('tags')
        .values({ repository_id: repositoryId, name, manifest_digest: digest, created_at: t, updated_at: t })
        .onConflict((oc) => oc.columns(['repository_id', 'name']).doNothing())
        .executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0) > 0 ? 'created' : 'exists';
    });
  }

  /** Remove a tag only if it points at `digest`. */
  async deleteTagOf(repositoryId: number, name: string, digest: string): Promise<boolean> {
    const r = await this.db.deleteFrom('tags').where('repository_id', '=', repositoryId).where('name', '=', name).where('manifest_digest', '=', digest).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /**
   * Delete an artifact as Harbor does, in one transaction: the manifest with its tags, plus the
   * children of an index that nothing else references and nobody tagged, plus the referrers
   * (accessories) of everything deleted. An index child cannot be deleted on its own while its
   * index exists ('referenced'). Blobs are left for garbage collection.
   */
  async deleteArtifact(repositoryId: number, digest: string): Promise<{ result: 'deleted' | 'not-found' | 'referenced'; deleted: string[] }> {
    return this.writeTx(async (trx) => {
      const m = await trx.selectFrom('manifests').select('digest').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
      if (!m) return { result: 'not-found' as const, deleted: [] };
      const parent = await trx
        .selectFrom('manifest_references')
        .select('manifest_digest')
        .where('repository_id', '=', repositoryId)
        .where('ref_kind', '=', 'manifest')
        .where('ref_digest', '=', digest)
        .where('manifest_digest', '!=', digest)
        .executeTakeFirst();
      if (parent) return { result: 'referenced' as const, deleted: [] };
      const doomed = new Set<string>([digest]);
      const queue = [digest];
      while (queue.length) {
        const d = queue.shift()!;
        const children = await trx.selectFrom('manifest_references').select('ref_digest').where('repository_id', '=', repositoryId).where('manifest_digest', '=', d).where('ref_kind', '=', 'manifest').execute();
        for (const { ref_digest: child } of children) {
          if (doomed.has(child)) continue;
          const tagged = await trx.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).where('manifest_digest', '=', child).executeTakeFirst();
          if (tagged) continue;
          const parents = await trx.selectFrom('manifest_references').select('manifest_digest').where('repository_id', '=', repositoryId).where('ref_kind', '=', 'manifest').where('ref_digest', '=', child).execute();
          if (parents.some((p) => !doomed.has(p.manifest_digest))) continue;
          const exists = await trx.selectFrom('manifests').select('digest').where('repository_id', '=', repositoryId).where('digest', '=', child).executeTakeFirst();
          if (!exists) continue;
          doomed.add(child);
          queue.push(child);
        }
        const referrers = await trx.selectFrom('manifests').select('digest').where('repository_id', '=', repositoryId).where('subject_digest', '=', d).execute();
        for (const { digest: r } of referrers) {
          if (doomed.has(r)) continue;
          doomed.add(r);
          queue.push(r);
        }
      }
      const all = [...doomed];
      for (const chunk of chunks(all, 500)) {
        await trx.deleteFrom('tags').where('repository_id', '=', repositoryId).where('manifest_digest', 'in', chunk).execute();
        await trx.deleteFrom('manifest_references').where('repository_id', '=', repositoryId).where('manifest_digest', 'in', chunk).execute();
        await trx.deleteFrom('manifests').where('repository_id', '=', repositoryId).where('digest', 'in', chunk).execute();
      }
      return { result: 'deleted' as const, deleted: all };
    });
  }

  /**
   * A write transaction. On SQLite it starts with BEGIN IMMEDIATE: the write lock is taken up
   * front, so concurrent writers from several processes (WHARF_WORKERS > 1) wait on the busy
   * timeout instead of failing with SQLITE_BUSY when a deferred read transaction tries to
   * upgrade to a write.
   */
  async writeTx<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    if (this.dialect !== 'sqlite') {
      // PostgreSQL may abort one of two transactions that lock rows in conflicting orders
      // (deadlock_detected) or conflict under serialization (serialization_failure); both are
      // safe to run again from the start, so retry a few times before failing the request.
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.db.transaction().execute(fn);
        } catch (e) {
          const code = (e as { code?: string })?.code;
          if ((code !== '40P01' && code !== '40001') || attempt >= 4) throw e;
          await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
        }
      }
    }
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

  // ---- tag retention (issue 4) ----

  /**
   * Record pulls, for retention's "most recently pulled" and "pulled within N days": set each
   * manifest's pulled_at to `at` unless it already holds a later time. One statement per 300
   * entries (src/retention/pull-tracker.ts batches them); entries whose repository or manifest is
   * gone are ignored. A (repository, digest) pair must appear at most once per call.
   */
  async setPulledAt(entries: { repository: string; digest: string; at: number }[]): Promise<void> {
    for (const chunk of chunks(entries, 300)) {
      const values = sql.join(chunk.map((e) => sql`(cast(${e.repository} as text), cast(${e.digest} as text), cast(${Math.trunc(e.at)} as bigint))`));
      await sql`update manifests set pulled_at = v.column3
        from (values ${values}) as v, repositories as r
        where r.name = v.column1 and manifests.repository_id = r.id and manifests.digest = v.column2
          and (manifests.pulled_at is null or manifests.pulled_at < v.column3)`.execute(this.db);
    }
  }

  /** The repositories of a project (`<project>/…`) that hold manifests, by name. */
  async repositoriesOfProject(project: string): Promise<RepositoryRow[]> {
    const prefix = `${project}/`;
    const rows = await this.db
      .selectFrom('repositories as r')
      .select(['r.id', 'r.name'])
      .where(sql`substr(r.name, 1, ${prefix.length})`, '=', prefix)
      .where((eb) => eb.exists(eb.selectFrom('manifests as m').select('m.digest').whereRef('m.repository_id', '=', 'r.id')))
      .orderBy(this.bytewise('r.name'))
      .execute();
    return rows.map((r) => ({ id: Number(r.id), name: r.name }));
  }

  /**
   * What tag retention decides on in a repository: the top-level artifacts (the same set
   * listArtifacts shows: not an index child nor a referrer, unless tagged) with push time, last
   * pull and tags (each with the time it was last pointed at the artifact). Newest first.
   */
  async retentionCandidates(repositoryId: number): Promise<{ digest: string; createdAt: number; pulledAt: number | null; tags: { name: string; updatedAt: number }[] }[]> {
    const rows = await this.db
      .selectFrom('manifests as m')
      .select(['m.digest', 'm.created_at', 'm.pulled_at'])
      .where('m.repository_id', '=', repositoryId)
      .where(topLevelArtifact)
      .orderBy('m.created_at', 'desc')
      .orderBy('m.digest')
      .execute();
    const tags = new Map<string, { name: string; updatedAt: number }[]>();
    for (const t of await this.db.selectFrom('tags').select(['name', 'manifest_digest', 'updated_at']).where('repository_id', '=', repositoryId).execute()) {
      const l = tags.get(t.manifest_digest);
      const v = { name: t.name, updatedAt: Number(t.updated_at) };
      if (l) l.push(v);
      else tags.set(t.manifest_digest, [v]);
    }
    return rows.map((r) => ({
      digest: r.digest,
      createdAt: Number(r.created_at),
      pulledAt: r.pulled_at === null || r.pulled_at === undefined ? null : Number(r.pulled_at),
      tags: (tags.get(r.digest) ?? []).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    }));
  }
}

export interface ArtifactRecord extends ManifestRecord {
  annotations: Record<string, string> | null;
  createdAt: number;
}

export interface TagRecord {
  name: string;
  digest: string;
  createdAt: number;
  updatedAt: number;
}

function toArtifact(r: { digest: string; media_type: string; size: number; content: Buffer; subject_digest: string | null; artifact_type: string | null; annotations: string | null; created_at: number }): ArtifactRecord {
  let annotations: Record<string, string> | null = null;
  try {
    annotations = r.annotations ? JSON.parse(r.annotations) : null;
  } catch {
    annotations = null;
  }
  return { ...toManifest(r), annotations, createdAt: Number(r.created_at) };
}

/**
 * What the API lists as an artifact of its own (`m` = manifests): tagged, or neither a child of an
 * index in the repository nor a referrer (those show under their parent / subject).
 */
function topLevelArtifact(eb: ExpressionBuilder<Database & { m: Database['manifests'] }, 'm'>) {
  return eb.or([
    eb.and([
      eb('m.subject_digest', 'is', null),
      eb.not(
        eb.exists(
          eb
            .selectFrom('manifest_references as x')
            .select('x.ref_digest')
            .whereRef('x.repository_id', '=', 'm.repository_id')
            .whereRef('x.ref_digest', '=', 'm.digest')
            .where('x.ref_kind', '=', 'manifest'),
        ),
      ),
    ]),
    eb.exists(eb.selectFrom('tags as t').select('t.name').whereRef('t.repository_id', '=', 'm.repository_id').whereRef('t.manifest_digest', '=', 'm.digest')),
  ]);
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

/** Which of `digests` have a row in `table` for the repository (in chunks of 500); `lock`: FOR SHARE, in digest order (PostgreSQL). */
async function present(db: Kysely<Database>, table: 'repository_blobs' | 'manifests', repositoryId: number, digests: string[], lock = false): Promise<Set<string>> {
  const have = new Set<string>();
  for (const chunk of chunks(lock ? [...digests].sort() : digests, 500)) {
    let q = db.selectFrom(table).select('digest').where('repository_id', '=', repositoryId).where('digest', 'in', chunk);
    if (lock) q = q.orderBy('digest').forShare();
    const rows = await q.execute();
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

/** Thrown inside a transaction (rolling it back) when blobs' bytes are missing from storage. */
class BlobsGone extends Error {
  constructor(readonly digests: Set<string>) {
    super('blob bytes missing from storage');
  }
}

/**
 * The group commit's transaction. A new reference to a blob rescues it from GC: the upsert clears
 * gc_marked_at. A row that did not exist, or was marked, is only committed if its bytes are still
 * in storage, checked after the upsert (which waits for a concurrent GC sweep of the row, or for
 * GC's placeholder row while it deletes an orphan file): otherwise BlobsGone. A row that existed
 * unmarked needs no check: GC deletes files only of rows it has marked and locked.
 */
async function insertBlobCommits(trx: Kysely<Database>, batch: BlobCommit[], dialect: Dialect, blobExists?: (digest: string) => Promise<boolean>): Promise<void> {
  const t = now();
  const blobs = new Map(batch.map((b) => [b.digest, { digest: b.digest, size: b.size, created_at: t }]));
  const digests = [...blobs.keys()].sort();
  const live = new Set<string>();
  if (blobExists) {
    for (const chunk of chunks(digests, 500)) {
      // Sorted row locks on PostgreSQL (no deadlock between concurrent group commits): a GC sweep
      // of these rows now waits for this transaction.
      let q = trx.selectFrom('blobs').select(['digest', 'gc_marked_at']).where('digest', 'in', chunk).orderBy('digest');
      if (dialect === 'postgres') q = q.forUpdate();
      for (const r of await q.execute()) if (r.gc_marked_at === null) live.add(r.digest);
    }
  }
  for (const chunk of chunks([...blobs.values()], 500)) {
    await trx
      .insertInto('blobs')
      .values(chunk)
      .onConflict((oc) => oc.column('digest').doUpdateSet({ gc_marked_at: null }).where('blobs.gc_marked_at', 'is not', null))
      .execute();
  }
  if (blobExists) {
    const check = digests.filter((d) => !live.has(d));
    const gone = new Set<string>();
    for (const chunk of chunks(check, 64)) {
      const ok = await Promise.all(chunk.map((d) => blobExists(d)));
      chunk.forEach((d, i) => ok[i] || gone.add(d));
    }
    if (gone.size) throw new BlobsGone(gone);
  }
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

