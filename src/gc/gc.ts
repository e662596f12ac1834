// Online garbage collection (issue 4): mark and sweep from the metadata references, while pushes
// and pulls go on, on SQLite and PostgreSQL, from any number of processes (a server's job runner,
// `wharf gc` next to it).
//
// What is garbage (`cutoff` = run start − time window):
//  1. (delete_untagged) a manifest no tag points at, that no other manifest of its repository
//     references (index child, or subject of a referrer), that is not a referrer of a manifest
//     still in the repository, created before the cutoff. Deleting one can make others garbage
//     (an index's children, the referrers of a deleted subject): the run follows to a fixpoint.
//     Simple and safe: an untagged image that has referrers (signatures, SBOMs) stays, with them.
//  2. a repository link (repository_blobs) that no manifest of its repository references, created
//     before the cutoff: uploads never used by a manifest, layers of deleted manifests.
//  3. a blobs row that no repository links and no manifest references, created before the cutoff;
//     its file goes with it.
//  4. a file under blobs/ with no blobs row and an mtime before the cutoff (crash leftovers).
//
// How it stays correct while clients write (the reasoning, each step relies on it):
//  - Mark: gc_marked_at = run start on candidate rows, a range of digests at a time. Every new
//    reference clears the mark in its own transaction (store.ts: commitBlob's upsert, linkBlob,
//    putManifest).
//  - Sweep, in a write transaction per small batch: take the rows (SQLite: BEGIN IMMEDIATE, the
//    database-wide write lock; PostgreSQL: SELECT … FOR UPDATE, then later statements see
//    everything committed before the lock was granted), keep those still marked with this run's
//    mark, unlinked and unreferenced, delete their rows and then their files, commit. A concurrent
//    commit of the same digest is ordered before (it cleared the mark: skipped) or after (its row
//    is new: it checks the file exists, inside its transaction, and fails with a retryable error
//    if this sweep deleted it; see MetadataStore.blobExists).
//  - Deleting a file while a row exists happens only inside that transaction: if the process dies
//    between the file deletion and the commit, the row stays (marked, unlinked, so invisible to
//    every repository) until the next run; linkBlob re-checks the file of a marked row.
//  - Links and untagged manifests are deleted the same way (lock, then re-check with a fresh
//    view). putManifest share-locks the links and child manifests it relies on (PostgreSQL) and
//    re-checks them, so it either sees a GC deletion and answers MANIFEST_BLOB_UNKNOWN, or GC sees
//    its references and keeps the rows. With time_window 0, an upload whose manifest arrives after
//    a GC run started can lose its link this way; the client's retry uploads it again.
//  - Orphan files: GC inserts a placeholder row for the digest (uncommitted, so no one sees it),
//    deletes the file, removes the placeholder, commits; a concurrent commit of that digest waits
//    for the placeholder and then finds the file gone (retryable error), or GC finds its row.
//  - A run that dies leaves marks behind; the next run simply marks again (or clears stale marks
//    on rows that are live), and every deletion re-checks, so restarting a run is always safe.
//
// Dry run: the same queries as reads, with the effect of earlier phases simulated (manifests
// that would be deleted do not count as references), so it reports what a real run would delete.
//
// Cost: every statement is bounded (2,000 blobs per mark, 200 per sweep transaction, ~10,000
// links per candidate query), each phase is linear in the rows it covers, and memory stays flat
// (bench/gc.ts: 1M blobs and 100k manifests in ~15-25 s of database time). Lookups of "this
// digest referenced in this repository" go through manifest_references' ref_digest index, as no
// (ref_digest, repository_id) index exists; the bulk candidate queries avoid them (anti-joins).
import { unlink } from 'node:fs/promises';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../metadata/schema.ts';
import type { MetadataStore } from '../metadata/store.ts';
import type { BlobDriver } from '../storage/driver.ts';
import { pathFor } from '../storage/paths.ts';
import { parseDigest } from '../oci/digest.ts';

export interface GcParams {
  /** also delete untagged manifests (see above) */
  deleteUntagged: boolean;
  /** report only */
  dryRun: boolean;
  /** content created within this many hours is kept (0 = no protection) */
  timeWindowHours: number;
  /** sweep concurrency, 1–5 */
  workers: number;
}

export interface GcStats {
  /** blobs rows looked at */
  blobsExamined: number;
  blobsDeleted: number;
  /** bytes of deleted blobs and orphan files */
  bytesFreed: number;
  manifestsDeleted: number;
  linksDeleted: number;
  orphanFiles: number;
  orphanBytes: number;
}

export interface GcProgress extends GcStats {
  phase: 'untagged' | 'links' | 'blobs' | 'orphans' | 'done';
}

export interface GcResult extends GcStats {
  dryRun: boolean;
  /** stopped on request before it finished */
  stopped: boolean;
  /** milliseconds per phase; `mark` and `sweep` are the database time of the blobs phase */
  ms: { untagged: number; links: number; mark: number; sweep: number; blobs: number; orphans: number; total: number };
}

export interface GcHooks {
  signal?: AbortSignal;
  log?(message: string, level?: 'info' | 'warn' | 'error'): void;
  progress?(p: GcProgress): void;
  /** items listed one per log line per kind (manifests, links, blobs, orphans); default 10,000 */
  listLimit?: number;
  /** test hook: called before each sweep transaction with the digests it will look at */
  beforeSweep?(digests: string[]): Promise<void> | void;
  /** rows per mark batch (default 2000) and per sweep transaction (default 200); links per candidate query (default 10,000) */
  markBatch?: number;
  sweepBatch?: number;
  linkGroup?: number;
}

export const GC_DEFAULTS: GcParams = { deleteUntagged: false, dryRun: false, timeWindowHours: 2, workers: 1 };

/** Run one garbage collection. Never throws for a stop request: returns what was done, stopped: true. */
export async function runGc(store: MetadataStore, driver: BlobDriver, params: GcParams, hooks: GcHooks = {}): Promise<GcResult> {
  return new GcRun(store, driver, params, hooks).run();
}

type Db = Kysely<Database>;
const fmtBytes = (n: number) => (n >= 1 << 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 1 << 20 ? `${(n / 2 ** 20).toFixed(2)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

class GcRun {
  private readonly pg: boolean;
  private readonly start = Date.now();
  /** this run's mark (its start time) */
  private readonly mark = this.start;
  private readonly cutoff: number;
  private readonly stats: GcStats = { blobsExamined: 0, blobsDeleted: 0, bytesFreed: 0, manifestsDeleted: 0, linksDeleted: 0, orphanFiles: 0, orphanBytes: 0 };
  private phase: GcProgress['phase'] = 'untagged';
  private readonly listed = { manifest: 0, link: 0, blob: 0, orphan: 0 };
  private readonly listLimit: number;
  private readonly ms = { untagged: 0, links: 0, mark: 0, sweep: 0, blobs: 0, orphans: 0, total: 0 };
  /** dry run: manifests the untagged phase would delete, as `<repository id>|<digest>` */
  private readonly wouldDelete: string[] = [];
  private stopped = false;
  private readonly verb: string;

  constructor(
    private readonly store: MetadataStore,
    private readonly driver: BlobDriver,
    private readonly p: GcParams,
    private readonly hooks: GcHooks,
  ) {
    this.pg = store.dialect === 'postgres';
    this.cutoff = this.start - Math.round(p.timeWindowHours * 3600_000);
    this.listLimit = hooks.listLimit ?? 10_000;
    this.verb = p.dryRun ? 'would delete' : 'deleted';
  }

  private get db(): Db {
    return this.store.db;
  }

  private log(message: string, level: 'info' | 'warn' | 'error' = 'info'): void {
    this.hooks.log?.(message, level);
  }

  /** One line per deleted item, up to listLimit per kind. */
  private item(kind: keyof GcRun['listed'], text: string): void {
    const n = ++this.listed[kind];
    if (n <= this.listLimit) this.log(`${this.verb} ${kind} ${text}`);
    else if (n === this.listLimit + 1) this.log(`(more ${kind}s are not listed one by one)`);
  }

  private report(): void {
    this.hooks.progress?.({ phase: this.phase, ...this.stats });
  }

  /**
   * Between batches: let the event loop run (better-sqlite3 is synchronous, so a run of awaited
   * queries would otherwise never yield to the server's requests), then tell whether a stop was
   * requested.
   */
  private async halted(): Promise<boolean> {
    await new Promise<void>((r) => setImmediate(r));
    if (this.hooks.signal?.aborted && !this.stopped) {
      this.stopped = true;
      this.log('stop requested: ending after the current batch', 'warn');
    }
    return this.stopped;
  }

  async run(): Promise<GcResult> {
    const p = this.p;
    this.log(
      `garbage collection${p.dryRun ? ' (dry run: nothing is deleted)' : ''}: delete_untagged=${p.deleteUntagged} time_window=${p.timeWindowHours}h workers=${p.workers}; ` +
        `content created before ${new Date(this.cutoff).toISOString()} is eligible (${this.store.dialect})`,
    );
    const timed = async (k: 'untagged' | 'links' | 'blobs' | 'orphans', f: () => Promise<void>) => {
      if (await this.halted()) return;
      this.phase = k;
      this.report();
      const t = Date.now();
      await f();
      this.ms[k] = Date.now() - t;
    };
    if (p.deleteUntagged) await timed('untagged', () => this.untagged());
    await timed('links', () => this.links());
    await timed('blobs', () => this.blobs());
    await timed('orphans', () => this.orphans());
    this.ms.total = Date.now() - this.start;
    if (!this.stopped) this.phase = 'done';
    this.report();
    const s = this.stats;
    this.log(
      `${this.stopped ? 'stopped' : 'finished'} in ${(this.ms.total / 1000).toFixed(1)} s: ${p.dryRun ? 'would free' : 'freed'} ${fmtBytes(s.bytesFreed)} — ` +
        `${s.manifestsDeleted} manifests, ${s.linksDeleted} repository links, ${s.blobsDeleted} of ${s.blobsExamined} blobs, ${s.orphanFiles} orphan files ${p.dryRun ? 'to delete' : 'deleted'}`,
    );
    return { ...s, dryRun: p.dryRun, stopped: this.stopped, ms: { ...this.ms } };
  }

  // ------------------------------------------------------------------ 1. untagged manifests

  private async untagged(): Promise<void> {
    const repos = await sql<{ id: number; name: string }>`
      select r.id, r.name from repositories r where exists (
        select 1 from manifests m where m.repository_id = r.id and m.created_at < ${this.cutoff}
          and not exists (select 1 from tags t where t.repository_id = m.repository_id and t.manifest_digest = m.digest))
      order by r.id`.execute(this.db);
    for (const repo of repos.rows) {
      if (await this.halted()) return;
      const order = await this.untaggedPlan(Number(repo.id));
      if (this.p.dryRun) {
        for (const d of order) {
          this.wouldDelete.push(`${repo.id}|${d}`);
          this.stats.manifestsDeleted++;
          this.item('manifest', `${repo.name}@${d}`);
        }
      } else {
        for (let i = 0; i < order.length; i += 100) {
          if (i && (await this.halted())) return;
          const deleted = await this.deleteManifests(Number(repo.id), order.slice(i, i + 100));
          this.stats.manifestsDeleted += deleted.length;
          for (const d of deleted) this.item('manifest', `${repo.name}@${d}`);
          this.report();
        }
      }
      this.report();
    }
    this.log(`untagged manifests: ${this.stats.manifestsDeleted} ${this.p.dryRun ? 'to delete' : 'deleted'}`);
  }

  /** The repository's untagged garbage in deletion order (referrers/parents before what they reference). */
  private async untaggedPlan(repositoryId: number): Promise<string[]> {
    const ms = await sql<{ digest: string; created_at: number; subject_digest: string | null; tagged: number | boolean }>`
      select m.digest, m.created_at, m.subject_digest,
        exists (select 1 from tags t where t.repository_id = m.repository_id and t.manifest_digest = m.digest) as tagged
      from manifests m where m.repository_id = ${repositoryId}`.execute(this.db);
    const edges = await sql<{ manifest_digest: string; ref_digest: string }>`
      select distinct x.manifest_digest, x.ref_digest from manifest_references x
      where x.repository_id = ${repositoryId} and x.ref_kind in ('manifest', 'subject') and x.ref_digest <> x.manifest_digest`.execute(this.db);
    const info = new Map(ms.rows.map((m) => [m.digest, { created: Number(m.created_at), subject: m.subject_digest, tagged: !!Number(m.tagged) }]));
    const alive = new Set(info.keys());
    const parents = new Map<string, Set<string>>();
    const children = new Map<string, string[]>();
    for (const e of edges.rows) {
      if (!info.has(e.ref_digest) || !info.has(e.manifest_digest)) continue;
      let s = parents.get(e.ref_digest);
      if (!s) parents.set(e.ref_digest, (s = new Set()));
      s.add(e.manifest_digest);
      let c = children.get(e.manifest_digest);
      if (!c) children.set(e.manifest_digest, (c = []));
      c.push(e.ref_digest);
    }
    const referrers = new Map<string, string[]>();
    for (const [d, m] of info) {
      if (m.subject === null) continue;
      let r = referrers.get(m.subject);
      if (!r) referrers.set(m.subject, (r = []));
      r.push(d);
    }
    const candidate = (d: string) => {
      const m = info.get(d)!;
      return alive.has(d) && !m.tagged && m.created < this.cutoff && !(parents.get(d)?.size ?? 0) && !(m.subject !== null && alive.has(m.subject));
    };
    const queue = [...info.keys()].filter(candidate).sort();
    const order: string[] = [];
    for (let i = 0; i < queue.length; i++) {
      const d = queue[i];
      if (!candidate(d)) continue;
      alive.delete(d);
      order.push(d);
      for (const c of children.get(d) ?? []) {
        parents.get(c)?.delete(d);
        if (candidate(c)) queue.push(c);
      }
      for (const r of referrers.get(d) ?? []) if (candidate(r)) queue.push(r);
    }
    return order;
  }

  /** Delete manifests (in the given order) that are still untagged, unreferenced and old, in one transaction. */
  private async deleteManifests(repositoryId: number, digests: string[]): Promise<string[]> {
    return this.store.writeTx(async (trx) => {
      if (this.pg) {
        await sql`select digest from manifests where repository_id = ${repositoryId} and digest in (${sql.join(digests)}) order by digest for update`.execute(trx);
      }
      const done: string[] = [];
      for (const d of digests) {
        const ok = await sql<{ one: number }>`
          select 1 as one from manifests m
          where m.repository_id = ${repositoryId} and m.digest = ${d} and m.created_at < ${this.cutoff}
            and not exists (select 1 from tags t where t.repository_id = m.repository_id and t.manifest_digest = m.digest)
            and not exists (select 1 from ${this.refsByDigest} where x.repository_id = m.repository_id and x.ref_digest = m.digest and x.manifest_digest <> m.digest)
            and (m.subject_digest is null or not exists (select 1 from manifests s where s.repository_id = m.repository_id and s.digest = m.subject_digest))`.execute(trx);
        if (!ok.rows.length) continue;
        await trx.deleteFrom('manifest_references').where('repository_id', '=', repositoryId).where('manifest_digest', '=', d).execute();
        await trx.deleteFrom('manifests').where('repository_id', '=', repositoryId).where('digest', '=', d).execute();
        done.push(d);
      }
      return done;
    });
  }

  /**
   * A live reference to `digest` (SQL for the column `digestCol`): a manifest_references row, not
   * from a manifest the dry run would already have deleted.
   */
  private liveRef(digestCol: RawBuilder<unknown>): RawBuilder<unknown> {
    const excluded = this.wouldDelete.length ? sql`and ${this.wouldDeleteKey} not in ${this.wouldDeleteSet}` : sql``;
    return sql`exists (select 1 from ${this.refsByDigest} where x.ref_digest = ${digestCol} ${excluded})`;
  }

  /** A reference's manifest as `<repository id>|<digest>` (matching wouldDelete). */
  private get wouldDeleteKey(): RawBuilder<unknown> {
    return this.pg ? sql`(cast(x.repository_id as text) || '|' || x.manifest_digest)` : sql`(x.repository_id || '|' || x.manifest_digest)`;
  }

  /** The manifests a dry run's untagged phase would delete, as a subquery. */
  private get wouldDeleteSet(): RawBuilder<unknown> {
    return this.pg ? sql`(select unnest(cast(${this.wouldDelete} as text[])))` : sql`(select value from json_each(${JSON.stringify(this.wouldDelete)}))`;
  }

  /**
   * `manifest_references x`, looked up by ref_digest. SQLite (without statistics) would otherwise
   * probe "repository and digest" through the primary key's repository prefix: every reference of
   * the repository, for every row.
   */
  private get refsByDigest(): RawBuilder<unknown> {
    return this.pg ? sql`manifest_references x` : sql`manifest_references x indexed by manifest_references_ref`;
  }

  // ------------------------------------------------------------------ 2. repository links

  /**
   * Candidates are found per group of repositories (about GROUP links at a time; a bigger
   * repository in digest ranges of that size) with one anti-join against the group's references,
   * read-only; each batch of candidates is then deleted in a write transaction that re-checks it
   * (see the header). Bounded statements keep memory flat and, on SQLite (synchronous), the
   * server's event loop free.
   */
  private async links(): Promise<void> {
    const GROUP = this.hooks.linkGroup ?? 10_000;
    const perRepo = (await sql<{ r: number; n: number }>`select repository_id as r, count(*) as n from repository_blobs group by repository_id order by repository_id`.execute(this.db)).rows;
    const groups: { a: number; b: number; n: number }[] = [];
    for (const { r, n } of perRepo) {
      const id = Number(r);
      const last = groups[groups.length - 1];
      if (last && last.n + Number(n) <= GROUP) {
        last.b = id;
        last.n += Number(n);
      } else groups.push({ a: id, b: id, n: Number(n) });
    }
    for (const g of groups) {
      if (g.n <= GROUP || g.a !== g.b) {
        if (await this.halted()) return;
        await this.linkBatch(await this.linkCandidates(g.a, g.b));
        continue;
      }
      // one big repository: digest ranges of GROUP links
      let lo = '';
      for (;;) {
        if (await this.halted()) return;
        const hi = (await sql<{ digest: string }>`select digest from repository_blobs where repository_id = ${g.a} and digest > ${lo} order by digest limit 1 offset ${GROUP - 1}`.execute(this.db)).rows[0]?.digest ?? null;
        await this.linkBatch(await this.linkCandidates(g.a, g.a, { lo, hi }));
        if (hi === null) break;
        lo = hi;
      }
    }
    this.log(`repository links: ${this.stats.linksDeleted} ${this.p.dryRun ? 'to delete' : 'deleted'}`);
  }

  private async linkBatch(candidates: { repository_id: number; digest: string }[]): Promise<void> {
    for (let i = 0; i < candidates.length; i += 500) {
      if (await this.halted()) return;
      const chunk = candidates.slice(i, i + 500);
      const gone = this.p.dryRun ? chunk : await this.deleteLinks(chunk);
      if (gone.length) {
        const names = await this.repoNames(gone.map((g) => g.repository_id));
        for (const g of gone) this.item('link', `${names.get(g.repository_id) ?? g.repository_id} -> ${g.digest}`);
      }
      this.stats.linksDeleted += gone.length;
      this.report();
    }
  }

  /**
   * Links of repositories a..b (within a digest range `lo` < digest <= `hi`) older than the cutoff
   * that no (live) manifest of their repository references: a compound select (two index range
   * scans, then a hash or a sort), linear in the links and references it covers whatever the
   * sharing (a correlated probe per link is not, for hot layers that thousands of manifests use).
   */
  private async linkCandidates(a: number, b: number, r?: { lo: string; hi: string | null }): Promise<{ repository_id: number; digest: string }[]> {
    const excluded = this.wouldDelete.length ? sql`and ${this.wouldDeleteKey} not in ${this.wouldDeleteSet}` : sql``;
    const lRange = r ? sql`and l.digest > ${r.lo} ${r.hi === null ? sql`` : sql`and l.digest <= ${r.hi}`}` : sql``;
    // a digest range of references: through the ref_digest index (all repositories' references in the range)
    const xRange = r ? sql`and x.ref_digest > ${r.lo} ${r.hi === null ? sql`` : sql`and x.ref_digest <= ${r.hi}`}` : sql``;
    const refs = r ? this.refsByDigest : sql`manifest_references x`;
    const rows = await sql<{ repository_id: number; digest: string }>`
      select l.repository_id, l.digest from repository_blobs l where l.repository_id between ${a} and ${b} ${lRange} and l.created_at < ${this.cutoff}
      except
      select x.repository_id, x.ref_digest from ${refs} where x.repository_id between ${a} and ${b} ${xRange} ${excluded}
      order by 1, 2`.execute(this.db);
    return rows.rows.map((r) => ({ repository_id: Number(r.repository_id), digest: r.digest }));
  }

  /** Delete the links that are still garbage, re-checked under the write lock / row locks. */
  private async deleteLinks(chunk: { repository_id: number; digest: string }[]): Promise<{ repository_id: number; digest: string }[]> {
    const pairs = sql.join(chunk.map((r) => sql`(cast(${r.repository_id} as bigint), cast(${r.digest} as text))`));
    const unreferenced = sql`not exists (select 1 from ${this.refsByDigest} where x.ref_digest = l.digest and x.repository_id = l.repository_id)`;
    const rows = await this.store.writeTx(async (trx) => {
      if (this.pg) {
        // Lock first; the delete's own snapshot then sees every reference committed before the
        // locks were granted (a putManifest share-locking these links has committed by then).
        const locked = (await sql<{ repository_id: number; digest: string }>`
          select l.repository_id, l.digest from repository_blobs l
          where (l.repository_id, l.digest) in (values ${pairs}) and l.created_at < ${this.cutoff}
          order by l.repository_id, l.digest for update`.execute(trx)).rows;
        if (!locked.length) return [];
        const lockedPairs = sql.join(locked.map((r) => sql`(cast(${Number(r.repository_id)} as bigint), cast(${r.digest} as text))`));
        return (await sql<{ repository_id: number; digest: string }>`
          delete from repository_blobs l where (l.repository_id, l.digest) in (values ${lockedPairs}) and ${unreferenced}
          returning repository_id, digest`.execute(trx)).rows;
      }
      return (await sql<{ repository_id: number; digest: string }>`
        delete from repository_blobs as l where (l.repository_id, l.digest) in (values ${pairs}) and l.created_at < ${this.cutoff} and ${unreferenced}
        returning repository_id, digest`.execute(trx)).rows;
    });
    return rows.map((r) => ({ repository_id: Number(r.repository_id), digest: r.digest })).sort((x, y) => x.repository_id - y.repository_id || (x.digest < y.digest ? -1 : 1));
  }

  private readonly names = new Map<number, string>();
  private async repoNames(ids: number[]): Promise<Map<number, string>> {
    const want = [...new Set(ids)].filter((i) => !this.names.has(i));
    if (want.length) for (const r of await this.db.selectFrom('repositories').select(['id', 'name']).where('id', 'in', want).execute()) this.names.set(Number(r.id), r.name);
    return this.names;
  }

  // ------------------------------------------------------------------ 3. blobs: mark and sweep

  private async blobs(): Promise<void> {
    const batch = this.hooks.markBatch ?? 2000;
    let lo = '';
    for (;;) {
      if (await this.halted()) return;
      const hi = (await sql<{ digest: string }>`select digest from blobs where digest > ${lo} order by digest limit 1 offset ${batch - 1}`.execute(this.db)).rows[0]?.digest ?? null;
      const range = hi === null ? sql`b.digest > ${lo}` : sql`b.digest > ${lo} and b.digest <= ${hi}`;
      if (hi !== null) this.stats.blobsExamined += batch;
      else this.stats.blobsExamined += Number((await sql<{ n: number }>`select count(*) as n from blobs b where ${range}`.execute(this.db)).rows[0]?.n ?? 0);
      const t = Date.now();
      if (this.p.dryRun) {
        // As after the earlier phases: links that phase 2 keeps are the recent ones (older links
        // without a live reference in their repository go), and live references.
        const rows = (
          await sql<{ digest: string; size: number }>`
            select b.digest, b.size from blobs b where ${range} and b.created_at < ${this.cutoff}
              and not exists (select 1 from repository_blobs l where l.digest = b.digest and l.created_at >= ${this.cutoff})
              and not ${this.liveRef(sql.ref('b.digest'))}
            order by b.digest`.execute(this.db)
        ).rows;
        this.ms.mark += Date.now() - t;
        for (const r of rows) this.deletedBlob(r.digest, Number(r.size));
      } else {
        const garbage = sql`b.created_at < ${this.cutoff}
          and not exists (select 1 from repository_blobs l where l.digest = b.digest)
          and not exists (select 1 from manifest_references x where x.ref_digest = b.digest)`;
        // Mark the candidates; clear stale marks (of dead runs) on rows that are live.
        const marked = (
          await sql<{ digest: string; size: number; gc_marked_at: number | null }>`
            update blobs as b set gc_marked_at = case when (${garbage}) then cast(${this.mark} as bigint) else null end
            where ${range} and ((${garbage}) or b.gc_marked_at is not null)
            returning digest, size, gc_marked_at`.execute(this.db)
        ).rows.filter((r) => Number(r.gc_marked_at) === this.mark);
        this.ms.mark += Date.now() - t;
        marked.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
        const t2 = Date.now();
        const step = this.hooks.sweepBatch ?? 200;
        const subs: string[][] = [];
        for (let i = 0; i < marked.length; i += step) subs.push(marked.slice(i, i + step).map((r) => r.digest));
        await mapLimit(subs, Math.max(1, Math.min(5, this.p.workers)), (s) => this.sweep(s));
        this.ms.sweep += Date.now() - t2;
      }
      this.report();
      if (hi === null) break;
      lo = hi;
    }
    this.log(`blobs: ${this.stats.blobsDeleted} of ${this.stats.blobsExamined} ${this.p.dryRun ? 'to delete' : 'deleted'} (${fmtBytes(this.stats.bytesFreed)})`);
  }

  private deletedBlob(digest: string, size: number): void {
    this.stats.blobsDeleted++;
    this.stats.bytesFreed += size;
    this.item('blob', `${digest} (${size} bytes)`);
  }

  /** Delete the blobs among `digests` that are still marked by this run and unreferenced, with their files. */
  private async sweep(digests: string[]): Promise<void> {
    await new Promise<void>((r) => setImmediate(r)); // see halted()
    await this.hooks.beforeSweep?.(digests);
    const doomed = await this.store.writeTx(async (trx) => {
      const mine = sql`b.digest in (${sql.join(digests)}) and b.gc_marked_at = ${this.mark}`;
      if (this.pg) await sql`select b.digest from blobs b where ${mine} order by b.digest for update`.execute(trx);
      const rows = (
        await sql<{ digest: string; size: number }>`
          select b.digest, b.size from blobs b where ${mine}
            and not exists (select 1 from repository_blobs l where l.digest = b.digest)
            and not exists (select 1 from manifest_references x where x.ref_digest = b.digest)
          order by b.digest`.execute(trx)
      ).rows;
      if (rows.length) {
        await trx.deleteFrom('blobs').where('digest', 'in', rows.map((r) => r.digest)).execute();
        // The files go inside the transaction: see the header.
        await mapLimit(rows, 16, (r) => this.deleteFile(pathFor({ kind: 'blob', digest: parseDigest(r.digest) })));
      }
      // What is still marked by this run was rescued by a new reference meanwhile.
      await sql`update blobs set gc_marked_at = null where digest in (${sql.join(digests)}) and gc_marked_at = ${this.mark}`.execute(trx);
      return rows;
    });
    for (const r of doomed) this.deletedBlob(r.digest, Number(r.size));
  }

  // ------------------------------------------------------------------ 4. orphan files

  private async orphans(): Promise<void> {
    const workers = Math.max(1, Math.min(5, this.p.workers));
    for (const alg of (await this.driver.list('blobs')).sort()) {
      for (const pre of (await this.driver.list(`blobs/${alg}`)).sort()) {
        if (await this.halted()) return;
        const names = (await this.driver.list(`blobs/${alg}/${pre}`)).sort();
        for (let i = 0; i < names.length; i += 500) {
          if (i && (await this.halted())) return;
          const files: { digest: string; path: string }[] = [];
          for (const n of names.slice(i, i + 500)) {
            let digest: string;
            try {
              digest = parseDigest(`${alg}:${n}`).digest;
            } catch {
              continue; // not a blob file
            }
            const path = pathFor({ kind: 'blob', digest: parseDigest(digest) });
            if (path === `blobs/${alg}/${pre}/${n}`) files.push({ digest, path });
          }
          if (!files.length) continue;
          const rows = await this.db.selectFrom('blobs').select('digest').where('digest', 'in', files.map((f) => f.digest)).execute();
          const known = new Set(rows.map((r) => r.digest));
          const old: { digest: string; path: string; size: number }[] = [];
          await mapLimit(
            files.filter((f) => !known.has(f.digest)),
            workers * 4,
            async (f) => {
              const st = await this.driver.stat(f.path);
              if (st && st.modTime.getTime() < this.cutoff) old.push({ ...f, size: st.size });
            },
          );
          if (!old.length) continue;
          old.sort((a, b) => (a.digest < b.digest ? -1 : 1));
          const gone = this.p.dryRun ? old : await this.deleteOrphans(old);
          for (const o of gone) {
            this.stats.orphanFiles++;
            this.stats.orphanBytes += o.size;
            this.stats.bytesFreed += o.size;
            this.item('orphan', `${o.path} (${o.size} bytes)`);
          }
          this.report();
        }
      }
    }
    this.log(`orphan files: ${this.stats.orphanFiles} ${this.p.dryRun ? 'to delete' : 'deleted'} (${fmtBytes(this.stats.orphanBytes)})`);
  }

  /** A blob file (already gone is fine): a plain unlink on a local filesystem (the driver's delete is a recursive rm, several times dearer). */
  private async deleteFile(path: string): Promise<void> {
    const local = this.driver.localPath?.(path);
    if (!local) return this.driver.delete(path);
    try {
      await unlink(local);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  /** Delete files that have no row, holding a placeholder row for each so a concurrent commit waits. */
  private async deleteOrphans(files: { digest: string; path: string; size: number }[]): Promise<{ digest: string; path: string; size: number }[]> {
    return this.store.writeTx(async (trx) => {
      const t = Date.now();
      const mine = await trx
        .insertInto('blobs')
        .values(files.map((f) => ({ digest: f.digest, size: f.size, created_at: t, gc_marked_at: this.mark })))
        .onConflict((oc) => oc.column('digest').doNothing())
        .returning('digest')
        .execute();
      const held = new Set(mine.map((r) => r.digest));
      const doomed = files.filter((f) => held.has(f.digest));
      await mapLimit(doomed, 16, (f) => this.deleteFile(f.path));
      if (held.size) await trx.deleteFrom('blobs').where('digest', 'in', [...held]).execute();
      return doomed;
    });
  }
}

/** Run `f` over `items` with at most `n` at once. */
export async function mapLimit<T>(items: T[], n: number, f: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  let failed: unknown = null;
  const worker = async () => {
    while (i < items.length && failed === null) {
      const t = items[i++];
      try {
        await f(t);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failed !== null) throw failed;
}
