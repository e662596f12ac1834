// JobStore: the jobs, job_logs and job_schedules tables, over Kysely for SQLite and PostgreSQL.
//
// Every state change a runner makes to a job it leased is conditioned on `lease_owner = owner AND
// status = 'running'`, so a runner that lost its lease (it stalled, another process took the job
// over) can no longer write the job's outcome. Claims are atomic: on PostgreSQL one UPDATE over a
// `FOR UPDATE SKIP LOCKED` sub-select, on SQLite a select-then-update inside BEGIN IMMEDIATE
// (MetadataStore.writeTx), which serialises writers across processes.
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, JobSchedulesTable, JobsTable } from '../metadata/schema.ts';
import type { MetadataStore } from '../metadata/store.ts';
import { JobConflictError, type Job, type JobLogLine, type JobStatus, type JobTrigger, type Schedule } from './types.ts';

type JobRow = Selectable<JobsTable>;
type ScheduleRow = Selectable<JobSchedulesTable>;

export const FINAL_STATUSES: readonly JobStatus[] = ['success', 'error', 'stopped'];

export interface NewJob {
  kind: string;
  scope: string;
  trigger: JobTrigger;
  params: Record<string, unknown>;
  maxAttempts: number;
  runAfter: number;
  scheduleId: number | null;
  /** refuse (JobConflictError) when a pending/running job of the kind exists in the scope */
  exclusive: boolean;
}

export interface ClaimedJob {
  job: Job;
  /** a stop was requested before this claim (the job's previous runner died): do not run it */
  stopRequested: boolean;
}

export interface JobListFilter {
  kind?: string;
  scope?: string;
  status?: JobStatus;
  offset: number;
  limit: number;
}

/** Advisory lock namespace for "kind in scope" on PostgreSQL (any int4; 'wj' in ASCII). */
const PG_LOCK_NAMESPACE = 0x776a;

export class JobStore {
  constructor(readonly meta: MetadataStore) {}

  private get db(): Kysely<Database> {
    return this.meta.db;
  }

  // ---- jobs ----

  /** Create a pending job; for an exclusive kind, checked and inserted in one write transaction. */
  async create(n: NewJob): Promise<Job> {
    return this.meta.writeTx((trx) => this.insertJob(trx, n));
  }

  private async insertJob(trx: Kysely<Database>, n: NewJob): Promise<Job> {
    if (n.exclusive) {
      // SQLite: BEGIN IMMEDIATE already serialises writers. PostgreSQL (read committed): two
      // transactions could both see no job and both insert, so serialise per kind+scope.
      if (this.meta.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${PG_LOCK_NAMESPACE}::int4, hashtext(${`${n.kind}|${n.scope}`}))`.execute(trx);
      const existing = await trx
        .selectFrom('jobs')
        .select(['id', 'status'])
        .where('kind', '=', n.kind)
        .where('scope', '=', n.scope)
        .where('status', 'in', ['pending', 'running'])
        .orderBy('id')
        .executeTakeFirst();
      if (existing) throw new JobConflictError(`a ${n.kind} job is already ${existing.status} in scope ${n.scope} (job ${existing.id})`);
    }
    const t = Date.now();
    const r = await trx
      .insertInto('jobs')
      .values({
        kind: n.kind,
        status: 'pending',
        trigger: n.trigger,
        scope: n.scope,
        params: json(n.params) ?? '{}',
        attempts: 0,
        max_attempts: n.maxAttempts,
        run_after: n.runAfter,
        stop_requested: 0,
        schedule_id: n.scheduleId,
        created_at: t,
        updated_at: t,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toJob(r);
  }

  async get(id: number): Promise<Job | null> {
    if (!Number.isSafeInteger(id)) return null;
    const r = await this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toJob(r) : null;
  }

  async list(f: JobListFilter): Promise<{ items: Job[]; total: number }> {
    let q = this.db.selectFrom('jobs');
    if (f.kind !== undefined) q = q.where('kind', '=', f.kind);
    if (f.scope !== undefined) q = q.where('scope', '=', f.scope);
    if (f.status !== undefined) q = q.where('status', '=', f.status);
    const { n } = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = await q.selectAll().orderBy('id', 'desc').offset(Math.max(0, f.offset)).limit(Math.max(0, f.limit)).execute();
    return { items: rows.map(toJob), total: Number(n) };
  }

  /**
   * Lease the oldest due job of one of `kinds`: pending with run_after <= now, or running with an
   * expired lease (its runner died; attempts counts it). `exclude`: the jobs the caller is running
   * itself (if its own lease lapsed, it must not start them a second time). Returns null when there is none (or, on
   * PostgreSQL, when another runner just took the candidate; the next poll tries again).
   */
  async claim(owner: string, kinds: string[], leaseMs: number, exclude: number[] = []): Promise<ClaimedJob | null> {
    if (!kinds.length) return null;
    const t = Date.now();
    // Most polls find nothing: look without taking the write lock first.
    const any = await this.due(this.db, kinds, t, exclude).select('id').limit(1).executeTakeFirst();
    if (!any) return null;
    let row: JobRow | undefined;
    if (this.meta.dialect === 'postgres') {
      const r = await sql<JobRow>`
        update jobs set status = 'running', lease_owner = ${owner}, lease_until = ${t + leaseMs}, attempts = attempts + 1,
          started_at = coalesce(started_at, case when created_at > ${t} then created_at else ${t} end), updated_at = ${t}
        where id = (
          select id from jobs
          where kind in (${sql.join(kinds)})${exclude.length ? sql` and id not in (${sql.join(exclude)})` : sql``}
            and ((status = 'pending' and run_after <= ${t}) or (status = 'running' and lease_until < ${t}))
          order by run_after, id
          limit 1
          for update skip locked)
        returning *`.execute(this.db);
      row = r.rows[0];
    } else {
      row = await this.meta.writeTx(async (trx) => {
        const c = await this.due(trx, kinds, t, exclude).select('id').orderBy('run_after').orderBy('id').limit(1).executeTakeFirst();
        if (!c) return undefined;
        return trx
          .updateTable('jobs')
          .set((eb) => ({
            status: 'running',
            lease_owner: owner,
            lease_until: t + leaseMs,
            attempts: eb('attempts', '+', 1),
            started_at: sql<number>`coalesce(started_at, case when created_at > ${t} then created_at else ${t} end)`,
            updated_at: t,
          }))
          .where('id', '=', c.id)
          .returningAll()
          .executeTakeFirst();
      });
    }
    return row ? { job: toJob(row), stopRequested: Number(row.stop_requested) === 1 } : null;
  }

  private due(db: Kysely<Database>, kinds: string[], t: number, exclude: number[]) {
    let q = db.selectFrom('jobs').where('kind', 'in', kinds);
    if (exclude.length) q = q.where('id', 'not in', exclude);
    return q.where((eb) =>
      eb.or([
        eb.and([eb('status', '=', 'pending'), eb('run_after', '<=', t)]),
        eb.and([eb('status', '=', 'running'), eb('lease_until', '<', t)]),
      ]),
    );
  }

  /** Extend the lease; false when it is no longer ours (or the job is no longer running). */
  async renew(id: number, owner: string, leaseMs: number): Promise<boolean> {
    const t = Date.now();
    const r = await this.owned(this.db.updateTable('jobs').set({ lease_until: t + leaseMs }), id, owner).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async saveProgress(id: number, owner: string, progress: Record<string, unknown>): Promise<boolean> {
    const r = await this.owned(this.db.updateTable('jobs').set({ progress: json(progress), updated_at: Date.now() }), id, owner).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Record the final outcome of a leased job and drop the lease. */
  async finish(
    id: number,
    owner: string,
    status: 'success' | 'error' | 'stopped',
    out: { result?: Record<string, unknown> | null; error?: string | null; progress?: Record<string, unknown> | null; attempts?: number } = {},
  ): Promise<boolean> {
    const t = Date.now();
    const r = await this.owned(
      this.db.updateTable('jobs').set({
        status,
        result: json(out.result ?? null),
        error: out.error ?? null,
        ...(out.progress !== undefined ? { progress: json(out.progress) } : {}),
        ...(out.attempts !== undefined ? { attempts: out.attempts } : {}),
        finished_at: t,
        updated_at: t,
        lease_owner: null,
        lease_until: null,
      }),
      id,
      owner,
    ).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * A failed attempt that will be retried: back to pending, due at runAfter (the error stays
   * visible meanwhile). If a stop was requested in the meantime it becomes stopped instead.
   * Returns the new status, or null if the lease was no longer ours.
   */
  async retry(id: number, owner: string, error: string, runAfter: number, progress?: Record<string, unknown> | null): Promise<'pending' | 'stopped' | null> {
    return this.requeue(id, owner, { error, runAfter, progress, countAttempt: true });
  }

  /**
   * Give a leased job back without counting the attempt (graceful shutdown): pending and due now,
   * so another process resumes it; stopped if a stop was requested.
   */
  async release(id: number, owner: string, progress?: Record<string, unknown> | null): Promise<'pending' | 'stopped' | null> {
    return this.requeue(id, owner, { runAfter: Date.now(), progress, countAttempt: false });
  }

  private async requeue(
    id: number,
    owner: string,
    o: { error?: string; runAfter: number; progress?: Record<string, unknown> | null; countAttempt: boolean },
  ): Promise<'pending' | 'stopped' | null> {
    const t = Date.now();
    const r = await this.owned(
      this.db.updateTable('jobs').set((eb) => ({
        status: sql<string>`case when stop_requested = 1 then 'stopped' else 'pending' end`,
        finished_at: sql<number | null>`case when stop_requested = 1 then cast(${t} as bigint) else null end`,
        run_after: o.runAfter,
        ...(o.error !== undefined ? { error: o.error } : {}),
        ...(o.progress !== undefined ? { progress: json(o.progress) } : {}),
        ...(o.countAttempt ? {} : { attempts: eb('attempts', '-', 1) }),
        updated_at: t,
        lease_owner: null,
        lease_until: null,
      })),
      id,
      owner,
    )
      .returning('status')
      .executeTakeFirst();
    return r ? (r.status as 'pending' | 'stopped') : null;
  }

  private owned<Q extends { where: (...a: any[]) => any }>(q: Q, id: number, owner: string): Q {
    return q.where('id', '=', id).where('lease_owner', '=', owner).where('status', '=', 'running');
  }

  /** A pending job becomes stopped at once; a running one is flagged for its runner. */
  async requestStop(id: number): Promise<boolean> {
    if (!Number.isSafeInteger(id)) return false;
    const t = Date.now();
    const r = await this.db
      .updateTable('jobs')
      .set({
        stop_requested: 1,
        status: sql<string>`case when status = 'pending' then 'stopped' else status end`,
        finished_at: sql<number | null>`case when status = 'pending' then ${t} else finished_at end`,
        updated_at: t,
      })
      .where('id', '=', id)
      .where('status', 'in', ['pending', 'running'])
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Which of the (running) jobs have a stop request. */
  async stopRequested(ids: number[]): Promise<Set<number>> {
    if (!ids.length) return new Set();
    const rows = await this.db.selectFrom('jobs').select('id').where('id', 'in', ids).where('stop_requested', '=', 1).execute();
    return new Set(rows.map((r) => Number(r.id)));
  }

  // ---- logs ----

  async appendLogs(jobId: number, lines: JobLogLine[]): Promise<void> {
    for (let i = 0; i < lines.length; i += 200) {
      await this.db
        .insertInto('job_logs')
        .values(lines.slice(i, i + 200).map((l) => ({ job_id: jobId, at: l.at, level: l.level, message: l.message })))
        .execute();
    }
  }

  async logs(jobId: number, opts: { afterId?: number; limit?: number } = {}): Promise<(JobLogLine & { id: number })[]> {
    if (!Number.isSafeInteger(jobId)) return [];
    let q = this.db.selectFrom('job_logs').select(['id', 'at', 'level', 'message']).where('job_id', '=', jobId).orderBy('id');
    if (opts.afterId !== undefined) q = q.where('id', '>', opts.afterId);
    if (opts.limit !== undefined) q = q.limit(opts.limit);
    return (await q.execute()).map((r) => ({ id: Number(r.id), at: Number(r.at), level: r.level as JobLogLine['level'], message: r.message }));
  }

  // ---- schedules ----

  async getSchedule(kind: string, scope: string): Promise<Schedule | null> {
    const r = await this.db.selectFrom('job_schedules').selectAll().where('kind', '=', kind).where('scope', '=', scope).executeTakeFirst();
    return r ? toSchedule(r) : null;
  }

  async listSchedules(filter: { kind?: string; scope?: string } = {}): Promise<Schedule[]> {
    let q = this.db.selectFrom('job_schedules').selectAll().orderBy('id');
    if (filter.kind !== undefined) q = q.where('kind', '=', filter.kind);
    if (filter.scope !== undefined) q = q.where('scope', '=', filter.scope);
    return (await q.execute()).map(toSchedule);
  }

  /** Create or replace the schedule of a kind in a scope (enabled). */
  async upsertSchedule(kind: string, scope: string, cron: string, params: Record<string, unknown>, nextRun: number): Promise<Schedule> {
    const t = Date.now();
    const p = json(params) ?? '{}';
    await this.db
      .insertInto('job_schedules')
      .values({ kind, scope, cron, params: p, next_run: nextRun, enabled: 1, created_at: t, updated_at: t })
      .onConflict((oc) => oc.columns(['kind', 'scope']).doUpdateSet({ cron, params: p, next_run: nextRun, enabled: 1, updated_at: t }))
      .execute();
    return (await this.getSchedule(kind, scope))!;
  }

  /** Create the schedule unless one exists for the kind in the scope (which is left as it is). */
  async ensureSchedule(kind: string, scope: string, cron: string, params: Record<string, unknown>, nextRun: number): Promise<Schedule> {
    const t = Date.now();
    await this.db
      .insertInto('job_schedules')
      .values({ kind, scope, cron, params: json(params) ?? '{}', next_run: nextRun, enabled: 1, created_at: t, updated_at: t })
      .onConflict((oc) => oc.columns(['kind', 'scope']).doNothing())
      .execute();
    return (await this.getSchedule(kind, scope))!;
  }

  async deleteSchedule(kind: string, scope: string): Promise<boolean> {
    const r = await this.db.deleteFrom('job_schedules').where('kind', '=', kind).where('scope', '=', scope).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Enabled schedules of `kinds` whose next run is due. */
  async dueSchedules(kinds: string[], now: number = Date.now()): Promise<Schedule[]> {
    if (!kinds.length) return [];
    const rows = await this.db
      .selectFrom('job_schedules')
      .selectAll()
      .where('kind', 'in', kinds)
      .where('enabled', '=', 1)
      .where('next_run', '<=', now)
      .orderBy('next_run')
      .execute();
    return rows.map(toSchedule);
  }

  /**
   * Fire a due schedule: advance its next_run from the value we read to `nextRun` and, in the same
   * transaction, create its job. Only one process wins the advance (compare-and-set on next_run),
   * so a schedule enqueues once however many runners look at it. For an exclusive kind whose
   * previous job is still pending/running, the run is skipped (conflict) but next_run advances.
   */
  async fireSchedule(s: Schedule, nextRun: number | null, job: NewJob | null): Promise<{ fired: boolean; job: Job | null; conflict?: string }> {
    return this.meta.writeTx(async (trx) => {
      const r = await trx
        .updateTable('job_schedules')
        .set({ next_run: nextRun, updated_at: Date.now() })
        .where('id', '=', s.id)
        .where('next_run', '=', s.nextRun)
        .where('enabled', '=', 1)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) return { fired: false, job: null };
      if (!job) return { fired: true, job: null };
      try {
        return { fired: true, job: await this.insertJob(trx, job) };
      } catch (e) {
        if (e instanceof JobConflictError) return { fired: true, job: null, conflict: e.message };
        throw e;
      }
    });
  }
}

function json(v: Record<string, unknown> | null | undefined): string | null {
  if (v === null || v === undefined) return null;
  try {
    return JSON.stringify(v);
  } catch (e) {
    return JSON.stringify({ unserialisable: String((e as Error).message ?? e) });
  }
}

function parse(v: string | null): Record<string, unknown> | null {
  if (v === null || v === undefined) return null;
  try {
    const o = JSON.parse(v);
    return o && typeof o === 'object' && !Array.isArray(o) ? o : { value: o };
  } catch {
    return null;
  }
}

function num(v: number | null): number | null {
  return v === null || v === undefined ? null : Number(v);
}

export function toJob(r: JobRow): Job {
  return {
    id: Number(r.id),
    kind: r.kind,
    status: r.status as JobStatus,
    trigger: r.trigger as JobTrigger,
    scope: r.scope,
    params: parse(r.params) ?? {},
    progress: parse(r.progress),
    result: parse(r.result),
    error: r.error,
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    scheduleId: num(r.schedule_id),
    createdAt: Number(r.created_at),
    startedAt: num(r.started_at),
    updatedAt: Number(r.updated_at),
    finishedAt: num(r.finished_at),
  };
}

function toSchedule(r: ScheduleRow): Schedule {
  return {
    id: Number(r.id),
    kind: r.kind,
    scope: r.scope,
    cron: r.cron,
    params: parse(r.params) ?? {},
    nextRun: num(r.next_run),
    enabled: Number(r.enabled) === 1,
  };
}
