// One behaviour suite for the job system on every metadata backend (SQLite, PostgreSQL).
// Several Jobs instances stand for several processes sharing the database.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../logger.ts';
import type { MetadataStore } from '../metadata/store.ts';
import { CronError } from './cron.ts';
import { Jobs, type JobsOptions } from './service.ts';
import { JobConflictError, type Job, type JobHandler } from './types.ts';

export interface JobsEnv {
  /**
   * The store of one more "process". PostgreSQL: its own connection pool. SQLite: the shared
   * connection (better-sqlite3 is synchronous: two connections in one process would block each
   * other's busy wait); jobs.test.ts also runs real processes on one SQLite file.
   */
  open(): Promise<MetadataStore>;
  cleanup(): Promise<void>;
}

/** Fast timings for tests. */
export const FAST: JobsOptions = {
  pollMs: 20,
  leaseMs: 3000,
  renewMs: 200,
  stopPollMs: 30,
  flushMs: 50,
  schedulerMs: 3_600_000, // tests fire schedules themselves unless they say otherwise
  backoffBaseMs: 40,
  backoffMaxMs: 400,
  closeTimeoutMs: 1000,
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(f: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export function describeJobs(name: string, make: () => Promise<JobsEnv>) {
  describe(`jobs: ${name}`, () => {
    let env: JobsEnv;
    let open: JobsEnv['open'];
    const instances: Jobs[] = [];
    beforeAll(async () => {
      env = await make();
      open = env.open;
    });
    afterAll(async () => {
      await Promise.allSettled(instances.map((j) => j.close()));
      await env.cleanup();
    });
    // The runner's own failures (a database write it could not make) would otherwise only be logged.
    const failures: string[] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn(msg, f) {
        if (msg !== 'job attempt failed' && msg !== 'job lease lost') failures.push(`${msg} ${JSON.stringify(f)}`);
      },
      error(msg, f) {
        if (msg !== 'job failed') failures.push(`${msg} ${JSON.stringify(f)}`);
      },
      enabled: () => true,
    };
    afterEach(() => {
      const f = failures.splice(0);
      expect(f).toEqual([]);
    });

    async function runner(handlers: JobHandler<any>[], opts: JobsOptions = {}, start = true): Promise<Jobs> {
      const j = new Jobs(await open(), { ...FAST, logger, ...opts });
      instances.push(j);
      for (const h of handlers) j.register(h);
      if (start) j.start();
      return j;
    }

    it('runs a job once and stores its result', async () => {
      let calls = 0;
      const seen: Job[] = [];
      const j = await runner([
        {
          kind: 't_once',
          async run(ctx) {
            calls++;
            seen.push(ctx.job);
            return { echo: ctx.params.x };
          },
        },
      ]);
      const created = await j.enqueue('t_once', { x: 42 });
      expect(created).toMatchObject({ kind: 't_once', status: 'pending', trigger: 'manual', scope: 'system', params: { x: 42 }, attempts: 0, maxAttempts: 3 });
      const done = await j.wait(created.id, 10_000);
      expect(done).toMatchObject({ status: 'success', result: { echo: 42 }, error: null, attempts: 1 });
      expect(done.startedAt).toBeGreaterThanOrEqual(created.createdAt);
      expect(done.finishedAt).toBeGreaterThanOrEqual(done.startedAt!);
      expect(seen[0]).toMatchObject({ id: created.id, status: 'running', attempts: 1 });
      await sleep(150);
      expect(calls).toBe(1);
      await j.close();
    });

    it('rejects unknown kinds, invalid parameters and double registration', async () => {
      const j = await runner(
        [
          {
            kind: 't_valid',
            validate(p) {
              if (typeof p.n !== 'number') throw new Error('n must be a number');
              return { n: p.n };
            },
            async run() {},
          },
        ],
        {},
        false,
      );
      await expect(j.enqueue('t_nope', {})).rejects.toThrow('unknown job kind t_nope');
      await expect(j.enqueue('t_valid', { n: 'x' })).rejects.toThrow('n must be a number');
      expect(() => j.register({ kind: 't_valid', async run() {} })).toThrow('already registered');
      const ok = await j.enqueue('t_valid', { n: 1, extra: true });
      expect(ok.params).toEqual({ n: 1 });
      await expect(j.wait(ok.id, 100)).rejects.toThrow(/timed out waiting for job/);
      await expect(j.wait(999_999_999, 100)).rejects.toThrow('not found');
      expect(await j.get(999_999_999)).toBeNull();
      await j.stop(ok.id);
      await j.close();
    });

    it('retries a failing job with exponential backoff, then succeeds', async () => {
      const at: number[] = [];
      const j = await runner(
        [
          {
            kind: 't_retry',
            async run(ctx) {
              at.push(Date.now());
              if (at.length < 3) throw new Error(`boom ${at.length}`);
              ctx.log('third time lucky');
              return { ok: true };
            },
          },
        ],
        { backoffBaseMs: 150, backoffMaxMs: 5000 },
      );
      const { id } = await j.enqueue('t_retry', {});
      // Between attempts the job is pending again, its last error visible.
      const between = await until(async () => {
        const x = await j.get(id);
        return x?.status === 'pending' && x.attempts === 1 ? x : null;
      }, 'the first retry to be pending');
      expect(between.error).toBe('boom 1');
      const done = await j.wait(id, 10_000);
      expect(done).toMatchObject({ status: 'success', attempts: 3, result: { ok: true }, error: null });
      expect(at[1] - at[0]).toBeGreaterThanOrEqual(140); // 150 ms
      expect(at[2] - at[1]).toBeGreaterThanOrEqual(290); // 300 ms
      const logs = (await j.logs(id)).map((l) => l.message);
      expect(logs.some((m) => m.startsWith('attempt 1 failed: boom 1; retrying in'))).toBe(true);
      expect(logs.some((m) => m.startsWith('attempt 2 failed: boom 2; retrying in'))).toBe(true);
      expect(logs).toContain('third time lucky');
      expect((await j.logs(id)).find((l) => l.message.startsWith('attempt 1 failed'))?.level).toBe('error');
      await j.close();
    });

    it('fails after maxAttempts and stores the error', async () => {
      let calls = 0;
      const j = await runner([
        {
          kind: 't_fail',
          maxAttempts: 2,
          async run() {
            calls++;
            throw new Error(`disk on fire (${calls})`);
          },
        },
      ]);
      const { id } = await j.enqueue('t_fail', {});
      const done = await j.wait(id, 10_000);
      expect(done).toMatchObject({ status: 'error', attempts: 2, maxAttempts: 2, error: 'disk on fire (2)', result: null });
      expect(done.finishedAt).not.toBeNull();
      expect((await j.logs(id)).at(-1)).toMatchObject({ level: 'error', message: 'attempt 2 failed: disk on fire (2); giving up' });
      await sleep(200);
      expect(calls).toBe(2);
      await j.close();
    });

    it('stops a running job: the handler sees its signal (stop from this or another process)', async () => {
      const aborted: number[] = [];
      const started = new Set<number>();
      const handler: JobHandler = {
        kind: 't_stop',
        async run(ctx) {
          started.add(ctx.job.id);
          ctx.progress({ step: 1 });
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
          aborted.push(ctx.job.id);
          ctx.log('noticed the stop');
          throw ctx.signal.reason;
        },
      };
      const a = await runner([handler]);
      const other = await runner([], {}, false); // a process without the handler, e.g. the API side
      for (const via of [a, other]) {
        const { id } = await a.enqueue('t_stop', {});
        await until(async () => started.has(id), 'the handler to start');
        expect(await via.stop(id)).toBe(true);
        const done = await a.wait(id, 10_000);
        expect(done).toMatchObject({ status: 'stopped', error: null, attempts: 1, progress: { step: 1 } });
        expect(aborted).toContain(id);
        expect((await a.logs(id)).map((l) => l.message)).toEqual(expect.arrayContaining(['noticed the stop', 'stopped on request']));
        expect(await via.stop(id)).toBe(false); // already final
      }
      await a.close();
      await other.close();
    });

    it('stops a pending job at once; it never runs', async () => {
      let calls = 0;
      const j = await runner([
        {
          kind: 't_stop_pending',
          async run() {
            calls++;
          },
        },
      ]);
      const later = await j.enqueue('t_stop_pending', {}, { runAfter: Date.now() + 3_600_000 });
      expect(await j.stop(later.id)).toBe(true);
      const s = await j.get(later.id);
      expect(s).toMatchObject({ status: 'stopped', attempts: 0 });
      expect(s!.finishedAt).not.toBeNull();
      expect(await j.stop(later.id)).toBe(false);
      expect(await j.stop(123_456_789)).toBe(false);
      await sleep(100);
      expect(calls).toBe(0);
      await j.close();
    });

    it('exclusive kinds: one pending/running job per scope, race-free across processes', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const handler = (): JobHandler => ({
        kind: 't_excl',
        exclusive: true,
        async run() {
          await gate;
        },
      });
      const a = await runner([handler()], {}, false);
      const b = await runner([handler()], {}, false);
      const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).enqueue('t_excl', {}, { scope: 'project:1' })));
      const ok = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<Job>[];
      const bad = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      expect(ok).toHaveLength(1);
      expect(bad).toHaveLength(11);
      for (const r of bad) {
        expect(r.reason).toBeInstanceOf(JobConflictError);
        expect(r.reason.message).toMatch(new RegExp(`a t_excl job is already pending in scope project:1 \\(job ${ok[0].value.id}\\)`));
      }
      // another scope is independent
      const other = await b.enqueue('t_excl', {}, { scope: 'project:2' });
      // still exclusive while running
      a.start();
      await until(async () => (await a.get(ok[0].value.id))?.status === 'running', 'the job to run');
      await expect(b.enqueue('t_excl', {}, { scope: 'project:1' })).rejects.toThrow(/already running/);
      release();
      await a.wait(ok[0].value.id, 10_000);
      await a.wait(other.id, 10_000);
      // once finished, a new one may be created
      const again = await b.enqueue('t_excl', {}, { scope: 'project:1' });
      expect((await a.wait(again.id, 10_000)).status).toBe('success');
      await a.close();
      await b.close();
    });

    it('two processes never run the same job twice', async () => {
      const runs: { id: number; by: string }[] = [];
      const mk = (by: string): JobHandler => ({
        kind: 't_many',
        async run(ctx) {
          runs.push({ id: ctx.job.id, by });
          await sleep(2 + Math.random() * 10);
          return { by };
        },
      });
      const a = await runner([mk('a')], { concurrency: 3 }, false);
      const b = await runner([mk('b')], { concurrency: 3 }, false);
      const ids: number[] = [];
      for (let i = 0; i < 50; i++) ids.push((await (i % 2 ? a : b).enqueue('t_many', { i })).id);
      a.start();
      b.start();
      const done = await Promise.all(ids.map((id) => a.wait(id, 30_000)));
      expect(done.every((d) => d.status === 'success' && d.attempts === 1)).toBe(true);
      expect(runs).toHaveLength(50);
      expect(new Set(runs.map((r) => r.id)).size).toBe(50);
      // each result names the runner that ran it
      for (const d of done) expect(runs.find((r) => r.id === d.id)!.by).toBe(d.result!.by);
      expect(new Set(runs.map((r) => r.by)).size).toBe(2);
      await a.close();
      await b.close();
    });

    it('a job whose runner stopped renewing (crashed) is taken over when its lease expires; the old runner cannot overwrite it', async () => {
      let releaseA!: () => void;
      const aGate = new Promise<void>((r) => (releaseA = r));
      let aStarted = false;
      let aSawAbort = false;
      // A: short lease, never renewed in time — as if its process had died.
      const a = await runner(
        [
          {
            kind: 't_lease',
            async run(ctx) {
              aStarted = true;
              ctx.log('A started');
              await aGate; // hangs, ignoring its signal
              aSawAbort = ctx.signal.aborted;
              return { by: 'a' };
            },
          },
        ],
        { leaseMs: 300, renewMs: 3_600_000 },
      );
      const { id } = await a.enqueue('t_lease', {});
      await until(async () => aStarted, 'A to start');
      const running = await a.get(id);
      expect(running).toMatchObject({ status: 'running', attempts: 1 });
      const b = await runner([
        {
          kind: 't_lease',
          async run(ctx) {
            ctx.log('B resumed');
            return { by: 'b', attempt: ctx.job.attempts };
          },
        },
      ]);
      const t0 = Date.now();
      const done = await b.wait(id, 10_000);
      expect(done).toMatchObject({ status: 'success', attempts: 2, result: { by: 'b', attempt: 2 } });
      expect(Date.now() - t0).toBeLessThan(5000);
      // A's handler finally returns: its outcome is not recorded (the lease is B's now).
      releaseA();
      await sleep(100);
      expect(await a.get(id)).toMatchObject({ status: 'success', result: { by: 'b' } });
      expect(aSawAbort).toBe(false);
      const msgs = (await b.logs(id)).map((l) => l.message);
      expect(msgs).toEqual(expect.arrayContaining(['B resumed']));
      await a.close();
      await b.close();
    });

    it('a job whose runner died during its last attempt fails instead of looping', async () => {
      let aStarted = false;
      const a = await runner(
        [
          {
            kind: 't_poison',
            maxAttempts: 1,
            async run() {
              aStarted = true;
              await new Promise(() => {}); // never returns
            },
          },
        ],
        { leaseMs: 200, renewMs: 3_600_000, closeTimeoutMs: 50 },
      );
      const { id } = await a.enqueue('t_poison', {});
      await until(async () => aStarted, 'A to start');
      let bCalls = 0;
      const b = await runner([
        {
          kind: 't_poison',
          maxAttempts: 1,
          async run() {
            bCalls++;
          },
        },
      ]);
      const done = await b.wait(id, 10_000);
      expect(done).toMatchObject({ status: 'error', attempts: 1 });
      expect(done.error).toMatch(/stopped before it finished/);
      expect(bCalls).toBe(0);
      await b.close();
      await a.close();
    });

    it('close() aborts running jobs and releases them for another process, without counting the attempt', async () => {
      const handler = (by: string, hang: boolean): JobHandler => ({
        kind: 't_release',
        async run(ctx) {
          ctx.progress({ by });
          ctx.log(`${by} running`);
          if (hang) {
            await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r()));
            ctx.signal.throwIfAborted();
          }
          return { by };
        },
      });
      const a = await runner([handler('a', true)]);
      const { id } = await a.enqueue('t_release', {});
      await until(async () => (await a.get(id))?.status === 'running', 'A to run it');
      await a.close();
      const released = await a.get(id);
      expect(released).toMatchObject({ status: 'pending', attempts: 0 });
      const msgs = (await a.logs(id)).map((l) => l.message);
      expect(msgs).toEqual(expect.arrayContaining(['a running', 'interrupted by shutdown; the job will be resumed']));
      const b = await runner([handler('b', false)]);
      expect(await b.wait(id, 10_000)).toMatchObject({ status: 'success', attempts: 1, result: { by: 'b' } });
      await b.close();
    });

    it('close() gives up on a handler that ignores its signal and releases the job anyway', async () => {
      const a = await runner(
        [
          {
            kind: 't_stubborn',
            async run() {
              await new Promise(() => {});
            },
          },
        ],
        { closeTimeoutMs: 100 },
      );
      const { id } = await a.enqueue('t_stubborn', {});
      await until(async () => (await a.get(id))?.status === 'running', 'A to run it');
      const t0 = Date.now();
      await a.close();
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(await a.get(id)).toMatchObject({ status: 'pending', attempts: 0 });
      await a.stop(id);
    });

    it('persists logs and progress while running and at the end', async () => {
      let go!: () => void;
      const gate = new Promise<void>((r) => (go = r));
      const j = await runner([
        {
          kind: 't_logs',
          async run(ctx) {
            ctx.log('first');
            ctx.log('careful', 'warn');
            ctx.progress({ done: 1, total: 3 });
            await gate;
            ctx.progress({ done: 3, total: 3 });
            ctx.log('bad thing', 'error');
            return { n: 3 };
          },
        },
      ]);
      const { id } = await j.enqueue('t_logs', {});
      // flushed while the handler still runs (flushMs)
      await until(async () => (await j.get(id))?.progress?.done === 1, 'progress to be written');
      await until(async () => (await j.logs(id)).some((l) => l.message === 'careful'), 'logs to be written');
      go();
      const done = await j.wait(id, 10_000);
      expect(done.progress).toEqual({ done: 3, total: 3 });
      const logs = await j.logs(id);
      const mine = logs.filter((l) => ['first', 'careful', 'bad thing'].includes(l.message));
      expect(mine.map((l) => [l.level, l.message])).toEqual([
        ['info', 'first'],
        ['warn', 'careful'],
        ['error', 'bad thing'],
      ]);
      expect(logs[0].message).toMatch(/^attempt 1 of 3 started/);
      expect(logs.at(-1)!.message).toBe('succeeded');
      for (let i = 1; i < logs.length; i++) expect(logs[i].at).toBeGreaterThanOrEqual(logs[i - 1].at);
      await j.close();
    });

    it('lists jobs newest first with filters, paging and a total', async () => {
      const j = await runner([{ kind: 't_page', async run() {} }], {}, false);
      const ids: number[] = [];
      for (let i = 0; i < 7; i++) ids.push((await j.enqueue('t_page', { i }, { scope: i < 5 ? 'project:9' : 'project:10' })).id);
      const p1 = await j.list({ kind: 't_page', offset: 0, limit: 3 });
      expect(p1.total).toBe(7);
      expect(p1.items.map((x) => x.id)).toEqual([ids[6], ids[5], ids[4]]);
      const p3 = await j.list({ kind: 't_page', offset: 6, limit: 3 });
      expect(p3.items.map((x) => x.id)).toEqual([ids[0]]);
      expect(p3.total).toBe(7);
      const scoped = await j.list({ kind: 't_page', scope: 'project:9', offset: 1, limit: 2 });
      expect(scoped.total).toBe(5);
      expect(scoped.items.map((x) => x.params.i)).toEqual([3, 2]);
      await j.stop(ids[0]);
      const stopped = await j.list({ kind: 't_page', status: 'stopped', offset: 0, limit: 10 });
      expect(stopped).toMatchObject({ total: 1, items: [{ id: ids[0], status: 'stopped' }] });
      expect(await j.list({ kind: 't_none', offset: 0, limit: 10 })).toEqual({ items: [], total: 0 });
      for (const id of ids) await j.stop(id);
      await j.close();
    });

    it('schedules: set, validate, replace, ensure, remove', async () => {
      const j = await runner([{ kind: 't_sched_crud', async run() {} }], {}, false);
      await expect(j.setSchedule('t_sched_crud', 'system', 'not a cron')).rejects.toThrow(CronError);
      expect(await j.getSchedule('t_sched_crud', 'system')).toBeNull();
      const before = Date.now();
      const s = await j.setSchedule('t_sched_crud', 'system', '0 0 * * *', { deep: true });
      expect(s).toMatchObject({ kind: 't_sched_crud', scope: 'system', cron: '0 0 * * *', params: { deep: true }, enabled: true });
      expect(s!.nextRun).toBeGreaterThan(before);
      expect(s!.nextRun! % 86_400_000).toBe(0); // midnight UTC
      const s2 = await j.setSchedule('t_sched_crud', 'system', '0 * * * *');
      expect(s2).toMatchObject({ id: s!.id, cron: '0 * * * *', params: {} });
      expect(s2!.nextRun! % 3_600_000).toBe(0);
      // ensure keeps what is there
      expect(await j.ensureSchedule('t_sched_crud', 'system', '*/5 * * * *')).toMatchObject({ id: s!.id, cron: '0 * * * *' });
      const other = await j.ensureSchedule('t_sched_crud', 'project:3', '*/5 * * * *');
      expect(other).toMatchObject({ scope: 'project:3', cron: '*/5 * * * *' });
      expect((await j.listSchedules({ kind: 't_sched_crud' })).map((x) => x.scope)).toEqual(['system', 'project:3']);
      expect(await j.setSchedule('t_sched_crud', 'system', null)).toBeNull();
      expect(await j.getSchedule('t_sched_crud', 'system')).toBeNull();
      await j.setSchedule('t_sched_crud', 'project:3', null);
      await j.close();
    });

    it('a due schedule enqueues one job however many processes fire it', async () => {
      const h: JobHandler = { kind: 't_sched', async run() {} };
      const a = await runner([h], {}, false);
      const b = await runner([{ ...h }], {}, false);
      const s = (await a.setSchedule('t_sched', 'system', '0 0 1 1 *', { p: 1 }))!;
      for (let round = 1; round <= 5; round++) {
        await a.store.meta.db.updateTable('job_schedules').set({ next_run: Date.now() - 1000 }).where('id', '=', s.id).execute();
        const fired = (await Promise.all([a.runSchedules(), b.runSchedules(), a.runSchedules(), b.runSchedules()])).flat();
        expect(fired).toHaveLength(1);
        expect(fired[0]).toMatchObject({ kind: 't_sched', trigger: 'schedule', scheduleId: s.id, scope: 'system', params: { p: 1 } });
        const { total } = await a.list({ kind: 't_sched', offset: 0, limit: 1 });
        expect(total).toBe(round);
        const after = (await a.getSchedule('t_sched', 'system'))!;
        expect(after.nextRun).toBeGreaterThan(Date.now()); // next January
        // not due again
        expect([...(await a.runSchedules()), ...(await b.runSchedules())]).toHaveLength(0);
      }
      await a.setSchedule('t_sched', 'system', null);
      await a.close();
      await b.close();
    });

    it('the scheduler runs by itself, once per due time across processes, and the jobs run', async () => {
      const ran: number[] = [];
      const h = (): JobHandler => ({
        kind: 't_sched_live',
        async run(ctx) {
          ran.push(ctx.job.id);
        },
      });
      const a = await runner([h()], { schedulerMs: 40 }, false);
      const b = await runner([h()], { schedulerMs: 40 }, false);
      await a.setSchedule('t_sched_live', 'system', '* * * * * *'); // every second
      const t0 = Date.now();
      a.start();
      b.start();
      await sleep(2600);
      await a.setSchedule('t_sched_live', 'system', null);
      const elapsed = Date.now() - t0;
      await sleep(200);
      const { items } = await a.list({ kind: 't_sched_live', offset: 0, limit: 100 });
      expect(items.length).toBeGreaterThanOrEqual(2);
      expect(items.length).toBeLessThanOrEqual(Math.ceil(elapsed / 1000) + 1);
      // one job per second at most
      const seconds = items.map((x) => Math.floor(x.createdAt / 1000));
      expect(new Set(seconds).size).toBe(items.length);
      await until(async () => ran.length === items.length, 'the scheduled jobs to run');
      expect(new Set(ran).size).toBe(ran.length);
      await a.close();
      await b.close();
    });

    it('a schedule of an exclusive kind skips a run while the previous one is unfinished', async () => {
      const j = await runner([{ kind: 't_sched_excl', exclusive: true, async run() {} }], {}, false);
      const s = (await j.setSchedule('t_sched_excl', 'project:4', '0 0 1 1 *'))!;
      const pending = await j.enqueue('t_sched_excl', {}, { scope: 'project:4' });
      await j.store.meta.db.updateTable('job_schedules').set({ next_run: Date.now() - 1000 }).where('id', '=', s.id).execute();
      expect(await j.runSchedules()).toHaveLength(0);
      expect((await j.getSchedule('t_sched_excl', 'project:4'))!.nextRun).toBeGreaterThan(Date.now()); // advanced anyway
      expect((await j.list({ kind: 't_sched_excl', offset: 0, limit: 10 })).total).toBe(1);
      await j.stop(pending.id);
      await j.setSchedule('t_sched_excl', 'project:4', null);
      await j.close();
    });

    it('a stop requested while the runner was dead is honoured when the job is taken over', async () => {
      let aStarted = false;
      const a = await runner(
        [
          {
            kind: 't_dead_stop',
            async run() {
              aStarted = true;
              await new Promise(() => {});
            },
          },
        ],
        { leaseMs: 200, renewMs: 3_600_000, stopPollMs: 3_600_000, closeTimeoutMs: 50 },
      );
      const { id } = await a.enqueue('t_dead_stop', {});
      await until(async () => aStarted, 'A to start');
      // requested through another process: A never polls it
      const b = await runner([{ kind: 't_dead_stop', async run() { throw new Error('must not run'); } }]);
      expect(await b.stop(id)).toBe(true);
      expect(await b.wait(id, 10_000)).toMatchObject({ status: 'stopped', attempts: 1 });
      await b.close();
      await a.close();
    });
  });
}
