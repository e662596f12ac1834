// Harbor's project-scoped management API against a real Wharf process: projects (CRUD, visibility,
// X-Is-Resource-Name, adminonly creation), members, metadatas, summary, repositories, artifacts and
// tags. Images are built here (config + layer + OCI manifest) and pushed over /v2 with the admin's
// Basic credentials; users are created through POST /api/v2.0/users.
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWharf, type RunningRegistry } from '../helpers/servers.ts';
import { hashPassword } from '../../src/identity/secrets.ts';
import { rolePermissions } from '../../src/rbac/permissions.ts';

const ADMIN_PASSWORD = 'Wharf-Test-Admin-1';
const API = '/api/v2.0';
const MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MT_INDEX = 'application/vnd.oci.image.index.v1+json';
const MT_CONFIG = 'application/vnd.oci.image.config.v1+json';
const MT_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

// ------------------------------------------------------------------------------------------------
// HTTP

type Auth = { username: string; password: string } | null;

interface Resp {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

async function call(w: RunningRegistry, method: string, p: string, o: { auth?: Auth; json?: unknown; body?: Buffer | string; headers?: Record<string, string> } = {}): Promise<Resp> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.auth) headers.Authorization = 'Basic ' + Buffer.from(`${o.auth.username}:${o.auth.password}`).toString('base64');
  let body: Uint8Array<ArrayBuffer> | undefined;
  if (o.json !== undefined) {
    body = new Uint8Array(Buffer.from(JSON.stringify(o.json)));
    headers['Content-Type'] ??= 'application/json';
  } else if (o.body !== undefined) body = new Uint8Array(Buffer.from(o.body));
  const r = await fetch(w.url + p, { method, headers, body, redirect: 'manual' });
  const text = await r.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

function expectStatus(r: Resp, status: number, code?: string): void {
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${r.text.slice(0, 400)}`);
  if (code) expect(r.json?.errors?.[0]?.code).toBe(code);
}

// ------------------------------------------------------------------------------------------------
// Users

const password = () => `Pw${randomBytes(6).toString('hex')}Xy7`;

async function newUser(w: RunningRegistry, username: string): Promise<{ id: number; auth: { username: string; password: string } }> {
  const pw = password();
  const r = await call(w, 'POST', `${API}/users`, { auth: w.admin, json: { username, email: `${username}@example.com`, realname: username, password: pw } });
  if (r.status === 201) {
    const id = Number(/\/users\/(\d+)$/.exec(r.headers.get('location') ?? '')?.[1]);
    return { id, auth: { username, password: pw } };
  }
  if (r.status !== 404 && r.status !== 405) throw new Error(`POST /users -> ${r.status}: ${r.text}`);
  // No users API in this build: put the user straight into the database.
  const db = new Database(path.join(w.dataDir, 'wharf.db'));
  try {
    db.pragma('busy_timeout = 10000');
    const t = Date.now();
    const info = db
      .prepare('insert into users (username, email, realname, comment, password_hash, sysadmin, created_at, updated_at) values (?, ?, ?, ?, ?, 0, ?, ?)')
      .run(username, `${username}@example.com`, username, null, await hashPassword(pw), t, t);
    return { id: Number(info.lastInsertRowid), auth: { username, password: pw } };
  } finally {
    db.close();
  }
}

// ------------------------------------------------------------------------------------------------
// Images

interface Image {
  config: Buffer;
  layer: Buffer;
  manifest: Buffer;
  digest: string;
}

function image(seed: string, architecture = 'amd64'): Image {
  const layer = Buffer.concat([Buffer.from(`layer ${seed}\n`), randomBytes(100)]);
  const config = Buffer.from(
    JSON.stringify({ architecture, os: 'linux', created: '2024-01-02T03:04:05Z', author: 'wharf tests', config: { Env: [`SEED=${seed}`] }, rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT_MANIFEST,
      config: { mediaType: MT_CONFIG, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MT_LAYER, digest: sha256(layer), size: layer.length }],
      annotations: { 'org.example.seed': seed },
    }),
  );
  return { config, layer, manifest, digest: sha256(manifest) };
}

async function pushBlob(w: RunningRegistry, repo: string, data: Buffer): Promise<void> {
  const r = await call(w, 'POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { auth: w.admin, body: data, headers: { 'Content-Type': 'application/octet-stream' } });
  expectStatus(r, 201);
}

async function pushManifest(w: RunningRegistry, repo: string, ref: string, body: Buffer, mediaType: string): Promise<void> {
  const r = await call(w, 'PUT', `/v2/${repo}/manifests/${ref}`, { auth: w.admin, body, headers: { 'Content-Type': mediaType } });
  expectStatus(r, 201);
}

async function pushImage(w: RunningRegistry, repo: string, ref: string, img: Image): Promise<void> {
  await pushBlob(w, repo, img.config);
  await pushBlob(w, repo, img.layer);
  await pushManifest(w, repo, ref, img.manifest, MT_MANIFEST);
}

function rowCounts(w: RunningRegistry): Record<string, number> {
  const db = new Database(path.join(w.dataDir, 'wharf.db'), { readonly: true, fileMustExist: true });
  try {
    const out: Record<string, number> = {};
    for (const t of ['projects', 'project_members', 'repositories', 'repository_blobs', 'manifests', 'manifest_references', 'tags']) {
      out[t] = (db.prepare(`select count(*) n from ${t}`).get() as { n: number }).n;
    }
    out.projects_meta = (db.prepare(`select count(*) n from projects where metadata like '%auto_scan%' or metadata like '%bogus%'`).get() as { n: number }).n;
    return out;
  } finally {
    db.close();
  }
}

async function unchanged(w: RunningRegistry, fn: () => Promise<void>): Promise<void> {
  const before = rowCounts(w);
  await fn();
  expect(rowCounts(w)).toEqual(before);
}

// ------------------------------------------------------------------------------------------------

let w: RunningRegistry;
let admin: { username: string; password: string };
let alice: { id: number; auth: { username: string; password: string } };
let bob: { id: number; auth: { username: string; password: string } };
let carol: { id: number; auth: { username: string; password: string } };

beforeAll(async () => {
  w = await startWharf({ env: { WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD } });
  admin = w.admin;
  alice = await newUser(w, 'alice');
  bob = await newUser(w, 'bob');
  carol = await newUser(w, 'carol');
});

afterAll(async () => {
  await w?.stop();
});

const projectNames = (r: Resp): string[] => (r.json as { name: string }[]).map((p) => p.name).sort();

describe('projects', () => {
  let alphaId = 0;

  it('creates a project: 201 with Location, creator becomes Project Admin', async () => {
    const r = await call(w, 'POST', `${API}/projects`, { auth: alice.auth, json: { project_name: 'alpha' } });
    expectStatus(r, 201);
    const m = /^\/api\/v2\.0\/projects\/(\d+)$/.exec(r.headers.get('location') ?? '');
    expect(m).not.toBeNull();
    alphaId = Number(m![1]);
    const g = await call(w, 'GET', `${API}/projects/${alphaId}`, { auth: alice.auth });
    expectStatus(g, 200);
    expect(g.json).toMatchObject({
      project_id: alphaId,
      name: 'alpha',
      owner_id: alice.id,
      owner_name: 'alice',
      deleted: false,
      current_user_role_id: 1,
      current_user_role_ids: [1],
      repo_count: 0,
      metadata: { public: 'false' },
    });
    expect(g.json.creation_time).toMatch(ISO);
    expect(g.json.update_time).toMatch(ISO);
    const members = await call(w, 'GET', `${API}/projects/alpha/members`, { auth: alice.auth });
    expectStatus(members, 200);
    expect(members.json).toEqual([{ id: expect.any(Number), project_id: alphaId, entity_name: 'alice', role_name: 'projectAdmin', role_id: 1, entity_id: alice.id, entity_type: 'u' }]);
  });

  it('Location by name with X-Resource-Name-In-Location', async () => {
    const r = await call(w, 'POST', `${API}/projects`, { auth: alice.auth, json: { project_name: 'named-loc' }, headers: { 'X-Resource-Name-In-Location': 'true' } });
    expectStatus(r, 201);
    expect(r.headers.get('location')).toBe('/api/v2.0/projects/named-loc');
  });

  it('refuses bad input with 400 and changes nothing', async () => {
    await unchanged(w, async () => {
      for (const body of [
        { project_name: 'Alpha' },
        { project_name: '-alpha' },
        { project_name: 'al..pha' },
        { project_name: 'alpha-' },
        { project_name: '' },
        { project_name: 'a'.repeat(256) },
        { project_name: 42 },
        {},
        { project_name: 'okname', public: 'yes' },
        { project_name: 'okname', metadata: { public: 'yes' } },
        { project_name: 'okname', metadata: { bogus: 'true' } },
        { project_name: 'okname', metadata: { auto_scan: true } },
        { project_name: 'okname', metadata: 'public' },
      ]) {
        const r = await call(w, 'POST', `${API}/projects`, { auth: alice.auth, json: body });
        if (r.status !== 400) throw new Error(`${JSON.stringify(body).slice(0, 80)} -> ${r.status} ${r.text}`);
        expect(r.json.errors[0].code).toBe('BAD_REQUEST');
      }
      expectStatus(await call(w, 'POST', `${API}/projects`, { auth: alice.auth, body: 'not json', headers: { 'Content-Type': 'application/json' } }), 400, 'BAD_REQUEST');
      expectStatus(await call(w, 'POST', `${API}/projects`, { auth: alice.auth, json: ['x'] }), 400, 'BAD_REQUEST');
    });
    expectStatus(await call(w, 'HEAD', `${API}/projects?project_name=okname`, { auth: alice.auth }), 404);
  });

  it('409 for a duplicate, 401 anonymous', async () => {
    await unchanged(w, async () => {
      expectStatus(await call(w, 'POST', `${API}/projects`, { auth: bob.auth, json: { project_name: 'alpha' } }), 409, 'CONFLICT');
      expectStatus(await call(w, 'POST', `${API}/projects`, { json: { project_name: 'anon' } }), 401, 'UNAUTHORIZED');
    });
  });

  it('HEAD /projects?project_name= tells whether a name is taken', async () => {
    expectStatus(await call(w, 'HEAD', `${API}/projects?project_name=alpha`, { auth: bob.auth }), 200);
    expectStatus(await call(w, 'HEAD', `${API}/projects?project_name=nope`, { auth: bob.auth }), 404);
    expectStatus(await call(w, 'HEAD', `${API}/projects`, { auth: bob.auth }), 400);
    expectStatus(await call(w, 'HEAD', `${API}/projects?project_name=alpha`), 401);
  });

  it('{project_name_or_id}: numeric is an id unless X-Is-Resource-Name: true', async () => {
    expectStatus(await call(w, 'POST', `${API}/projects`, { auth: admin, json: { project_name: '424242' } }), 201);
    expectStatus(await call(w, 'GET', `${API}/projects/424242`, { auth: admin }), 404, 'NOT_FOUND');
    const r = await call(w, 'GET', `${API}/projects/424242`, { auth: admin, headers: { 'X-Is-Resource-Name': 'true' } });
    expectStatus(r, 200);
    expect(r.json.name).toBe('424242');
    const byName = await call(w, 'GET', `${API}/projects/alpha`, { auth: alice.auth });
    expect(byName.json.project_id).toBe(alphaId);
    expectStatus(await call(w, 'DELETE', `${API}/projects/424242`, { auth: admin, headers: { 'X-Is-Resource-Name': 'true' } }), 200);
    expectStatus(await call(w, 'GET', `${API}/projects/424242`, { auth: admin, headers: { 'X-Is-Resource-Name': 'true' } }), 404);
  });

  it('PUT updates metadata and the public flag; bad input changes nothing', async () => {
    expectStatus(await call(w, 'PUT', `${API}/projects/alpha`, { auth: alice.auth, json: { metadata: { public: 'true', auto_scan: 'true' } } }), 200);
    let g = await call(w, 'GET', `${API}/projects/alpha`);
    expectStatus(g, 200);
    expect(g.json.metadata).toEqual({ public: 'true', auto_scan: 'true' });
    await unchanged(w, async () => {
      expectStatus(await call(w, 'PUT', `${API}/projects/alpha`, { auth: alice.auth, json: { metadata: { bogus: 'x' } } }), 400);
      expectStatus(await call(w, 'PUT', `${API}/projects/alpha`, { auth: alice.auth, json: { metadata: { public: 'maybe' } } }), 400);
      expectStatus(await call(w, 'PUT', `${API}/projects/alpha`, { auth: alice.auth, json: { project_name: 'renamed' } }), 400);
      // bob is no member: public project, so he sees it but may not change it
      expectStatus(await call(w, 'PUT', `${API}/projects/alpha`, { auth: bob.auth, json: { metadata: { public: 'false' } } }), 403, 'FORBIDDEN');
      expectStatus(await call(w, 'PUT', `${API}/projects/alpha`, { json: { metadata: { public: 'false' } } }), 401);
    });
    expectStatus(await call(w, 'PUT', `${API}/projects/alpha`, { auth: alice.auth, json: { public: false } }), 200);
    g = await call(w, 'GET', `${API}/projects/alpha`, { auth: alice.auth });
    expect(g.json.metadata.public).toBe('false');
    expectStatus(await call(w, 'GET', `${API}/projects/alpha`), 401);
    expectStatus(await call(w, 'GET', `${API}/projects/alpha`, { auth: bob.auth }), 403);
  });

  it('DELETE: 404 unknown, 403 for non-admins, 200 then gone', async () => {
    expectStatus(await call(w, 'DELETE', `${API}/projects/nosuch`, { auth: admin }), 404, 'NOT_FOUND');
    expectStatus(await call(w, 'DELETE', `${API}/projects/999999`, { auth: admin }), 404, 'NOT_FOUND');
    expectStatus(await call(w, 'POST', `${API}/projects`, { auth: admin, json: { project_name: 'doomed', public: true } }), 201);
    expectStatus(await call(w, 'DELETE', `${API}/projects/doomed`, { auth: bob.auth }), 403, 'FORBIDDEN');
    expectStatus(await call(w, 'DELETE', `${API}/projects/doomed`, { auth: admin }), 200);
    expectStatus(await call(w, 'GET', `${API}/projects/doomed`, { auth: admin }), 404);
    expectStatus(await call(w, 'HEAD', `${API}/projects?project_name=doomed`, { auth: admin }), 404);
  });
});

describe('project visibility in GET /projects', () => {
  beforeAll(async () => {
    expectStatus(await call(w, 'POST', `${API}/projects`, { auth: admin, json: { project_name: 'pubp', metadata: { public: 'true' } } }), 201);
    expectStatus(await call(w, 'POST', `${API}/projects`, { auth: admin, json: { project_name: 'privp' } }), 201);
    expectStatus(await call(w, 'POST', `${API}/projects/privp/members`, { auth: admin, json: { role_id: 3, member_user: { username: 'carol' } } }), 201);
  });

  it('anonymous sees public projects only', async () => {
    const r = await call(w, 'GET', `${API}/projects?page_size=100`);
    expectStatus(r, 200);
    const names = projectNames(r);
    expect(names).toContain('library');
    expect(names).toContain('pubp');
    expect(names).not.toContain('privp');
    expect(names).not.toContain('alpha');
    expect(Number(r.headers.get('x-total-count'))).toBe(names.length);
    const lib = (r.json as any[]).find((p) => p.name === 'library');
    expect(lib).toMatchObject({ metadata: { public: 'true' }, owner_name: 'admin', current_user_role_id: 0, current_user_role_ids: [], repo_count: 0, deleted: false });
  });

  it('a non-member sees public ones, a member also their private ones, the admin all', async () => {
    const b = projectNames(await call(w, 'GET', `${API}/projects?page_size=100`, { auth: bob.auth }));
    expect(b).toContain('pubp');
    expect(b).not.toContain('privp');
    const cr = await call(w, 'GET', `${API}/projects?page_size=100`, { auth: carol.auth });
    expect(projectNames(cr)).toContain('privp');
    expect((cr.json as any[]).find((p) => p.name === 'privp')).toMatchObject({ current_user_role_id: 3, current_user_role_ids: [3] });
    const a = projectNames(await call(w, 'GET', `${API}/projects?page_size=100`, { auth: admin }));
    expect(a).toEqual(expect.arrayContaining(['alpha', 'library', 'named-loc', 'privp', 'pubp']));
    expectStatus(await call(w, 'GET', `${API}/projects/privp`), 401);
    expectStatus(await call(w, 'GET', `${API}/projects/privp`, { auth: bob.auth }), 403);
    expectStatus(await call(w, 'GET', `${API}/projects/privp`, { auth: carol.auth }), 200);
    expectStatus(await call(w, 'GET', `${API}/projects/pubp`), 200);
  });

  it('filters: name (fuzzy), q=name=~, public, owner; paging', async () => {
    expect(projectNames(await call(w, 'GET', `${API}/projects?name=ubp`, { auth: admin }))).toEqual(['pubp']);
    expect(projectNames(await call(w, 'GET', `${API}/projects?q=${encodeURIComponent('name=~rivp')}`, { auth: admin }))).toEqual(['privp']);
    expect(projectNames(await call(w, 'GET', `${API}/projects?q=${encodeURIComponent('name=privp')}`, { auth: admin }))).toEqual(['privp']);
    expect(projectNames(await call(w, 'GET', `${API}/projects?q=${encodeURIComponent('name=priv')}`, { auth: admin }))).toEqual([]);
    const priv = projectNames(await call(w, 'GET', `${API}/projects?public=false&page_size=100`, { auth: admin }));
    expect(priv).toContain('privp');
    expect(priv).not.toContain('pubp');
    expect(projectNames(await call(w, 'GET', `${API}/projects?owner=alice&page_size=100`, { auth: admin }))).toEqual(['alpha', 'named-loc']);
    const p1 = await call(w, 'GET', `${API}/projects?page=1&page_size=2`, { auth: admin });
    expect(p1.json).toHaveLength(2);
    const total = Number(p1.headers.get('x-total-count'));
    expect(total).toBeGreaterThanOrEqual(5);
    expect(p1.headers.get('link')).toContain('rel="next"');
    const p2 = await call(w, 'GET', `${API}/projects?page=2&page_size=2`, { auth: admin });
    expect(projectNames(p2).some((n) => projectNames(p1).includes(n))).toBe(false);
    expectStatus(await call(w, 'GET', `${API}/projects?page=0`), 400, 'BAD_REQUEST');
    expectStatus(await call(w, 'GET', `${API}/projects?public=perhaps`), 400, 'BAD_REQUEST');
    expectStatus(await call(w, 'GET', `${API}/projects?q=garbage`), 400, 'BAD_REQUEST');
    expectStatus(await call(w, 'GET', `${API}/projects?sort=bogus`), 400, 'BAD_REQUEST');
  });
});

describe('project creation restricted to admins', () => {
  let w2: RunningRegistry;
  afterAll(async () => {
    await w2?.stop();
  });
  it('WHARF_PROJECT_CREATION=adminonly: users get 403, admins 201', async () => {
    w2 = await startWharf({ env: { WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD, WHARF_PROJECT_CREATION: 'adminonly' } });
    const u = await newUser(w2, 'dave');
    expectStatus(await call(w2, 'POST', `${API}/projects`, { auth: u.auth, json: { project_name: 'daves' } }), 403, 'FORBIDDEN');
    expectStatus(await call(w2, 'HEAD', `${API}/projects?project_name=daves`, { auth: w2.admin }), 404);
    expectStatus(await call(w2, 'POST', `${API}/projects`, { auth: w2.admin, json: { project_name: 'daves' } }), 201);
  });
});

describe('members', () => {
  let teamId = 0;
  let bobMid = 0;
  let carolMid = 0;
  let aliceMid = 0;
  const M = `${API}/projects/team/members`;

  beforeAll(async () => {
    const r = await call(w, 'POST', `${API}/projects`, { auth: alice.auth, json: { project_name: 'team' } });
    expectStatus(r, 201);
    teamId = Number(/(\d+)$/.exec(r.headers.get('location')!)![1]);
    aliceMid = (await call(w, 'GET', M, { auth: alice.auth })).json[0].id;
  });

  it('adds members by username and by user_id (201 + Location)', async () => {
    const r = await call(w, 'POST', M, { auth: alice.auth, json: { role_id: 2, member_user: { username: 'bob' } } });
    expectStatus(r, 201);
    const m = new RegExp(`^/api/v2\\.0/projects/${teamId}/members/(\\d+)$`).exec(r.headers.get('location') ?? '');
    expect(m).not.toBeNull();
    bobMid = Number(m![1]);
    const r2 = await call(w, 'POST', M, { auth: alice.auth, json: { role_id: 3, member_user: { user_id: carol.id } } });
    expectStatus(r2, 201);
    carolMid = Number(/(\d+)$/.exec(r2.headers.get('location')!)![1]);
    const g = await call(w, 'GET', `${M}/${bobMid}`, { auth: alice.auth });
    expectStatus(g, 200);
    expect(g.json).toEqual({ id: bobMid, project_id: teamId, entity_name: 'bob', role_name: 'developer', role_id: 2, entity_id: bob.id, entity_type: 'u' });
    const all = await call(w, 'GET', M, { auth: alice.auth });
    expect(all.headers.get('x-total-count')).toBe('3');
    expect((all.json as any[]).map((x) => [x.entity_name, x.role_name])).toEqual([
      ['alice', 'projectAdmin'],
      ['bob', 'developer'],
      ['carol', 'guest'],
    ]);
    const f = await call(w, 'GET', `${M}?entityname=ob`, { auth: alice.auth });
    expect((f.json as any[]).map((x) => x.entity_name)).toEqual(['bob']);
    // the new member sees the private project now
    expectStatus(await call(w, 'GET', `${API}/projects/team`, { auth: bob.auth }), 200);
  });

  it('refuses bad input (400), unknown users (404), existing members (409)', async () => {
    await unchanged(w, async () => {
      for (const body of [
        { role_id: 0, member_user: { username: 'bob' } },
        { role_id: 6, member_user: { username: 'bob' } },
        { role_id: '2', member_user: { username: 'bob' } },
        { role_id: 1.5, member_user: { username: 'bob' } },
        { member_user: { username: 'bob' } },
        { role_id: 2 },
        { role_id: 2, member_user: 'bob' },
        { role_id: 2, member_user: {} },
        { role_id: 2, member_user: { user_id: -3 } },
        { role_id: 2, member_group: { group_name: 'devs' } },
      ]) {
        const r = await call(w, 'POST', M, { auth: alice.auth, json: body });
        if (r.status !== 400) throw new Error(`${JSON.stringify(body)} -> ${r.status} ${r.text}`);
      }
      expectStatus(await call(w, 'POST', M, { auth: alice.auth, json: { role_id: 2, member_user: { username: 'nobody' } } }), 404, 'NOT_FOUND');
      expectStatus(await call(w, 'POST', M, { auth: alice.auth, json: { role_id: 2, member_user: { user_id: 987654 } } }), 404, 'NOT_FOUND');
      expectStatus(await call(w, 'POST', M, { auth: alice.auth, json: { role_id: 4, member_user: { username: 'bob' } } }), 409, 'CONFLICT');
      expectStatus(await call(w, 'PUT', `${M}/${bobMid}`, { auth: alice.auth, json: { role_id: 9 } }), 400);
      expectStatus(await call(w, 'PUT', `${M}/${bobMid}`, { auth: alice.auth, json: {} }), 400);
      expectStatus(await call(w, 'GET', `${M}/abc`, { auth: alice.auth }), 400);
      // ids longer than 15 digits never reach the database (PostgreSQL would fail on the bigint)
      expectStatus(await call(w, 'GET', `${M}/12345678901234567890`, { auth: alice.auth }), 400, 'BAD_REQUEST');
      expectStatus(await call(w, 'PUT', `${M}/12345678901234567890`, { auth: alice.auth, json: { role_id: 2 } }), 400, 'BAD_REQUEST');
      expectStatus(await call(w, 'DELETE', `${M}/12345678901234567890`, { auth: alice.auth }), 400, 'BAD_REQUEST');
      expectStatus(await call(w, 'GET', `${M}/99999`, { auth: alice.auth }), 404);
      expectStatus(await call(w, 'DELETE', `${M}/99999`, { auth: alice.auth }), 404);
    });
  });

  it('changes roles; the role takes effect; nobody changes or removes their own membership', async () => {
    // bob (developer) may list but not add
    expectStatus(await call(w, 'GET', M, { auth: bob.auth }), 200);
    expectStatus(await call(w, 'POST', M, { auth: bob.auth, json: { role_id: 3, member_user: { username: 'admin' } } }), 403, 'FORBIDDEN');
    expectStatus(await call(w, 'PUT', `${M}/${bobMid}`, { auth: alice.auth, json: { role_id: 1 } }), 200);
    expect((await call(w, 'GET', `${M}/${bobMid}`, { auth: alice.auth })).json).toMatchObject({ role_id: 1, role_name: 'projectAdmin' });
    // now a project admin, bob may manage members — but not his own membership
    expectStatus(await call(w, 'PUT', `${M}/${bobMid}`, { auth: bob.auth, json: { role_id: 2 } }), 403, 'FORBIDDEN');
    expectStatus(await call(w, 'DELETE', `${M}/${bobMid}`, { auth: bob.auth }), 403, 'FORBIDDEN');
    expectStatus(await call(w, 'PUT', `${M}/${aliceMid}`, { auth: alice.auth, json: { role_id: 2 } }), 403, 'FORBIDDEN');
    expectStatus(await call(w, 'DELETE', `${M}/${aliceMid}`, { auth: alice.auth }), 403, 'FORBIDDEN');
    expectStatus(await call(w, 'PUT', `${M}/${bobMid}`, { auth: alice.auth, json: { role_id: 4 } }), 200);
    expect((await call(w, 'GET', `${M}/${bobMid}`, { auth: alice.auth })).json.role_name).toBe('maintainer');
    expectStatus(await call(w, 'DELETE', `${M}/${carolMid}`, { auth: alice.auth }), 200);
    expectStatus(await call(w, 'GET', `${M}/${carolMid}`, { auth: alice.auth }), 404);
    expectStatus(await call(w, 'GET', `${API}/projects/team`, { auth: carol.auth }), 403);
  });

  it('summary counts members by role (for those who may list members)', async () => {
    const s = await call(w, 'GET', `${API}/projects/team/summary`, { auth: alice.auth });
    expectStatus(s, 200);
    expect(s.json).toMatchObject({ repo_count: 0, project_admin_count: 1, maintainer_count: 1, developer_count: 0, guest_count: 0, limited_guest_count: 0, quota: { hard: { storage: -1 }, used: { storage: 0 } } });
    // a non-member of a public project sees the summary without member counts
    const p = await call(w, 'GET', `${API}/projects/pubp/summary`, { auth: bob.auth });
    expectStatus(p, 200);
    expect(p.json.repo_count).toBe(0);
    expect(p.json.project_admin_count).toBeUndefined();
    expectStatus(await call(w, 'GET', `${API}/projects/team/summary`, { auth: carol.auth }), 403);
  });
});

describe('metadatas', () => {
  const MD = `${API}/projects/team/metadatas`;

  it('GET, POST, GET one, PUT one, DELETE one', async () => {
    let r = await call(w, 'GET', MD, { auth: admin });
    expectStatus(r, 200);
    expect(r.json).toEqual({ public: 'false' });
    // Harbor checks metadata:list for the whole map, which no project role holds
    expectStatus(await call(w, 'GET', MD, { auth: alice.auth }), 403, 'FORBIDDEN');
    expectStatus(await call(w, 'POST', MD, { auth: alice.auth, json: { auto_scan: 'true' } }), 200);
    // values are normalized as Harbor does (Go's ParseBool, lower-case severities)
    expectStatus(await call(w, 'POST', MD, { auth: alice.auth, json: { severity: 'HIGH' } }), 200);
    r = await call(w, 'GET', MD, { auth: admin });
    expect(r.json).toEqual({ public: 'false', auto_scan: 'true', severity: 'high' });
    expect((await call(w, 'GET', `${MD}/auto_scan`, { auth: alice.auth })).json).toEqual({ auto_scan: 'true' });
    expectStatus(await call(w, 'GET', `${MD}/prevent_vul`, { auth: alice.auth }), 404);
    expectStatus(await call(w, 'PUT', `${MD}/auto_scan`, { auth: alice.auth, json: { auto_scan: 'FALSE' } }), 200);
    expect((await call(w, 'GET', `${MD}/auto_scan`, { auth: alice.auth })).json).toEqual({ auto_scan: 'false' });
    expectStatus(await call(w, 'DELETE', `${MD}/auto_scan`, { auth: alice.auth }), 200);
    expectStatus(await call(w, 'GET', `${MD}/auto_scan`, { auth: alice.auth }), 404);
    expect((await call(w, 'GET', `${API}/projects/team`, { auth: alice.auth })).json.metadata).toEqual({ public: 'false', severity: 'high' });
  });

  it('the public key switches visibility', async () => {
    expectStatus(await call(w, 'GET', `${API}/projects/team`), 401);
    expectStatus(await call(w, 'PUT', `${MD}/public`, { auth: alice.auth, json: { public: 'true' } }), 200);
    expectStatus(await call(w, 'GET', `${API}/projects/team`), 200);
    expectStatus(await call(w, 'POST', MD, { auth: alice.auth, json: { public: 'false' } }), 200);
    expectStatus(await call(w, 'GET', `${API}/projects/team`), 401);
  });

  it('bad input: 400 and nothing changes', async () => {
    await unchanged(w, async () => {
      expectStatus(await call(w, 'POST', MD, { auth: alice.auth, json: { bogus: 'x' } }), 400, 'BAD_REQUEST');
      expectStatus(await call(w, 'POST', MD, { auth: alice.auth, json: { auto_scan: true } }), 400, 'BAD_REQUEST');
      expectStatus(await call(w, 'POST', MD, { auth: alice.auth, json: { auto_scan: 'true', prevent_vul: 'true' } }), 400, 'BAD_REQUEST');
      expectStatus(await call(w, 'POST', MD, { auth: alice.auth, json: { public: 'nope' } }), 400, 'BAD_REQUEST');
      expectStatus(await call(w, 'POST', MD, { auth: alice.auth, json: { severity: 'apocalyptic' } }), 400, 'BAD_REQUEST');
      expectStatus(await call(w, 'POST', MD, { auth: alice.auth, json: {} }), 400, 'BAD_REQUEST');
      expectStatus(await call(w, 'PUT', `${MD}/severity`, { auth: alice.auth, json: { auto_scan: 'true' } }), 400, 'BAD_REQUEST');
      expectStatus(await call(w, 'PUT', `${MD}/bogus`, { auth: alice.auth, json: { bogus: 'true' } }), 400, 'BAD_REQUEST');
      expectStatus(await call(w, 'DELETE', `${MD}/public`, { auth: alice.auth }), 400, 'BAD_REQUEST');
      expectStatus(await call(w, 'DELETE', `${MD}/bogus`, { auth: alice.auth }), 400, 'BAD_REQUEST');
      // carol is no member any more; bob (maintainer) may read single entries
      expectStatus(await call(w, 'GET', `${MD}/severity`, { auth: carol.auth }), 403);
    });
    expectStatus(await call(w, 'GET', `${MD}/severity`, { auth: bob.auth }), 200);
  });

  it('audits metadata changes with the project id', async () => {
    const teamId = (await call(w, 'GET', `${API}/projects/team`, { auth: admin })).json.project_id;
    const want = [
      ['create', 'team/auto_scan'],
      ['create', 'team/severity'],
      ['update', 'team/auto_scan'],
      ['delete', 'team/auto_scan'],
      ['update', 'team/public'],
      ['create', 'team/public'],
    ];
    let rows: { operation: string; resource: string; project_id: number | null; username: string }[] = [];
    for (let i = 0; i < 40; i++) {
      const db = new Database(path.join(w.dataDir, 'wharf.db'), { readonly: true, fileMustExist: true });
      try {
        rows = db.prepare(`select operation, resource, project_id, username from audit_logs where resource_type = 'project_metadata'`).all() as typeof rows;
      } finally {
        db.close();
      }
      if (want.every(([op, res]) => rows.some((r) => r.operation === op && r.resource === res))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const [op, res] of want) {
      const row = rows.find((r) => r.operation === op && r.resource === res);
      expect(row, `${op} ${res}`).toBeDefined();
      expect(Number(row!.project_id)).toBe(teamId);
      expect(row!.username).toBe('alice');
    }
    // refused changes are not audited
    expect(rows.some((r) => r.resource.includes('bogus'))).toBe(false);
  });
});

describe('members granted by robots and personal access tokens', () => {
  const D = `${API}/projects/delegate/members`;

  beforeAll(async () => {
    expectStatus(await call(w, 'POST', `${API}/projects`, { auth: alice.auth, json: { project_name: 'delegate' } }), 201);
    await newUser(w, 'dan');
    await newUser(w, 'erin');
  });

  const midOf = (r: Resp) => Number(/(\d+)$/.exec(r.headers.get('location')!)![1]);

  it('a robot may only grant a role whose every permission it holds', async () => {
    const access = [
      ...rolePermissions('limitedGuest'),
      { resource: 'member', action: 'create' },
      { resource: 'member', action: 'update' },
      { resource: 'member', action: 'read' },
    ];
    const r = await call(w, 'POST', `${API}/robots`, { auth: alice.auth, json: { name: 'membership', level: 'project', duration: -1, permissions: [{ kind: 'project', namespace: 'delegate', access }] } });
    expectStatus(r, 201);
    const robot = { username: r.json.name, password: r.json.secret };
    await unchanged(w, async () => {
      expectStatus(await call(w, 'POST', D, { auth: robot, json: { role_id: 3, member_user: { username: 'dan' } } }), 403, 'FORBIDDEN');
      expectStatus(await call(w, 'POST', D, { auth: robot, json: { role_id: 1, member_user: { username: 'dan' } } }), 403, 'FORBIDDEN');
    });
    const c = await call(w, 'POST', D, { auth: robot, json: { role_id: 5, member_user: { username: 'dan' } } });
    expectStatus(c, 201);
    const mid = midOf(c);
    expectStatus(await call(w, 'PUT', `${D}/${mid}`, { auth: robot, json: { role_id: 2 } }), 403, 'FORBIDDEN');
    expectStatus(await call(w, 'PUT', `${D}/${mid}`, { auth: robot, json: { role_id: 1 } }), 403, 'FORBIDDEN');
    expect((await call(w, 'GET', `${D}/${mid}`, { auth: alice.auth })).json.role_id).toBe(5);
    expectStatus(await call(w, 'PUT', `${D}/${mid}`, { auth: robot, json: { role_id: 5 } }), 200);
  });

  it("a personal access token may only grant a role within its user's rights and its registry scopes", async () => {
    const pat = async (name: string, scopes: string[]) => {
      const r = await call(w, 'POST', `${API}/users/current/tokens`, { auth: alice.auth, json: { name, scopes } });
      expectStatus(r, 201);
      return { username: 'alice', password: r.json.token as string };
    };
    const api = await pat('members-api', ['api:read', 'api:write']);
    const pull = await pat('members-pull', ['api:read', 'api:write', 'pull']);
    const pullPush = await pat('members-pull-push', ['api:read', 'api:write', 'pull', 'push']);
    const all = await pat('members-all', ['api:read', 'api:write', 'pull', 'push', 'delete']);
    await unchanged(w, async () => {
      // every role pulls: a token without pull grants none
      expectStatus(await call(w, 'POST', D, { auth: api, json: { role_id: 5, member_user: { username: 'erin' } } }), 403, 'FORBIDDEN');
      // a developer pushes
      expectStatus(await call(w, 'POST', D, { auth: pull, json: { role_id: 2, member_user: { username: 'erin' } } }), 403, 'FORBIDDEN');
    });
    const c = await call(w, 'POST', D, { auth: pull, json: { role_id: 3, member_user: { username: 'erin' } } });
    expectStatus(c, 201);
    const mid = midOf(c);
    // a maintainer deletes
    expectStatus(await call(w, 'PUT', `${D}/${mid}`, { auth: pullPush, json: { role_id: 4 } }), 403, 'FORBIDDEN');
    expectStatus(await call(w, 'PUT', `${D}/${mid}`, { auth: pullPush, json: { role_id: 2 } }), 200);
    expect((await call(w, 'GET', `${D}/${mid}`, { auth: alice.auth })).json.role_id).toBe(2);
    expectStatus(await call(w, 'PUT', `${D}/${mid}`, { auth: all, json: { role_id: 1 } }), 200);
    expect((await call(w, 'GET', `${D}/${mid}`, { auth: alice.auth })).json.role_id).toBe(1);
  });
});

describe('repositories and artifacts', () => {
  const P = 'shop';
  const R = `${API}/projects/${P}/repositories`;
  const app = image('app');
  const amd = image('multi-amd64', 'amd64');
  const arm = image('multi-arm64', 'arm64');
  let index: Buffer;
  let indexDigest: string;
  let shopId = 0;

  beforeAll(async () => {
    const r = await call(w, 'POST', `${API}/projects`, { auth: admin, json: { project_name: P } });
    expectStatus(r, 201);
    shopId = Number(/(\d+)$/.exec(r.headers.get('location')!)![1]);
    expectStatus(await call(w, 'POST', `${API}/projects/${P}/members`, { auth: admin, json: { role_id: 2, member_user: { username: 'carol' } } }), 201);
    await pushImage(w, `${P}/app`, 'v1', app);
    await pushImage(w, `${P}/a/b`, 'v1', app);
    await pushImage(w, `${P}/multi`, amd.digest, amd);
    await pushImage(w, `${P}/multi`, arm.digest, arm);
    index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT_INDEX,
        manifests: [
          { mediaType: MT_MANIFEST, digest: amd.digest, size: amd.manifest.length, platform: { architecture: 'amd64', os: 'linux' } },
          { mediaType: MT_MANIFEST, digest: arm.digest, size: arm.manifest.length, platform: { architecture: 'arm64', os: 'linux' } },
        ],
      }),
    );
    indexDigest = sha256(index);
    await pushManifest(w, `${P}/multi`, 'latest', index, MT_INDEX);
  });

  it('lists repositories (Harbor Repository), with q=name=~ and paging', async () => {
    const r = await call(w, 'GET', R, { auth: admin });
    expectStatus(r, 200);
    expect(r.headers.get('x-total-count')).toBe('3');
    expect((r.json as any[]).map((x) => x.name)).toEqual([`${P}/a/b`, `${P}/app`, `${P}/multi`]);
    const appRepo = (r.json as any[]).find((x) => x.name === `${P}/app`);
    expect(appRepo).toMatchObject({ id: expect.any(Number), project_id: shopId, description: '', artifact_count: 1, pull_count: 0 });
    expect(appRepo.creation_time).toMatch(ISO);
    expect(appRepo.update_time).toMatch(ISO);
    expect((r.json as any[]).find((x) => x.name === `${P}/multi`).artifact_count).toBe(3);
    const q = await call(w, 'GET', `${R}?q=${encodeURIComponent('name=~ult')}`, { auth: admin });
    expect((q.json as any[]).map((x) => x.name)).toEqual([`${P}/multi`]);
    const exact = await call(w, 'GET', `${R}?q=${encodeURIComponent('name=a/b')}`, { auth: admin });
    expect((exact.json as any[]).map((x) => x.name)).toEqual([`${P}/a/b`]);
    const pg = await call(w, 'GET', `${R}?page=2&page_size=2`, { auth: admin });
    expect((pg.json as any[]).map((x) => x.name)).toEqual([`${P}/multi`]);
    expect(pg.headers.get('x-total-count')).toBe('3');
    // private project: anonymous callers are told to log in, non-members are refused (403, as Harbor)
    expectStatus(await call(w, 'GET', R), 401);
    expectStatus(await call(w, 'GET', R, { auth: bob.auth }), 403);
    expectStatus(await call(w, 'GET', R, { auth: carol.auth }), 200);
  });

  it('one repository; a name with "/" is encoded twice', async () => {
    const r = await call(w, 'GET', `${R}/a%252Fb`, { auth: admin });
    expectStatus(r, 200);
    expect(r.json).toMatchObject({ name: `${P}/a/b`, project_id: shopId, artifact_count: 1 });
    const byId = await call(w, 'GET', `${API}/projects/${shopId}/repositories/app`, { auth: admin });
    expect(byId.json.name).toBe(`${P}/app`);
    expectStatus(await call(w, 'GET', `${R}/nope`, { auth: admin }), 404, 'NOT_FOUND');
    expectStatus(await call(w, 'GET', `${R}/UPPER`, { auth: admin }), 400, 'BAD_REQUEST');
    expectStatus(await call(w, 'GET', `${R}/a%25zz`, { auth: admin }), 400, 'BAD_REQUEST');
    expectStatus(await call(w, 'PUT', `${R}/app`, { auth: admin, json: { description: 'the app' } }), 200);
    expectStatus(await call(w, 'PUT', `${R}/app`, { auth: admin, json: { description: 5 } }), 400);
  });

  it('summary: repo count and the distinct blob and manifest bytes (Harbor: each counted once per project)', async () => {
    const s = await call(w, 'GET', `${API}/projects/${P}/summary`, { auth: admin });
    expectStatus(s, 200);
    // app's manifest is counted once although two repositories hold it
    const used = [app, amd, arm].reduce((n, i) => n + i.config.length + i.layer.length + i.manifest.length, 0) + index.length;
    expect(s.json).toMatchObject({ repo_count: 3, project_admin_count: 1, developer_count: 1, quota: { hard: { storage: -1 }, used: { storage: used } } });
    const list = await call(w, 'GET', `${API}/projects?name=${P}`, { auth: admin });
    expect((list.json as any[])[0].repo_count).toBe(3);
  });

  it('artifacts of an image (Harbor Artifact)', async () => {
    const r = await call(w, 'GET', `${R}/app/artifacts`, { auth: carol.auth });
    expectStatus(r, 200);
    expect(r.headers.get('x-total-count')).toBe('1');
    const a = r.json[0];
    const repoId = (await call(w, 'GET', `${R}/app`, { auth: admin })).json.id;
    expect(a).toMatchObject({
      type: 'IMAGE',
      media_type: MT_CONFIG,
      manifest_media_type: MT_MANIFEST,
      project_id: shopId,
      repository_id: repoId,
      repository_name: `${P}/app`,
      digest: app.digest,
      size: app.manifest.length + app.config.length + app.layer.length,
      annotations: { 'org.example.seed': 'app' },
      extra_attrs: { architecture: 'amd64', os: 'linux', created: '2024-01-02T03:04:05Z', author: 'wharf tests', config: { Env: ['SEED=app'] } },
      tags: [{ repository_id: repoId, name: 'v1', immutable: false }],
    });
    expect(a.push_time).toMatch(ISO);
    expect(a.tags[0].push_time).toMatch(ISO);
    const noTags = await call(w, 'GET', `${R}/app/artifacts?with_tag=false`, { auth: admin });
    expect(noTags.json[0].tags).toBeUndefined();
    expectStatus(await call(w, 'GET', `${R}/app/artifacts?with_tag=maybe`, { auth: admin }), 400);
    expectStatus(await call(w, 'GET', `${R}/nope/artifacts`, { auth: admin }), 404);
    for (const ref of ['v1', app.digest, encodeURIComponent(app.digest)]) {
      const one = await call(w, 'GET', `${R}/app/artifacts/${ref}`, { auth: admin });
      expectStatus(one, 200);
      expect(one.json.digest).toBe(app.digest);
    }
    expect((await call(w, 'GET', `${R}/a%252Fb/artifacts/v1`, { auth: admin })).json.repository_name).toBe(`${P}/a/b`);
    expectStatus(await call(w, 'GET', `${R}/app/artifacts/v9`, { auth: admin }), 404);
    expectStatus(await call(w, 'GET', `${R}/app/artifacts/sha256:abc`, { auth: admin }), 400);
    expectStatus(await call(w, 'GET', `${R}/app/artifacts/-bad`, { auth: admin }), 400);
  });

  it('an index lists once, with its children as references', async () => {
    const r = await call(w, 'GET', `${R}/multi/artifacts`, { auth: admin });
    expectStatus(r, 200);
    expect(r.headers.get('x-total-count')).toBe('1');
    const a = r.json[0];
    expect(a).toMatchObject({ type: 'IMAGE', digest: indexDigest, manifest_media_type: MT_INDEX, media_type: MT_INDEX, tags: [{ name: 'latest' }] });
    expect(a.references).toEqual([
      { child_digest: amd.digest, platform: { architecture: 'amd64', os: 'linux' } },
      { child_digest: arm.digest, platform: { architecture: 'arm64', os: 'linux' } },
    ]);
    // a child is there by digest, and cannot be deleted while its index is
    expect((await call(w, 'GET', `${R}/multi/artifacts/${arm.digest}`, { auth: admin })).json.extra_attrs.architecture).toBe('arm64');
    await unchanged(w, async () => {
      expectStatus(await call(w, 'DELETE', `${R}/multi/artifacts/${arm.digest}`, { auth: admin }), 412, 'PRECONDITION');
    });
  });

  it('tags: list, create (409 when taken), delete', async () => {
    const T = `${R}/app/artifacts/${app.digest}/tags`;
    const c = await call(w, 'POST', T, { auth: carol.auth, json: { name: 'v2' } });
    expectStatus(c, 201);
    expect(c.headers.get('location')).toContain('/tags/v2');
    const l = await call(w, 'GET', T, { auth: admin });
    expect(l.headers.get('x-total-count')).toBe('2');
    expect((l.json as any[]).map((t) => t.name)).toEqual(['v1', 'v2']);
    expectStatus(await call(w, 'GET', `/v2/${P}/app/manifests/v2`, { auth: admin, headers: { Accept: MT_MANIFEST } }), 200);
    await unchanged(w, async () => {
      expectStatus(await call(w, 'POST', T, { auth: admin, json: { name: 'v2' } }), 409, 'CONFLICT');
      // a tag in use on another artifact of the repository
      expectStatus(await call(w, 'POST', `${R}/multi/artifacts/${amd.digest}/tags`, { auth: admin, json: { name: 'latest' } }), 409, 'CONFLICT');
      for (const name of ['-bad', '.bad', 'a'.repeat(129), 'sp ace', '', 7]) {
        const r = await call(w, 'POST', T, { auth: admin, json: { name } });
        if (r.status !== 400) throw new Error(`tag ${JSON.stringify(name)} -> ${r.status}`);
      }
      expectStatus(await call(w, 'POST', T, { auth: admin, json: {} }), 400);
      expectStatus(await call(w, 'POST', `${R}/app/artifacts/sha256:${'0'.repeat(64)}/tags`, { auth: admin, json: { name: 'v3' } }), 404);
      // developer may create tags but not delete them (Harbor's roles)
      expectStatus(await call(w, 'DELETE', `${T}/v2`, { auth: carol.auth }), 403, 'FORBIDDEN');
      expectStatus(await call(w, 'DELETE', `${T}/nope`, { auth: admin }), 404);
      expectStatus(await call(w, 'DELETE', `${R}/multi/artifacts/${indexDigest}/tags/v1`, { auth: admin }), 404);
    });
    expectStatus(await call(w, 'DELETE', `${T}/v2`, { auth: admin }), 200);
    expectStatus(await call(w, 'GET', `/v2/${P}/app/manifests/v2`, { auth: admin, headers: { Accept: MT_MANIFEST } }), 404);
    expect((await call(w, 'GET', T, { auth: admin })).json.map((t: any) => t.name)).toEqual(['v1']);
  });

  it('personal access tokens reach image content through the API only with the registry scope', async () => {
    const pat = async (who: { username: string; password: string }, name: string, scopes: string[]) => {
      const r = await call(w, 'POST', `${API}/users/current/tokens`, { auth: who, json: { name, scopes } });
      expectStatus(r, 201);
      return { username: who.username, password: r.json.token as string };
    };
    const T = `${R}/app/artifacts/${app.digest}/tags`;
    // reading artifacts (with their config's extra_attrs) and tags: pull
    const readNoPull = await pat(carol.auth, 'read-no-pull', ['api:read']);
    const readPull = await pat(carol.auth, 'read-pull', ['api:read', 'pull']);
    for (const u of [`${R}/app/artifacts`, `${R}/app/artifacts/v1`, T]) {
      expectStatus(await call(w, 'GET', u, { auth: readNoPull }), 403, 'FORBIDDEN');
      expectStatus(await call(w, 'GET', u, { auth: readPull }), 200);
    }
    expect((await call(w, 'GET', `${R}/app/artifacts/v1`, { auth: readPull })).json.extra_attrs.architecture).toBe('amd64');
    // tagging: push
    const writeNoPush = await pat(carol.auth, 'write-no-push', ['api:write', 'pull']);
    const writePush = await pat(carol.auth, 'write-push', ['api:write', 'push']);
    await unchanged(w, async () => {
      expectStatus(await call(w, 'POST', T, { auth: writeNoPush, json: { name: 'via-pat' } }), 403, 'FORBIDDEN');
    });
    expectStatus(await call(w, 'POST', T, { auth: writePush, json: { name: 'via-pat' } }), 201);
    // deleting tags, artifacts, repositories: delete (the admin's tokens: the role allows it all)
    const adminNoDelete = await pat(admin, 'no-delete', ['api:write', 'pull', 'push']);
    const adminDelete = await pat(admin, 'with-delete', ['api:write', 'delete']);
    await unchanged(w, async () => {
      expectStatus(await call(w, 'DELETE', `${T}/via-pat`, { auth: adminNoDelete }), 403, 'FORBIDDEN');
      expectStatus(await call(w, 'DELETE', `${R}/app/artifacts/${app.digest}`, { auth: adminNoDelete }), 403, 'FORBIDDEN');
      expectStatus(await call(w, 'DELETE', `${R}/app`, { auth: adminNoDelete }), 403, 'FORBIDDEN');
    });
    expectStatus(await call(w, 'DELETE', `${T}/via-pat`, { auth: adminDelete }), 200);
    expect((await call(w, 'GET', T, { auth: admin })).json.map((t: any) => t.name)).toEqual(['v1']);
  });

  it('a project with repositories cannot be deleted (412)', async () => {
    await unchanged(w, async () => {
      expectStatus(await call(w, 'DELETE', `${API}/projects/${P}`, { auth: admin }), 412, 'PRECONDITION');
    });
  });

  it('deleting an artifact removes manifest and tags (also from /v2)', async () => {
    expectStatus(await call(w, 'DELETE', `${R}/a%252Fb/artifacts/${app.digest}`, { auth: carol.auth }), 403, 'FORBIDDEN');
    expectStatus(await call(w, 'DELETE', `${R}/a%252Fb/artifacts/v1`, { auth: admin }), 200);
    expectStatus(await call(w, 'GET', `/v2/${P}/a/b/manifests/${app.digest}`, { auth: admin, headers: { Accept: MT_MANIFEST } }), 404);
    expectStatus(await call(w, 'GET', `/v2/${P}/a/b/manifests/v1`, { auth: admin, headers: { Accept: MT_MANIFEST } }), 404);
    expectStatus(await call(w, 'GET', `${R}/a%252Fb/artifacts/${app.digest}`, { auth: admin }), 404);
    expect((await call(w, 'GET', `${R}/a%252Fb/artifacts`, { auth: admin })).headers.get('x-total-count')).toBe('0');
    // the same manifest in another repository is untouched
    expectStatus(await call(w, 'GET', `/v2/${P}/app/manifests/${app.digest}`, { auth: admin, headers: { Accept: MT_MANIFEST } }), 200);
    // deleting an index takes its untagged children along
    expectStatus(await call(w, 'DELETE', `${R}/multi/artifacts/latest`, { auth: admin }), 200);
    for (const d of [indexDigest, amd.digest, arm.digest]) {
      expectStatus(await call(w, 'GET', `/v2/${P}/multi/manifests/${d}`, { auth: admin, headers: { Accept: `${MT_MANIFEST}, ${MT_INDEX}` } }), 404);
    }
  });

  it('deleting repositories; then the project', async () => {
    expectStatus(await call(w, 'DELETE', `${R}/app`, { auth: carol.auth }), 403, 'FORBIDDEN');
    expectStatus(await call(w, 'DELETE', `${R}/nope`, { auth: admin }), 404);
    expectStatus(await call(w, 'DELETE', `${R}/a%252Fb`, { auth: admin }), 200);
    expectStatus(await call(w, 'GET', `${R}/a%252Fb`, { auth: admin }), 404);
    expect((await call(w, 'GET', R, { auth: admin })).json.map((x: any) => x.name)).toEqual([`${P}/app`, `${P}/multi`]);
    expectStatus(await call(w, 'DELETE', `${R}/app`, { auth: admin }), 200);
    expectStatus(await call(w, 'GET', `/v2/${P}/app/manifests/v1`, { auth: admin, headers: { Accept: MT_MANIFEST } }), 404);
    expectStatus(await call(w, 'GET', `/v2/${P}/app/blobs/${sha256(app.config)}`, { auth: admin }), 404);
    expectStatus(await call(w, 'DELETE', `${R}/multi`, { auth: admin }), 200);
    expect((await call(w, 'GET', `${API}/projects/${P}/summary`, { auth: admin })).json).toMatchObject({ repo_count: 0, quota: { used: { storage: 0 } } });
    expectStatus(await call(w, 'DELETE', `${API}/projects/${P}`, { auth: admin }), 200);
    expectStatus(await call(w, 'GET', `${API}/projects/${P}`, { auth: admin }), 404);
  });

  it('audits creations and deletions with the project id', async () => {
    const want = [
      ['create', 'project', P],
      ['create', 'member', `${P}/carol`],
      ['create', 'tag', `${P}/app:v2`],
      ['delete', 'tag', `${P}/app:v2`],
      ['delete', 'artifact', `${P}/a/b@${app.digest}`],
      ['delete', 'repository', `${P}/a/b`],
      ['delete', 'project', P],
    ];
    let rows: { operation: string; resource_type: string; resource: string; project_id: number | null }[] = [];
    for (let i = 0; i < 40; i++) {
      const db = new Database(path.join(w.dataDir, 'wharf.db'), { readonly: true, fileMustExist: true });
      try {
        rows = db.prepare('select operation, resource_type, resource, project_id from audit_logs').all() as typeof rows;
      } finally {
        db.close();
      }
      if (want.every(([op, t, res]) => rows.some((r) => r.operation === op && r.resource_type === t && r.resource === res))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const [op, t, res] of want) {
      const row = rows.find((r) => r.operation === op && r.resource_type === t && r.resource === res);
      expect(row, `${op} ${t} ${res}`).toBeDefined();
      expect(Number(row!.project_id)).toBe(shopId);
    }
  });
});
