// Garbage collection in Harbor's shape (system admins): GET /system/gc (history, paged),
// GET /system/gc/{gc_id}, GET /system/gc/{gc_id}/log (text/plain), PUT /system/gc/{gc_id} (stop),
// GET/POST/PUT /system/gc/schedule. A `Manual` schedule runs a GC now (201, Location
// /api/v2.0/system/gc/<id>); `None` removes the schedule; Hourly/Daily/Weekly/Custom set the cron.
// Parameters (Harbor's): delete_untagged, dry_run, time_window (hours, default 2, 0 = no
// protection), workers (1–5). GC itself: src/gc/gc.ts; the job: src/gc/job.ts.
import { JobConflictError, type Job, type JobService, type Schedule } from '../jobs/types.ts';
import { GC_JOB, GC_SCOPE, validateGcParams } from '../gc/job.ts';
import { ApiError, badRequest, conflict, idParam, notFound, system, type ApiCtx, type ApiRoute } from './framework.ts';

/** Harbor's crons (6 fields, seconds first) for the fixed schedule types. */
const FIXED_CRON: Record<string, string> = { Hourly: '0 0 * * * *', Daily: '0 0 0 * * *', Weekly: '0 0 0 * * 0' };
const TYPES = ['Hourly', 'Daily', 'Weekly', 'Custom', 'Manual', 'None'];
const STATUS: Record<Job['status'], string> = { pending: 'Pending', running: 'Running', success: 'Success', error: 'Error', stopped: 'Stopped' };

function jobsOf(c: ApiCtx): JobService {
  const j = c.svc.jobs;
  if (!j) throw new ApiError(503, 'SERVICE_UNAVAILABLE', 'garbage collection is not available in this process');
  return j;
}

const iso = (t: number | null | undefined) => (t ? new Date(t).toISOString() : null);

function typeOfCron(cron: string): string {
  const norm = cron.trim().replace(/\s+/g, ' ');
  for (const [t, c] of Object.entries(FIXED_CRON)) if (c === norm) return t;
  return 'Custom';
}

/** Harbor's GCHistory, plus Wharf's progress/result/error/start/end (extra fields Harbor clients ignore). */
function historyJson(j: Job, schedule: Schedule | null) {
  const scheduled = j.trigger === 'schedule';
  return {
    id: j.id,
    job_name: 'GARBAGE_COLLECTION',
    job_kind: scheduled ? 'SCHEDULE' : 'MANUAL',
    job_parameters: JSON.stringify(j.params),
    schedule: scheduled && schedule ? { type: typeOfCron(schedule.cron), cron: schedule.cron } : { type: scheduled ? 'Schedule' : 'Manual' },
    job_status: STATUS[j.status] ?? j.status,
    deleted: false,
    creation_time: iso(j.createdAt),
    update_time: iso(j.updatedAt),
    start_time: iso(j.startedAt),
    end_time: iso(j.finishedAt),
    progress: j.progress,
    result: j.result,
    error: j.error,
  };
}

async function gcJob(c: ApiCtx): Promise<Job> {
  const id = idParam(c, 'gc_id');
  const j = await jobsOf(c).get(id);
  if (!j || j.kind !== GC_JOB || j.scope !== GC_SCOPE) throw notFound(`garbage collection ${id} not found`);
  return j;
}

/** POST and PUT /system/gc/schedule: Manual runs now, None removes the schedule, the rest set it. */
async function kick(c: ApiCtx, method: 'POST' | 'PUT'): Promise<void> {
  const body = await c.body<{ schedule?: unknown; parameters?: unknown }>();
  const sch = body.schedule;
  if (!sch || typeof sch !== 'object' || Array.isArray(sch)) throw badRequest('schedule is required: {"schedule": {"type": "Manual"|"Hourly"|"Daily"|"Weekly"|"Custom"|"None", "cron": "…"}}');
  const { type, cron } = sch as { type?: unknown; cron?: unknown };
  if (typeof type !== 'string' || !TYPES.includes(type)) throw badRequest(`schedule.type must be one of ${TYPES.join(', ')}`);
  if (cron !== undefined && cron !== null && typeof cron !== 'string') throw badRequest('schedule.cron must be a string');
  const rawParams = body.parameters ?? {};
  if (typeof rawParams !== 'object' || rawParams === null || Array.isArray(rawParams)) throw badRequest('parameters must be an object');
  let params: Record<string, unknown>;
  try {
    params = { ...validateGcParams(rawParams as Record<string, unknown>) };
  } catch (e) {
    throw badRequest((e as Error).message);
  }
  const jobs = jobsOf(c);
  if (type === 'Manual') {
    let job: Job;
    try {
      job = await jobs.enqueue(GC_JOB, params, { scope: GC_SCOPE, trigger: 'manual' });
    } catch (e) {
      if (e instanceof JobConflictError) throw conflict('a garbage collection is already pending or running');
      throw badRequest((e as Error).message);
    }
    c.audit('create', 'garbage-collection', `gc/${job.id}`);
    return c.created(`/system/gc/${job.id}`);
  }
  if (type === 'None') {
    await jobs.setSchedule(GC_JOB, GC_SCOPE, null);
    c.audit('delete', 'garbage-collection', 'gc/schedule');
    return method === 'POST' ? c.empty(201) : c.empty(200);
  }
  const expr = typeof cron === 'string' && cron.trim() ? cron.trim() : FIXED_CRON[type];
  if (!expr) throw badRequest('schedule.cron is required for a Custom schedule');
  try {
    await jobs.setSchedule(GC_JOB, GC_SCOPE, expr, params);
  } catch (e) {
    throw badRequest(`invalid schedule: ${(e as Error).message}`);
  }
  c.audit(method === 'POST' ? 'create' : 'update', 'garbage-collection', 'gc/schedule');
  return method === 'POST' ? c.created('/system/gc/schedule') : c.empty(200);
}

export const gcRoutes: ApiRoute[] = [
  {
    method: 'GET',
    path: '/system/gc',
    tag: 'gc',
    summary: 'Garbage collection history, newest first (paged)',
    perm: system('garbage-collection', 'list'),
    handler: async (c) => {
      const q = c.query.get('q');
      if (q) throw badRequest('q is not supported on /system/gc');
      const sort = c.query.get('sort');
      if (sort && sort !== '-creation_time' && sort !== '-id') throw badRequest('sort supports only -creation_time');
      const pg = c.page();
      const jobs = jobsOf(c);
      const { items, total } = await jobs.list({ kind: GC_JOB, scope: GC_SCOPE, offset: pg.offset, limit: pg.pageSize });
      const schedule = items.some((j) => j.trigger === 'schedule') ? await jobs.getSchedule(GC_JOB, GC_SCOPE) : null;
      c.paged(
        items.map((j) => historyJson(j, schedule)),
        total,
        pg,
      );
    },
  },
  {
    method: 'GET',
    path: '/system/gc/schedule',
    tag: 'gc',
    summary: "The GC schedule and its parameters (type None when there is none)",
    perm: system('garbage-collection', 'read'),
    handler: async (c) => {
      const s = await jobsOf(c).getSchedule(GC_JOB, GC_SCOPE);
      if (!s) return c.json(200, { schedule: { type: 'None', cron: '' } });
      const type = typeOfCron(s.cron);
      c.json(200, {
        id: s.id,
        job_name: 'GARBAGE_COLLECTION',
        job_kind: type,
        job_parameters: JSON.stringify(s.params),
        schedule: { type, cron: s.cron, next_scheduled_time: iso(s.nextRun) },
        parameters: s.params,
        deleted: false,
      });
    },
  },
  {
    method: 'POST',
    path: '/system/gc/schedule',
    tag: 'gc',
    summary: 'Run a GC now (type Manual: 201 with Location), or create/remove its schedule',
    perm: system('garbage-collection', 'create'),
    handler: (c) => kick(c, 'POST'),
  },
  {
    method: 'PUT',
    path: '/system/gc/schedule',
    tag: 'gc',
    summary: 'Update the GC schedule (type Manual runs a GC now)',
    perm: system('garbage-collection', 'update'),
    handler: (c) => kick(c, 'PUT'),
  },
  {
    method: 'GET',
    path: '/system/gc/{gc_id}',
    tag: 'gc',
    summary: 'One garbage collection: status, parameters, progress, result',
    perm: system('garbage-collection', 'read'),
    handler: async (c) => {
      const j = await gcJob(c);
      const schedule = j.trigger === 'schedule' ? await jobsOf(c).getSchedule(GC_JOB, GC_SCOPE) : null;
      c.json(200, historyJson(j, schedule));
    },
  },
  {
    method: 'GET',
    path: '/system/gc/{gc_id}/log',
    tag: 'gc',
    summary: "A garbage collection's log (text/plain)",
    perm: system('garbage-collection', 'read'),
    handler: async (c) => {
      const j = await gcJob(c);
      const lines = await jobsOf(c).logs(j.id);
      const body = Buffer.from(lines.map((l) => `${new Date(l.at).toISOString()} [${l.level.toUpperCase()}] ${l.message}\n`).join(''));
      c.res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
      c.res.end(c.req.method === 'HEAD' ? undefined : body);
    },
  },
  {
    method: 'PUT',
    path: '/system/gc/{gc_id}',
    tag: 'gc',
    summary: 'Stop a pending or running garbage collection (it ends after its current batch)',
    perm: system('garbage-collection', 'stop'),
    handler: async (c) => {
      const j = await gcJob(c);
      await jobsOf(c).stop(j.id);
      c.audit('update', 'garbage-collection', `gc/${j.id}`);
      c.empty(200);
    },
  },
];
