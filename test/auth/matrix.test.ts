// The permission matrix of issue 3, over real HTTP against a running Wharf.
//
// Every principal (anonymous, the system admin, a user per Harbor role, a logged-in non-member,
// project robots, personal access tokens, bearer tokens from /service/token) tries every cell
// (each /v2 action and each management-API resource) in a private and in a public project. What
// each cell should allow is computed here, independently of the server: every cell is mapped to
// the (resource, action) Harbor checks for that API (artifact delete -> artifact:delete, tag create
// -> tag:create, /v2 manifest DELETE -> repository:delete, blob upload -> repository:push, …) and
// the role facts come from src/rbac/permissions.ts (Harbor's rbac_role.go as a table). Robots get
// what they were granted plus, as in Harbor, what everyone may do in a public project (pull, list,
// read); personal access tokens get their user's permissions ∩ scopes;
// system endpoints (users, audit logs, system robots) are admin-only; /systeminfo is open.
//
// Denials: no credentials -> 401; credentials without the permission -> 403 (/v2: DENIED; API:
// FORBIDDEN); a bearer token whose access lacks the action -> 401 with error="insufficient_scope".
// A cross-repository mount that is not permitted may instead fall back to a plain upload session
// (202) when the caller may push to the target: what matters is that nothing gets mounted.
// Destructive cells act on objects made (by the admin) just for that cell and principal, and check
// the side effect (deleted when allowed, still there when denied).
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decide, type Action, type Principal as Model, type ProjectContext, type Resource, type Role } from '../../src/rbac/permissions.ts';
import { startWharf, type RunningRegistry } from '../helpers/servers.ts';
import {
  ADMIN_PASSWORD,
  API,
  Admin,
  Http,
  MT_MANIFEST,
  authHeader,
  NONE,
  basic,
  bearer,
  captureOutput,
  createPat,
  describeResp,
  errorCode,
  getToken,
  must,
  newPassword,
  pool,
  pushBlob,
  referrerManifest,
  robotBody,
  sha256,
  tinyImage,
  token,
  tokenAccess,
  type Auth,
  type Resp,
  type TinyImage,
} from './lib.ts';

// ---------------------------------------------------------------------------------------------
// Principals (an independent model of who they are)

type UserKey = 'pa' | 'maint' | 'dev' | 'guest' | 'lguest' | 'nonmem';
type RobotKey = 'robotPull' | 'robotPush';

/** the role each user holds in the matrix project (Harbor's role ids) */
const USERS: Record<UserKey, { username: string; role: Role | null; roleId: number | null }> = {
  pa: { username: 'alice-projadmin', role: 'projectAdmin', roleId: 1 },
  maint: { username: 'mike-maintainer', role: 'maintainer', roleId: 4 },
  dev: { username: 'dora-developer', role: 'developer', roleId: 2 },
  guest: { username: 'gus-guest', role: 'guest', roleId: 3 },
  lguest: { username: 'lily-limitedguest', role: 'limitedGuest', roleId: 5 },
  nonmem: { username: 'nora-nonmember', role: null, roleId: null },
};

const ROBOTS: Record<RobotKey, { short: string; access: { resource: Resource; action: Action }[] }> = {
  robotPull: { short: 'puller', access: [{ resource: 'repository', action: 'pull' }] },
  robotPush: {
    short: 'pusher',
    access: [
      { resource: 'repository', action: 'pull' },
      { resource: 'repository', action: 'push' },
    ],
  },
};

type Identity = { kind: 'anonymous' } | { kind: 'admin' } | { kind: 'user'; key: UserKey } | { kind: 'robot'; key: RobotKey };

interface PrincipalDef {
  label: string;
  identity: Identity;
  /** how the credentials travel */
  transport: 'none' | 'basic' | 'bearer';
  /** a personal access token of the (user) identity with these scopes, used as the Basic password */
  pat?: { scopes: string[] };
}

const PRINCIPALS: PrincipalDef[] = [
  { label: 'anon', identity: { kind: 'anonymous' }, transport: 'none' },
  { label: 'admin', identity: { kind: 'admin' }, transport: 'basic' },
  { label: 'projadm', identity: { kind: 'user', key: 'pa' }, transport: 'basic' },
  { label: 'maint', identity: { kind: 'user', key: 'maint' }, transport: 'basic' },
  { label: 'dev', identity: { kind: 'user', key: 'dev' }, transport: 'basic' },
  { label: 'guest', identity: { kind: 'user', key: 'guest' }, transport: 'basic' },
  { label: 'lguest', identity: { kind: 'user', key: 'lguest' }, transport: 'basic' },
  { label: 'nonmem', identity: { kind: 'user', key: 'nonmem' }, transport: 'basic' },
  { label: 'rb-pull', identity: { kind: 'robot', key: 'robotPull' }, transport: 'basic' },
  { label: 'rb-push', identity: { kind: 'robot', key: 'robotPush' }, transport: 'basic' },
  { label: 'pat-d:p', identity: { kind: 'user', key: 'dev' }, transport: 'basic', pat: { scopes: ['pull'] } },
  { label: 'pat-d:pp', identity: { kind: 'user', key: 'dev' }, transport: 'basic', pat: { scopes: ['pull', 'push'] } },
  { label: 'pat-d:pr', identity: { kind: 'user', key: 'dev' }, transport: 'basic', pat: { scopes: ['pull', 'api:read'] } },
  { label: 'pat-a:pp', identity: { kind: 'user', key: 'pa' }, transport: 'basic', pat: { scopes: ['pull', 'push'] } },
  { label: 'tok-dev', identity: { kind: 'user', key: 'dev' }, transport: 'bearer' },
  { label: 'tok-mnt', identity: { kind: 'user', key: 'maint' }, transport: 'bearer' },
  { label: 'tok-anon', identity: { kind: 'anonymous' }, transport: 'bearer' },
];

// ---------------------------------------------------------------------------------------------
// Cells

/** M: the matrix project; X: a fresh project made for one cell, same visibility and roles as M;
 * Q1: another private project with no members; Q2: another public project with no members. */
type ProjectKey = 'M' | 'X' | 'Q1' | 'Q2';
type Req = { project: ProjectKey; resource: Resource; action: Action };
type Need =
  | { kind: 'perm'; all: Req[] }
  | { kind: 'authenticated' }
  | { kind: 'anyone' }
  | { kind: 'sysadmin' }
  /** a logged-in human user (not a robot) */
  | { kind: 'human' };

const perm = (resource: Resource, action: Action, project: ProjectKey = 'M'): Need => ({ kind: 'perm', all: [{ project, resource, action }] });

interface Ctx {
  h: Http;
  admin: Admin;
  /** matrix project name / id / visibility */
  M: string;
  Mid: number;
  /** how API paths name the project: its name, or its id */
  ref: string;
  pub: boolean;
  Q1: string;
  Q2: string;
  base: TinyImage;
  guestMemberId: number;
  n(): number;
  users: Record<UserKey, { password: string; id: number }>;
  robots: Record<RobotKey, { name: string; secret: string; id: number }>;
  pats: Map<string, string>;
  secrets: Set<string>;
  tokensSeen: string[];
}

interface Cell {
  id: string;
  api: boolean;
  method: string;
  need: Need;
  /** scopes a bearer principal asks /service/token for */
  tokenScopes?: (c: Ctx) => string[];
  /** API cells on image content: the registry scope a personal access token also needs (besides api:*) */
  patScope?: 'pull' | 'push' | 'delete';
  /** admin-side preparation, fresh for each principal */
  prepare?: (c: Ctx, p: PrincipalDef) => Promise<any>;
  run: (c: Ctx, auth: Auth, st: any) => Promise<Resp>;
  /** after the response: a problem, or null */
  check?: (c: Ctx, r: Resp, allowed: boolean, st: any, p: PrincipalDef) => Promise<string | null>;
  /** denial statuses accepted besides the standard one (decided per cell) */
  altDeny?: (c: Ctx, p: PrincipalDef) => number[];
  /** principals must run one after the other (shared state) */
  serial?: boolean;
  /** a /projects/{p}/… API cell: the project in the path (see the 404 rule in runCell) */
  project?: ProjectKey;
}

const repoScope = (repo: string, actions = 'pull,push,delete') => `repository:${repo}:${actions}`;
const appScope = (c: Ctx) => [repoScope(`${c.M}/app`)];

async function blobIn(c: Ctx, repo: string, digest: string): Promise<boolean> {
  const r = await c.h.req('HEAD', `/v2/${repo}/blobs/${digest}`, { auth: c.admin.auth });
  if (r.status !== 200 && r.status !== 404) throw new Error(`admin ${describeResp(r)}`);
  return r.status === 200;
}

async function exists(c: Ctx, p: string, method = 'GET'): Promise<boolean> {
  const r = await c.admin.req(method, p);
  if (r.status !== 200 && r.status !== 404) throw new Error(`admin ${describeResp(r)}`);
  return r.status === 200;
}

/** "still there when denied, gone when allowed" */
async function sideEffect(allowed: boolean, stillThere: () => Promise<boolean>, what: string): Promise<string | null> {
  const there = await stillThere();
  if (allowed && there) return `${what} still exists after an allowed delete`;
  if (!allowed && !there) return `${what} is gone after a denied delete`;
  return null;
}

async function ensureMeta(c: Ctx, present: boolean): Promise<void> {
  const p = `${API}/projects/${c.ref}/metadatas`;
  const cur = await c.admin.req('GET', `${p}/auto_scan`);
  const has = cur.status === 200 && cur.json()?.auto_scan !== undefined;
  if (present && !has) must(await c.admin.req('POST', `${p}/`, { json: { auto_scan: 'true' } }), 200, 201);
  if (!present && has) must(await c.admin.req('DELETE', `${p}/auto_scan`), 200);
}

const manifestAccept = { Accept: MT_MANIFEST };

function v2Cells(): Cell[] {
  const app = (c: Ctx) => `${c.M}/app`;
  const pushDeny = (c: Ctx, p: PrincipalDef) => (allowedFor(p, perm('repository', 'push'), c, false, 'POST') ? [202] : []);
  const mount = (src: 'Q1' | 'Q2'): Cell => ({
    id: `v2 mount from ${src === 'Q1' ? 'private' : 'public'} other project`,
    api: false,
    method: 'POST',
    need: {
      kind: 'perm',
      all: [
        { project: 'M', resource: 'repository', action: 'push' },
        { project: src, resource: 'repository', action: 'pull' },
      ],
    },
    prepare: async (c) => {
      const repo = `${c[src]}/src-${c.n()}`;
      const blob = tinyImage(`mount-${c.n()}`).layer;
      must(await pushBlob(c.h, c.admin.auth, repo, blob), 201);
      return { repo, digest: sha256(blob) };
    },
    tokenScopes: (c) => appScope(c), // extended per run below
    run: (c, auth, st) => c.h.req('POST', `/v2/${app(c)}/blobs/uploads/?mount=${st.digest}&from=${st.repo}`, { auth }),
    check: async (c, r, allowed, st) => {
      const there = await blobIn(c, app(c), st.digest);
      if (allowed && r.status !== 201) return `allowed mount answered ${r.status}, not 201`;
      if (allowed && !there) return 'allowed mount: blob not in the target repository';
      if (!allowed && there) return 'denied mount: the blob was mounted anyway';
      return null;
    },
    altDeny: pushDeny,
  });
  return [
    {
      id: 'v2 GET /v2/',
      api: false,
      method: 'GET',
      need: { kind: 'authenticated' },
      tokenScopes: () => [],
      run: (c, auth) => c.h.req('GET', '/v2/', { auth }),
    },
    {
      id: 'v2 GET catalog',
      api: false,
      method: 'GET',
      need: { kind: 'authenticated' },
      tokenScopes: () => ['registry:catalog:*'],
      run: (c, auth) => c.h.req('GET', '/v2/_catalog?n=100000', { auth }),
      check: async (c, r, allowed, _st, p) => {
        if (!allowed) return null;
        const repos: string[] = r.json().repositories ?? [];
        const problems: string[] = [];
        for (const [proj, repo] of [
          ['M', `${c.M}/app`],
          ['Q1', `${c.Q1}/seed`],
          ['Q2', `${c.Q2}/seed`],
        ] as const) {
          const want = allowedFor(p, perm('repository', 'pull', proj), c, false, 'GET');
          if (repos.includes(repo) !== want) problems.push(`${repo} ${want ? 'missing' : 'listed'}`);
        }
        return problems.length ? `catalog: ${problems.join(', ')}` : null;
      },
    },
    {
      id: 'v2 GET tags/list',
      api: false,
      method: 'GET',
      need: perm('repository', 'pull'),
      tokenScopes: appScope,
      run: (c, auth) => c.h.req('GET', `/v2/${app(c)}/tags/list`, { auth }),
    },
    {
      id: 'v2 GET manifest',
      api: false,
      method: 'GET',
      need: perm('repository', 'pull'),
      tokenScopes: appScope,
      run: (c, auth) => c.h.req('GET', `/v2/${app(c)}/manifests/latest`, { auth, headers: manifestAccept }),
    },
    {
      id: 'v2 HEAD manifest',
      api: false,
      method: 'HEAD',
      need: perm('repository', 'pull'),
      tokenScopes: appScope,
      run: (c, auth) => c.h.req('HEAD', `/v2/${app(c)}/manifests/latest`, { auth, headers: manifestAccept }),
    },
    {
      id: 'v2 PUT manifest',
      api: false,
      method: 'PUT',
      need: perm('repository', 'push'),
      tokenScopes: appScope,
      prepare: async (c) => {
        const img = tinyImage(`put-${c.n()}`);
        must(await pushBlob(c.h, c.admin.auth, app(c), img.config), 201);
        must(await pushBlob(c.h, c.admin.auth, app(c), img.layer), 201);
        return { img, tag: `put-${c.n()}` };
      },
      run: (c, auth, st) =>
        c.h.req('PUT', `/v2/${app(c)}/manifests/${st.tag}`, { auth, body: st.img.manifest, headers: { 'Content-Type': MT_MANIFEST } }),
      check: async (c, _r, allowed, st) => {
        const there = await exists(c, `/v2/${app(c)}/manifests/${st.tag}`, 'HEAD');
        return there === allowed ? null : `tag ${st.tag} ${there ? 'exists after a denied' : 'missing after an allowed'} PUT`;
      },
    },
    {
      id: 'v2 DELETE manifest',
      api: false,
      method: 'DELETE',
      need: perm('repository', 'delete'),
      tokenScopes: appScope,
      prepare: async (c) => {
        const img = tinyImage(`mdel-${c.n()}`);
        await c.admin.pushImage(app(c), `mdel-${c.n()}`, img);
        return { img };
      },
      run: (c, auth, st) => c.h.req('DELETE', `/v2/${app(c)}/manifests/${st.img.digest}`, { auth }),
      check: (c, _r, allowed, st) => sideEffect(allowed, () => exists(c, `/v2/${app(c)}/manifests/${st.img.digest}`, 'HEAD'), 'manifest'),
    },
    {
      id: 'v2 GET blob',
      api: false,
      method: 'GET',
      need: perm('repository', 'pull'),
      tokenScopes: appScope,
      run: (c, auth) => c.h.req('GET', `/v2/${app(c)}/blobs/${c.base.layerDigest}`, { auth }),
    },
    {
      id: 'v2 HEAD blob',
      api: false,
      method: 'HEAD',
      need: perm('repository', 'pull'),
      tokenScopes: appScope,
      run: (c, auth) => c.h.req('HEAD', `/v2/${app(c)}/blobs/${c.base.layerDigest}`, { auth }),
    },
    {
      id: 'v2 DELETE blob',
      api: false,
      method: 'DELETE',
      need: perm('repository', 'delete'),
      tokenScopes: appScope,
      prepare: async (c) => {
        const blob = tinyImage(`bdel-${c.n()}`).layer;
        must(await pushBlob(c.h, c.admin.auth, app(c), blob), 201);
        return { digest: sha256(blob) };
      },
      run: (c, auth, st) => c.h.req('DELETE', `/v2/${app(c)}/blobs/${st.digest}`, { auth }),
      check: (c, _r, allowed, st) => sideEffect(allowed, () => blobIn(c, app(c), st.digest), 'blob'),
    },
    {
      id: 'v2 POST upload (start)',
      api: false,
      method: 'POST',
      need: perm('repository', 'push'),
      tokenScopes: appScope,
      run: (c, auth) => c.h.req('POST', `/v2/${app(c)}/blobs/uploads/`, { auth }),
    },
    {
      id: 'v2 POST upload (monolithic)',
      api: false,
      method: 'POST',
      need: perm('repository', 'push'),
      tokenScopes: appScope,
      prepare: async (c) => ({ blob: tinyImage(`mono-${c.n()}`).layer }),
      run: (c, auth, st) =>
        c.h.req('POST', `/v2/${app(c)}/blobs/uploads/?digest=${sha256(st.blob)}`, {
          auth,
          body: st.blob,
          headers: { 'Content-Type': 'application/octet-stream' },
        }),
      check: async (c, _r, allowed, st) => {
        const there = await blobIn(c, app(c), sha256(st.blob));
        return there === allowed ? null : `blob ${there ? 'stored after a denied' : 'missing after an allowed'} upload`;
      },
    },
    {
      id: 'v2 PATCH upload',
      api: false,
      method: 'PATCH',
      need: perm('repository', 'push'),
      tokenScopes: appScope,
      prepare: async (c) => {
        const r = must(await c.h.req('POST', `/v2/${app(c)}/blobs/uploads/`, { auth: c.admin.auth }), 202);
        return { loc: relative(r.headers.get('location')!), blob: tinyImage(`patch-${c.n()}`).layer };
      },
      run: (c, auth, st) =>
        c.h.req('PATCH', st.loc, {
          auth,
          body: st.blob,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${st.blob.length - 1}` },
        }),
    },
    {
      id: 'v2 PUT upload (finish)',
      api: false,
      method: 'PUT',
      need: perm('repository', 'push'),
      tokenScopes: appScope,
      prepare: async (c) => {
        const r = must(await c.h.req('POST', `/v2/${app(c)}/blobs/uploads/`, { auth: c.admin.auth }), 202);
        return { loc: relative(r.headers.get('location')!), blob: tinyImage(`fin-${c.n()}`).layer };
      },
      run: (c, auth, st) =>
        c.h.req('PUT', `${st.loc}${st.loc.includes('?') ? '&' : '?'}digest=${sha256(st.blob)}`, {
          auth,
          body: st.blob,
          headers: { 'Content-Type': 'application/octet-stream' },
        }),
      check: async (c, _r, allowed, st) => {
        const there = await blobIn(c, app(c), sha256(st.blob));
        return there === allowed ? null : `blob ${there ? 'stored after a denied' : 'missing after an allowed'} upload`;
      },
    },
    mount('Q2'),
    mount('Q1'),
    {
      id: 'v2 GET referrers',
      api: false,
      method: 'GET',
      need: perm('repository', 'pull'),
      tokenScopes: appScope,
      run: (c, auth) => c.h.req('GET', `/v2/${app(c)}/referrers/${c.base.digest}`, { auth }),
      check: async (_c, r, allowed) => {
        if (!allowed) return null;
        return (r.json().manifests ?? []).length === 1 ? null : `referrers: expected 1 manifest, got ${r.text.slice(0, 200)}`;
      },
    },
  ];
}

function apiCells(): Cell[] {
  const proj = (c: Ctx) => `${API}/projects/${c.ref}`;
  const repo = (c: Ctx) => `${proj(c)}/repositories/app`;
  const freshMember = async (c: Ctx) => {
    const username = `fresh-${c.M}-${c.n()}`;
    const password = newPassword();
    c.secrets.add(password);
    await c.admin.createUser(username, password);
    const mid = await c.admin.addMember(c.M, username, 3);
    return { username, mid };
  };
  return [
    {
      id: 'api GET project',
      api: true,
      project: 'M',
      method: 'GET',
      need: perm('project', 'read'),
      run: (c, auth) => c.h.req('GET', proj(c), { auth }),
    },
    {
      id: 'api PUT project',
      api: true,
      project: 'M',
      method: 'PUT',
      need: perm('project', 'update'),
      run: (c, auth) => c.h.req('PUT', proj(c), { auth, json: { metadata: { public: String(c.pub) } } }),
    },
    {
      id: 'api DELETE project',
      api: true,
      project: 'X',
      method: 'DELETE',
      need: perm('project', 'delete', 'X'),
      prepare: async (c, p) => {
        const name = `x-${c.pub ? 'pub' : 'priv'}-${c.n()}`;
        await c.admin.createProject(name, c.pub);
        if (p.identity.kind === 'user') {
          const u = USERS[p.identity.key];
          if (u.roleId !== null) await c.admin.addMember(name, u.username, u.roleId);
        }
        return { name };
      },
      run: (c, auth, st) => c.h.req('DELETE', `${API}/projects/${st.name}`, { auth }),
      check: (c, _r, allowed, st) => sideEffect(allowed, () => exists(c, `${API}/projects/${st.name}`), 'project'),
    },
    {
      id: 'api GET project summary',
      api: true,
      project: 'M',
      method: 'GET',
      need: perm('project', 'read'),
      run: (c, auth) => c.h.req('GET', `${proj(c)}/summary`, { auth }),
    },
    {
      id: 'api GET metadatas (list)',
      api: true,
      project: 'M',
      method: 'GET',
      // Harbor's ListProjectMetadatas checks metadata:list, which no project role holds
      need: perm('metadata', 'list'),
      run: (c, auth) => c.h.req('GET', `${proj(c)}/metadatas/`, { auth }),
    },
    {
      id: 'api GET metadata',
      api: true,
      project: 'M',
      method: 'GET',
      need: perm('metadata', 'read'),
      serial: true,
      prepare: (c) => ensureMeta(c, true),
      run: (c, auth) => c.h.req('GET', `${proj(c)}/metadatas/auto_scan`, { auth }),
    },
    {
      id: 'api POST metadatas',
      api: true,
      project: 'M',
      method: 'POST',
      need: perm('metadata', 'create'),
      serial: true,
      prepare: (c) => ensureMeta(c, false),
      run: (c, auth) => c.h.req('POST', `${proj(c)}/metadatas/`, { auth, json: { auto_scan: 'true' } }),
    },
    {
      id: 'api PUT metadata',
      api: true,
      project: 'M',
      method: 'PUT',
      need: perm('metadata', 'update'),
      serial: true,
      prepare: (c) => ensureMeta(c, true),
      run: (c, auth) => c.h.req('PUT', `${proj(c)}/metadatas/auto_scan`, { auth, json: { auto_scan: 'false' } }),
    },
    {
      id: 'api DELETE metadata',
      api: true,
      project: 'M',
      method: 'DELETE',
      need: perm('metadata', 'delete'),
      serial: true,
      prepare: (c) => ensureMeta(c, true),
      run: (c, auth) => c.h.req('DELETE', `${proj(c)}/metadatas/auto_scan`, { auth }),
      check: (c, _r, allowed) =>
        sideEffect(
          allowed,
          async () => {
            const r = await c.admin.req('GET', `${proj(c)}/metadatas/auto_scan`);
            return r.status === 200 && r.json()?.auto_scan !== undefined;
          },
          'metadata auto_scan',
        ),
    },
    {
      id: 'api GET members',
      api: true,
      project: 'M',
      method: 'GET',
      need: perm('member', 'list'),
      run: (c, auth) => c.h.req('GET', `${proj(c)}/members`, { auth }),
    },
    {
      id: 'api GET member',
      api: true,
      project: 'M',
      method: 'GET',
      need: perm('member', 'read'),
      run: (c, auth) => c.h.req('GET', `${proj(c)}/members/${c.guestMemberId}`, { auth }),
    },
    {
      id: 'api POST member',
      api: true,
      project: 'M',
      method: 'POST',
      need: perm('member', 'create'),
      prepare: async (c) => {
        const username = `newmem-${c.M}-${c.n()}`;
        const password = newPassword();
        c.secrets.add(password);
        await c.admin.createUser(username, password);
        return { username };
      },
      run: (c, auth, st) => c.h.req('POST', `${proj(c)}/members`, { auth, json: { role_id: 3, member_user: { username: st.username } } }),
    },
    {
      id: 'api PUT member',
      api: true,
      project: 'M',
      method: 'PUT',
      need: perm('member', 'update'),
      prepare: freshMember,
      run: (c, auth, st) => c.h.req('PUT', `${proj(c)}/members/${st.mid}`, { auth, json: { role_id: 2 } }),
      check: async (c, _r, allowed, st) => {
        const m = must(await c.admin.req('GET', `${proj(c)}/members/${st.mid}`), 200).json();
        const want = allowed ? 2 : 3;
        return m.role_id === want ? null : `member role is ${m.role_id}, expected ${want}`;
      },
    },
    {
      id: 'api DELETE member',
      api: true,
      project: 'M',
      method: 'DELETE',
      need: perm('member', 'delete'),
      prepare: freshMember,
      run: (c, auth, st) => c.h.req('DELETE', `${proj(c)}/members/${st.mid}`, { auth }),
      check: (c, _r, allowed, st) => sideEffect(allowed, () => exists(c, `${proj(c)}/members/${st.mid}`), 'member'),
    },
    {
      id: 'api GET project robots',
      api: true,
      method: 'GET',
      need: perm('robot', 'list'),
      run: (c, auth) => c.h.req('GET', `${API}/robots?q=${encodeURIComponent(`Level=project,ProjectID=${c.Mid}`)}`, { auth }),
    },
    {
      id: 'api POST project robot',
      api: true,
      method: 'POST',
      need: perm('robot', 'create'),
      run: (c, auth) =>
        c.h.req('POST', `${API}/robots`, { auth, json: robotBody(c.M, `made-${c.n()}`, [{ resource: 'repository', action: 'pull' }]) }),
      check: async (c, r, allowed) => {
        if (allowed && typeof r.json().secret === 'string') c.secrets.add(r.json().secret);
        return null;
      },
    },
    {
      id: 'api GET repositories',
      api: true,
      project: 'M',
      method: 'GET',
      need: perm('repository', 'list'),
      run: (c, auth) => c.h.req('GET', `${proj(c)}/repositories`, { auth }),
    },
    {
      id: 'api GET repository',
      api: true,
      project: 'M',
      method: 'GET',
      need: perm('repository', 'read'),
      run: (c, auth) => c.h.req('GET', repo(c), { auth }),
    },
    {
      id: 'api DELETE repository',
      api: true,
      patScope: 'delete',
      project: 'M',
      method: 'DELETE',
      need: perm('repository', 'delete'),
      prepare: async (c) => {
        const name = `rdel-${c.n()}`;
        await c.admin.pushImage(`${c.M}/${name}`, 'v1', tinyImage(`rdel-${c.n()}`));
        return { name };
      },
      run: (c, auth, st) => c.h.req('DELETE', `${proj(c)}/repositories/${st.name}`, { auth }),
      check: (c, _r, allowed, st) => sideEffect(allowed, () => exists(c, `${proj(c)}/repositories/${st.name}`), 'repository'),
    },
    {
      id: 'api GET artifacts',
      api: true,
      patScope: 'pull',
      project: 'M',
      method: 'GET',
      need: perm('artifact', 'list'),
      run: (c, auth) => c.h.req('GET', `${repo(c)}/artifacts`, { auth }),
    },
    {
      id: 'api GET artifact',
      api: true,
      patScope: 'pull',
      project: 'M',
      method: 'GET',
      need: perm('artifact', 'read'),
      run: (c, auth) => c.h.req('GET', `${repo(c)}/artifacts/${c.base.digest}`, { auth }),
    },
    {
      id: 'api DELETE artifact',
      api: true,
      patScope: 'delete',
      project: 'M',
      method: 'DELETE',
      need: perm('artifact', 'delete'),
      prepare: async (c) => {
        const img = tinyImage(`adel-${c.n()}`);
        await c.admin.pushImage(`${c.M}/app`, `adel-${c.n()}`, img);
        return { img };
      },
      run: (c, auth, st) => c.h.req('DELETE', `${repo(c)}/artifacts/${st.img.digest}`, { auth }),
      check: (c, _r, allowed, st) => sideEffect(allowed, () => exists(c, `${repo(c)}/artifacts/${st.img.digest}`), 'artifact'),
    },
    {
      id: 'api GET artifact tags',
      api: true,
      patScope: 'pull',
      project: 'M',
      method: 'GET',
      need: perm('tag', 'list'),
      run: (c, auth) => c.h.req('GET', `${repo(c)}/artifacts/${c.base.digest}/tags`, { auth }),
    },
    {
      id: 'api POST artifact tag',
      api: true,
      patScope: 'push',
      project: 'M',
      method: 'POST',
      need: perm('tag', 'create'),
      prepare: async (c) => ({ tag: `tc-${c.n()}` }),
      run: (c, auth, st) => c.h.req('POST', `${repo(c)}/artifacts/${c.base.digest}/tags`, { auth, json: { name: st.tag } }),
      check: async (c, _r, allowed, st) => {
        const there = await exists(c, `/v2/${c.M}/app/manifests/${st.tag}`, 'HEAD');
        return there === allowed ? null : `tag ${st.tag} ${there ? 'exists after a denied' : 'missing after an allowed'} create`;
      },
    },
    {
      id: 'api DELETE artifact tag',
      api: true,
      patScope: 'delete',
      project: 'M',
      method: 'DELETE',
      need: perm('tag', 'delete'),
      prepare: async (c) => {
        const tag = `td-${c.n()}`;
        must(
          await c.h.req('PUT', `/v2/${c.M}/app/manifests/${tag}`, {
            auth: c.admin.auth,
            body: c.base.manifest,
            headers: { 'Content-Type': MT_MANIFEST },
          }),
          201,
        );
        return { tag };
      },
      run: (c, auth, st) => c.h.req('DELETE', `${repo(c)}/artifacts/${c.base.digest}/tags/${st.tag}`, { auth }),
      check: (c, _r, allowed, st) => sideEffect(allowed, () => exists(c, `/v2/${c.M}/app/manifests/${st.tag}`, 'HEAD'), `tag ${st.tag}`),
    },
    {
      id: 'api GET project logs',
      api: true,
      project: 'M',
      method: 'GET',
      need: perm('log', 'list'),
      run: (c, auth) => c.h.req('GET', `${proj(c)}/logs`, { auth }),
    },
    {
      id: 'api GET users',
      api: true,
      method: 'GET',
      need: { kind: 'sysadmin' },
      run: (c, auth) => c.h.req('GET', `${API}/users`, { auth }),
    },
    {
      id: 'api POST users',
      api: true,
      method: 'POST',
      need: { kind: 'sysadmin' },
      prepare: async (c) => {
        const password = newPassword();
        c.secrets.add(password);
        return { username: `made-${c.pub ? 'pub' : 'priv'}-${c.n()}`, password };
      },
      run: (c, auth, st) =>
        c.h.req('POST', `${API}/users`, {
          auth,
          json: { username: st.username, email: `${st.username}@example.test`, realname: st.username, password: st.password, comment: '' },
        }),
    },
    {
      id: 'api GET users/current',
      api: true,
      method: 'GET',
      need: { kind: 'human' },
      run: (c, auth) => c.h.req('GET', `${API}/users/current`, { auth }),
    },
    {
      id: 'api GET audit-logs',
      api: true,
      method: 'GET',
      need: { kind: 'sysadmin' },
      run: (c, auth) => c.h.req('GET', `${API}/audit-logs`, { auth }),
    },
    {
      id: 'api GET systeminfo',
      api: true,
      method: 'GET',
      need: { kind: 'anyone' },
      run: (c, auth) => c.h.req('GET', `${API}/systeminfo`, { auth }),
    },
    {
      id: 'api GET robots (system)',
      api: true,
      method: 'GET',
      need: { kind: 'sysadmin' },
      run: (c, auth) => c.h.req('GET', `${API}/robots`, { auth }),
    },
  ];
}

function relative(loc: string): string {
  return loc.startsWith('http') ? new URL(loc).pathname + new URL(loc).search : loc;
}

// ---------------------------------------------------------------------------------------------
// Expectations (independent of the server)

function model(p: PrincipalDef, project: ProjectKey): Model {
  const id = p.identity;
  switch (id.kind) {
    case 'anonymous':
      return { kind: 'anonymous' };
    case 'admin':
      return { kind: 'user', sysadmin: true, projectRole: null };
    case 'user':
      return { kind: 'user', sysadmin: false, projectRole: project === 'M' || project === 'X' ? USERS[id.key].role : null };
    case 'robot':
      // a project robot of the matrix project: granted nothing anywhere else (decide() adds the
      // public-project set on public projects: matrix-public and other-public)
      return { kind: 'robot', permissions: project === 'M' ? ROBOTS[id.key].access : [] };
  }
}

function projectCtx(c: Ctx, project: ProjectKey): ProjectContext {
  if (project === 'Q1') return { public: false };
  if (project === 'Q2') return { public: true };
  return { public: c.pub };
}

/** may principal `p` do what `need` describes? (`api`/`method` pick the PAT scope; `patScope`: a registry scope API cells on image content also need) */
function allowedFor(p: PrincipalDef, need: Need, c: Ctx, api: boolean, method: string, patScope?: string): boolean {
  const apiScope = method === 'GET' || method === 'HEAD' ? 'api:read' : 'api:write';
  const scopeOk = (s: string | null) => !p.pat || s === null || p.pat.scopes.includes(s);
  const kind = p.identity.kind;
  switch (need.kind) {
    case 'anyone':
      // open to anonymous callers; a personal access token, though, is an API credential only with
      // an api:* scope and is refused without one (it is not downgraded to anonymous)
      return !api || scopeOk(apiScope);
    case 'authenticated':
      return kind !== 'anonymous';
    case 'sysadmin':
      return kind === 'admin' && scopeOk(apiScope);
    case 'human':
      return (kind === 'admin' || kind === 'user') && scopeOk(apiScope);
    case 'perm':
      return need.all.every(
        (r) => decide(model(p, r.project), projectCtx(c, r.project), r.resource, r.action) && scopeOk(api ? apiScope : r.action),
      ) && (patScope === undefined || scopeOk(patScope));
  }
}

// ---------------------------------------------------------------------------------------------
// Running the matrix

interface Outcome {
  cell: string;
  principal: string;
  expected: 'A' | 'D' | '-';
  status: number;
  ok: boolean;
  problem?: string;
  resp?: string;
}

function basicFor(c: Ctx, p: PrincipalDef): Auth {
  const id = p.identity;
  if (id.kind === 'anonymous') return NONE;
  if (id.kind === 'admin') return basic('admin', ADMIN_PASSWORD);
  if (id.kind === 'robot') return basic(c.robots[id.key].name, c.robots[id.key].secret);
  const u = USERS[id.key];
  if (p.pat) return basic(u.username, c.pats.get(p.label)!);
  return basic(u.username, c.users[id.key].password);
}

async function runCell(c: Ctx, cell: Cell, p: PrincipalDef): Promise<Outcome> {
  const base = { cell: cell.id, principal: p.label };
  if (p.transport === 'bearer' && cell.api) return { ...base, expected: '-', status: 0, ok: true };
  if (p.transport === 'bearer' && p.identity.kind === 'anonymous' && cell.need.kind === 'authenticated') {
    return { ...base, expected: '-', status: 0, ok: true };
  }
  const st = cell.prepare ? await cell.prepare(c, p) : undefined;
  let auth: Auth;
  if (p.transport === 'bearer') {
    let scopes = cell.tokenScopes ? cell.tokenScopes(c) : [];
    if (st?.repo) scopes = [...scopes, repoScope(st.repo, 'pull')];
    const t = await token(c.h, basicFor(c, p), scopes);
    if (c.tokensSeen.length < 200) c.tokensSeen.push(t);
    auth = bearer(t);
  } else {
    auth = basicFor(c, p);
  }
  const allowed = allowedFor(p, cell.need, c, cell.api, cell.method, cell.patScope);
  const r = await cell.run(c, auth, st);
  const out: Outcome = { ...base, expected: allowed ? 'A' : 'D', status: r.status, ok: true, resp: describeResp(r) };
  const fail = (problem: string) => Object.assign(out, { ok: false, problem });
  if (allowed) {
    if (r.status < 200 || r.status > 299) return fail(`expected 2xx`);
  } else {
    // Without credentials (or with a bearer token on /v2): 401. With credentials: 403. On
    // /projects/{p}/… API cells a principal that cannot even see the project (no project:read by
    // its role, ignoring PAT scopes: non-members of a private project, robots of other private
    // projects) may also get 404, as
    // if the project did not exist; one that can see it must get 403.
    const std = p.transport === 'basic' ? 403 : 401;
    const hidden = std === 403 && cell.api && cell.project && !decide(model(p, cell.project), projectCtx(c, cell.project), 'project', 'read');
    const accepted = [std, ...(hidden ? [404] : []), ...(cell.altDeny?.(c, p) ?? [])];
    if (!accepted.includes(r.status)) return fail(`expected ${accepted.join('|')}`);
    if (r.status === 404 && errorCode(r) !== 'NOT_FOUND') return fail(`error code ${errorCode(r)}, expected NOT_FOUND`);
    if (r.status === 401 || r.status === 403) {
      const code = errorCode(r);
      const wantCode = cell.api ? (r.status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN') : r.status === 401 ? 'UNAUTHORIZED' : 'DENIED';
      if (cell.method !== 'HEAD' && code !== wantCode) return fail(`error code ${code}, expected ${wantCode}`);
      if (!cell.api && r.status === 401) {
        const www = r.headers.get('www-authenticate') ?? '';
        if (!/^Bearer realm="[^"]+\/service\/token",service="wharf-registry"/.test(www)) return fail(`bad challenge: ${www || '(none)'}`);
        if (p.transport === 'bearer' && !www.includes('error="insufficient_scope"')) return fail(`challenge lacks error="insufficient_scope": ${www}`);
      }
    }
  }
  if (cell.check) {
    const problem = await cell.check(c, r, allowed, st, p);
    if (problem) return fail(problem);
  }
  return out;
}

function table(cells: Cell[], outcomes: Outcome[]): string {
  const by = new Map(outcomes.map((o) => [`${o.cell}\0${o.principal}`, o]));
  const w = Math.max(...cells.map((c) => c.id.length));
  const col = 9;
  const head = ''.padEnd(w) + ' | ' + PRINCIPALS.map((p) => p.label.padEnd(col)).join('');
  const lines = [head, '-'.repeat(head.length)];
  for (const cell of cells) {
    const row = PRINCIPALS.map((p) => {
      const o = by.get(`${cell.id}\0${p.label}`);
      if (!o || o.expected === '-') return '·'.padEnd(col);
      return (o.ok ? o.expected : `${o.expected}!${o.status}`).padEnd(col);
    });
    lines.push(cell.id.padEnd(w) + ' | ' + row.join(''));
  }
  lines.push('', 'A = allowed (2xx), D = denied (401 anonymous / bearer, 403 with credentials; 404 also for a project it cannot see), · = not applicable,');
  lines.push('X!NNN = expected X, got status NNN (or a failed side-effect check; details below)');
  const bad = outcomes.filter((o) => !o.ok);
  if (bad.length) {
    lines.push('', `${bad.length} mismatches:`);
    for (const o of bad) lines.push(`  [${o.principal}] ${o.cell}: expected ${o.expected}, ${o.problem}\n      ${o.resp}`);
  }
  return lines.join('\n');
}

async function runMatrix(c: Ctx, cells: Cell[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const cell of cells) {
    const go = async (p: PrincipalDef) => {
      try {
        return await runCell(c, cell, p);
      } catch (e) {
        return { cell: cell.id, principal: p.label, expected: '?' as any, status: -1, ok: false, problem: `error: ${(e as Error).message}` };
      }
    };
    outcomes.push(...(cell.serial ? await pool(PRINCIPALS, 1, go) : await pool(PRINCIPALS, 6, go)));
  }
  return outcomes;
}

/** GET over a new TCP connection (so a multi-worker server spreads requests over its workers) */
function freshConnectionGet(url: string, p: string, authorization: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url + p);
    const r = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'GET', agent: false, headers: { Authorization: authorization, Connection: 'close' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    r.on('error', reject);
    r.end();
  });
}

// ---------------------------------------------------------------------------------------------
// Setup

let reg: RunningRegistry;
let h: Http;
let admin: Admin;
let allOutput: () => string;
const secrets = new Set<string>([ADMIN_PASSWORD]);
const tokensSeen: string[] = [];
let counter = 0;
const ctxs: Record<'priv' | 'pub', Ctx> = {} as any;
const shared = {
  users: {} as Record<UserKey, { password: string; id: number }>,
  pats: new Map<string, string>(),
  patIds: new Map<string, number>(),
};

beforeAll(async () => {
  reg = await startWharf({ env: { WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD, WHARF_LOG_LEVEL: 'debug' } });
  allOutput = captureOutput(reg);
  h = new Http(reg.url);
  admin = new Admin(h);
  must(await h.req('GET', `${API}/ping`), 200);

  for (const key of Object.keys(USERS) as UserKey[]) {
    const password = newPassword();
    secrets.add(password);
    shared.users[key] = { password, id: await admin.createUser(USERS[key].username, password) };
  }
  for (const p of PRINCIPALS) {
    if (!p.pat || p.identity.kind !== 'user') continue;
    const u = USERS[p.identity.key];
    const pat = await createPat(h, u.username, shared.users[p.identity.key].password, `pat-${p.label.replace(/[^a-z0-9]/g, '')}`, p.pat.scopes);
    secrets.add(pat.token);
    shared.pats.set(p.label, pat.token);
    shared.patIds.set(p.label, pat.id);
  }

  const q1 = 'other-private';
  const q2 = 'other-public';
  await admin.createProject(q1, false);
  await admin.createProject(q2, true);
  await admin.pushImage(`${q1}/seed`, 'v1', tinyImage('q1-seed'));
  await admin.pushImage(`${q2}/seed`, 'v1', tinyImage('q2-seed'));

  for (const [key, name, pub] of [
    ['priv', 'matrix-private', false],
    ['pub', 'matrix-public', true],
  ] as const) {
    const Mid = await admin.createProject(name, pub);
    let guestMemberId = 0;
    for (const k of Object.keys(USERS) as UserKey[]) {
      const u = USERS[k];
      if (u.roleId === null) continue;
      const mid = await admin.addMember(name, u.username, u.roleId);
      if (k === 'guest') guestMemberId = mid;
    }
    const robots = {} as Ctx['robots'];
    for (const rk of Object.keys(ROBOTS) as RobotKey[]) {
      const r = await admin.createRobot(name, ROBOTS[rk].short, ROBOTS[rk].access);
      expect(r.name).toBe(`robot$${name}+${ROBOTS[rk].short}`);
      secrets.add(r.secret);
      robots[rk] = { name: r.name, secret: r.secret, id: r.id };
    }
    const baseImg = tinyImage(`base-${name}`);
    await admin.pushImage(`${name}/app`, 'latest', baseImg);
    const ref = tinyImage(`ref-${name}`);
    must(await pushBlob(h, admin.auth, `${name}/app`, ref.config), 201);
    must(await pushBlob(h, admin.auth, `${name}/app`, ref.layer), 201);
    const refBytes = referrerManifest(ref, baseImg);
    must(
      await h.req('PUT', `/v2/${name}/app/manifests/${sha256(refBytes)}`, { auth: admin.auth, body: refBytes, headers: { 'Content-Type': MT_MANIFEST } }),
      201,
    );
    ctxs[key] = {
      h,
      admin,
      M: name,
      Mid,
      ref: name,
      pub,
      Q1: q1,
      Q2: q2,
      base: baseImg,
      guestMemberId,
      n: () => ++counter,
      users: shared.users,
      robots,
      pats: shared.pats,
      secrets,
      tokensSeen,
    };
  }
}, 300_000);

afterAll(async () => {
  await reg?.stop();
});

// ---------------------------------------------------------------------------------------------
// The matrix

for (const vis of ['priv', 'pub'] as const) {
  describe(`permission matrix, ${vis === 'priv' ? 'private' : 'public'} project`, () => {
    for (const [group, cells, byId] of [
      ['/v2', v2Cells, false],
      ['management API', apiCells, false],
      ['management API, project named by id', apiCells, true],
    ] as const) {
      test(`${group}: every principal × every cell`, async () => {
        const cs = cells();
        const c = ctxs[vis];
        const outcomes = await runMatrix(byId ? { ...c, ref: String(c.Mid) } : c, cs);
        const bad = outcomes.filter((o) => !o.ok);
        const t = table(cs, outcomes);
        if (bad.length) console.log(`\n==== ${group} matrix, ${vis} project ====\n${t}`);
        expect(bad.length, t).toBe(0);
        // sanity: the matrix is not trivially all-allowed or all-denied
        expect(outcomes.filter((o) => o.expected === 'A').length).toBeGreaterThan(10);
        expect(outcomes.filter((o) => o.expected === 'D').length).toBeGreaterThan(10);
      }, 600_000);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Tokens, revocation, wrong credentials, secrets

describe('bearer tokens', () => {
  test('the access claim holds exactly the actions RBAC allows, per role and project', async () => {
    const problems: string[] = [];
    for (const vis of ['priv', 'pub'] as const) {
      const c = ctxs[vis];
      for (const p of PRINCIPALS.filter((x) => x.transport === 'basic' || x.transport === 'none')) {
        const t = await token(h, basicFor(c, p), [repoScope(`${c.M}/app`)]);
        const access = tokenAccess(t);
        if (access === undefined) return; // not a JWT: nothing to decode
        const got = access.filter((a) => a.type === 'repository' && a.name === `${c.M}/app`).flatMap((a) => a.actions);
        const want = (['pull', 'push', 'delete'] as const).filter((a) => allowedFor(p, perm('repository', a), c, false, 'GET'));
        if ([...got].sort().join(',') !== [...want].sort().join(',')) problems.push(`${vis} ${p.label}: access ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  test('a token issued for a repository in project A does not work in project B (nor for other repositories or actions)', async () => {
    const a = ctxs.priv;
    const b = ctxs.pub;
    const t = await token(h, admin.auth, [repoScope(`${a.M}/app`)]);
    // works where issued
    must(await h.req('GET', `/v2/${a.M}/app/manifests/latest`, { auth: bearer(t), headers: manifestAccept }), 200);
    for (const [what, p] of [
      ['project B, same repository name', `/v2/${b.M}/app/manifests/latest`],
      ['private project Q1', `/v2/${a.Q1}/seed/manifests/v1`],
      ['another repository of project A', `/v2/${a.M}/rdel-none/tags/list`],
    ] as const) {
      const r = await h.req('GET', p, { auth: bearer(t), headers: manifestAccept });
      expect(r.status, `${what}: ${describeResp(r)}`).toBe(401);
      expect(r.headers.get('www-authenticate') ?? '', what).toContain('insufficient_scope');
    }
    // a pull-only token cannot push
    const pullOnly = await token(h, admin.auth, [repoScope(`${a.M}/app`, 'pull')]);
    const r = await h.req('POST', `/v2/${a.M}/app/blobs/uploads/`, { auth: bearer(pullOnly) });
    expect(r.status, describeResp(r)).toBe(401);
    // and a token is no management-API credential
    const api = await h.req('DELETE', `${API}/projects/${a.M}`, { auth: bearer(t) });
    expect([401, 403], describeResp(api)).toContain(api.status);
    must(await admin.req('GET', `${API}/projects/${a.M}`), 200);
  });

  test('a tampered token is refused', async () => {
    const c = ctxs.priv;
    const t = await token(h, basic(USERS.guest.username, shared.users.guest.password), [repoScope(`${c.M}/app`)]);
    const parts = t.split('.');
    if (parts.length !== 3) return;
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString());
    payload.access = [{ type: 'repository', name: `${c.M}/app`, actions: ['pull', 'push', 'delete'] }];
    const forged = [parts[0], Buffer.from(JSON.stringify(payload)).toString('base64url'), parts[2]].join('.');
    const r = await h.req('POST', `/v2/${c.M}/app/blobs/uploads/`, { auth: bearer(forged) });
    expect(r.status, describeResp(r)).toBe(401);
    const none = [Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url'), parts[1], ''].join('.');
    const r2 = await h.req('GET', `/v2/${c.M}/app/tags/list`, { auth: bearer(none) });
    expect(r2.status, describeResp(r2)).toBe(401);
  });
});

describe('isolation between repositories', () => {
  test('a blob held only by a private project is not readable or mountable through a repository the caller may push to', async () => {
    const c = ctxs.priv;
    const secretBlob = tinyImage(`isolated-${c.n()}`).layer;
    const d = sha256(secretBlob);
    must(await pushBlob(h, admin.auth, `${c.Q1}/seed`, secretBlob), 201);
    const dev = basic(USERS.dev.username, shared.users.dev.password);
    const problems: string[] = [];
    for (const [what, method, p] of [
      ['GET blob via own repo', 'GET', `/v2/${c.M}/app/blobs/${d}`],
      ['HEAD blob via own repo', 'HEAD', `/v2/${c.M}/app/blobs/${d}`],
      ['mount without from', 'POST', `/v2/${c.M}/app/blobs/uploads/?mount=${d}`],
      ['mount from own repo', 'POST', `/v2/${c.M}/app/blobs/uploads/?mount=${d}&from=${c.M}/app`],
      ['mount from the private project', 'POST', `/v2/${c.M}/app/blobs/uploads/?mount=${d}&from=${c.Q1}/seed`],
    ] as const) {
      const r = await h.req(method, p, { auth: dev });
      if (r.status === 200 || r.status === 201) problems.push(`${what}: ${describeResp(r)}`);
      if (await blobIn(c, `${c.M}/app`, d)) problems.push(`${what}: the blob is now linked into ${c.M}/app`);
    }
    expect(problems).toEqual([]);
  });
});

describe('revocation takes effect on the next request', () => {
  test('a deleted user: Basic credentials, its bearer token and its personal access token stop working', async () => {
    const c = ctxs.priv;
    const username = 'doomed-user';
    const password = newPassword();
    secrets.add(password);
    const id = await admin.createUser(username, password);
    await admin.addMember(c.M, username, 2);
    const pat = await createPat(h, username, password, 'doomed', ['pull', 'push']);
    secrets.add(pat.token);
    const t = await token(h, basic(username, password), [repoScope(`${c.M}/app`)]);
    const path = `/v2/${c.M}/app/manifests/latest`;
    for (const a of [basic(username, password), bearer(t), basic(username, pat.token)]) {
      must(await h.req('GET', path, { auth: a, headers: manifestAccept }), 200);
    }
    must(await admin.req('DELETE', `${API}/users/${id}`), 200);
    for (const [what, a] of [
      ['Basic password', basic(username, password)],
      ['bearer token', bearer(t)],
      ['personal access token', basic(username, pat.token)],
    ] as const) {
      const r = await h.req('GET', path, { auth: a, headers: manifestAccept });
      expect(r.status, `${what} after delete: ${describeResp(r)}`).toBe(401);
    }
    const api = await h.req('GET', `${API}/users/current`, { auth: basic(username, password) });
    expect(api.status, describeResp(api)).toBe(401);
    const tok = await getToken(h, basic(username, password), [repoScope(`${c.M}/app`)]);
    expect(tok.status, describeResp(tok)).toBe(401);
  });

  test('a deleted personal access token stops working', async () => {
    const c = ctxs.priv;
    const u = USERS.dev.username;
    const pw = shared.users.dev.password;
    const pat = await createPat(h, u, pw, 'short-lived', ['pull']);
    secrets.add(pat.token);
    const path = `/v2/${c.M}/app/tags/list`;
    must(await h.req('GET', path, { auth: basic(u, pat.token) }), 200);
    must(await h.req('DELETE', `${API}/users/current/tokens/${pat.id}`, { auth: basic(u, pw) }), 200, 204);
    const r = await h.req('GET', path, { auth: basic(u, pat.token) });
    expect(r.status, describeResp(r)).toBe(401);
  });

  test('a disabled robot and a deleted robot stop at once (Basic and bearer)', async () => {
    const c = ctxs.priv;
    const path = `/v2/${c.M}/app/manifests/latest`;
    const mk = async (short: string) => {
      const r = await admin.createRobot(c.M, short, ROBOTS.robotPush.access);
      secrets.add(r.secret);
      const t = await token(h, basic(r.name, r.secret), [repoScope(`${c.M}/app`)]);
      must(await h.req('GET', path, { auth: basic(r.name, r.secret), headers: manifestAccept }), 200);
      must(await h.req('GET', path, { auth: bearer(t), headers: manifestAccept }), 200);
      return { ...r, token: t };
    };
    const dis = await mk('to-disable');
    const cur = must(await admin.req('GET', `${API}/robots/${dis.id}`), 200).json();
    must(await admin.req('PUT', `${API}/robots/${dis.id}`, { json: { ...cur, disable: true } }), 200);
    expect(must(await admin.req('GET', `${API}/robots/${dis.id}`), 200).json().disable).toBe(true);
    for (const [what, a] of [
      ['disabled robot, Basic', basic(dis.name, dis.secret)],
      ['disabled robot, bearer issued before', bearer(dis.token)],
    ] as const) {
      const r = await h.req('GET', path, { auth: a, headers: manifestAccept });
      expect(r.status, `${what}: ${describeResp(r)}`).toBe(401);
    }
    expect((await getToken(h, basic(dis.name, dis.secret), [repoScope(`${c.M}/app`)])).status).toBe(401);

    const del = await mk('to-delete');
    must(await admin.req('DELETE', `${API}/robots/${del.id}`), 200);
    for (const [what, a] of [
      ['deleted robot, Basic', basic(del.name, del.secret)],
      ['deleted robot, bearer issued before', bearer(del.token)],
    ] as const) {
      const r = await h.req('GET', path, { auth: a, headers: manifestAccept });
      expect(r.status, `${what}: ${describeResp(r)}`).toBe(401);
    }
  });

  test('a refreshed robot secret replaces the old one at once', async () => {
    const c = ctxs.priv;
    const r = await admin.createRobot(c.M, 'to-refresh', ROBOTS.robotPull.access);
    secrets.add(r.secret);
    const path = `/v2/${c.M}/app/tags/list`;
    must(await h.req('GET', path, { auth: basic(r.name, r.secret) }), 200);
    const ref = must(await admin.req('PATCH', `${API}/robots/${r.id}`, { json: {} }), 200).json();
    expect(typeof ref.secret).toBe('string');
    secrets.add(ref.secret);
    expect((await h.req('GET', path, { auth: basic(r.name, r.secret) })).status).toBe(401);
    must(await h.req('GET', path, { auth: basic(r.name, ref.secret) }), 200);
  });
});


describe('changes to identity and membership take effect on the next request', () => {
  test('a changed password: the old one stops, the new one works', async () => {
    const c = ctxs.priv;
    const username = 'changes-password';
    const old = newPassword();
    const neu = newPassword();
    secrets.add(old);
    secrets.add(neu);
    const id = await admin.createUser(username, old);
    await admin.addMember(c.M, username, 3);
    const path = `/v2/${c.M}/app/tags/list`;
    must(await h.req('GET', path, { auth: basic(username, old) }), 200);
    must(await admin.req('PUT', `${API}/users/${id}/password`, { json: { new_password: neu } }), 200);
    const r = await h.req('GET', path, { auth: basic(username, old) });
    expect(r.status, `old password: ${describeResp(r)}`).toBe(401);
    must(await h.req('GET', path, { auth: basic(username, neu) }), 200);
  });

  test('a revoked system admin flag: the next request is no longer an admin\'s', async () => {
    const username = 'briefly-admin';
    const pw = newPassword();
    secrets.add(pw);
    const id = await admin.createUser(username, pw);
    must(await admin.req('PUT', `${API}/users/${id}/sysadmin`, { json: { sysadmin_flag: true } }), 200);
    must(await h.req('GET', `${API}/users`, { auth: basic(username, pw) }), 200);
    must(await admin.req('PUT', `${API}/users/${id}/sysadmin`, { json: { sysadmin_flag: false } }), 200);
    const r = await h.req('GET', `${API}/users`, { auth: basic(username, pw) });
    expect(r.status, describeResp(r)).toBe(403);
    const v2 = await h.req('GET', `/v2/${ctxs.priv.Q1}/seed/tags/list`, { auth: basic(username, pw) });
    expect(v2.status, describeResp(v2)).toBe(403);
  });

  test('a downgraded role and a removed member: the next /v2 request is judged by the new membership', async () => {
    const c = ctxs.priv;
    const username = 'shrinking-dev';
    const pw = newPassword();
    secrets.add(pw);
    await admin.createUser(username, pw);
    const mid = await admin.addMember(c.M, username, 2);
    const a = basic(username, pw);
    const start = () => h.req('POST', `/v2/${c.M}/app/blobs/uploads/`, { auth: a });
    const pull = () => h.req('GET', `/v2/${c.M}/app/tags/list`, { auth: a });
    must(await start(), 202);
    must(await admin.req('PUT', `${API}/projects/${c.M}/members/${mid}`, { json: { role_id: 3 } }), 200);
    let r = await start();
    expect(r.status, `push as a guest now: ${describeResp(r)}`).toBe(403);
    must(await pull(), 200);
    must(await admin.req('DELETE', `${API}/projects/${c.M}/members/${mid}`), 200);
    r = await pull();
    expect(r.status, `pull as a non-member now: ${describeResp(r)}`).toBe(403);
  });

  test('a project turned private: anonymous pulls stop at once', async () => {
    const name = 'flip-visibility';
    await admin.createProject(name, true);
    await admin.pushImage(`${name}/app`, 'v1', tinyImage('flip'));
    must(await h.req('GET', `/v2/${name}/app/manifests/v1`, { headers: manifestAccept }), 200);
    must(await admin.req('PUT', `${API}/projects/${name}`, { json: { metadata: { public: 'false' } } }), 200);
    const r = await h.req('GET', `/v2/${name}/app/manifests/v1`, { headers: manifestAccept });
    expect(r.status, describeResp(r)).toBe(401);
  });

  test('with 4 worker processes, every worker refuses a deleted user on the next request', async () => {
    const multi = await startWharf({ env: { WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD, WHARF_WORKERS: '4' } });
    try {
      const mh = new Http(multi.url);
      const ma = new Admin(mh);
      const problems: string[] = [];
      for (let i = 0; i < 5; i++) {
        const username = `multi-${i}`;
        const pw = newPassword();
        const id = await ma.createUser(username, pw);
        const a = authHeader(basic(username, pw))!;
        // a fresh connection per request, so every worker sees (and caches) the credentials
        for (let k = 0; k < 12; k++) expect(await freshConnectionGet(multi.url, '/v2/', a)).toBe(200);
        must(await ma.req('DELETE', `${API}/users/${id}`), 200);
        const after = await Promise.all(Array.from({ length: 12 }, () => freshConnectionGet(multi.url, '/v2/', a)));
        if (after.some((x) => x !== 401)) problems.push(`round ${i}: statuses after delete ${after.join(',')}`);
      }
      expect(problems).toEqual([]);
    } finally {
      await multi.stop();
    }
  });
});

describe('secrets stay secret', () => {
  test('GET responses never carry robot secrets, token values or passwords', async () => {
    const c = ctxs.priv;
    const bodies: [string, Resp][] = [];
    bodies.push(['robots (project)', await admin.req('GET', `${API}/robots?q=${encodeURIComponent(`Level=project,ProjectID=${c.Mid}`)}`)]);
    bodies.push(['robots (system)', await admin.req('GET', `${API}/robots`)]);
    for (const rk of Object.keys(ROBOTS) as RobotKey[]) bodies.push([`robot ${rk}`, await admin.req('GET', `${API}/robots/${c.robots[rk].id}`)]);
    bodies.push(['users', await admin.req('GET', `${API}/users`)]);
    bodies.push(['user dev', await admin.req('GET', `${API}/users/${shared.users.dev.id}`)]);
    bodies.push(['users/current', await h.req('GET', `${API}/users/current`, { auth: basic(USERS.dev.username, shared.users.dev.password) })]);
    bodies.push(['tokens of dev', await h.req('GET', `${API}/users/current/tokens`, { auth: basic(USERS.dev.username, shared.users.dev.password) })]);
    bodies.push(['members', await admin.req('GET', `${API}/projects/${c.M}/members`)]);
    bodies.push(['audit-logs', await admin.req('GET', `${API}/audit-logs`)]);
    const problems: string[] = [];
    for (const [what, r] of bodies) {
      if (r.status !== 200) problems.push(`${what}: ${describeResp(r)}`);
      for (const s of secrets) if (r.text.includes(s)) problems.push(`${what} contains a secret (${s.slice(0, 4)}…)`);
      const walk = (v: any, path: string): void => {
        if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
        const key = path.split('.').pop()!;
        if (['secret', 'token', 'password', 'password_hash', 'salt'].includes(key) && typeof v === 'string' && v !== '') {
          problems.push(`${what}: field ${path} is set`);
        }
      };
      walk(JSON.parse(r.text || 'null'), what);
    }
    // the token list does show the tokens themselves (by name)
    const list = bodies.find(([w]) => w === 'tokens of dev')![1].json();
    expect(Array.isArray(list) ? list.length : 0).toBeGreaterThanOrEqual(3);
    expect(problems).toEqual([]);
  });

  test('the server log never contains a password, robot secret, personal access token or bearer token', async () => {
    const out = reg.output() + allOutput();
    expect(out.length, 'the server logged nothing at debug level?').toBeGreaterThan(0);
    const leaked: string[] = [];
    for (const s of secrets) if (out.includes(s)) leaked.push(`secret ${s.slice(0, 4)}…`);
    for (const t of tokensSeen) {
      if (out.includes(t)) leaked.push(`bearer token ${t.slice(0, 12)}…`);
      // the signature alone is as good as the token for nobody, but the payload+signature is
      const sig = t.split('.')[2];
      if (sig && sig.length > 20 && out.includes(sig)) leaked.push(`bearer token signature ${sig.slice(0, 8)}…`);
    }
    // nor the Basic header form of a credential
    for (const s of secrets) {
      const robotNames = Object.values(ctxs).flatMap((c) => Object.values(c.robots).map((r) => r.name));
      for (const u of ['admin', ...Object.values(USERS).map((x) => x.username), ...robotNames]) {
        const b64 = Buffer.from(`${u}:${s}`).toString('base64');
        if (out.includes(b64)) leaked.push(`Basic credentials of ${u}`);
      }
    }
    expect(secrets.size).toBeGreaterThan(15);
    expect(tokensSeen.length).toBeGreaterThan(20);
    expect(leaked).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Failed logins (own servers: failures are counted per user name and per client address, and
// every request here comes from 127.0.0.1)

describe('failed logins', () => {
  let wrongReg: RunningRegistry;
  let lockReg: RunningRegistry;
  let lockReg2: RunningRegistry;

  beforeAll(async () => {
    [wrongReg, lockReg, lockReg2] = await Promise.all([
      startWharf({ env: { WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD } }),
      startWharf({ env: { WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD } }),
      startWharf({ env: { WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD } }),
    ]);
  });
  afterAll(async () => {
    await wrongReg?.stop();
    await lockReg?.stop();
    await lockReg2?.stop();
  });

  test('a wrong password, an unknown user or a wrong robot secret gets 401 on /v2, on /service/token and on the API', async () => {
    const wh = new Http(wrongReg.url);
    const wa = new Admin(wh);
    const pw = newPassword();
    await wa.createUser('wrong-pw-user', pw);
    await wa.createProject('wp', true);
    await wa.addMember('wp', 'wrong-pw-user', 2);
    await wa.pushImage('wp/app', 'latest', tinyImage('wp'));
    const robot = await wa.createRobot('wp', 'wrongsecret', ROBOTS.robotPull.access);
    // the right credentials work
    must(await wh.req('GET', '/v2/wp/app/tags/list', { auth: basic('wrong-pw-user', pw) }), 200);
    must(await wh.req('GET', '/v2/wp/app/tags/list', { auth: basic(robot.name, robot.secret) }), 200);
    const problems: string[] = [];
    for (const [who, a] of [
      ['wrong password', basic('wrong-pw-user', 'Not-The-Password-1')],
      ['unknown user', basic('no-such-user-at-all', 'Whatever-Password-1')],
      ['robot with a wrong secret', basic(robot.name, 'Wrong-Secret-123')],
      ['empty password', basic('wrong-pw-user', '')],
    ] as const) {
      for (const [what, r] of [
        ['/v2/', await wh.req('GET', '/v2/', { auth: a })],
        ['/v2 manifest of a public repo', await wh.req('GET', '/v2/wp/app/manifests/latest', { auth: a, headers: manifestAccept })],
        ['/service/token', await getToken(wh, a, [repoScope('wp/app')])],
        ['/service/token without scope', await getToken(wh, a, [])],
        ['API users/current', await wh.req('GET', `${API}/users/current`, { auth: a })],
        ['API public project', await wh.req('GET', `${API}/projects/wp`, { auth: a })],
      ] as const) {
        if (r.status !== 401) problems.push(`${who}, ${what}: ${describeResp(r)}`);
        else if (what.startsWith('/v2') && !(r.headers.get('www-authenticate') ?? '').startsWith('Bearer realm=')) {
          problems.push(`${who}, ${what}: no Bearer challenge: ${describeResp(r)}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  for (const warm of [false, true]) {
    test(`lock-out after repeated failures answers exactly as for a non-existing name (${warm ? 'the user had just logged in successfully' : 'a user not logged in before'})`, async () => {
      const lh = new Http((warm ? lockReg2 : lockReg).url);
      const la = new Admin(lh);
      const pw = newPassword();
      const bystanderPw = newPassword();
      await la.createUser('victim', pw);
      await la.createUser('bystander', bystanderPw);
      if (warm) {
        // the right password was used a moment ago (and may sit in a credential cache)
        must(await getToken(lh, basic('victim', pw), []), 200);
        must(await lh.req('GET', '/v2/', { auth: basic('victim', pw) }), 200);
        must(await lh.req('GET', `${API}/users/current`, { auth: basic('victim', pw) }), 200);
      }
      const norm = (r: Resp) => `${r.status} ${r.headers.get('www-authenticate') ?? ''} ${r.text}`;
      const seq: { victim: string[]; ghost: string[] } = { victim: [], ghost: [] };
      for (let i = 0; i < 8; i++) {
        for (const who of ['victim', 'ghost'] as const) seq[who].push(norm(await getToken(lh, basic(who, `Wrong-Password-${i}x`), [])));
      }
      // every wrong attempt: the same answer for both names, a plain 401
      expect(seq.victim).toEqual(seq.ghost);
      for (const x of seq.victim) expect(x.startsWith('401 ')).toBe(true);
      // now locked: even the right password fails, exactly as for a name that does not exist
      const problems: string[] = [];
      for (const [what, send] of [
        ['/service/token', (a: Auth) => getToken(lh, a, [])],
        ['/v2/', (a: Auth) => lh.req('GET', '/v2/', { auth: a })],
        ['API users/current', (a: Auth) => lh.req('GET', `${API}/users/current`, { auth: a })],
      ] as const) {
        const v = await send(basic('victim', pw));
        const g = await send(basic('ghost', pw));
        if (v.status !== 401) problems.push(`${what}: the locked user with the right password got ${describeResp(v)}`);
        else if (norm(v) !== norm(g)) problems.push(`${what}: locked existing user and unknown user differ:\n   ${norm(v)}\n   ${norm(g)}`);
      }
      // another user from the same address is not locked out by a few failures of someone else
      const b = await getToken(lh, basic('bystander', bystanderPw), []);
      if (b.status !== 200) problems.push(`bystander: ${describeResp(b)}`);
      expect(problems).toEqual([]);
    });
  }
});
