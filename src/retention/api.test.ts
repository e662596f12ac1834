// The /api/v2.0/retentions routes over HTTP, in-process: a real SQLite store, identity, job
// service and HTTP server, composed here with the retention routes and job handler (this test
// does the wiring itself, so it does not depend on main.ts / api/index.ts; the full-server test
// is test/api/retention.test.ts). Artifacts are written to the store directly.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../app.ts';
import { ApiRouter } from '../api/framework.ts';
import { projectRoutes } from '../api/projects.ts';
import { retentionRoutes } from '../api/retention.ts';
import { RegistryService } from '../distribution/registry-service.ts';
import { AuditLog } from '../identity/audit.ts';
import { bootstrapIdentity } from '../identity/bootstrap.ts';
import { Identity } from '../identity/identity.ts';
import { TokenSigner } from '../identity/jwt.ts';
import { LoginLimiter } from '../identity/limiter.ts';
import { hashPassword } from '../identity/secrets.ts';
import { IdentityStore } from '../identity/store.ts';
import { FAST } from '../jobs/jobs.suite.ts';
import { Jobs } from '../jobs/service.ts';
import { createLogger } from '../logger.ts';
import { openMetadata } from '../metadata/open.ts';
import type { MetadataStore } from '../metadata/store.ts';
import { FsBlobDriver } from '../storage/fs-driver.ts';
import { loadConfig } from '../config/config.ts';
import { retentionJob } from './job.ts';

const ADMIN = { username: 'admin', password: 'Admin-Pass-1' };
const GUEST = { username: 'gus', password: 'Guest-Pass-1' };
const NOBODY = { username: 'nobody', password: 'Nobody-Pass-1' };
const DAY = 86_400_000;

let dir: string;
let store: MetadataStore;
let jobs: Jobs;
let app: App;
let base: string;
let projectId: number;
let otherProjectId: number;

type Auth = { username: string; password: string } | null;
async function call(method: string, p: string, o: { auth?: Auth; json?: unknown } = {}) {
  const headers: Record<string, string> = {};
  const auth = o.auth === undefined ? ADMIN : o.auth;
  if (auth) headers.Authorization = 'Basic ' + Buffer.from(`${auth.username}:${auth.password}`).toString('base64');
  if (o.json !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(base + '/api/v2.0' + p, { method, headers, body: o.json === undefined ? undefined : JSON.stringify(o.json) });
  const text = await r.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

const sel = (pattern: string, decoration = 'matches', untagged = false) => ({ kind: 'doublestar', decoration, pattern, extras: JSON.stringify({ untagged }) });
const ruleOf = (template: string, n?: number, o: { tags?: string; repos?: string; untagged?: boolean } = {}) => ({
  disabled: false,
  action: 'retain',
  template,
  params: n === undefined ? {} : { [template]: n },
  tag_selectors: [sel(o.tags ?? '**', 'matches', o.untagged ?? false)],
  scope_selectors: { repository: [sel(o.repos ?? '**', 'repoMatches')] },
});
const policyOf = (rules: unknown[], cron = '', ref = projectId) => ({ algorithm: 'or', rules, trigger: { kind: 'Schedule', settings: { cron }, references: {} }, scope: { level: 'project', ref } });

async function put(repo: string, tags: string[], pushedDaysAgo: number): Promise<string> {
  const content = Buffer.from(JSON.stringify({ schemaVersion: 2, n: randomBytes(6).toString('hex') }));
  const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
  const base = { repository: repo, digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: null, subjectDigest: null, annotations: null, content, refs: [] };
  if (!tags.length) await store.putManifest(base);
  for (const tag of tags) await store.putManifest({ ...base, tag });
  const r = (await store.getRepository(repo))!;
  const t = Date.now() - pushedDaysAgo * DAY;
  await store.db.updateTable('manifests').set({ created_at: t }).where('repository_id', '=', r.id).where('digest', '=', digest).execute();
  await store.db.updateTable('tags').set({ updated_at: t }).where('repository_id', '=', r.id).where('manifest_digest', '=', digest).execute();
  return digest;
}

async function manifests(repo: string): Promise<string[]> {
  const r = await store.getRepository(repo);
  return r ? (await store.db.selectFrom('manifests').select('digest').where('repository_id', '=', r.id).execute()).map((x) => x.digest).sort() : [];
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-retention-api-'));
  store = await openMetadata(`sqlite:${path.join(dir, 'wharf.db')}`);
  const logger = createLogger('error');
  const ids = new IdentityStore(store);
  await bootstrapIdentity(ids, ADMIN.password, logger);
  const audit = new AuditLog(ids, logger);
  const identity = new Identity(ids, {
    signer: TokenSigner.load(path.join(dir, 'keys')),
    service: 'wharf',
    tokenTtlSec: 300,
    limiter: new LoginLimiter({ maxFailures: 1000, maxFailuresPerIp: 0, windowMs: 60_000, lockMs: 1000 }),
    logger,
  });
  const registry = new RegistryService({ store, driver: new FsBlobDriver(path.join(dir, 'storage')) });
  jobs = new Jobs(store, { ...FAST, logger });
  jobs.register(retentionJob({ store, registry, projects: ids, audit }));
  jobs.start();
  const config = loadConfig({ WHARF_DATA_DIR: dir });
  const api = new ApiRouter([...projectRoutes, ...retentionRoutes({ jobs })], { identity, audit, logger, store, registry, config });
  app = buildApp({ registry, logger, identity, audit, api, sessionTtlMs: 3_600_000 });
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', () => r()));
  const a = app.server.address();
  base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  const admin = (await ids.getUserByName('admin'))!;
  projectId = (await ids.createProject({ name: 'team', ownerId: admin.id, public: false, metadata: { public: 'false' } })).id;
  otherProjectId = (await ids.createProject({ name: 'other', ownerId: admin.id, public: false, metadata: { public: 'false' } })).id;
  const gus = await ids.createUser({ username: GUEST.username, passwordHash: await hashPassword(GUEST.password) });
  await ids.createUser({ username: NOBODY.username, passwordHash: await hashPassword(NOBODY.password) });
  await ids.addMember(projectId, gus.id, 3); // a guest: Harbor grants guests nothing on tag-retention
});

afterAll(async () => {
  await jobs?.close();
  await new Promise<void>((r) => (app ? app.server.close(() => r()) : r()));
  app?.server.closeAllConnections();
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('retention API', () => {
  let id: number;

  it('metadatas: login required; Harbor templates and selectors', async () => {
    expect((await call('GET', '/retentions/metadatas', { auth: null })).status).toBe(401);
    const r = await call('GET', '/retentions/metadatas');
    expect(r.status).toBe(200);
    expect(r.json.templates.map((t: any) => t.rule_template)).toEqual(['latestPushedK', 'latestPulledN', 'nDaysSinceLastPush', 'nDaysSinceLastPull', 'always']);
    expect(r.json.scope_selectors[0].decorations).toEqual(['repoMatches', 'repoExcludes']);
    expect(r.json.tag_selectors[0].decorations).toEqual(['matches', 'excludes']);
  });

  it('POST /retentions validates the policy', async () => {
    const bad = async (body: unknown, status = 400) => {
      const r = await call('POST', '/retentions', { json: body });
      expect(r.status, JSON.stringify(body) + ' → ' + r.text).toBe(status);
      return r.json?.errors?.[0]?.message as string;
    };
    expect(await bad(policyOf([ruleOf('latestK', 1)]))).toMatch(/template/);
    expect(await bad(policyOf([ruleOf('latestPushedK')]))).toMatch(/missing required parameter latestPushedK/);
    expect(await bad(policyOf([ruleOf('latestPushedK', -1)]))).toMatch(/less than zero/);
    expect(await bad(policyOf([ruleOf('latestPushedK', 40000)]))).toMatch(/too large/);
    expect(await bad(policyOf([ruleOf('nDaysSinceLastPull', 1.5)]))).toMatch(/integer/);
    expect(await bad(policyOf([{ ...ruleOf('always'), tag_selectors: [] }]))).toMatch(/tag_selectors/);
    expect(await bad(policyOf([{ ...ruleOf('always'), scope_selectors: {} }]))).toMatch(/repository/);
    expect(await bad(policyOf([{ ...ruleOf('always'), tag_selectors: [sel('**', 'repoMatches')] }]))).toMatch(/decoration/);
    expect(await bad(policyOf([ruleOf('always', undefined, { tags: 'v[1' })]))).toMatch(/pattern/);
    expect(await bad(policyOf(Array.from({ length: 16 }, (_, i) => ruleOf('latestPushedK', i))))).toMatch(/15 rules/);
    expect(await bad(policyOf([ruleOf('always')], 'not a cron'))).toMatch(/cron/);
    expect(await bad({ ...policyOf([ruleOf('always')]), algorithm: 'and' })).toMatch(/algorithm/);
    expect(await bad({ ...policyOf([ruleOf('always')]), scope: undefined })).toMatch(/scope/);
    expect(await bad(policyOf([ruleOf('always')], '', 987654))).toMatch(/invalid Project id/);
    expect(await bad(policyOf([ruleOf('always'), ruleOf('always')]), 409)).toMatch(/conflict/);
    expect((await call('POST', '/retentions', { json: policyOf([ruleOf('always')]), auth: null })).status).toBe(401);
    expect((await call('POST', '/retentions', { json: policyOf([ruleOf('always')]), auth: GUEST })).status).toBe(403);
  });

  it('POST /retentions creates the project policy (201, Location, retention_id metadata); a second one is refused', async () => {
    const r = await call('POST', '/retentions', { json: policyOf([ruleOf('latestPushedK', 1, { repos: 'app' })], '0 0 3 * * *') });
    expect(r.status, r.text).toBe(201);
    const loc = r.headers.get('location')!;
    expect(loc).toMatch(/^\/api\/v2\.0\/retentions\/\d+$/);
    id = Number(loc.split('/').pop());
    const p = await call('GET', `/projects/${projectId}`);
    expect(p.json.metadata.retention_id).toBe(String(id));
    expect((await jobs.getSchedule('retention', `project:${projectId}`))?.cron).toBe('0 0 3 * * *');
    const again = await call('POST', '/retentions', { json: policyOf([ruleOf('always')]) });
    expect(again.status).toBe(400);
    expect(again.json.errors[0].message).toMatch(/already has retention policy/);
  });

  it('GET /retentions/{id}: Harbor shape; 404 unknown; 403 for a non-member and a guest', async () => {
    const r = await call('GET', `/retentions/${id}`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id, algorithm: 'or', scope: { level: 'project', ref: projectId }, trigger: { kind: 'Schedule', settings: { cron: '0 0 3 * * *' } } });
    expect(r.json.rules[0]).toMatchObject({ id: 1, template: 'latestPushedK', action: 'retain', disabled: false, params: { latestPushedK: 1 } });
    expect((await call('GET', '/retentions/999999')).status).toBe(404);
    expect((await call('GET', `/retentions/${id}`, { auth: NOBODY })).status).toBe(403);
    expect((await call('GET', `/retentions/${id}`, { auth: null })).status).toBe(401);
    expect((await call('GET', `/retentions/${id}`, { auth: GUEST })).status).toBe(403);
  });

  it('PUT /retentions/{id} replaces rules and schedule; cannot move the policy', async () => {
    const r = await call('PUT', `/retentions/${id}`, { json: policyOf([ruleOf('latestPushedK', 1, { repos: 'app' }), ruleOf('always', undefined, { tags: 'keep-*' })], '') });
    expect(r.status, r.text).toBe(200);
    expect((await call('GET', `/retentions/${id}`)).json.rules).toHaveLength(2);
    expect(await jobs.getSchedule('retention', `project:${projectId}`)).toBeNull();
    expect((await call('PUT', `/retentions/${id}`, { json: policyOf([ruleOf('always')], '', otherProjectId) })).status).toBe(404);
    expect((await call('PUT', `/retentions/${id}`, { json: policyOf([ruleOf('always')]), auth: GUEST })).status).toBe(403);
    // the scope may be left out
    const { scope: _s, ...noScope } = policyOf([ruleOf('latestPushedK', 1, { repos: 'app' })], '*/30 * * * *');
    expect((await call('PUT', `/retentions/${id}`, { json: noScope })).status).toBe(200);
    expect((await jobs.getSchedule('retention', `project:${projectId}`))?.params).toEqual({ policyId: id, dryRun: false });
  });

  it('executions: dry run, real run, history, tasks and logs', async () => {
    const a1 = await put('team/app', ['v2'], 1);
    const a2 = await put('team/app', ['v1'], 2);
    const u = await put('team/app', [], 3);
    const o = await put('team/web', ['x'], 5);
    expect((await call('POST', `/retentions/${id}/executions`, { json: { dry_run: 'yes' } })).status).toBe(400);
    expect((await call('POST', `/retentions/${id}/executions`, { json: { dry_run: true }, auth: GUEST })).status).toBe(403);

    const dry = await call('POST', `/retentions/${id}/executions`, { json: { dry_run: true } });
    expect(dry.status, dry.text).toBe(201);
    const dryId = Number(dry.headers.get('location')!.split('/').pop());
    expect(dry.headers.get('location')).toBe(`/api/v2.0/retentions/${id}/executions/${dryId}`);
    expect((await jobs.wait(dryId, 20_000)).status).toBe('success');
    expect(await manifests('team/app')).toEqual([a1, a2, u].sort());

    const real = await call('POST', `/retentions/${id}/executions`, { json: { dry_run: false } });
    expect(real.status).toBe(201);
    const realId = Number(real.headers.get('location')!.split('/').pop());
    expect((await jobs.wait(realId, 20_000)).status).toBe('success');
    expect(await manifests('team/app')).toEqual([a1]);
    expect(await manifests('team/web')).toEqual([o]);

    const list = await call('GET', `/retentions/${id}/executions?page=1&page_size=10`);
    expect(list.status).toBe(200);
    expect(list.headers.get('x-total-count')).toBe('2');
    expect(list.json.map((e: any) => e.id)).toEqual([realId, dryId]);
    expect(list.json[1]).toMatchObject({ id: dryId, policy_id: id, status: 'Success', trigger: 'MANUAL', dry_run: true });
    expect(list.json[0]).toMatchObject({ dry_run: false, progress: expect.objectContaining({ deleted: 2, retained: 1 }) });
    expect(list.json[0].end_time).not.toBe('0001-01-01T00:00:00.000Z');
    expect((await call('GET', `/retentions/${id}/executions`, { auth: GUEST })).status).toBe(403);

    const tasks = await call('GET', `/retentions/${id}/executions/${realId}/tasks`);
    expect(tasks.status).toBe(200);
    expect(tasks.json).toEqual([expect.objectContaining({ id: 1, execution_id: realId, repository: 'team/app', status: 'Success', status_code: 3, total: 3, retained: 1 })]);
    const log = await call('GET', `/retentions/${id}/executions/${realId}/tasks/1`);
    expect(log.status).toBe(200);
    expect(log.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(log.text).toContain(`app: RETAIN ${a1}`);
    expect(log.text).toContain(`app: DEL ${a2}`);
    expect(log.text).toContain(`app: DEL ${u}`);
    expect((await call('GET', `/retentions/${id}/executions/${realId}/tasks/1/log`)).text).toBe(log.text);
    const dryLog = await call('GET', `/retentions/${id}/executions/${dryId}/tasks/1`);
    expect(dryLog.text).toContain(`app: DEL (dry run) ${a2}`);
    expect((await call('GET', `/retentions/${id}/executions/${realId}/tasks/7`)).status).toBe(404);
    expect((await call('GET', `/retentions/${id}/executions/${realId}`)).json).toMatchObject({ id: realId, status: 'Success' });
    expect((await call('GET', `/retentions/${id}/executions/999999`)).status).toBe(404);
  });

  it('PATCH …/executions/{eid}: only "stop"; stopping a finished execution is harmless', async () => {
    const list = await call('GET', `/retentions/${id}/executions`);
    const eid = list.json[0].id;
    expect((await call('PATCH', `/retentions/${id}/executions/${eid}`, { json: { action: 'pause' } })).status).toBe(400);
    expect((await call('PATCH', `/retentions/${id}/executions/${eid}`, { json: { action: 'stop' }, auth: GUEST })).status).toBe(403);
    expect((await call('PATCH', `/retentions/${id}/executions/${eid}`, { json: { action: 'stop' } })).status).toBe(200);
    expect((await jobs.get(eid))!.status).toBe('success');
  });

  it('DELETE /retentions/{id} removes the policy, its schedule and the retention_id metadata', async () => {
    expect((await call('DELETE', `/retentions/${id}`, { auth: GUEST })).status).toBe(403);
    expect((await call('DELETE', `/retentions/${id}`)).status).toBe(200);
    expect((await call('GET', `/retentions/${id}`)).status).toBe(404);
    expect(await jobs.getSchedule('retention', `project:${projectId}`)).toBeNull();
    expect((await call('GET', `/projects/${projectId}`)).json.metadata.retention_id).toBeUndefined();
    // and a new one may be created
    const r = await call('POST', '/retentions', { json: policyOf([ruleOf('always')]) });
    expect(r.status).toBe(201);
  });
});
