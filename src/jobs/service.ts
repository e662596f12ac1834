// Jobs: the durable job runner (see types.ts for the contract).
//
// Each process runs one Jobs. It polls the database for due jobs of the kinds it has handlers for
// (and wakes at once when it enqueues one itself), leases up to `concurrency` of them, renews the
// leases while the handlers run, polls stop requests, buffers logs and progress, retries failures
// with exponential backoff, and fires due cron schedules. Processes coordinate only through the
// database, so any number of them (cluster workers, several hosts on PostgreSQL) can share it.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Logger } from '../logger.ts';
import type { MetadataStore } from '../metadata/store.ts';
import { parseCron } from './cron.ts';
import { FINAL_STATUSES, JobStore, type ClaimedJob, type JobListFilter } from './store.ts';
import type { EnqueueOptions, Job, JobContext, JobHandler, JobLogLine, JobService, Schedule } from './types.ts';

export interface JobsOptions {
  logger?: Logger;
  /** jobs run at once by this process (default 2) */
  concurrency?: number;
  /** how often to look for due jobs (default 500 ms); enqueueing in this process wakes the runner at once */
  pollMs?: number;
  /** lease length (default 30 s): another process takes the job over this long after its runner stops renewing */
  leaseMs?: number;
  /** lease renewal interval (default 10 s) */
  renewMs?: number;
  /** how often running jobs' stop requests are checked (default 1 s) */
  stopPollMs?: number;
  /** log and progress flush interval (default 1 s) */
  flushMs?: number;
  /** how often due schedules are fired (default 15 s) */
  schedulerMs?: number;
  /** retry delay after attempt n is backoffBaseMs * 2^(n-1) (default 5 s) … */
  backoffBaseMs?: number;
  /** … capped at backoffMaxMs (default 10 min) */
  backoffMaxMs?: number;
  /** close(): how long aborted handlers get to return before their leases are released anyway (default 5 s) */
  closeTimeoutMs?: number;
  /** log lines kept per attempt (default 10000); the rest are dropped */
  maxLogLines?: number;
  /** lease owner id (default host:pid:random) */
  owner?: string;
}

type StopReason = 'stop' | 'shutdown' | 'lease-lost';

interface Execution {
  job: Job;
  controller: AbortController;
  reason: StopReason | null;
  /** lease expiry as last written by us */
  leaseUntil: number;
  logs: JobLogLine[];
  logCount: number;
  progress: Record<string, unknown> | null;
  progressDirty: boolean;
  flushChain: Promise<void>;
  /** close() gave up waiting and released the lease: the handler's outcome is not recorded */
  abandoned: boolean;
  /** the handler has returned or thrown: aborting it no longer changes the outcome */
  returned: boolean;
  done?: Promise<void>;
}

const MAX_MESSAGE = 8000;
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, enabled: () => false };

export class Jobs implements JobService {
  readonly store: JobStore;
  readonly owner: string;
  private readonly logger: Logger;
  private readonly o: Required<Omit<JobsOptions, 'logger' | 'owner'>>;
  private readonly handlers = new Map<string, JobHandler<any>>();
  private readonly running = new Map<number, Execution>();
  private readonly timers: NodeJS.Timeout[] = [];
  /** timer-driven work in flight (close() waits for it) */
  private readonly inflight = new Set<Promise<unknown>>();
  private started = false;
  private closed = false;
  private closing?: Promise<void>;
  private ticking = false;
  private tickAgain = false;
  private scheduling = false;

  constructor(meta: MetadataStore, opts: JobsOptions = {}) {
    this.store = new JobStore(meta);
    this.logger = opts.logger ?? silent;
    this.owner = opts.owner ?? `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.o = {
      concurrency: Math.max(1, opts.concurrency ?? 2),
      pollMs: opts.pollMs ?? 500,
      leaseMs: opts.leaseMs ?? 30_000,
      renewMs: opts.renewMs ?? 10_000,
      stopPollMs: opts.stopPollMs ?? 1000,
      flushMs: opts.flushMs ?? 1000,
      schedulerMs: opts.schedulerMs ?? 15_000,
      backoffBaseMs: opts.backoffBaseMs ?? 5000,
      backoffMaxMs: opts.backoffMaxMs ?? 600_000,
      closeTimeoutMs: opts.closeTimeoutMs ?? 5000,
      maxLogLines: opts.maxLogLines ?? 10_000,
    };
  }

  register(h: JobHandler<any>): void {
    if (!h?.kind || typeof h.run !== 'function') throw new Error('a job handler needs a kind and a run function');
    if (this.handlers.has(h.kind)) throw new Error(`job kind ${h.kind} is already registered`);
    this.handlers.set(h.kind, h);
    this.wake();
  }

  /** The registered handler of a kind, if any. */
  handler(kind: string): JobHandler<any> | undefined {
    return this.handlers.get(kind);
  }

  async enqueue(kind: string, params: Record<string, unknown> = {}, opts: EnqueueOptions = {}): Promise<Job> {
    const h = this.handlers.get(kind);
    if (!h) throw new Error(`unknown job kind ${kind}`);
    const job = await this.store.create({
      kind,
      scope: opts.scope ?? 'system',
      trigger: opts.trigger ?? 'manual',
      params: this.validate(h, params),
      maxAttempts: Math.max(1, h.maxAttempts ?? 3),
      runAfter: opts.runAfter ?? Date.now(),
      scheduleId: opts.scheduleId ?? null,
      exclusive: !!h.exclusive,
    });
    this.wake();
    return job;
  }

  private validate(h: JobHandler<any>, params: Record<string, unknown> | null | undefined): Record<string, unknown> {
    const p = h.validate ? h.validate(params ?? {}) : (params ?? {});
    if (!p || typeof p !== 'object' || Array.isArray(p)) throw new Error(`parameters of a ${h.kind} job must be an object`);
    return p as Record<string, unknown>;
  }

  get(id: number): Promise<Job | null> {
    return this.store.get(id);
  }

  /** Newest first; `status` narrows further. */
  list(filter: JobListFilter): Promise<{ items: Job[]; total: number }> {
    return this.store.list(filter);
  }

  async logs(id: number): Promise<JobLogLine[]> {
    return (await this.store.logs(id)).map(({ at, level, message }) => ({ at, level, message }));
  }

  async stop(id: number): Promise<boolean> {
    const ok = await this.store.requestStop(id);
    // Running here: no need to wait for the next stop poll.
    const exec = this.running.get(id);
    if (ok && exec) this.abort(exec, 'stop');
    return ok;
  }

  async setSchedule(kind: string, scope: string, cron: string | null, params: Record<string, unknown> = {}): Promise<Schedule | null> {
    if (cron === null) {
      await this.store.deleteSchedule(kind, scope);
      return null;
    }
    const c = parseCron(cron);
    const h = this.handlers.get(kind);
    return this.store.upsertSchedule(kind, scope, cron.trim(), h ? this.validate(h, params) : params, c.next(Date.now()));
  }

  /** Create the schedule if the kind has none in the scope; an existing one (maybe changed by an admin) is kept. */
  async ensureSchedule(kind: string, scope: string, cron: string, params: Record<string, unknown> = {}): Promise<Schedule> {
    const c = parseCron(cron);
    const h = this.handlers.get(kind);
    return this.store.ensureSchedule(kind, scope, cron.trim(), h ? this.validate(h, params) : params, c.next(Date.now()));
  }

  getSchedule(kind: string, scope: string): Promise<Schedule | null> {
    return this.store.getSchedule(kind, scope);
  }

  listSchedules(filter: { kind?: string; scope?: string } = {}): Promise<Schedule[]> {
    return this.store.listSchedules(filter);
  }

  async wait(id: number, timeoutMs?: number): Promise<Job> {
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    const step = Math.min(250, Math.max(10, this.o.pollMs));
    for (;;) {
      const j = await this.store.get(id);
      if (!j) throw new Error(`job ${id} not found`);
      if (FINAL_STATUSES.includes(j.status)) return j;
      if (Date.now() >= deadline) throw new Error(`timed out waiting for job ${id} (${j.status})`);
      await sleep(Math.min(step, Math.max(1, deadline - Date.now())));
    }
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    const every = (ms: number, f: () => Promise<unknown> | void) => {
      const t = setInterval(() => this.track(f), ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.o.pollMs, () => this.tick());
    every(this.o.renewMs, () => this.renewLeases());
    every(this.o.stopPollMs, () => this.pollStops());
    every(this.o.flushMs, () => Promise.all([...this.running.values()].map((e) => this.flush(e))));
    every(this.o.schedulerMs, () => this.runSchedules());
    this.track(() => this.runSchedules());
    this.wake();
  }

  /**
   * Stop polling, abort the running handlers, give them closeTimeoutMs to return, flush their logs
   * and release their leases (the jobs go back to pending, the attempt not counted), so another
   * process resumes them at once.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    await Promise.allSettled([...this.inflight]);
    const execs = [...this.running.values()];
    for (const e of execs) this.abort(e, 'shutdown');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(execs.map((e) => e.done)),
      new Promise<void>((r) => {
        timer = setTimeout(r, this.o.closeTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    for (const e of [...this.running.values()]) {
      // The handler ignores its signal: record what we have and let another process take over.
      e.abandoned = true;
      this.appendLog(e, 'the runner shut down before the handler returned; the job will be resumed', 'warn');
      await this.flush(e);
      await this.store.release(e.job.id, this.owner, e.progress).catch((err) => this.logger.warn('job lease release failed', { job: e.job.id, error: String(err) }));
      this.running.delete(e.job.id);
    }
  }

  /**
   * Fire the due schedules of the registered kinds now (the scheduler does it every schedulerMs).
   * Safe to call from several processes: each due run is enqueued once.
   */
  async runSchedules(): Promise<Job[]> {
    if (this.scheduling || this.closed) return [];
    this.scheduling = true;
    const jobs: Job[] = [];
    try {
      for (const s of await this.store.dueSchedules([...this.handlers.keys()])) {
        const h = this.handlers.get(s.kind);
        if (!h) continue;
        let next: number | null = null;
        try {
          next = parseCron(s.cron).next(Date.now());
        } catch (e) {
          this.logger.error('job schedule has an invalid cron expression; disabled until it is set again', { kind: s.kind, scope: s.scope, error: String((e as Error).message) });
        }
        let params: Record<string, unknown> | null = null;
        try {
          params = next === null ? null : this.validate(h, s.params);
        } catch (e) {
          this.logger.warn('scheduled job has invalid parameters; run skipped', { kind: s.kind, scope: s.scope, error: String((e as Error).message) });
        }
        const r = await this.store.fireSchedule(
          s,
          next,
          params && {
            kind: s.kind,
            scope: s.scope,
            trigger: 'schedule',
            params,
            maxAttempts: Math.max(1, h.maxAttempts ?? 3),
            runAfter: Date.now(),
            scheduleId: s.id,
            exclusive: !!h.exclusive,
          },
        );
        if (r.job) {
          jobs.push(r.job);
          this.logger.info('scheduled job enqueued', { job: r.job.id, kind: s.kind, scope: s.scope });
        } else if (r.conflict) {
          this.logger.info('scheduled run skipped: the previous one has not finished', { kind: s.kind, scope: s.scope, detail: r.conflict });
        }
      }
    } catch (e) {
      this.logger.warn('job scheduler failed', { error: String(e) });
    } finally {
      this.scheduling = false;
    }
    if (jobs.length) this.wake();
    return jobs;
  }

  // ---- runner ----

  private track(f: () => Promise<unknown> | void): void {
    if (this.closed) return;
    const p = Promise.resolve()
      .then(f)
      .catch((e) => this.logger.warn('job runner error', { error: String(e) }));
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  private wake(): void {
    if (this.started && !this.closed) this.track(() => this.tick());
  }

  /** Lease due jobs while there is capacity. */
  private async tick(): Promise<void> {
    if (this.ticking) {
      this.tickAgain = true;
      return;
    }
    this.ticking = true;
    try {
      do {
        this.tickAgain = false;
        while (!this.closed && this.running.size < this.o.concurrency) {
          const kinds = [...this.handlers.keys()];
          let c: ClaimedJob | null;
          try {
            c = await this.store.claim(this.owner, kinds, this.o.leaseMs, [...this.running.keys()]);
          } catch (e) {
            this.logger.warn('job claim failed', { error: String(e) });
            return;
          }
          if (!c) break;
          this.launch(c);
        }
      } while (this.tickAgain && !this.closed);
    } finally {
      this.ticking = false;
    }
  }

  private launch(c: ClaimedJob): void {
    const exec: Execution = {
      job: c.job,
      controller: new AbortController(),
      reason: null,
      leaseUntil: Date.now() + this.o.leaseMs,
      logs: [],
      logCount: 0,
      progress: c.job.progress,
      progressDirty: false,
      flushChain: Promise.resolve(),
      abandoned: false,
      returned: false,
    };
    this.running.set(c.job.id, exec);
    exec.done = this.execute(exec, c.stopRequested)
      .catch((e) => this.logger.error('job bookkeeping failed', { job: c.job.id, error: String(e) }))
      .finally(() => {
        if (this.running.get(c.job.id) === exec) this.running.delete(c.job.id);
        this.wake();
      });
  }

  private async execute(exec: Execution, stopRequested: boolean): Promise<void> {
    const { job } = exec;
    const h = this.handlers.get(job.kind);
    if (this.closed) {
      await this.store.release(job.id, this.owner);
      return;
    }
    if (stopRequested) {
      // Its previous runner died after a stop was requested.
      await this.store.finish(job.id, this.owner, 'stopped', { progress: job.progress, attempts: job.attempts - 1 });
      return;
    }
    if (job.attempts > job.maxAttempts || !h) {
      // The previous runner died during the last attempt (a job that crashes its process must not loop forever).
      const error = h ? `the process running attempt ${job.maxAttempts} of ${job.maxAttempts} stopped before it finished (lease expired)` : `no handler for job kind ${job.kind}`;
      this.appendLog(exec, error, 'error');
      await this.flush(exec);
      await this.store.finish(job.id, this.owner, 'error', { error, progress: job.progress, attempts: Math.min(job.attempts, job.maxAttempts) });
      return;
    }
    this.appendLog(exec, `attempt ${job.attempts} of ${job.maxAttempts} started (${this.owner})`);
    this.logger.info('job started', { job: job.id, kind: job.kind, scope: job.scope, attempt: job.attempts });
    const ctx: JobContext<any> = {
      job,
      params: job.params,
      signal: exec.controller.signal,
      log: (message, level = 'info') => this.appendLog(exec, message, level),
      progress: (p) => {
        exec.progress = p;
        exec.progressDirty = true;
      },
    };
    let ok = false;
    let result: Record<string, unknown> | null = null;
    let error = '';
    try {
      const r = await h.run(ctx);
      ok = true;
      result = r && typeof r === 'object' ? (r as Record<string, unknown>) : null;
    } catch (e) {
      error = truncate(e instanceof Error ? e.message || e.name : String(e));
    }
    exec.returned = true;
    await this.settle(exec, ok, result, error);
  }

  private async settle(exec: Execution, ok: boolean, result: Record<string, unknown> | null, error: string): Promise<void> {
    const { job } = exec;
    if (exec.abandoned) return;
    const took = Date.now() - (job.startedAt ?? Date.now());
    switch (exec.reason) {
      case 'lease-lost':
        this.appendLog(exec, 'this runner lost the job\'s lease; another process has taken it over', 'warn');
        await this.flush(exec);
        this.logger.warn('job lease lost', { job: job.id, kind: job.kind });
        return;
      case 'shutdown': {
        this.appendLog(exec, 'interrupted by shutdown; the job will be resumed', 'warn');
        await this.flush(exec);
        const s = await this.store.release(job.id, this.owner, exec.progress);
        this.logger.info('job released at shutdown', { job: job.id, kind: job.kind, status: s });
        return;
      }
      case 'stop':
        this.appendLog(exec, 'stopped on request');
        await this.flush(exec);
        await this.store.finish(job.id, this.owner, 'stopped', { result, error: null, progress: exec.progress });
        this.logger.info('job stopped', { job: job.id, kind: job.kind });
        return;
    }
    if (ok) {
      this.appendLog(exec, 'succeeded');
      await this.flush(exec);
      await this.store.finish(job.id, this.owner, 'success', { result, progress: exec.progress });
      this.logger.info('job succeeded', { job: job.id, kind: job.kind, ms: took });
      return;
    }
    if (job.attempts < job.maxAttempts) {
      const delay = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** (job.attempts - 1));
      this.appendLog(exec, `attempt ${job.attempts} failed: ${error}; retrying in ${formatDelay(delay)}`, 'error');
      await this.flush(exec);
      const s = await this.store.retry(job.id, this.owner, error, Date.now() + delay, exec.progress);
      this.logger.warn('job attempt failed', { job: job.id, kind: job.kind, attempt: job.attempts, error, status: s });
      return;
    }
    this.appendLog(exec, `attempt ${job.attempts} failed: ${error}; giving up`, 'error');
    await this.flush(exec);
    await this.store.finish(job.id, this.owner, 'error', { error, progress: exec.progress });
    this.logger.error('job failed', { job: job.id, kind: job.kind, attempts: job.attempts, error });
  }

  private abort(exec: Execution, reason: StopReason): void {
    if (exec.reason || exec.returned) return;
    exec.reason = reason;
    exec.controller.abort(new Error(reason === 'stop' ? 'job stop requested' : reason === 'shutdown' ? 'job runner shutting down' : 'job lease lost'));
  }

  private appendLog(exec: Execution, message: string, level: JobLogLine['level'] = 'info'): void {
    if (exec.logCount > this.o.maxLogLines) return;
    exec.logCount++;
    if (exec.logCount > this.o.maxLogLines) {
      exec.logs.push({ at: Date.now(), level: 'warn', message: `log truncated after ${this.o.maxLogLines} lines` });
      return;
    }
    exec.logs.push({ at: Date.now(), level: level === 'warn' || level === 'error' ? level : 'info', message: truncate(String(message)) });
  }

  /** Write buffered log lines and changed progress (serialised per execution). */
  private flush(exec: Execution): Promise<void> {
    exec.flushChain = exec.flushChain.then(async () => {
      const lines = exec.logs.splice(0);
      if (lines.length) {
        try {
          await this.store.appendLogs(exec.job.id, lines);
        } catch (e) {
          exec.logs.unshift(...lines);
          this.logger.warn('job log write failed', { job: exec.job.id, error: String(e) });
        }
      }
      if (exec.progressDirty && exec.progress && !exec.reason && !exec.abandoned) {
        exec.progressDirty = false;
        await this.store.saveProgress(exec.job.id, this.owner, exec.progress).catch((e) => {
          exec.progressDirty = true;
          this.logger.warn('job progress write failed', { job: exec.job.id, error: String(e) });
        });
      }
    });
    return exec.flushChain;
  }

  private async renewLeases(): Promise<void> {
    for (const exec of [...this.running.values()]) {
      if (exec.reason === 'lease-lost' || exec.abandoned) continue;
      try {
        if (await this.store.renew(exec.job.id, this.owner, this.o.leaseMs)) {
          exec.leaseUntil = Date.now() + this.o.leaseMs;
          continue;
        }
        this.abort(exec, 'lease-lost');
      } catch (e) {
        this.logger.warn('job lease renewal failed', { job: exec.job.id, error: String(e) });
        // Past our lease another process may already run the job: stop ours.
        if (Date.now() >= exec.leaseUntil) this.abort(exec, 'lease-lost');
      }
    }
  }

  private async pollStops(): Promise<void> {
    const ids = [...this.running.values()].filter((e) => !e.reason).map((e) => e.job.id);
    if (!ids.length) return;
    for (const id of await this.store.stopRequested(ids)) {
      const exec = this.running.get(id);
      if (exec) this.abort(exec, 'stop');
    }
  }
}

function truncate(s: string): string {
  return s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE)}…` : s;
}

function formatDelay(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 100) / 10}s` : `${ms}ms`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
