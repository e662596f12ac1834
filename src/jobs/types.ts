// The durable job system's contract (issue 4). Jobs live in the metadata database (tables jobs,
// job_logs, job_schedules; SQLite and PostgreSQL alike), so they survive restarts and run once
// across processes: a runner leases a pending job (lease_owner/lease_until), renews the lease
// while it runs, and a job whose lease expired (its process died) is picked up again.
//
// GC, retention and upload purging are JobHandlers registered with the JobService.
//
// HANDLERS MUST BE IDEMPOTENT. A job can run more than once: a failed attempt is retried; a job
// whose process died (or was shut down: close() releases running jobs) is resumed by another
// process, from the start, with the same params. Write handlers so that a rerun after a partial run
// is safe (re-check state before deleting, tolerate "already gone"), and check ctx.signal between
// batches so stops and shutdowns take effect quickly.
//
// Implementation: service.ts (class Jobs), store.ts (SQL), cron.ts (schedules).

export type JobStatus = 'pending' | 'running' | 'success' | 'error' | 'stopped';
export type JobTrigger = 'manual' | 'schedule' | 'system';

export interface Job {
  id: number;
  kind: string;
  status: JobStatus;
  trigger: JobTrigger;
  /** 'system' or 'project:<id>' */
  scope: string;
  params: Record<string, unknown>;
  progress: Record<string, unknown> | null;
  result: Record<string, unknown> | null;
  /** the last failed attempt's message (kept while a retry is pending) */
  error: string | null;
  /** attempts started so far (a resumed attempt after a crash counts; one released at shutdown does not) */
  attempts: number;
  maxAttempts: number;
  scheduleId: number | null;
  createdAt: number;
  startedAt: number | null;
  updatedAt: number;
  finishedAt: number | null;
}

export interface JobLogLine {
  at: number;
  level: 'info' | 'warn' | 'error';
  message: string;
}

export interface JobContext<P = Record<string, unknown>> {
  readonly job: Job;
  readonly params: P;
  /** aborted when a stop is requested (or the runner shuts down); long work checks it between batches */
  readonly signal: AbortSignal;
  /** append a line to this execution's log (buffered, flushed at least every second and at the end) */
  log(message: string, level?: JobLogLine['level']): void;
  /** replace the progress object users see (e.g. {blobsExamined, blobsDeleted, bytesFreed}); written at most once a second */
  progress(p: Record<string, unknown>): void;
}

export interface JobHandler<P = Record<string, unknown>> {
  kind: string;
  /** validate and normalise parameters before a job is created (throw Error with a clear message) */
  validate?(params: Record<string, unknown>): P;
  /**
   * do the work; the returned object is stored as the job's result. Throwing fails the attempt
   * (retried with backoff until maxAttempts). Must be idempotent (see the top of this file). After
   * ctx.signal aborts, return or throw soon: the outcome is then 'stopped' (stop request) or the job
   * goes back to pending for another process (shutdown).
   */
  run(ctx: JobContext<P>): Promise<Record<string, unknown> | void>;
  /** default 3 */
  maxAttempts?: number;
  /** at most one pending/running job of this kind per scope (GC: true) */
  exclusive?: boolean;
}

export interface EnqueueOptions {
  scope?: string;
  trigger?: JobTrigger;
  runAfter?: number;
  scheduleId?: number | null;
}

export interface Schedule {
  id: number;
  kind: string;
  scope: string;
  /** cron expression (5 fields, or Harbor's 6 with seconds first) */
  cron: string;
  params: Record<string, unknown>;
  nextRun: number | null;
  enabled: boolean;
}

export interface JobService {
  register(h: JobHandler<any>): void;
  /**
   * create a pending job (params go through the handler's validate); for an exclusive kind with one
   * already pending/running in the scope, throws JobConflictError (race-free across processes).
   * Throws Error for an unknown kind or invalid params.
   */
  enqueue(kind: string, params: Record<string, unknown>, opts?: EnqueueOptions): Promise<Job>;
  get(id: number): Promise<Job | null>;
  list(filter: { kind?: string; scope?: string; offset: number; limit: number }): Promise<{ items: Job[]; total: number }>;
  logs(id: number): Promise<JobLogLine[]>;
  /** request a stop: a pending job becomes stopped at once, a running one when its handler notices the signal */
  stop(id: number): Promise<boolean>;
  /** set (cron) or remove (null) the schedule of a kind in a scope */
  setSchedule(kind: string, scope: string, cron: string | null, params?: Record<string, unknown>): Promise<Schedule | null>;
  getSchedule(kind: string, scope: string): Promise<Schedule | null>;
  /** resolve when the job reaches a final status (tests, `wharf gc`) */
  wait(id: number, timeoutMs?: number): Promise<Job>;
  start(): void;
  close(): Promise<void>;
}

export class JobConflictError extends Error {}
