// One behaviour suite for IdentityStore and the MetadataStore methods behind the management API,
// run against every metadata backend (SQLite, PostgreSQL). Each test uses its own names, so the
// tests share one database without seeing each other's rows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../oci/digest.ts';
import type { MetadataStore } from '../metadata/store.ts';
import { ConflictError, IdentityStore, type AuditEntry, type Robot } from './store.ts';

const d = (s: string) => digestOf(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** wait until the millisecond clock moves on, so consecutive rows get distinct created_at */
async function tick(): Promise<void> {
  const t = Date.now();
  while (Date.now() === t) await sleep(1);
}
const sorted = <T>(a: T[]) => [...a].sort();

const IMAGE = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';

export function describeIdentityStore(name: string, make: () => Promise<{ store: MetadataStore; cleanup(): Promise<void> }>) {
  describe(`IdentityStore + management metadata: ${name}`, () => {
    let meta: MetadataStore;
    let s: IdentityStore;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      ({ store: meta, cleanup } = await make());
      s = new IdentityStore(meta);
    });
    afterAll(async () => {
      await cleanup?.();
    });

    let seq = 0;
    const user = (username: string, extra: { email?: string | null; sysadmin?: boolean } = {}) =>
      s.createUser({ username, email: extra.email ?? null, passwordHash: `hash-${username}`, sysadmin: extra.sysadmin });

    /** An image manifest in `repo` with its own config and layer blobs; returns its digest. */
    async function pushImage(repo: string, label: string, o: { tag?: string; subject?: string; artifactType?: string | null; annotations?: Record<string, string> | null; layerSize?: number } = {}): Promise<string> {
      const r = await meta.ensureRepository(repo);
      const cfg = d(`${repo}|cfg|${label}`);
      const layer = d(`${repo}|layer|${label}`);
      await meta.commitBlob(r.id, cfg, 3);
      await meta.commitBlob(r.id, layer, o.layerSize ?? 10);
      const content = Buffer.from(JSON.stringify({ repo, label, n: ++seq }));
      const digest = digestOf(content);
      await meta.putManifest({
        repository: repo,
        digest,
        mediaType: IMAGE,
        artifactType: o.artifactType ?? null,
        subjectDigest: o.subject ?? null,
        annotations: o.annotations ?? null,
        content,
        refs: [
          { digest: cfg, kind: 'config', size: 3 },
          { digest: layer, kind: 'layer', size: o.layerSize ?? 10 },
          ...(o.subject ? [{ digest: o.subject, kind: 'subject' as const, size: 0 }] : []),
        ],
        tag: o.tag,
      });
      return digest;
    }
    async function pushIndex(repo: string, label: string, children: string[], tag?: string): Promise<string> {
      const content = Buffer.from(JSON.stringify({ repo, index: label, children }));
      const digest = digestOf(content);
      await meta.putManifest({
        repository: repo,
        digest,
        mediaType: INDEX,
        artifactType: null,
        subjectDigest: null,
        annotations: { 'org.example.index': label },
        content,
        refs: children.map((c) => ({ digest: c, kind: 'manifest' as const, size: 100 })),
        tag,
      });
      return digest;
    }

    // ---------------------------------------------------------------- users

    it('users: create, duplicate, get by id / name / e-mail, count', async () => {
      const before = await s.countUsers();
      const t0 = Date.now();
      const alice = await s.createUser({ username: 'us_alice', email: 'Alice@Example.COM', realname: 'Alice A', comment: 'first', passwordHash: 'h1', sysadmin: true });
      const t1 = Date.now();
      expect(alice).toEqual({ id: alice.id, username: 'us_alice', email: 'Alice@Example.COM', realname: 'Alice A', comment: 'first', passwordHash: 'h1', sysadmin: true, createdAt: alice.createdAt, updatedAt: alice.createdAt });
      expect(alice.createdAt).toBeGreaterThanOrEqual(t0);
      expect(alice.createdAt).toBeLessThanOrEqual(t1);
      expect(Number.isInteger(alice.id)).toBe(true);
      const bob = await s.createUser({ username: 'us_bob', passwordHash: 'h2' });
      expect(bob).toMatchObject({ username: 'us_bob', email: null, realname: null, comment: null, sysadmin: false });
      expect(bob.id).not.toBe(alice.id);

      await expect(s.createUser({ username: 'us_alice', passwordHash: 'x' })).rejects.toBeInstanceOf(ConflictError);
      await expect(s.createUser({ username: 'us_alice', passwordHash: 'x' })).rejects.toThrow('user us_alice already exists');
      expect(await s.countUsers()).toBe(before + 2);

      expect(await s.getUser(alice.id)).toEqual(alice);
      expect(await s.getUser(999_999_999)).toBeNull();
      expect(await s.getUserByName('us_alice')).toEqual(alice);
      expect(await s.getUserByName('US_ALICE')).toBeNull(); // names are exact
      expect(await s.getUserByName('us_')).toBeNull();
      expect((await s.getUserByEmail('alice@example.com'))?.id).toBe(alice.id);
      expect((await s.getUserByEmail('ALICE@EXAMPLE.COM'))?.id).toBe(alice.id);
      expect(await s.getUserByEmail('alice@example.co')).toBeNull();
      expect(await s.getUserByEmail('lice@example.com')).toBeNull();
      // non-ASCII addresses: the stored spelling is always found; case folding is ASCII-only on every backend
      const jurgen = await s.createUser({ username: 'us_jürgen', email: 'JÜRGEN@Example.com', passwordHash: 'h3' });
      expect((await s.getUserByEmail('JÜRGEN@Example.com'))?.id).toBe(jurgen.id);
      expect((await s.getUserByEmail('jÜrgen@example.COM'))?.id).toBe(jurgen.id);
      expect(await s.getUserByEmail('jürgen@example.com')).toBeNull();
      expect((await s.getUserByName('us_jürgen'))?.id).toBe(jurgen.id);
    });

    it('users: listUsers exact and fuzzy (case-insensitive, literal), paging and total', async () => {
      const names = ['lu_qzAlpha', 'lu_qzbeta', 'lu_QZgamma', 'lu_qzdelta', 'lu_other', 'lu_q_z', 'lu_q%z'];
      const ids: number[] = [];
      for (const n of names) ids.push((await user(n)).id);
      const byName = (r: { items: { username: string }[] }) => r.items.map((u) => u.username);

      // exact
      expect(byName(await s.listUsers({ username: 'lu_qzbeta', exact: true, offset: 0, limit: 10 }))).toEqual(['lu_qzbeta']);
      expect(await s.listUsers({ username: 'lu_qz', exact: true, offset: 0, limit: 10 })).toEqual({ items: [], total: 0 });
      expect((await s.listUsers({ username: 'LU_QZBETA', exact: true, offset: 0, limit: 10 })).total).toBe(0);

      // fuzzy: substring, case-insensitive, ordered by id
      const all = await s.listUsers({ username: 'QZ', offset: 0, limit: 10 });
      expect(all.total).toBe(4);
      expect(byName(all)).toEqual(['lu_qzAlpha', 'lu_qzbeta', 'lu_QZgamma', 'lu_qzdelta']);
      expect(all.items.map((u) => u.id)).toEqual(ids.slice(0, 4));
      // `_` and `%` are literal characters, not LIKE wildcards
      expect(byName(await s.listUsers({ username: 'q_z', offset: 0, limit: 10 }))).toEqual(['lu_q_z']);
      expect(byName(await s.listUsers({ username: 'q%z', offset: 0, limit: 10 }))).toEqual(['lu_q%z']);
      expect((await s.listUsers({ username: 'lu_%', offset: 0, limit: 10 })).total).toBe(0);
      expect((await s.listUsers({ username: 'qzx', offset: 0, limit: 10 })).total).toBe(0);
      // non-ASCII: the typed substring always matches; case folding is ASCII-only on every backend
      await user('lu_ÄRGER');
      expect(byName(await s.listUsers({ username: 'ÄRG', offset: 0, limit: 10 }))).toEqual(['lu_ÄRGER']);
      expect(byName(await s.listUsers({ username: 'Ärger', offset: 0, limit: 10 }))).toEqual(['lu_ÄRGER']);
      expect(byName(await s.listUsers({ username: 'ärger', offset: 0, limit: 10 }))).toEqual([]);

      // paging keeps the total
      const p2 = await s.listUsers({ username: 'qz', offset: 1, limit: 2 });
      expect(p2.total).toBe(4);
      expect(byName(p2)).toEqual(['lu_qzbeta', 'lu_QZgamma']);
      const p3 = await s.listUsers({ username: 'qz', offset: 3, limit: 2 });
      expect(byName(p3)).toEqual(['lu_qzdelta']);
      expect(await s.listUsers({ username: 'qz', offset: 4, limit: 2 })).toEqual({ items: [], total: 4 });

      // no filter: everyone, by id
      const everyone = await s.listUsers({ offset: 0, limit: 100_000 });
      expect(everyone.total).toBe(await s.countUsers());
      expect(everyone.items.length).toBe(everyone.total);
      expect(everyone.items.map((u) => u.id)).toEqual([...everyone.items.map((u) => u.id)].sort((a, b) => a - b));
      expect(everyone.items.filter((u) => u.username.startsWith('lu_')).map((u) => u.username)).toEqual([...names, 'lu_ÄRGER']);
    });

    it('users: update', async () => {
      const u = await s.createUser({ username: 'up_user', email: 'a@x.io', realname: 'R', comment: 'C', passwordHash: 'old' });
      await tick();
      expect(await s.updateUser(u.id, { email: 'b@x.io', passwordHash: 'new', sysadmin: true })).toBe(true);
      const v = await s.getUser(u.id);
      expect(v).toMatchObject({ username: 'up_user', email: 'b@x.io', realname: 'R', comment: 'C', passwordHash: 'new', sysadmin: true, createdAt: u.createdAt });
      expect(v!.updatedAt).toBeGreaterThan(u.updatedAt);
      expect(await s.updateUser(u.id, { email: null, realname: null, comment: 'c2', sysadmin: false })).toBe(true);
      expect(await s.getUser(u.id)).toMatchObject({ email: null, realname: null, comment: 'c2', passwordHash: 'new', sysadmin: false });
      expect(await s.getUserByEmail('b@x.io')).toBeNull();
      expect(await s.updateUser(u.id, {})).toBe(true); // only updated_at
      expect(await s.updateUser(999_999_999, { comment: 'x' })).toBe(false);
    });

    it('users: delete sets owned projects to no owner and drops memberships, tokens, sessions', async () => {
      const u = await user('del_owner');
      const other = await user('del_other');
      const p = await s.createProject({ name: 'del-owned', ownerId: u.id, public: false, metadata: {} });
      const q = await s.createProject({ name: 'del-kept', ownerId: other.id, public: false, metadata: {} });
      await s.addMember(q.id, u.id, 2);
      await s.createToken({ userId: u.id, name: 't', tokenHash: 'del-th', scopes: [], expiresAt: -1 });
      await s.createSession({ idHash: 'del-sess', userId: u.id, csrf: 'c', expiresAt: Date.now() + 60_000 });
      const before = await s.countUsers();

      expect(await s.deleteUser(u.id)).toBe(true);
      expect(await s.getUser(u.id)).toBeNull();
      expect(await s.getUserByName('del_owner')).toBeNull();
      expect(await s.countUsers()).toBe(before - 1);
      expect((await s.getProject(p.id))?.ownerId).toBeNull();
      expect((await s.getProject(q.id))?.ownerId).toBe(other.id);
      expect(await s.listMembers(p.id)).toEqual([]);
      expect((await s.listMembers(q.id)).map((m) => m.username)).toEqual(['del_other']);
      expect((await s.memberships(u.id)).size).toBe(0);
      expect(await s.listTokens(u.id)).toEqual([]);
      expect(await s.getSession('del-sess')).toBeNull();
      expect(await s.deleteUser(u.id)).toBe(false);
      expect(await s.getUser(other.id)).not.toBeNull();
    });

    // ---------------------------------------------------------------- projects

    it('projects: create (owner becomes member with role 1), duplicate, get, list, update', async () => {
      const owner = await user('pj_owner');
      const t0 = Date.now();
      const p = await s.createProject({ name: 'pj-alpha', ownerId: owner.id, public: true, metadata: { public: 'true', auto_scan: 'false' } });
      expect(p).toEqual({ id: p.id, name: 'pj-alpha', ownerId: owner.id, public: true, metadata: { public: 'true', auto_scan: 'false' }, createdAt: p.createdAt, updatedAt: p.createdAt });
      expect(p.createdAt).toBeGreaterThanOrEqual(t0);
      const members = await s.listMembers(p.id);
      expect(members.map(({ projectId, userId, username, roleId }) => ({ projectId, userId, username, roleId }))).toEqual([{ projectId: p.id, userId: owner.id, username: 'pj_owner', roleId: 1 }]);

      const orphan = await s.createProject({ name: 'pj-beta', ownerId: null, public: false, metadata: {} });
      expect(orphan).toMatchObject({ name: 'pj-beta', ownerId: null, public: false, metadata: {} });
      expect(await s.listMembers(orphan.id)).toEqual([]);

      await expect(s.createProject({ name: 'pj-alpha', ownerId: owner.id, public: false, metadata: {} })).rejects.toBeInstanceOf(ConflictError);
      await expect(s.createProject({ name: 'pj-alpha', ownerId: null, public: false, metadata: {} })).rejects.toThrow('project pj-alpha already exists');
      // the failed create left no membership behind
      expect([...(await s.memberships(owner.id)).entries()]).toEqual([[p.id, 1]]);

      expect(await s.getProject(p.id)).toEqual(p);
      expect(await s.getProject(999_999_999)).toBeNull();
      expect(await s.getProjectByName('pj-alpha')).toEqual(p);
      expect(await s.getProjectByName('pj-alph')).toBeNull();
      expect(await s.getProjectByName('PJ-ALPHA')).toBeNull();

      await s.createProject({ name: 'pj-Aardvark', ownerId: null, public: false, metadata: {} });
      await s.createProject({ name: 'pj-_under', ownerId: null, public: false, metadata: {} });
      const listed = (await s.listProjects()).map((x) => x.name).filter((n) => n.startsWith('pj-'));
      expect(listed).toEqual(['pj-Aardvark', 'pj-_under', 'pj-alpha', 'pj-beta']);

      await tick();
      expect(await s.updateProject(p.id, { public: false })).toBe(true);
      const u1 = await s.getProject(p.id);
      expect(u1).toMatchObject({ public: false, metadata: { public: 'true', auto_scan: 'false' }, createdAt: p.createdAt });
      expect(u1!.updatedAt).toBeGreaterThan(p.updatedAt);
      expect(await s.updateProject(p.id, { metadata: { severity: 'high' } })).toBe(true);
      expect(await s.getProject(p.id)).toMatchObject({ public: false, metadata: { severity: 'high' } });
      expect(await s.updateProject(p.id, { public: true, metadata: {} })).toBe(true);
      expect(await s.getProject(p.id)).toMatchObject({ public: true, metadata: {} });
      expect(await s.updateProject(999_999_999, { public: true })).toBe(false);
    });

    it('projects: listProjectsPage visibility, filters, sorting, paging, owner name and repository count', async () => {
      const ann = await user('lp_ann');
      const ben = await user('lp_ben');
      const mk = async (name: string, ownerId: number | null, pub: boolean) => {
        const p = await s.createProject({ name, ownerId, public: pub, metadata: {} });
        await tick();
        return p;
      };
      const pub1 = await mk('lpx-pub', ann.id, true); // public, ann
      const priv1 = await mk('lpx-ann', ann.id, false); // private, ann (member)
      const priv2 = await mk('lpx-ben', ben.id, false); // private, ben
      const priv3 = await mk('lpx-none', null, false); // private, no owner
      const pub2 = await mk('lpx-pub2', ben.id, true); // public, ben
      const pub3 = await mk('lpx_pub3', null, true); // public, no owner (underscore)
      await s.addMember(priv3.id, ben.id, 3);
      // repositories: lpx-pub has 2, lpx-pub2 has 1 (its name extends lpx-pub: no bleed), others 0
      await meta.ensureRepository('lpx-pub/one');
      await meta.ensureRepository('lpx-pub/two/deep');
      await meta.ensureRepository('lpx-pub2/one');
      await meta.ensureRepository('lpx-pubx'); // no slash: belongs to no project

      const names = (r: { items: { name: string }[] }) => r.items.map((x) => x.name);
      const page = (o: Partial<Parameters<IdentityStore['listProjectsPage']>[0]> = {}) => s.listProjectsPage({ visible: { all: true }, name: 'lpx', offset: 0, limit: 100, ...o });

      // everything, default sort by name
      const all = await page();
      expect(all.total).toBe(6);
      expect(names(all)).toEqual(['lpx-ann', 'lpx-ben', 'lpx-none', 'lpx-pub', 'lpx-pub2', 'lpx_pub3']);
      const byName = new Map(all.items.map((x) => [x.name, x]));
      expect(byName.get('lpx-pub')).toEqual({ ...pub1, ownerName: 'lp_ann', repoCount: 2 });
      expect(byName.get('lpx-pub2')).toEqual({ ...pub2, ownerName: 'lp_ben', repoCount: 1 });
      expect(byName.get('lpx-none')).toEqual({ ...priv3, ownerName: null, repoCount: 0 });
      expect(byName.get('lpx_pub3')?.repoCount).toBe(0);

      // visibility
      expect(names(await page({ visible: {} }))).toEqual(['lpx-pub', 'lpx-pub2', 'lpx_pub3']);
      expect(names(await page({ visible: { memberUserId: ann.id } }))).toEqual(['lpx-ann', 'lpx-pub', 'lpx-pub2', 'lpx_pub3']);
      expect(names(await page({ visible: { memberUserId: ben.id } }))).toEqual(['lpx-ben', 'lpx-none', 'lpx-pub', 'lpx-pub2', 'lpx_pub3']);
      expect(names(await page({ visible: { names: ['lpx-none'] } }))).toEqual(['lpx-none', 'lpx-pub', 'lpx-pub2', 'lpx_pub3']);
      expect(names(await page({ visible: { memberUserId: ann.id, names: ['lpx-ben', 'nope'] } }))).toEqual(['lpx-ann', 'lpx-ben', 'lpx-pub', 'lpx-pub2', 'lpx_pub3']);
      expect(names(await page({ visible: { names: [] } }))).toEqual(['lpx-pub', 'lpx-pub2', 'lpx_pub3']);
      expect((await page({ visible: { memberUserId: ann.id } })).total).toBe(4);

      // name: substring (literal `_`) or exact
      expect(names(await page({ name: 'lpx-pub' }))).toEqual(['lpx-pub', 'lpx-pub2']);
      expect(names(await page({ name: 'lpx-pub', exactName: true }))).toEqual(['lpx-pub']);
      expect(names(await page({ name: 'x_p' }))).toEqual(['lpx_pub3']);
      expect(names(await page({ name: 'lpx%' }))).toEqual([]);
      expect(names(await page({ name: 'lpx', exactName: true }))).toEqual([]);

      // public, owner
      expect(names(await page({ public: true }))).toEqual(['lpx-pub', 'lpx-pub2', 'lpx_pub3']);
      expect(names(await page({ public: false }))).toEqual(['lpx-ann', 'lpx-ben', 'lpx-none']);
      expect(names(await page({ owner: 'lp_ben' }))).toEqual(['lpx-ben', 'lpx-pub2']);
      expect(names(await page({ owner: 'lp_ben', public: false }))).toEqual(['lpx-ben']);
      expect(names(await page({ owner: 'lp_nobody' }))).toEqual([]);
      expect(names(await page({ visible: { memberUserId: ben.id }, public: false, owner: 'lp_ann' }))).toEqual([]);

      // sorting and paging
      const creation = ['lpx-pub', 'lpx-ann', 'lpx-ben', 'lpx-none', 'lpx-pub2', 'lpx_pub3'];
      expect(names(await page({ sort: { column: 'created_at', desc: false } }))).toEqual(creation);
      expect(names(await page({ sort: { column: 'created_at', desc: true } }))).toEqual([...creation].reverse());
      expect(names(await page({ sort: { column: 'id', desc: true } }))).toEqual([...creation].reverse());
      expect(names(await page({ sort: { column: 'name', desc: true } }))).toEqual(['lpx_pub3', 'lpx-pub2', 'lpx-pub', 'lpx-none', 'lpx-ben', 'lpx-ann']);
      await tick();
      await s.updateProject(priv1.id, { public: false });
      expect(names(await page({ sort: { column: 'updated_at', desc: true }, limit: 1 }))).toEqual(['lpx-ann']);
      const p2 = await page({ sort: { column: 'created_at', desc: false }, offset: 2, limit: 3 });
      expect(p2.total).toBe(6);
      expect(names(p2)).toEqual(['lpx-ben', 'lpx-none', 'lpx-pub2']);
      expect(await page({ offset: 6, limit: 3 })).toEqual({ items: [], total: 6 });
      expect(byName.get('lpx-ben')?.id).toBe(priv2.id);
      expect(byName.get('lpx_pub3')?.id).toBe(pub3.id);
    });

    it('projects: repositories of a project (no LIKE wildcard, no prefix bleed), summary, description', async () => {
      // project names with `_` and `.` next to names they would match as patterns or prefixes
      const projects = ['team', 'team2', 'a_b', 'axb', 'my_proj.v2', 'myxproj.v2', 'my_projxv2', 'my_proj.v22', 'my_proj'];
      for (const p of projects) await s.createProject({ name: p, ownerId: null, public: false, metadata: {} });
      const repos: Record<string, string[]> = {
        team: ['team/app', 'team/web', 'team/x_y'],
        team2: ['team2/app'],
        a_b: ['a_b/r1'],
        axb: ['axb/r1', 'axb/r2'],
        'my_proj.v2': ['my_proj.v2/svc', 'my_proj.v2/tools/cli'],
        'myxproj.v2': ['myxproj.v2/svc'],
        'my_projxv2': ['my_projxv2/svc'],
        'my_proj.v22': ['my_proj.v22/svc'],
        my_proj: [],
      };
      for (const list of Object.values(repos)) for (const r of list) await meta.ensureRepository(r);
      await meta.ensureRepository('team'); // a repository named like the project, without a slash
      await meta.ensureRepository('teamx/app');

      for (const p of projects) {
        expect([p, await s.countRepositories(p)]).toEqual([p, repos[p].length]);
        const l = await s.listRepositories(p, { offset: 0, limit: 100 });
        expect([p, l.total, l.items.map((x) => x.name)]).toEqual([p, repos[p].length, repos[p]]);
      }
      expect(await s.countRepositories('tea')).toBe(0);
      expect(await s.countRepositories('a%b')).toBe(0);
      expect(await s.countRepositories('a_')).toBe(0);

      // artifact count and last push time; description
      const t0 = Date.now();
      const first = await pushImage('team/app', 'one');
      await tick();
      await pushImage('team/app', 'two');
      const pushed = (await meta.getArtifact((await meta.getRepository('team/app'))!.id, first))!;
      expect(pushed.createdAt).toBeGreaterThanOrEqual(t0);
      const app = (await meta.getRepository('team/app'))!;
      const web = (await meta.getRepository('team/web'))!;
      await s.setRepositoryDescription(app.id, 'the app');
      const l = await s.listRepositories('team', { offset: 0, limit: 100 });
      const appItem = l.items[0];
      const webItem = l.items[1];
      const appSummary = await s.getRepositorySummary('team/app');
      expect(appItem).toEqual(appSummary);
      expect(appSummary).toMatchObject({ id: app.id, name: 'team/app', description: 'the app', artifactCount: 2 });
      expect(appSummary!.updatedAt).toBeGreaterThan(pushed.createdAt);
      expect(appSummary!.updatedAt).toBeGreaterThan(appSummary!.createdAt);
      expect(webItem).toEqual({ id: web.id, name: 'team/web', description: null, createdAt: webItem.createdAt, artifactCount: 0, updatedAt: webItem.createdAt });
      expect(await s.getRepositorySummary('team/web')).toEqual(webItem);
      expect(await s.getRepositorySummary('team/nope')).toBeNull();
      expect(await s.getRepositorySummary('team/ap')).toBeNull();
      await s.setRepositoryDescription(app.id, null);
      expect((await s.getRepositorySummary('team/app'))?.description).toBeNull();
      await s.setRepositoryDescription(web.id, 'with_under%score');
      expect((await s.getRepositorySummary('team/web'))?.description).toBe('with_under%score');

      // q: literal substring; paging keeps the total
      const q = async (project: string, text: string) => (await s.listRepositories(project, { q: text, offset: 0, limit: 100 })).items.map((x) => x.name);
      expect(await q('team', 'pp')).toEqual(['team/app']);
      expect(await q('team', '.')).toEqual([]);
      expect(await q('team', '_')).toEqual(['team/x_y']);
      expect(await q('team', 'x_')).toEqual(['team/x_y']);
      expect(await q('team', '%')).toEqual([]);
      expect(await q('team', 'team/')).toEqual(['team/app', 'team/web', 'team/x_y']);
      expect(await q('team', 'team2')).toEqual([]);
      expect(await q('my_proj.v2', '.')).toEqual(['my_proj.v2/svc', 'my_proj.v2/tools/cli']);
      expect(await q('my_proj.v2', 'tools/')).toEqual(['my_proj.v2/tools/cli']);
      const p1 = await s.listRepositories('team', { offset: 1, limit: 1 });
      expect(p1.total).toBe(3);
      expect(p1.items.map((x) => x.name)).toEqual(['team/web']);
      const pq = await s.listRepositories('team', { q: 'team/', offset: 2, limit: 5 });
      expect([pq.total, pq.items.map((x) => x.name)]).toEqual([3, ['team/x_y']]);
    });

    it('projects: deleteProject is not-found / not-empty / deleted, dropping members and robots', async () => {
      const o = await user('dp_owner');
      expect(await s.deleteProject(999_999_999)).toBe('not-found');
      const full = await s.createProject({ name: 'gone', ownerId: o.id, public: false, metadata: {} });
      const prefix = await s.createProject({ name: 'gone2', ownerId: o.id, public: false, metadata: {} });
      const under = await s.createProject({ name: 'g_b', ownerId: o.id, public: false, metadata: {} });
      await meta.ensureRepository('gone2/app'); // `gone` is a prefix of `gone2`, not its project
      await meta.ensureRepository('gxb/app'); // `g_b` would match it as a LIKE pattern
      await meta.ensureRepository('gone'); // no slash
      const robot = await s.createRobot(robotInput('robot$gone2+r', { level: 'project', projectId: prefix.id }));

      expect(await s.deleteProject(full.id)).toBe('deleted');
      expect(await s.getProject(full.id)).toBeNull();
      expect(await s.deleteProject(full.id)).toBe('not-found');
      expect(await s.deleteProject(under.id)).toBe('deleted');
      expect(await s.deleteProject(prefix.id)).toBe('not-empty');
      expect(await s.getProject(prefix.id)).not.toBeNull();
      expect((await s.getRobot(robot.id))?.name).toBe('robot$gone2+r');
      expect([...(await s.memberships(o.id)).keys()]).toEqual([prefix.id]);

      expect(await meta.deleteRepository('gone2/app')).toBe(true);
      expect(await s.deleteProject(prefix.id)).toBe('deleted');
      expect(await s.getProjectByName('gone2')).toBeNull();
      expect(await s.listMembers(prefix.id)).toEqual([]);
      expect((await s.memberships(o.id)).size).toBe(0);
      expect(await s.getRobot(robot.id)).toBeNull();
      expect(await meta.getRepository('gxb/app')).not.toBeNull();
    });

    // ---------------------------------------------------------------- members

    it('members: list, get, add, duplicate, update, delete, memberships', async () => {
      const owner = await user('mb_owner');
      const dev = await user('mb_dev');
      const guest = await user('mb_guest');
      const p = await s.createProject({ name: 'mb-proj', ownerId: owner.id, public: false, metadata: {} });
      const other = await s.createProject({ name: 'mb-other', ownerId: dev.id, public: false, metadata: {} });

      const t0 = Date.now();
      const devId = await s.addMember(p.id, dev.id, 2);
      const guestId = await s.addMember(p.id, guest.id, 3);
      expect(devId).not.toBe(guestId);
      await expect(s.addMember(p.id, dev.id, 4)).rejects.toBeInstanceOf(ConflictError);
      await expect(s.addMember(p.id, owner.id, 2)).rejects.toThrow('the user is already a member of the project');

      const list = await s.listMembers(p.id);
      expect(list.map(({ userId, username, roleId, projectId }) => ({ userId, username, roleId, projectId }))).toEqual([
        { userId: owner.id, username: 'mb_owner', roleId: 1, projectId: p.id },
        { userId: dev.id, username: 'mb_dev', roleId: 2, projectId: p.id },
        { userId: guest.id, username: 'mb_guest', roleId: 3, projectId: p.id },
      ]);
      expect(list[1].id).toBe(devId);
      expect(list[1].createdAt).toBeGreaterThanOrEqual(t0);
      expect(list[1].updatedAt).toBe(list[1].createdAt);
      expect((await s.listMembers(p.id, 'mb_guest')).map((m) => m.id)).toEqual([guestId]);
      expect(await s.listMembers(p.id, 'mb_gues')).toEqual([]);
      expect(await s.listMembers(p.id, 'mb_nobody')).toEqual([]);

      expect(await s.getMember(p.id, devId)).toEqual(list[1]);
      expect(await s.getMember(other.id, devId)).toBeNull();
      expect(await s.getMember(p.id, 999_999_999)).toBeNull();

      expect(Object.fromEntries(await s.memberships(dev.id))).toEqual({ [p.id]: 2, [other.id]: 1 });
      expect(Object.fromEntries(await s.memberships(guest.id))).toEqual({ [p.id]: 3 });

      await tick();
      expect(await s.updateMember(p.id, devId, 4)).toBe(true);
      expect(await s.updateMember(other.id, devId, 5)).toBe(false);
      expect(await s.updateMember(p.id, 999_999_999, 5)).toBe(false);
      const upd = (await s.getMember(p.id, devId))!;
      expect(upd.roleId).toBe(4);
      expect(upd.updatedAt).toBeGreaterThan(upd.createdAt);
      expect((await s.memberships(dev.id)).get(p.id)).toBe(4);

      expect(await s.deleteMember(other.id, guestId)).toBe(false);
      expect(await s.deleteMember(p.id, guestId)).toBe(true);
      expect(await s.deleteMember(p.id, guestId)).toBe(false);
      expect((await s.listMembers(p.id)).map((m) => m.username)).toEqual(['mb_owner', 'mb_dev']);
      expect((await s.memberships(guest.id)).size).toBe(0);
      // re-adding after delete works
      expect(await s.addMember(p.id, guest.id, 2)).toBeGreaterThan(guestId);
    });

    // ---------------------------------------------------------------- robots

    function robotInput(name: string, o: Partial<Omit<Robot, 'id' | 'createdAt' | 'updatedAt'>> = {}): Omit<Robot, 'id' | 'createdAt' | 'updatedAt'> {
      return {
        name,
        description: null,
        level: 'system',
        projectId: null,
        secretHash: `secret-${name}`,
        permissions: [],
        disabled: false,
        duration: -1,
        expiresAt: -1,
        creator: null,
        ...o,
      };
    }

    it('robots: create, duplicate, get, by name, list filters, update, delete', async () => {
      const p = await s.createProject({ name: 'rb-proj', ownerId: null, public: false, metadata: {} });
      const q = await s.createProject({ name: 'rb-other', ownerId: null, public: false, metadata: {} });
      const perms = [{ kind: 'project' as const, namespace: 'rb-proj', access: [{ resource: 'repository', action: 'pull' }, { resource: 'repository', action: 'push', effect: 'allow' }] }];
      const t0 = Date.now();
      const r1 = await s.createRobot(robotInput('robot$rb-proj+ci', { description: 'CI', level: 'project', projectId: p.id, permissions: perms, duration: 30, expiresAt: 1_900_000_000_000, creator: 'admin' }));
      expect(r1).toEqual({
        id: r1.id,
        name: 'robot$rb-proj+ci',
        description: 'CI',
        level: 'project',
        projectId: p.id,
        secretHash: 'secret-robot$rb-proj+ci',
        permissions: perms,
        disabled: false,
        duration: 30,
        expiresAt: 1_900_000_000_000,
        creator: 'admin',
        createdAt: r1.createdAt,
        updatedAt: r1.createdAt,
      });
      expect(r1.createdAt).toBeGreaterThanOrEqual(t0);
      const r2 = await s.createRobot(robotInput('robot$rb-proj+bot', { level: 'project', projectId: p.id, disabled: true }));
      const r3 = await s.createRobot(robotInput('robot$rb-other+x', { level: 'project', projectId: q.id }));
      const r4 = await s.createRobot(robotInput('robot$rb-sys', { level: 'system', permissions: [{ kind: 'system', namespace: '/', access: [{ resource: 'audit-log', action: 'list' }] }] }));
      await expect(s.createRobot(robotInput('robot$rb-proj+ci'))).rejects.toBeInstanceOf(ConflictError);
      await expect(s.createRobot(robotInput('robot$rb-sys'))).rejects.toThrow('robot account robot$rb-sys already exists');

      expect(await s.getRobot(r1.id)).toEqual(r1);
      expect(await s.getRobot(999_999_999)).toBeNull();
      expect(await s.getRobotByName('robot$rb-proj+ci')).toEqual(r1);
      expect(await s.getRobotByName('robot$rb-proj')).toBeNull();
      expect(r2.disabled).toBe(true);

      const ids = (rs: Robot[]) => rs.map((r) => r.id);
      expect(ids(await s.listRobots({ projectId: p.id }))).toEqual([r1.id, r2.id]);
      expect(ids(await s.listRobots({ projectId: q.id }))).toEqual([r3.id]);
      expect(ids(await s.listRobots({ projectId: p.id, level: 'system' }))).toEqual([]);
      expect(ids(await s.listRobots({ projectId: p.id, level: 'project' }))).toEqual([r1.id, r2.id]);
      expect(ids((await s.listRobots({ level: 'system' })).filter((r) => r.name.startsWith('robot$rb-')))).toEqual([r4.id]);
      expect(ids((await s.listRobots({ level: 'project' })).filter((r) => r.name.startsWith('robot$rb-')))).toEqual([r1.id, r2.id, r3.id]);
      expect(ids((await s.listRobots()).filter((r) => r.name.startsWith('robot$rb-')))).toEqual([r1.id, r2.id, r3.id, r4.id]);
      expect(await s.listRobots({ projectId: 999_999_999 })).toEqual([]);

      await tick();
      const newPerms = [{ kind: 'project' as const, namespace: 'rb-proj', access: [{ resource: 'artifact', action: 'delete' }] }];
      expect(await s.updateRobot(r1.id, { description: null, disabled: true, permissions: newPerms, duration: 7, expiresAt: 123, secretHash: 'rotated' })).toBe(true);
      const u = (await s.getRobot(r1.id))!;
      expect(u).toEqual({ ...r1, description: null, disabled: true, permissions: newPerms, duration: 7, expiresAt: 123, secretHash: 'rotated', updatedAt: u.updatedAt });
      expect(u.updatedAt).toBeGreaterThan(r1.updatedAt);
      expect(await s.updateRobot(r1.id, { disabled: false, description: 'again' })).toBe(true);
      expect(await s.getRobot(r1.id)).toMatchObject({ disabled: false, description: 'again', secretHash: 'rotated', duration: 7 });
      expect(await s.updateRobot(999_999_999, { disabled: true })).toBe(false);

      expect(await s.deleteRobot(r2.id)).toBe(true);
      expect(await s.deleteRobot(r2.id)).toBe(false);
      expect(await s.getRobot(r2.id)).toBeNull();
      expect(ids(await s.listRobots({ projectId: p.id }))).toEqual([r1.id]);
      // the name is free again
      expect((await s.createRobot(robotInput('robot$rb-proj+bot', { level: 'project', projectId: p.id }))).id).not.toBe(r2.id);
    });

    it('robots: deleteProject drops the permission entries of system robots for that project name (a new project of the name starts clean)', async () => {
      const gone = await s.createProject({ name: 'rb-gone', ownerId: null, public: false, metadata: {} });
      await s.createProject({ name: 'rb-keep', ownerId: null, public: false, metadata: {} });
      const pull = [{ resource: 'repository', action: 'pull' }];
      const keepEntry = { kind: 'project' as const, namespace: 'rb-keep', access: pull };
      const starEntry = { kind: 'project' as const, namespace: '*', access: pull };
      const sysEntry = { kind: 'system' as const, namespace: '/', access: [{ resource: 'audit-log', action: 'list' }] };
      const wide = await s.createRobot(
        robotInput('robot$rb-wide', { permissions: [keepEntry, { kind: 'project', namespace: 'rb-gone', access: [...pull, { resource: 'repository', action: 'push' }] }, starEntry, sysEntry] }),
      );
      const only = await s.createRobot(robotInput('robot$rb-only-gone', { permissions: [{ kind: 'project', namespace: 'rb-gone', access: pull }] }));
      const other = await s.createRobot(robotInput('robot$rb-unrelated', { permissions: [keepEntry] }));
      // a system namespace that happens to equal the name is not a project entry
      const sysNamed = await s.createRobot(robotInput('robot$rb-sysnamed', { permissions: [{ kind: 'system', namespace: 'rb-gone', access: pull }] }));
      const projRobot = await s.createRobot(robotInput('robot$rb-gone+ci', { level: 'project', projectId: gone.id, permissions: [{ kind: 'project', namespace: 'rb-gone', access: pull }] }));
      const otherBefore = (await s.getRobot(other.id))!;

      expect(await s.deleteProject(gone.id)).toBe('deleted');
      expect((await s.getRobot(wide.id))!.permissions).toEqual([keepEntry, starEntry, sysEntry]);
      expect((await s.getRobot(only.id))!.permissions).toEqual([]);
      expect(await s.getRobot(other.id)).toEqual(otherBefore);
      expect((await s.getRobot(sysNamed.id))!.permissions).toEqual([{ kind: 'system', namespace: 'rb-gone', access: pull }]);
      expect(await s.getRobot(projRobot.id)).toBeNull();

      // a new project of the same name: no robot holds anything in it
      await s.createProject({ name: 'rb-gone', ownerId: null, public: false, metadata: {} });
      for (const r of await s.listRobots()) {
        expect(r.permissions.some((x) => x.kind === 'project' && x.namespace === 'rb-gone'), r.name).toBe(false);
      }
    });

    // ---------------------------------------------------------------- tokens

    it('personal access tokens: create, duplicate, createTokenWithId, list, delete by owner only', async () => {
      const a = await user('tk_a');
      const b = await user('tk_b');
      const t0 = Date.now();
      const ta = await s.createToken({ userId: a.id, name: 'ci', tokenHash: 'hash-a-ci', scopes: ['repository:p/r:pull', 'repository:p/r:push'], expiresAt: -1 });
      expect(ta).toEqual({ id: ta.id, userId: a.id, name: 'ci', tokenHash: 'hash-a-ci', scopes: ['repository:p/r:pull', 'repository:p/r:push'], expiresAt: -1, createdAt: ta.createdAt });
      expect(ta.createdAt).toBeGreaterThanOrEqual(t0);
      await expect(s.createToken({ userId: a.id, name: 'ci', tokenHash: 'other', scopes: [], expiresAt: -1 })).rejects.toBeInstanceOf(ConflictError);
      const tb = await s.createToken({ userId: b.id, name: 'ci', tokenHash: 'hash-b-ci', scopes: [], expiresAt: 1_800_000_000_000 });
      expect(tb.expiresAt).toBe(1_800_000_000_000);

      const seen: number[] = [];
      const tw = await s.createTokenWithId({ userId: a.id, name: 'deploy', scopes: ['x'], expiresAt: 5 }, (id) => {
        seen.push(id);
        return `hash-of-${id}`;
      });
      expect(seen).toEqual([tw.id]);
      expect(tw).toEqual({ id: tw.id, userId: a.id, name: 'deploy', tokenHash: `hash-of-${tw.id}`, scopes: ['x'], expiresAt: 5, createdAt: tw.createdAt });
      await expect(s.createTokenWithId({ userId: a.id, name: 'deploy', scopes: [], expiresAt: -1 }, (id) => `h${id}`)).rejects.toBeInstanceOf(ConflictError);
      await expect(s.createTokenWithId({ userId: a.id, name: 'ci', scopes: [], expiresAt: -1 }, (id) => `h${id}`)).rejects.toThrow('a token named ci already exists');

      const listA = await s.listTokens(a.id);
      expect(listA).toEqual([ta, tw]);
      expect(listA.some((t) => t.tokenHash === '!pending')).toBe(false);
      expect(await s.listTokens(b.id)).toEqual([tb]);
      expect(await s.getToken(tw.id)).toEqual(tw);
      expect(await s.getToken(999_999_999)).toBeNull();

      expect(await s.deleteToken(b.id, ta.id)).toBe(false);
      expect(await s.getToken(ta.id)).toEqual(ta);
      expect(await s.deleteToken(a.id, ta.id)).toBe(true);
      expect(await s.deleteToken(a.id, ta.id)).toBe(false);
      expect(await s.listTokens(a.id)).toEqual([tw]);
      expect(await s.listTokens(b.id)).toEqual([tb]);
      // the name can be used again once deleted
      expect((await s.createToken({ userId: a.id, name: 'ci', tokenHash: 'again', scopes: [], expiresAt: -1 })).name).toBe('ci');
    });

    // ---------------------------------------------------------------- sessions

    it('sessions: create, get, delete, deleteSessionsOf, purge', async () => {
      const a = await user('ss_a');
      const b = await user('ss_b');
      const t = Date.now();
      await s.createSession({ idHash: 'ss-1', userId: a.id, csrf: 'c1', expiresAt: t + 3_600_000 });
      await s.createSession({ idHash: 'ss-2', userId: a.id, csrf: 'c2', expiresAt: t - 1_000 });
      await s.createSession({ idHash: 'ss-3', userId: a.id, csrf: 'c3', expiresAt: t + 3_600_000 });
      await s.createSession({ idHash: 'ss-4', userId: b.id, csrf: 'c4', expiresAt: t + 3_600_000 });
      await s.createSession({ idHash: 'ss-5', userId: b.id, csrf: 'c5', expiresAt: t + 7_200_000 });
      await expect(s.createSession({ idHash: 'ss-1', userId: b.id, csrf: 'x', expiresAt: t })).rejects.toThrow();

      expect(await s.getSession('ss-1')).toEqual({ userId: a.id, csrf: 'c1', expiresAt: t + 3_600_000 });
      expect(await s.getSession('ss-4')).toEqual({ userId: b.id, csrf: 'c4', expiresAt: t + 3_600_000 });
      expect(await s.getSession('ss-')).toBeNull();

      await s.deleteSession('ss-1');
      expect(await s.getSession('ss-1')).toBeNull();
      await s.deleteSession('ss-1'); // no error when absent

      await s.purgeSessions();
      expect(await s.getSession('ss-2')).toBeNull();
      expect(await s.getSession('ss-3')).not.toBeNull();

      // purge is strictly before the cut-off
      await s.purgeSessions(t + 3_600_000);
      expect(await s.getSession('ss-3')).not.toBeNull();
      await s.purgeSessions(t + 3_600_001);
      expect(await s.getSession('ss-3')).toBeNull();
      expect(await s.getSession('ss-4')).toBeNull();
      expect(await s.getSession('ss-5')).toEqual({ userId: b.id, csrf: 'c5', expiresAt: t + 7_200_000 });

      await s.createSession({ idHash: 'ss-6', userId: a.id, csrf: 'c6', expiresAt: t + 7_200_000 });
      await s.deleteSessionsOf(b.id);
      expect(await s.getSession('ss-5')).toBeNull();
      expect(await s.getSession('ss-6')).toEqual({ userId: a.id, csrf: 'c6', expiresAt: t + 7_200_000 });
    });

    // ---------------------------------------------------------------- audit

    it('audit: insert > 500 in one call; query filters, range, order, paging, total; purge', async () => {
      const base = 1_600_000_000_000;
      const N = 1203;
      const ops = ['create', 'delete', 'pull'];
      const entries: AuditEntry[] = Array.from({ length: N }, (_, i) => ({
        username: ['au_alice', 'au_bob', 'au_carol'][i % 3],
        operation: ops[i % 3 === 0 ? 0 : i % 5 === 0 ? 1 : 2],
        resourceType: i % 2 ? 'artifact' : 'repository',
        resource: i % 10 === 7 ? `lib_a/app:${i}` : i % 10 === 8 ? `libxa/app:${i}` : `proj${i % 4}/repo:${i}`,
        projectId: i % 4 === 3 ? null : i % 4,
        clientIp: i % 6 === 0 ? null : `10.0.0.${i % 250}`,
        success: i % 7 !== 0,
        opTime: base + Math.floor(i / 2) * 1000, // pairs share a time: id breaks the tie
      }));
      await s.insertAudit(entries);
      await s.insertAudit([]);

      const Q = (q: Partial<Parameters<IdentityStore['queryAudit']>[0]> = {}) => s.queryAudit({ offset: 0, limit: 10_000, ...q });
      const index = (r: { items: { resource: string }[] }) => r.items.map((x) => Number(x.resource.split(':')[1]));
      const expectMatch = async (q: Partial<Parameters<IdentityStore['queryAudit']>[0]>, pred: (e: AuditEntry, i: number) => boolean, count: number) => {
        const want = entries.map((e, i) => [e, i] as const).filter(([e, i]) => pred(e, i)).map(([, i]) => i);
        expect(want.length).toBe(count);
        const r = await Q({ ...q, order: 'asc' });
        expect(r.total).toBe(count);
        expect(index(r)).toEqual(want);
      };

      const all = await Q();
      expect(all.total).toBe(N);
      // newest first, ties newest id first
      expect(index(all).slice(0, 4)).toEqual([1202, 1201, 1200, 1199]);
      expect(index(all)).toEqual(Array.from({ length: N }, (_, i) => N - 1 - i));
      const asc = await Q({ order: 'asc' });
      expect(index(asc)).toEqual(Array.from({ length: N }, (_, i) => i));
      // every field survives the round trip
      const sample = asc.items[6];
      expect(sample).toEqual({ id: sample.id, ...entries[6] });
      expect(asc.items[7]).toEqual({ id: asc.items[7].id, ...entries[7] });
      expect(asc.items[7].id).toBeGreaterThan(sample.id);
      expect(entries[6]).toMatchObject({ clientIp: null, success: true, projectId: 2 });
      expect(entries[7]).toMatchObject({ projectId: null, success: false });

      await expectMatch({ username: 'au_bob' }, (e) => e.username === 'au_bob', 401);
      await expectMatch({ username: 'au_bo' }, () => false, 0);
      await expectMatch({ usernameLike: 'ob' }, (e) => e.username === 'au_bob', 401);
      await expectMatch({ usernameLike: 'au_' }, () => true, N);
      await expectMatch({ usernameLike: 'au%' }, () => false, 0);
      await expectMatch({ operation: 'delete' }, (_, i) => i % 3 !== 0 && i % 5 === 0, 160);
      await expectMatch({ resourceType: 'artifact' }, (_, i) => i % 2 === 1, 601);
      await expectMatch({ projectId: 0 }, (_, i) => i % 4 === 0, 301);
      await expectMatch({ projectId: 3 }, () => false, 0);
      // resource: literal substring (`_` is no wildcard), or exact
      await expectMatch({ resource: 'lib_a/' }, (_, i) => i % 10 === 7, 120);
      await expectMatch({ resource: 'a/app:' }, (_, i) => i % 10 === 7 || i % 10 === 8, 240);
      await expectMatch({ resource: 'repo:11' }, (e) => e.resource.includes('repo:11'), 89);
      await expectMatch({ resource: 'lib%' }, () => false, 0);
      await expectMatch({ resourceExact: 'libxa/app:18' }, (_, i) => i === 18, 1);
      await expectMatch({ resourceExact: 'libxa/app:1' }, () => false, 0);
      // range is inclusive on both ends
      await expectMatch({ from: base + 100_000, to: base + 199_000 }, (_, i) => i >= 200 && i <= 399, 200);
      await expectMatch({ from: base + 600_000 }, (_, i) => i >= 1200, 3);
      await expectMatch({ to: base }, (_, i) => i <= 1, 2);
      await expectMatch({ from: base + 5_500, to: base + 5_999 }, () => false, 0);
      // combined
      await expectMatch(
        { username: 'au_alice', operation: 'create', resourceType: 'repository', projectId: 2, from: base + 10_000, to: base + 300_000, resource: 'repo:' },
        (e, i) => i % 3 === 0 && i % 2 === 0 && i % 4 === 2 && i >= 20 && i <= 601 && e.resource.includes('repo:'),
        39,
      );

      // paging keeps the total, in both orders
      const pa = await Q({ order: 'asc', offset: 10, limit: 5 });
      expect([pa.total, index(pa)]).toEqual([N, [10, 11, 12, 13, 14]]);
      const pd = await Q({ offset: 10, limit: 5 });
      expect([pd.total, index(pd)]).toEqual([N, [1192, 1191, 1190, 1189, 1188]]);
      const pf = await Q({ username: 'au_carol', order: 'asc', offset: 2, limit: 3 });
      expect([pf.total, index(pf)]).toEqual([401, [8, 11, 14]]);
      expect(await Q({ offset: N, limit: 5 })).toEqual({ items: [], total: N });

      // purge: strictly older than the cut-off
      expect(await s.purgeAudit(base + 300_000)).toBe(600);
      expect(await s.purgeAudit(base + 300_000)).toBe(0);
      const left = await Q({ order: 'asc', limit: 2 });
      expect([left.total, index(left)]).toEqual([N - 600, [600, 601]]);
      expect(await s.purgeAudit(base + 10_000_000)).toBe(N - 600);
      expect((await Q()).total).toBe(0);
    });

    // ---------------------------------------------------------------- metadata: repositories

    it('metadata: uploadsOf, repositoriesLinking, deleteRepository', async () => {
      const a = await meta.ensureRepository('dr/a');
      const b = await meta.ensureRepository('dr/b');
      await meta.createUpload('dr-up-1', a.id);
      await meta.createUpload('dr-up-2', a.id);
      await meta.createUpload('dr-up-3', b.id);
      expect(sorted(await meta.uploadsOf(a.id))).toEqual(['dr-up-1', 'dr-up-2']);
      expect(await meta.uploadsOf(b.id)).toEqual(['dr-up-3']);
      expect(await meta.uploadsOf(999_999_999)).toEqual([]);

      const shared = d('dr-shared');
      await meta.commitBlob(a.id, shared, 42);
      await meta.commitBlob(b.id, shared, 42);
      const img = await pushImage('dr/a', 'x', { tag: 'v1' });
      await pushImage('dr/b', 'y', { tag: 'v1' });
      const c = await meta.ensureRepository('dr/c');
      expect(await meta.linkBlob(c.id, shared)).toBe(true);

      expect(sorted(await meta.repositoriesLinking(shared, 10))).toEqual(['dr/a', 'dr/b', 'dr/c']);
      const one = await meta.repositoriesLinking(shared, 2);
      expect(one.length).toBe(2);
      expect(new Set(one).size).toBe(2);
      for (const r of one) expect(['dr/a', 'dr/b', 'dr/c']).toContain(r);
      expect(await meta.repositoriesLinking(d('dr-unknown'), 10)).toEqual([]);

      expect(await meta.deleteRepository('dr/a')).toBe(true);
      expect(await meta.getRepository('dr/a')).toBeNull();
      expect(await meta.getManifestByDigest('dr/a', img)).toBeNull();
      expect(await meta.getManifestByTag('dr/a', 'v1')).toBeNull();
      expect(await meta.getUpload('dr-up-1')).toBeNull();
      expect(await meta.getUpload('dr-up-2')).toBeNull();
      expect(await meta.uploadsOf(a.id)).toEqual([]);
      expect(await meta.manifestReferences(a.id, img)).toEqual([]);
      expect(await meta.getBlob(shared)).toEqual({ size: 42 }); // blobs stay for GC
      expect(sorted(await meta.repositoriesLinking(shared, 10))).toEqual(['dr/b', 'dr/c']);
      // the others are untouched
      expect((await meta.getUpload('dr-up-3'))?.repository).toBe('dr/b');
      expect(await meta.getManifestByTag('dr/b', 'v1')).not.toBeNull();
      expect(await meta.deleteRepository('dr/a')).toBe(false);
      expect(await meta.deleteRepository('dr')).toBe(false);
      // the name can be reused, empty
      const again = await meta.ensureRepository('dr/a');
      expect(again.id).not.toBe(a.id);
      expect(await meta.listTags(again.id, 10)).toEqual([]);
      expect(await meta.listArtifacts(again.id, { offset: 0, limit: 10 })).toEqual({ items: [], total: 0 });
    });

    it('metadata: projectStorageUsed counts distinct blobs of the project only', async () => {
      const link = async (repo: string, label: string, size: number) => meta.commitBlob((await meta.ensureRepository(repo)).id, d(`ps|${label}`), size);
      await link('ps/app', 'b1', 100);
      await link('ps/app', 'b2', 200);
      await link('ps/web', 'b2', 200); // shared inside the project: counted once
      await link('ps/web', 'b3', 50);
      await link('ps2/app', 'b4', 1000); // `ps` is a prefix of `ps2`
      await link('ps2/app', 'b1', 100);
      await link('p_s/app', 'b5', 7); // `p_s` would match `pxs` as a LIKE pattern
      await link('pxs/app', 'b6', 11);
      await link('ps', 'b7', 5000); // no slash: no project
      await link('big.p/app', 'huge', 5 * 1024 ** 3 + 7);
      await link('big.p/app2', 'huge2', 3 * 1024 ** 3);

      expect(await meta.projectStorageUsed('ps')).toBe(350);
      expect(await meta.projectStorageUsed('ps2')).toBe(1100);
      expect(await meta.projectStorageUsed('p_s')).toBe(7);
      expect(await meta.projectStorageUsed('pxs')).toBe(11);
      expect(await meta.projectStorageUsed('p')).toBe(0);
      expect(await meta.projectStorageUsed('nothing-here')).toBe(0);
      expect(await meta.projectStorageUsed('big.p')).toBe(8 * 1024 ** 3 + 7);
      expect(await meta.projectStorageUsed('bigxp')).toBe(0);
      await meta.unlinkBlob((await meta.getRepository('ps/web'))!.id, d('ps|b3'));
      expect(await meta.projectStorageUsed('ps')).toBe(300);
    });

    // ---------------------------------------------------------------- metadata: artifacts and tags

    it('metadata: listArtifacts, getArtifact, tagDigest, tagsOf, createTag, deleteTagOf', async () => {
      const repo = 'art/r';
      const A = await pushImage(repo, 'A', { tag: 'a', artifactType: 'application/x.a', annotations: { 'org.opencontainers.image.title': 'A' } });
      await tick();
      const B = await pushImage(repo, 'B');
      await tick();
      const C = await pushImage(repo, 'C');
      await tick();
      const D = await pushImage(repo, 'D');
      await tick();
      const I = await pushIndex(repo, 'I', [C, D], 'multi');
      await tick();
      const S1 = await pushImage(repo, 'S1', { subject: A, artifactType: 'application/x.sig' });
      await tick();
      const T = await pushImage(repo, 'T', { subject: B, tag: 'tagged-sig' }); // tagged referrer: listed
      const r = (await meta.getRepository(repo))!;
      const other = await meta.ensureRepository('art/other');

      const list = await meta.listArtifacts(r.id, { offset: 0, limit: 100 });
      expect(list.total).toBe(4);
      expect(list.items.map((x) => x.digest)).toEqual([T, I, B, A]);
      const [, idx, , a] = list.items;
      const aContent = (await meta.getManifestByDigest(repo, A))!.content;
      expect(a).toEqual({ digest: A, mediaType: IMAGE, size: aContent.length, content: aContent, subjectDigest: null, artifactType: 'application/x.a', annotations: { 'org.opencontainers.image.title': 'A' }, createdAt: a.createdAt });
      expect(idx).toMatchObject({ digest: I, mediaType: INDEX, subjectDigest: null, artifactType: null, annotations: { 'org.example.index': 'I' } });
      expect(list.items[0].createdAt).toBeGreaterThan(idx.createdAt);
      expect(idx.createdAt).toBeGreaterThan(a.createdAt);
      const page = await meta.listArtifacts(r.id, { offset: 1, limit: 2 });
      expect([page.total, page.items.map((x) => x.digest)]).toEqual([4, [I, B]]);
      expect(await meta.listArtifacts(other.id, { offset: 0, limit: 10 })).toEqual({ items: [], total: 0 });
      // a tagged index child is listed
      expect(await meta.createTag(r.id, 'child', C)).toBe('created');
      expect((await meta.listArtifacts(r.id, { offset: 0, limit: 100 })).items.map((x) => x.digest)).toEqual([T, I, C, B, A]);

      expect(await meta.getArtifact(r.id, A)).toEqual(a);
      const s1 = (await meta.getArtifact(r.id, S1))!;
      expect(s1).toMatchObject({ digest: S1, subjectDigest: A, artifactType: 'application/x.sig', annotations: null, mediaType: IMAGE });
      expect(await meta.getArtifact(r.id, d('nope'))).toBeNull();
      expect(await meta.getArtifact(other.id, A)).toBeNull();

      expect(await meta.tagDigest(r.id, 'a')).toBe(A);
      expect(await meta.tagDigest(r.id, 'multi')).toBe(I);
      expect(await meta.tagDigest(r.id, 'A')).toBeNull();
      expect(await meta.tagDigest(other.id, 'a')).toBeNull();

      // createTag: created / exists (on any manifest) / no-manifest
      expect(await meta.createTag(r.id, 'Z-upper', A)).toBe('created');
      expect(await meta.createTag(r.id, 'Z-upper', A)).toBe('exists');
      expect(await meta.createTag(r.id, 'Z-upper', B)).toBe('exists');
      expect(await meta.tagDigest(r.id, 'Z-upper')).toBe(A);
      expect(await meta.createTag(r.id, 'ghost', d('no-such-manifest'))).toBe('no-manifest');
      expect(await meta.createTag(other.id, 'a', A)).toBe('no-manifest');
      expect(await meta.tagDigest(r.id, 'ghost')).toBeNull();

      const tags = await meta.tagsOf(r.id, [A, I, A, d('nope')]);
      expect(tags.map((t) => [t.name, t.digest])).toEqual([
        ['Z-upper', A],
        ['a', A],
        ['multi', I],
      ]);
      for (const t of tags) {
        expect(t.createdAt).toBeGreaterThan(1_600_000_000_000);
        expect(t.updatedAt).toBe(t.createdAt);
      }
      // more digests than one query chunk
      const many = [...Array.from({ length: 1100 }, (_, i) => d(`filler-${i}`)), T, C];
      expect((await meta.tagsOf(r.id, many)).map((t) => [t.name, t.digest])).toEqual([
        ['child', C],
        ['tagged-sig', T],
      ]);
      expect(await meta.tagsOf(r.id, [])).toEqual([]);
      expect(await meta.tagsOf(other.id, [A])).toEqual([]);

      // deleteTagOf only removes the tag when it points at the digest
      expect(await meta.deleteTagOf(r.id, 'Z-upper', B)).toBe(false);
      expect(await meta.tagDigest(r.id, 'Z-upper')).toBe(A);
      expect(await meta.deleteTagOf(other.id, 'Z-upper', A)).toBe(false);
      expect(await meta.deleteTagOf(r.id, 'Z-upper', A)).toBe(true);
      expect(await meta.deleteTagOf(r.id, 'Z-upper', A)).toBe(false);
      expect(await meta.tagDigest(r.id, 'Z-upper')).toBeNull();
      expect((await meta.tagsOf(r.id, [A])).map((t) => t.name)).toEqual(['a']);
      expect(await meta.getArtifact(r.id, A)).not.toBeNull(); // the manifest stays
    });

    it('metadata: deleteArtifact removes untagged unshared children and referrers, refuses index children', async () => {
      const repo = 'del/r';
      const A = await pushImage(repo, 'A', { tag: 'a' });
      const S1 = await pushImage(repo, 'S1', { subject: A });
      const S1b = await pushImage(repo, 'S1b', { subject: S1 }); // signature of the signature
      const C = await pushImage(repo, 'C');
      const D = await pushImage(repo, 'D');
      const E = await pushImage(repo, 'E');
      const I = await pushIndex(repo, 'I', [C, D], 'multi');
      const J = await pushIndex(repo, 'J', [D, E]);
      const S2 = await pushImage(repo, 'S2', { subject: I });
      const S3 = await pushImage(repo, 'S3', { subject: D });
      await tick();
      const K = await pushImage(repo, 'K', { tag: 'k' });
      const r = (await meta.getRepository(repo))!;
      expect(await meta.createTag(r.id, 'keep-c', C)).toBe('created');
      const layerA = d(`${repo}|layer|A`);
      // the same manifest A, tagged, in another repository
      const other = await meta.ensureRepository('del/other');
      const aRefs = await meta.manifestReferences(r.id, A);
      for (const ref of aRefs) await meta.commitBlob(other.id, ref.digest, ref.size);
      const aContent = (await meta.getManifestByDigest(repo, A))!.content;
      await meta.putManifest({ repository: 'del/other', digest: A, mediaType: IMAGE, artifactType: null, subjectDigest: null, annotations: null, content: aContent, refs: aRefs, tag: 'a' });

      expect(await meta.deleteArtifact(r.id, d('nothing'))).toEqual({ result: 'not-found', deleted: [] });
      expect(await meta.deleteArtifact(r.id, C)).toEqual({ result: 'referenced', deleted: [] });
      expect(await meta.deleteArtifact(r.id, D)).toEqual({ result: 'referenced', deleted: [] });
      expect(await meta.getArtifact(r.id, C)).not.toBeNull();

      // I: C is tagged and D is also J's child, so only I and its referrer go
      const di = await meta.deleteArtifact(r.id, I);
      expect([di.result, sorted(di.deleted)]).toEqual(['deleted', sorted([I, S2])]);
      expect(await meta.getArtifact(r.id, I)).toBeNull();
      expect(await meta.getArtifact(r.id, S2)).toBeNull();
      expect(await meta.tagDigest(r.id, 'multi')).toBeNull();
      expect(await meta.manifestReferences(r.id, I)).toEqual([]);
      expect(await meta.getArtifact(r.id, C)).not.toBeNull();
      expect(await meta.getArtifact(r.id, D)).not.toBeNull();
      expect(await meta.tagDigest(r.id, 'keep-c')).toBe(C);
      expect(await meta.deleteArtifact(r.id, I)).toEqual({ result: 'not-found', deleted: [] });

      // J: now D and E are only J's, and S3 refers to D
      const dj = await meta.deleteArtifact(r.id, J);
      expect([dj.result, sorted(dj.deleted)]).toEqual(['deleted', sorted([J, D, E, S3])]);
      for (const x of [J, D, E, S3]) expect(await meta.getArtifact(r.id, x)).toBeNull();

      // A: its referrer and the referrer's referrer, and its tag
      const da = await meta.deleteArtifact(r.id, A);
      expect([da.result, sorted(da.deleted)]).toEqual(['deleted', sorted([A, S1, S1b])]);
      expect(await meta.tagDigest(r.id, 'a')).toBeNull();
      expect(await meta.listReferrers(r.id, A)).toEqual([]);
      // blobs stay linked (garbage collection removes them)
      expect(await meta.getLinkedBlob(repo, layerA)).toEqual({ size: 10 });

      const left = await meta.listArtifacts(r.id, { offset: 0, limit: 100 });
      expect([left.total, left.items.map((x) => x.digest)]).toEqual([2, [K, C]]);
      expect((await s.getRepositorySummary(repo))?.artifactCount).toBe(2);
      // the copy of A in the other repository is untouched
      expect((await meta.getArtifact(other.id, A))?.digest).toBe(A);
      expect(await meta.tagDigest(other.id, 'a')).toBe(A);
      expect(await meta.deleteArtifact(other.id, S1)).toEqual({ result: 'not-found', deleted: [] });
    });
  });
}
