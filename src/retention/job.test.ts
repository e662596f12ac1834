// The retention job, its store queries and the pull tracker against real metadata databases
// (SQLite file; PostgreSQL at 127.0.0.1:5432/test in a private schema, WHARF_TEST_PG_URL
// overrides), run by the real job service.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciError } from '../errors/oci-errors.ts';
import { IdentityStore } from '../identity/store.ts';
import { FAST } from '../jobs/jobs.suite.ts';
import { Jobs } from '../jobs/service.ts';
import { openMetadata } from '../metadata/open.ts';
import type { MetadataStore } from '../metadata/store.ts';
import type { RetentionPolicy, RetentionRule } from './evaluate.ts';
import { retentionJob, RETENTION_JOB, projectScope, type RetentionTaskResult } from './job.ts';
import { RetentionPolicies } from './policies.ts';
import { PullTracker } from './pull-tracker.ts';

const DAY = 86_400_000;
const MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MT_INDEX = 'application/vnd.oci.image.index.v1+json';
const pgBase = process.env.WHARF_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface Backend {
  name: string;
  open(): Promise<{ store: MetadataStore; cleanup(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'sqlite',
    open: async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-retention-'));
      const store = await openMetadata(`sqlite:${path.join(dir, 'wharf.db')}`);
      return { store, cleanup: async () => (await store.close(), await rm(dir, { recursive: true, force: true })) };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const schema = `wharf_t_${randomBytes(6).toString('hex')}`;
      const store = await openMetadata(`${pgBase}?schema=${schema}`, { poolSize: 4 });
      return {
        store,
        cleanup: async () => {
          await store.close();
          const c = new pg.Client({ connectionString: pgBase });
          await c.connect();
          await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await c.end();
        },
      };
    },
  },
];

const rule = (template: string, n: number | undefined, tags = '**', untagged = false, repos = '**'): RetentionRule => ({
  action: 'retain',
  template,
  disabled: false,
  params: n === undefined ? {} : { [template]: n },
  tag_selectors: [{ kind: 'doublestar', decoration: 'matches', pattern: tags, extras: JSON.stringify({ untagged }) }],
  scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern: repos }] },
});

for (const b of backends) {
  describe(`retention on ${b.name}`, () => {
    let store: MetadataStore;
    let cleanup: () => Promise<void>;
    let jobs: Jobs;
    let projectId: number;
    const immutable = new Set<string>();
    let onCheck: (() => Promise<void>) | null = null;
    const audit: string[] = [];
    const now = Date.now();

    beforeAll(async () => {
      ({ store, cleanup } = await b.open());
      const ids = new IdentityStore(store);
      projectId = (await ids.createProject({ name: 'p', ownerId: null, public: false, metadata: {} })).id;
      jobs = new Jobs(store, { ...FAST });
      jobs.register(
        retentionJob({
          store,
          registry: {
            async checkManifestDelete(e) {
              if (onCheck) await onCheck();
              if (immutable.has(e.digest)) throw new OciError('DENIED', `immutable tag on ${e.repo}@${e.digest}`, { status: 403 });
            },
            async checkTagDelete(e) {
              if (immutable.has(`${e.repo}:${e.tag}`)) throw new OciError('DENIED', `immutable tag ${e.repo}:${e.tag}`, { status: 403 });
            },
          },
          projects: ids,
          audit: { record: (e) => void audit.push(`${e.operation} ${e.resourceType} ${e.resource}`) },
          now: () => now,
        }),
      );
      jobs.start();
    });
    afterAll(async () => {
      await jobs?.close();
      await cleanup?.();
    });

    const digestOf = (content: Buffer) => `sha256:${createHash('sha256').update(content).digest('hex')}`;

    /** an artifact `name` in `repo` with tags, pushed/pulled days ago; returns its digest */
    async function put(repo: string, name: string, tags: string[], pushedDaysAgo: number, pulledDaysAgo: number | null = null, extra: { refs?: { digest: string; kind: 'manifest'; size: number }[]; subject?: string; index?: boolean } = {}): Promise<string> {
      const content = Buffer.from(JSON.stringify({ schemaVersion: 2, name, n: randomBytes(4).toString('hex') }));
      const digest = digestOf(content);
      const base = { repository: repo, digest, mediaType: extra.index ? MT_INDEX : MT_MANIFEST, artifactType: null, subjectDigest: extra.subject ?? null, annotations: null, content, refs: extra.refs ?? [] };
      if (tags.length === 0) await store.putManifest(base);
      for (const t of tags) await store.putManifest({ ...base, tag: t });
      const r = (await store.getRepository(repo))!;
      const pushed = now - pushedDaysAgo * DAY;
      await store.db.updateTable('manifests').set({ created_at: pushed, pulled_at: pulledDaysAgo === null ? null : now - pulledDaysAgo * DAY }).where('repository_id', '=', r.id).where('digest', '=', digest).execute();
      await store.db.updateTable('tags').set({ created_at: pushed, updated_at: pushed }).where('repository_id', '=', r.id).where('manifest_digest', '=', digest).execute();
      return digest;
    }

    async function digests(repo: string): Promise<string[]> {
      const r = await store.getRepository(repo);
      if (!r) return [];
      return (await store.db.selectFrom('manifests').select('digest').where('repository_id', '=', r.id).execute()).map((x) => x.digest).sort();
    }

    async function setPolicy(rules: RetentionRule[]): Promise<number> {
      const policies = new RetentionPolicies(store);
      const existing = await policies.getByProject(projectId);
      const p: RetentionPolicy = { algorithm: 'or', rules, trigger: { kind: 'Schedule', settings: { cron: '' } }, scope: { level: 'project', ref: projectId } };
      if (existing) {
        await policies.update(existing.id, p);
        return existing.id;
      }
      return policies.create(projectId, p);
    }

    async function run(policyId: number, dryRun: boolean) {
      const j = await jobs.enqueue(RETENTION_JOB, { policyId, dryRun }, { scope: projectScope(projectId) });
      const done = await jobs.wait(j.id, 20_000);
      return { job: done, log: (await jobs.logs(j.id)).map((l) => l.message) };
    }

    it('setPulledAt: sets, keeps a later time, ignores unknown repositories and manifests', async () => {
      const d = await put('p/pulls', 'x', ['a'], 3);
      await store.setPulledAt([
        { repository: 'p/pulls', digest: d, at: now - 1000 },
        { repository: 'p/nope', digest: d, at: now },
        { repository: 'p/pulls', digest: 'sha256:' + '0'.repeat(64), at: now },
      ]);
      const r = (await store.getRepository('p/pulls'))!;
      const read = async () => (await store.retentionCandidates(r.id)).find((c) => c.digest === d)!.pulledAt;
      expect(await read()).toBe(now - 1000);
      await store.setPulledAt([{ repository: 'p/pulls', digest: d, at: now - 5000 }]);
      expect(await read()).toBe(now - 1000);
      await store.setPulledAt([{ repository: 'p/pulls', digest: d, at: now + 7 }]);
      expect(await read()).toBe(now + 7);
      // many at once (several statements)
      const many = await Promise.all(Array.from({ length: 5 }, (_, i) => put('p/pulls', `m${i}`, [`t${i}`], 1)));
      await store.setPulledAt(many.map((digest, i) => ({ repository: 'p/pulls', digest, at: now - i })));
      const cands = await store.retentionCandidates(r.id);
      for (const [i, dg] of many.entries()) expect(cands.find((c) => c.digest === dg)!.pulledAt).toBe(now - i);
    });

    it('PullTracker batches pulls, keeping the latest time per manifest', async () => {
      const d1 = await put('p/tracked', 'a', ['1'], 2);
      const d2 = await put('p/tracked', 'b', ['2'], 2);
      const t = new PullTracker(store, undefined, 60_000);
      t.record('p/tracked', d1, now - 50);
      t.record('p/tracked', d1, now - 10);
      t.record('p/tracked', d1, now - 30);
      t.record('p/tracked', d2, now - 20);
      const r = (await store.getRepository('p/tracked'))!;
      expect((await store.retentionCandidates(r.id)).every((c) => c.pulledAt === null)).toBe(true);
      await t.close();
      const c = await store.retentionCandidates(r.id);
      expect(c.find((x) => x.digest === d1)!.pulledAt).toBe(now - 10);
      expect(c.find((x) => x.digest === d2)!.pulledAt).toBe(now - 20);
      t.record('p/tracked', d2, now); // after close: ignored
      await t.flush();
      expect((await store.retentionCandidates(r.id)).find((x) => x.digest === d2)!.pulledAt).toBe(now - 20);
    });

    it('retentionCandidates: top-level artifacts only (untagged index children and referrers go with their parent)', async () => {
      const child1 = await put('p/idx', 'c1', [], 5);
      const child2 = await put('p/idx', 'c2', ['child-tag'], 5);
      const index = await put('p/idx', 'i', ['multi'], 4, null, { refs: [{ digest: child1, kind: 'manifest', size: 100 }, { digest: child2, kind: 'manifest', size: 100 }], index: true });
      const sig = await put('p/idx', 'sig', [], 3, null, { subject: index });
      const lone = await put('p/idx', 'lone', [], 6);
      const r = (await store.getRepository('p/idx'))!;
      const c = await store.retentionCandidates(r.id);
      expect(c.map((x) => x.digest).sort()).toEqual([child2, index, lone].sort());
      expect(c.map((x) => x.digest)).not.toContain(child1);
      expect(c.map((x) => x.digest)).not.toContain(sig);
      expect(c.find((x) => x.digest === index)!.tags).toEqual([{ name: 'multi', updatedAt: now - 4 * DAY }]);
      expect((await store.repositoriesOfProject('p')).map((x) => x.name)).toEqual(expect.arrayContaining(['p/idx', 'p/pulls', 'p/tracked']));
    });

    it('dry run deletes nothing and reports what a real run then deletes', async () => {
      const a1 = await put('p/app', 'a1', ['v3'], 1);
      const a2 = await put('p/app', 'a2', ['v2'], 2);
      const a3 = await put('p/app', 'a3', ['v1'], 3);
      const u = await put('p/app', 'u', [], 0.5);
      const o1 = await put('p/other', 'o1', ['x'], 9);
      const policyId = await setPolicy([rule('latestPushedK', 1, '**', false, 'app')]);
      const before = await digests('p/app');

      const dry = await run(policyId, true);
      expect(dry.job.status).toBe('success');
      expect(await digests('p/app')).toEqual(before);
      const wouldGo = dry.log.filter((l) => l.startsWith('app: DEL (dry run)')).map((l) => l.split(' ')[4]);
      expect(wouldGo.sort()).toEqual([a2, a3, u].sort());
      expect(dry.log.some((l) => l.startsWith(`app: RETAIN ${a1}`) && l.includes('rule 1 latestPushedK'))).toBe(true);
      expect(dry.job.result).toMatchObject({ dryRun: true, deleted: 3, retained: 1, examined: 4, skipped: 0 });

      const real = await run(policyId, false);
      expect(real.job.status).toBe('success');
      expect(await digests('p/app')).toEqual([a1]);
      expect(real.log.filter((l) => l.startsWith('app: DEL ')).map((l) => l.split(' ')[2]).sort()).toEqual(wouldGo.sort());
      expect(real.job.result).toMatchObject({ dryRun: false, deleted: 3, retained: 1 });
      const tasks = (real.job.result as { tasks: RetentionTaskResult[] }).tasks;
      expect(tasks).toEqual([expect.objectContaining({ repository: 'p/app', total: 4, retained: 1, deleted: 3, status: 'Success' })]);
      // repositories no rule selects are untouched
      expect(await digests('p/other')).toEqual([o1]);
      expect(audit).toContain(`delete artifact p/app@${a2}`);
      expect(real.job.progress).toMatchObject({ deleted: 3 });
    });

    it('refused deletions (immutable) are skipped and logged; an index child that is tagged loses its tags only', async () => {
      const keep = await put('p/imm', 'k', ['latest'], 1);
      const locked = await put('p/imm', 'l', ['v1'], 2);
      const plain = await put('p/imm', 'p', ['v0'], 3);
      immutable.add(locked);
      const policyId = await setPolicy([rule('latestPushedK', 1, '**', false, '{imm,idx}')]);
      const r = await run(policyId, false);
      immutable.delete(locked);
      expect(r.job.status).toBe('success');
      expect(await digests('p/imm')).toEqual([keep, locked].sort());
      expect(r.log.some((l) => l.startsWith(`imm: SKIP ${locked}`) && l.includes('refused: immutable'))).toBe(true);
      expect(r.log.some((l) => l.startsWith(`imm: DEL ${plain}`))).toBe(true);
      // p/idx (from the candidates test): `multi` (index) is the latest; `child-tag` (a child of it) is
      // untagged but stays with the index; `lone` (untagged) is deleted.
      const idx = (await store.getRepository('p/idx'))!;
      expect(await store.listTags(idx.id, 100)).toEqual(['multi']);
      expect(r.log.some((l) => l.startsWith('idx: DEL ') && l.includes('part of an index'))).toBe(true);
      const c = await store.retentionCandidates(idx.id);
      expect(c.map((x) => x.tags.map((t) => t.name).join(','))).toEqual(['multi']);
      expect(r.job.result).toMatchObject({ skipped: 1 });
    });

    it('a policy whose rules select nothing deletes everything in the selected repositories; untagged kept with untagged:true', async () => {
      const t1 = await put('p/wipe', 'w1', ['a'], 1);
      const u1 = await put('p/wipe', 'w2', [], 1);
      const policyId = await setPolicy([rule('always', undefined, 'keep-*', true, 'wipe')]);
      const r = await run(policyId, false);
      expect(r.job.status).toBe('success');
      expect(await digests('p/wipe')).toEqual([u1]);
      expect(r.log.some((l) => l.startsWith(`wipe: DEL ${t1}`))).toBe(true);
    });

    it('a stop request ends the run between deletions; the execution is stopped', async () => {
      for (let i = 0; i < 5; i++) await put('p/stop', `s${i}`, [`t${i}`], i + 1);
      const policyId = await setPolicy([rule('latestPushedK', 1, '**', false, 'stop')]);
      let jobId = 0;
      onCheck = async () => {
        onCheck = null;
        await jobs.stop(jobId);
      };
      const j = await jobs.enqueue(RETENTION_JOB, { policyId, dryRun: false }, { scope: projectScope(projectId) });
      jobId = j.id;
      const done = await jobs.wait(j.id, 20_000);
      expect(done.status).toBe('stopped');
      // the deletion in progress finished; the rest were not attempted
      expect((await digests('p/stop')).length).toBe(4);
      expect((await jobs.logs(j.id)).some((l) => l.message.startsWith('stop requested'))).toBe(true);
    });

    it('a deleted policy or one without enabled rules does nothing', async () => {
      const r1 = await run(999_999, false);
      expect(r1.job.status).toBe('success');
      expect(r1.log.some((l) => l.includes('no longer exists'))).toBe(true);
      const before = await digests('p/app');
      const policyId = await setPolicy([{ ...rule('latestPushedK', 0), disabled: true }]);
      const r2 = await run(policyId, false);
      expect(r2.log.some((l) => l.includes('no enabled rules'))).toBe(true);
      expect(await digests('p/app')).toEqual(before);
    });

    it('runs are exclusive per project', async () => {
      const policyId = await setPolicy([rule('always', undefined)]);
      // a runner that is not started (the started one shares the database and may pick the jobs up:
      // either way they are pending or running when the second is enqueued)
      const idle = new Jobs(store, { ...FAST });
      idle.register(retentionJob({ store, registry: { checkManifestDelete: async () => {}, checkTagDelete: async () => {} }, projects: new IdentityStore(store) }));
      const first = await idle.enqueue(RETENTION_JOB, { policyId, dryRun: true }, { scope: projectScope(projectId) });
      await expect(idle.enqueue(RETENTION_JOB, { policyId, dryRun: true }, { scope: projectScope(projectId) })).rejects.toThrow(/already/);
      // another project is another scope
      const other = await idle.enqueue(RETENTION_JOB, { policyId, dryRun: true }, { scope: projectScope(projectId + 1000) });
      for (const j of [first, other]) await idle.stop(j.id);
      await idle.close();
      expect(['stopped', 'success']).toContain((await jobs.wait(first.id, 20_000)).status);
      expect(() => retentionJob({} as never).validate!({ policyId: 'x' })).toThrow(/policyId/);
      expect(retentionJob({} as never).validate!({ policyId: 3 })).toEqual({ policyId: 3, dryRun: false });
    });
  });
}
