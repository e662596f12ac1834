// Tag retention (Harbor's /retentions API): the policy of a project (one per project, referenced
// by id; the project's metadata `retention_id` names it), its executions (jobs of kind
// 'retention' in scope 'project:<id>') and their tasks and logs. Shapes follow Harbor's swagger
// definitions RetentionMetadata, RetentionPolicy, RetentionExecution and RetentionExecutionTask.
//
// Permissions are Harbor's (src/server/v2.0/handler/retention.go): `tag-retention` on the
// policy's project — read for the policy and task logs, create / update / delete for the policy,
// update to run or stop an execution, list for executions and tasks. Every call needs a login
// (401); an unknown policy is 404, a known one the caller may not act on 403. A personal access
// token needs the registry `delete` scope to start a real (not dry) run, as it would to delete
// artifacts through the API.
//
// Tasks: Harbor runs one task per repository. Wharf runs one job per execution and reports one
// task per repository it evaluated (from the finished job's result; ids 1..n) whose log is that
// repository's lines of the execution log (plus the general lines). While an execution is
// pending or running, or when it failed before reporting, it shows one task (id 0) for the whole
// execution with the full log. Both `/tasks/{tid}` (Harbor) and `/tasks/{tid}/log` answer the log.
//
// GET /retentions/{id}/executions/{eid} (not in Harbor) returns one execution; executions carry
// Wharf's `progress` ({repositories, repositoriesTotal, examined, retained, deleted, skipped,
// dryRun}) and `error` in addition to Harbor's fields.
import { JobConflictError, type Job, type JobService } from '../jobs/types.ts';
import type { Project } from '../identity/store.ts';
import { RETENTION_JOB, projectScope, type RetentionTaskResult } from '../retention/job.ts';
import { RetentionConflictError, RetentionPolicies, RetentionValidationError, parsePolicy, scheduleOf, type StoredPolicy } from '../retention/policies.ts';
import { repositoryPath, type RetentionPolicy } from '../retention/evaluate.ts';
import type { Action } from '../rbac/permissions.ts';
import { ApiError, badRequest, conflict, custom, denial, idParam, login, notFound, unauthorized, type ApiCtx, type ApiRoute } from './framework.ts';
import { iso, NEVER } from './projects.ts';
import { requireRegistryScope } from './repositories.ts';

export interface RetentionApiDeps {
  /** the job service; default: `jobs` of the API services (c.svc.jobs) */
  jobs?: JobService;
}

/** Harbor's metadata payload (the templates and selectors its UI offers). */
const METADATA = {
  templates: [
    { rule_template: 'latestPushedK', display_text: 'the most recently pushed # artifacts', action: 'retain', params: [{ type: 'int', unit: 'COUNT', required: true }] },
    { rule_template: 'latestPulledN', display_text: 'the most recently pulled # artifacts', action: 'retain', params: [{ type: 'int', unit: 'COUNT', required: true }] },
    { rule_template: 'nDaysSinceLastPush', display_text: 'pushed within the last # days', action: 'retain', params: [{ type: 'int', unit: 'DAYS', required: true }] },
    { rule_template: 'nDaysSinceLastPull', display_text: 'pulled within the last # days', action: 'retain', params: [{ type: 'int', unit: 'DAYS', required: true }] },
    { rule_template: 'always', display_text: 'always', action: 'retain', params: [] },
  ],
  scope_selectors: [{ display_text: 'Repositories', kind: 'doublestar', decorations: ['repoMatches', 'repoExcludes'] }],
  tag_selectors: [{ display_text: 'Tags', kind: 'doublestar', decorations: ['matches', 'excludes'] }],
};

const STATUS: Record<Job['status'], string> = { pending: 'Pending', running: 'Running', success: 'Success', error: 'Error', stopped: 'Stopped' };
/** Harbor's job.Status.Code() */
const STATUS_CODE: Record<string, number> = { Pending: 0, Running: 2, Success: 3, Error: 3, Stopped: 3 };
const TRIGGER: Record<Job['trigger'], string> = { manual: 'MANUAL', schedule: 'SCHEDULE', system: 'EVENT' };

function policyInput(b: unknown): RetentionPolicy {
  try {
    return parsePolicy(b);
  } catch (e) {
    if (e instanceof RetentionValidationError) throw badRequest(e.message);
    if (e instanceof RetentionConflictError) throw conflict(e.message);
    throw e;
  }
}

function requireLogin(c: ApiCtx): void {
  if (c.subject.kind === 'anonymous') throw unauthorized();
}

async function requireOn(c: ApiCtx, p: Project, action: Action): Promise<void> {
  if (!(await c.can(p, 'tag-retention', action))) throw denial(c.subject);
}

/** The policy `{id}` and its project, after the permission check; 401 / 404 / 403. */
async function policyOf(c: ApiCtx, action: Action): Promise<{ stored: StoredPolicy; project: Project }> {
  requireLogin(c);
  const id = idParam(c, 'id');
  const stored = id > 0 ? await new RetentionPolicies(c.svc.store).get(id) : null;
  const project = stored ? await c.identity.store.getProject(stored.projectId) : null;
  if (!stored || !project) throw notFound(`retention policy ${id} not found`);
  await requireOn(c, project, action);
  return { stored, project };
}

function policyJson(s: StoredPolicy) {
  const p = s.policy;
  return { id: s.id, algorithm: p.algorithm, rules: p.rules, trigger: p.trigger ?? { kind: 'Schedule', settings: { cron: '' }, references: {} }, scope: { level: 'project', ref: s.projectId } };
}

/** Set the project's `retention_id` metadata (or remove it when it names `removeId`). */
async function setRetentionMeta(c: ApiCtx, p: Project, id: number | null, removeId?: number): Promise<void> {
  const fresh = (await c.identity.store.getProject(p.id)) ?? p;
  const metadata = { ...fresh.metadata };
  if (id !== null) metadata.retention_id = String(id);
  else if (metadata.retention_id === String(removeId)) delete metadata.retention_id;
  else return;
  await c.identity.store.updateProject(p.id, { metadata });
}

/** Point the project's retention schedule at the policy's cron (or remove it). */
async function applySchedule(jobs: JobService, s: { id: number; projectId: number; policy: RetentionPolicy }): Promise<void> {
  const cron = scheduleOf(s.policy);
  await jobs.setSchedule(RETENTION_JOB, projectScope(s.projectId), cron, cron ? { policyId: s.id, dryRun: false } : undefined);
}

function executionJson(j: Job, policyId: number) {
  const result = j.result as Record<string, unknown> | null;
  const progress = j.progress ?? (result ? Object.fromEntries(Object.entries(result).filter(([k]) => k !== 'tasks')) : null);
  return {
    id: j.id,
    policy_id: policyId,
    start_time: iso(j.startedAt ?? j.createdAt),
    end_time: j.finishedAt ? iso(j.finishedAt) : NEVER,
    status: STATUS[j.status],
    trigger: TRIGGER[j.trigger] ?? 'MANUAL',
    dry_run: j.params.dryRun === true,
    progress,
    error: j.error ?? undefined,
  };
}

/** The executions of a policy, newest first (jobs of the project's scope that ran this policy). */
async function executionsOf(jobs: JobService, s: StoredPolicy): Promise<Job[]> {
  const out: Job[] = [];
  for (let offset = 0; ; offset += 200) {
    const { items, total } = await jobs.list({ kind: RETENTION_JOB, scope: projectScope(s.projectId), offset, limit: 200 });
    for (const j of items) if (j.params.policyId === s.id) out.push(j);
    if (items.length === 0 || offset + items.length >= total || offset >= 20_000) return out;
  }
}

async function executionOf(c: ApiCtx, jobs: JobService, s: StoredPolicy): Promise<Job> {
  const eid = idParam(c, 'eid');
  const j = eid > 0 ? await jobs.get(eid) : null;
  if (!j || j.kind !== RETENTION_JOB || j.scope !== projectScope(s.projectId) || j.params.policyId !== s.id) throw notFound(`retention execution ${eid} of policy ${s.id} not found`);
  return j;
}

interface TaskView {
  id: number;
  repository: string;
  status: string;
  startedAt: number | null;
  finishedAt: number | null;
  total: number;
  retained: number;
  /** the log prefix of its lines; null = the whole execution */
  prefix: string | null;
}

function tasksOf(j: Job): TaskView[] {
  const tasks = (j.result as { tasks?: RetentionTaskResult[] } | null)?.tasks;
  if (Array.isArray(tasks)) {
    return tasks.map((t, i) => ({ id: i + 1, repository: t.repository, status: t.status, startedAt: t.startedAt, finishedAt: t.finishedAt, total: t.total, retained: t.retained, prefix: `${repositoryPath(t.repository)}:` }));
  }
  const p = (j.progress ?? {}) as Record<string, unknown>;
  return [{ id: 0, repository: '', status: STATUS[j.status], startedAt: j.startedAt, finishedAt: j.finishedAt, total: Number(p.examined ?? 0), retained: Number(p.retained ?? 0), prefix: null }];
}

function taskJson(t: TaskView, j: Job) {
  return {
    id: t.id,
    execution_id: j.id,
    repository: t.repository,
    job_id: String(j.id),
    status: t.status,
    status_code: STATUS_CODE[t.status] ?? -1,
    status_revision: 0,
    start_time: t.startedAt ? iso(t.startedAt) : NEVER,
    end_time: t.finishedAt ? iso(t.finishedAt) : NEVER,
    total: t.total,
    retained: t.retained,
  };
}

async function taskLog(c: ApiCtx, jobs: JobService, action: Action): Promise<void> {
  const { stored } = await policyOf(c, action);
  const j = await executionOf(c, jobs, stored);
  const tid = idParam(c, 'tid');
  const tasks = tasksOf(j);
  const t = tasks.find((x) => x.id === tid);
  if (!t) throw notFound(`task ${tid} of retention execution ${j.id} not found`);
  const prefixes = tasks.flatMap((x) => (x.prefix ? [x.prefix] : []));
  const lines = (await jobs.logs(j.id)).filter((l) => t.prefix === null || l.message.startsWith(t.prefix) || !prefixes.some((p) => l.message.startsWith(p)));
  const text = lines.map((l) => `${iso(l.at)} [${l.level.toUpperCase()}] ${l.message}\n`).join('');
  const body = Buffer.from(text);
  c.res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
  c.res.end(c.req.method === 'HEAD' ? undefined : body);
}

const ON_POLICY = (action: Action) => custom(`tag-retention:${action} on the policy's project`);

export function retentionRoutes(deps: RetentionApiDeps = {}): ApiRoute[] {
  const jobsOf = (c: ApiCtx): JobService => {
    const j = deps.jobs ?? (c.svc as { jobs?: JobService }).jobs;
    if (!j) throw new ApiError(503, 'SERVICE_UNAVAILABLE', 'tag retention is not available in this process (no job service)');
    return j;
  };
  return [
    {
      method: 'GET',
      path: '/retentions/metadatas',
      tag: 'retention',
      summary: 'The retention rule templates and selectors',
      perm: login,
      handler: async (c) => c.json(200, METADATA),
    },
    {
      method: 'POST',
      path: '/retentions',
      tag: 'retention',
      summary: "Create a project's retention policy (one per project; scope {level: project, ref: <project id>})",
      perm: custom("tag-retention:create on the project of scope.ref"),
      handler: async (c) => {
        requireLogin(c);
        const jobs = jobsOf(c);
        const policy = policyInput(await c.body());
        const project = await c.identity.store.getProject(policy.scope!.ref);
        if (!project) throw badRequest(`invalid Project id ${policy.scope!.ref}`);
        await requireOn(c, project, 'create');
        const policies = new RetentionPolicies(c.svc.store);
        const existing = await policies.getByProject(project.id);
        if (existing) throw badRequest(`project ${project.id} already has retention policy ${existing.id}`);
        let id: number;
        try {
          id = await policies.create(project.id, policy);
        } catch (e) {
          if (e instanceof RetentionConflictError) throw badRequest(e.message);
          throw e;
        }
        try {
          await applySchedule(jobs, { id, projectId: project.id, policy });
        } catch (e) {
          await policies.delete(id);
          throw badRequest(`trigger.settings.cron: ${(e as Error).message}`);
        }
        await setRetentionMeta(c, project, id);
        c.audit('create', 'retention_policy', `${project.name}/${id}`, project.id);
        c.created(`/retentions/${id}`);
      },
    },
    {
      method: 'GET',
      path: '/retentions/{id}',
      tag: 'retention',
      summary: 'A retention policy',
      perm: ON_POLICY('read'),
      handler: async (c) => {
        const { stored } = await policyOf(c, 'read');
        c.json(200, policyJson(stored));
      },
    },
    {
      method: 'PUT',
      path: '/retentions/{id}',
      tag: 'retention',
      summary: 'Replace a retention policy (rules, trigger); its project cannot change',
      perm: ON_POLICY('update'),
      handler: async (c) => {
        const { stored, project } = await policyOf(c, 'update');
        const b = await c.body();
        if (b.id !== undefined && b.id !== null && b.id !== stored.id) throw badRequest(`the policy id ${String(b.id)} in the body does not match ${stored.id}`);
        const policy = policyInput({ scope: { level: 'project', ref: stored.projectId }, ...b });
        if (policy.scope!.ref !== stored.projectId) throw notFound(`the retention policy id ${stored.id} does not match project ${policy.scope!.ref}`);
        await new RetentionPolicies(c.svc.store).update(stored.id, policy);
        await applySchedule(jobsOf(c), { id: stored.id, projectId: stored.projectId, policy });
        await setRetentionMeta(c, project, stored.id);
        c.audit('update', 'retention_policy', `${project.name}/${stored.id}`, project.id);
        c.empty(200);
      },
    },
    {
      method: 'DELETE',
      path: '/retentions/{id}',
      tag: 'retention',
      summary: 'Delete a retention policy and its schedule (execution history stays)',
      perm: ON_POLICY('delete'),
      handler: async (c) => {
        const { stored, project } = await policyOf(c, 'delete');
        await jobsOf(c).setSchedule(RETENTION_JOB, projectScope(stored.projectId), null);
        await new RetentionPolicies(c.svc.store).delete(stored.id);
        await setRetentionMeta(c, project, null, stored.id);
        c.audit('delete', 'retention_policy', `${project.name}/${stored.id}`, project.id);
        c.empty(200);
      },
    },
    {
      method: 'POST',
      path: '/retentions/{id}/executions',
      tag: 'retention',
      summary: 'Run the policy now ({dry_run}); 201 with the execution in Location; 409 while one runs in the project',
      perm: ON_POLICY('update'),
      handler: async (c) => {
        const { stored, project } = await policyOf(c, 'update');
        const b = await c.body();
        if (b.dry_run !== undefined && b.dry_run !== null && typeof b.dry_run !== 'boolean') throw badRequest('dry_run must be a boolean');
        const dryRun = b.dry_run === true;
        if (!dryRun) requireRegistryScope(c, 'delete');
        let job: Job;
        try {
          job = await jobsOf(c).enqueue(RETENTION_JOB, { policyId: stored.id, dryRun }, { scope: projectScope(stored.projectId), trigger: 'manual' });
        } catch (e) {
          if (e instanceof JobConflictError) throw conflict(`a retention execution is already pending or running in project ${project.name}: ${e.message}`);
          throw e;
        }
        c.audit('create', 'retention_execution', `${project.name}/${stored.id}/${job.id}${dryRun ? ' (dry run)' : ''}`, project.id);
        c.created(`/retentions/${stored.id}/executions/${job.id}`);
      },
    },
    {
      method: 'GET',
      path: '/retentions/{id}/executions',
      tag: 'retention',
      summary: 'Executions of the policy, newest first',
      perm: ON_POLICY('list'),
      handler: async (c) => {
        const { stored } = await policyOf(c, 'list');
        const pg = c.page();
        const all = await executionsOf(jobsOf(c), stored);
        c.paged(
          all.slice(pg.offset, pg.offset + pg.pageSize).map((j) => executionJson(j, stored.id)),
          all.length,
          pg,
        );
      },
    },
    {
      method: 'GET',
      path: '/retentions/{id}/executions/{eid}',
      tag: 'retention',
      summary: 'One execution with its progress (Wharf)',
      perm: ON_POLICY('list'),
      handler: async (c) => {
        const { stored } = await policyOf(c, 'list');
        c.json(200, executionJson(await executionOf(c, jobsOf(c), stored), stored.id));
      },
    },
    {
      method: 'PATCH',
      path: '/retentions/{id}/executions/{eid}',
      tag: 'retention',
      summary: 'Stop an execution ({action: "stop"})',
      perm: ON_POLICY('update'),
      handler: async (c) => {
        const { stored } = await policyOf(c, 'update');
        const b = await c.body();
        if (b.action !== 'stop') throw badRequest("action should be 'stop'");
        const j = await executionOf(c, jobsOf(c), stored);
        await jobsOf(c).stop(j.id);
        c.empty(200);
      },
    },
    {
      method: 'GET',
      path: '/retentions/{id}/executions/{eid}/tasks',
      tag: 'retention',
      summary: 'Tasks of an execution: one per repository evaluated (one for the whole execution while it runs)',
      perm: ON_POLICY('list'),
      handler: async (c) => {
        const { stored } = await policyOf(c, 'list');
        const pg = c.page();
        const j = await executionOf(c, jobsOf(c), stored);
        const tasks = tasksOf(j);
        c.paged(
          tasks.slice(pg.offset, pg.offset + pg.pageSize).map((t) => taskJson(t, j)),
          tasks.length,
          pg,
        );
      },
    },
    {
      method: 'GET',
      path: '/retentions/{id}/executions/{eid}/tasks/{tid}',
      tag: 'retention',
      summary: "A task's log (text/plain): every retain / delete decision",
      perm: ON_POLICY('read'),
      handler: (c) => taskLog(c, jobsOf(c), 'read'),
    },
    {
      method: 'GET',
      path: '/retentions/{id}/executions/{eid}/tasks/{tid}/log',
      tag: 'retention',
      summary: "A task's log (text/plain), same as …/tasks/{tid}",
      perm: ON_POLICY('read'),
      handler: (c) => taskLog(c, jobsOf(c), 'read'),
    },
  ];
}
