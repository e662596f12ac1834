// Project quotas: the limits (`project_quotas`, one row per project; no row = unlimited) and the
// usage, always computed from the metadata rows, so it drops by construction when links,
// manifests or repositories go (deletes, garbage collection).
//
// `used` follows Harbor: the distinct blobs linked in the project's repositories (a blob counts
// once per project, however many of its repositories link it) plus the distinct manifests stored
// there (Harbor stores manifests as blobs too). The physical figures are about the blob store,
// where every blob is kept once for the whole registry: `unique` is what only this project links
// (what deleting the project would let GC free), `registry` is every stored blob.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../metadata/schema.ts';
import type { MetadataStore } from '../metadata/store.ts';

/** bytes; -1 = unlimited */
export const UNLIMITED = -1;

export interface QuotaRecord {
  /** the project id (Wharf keeps one quota per project and uses the project id as the quota id) */
  id: number;
  projectId: number;
  projectName: string;
  ownerName: string | null;
  hard: number;
  createdAt: number;
  updatedAt: number;
}

export interface Usage {
  /** distinct blob bytes linked in the project */
  blobs: number;
  /** distinct manifest bytes stored in the project */
  manifests: number;
  /** Harbor's `used.storage`: blobs + manifests */
  used: number;
}

export class QuotaStore {
  /** set by bound(): queries run inside that transaction */
  private trx?: Kysely<Database>;

  constructor(readonly meta: MetadataStore) {}

  private get db(): Kysely<Database> {
    return this.trx ?? this.meta.db;
  }

  /** The same queries inside a transaction. */
  bound(trx: Kysely<Database>): QuotaStore {
    const q = new QuotaStore(this.meta);
    q.trx = trx;
    return q;
  }

  /** `column` names a repository of `project` (`<project>/…`). Uses the name index on SQLite. */
  private inProject(column: string, project: string): RawBuilder<boolean> {
    const prefix = `${project}/`;
    if (this.meta.dialect === 'sqlite') {
      // '/' + 1 is '0': with SQLite's binary collation this range is exactly the prefix.
      return sql<boolean>`(${sql.ref(column)} >= ${prefix} and ${sql.ref(column)} < ${`${project}0`})`;
    }
    return sql<boolean>`substr(${sql.ref(column)}, 1, ${prefix.length}) = ${prefix}`;
  }

  /** The repository name column holds a `/` (a name without one belongs to no project). */
  private hasProject(column: string): RawBuilder<boolean> {
    return this.meta.dialect === 'postgres' ? sql<boolean>`strpos(${sql.ref(column)}, '/') > 0` : sql<boolean>`instr(${sql.ref(column)}, '/') > 0`;
  }

  /** The project part of a repository name column, in either dialect. */
  private projectPart(column: string): RawBuilder<string> {
    return this.meta.dialect === 'postgres' ? sql<string>`split_part(${sql.ref(column)}, '/', 1)` : sql<string>`substr(${sql.ref(column)}, 1, instr(${sql.ref(column)}, '/') - 1)`;
  }

  // ---------------------------------------------------------------- limits

  /** The project's id and limit (UNLIMITED without a quota row); null if there is no such project. */
  async limitOf(project: string): Promise<{ projectId: number; hard: number } | null> {
    const r = await this.db
      .selectFrom('projects as p')
      .leftJoin('project_quotas as q', 'q.project_id', 'p.id')
      .select(['p.id', 'q.hard_bytes'])
      .where('p.name', '=', project)
      .executeTakeFirst();
    if (!r) return null;
    return { projectId: Number(r.id), hard: r.hard_bytes === null || r.hard_bytes === undefined ? UNLIMITED : Number(r.hard_bytes) };
  }

  /** Set a project's limit (creating the quota row). */
  async setHard(projectId: number, hard: number): Promise<void> {
    const t = Date.now();
    await this.db
      .insertInto('project_quotas')
      .values({ project_id: projectId, hard_bytes: hard, created_at: t, updated_at: t })
      .onConflict((oc) => oc.column('project_id').doUpdateSet({ hard_bytes: hard, updated_at: t }))
      .execute();
  }

  private quotaQuery() {
    return this.db
      .selectFrom('projects as p')
      .leftJoin('project_quotas as q', 'q.project_id', 'p.id')
      .leftJoin('users as u', 'u.id', 'p.owner_id')
      .select(['p.id', 'p.name', 'p.created_at as p_created', 'u.username', 'q.hard_bytes', 'q.created_at as q_created', 'q.updated_at as q_updated']);
  }

  private static toRecord(r: { id: number; name: string; p_created: number; username: string | null; hard_bytes: number | null; q_created: number | null; q_updated: number | null }): QuotaRecord {
    return {
      id: Number(r.id),
      projectId: Number(r.id),
      projectName: r.name,
      ownerName: r.username ?? null,
      hard: r.hard_bytes === null ? UNLIMITED : Number(r.hard_bytes),
      createdAt: Number(r.q_created ?? r.p_created),
      updatedAt: Number(r.q_updated ?? r.p_created),
    };
  }

  /** The quota of a project (every project has one; unlimited unless set). */
  async get(projectId: number): Promise<QuotaRecord | null> {
    const r = await this.quotaQuery().where('p.id', '=', projectId).executeTakeFirst();
    return r ? QuotaStore.toRecord(r as any) : null;
  }

  /** Every project's quota, by project id. */
  async list(filter: { projectId?: number } = {}): Promise<QuotaRecord[]> {
    let q = this.quotaQuery().orderBy('p.id');
    if (filter.projectId !== undefined) q = q.where('p.id', '=', filter.projectId);
    return (await q.execute()).map((r) => QuotaStore.toRecord(r as any));
  }

  // ---------------------------------------------------------------- usage

  async usage(project: string): Promise<Usage> {
    const blobs = await this.db
      .selectFrom('blobs as b')
      .select((eb) => eb.fn.sum<number>('b.size').as('n'))
      .where('b.digest', 'in', (eb) =>
        eb.selectFrom('repository_blobs as l').innerJoin('repositories as r', 'r.id', 'l.repository_id').select('l.digest').where(this.inProject('r.name', project)),
      )
      .executeTakeFirst();
    const manifests = await this.db
      .selectFrom((eb) =>
        eb
          .selectFrom('manifests as m')
          .innerJoin('repositories as r', 'r.id', 'm.repository_id')
          .select(['m.digest', (e) => e.fn.max<number>('m.size').as('size')])
          .where(this.inProject('r.name', project))
          .groupBy('m.digest')
          .as('d'),
      )
      .select((eb) => eb.fn.sum<number>('d.size').as('n'))
      .executeTakeFirst();
    const b = Number(blobs?.n ?? 0);
    const m = Number(manifests?.n ?? 0);
    return { blobs: b, manifests: m, used: b + m };
  }

  /** Harbor's `used.storage` of every project that holds anything, by project name (one query each kind). */
  async usageAll(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const add = (k: string, n: number) => out.set(k, (out.get(k) ?? 0) + n);
    const blobRows = await this.db
      .selectFrom((eb) =>
        eb
          .selectFrom('repository_blobs as l')
          .innerJoin('repositories as r', 'r.id', 'l.repository_id')
          .select([this.projectPart('r.name').as('project'), 'l.digest'])
          .where(this.hasProject('r.name'))
          .distinct()
          .as('d'),
      )
      .innerJoin('blobs as b', 'b.digest', 'd.digest')
      .select(['d.project', (eb) => eb.fn.sum<number>('b.size').as('n')])
      .groupBy('d.project')
      .execute();
    for (const r of blobRows) add(r.project, Number(r.n));
    const manifestRows = await this.db
      .selectFrom((eb) =>
        eb
          .selectFrom('manifests as m')
          .innerJoin('repositories as r', 'r.id', 'm.repository_id')
          .select([this.projectPart('r.name').as('project'), 'm.digest', (e) => e.fn.max<number>('m.size').as('size')])
          .where(this.hasProject('r.name'))
          .groupBy([this.projectPart('r.name'), 'm.digest'])
          .as('d'),
      )
      .select(['d.project', (eb) => eb.fn.sum<number>('d.size').as('n')])
      .groupBy('d.project')
      .execute();
    for (const r of manifestRows) add(r.project, Number(r.n));
    return out;
  }

  /** Bytes of the blobs linked in `project` and in no repository of another project. */
  async uniqueBytes(project: string): Promise<number> {
    const r = await this.db
      .selectFrom('blobs as b')
      .select((eb) => eb.fn.sum<number>('b.size').as('n'))
      .where('b.digest', 'in', (eb) =>
        eb.selectFrom('repository_blobs as l').innerJoin('repositories as r', 'r.id', 'l.repository_id').select('l.digest').where(this.inProject('r.name', project)),
      )
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('repository_blobs as o')
              .innerJoin('repositories as ro', 'ro.id', 'o.repository_id')
              .select('o.digest')
              .whereRef('o.digest', '=', 'b.digest')
              .where(sql<boolean>`not ${this.inProject('ro.name', project)}`),
          ),
        ),
      )
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Bytes of every blob in the registry's store (each once), referenced or awaiting GC. */
  async registryBlobBytes(): Promise<number> {
    const r = await this.db.selectFrom('blobs').select((eb) => eb.fn.sum<number>('size').as('n')).executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Which of `digests` the project already holds (blobs linked, or manifests stored). */
  async presentInProject(project: string, blobs: string[], manifests: string[]): Promise<Set<string>> {
    const have = new Set<string>();
    if (blobs.length) {
      const rows = await this.db
        .selectFrom('repository_blobs as l')
        .innerJoin('repositories as r', 'r.id', 'l.repository_id')
        .select('l.digest')
        .where('l.digest', 'in', blobs)
        .where(this.inProject('r.name', project))
        .execute();
      for (const r of rows) have.add(`blob:${r.digest}`);
    }
    if (manifests.length) {
      const rows = await this.db
        .selectFrom('manifests as m')
        .innerJoin('repositories as r', 'r.id', 'm.repository_id')
        .select('m.digest')
        .where('m.digest', 'in', manifests)
        .where(this.inProject('r.name', project))
        .execute();
      for (const r of rows) have.add(`manifest:${r.digest}`);
    }
    return have;
  }
}
