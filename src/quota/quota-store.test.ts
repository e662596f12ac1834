// QuotaStore, QuotaGuard and the immutable rule store on both metadata backends (SQLite in a temp
// file; PostgreSQL at WHARF_TEST_PG_URL or 127.0.0.1:5432/test in a private schema, skipped when
// no server answers).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciError } from '../errors/oci-errors.ts';
import { openMetadata } from '../metadata/open.ts';
import { pgReachable } from '../metadata/pg-test-store.ts';
import type { MetadataStore } from '../metadata/store.ts';
import { digestOf } from '../oci/digest.ts';
import { ImmutableRuleStore, MAX_RULES_PER_PROJECT, parseRule, RuleConflictError, RuleLimitError } from '../immutability/rules.ts';
import { ImmutabilityGuard } from '../immutability/guard.ts';
import { formatBytes, QuotaGuard } from './guard.ts';
import { QuotaStore, UNLIMITED } from './store.ts';

const PG = process.env.WHARF_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const d = (s: string) => digestOf(s);

const backends: { name: string; open(): Promise<{ store: MetadataStore; url: string; cleanup(): Promise<void> }> }[] = [
  {
    name: 'sqlite',
    async open() {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-quota-'));
      const url = `sqlite:${path.join(dir, 'm.db')}`;
      const store = await openMetadata(url);
      return { store, url, cleanup: async () => (await store.close(), await rm(dir, { recursive: true, force: true })) };
    },
  },
  {
    name: 'postgres',
    async open() {
      const schema = `wharf_q_${randomBytes(6).toString('hex')}`;
      const url = `${PG}?schema=${schema}`;
      const store = await openMetadata(url);
      return {
        store,
        url,
        cleanup: async () => {
          await store.close();
          const c = new pg.Client({ connectionString: PG });
          await c.connect();
          await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await c.end();
        },
      };
    },
  },
];

const havePg = await pgReachable(PG);

for (const b of backends) {
  describe.skipIf(b.name === 'postgres' && !havePg)(`quotas and immutable rules: ${b.name}`, () => {
    let s: MetadataStore;
    let url: string;
    let cleanup: () => Promise<void>;
    let qs: QuotaStore;
    const ids: Record<string, number> = {};

    const project = async (name: string) => {
      const t = Date.now();
      const r = await s.db.insertInto('projects').values({ name, owner_id: null, public: 0, metadata: '{}', created_at: t, updated_at: t }).returning('id').executeTakeFirstOrThrow();
      ids[name] = Number(r.id);
    };
    const link = async (repo: string, label: string, size: number) => s.commitBlob((await s.ensureRepository(repo)).id, d(`q|${label}`), size);
    const manifest = async (repo: string, label: string, refs: [string, number][], tag?: string) => {
      const content = Buffer.from(JSON.stringify({ schemaVersion: 2, label, layers: refs.map(([l, n]) => ({ digest: d(`q|${l}`), size: n })) }));
      await s.putManifest({
        repository: repo,
        digest: digestOf(content),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: null,
        subjectDigest: null,
        annotations: null,
        content,
        refs: refs.map(([l, n]) => ({ digest: d(`q|${l}`), kind: 'layer' as const, size: n })),
        tag,
      });
      return { digest: digestOf(content), size: content.length };
    };

    beforeAll(async () => {
      ({ store: s, url, cleanup } = await b.open());
      qs = new QuotaStore(s);
      for (const p of ['ps', 'ps2', 'p_s', 'pxs', 'big.p', 'empty']) await project(p);
    });
    afterAll(async () => {
      await cleanup?.();
    });

    it('usage: distinct blobs and manifests of the project, by name prefix only', async () => {
      await link('ps/app', 'b1', 100);
      await link('ps/app', 'b2', 200);
      await link('ps/web', 'b2', 200); // shared inside the project: once
      await link('ps/web', 'b3', 50);
      await link('ps2/app', 'b4', 1000); // `ps` is a prefix of `ps2`
      await link('ps2/app', 'b1', 100);
      await link('p_s/app', 'b5', 7);
      await link('pxs/app', 'b6', 11);
      await link('ps', 'b7', 5000); // no project
      await link('big.p/app', 'huge', 5 * 1024 ** 3 + 7);
      await link('big.p/app2', 'huge2', 3 * 1024 ** 3);
      const m1 = await manifest('ps/app', 'm1', [['b1', 100], ['b2', 200]], 'v1');
      await manifest('ps/web', 'm1', [['b1', 100], ['b2', 200]]).catch(() => null); // b1 is not linked in ps/web: refused
      await link('ps/web', 'b1', 100);
      await manifest('ps/web', 'm1', [['b1', 100], ['b2', 200]], 'v1'); // the same manifest in a second repository: once
      expect(await qs.usage('ps')).toEqual({ blobs: 350, manifests: m1.size, used: 350 + m1.size });
      expect((await qs.usage('ps2')).used).toBe(1100);
      expect((await qs.usage('p_s')).used).toBe(7);
      expect((await qs.usage('pxs')).used).toBe(11);
      expect((await qs.usage('p')).used).toBe(0);
      expect((await qs.usage('big.p')).used).toBe(8 * 1024 ** 3 + 7);
      const all = await qs.usageAll();
      expect(all.get('ps')).toBe(350 + m1.size);
      expect(all.get('ps2')).toBe(1100);
      expect(all.get('big.p')).toBe(8 * 1024 ** 3 + 7);
      expect(all.has('empty')).toBe(false);
    });

    it('physical figures: bytes only this project links; the whole blob store', async () => {
      // b1 is in ps2 too; b2 and b3 are ps's alone
      expect(await qs.uniqueBytes('ps')).toBe(250);
      expect(await qs.uniqueBytes('ps2')).toBe(1000);
      expect(await qs.uniqueBytes('empty')).toBe(0);
      expect(await qs.registryBlobBytes()).toBe(100 + 200 + 50 + 1000 + 7 + 11 + 5000 + 5 * 1024 ** 3 + 7 + 3 * 1024 ** 3);
    });

    it('presentInProject, limits and quota records', async () => {
      const have = await qs.presentInProject('ps', [d('q|b1'), d('q|b4')], [d('nope')]);
      expect([...have]).toEqual([`blob:${d('q|b1')}`]);
      expect(await qs.limitOf('nope')).toBeNull();
      expect(await qs.limitOf('ps')).toEqual({ projectId: ids.ps, hard: UNLIMITED });
      await qs.setHard(ids.ps, 5000);
      await qs.setHard(ids.ps, 6000);
      expect(await qs.limitOf('ps')).toEqual({ projectId: ids.ps, hard: 6000 });
      const q = await qs.get(ids.ps);
      expect(q).toMatchObject({ id: ids.ps, projectName: 'ps', hard: 6000, ownerName: null });
      expect((await qs.list()).map((x) => x.projectName)).toEqual(['ps', 'ps2', 'p_s', 'pxs', 'big.p', 'empty']);
      expect((await qs.list({ projectId: ids.pxs })).map((x) => x.hard)).toEqual([UNLIMITED]);
    });

    it('QuotaGuard: counts new content only, refuses past the limit, serializes racing admissions', async () => {
      const g = new QuotaGuard(qs);
      const used = (await qs.usage('ps')).used;
      await qs.setHard(ids.ps, used + 100);
      await g.beforeBlob({ repo: 'ps/new', digest: d('q|b1'), size: 100 }); // held already: free
      await g.beforeBlob({ repo: 'ps/new', digest: d('q|b2'), size: 200 });
      const err = await g.beforeBlob({ repo: 'ps/new', digest: d('q|fresh'), size: 101 }).catch((e) => e);
      expect(err).toBeInstanceOf(OciError);
      expect(err.status).toBe(403);
      expect(err.message).toContain(`Quota exceeded in project ps: adding 101 B of storage resource, which when updated to current usage of ${formatBytes(used)}`);
      // ten admissions of 30 bytes racing: three fit (the reservations count until committed)
      const rs = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => g.beforeBlob({ repo: 'ps/new', digest: d(`q|race${i}`), size: 30 })));
      expect(rs.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
      // the same blob twice at once counts once
      await qs.setHard(ids.ps2, 1100 + 50);
      await Promise.all([g.beforeBlob({ repo: 'ps2/x', digest: d('q|same'), size: 50 }), g.beforeBlob({ repo: 'ps2/y', digest: d('q|same'), size: 50 })]);
      // once committed, the reservation is replaced by the row
      await link('ps2/x', 'same', 50);
      await g.beforeBlob({ repo: 'ps2/z', digest: d('q|same'), size: 50 });
      await expect(g.beforeBlob({ repo: 'ps2/z', digest: d('q|other'), size: 1 })).rejects.toThrow(/Quota exceeded in project ps2/);
      // unlimited and unknown projects are never refused
      await g.beforeBlob({ repo: 'pxs/a', digest: d('q|x'), size: 1e12 });
      await g.beforeBlob({ repo: 'noproject/a', digest: d('q|x'), size: 1e12 });
      await g.beforeManifestPut({ repo: 'pxs/a', digest: d('q|x'), size: 1e12 });
    });

    // Replicas: two stores on the same database, each with its own pool and guard. (SQLite's
    // equivalent, several worker processes, shares the same rows; two better-sqlite3 connections
    // in one process would block each other's event loop, so that case is not run here.)
    it.skipIf(b.name !== 'postgres')('QuotaGuard across replicas: racing admissions through two stores never exceed the limit', async () => {
      const other = await openMetadata(url);
      try {
        const g1 = new QuotaGuard(new QuotaStore(s));
        const g2 = new QuotaGuard(new QuotaStore(other));
        await project('replicas');
        await qs.setHard(ids.replicas, 100);
        const rs = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => (i % 2 ? g1 : g2).beforeBlob({ repo: 'replicas/app', digest: d(`q|rep${i}`), size: 30 })));
        expect(rs.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
        for (const r of rs) if (r.status === 'rejected') expect(String(r.reason)).toMatch(/Quota exceeded in project replicas/);
        // the same digest through both replicas at once counts once
        await qs.setHard(ids.replicas, 90 + 40);
        await Promise.all([g1.beforeBlob({ repo: 'replicas/a', digest: d('q|shared'), size: 40 }), g2.beforeBlob({ repo: 'replicas/b', digest: d('q|shared'), size: 40 })]);
        await expect(g2.beforeBlob({ repo: 'replicas/a', digest: d('q|one-more'), size: 1 })).rejects.toThrow(/Quota exceeded/);
        // a reservation whose row landed stops counting (it is the row now), on either replica
        await link('replicas/a', 'shared', 40);
        await expect(g1.beforeBlob({ repo: 'replicas/a', digest: d('q|one-more'), size: 1 })).rejects.toThrow(/Quota exceeded/);
        const held = await s.db.selectFrom('quota_reservations').select('key').where('project_id', '=', ids.replicas).execute();
        expect(held.map((r) => r.key)).not.toContain(`blob:${d('q|shared')}`);
        // raising the limit is seen at once by the other replica
        await qs.setHard(ids.replicas, 1000);
        await g2.beforeBlob({ repo: 'replicas/a', digest: d('q|one-more'), size: 1 });
      } finally {
        await other.close();
      }
    });

    it('QuotaGuard: a reservation expires when its commit never comes', async () => {
      const g = new QuotaGuard(qs);
      await project('expiry');
      await qs.setHard(ids.expiry, 50);
      await g.beforeBlob({ repo: 'expiry/a', digest: d('q|lost'), size: 50 });
      await expect(g.beforeBlob({ repo: 'expiry/a', digest: d('q|next'), size: 1 })).rejects.toThrow(/Quota exceeded/);
      // as if RESERVATION_TTL_MS had passed
      await s.db.updateTable('quota_reservations').set({ until: Date.now() - 1 }).where('project_id', '=', ids.expiry).execute();
      await g.beforeBlob({ repo: 'expiry/a', digest: d('q|next'), size: 1 });
    });

    it('formatBytes renders like Harbor', () => {
      expect(formatBytes(0)).toBe('0 B');
      expect(formatBytes(1023)).toBe('1023 B');
      expect(formatBytes(1024)).toBe('1.0 KiB');
      expect(formatBytes(2.1 * 1024 * 1024)).toBe('2.1 MiB');
      expect(formatBytes(10 * 1024 ** 3)).toBe('10.0 GiB');
    });

    it('immutable rules: create, list, limit, duplicates, update, delete; the guard enforces them', async () => {
      const rules = new ImmutableRuleStore(s);
      const body = (tag: string, repo = '**') => ({ tag_selectors: [{ kind: 'doublestar', decoration: 'matches', pattern: tag }], scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern: repo }] } });
      const id = await rules.create(ids.ps, parseRule(body('v*', 'app')));
      await expect(rules.create(ids.ps, parseRule(body('v*', 'app')))).rejects.toBeInstanceOf(RuleConflictError);
      expect((await rules.list(ids.ps)).map((r) => r.id)).toEqual([id]);
      expect(await rules.get(ids.ps2, id)).toBeNull();
      const guard = new ImmutabilityGuard(s, rules, async (repo) => {
        const name = repo.slice(0, repo.indexOf('/'));
        return ids[name] ? { id: ids[name], name } : null;
      });
      const v1 = await s.tagDigest((await s.getRepository('ps/app'))!.id, 'v1');
      await guard.beforeManifestPut({ repo: 'ps/app', digest: v1!, tag: 'v1' }); // same digest
      await expect(guard.beforeManifestPut({ repo: 'ps/app', digest: d('other'), tag: 'v1' })).rejects.toThrow(/The tag ps\/app:v1 is immutable, cannot be overwritten/);
      await guard.beforeManifestPut({ repo: 'ps/web', digest: d('other'), tag: 'v1' }); // out of scope
      await guard.beforeManifestPut({ repo: 'ps/app', digest: d('other'), tag: 'v9' }); // new tag
      await expect(guard.beforeTagDelete({ repo: 'ps/app', tag: 'v1' })).rejects.toThrow(/cannot be deleted/);
      await guard.beforeTagDelete({ repo: 'ps/app', tag: 'v404' }); // absent: the caller answers 404
      await expect(guard.beforeManifestDelete({ repo: 'ps/app', digest: v1! })).rejects.toThrow(/ps\/app:v1/);
      expect(await rules.update(ids.ps, id, parseRule({ ...body('v*', 'app'), disabled: true }))).toBe(true);
      await guard.beforeTagDelete({ repo: 'ps/app', tag: 'v1' });
      expect(await rules.update(ids.ps2, id, parseRule(body('x')))).toBe(false);
      expect(await rules.delete(ids.ps, id)).toBe(true);
      expect(await rules.delete(ids.ps, id)).toBe(false);
      for (let i = 0; i < MAX_RULES_PER_PROJECT; i++) await rules.create(ids.pxs, parseRule(body(`t${i}`)));
      await expect(rules.create(ids.pxs, parseRule(body('t-last')))).rejects.toBeInstanceOf(RuleLimitError);
      expect(await rules.list(ids.pxs)).toHaveLength(MAX_RULES_PER_PROJECT);
    });
  });
}
