// Harbor's users, robots and audit-log APIs and Wharf's personal access tokens, against a real
// Wharf process: happy paths, Harbor's status codes (201 + Location, 400, 401, 403, 404, 409),
// secrets shown once and never again, and revocation taking effect on the very next request
// (deleted users and tokens, changed passwords, refreshed and disabled robots).
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startWharf, type RunningRegistry } from '../helpers/servers.ts';

const ADMIN_PW = 'Wharf-Test-Admin-1';
const API = '/api/v2.0';

let w: RunningRegistry;

type Auth = string | undefined;
const basic = (u: string, p: string): Auth => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');
const ADMIN = basic('admin', ADMIN_PW);

interface Resp {
  status: number;
  headers: Headers;
  text: string;
  json(): any;
}

async function call(method: string, p: string, o: { auth?: Auth; json?: unknown; body?: string; headers?: Record<string, string> } = {}): Promise<Resp> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.auth) headers.Authorization = o.auth;
  let body: string | undefined = o.body;
  if (o.json !== undefined) {
    body = JSON.stringify(o.json);
    headers['Content-Type'] = 'application/json';
  }
  const r = await fetch(w.url + p, { method, headers, body });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: () => JSON.parse(text) };
}

function show(r: Resp): string {
  return `${r.status} ${r.text.slice(0, 300)}`;
}

/** expect a status, and Harbor's error envelope with the matching code for 4xx */
function expectStatus(r: Resp, status: number): Resp {
  expect(r.status, show(r)).toBe(status);
  const codes: Record<number, string> = { 400: 'BAD_REQUEST', 401: 'UNAUTHORIZED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 409: 'CONFLICT' };
  if (codes[status]) expect(r.json().errors?.[0]?.code, show(r)).toBe(codes[status]);
  return r;
}

function idFromLocation(r: Resp, prefix: string): number {
  const loc = r.headers.get('location') ?? '';
  const m = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/(\\d+)$`).exec(loc);
  expect(m, `Location ${loc}`).not.toBeNull();
  return Number(m![1]);
}

function db() {
  return new Database(path.join(w.dataDir, 'wharf.db'), { fileMustExist: true });
}

async function createUser(username: string, password: string, extra: Record<string, unknown> = {}): Promise<number> {
  const r = expectStatus(await call('POST', `${API}/users`, { auth: ADMIN, json: { username, email: `${username}@example.com`, realname: username, password, ...extra } }), 201);
  return idFromLocation(r, `${API}/users`);
}

/** A private project through the projects API (or, should that not be there, straight in the database). */
async function createProject(name: string): Promise<number> {
  const r = await call('POST', `${API}/projects`, { auth: ADMIN, json: { project_name: name, metadata: { public: 'false' } } });
  if (r.status === 201) return idFromLocation(r, `${API}/projects`);
  const d = db();
  try {
    const t = Date.now();
    const row = d.prepare(`insert into projects (name, owner_id, public, metadata, created_at, updated_at) values (?, 1, 0, '{"public":"false"}', ?, ?) returning id`).get(name, t, t) as { id: number };
    d.prepare(`insert into project_members (project_id, user_id, role_id, created_at, updated_at) values (?, 1, 1, ?, ?)`).run(row.id, t, t);
    return row.id;
  } finally {
    d.close();
  }
}

async function addMember(project: string, projectId: number, userId: number, username: string, roleId: number): Promise<void> {
  const r = await call('POST', `${API}/projects/${project}/members`, { auth: ADMIN, json: { role_id: roleId, member_user: { username } } });
  if (r.status === 201) return;
  const d = db();
  try {
    const t = Date.now();
    d.prepare(`insert into project_members (project_id, user_id, role_id, created_at, updated_at) values (?, ?, ?, ?, ?)`).run(projectId, userId, roleId, t, t);
  } finally {
    d.close();
  }
}

async function login(username: string, password: string): Promise<{ cookie: string; csrf: string }> {
  const r = await fetch(`${w.url}/c/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ principal: username, password }) });
  expect(r.status).toBe(200);
  const set = r.headers.getSetCookie();
  const cookie = set.map((c) => c.split(';')[0]).join('; ');
  const csrf = set.find((c) => c.startsWith('__csrf='))!.split(';')[0].split('=')[1];
  return { cookie, csrf };
}

const v2 = (auth: Auth) => call('GET', '/v2/', { auth });

// Every secret handed out, to check that no later answer ever contains one.
const secrets = new Set<string>();

const PW = { alice: 'Alice-Passw0rd', bob: 'Bob-Passw0rd1', carol: 'Carol-Passw0rd', dave: 'Dave-Passw0rd1' };
const ids = { alice: 0, bob: 0, carol: 0, dave: 0 };
let projectId = 0;
const PROJECT = 'robotics';

beforeAll(async () => {
  w = await startWharf({ env: { WHARF_ADMIN_PASSWORD: ADMIN_PW, WHARF_LOGIN_MAX_FAILURES: '200' } });
  for (const [name, pw] of Object.entries(PW)) {
    ids[name as keyof typeof ids] = await createUser(name, pw);
    secrets.add(pw);
  }
  projectId = await createProject(PROJECT);
  await addMember(PROJECT, projectId, ids.alice, 'alice', 1); // Project Admin
  await addMember(PROJECT, projectId, ids.bob, 'bob', 2); // Developer: robot read/list only
});

afterAll(async () => {
  await w?.stop();
});

// ---------------------------------------------------------------------------------------------

describe('users', () => {
  test('POST /users: 201 + Location; 409 on a duplicate name or e-mail; 400 on bad input; admin only', async () => {
    const r = expectStatus(await call('POST', `${API}/users`, { auth: ADMIN, json: { username: 'erin', email: 'erin@example.com', realname: 'Erin', password: 'Erin-Passw0rd', comment: 'x' } }), 201);
    const id = idFromLocation(r, `${API}/users`);
    const got = expectStatus(await call('GET', `${API}/users/${id}`, { auth: ADMIN }), 200).json();
    expect(got).toMatchObject({ user_id: id, username: 'erin', email: 'erin@example.com', realname: 'Erin', comment: 'x', sysadmin_flag: false });

    expectStatus(await call('POST', `${API}/users`, { auth: ADMIN, json: { username: 'erin', email: 'erin2@example.com', realname: 'E', password: 'Erin-Passw0rd' } }), 409);
    expectStatus(await call('POST', `${API}/users`, { auth: ADMIN, json: { username: 'erin2', email: 'ERIN@example.com', realname: 'E', password: 'Erin-Passw0rd' } }), 409);

    const good = { email: 'x@example.com', realname: 'X', password: 'Good-Passw0rd' };
    for (const bad of [
      { ...good, username: '' },
      { ...good, username: 'robot$sneaky' },
      { ...good, username: 'a,b' },
      { ...good, username: 'a~b' },
      { ...good, username: 'a#b' },
      { ...good, username: 'a%b' },
      { ...good, username: 'a"b' },
      { ...good, username: 'a:b' },
      { ...good, username: 'x'.repeat(256) },
      { ...good, username: 42 },
      { ...good, username: 'weak', password: 'password' },
      { ...good, username: 'weak', password: 'Short1' },
      { ...good, username: 'weak', password: undefined },
      { ...good, username: 'patlike', password: 'wpat_1_AAAAAAAAAAAAAAAAAAAAAAAAAAa1' },
      { ...good, username: 'noemail', email: undefined },
      { ...good, username: 'bademail', email: 'not-an-email' },
      { ...good, username: 'norealname', realname: '' },
      { ...good, username: 'longcomment', comment: 'c'.repeat(31) },
    ]) {
      const res = await call('POST', `${API}/users`, { auth: ADMIN, json: bad });
      expect(res.status, `${JSON.stringify(bad).slice(0, 80)} → ${show(res)}`).toBe(400);
    }
    expectStatus(await call('POST', `${API}/users`, { auth: ADMIN, body: 'not json', headers: { 'Content-Type': 'application/json' } }), 400);
    expectStatus(await call('POST', `${API}/users`, { auth: ADMIN, body: '', headers: { 'Content-Type': 'application/json' } }), 400);
    // JSON only (a cross-site form cannot send application/json without a preflight)
    const form = await call('POST', `${API}/users`, { auth: ADMIN, body: JSON.stringify({ ...good, username: 'viaform' }), headers: { 'Content-Type': 'text/plain' } });
    expect(form.status, show(form)).toBe(415);
    // 255 characters is fine
    await createUser('u'.repeat(255), 'Long-Passw0rd', { email: 'long@example.com' });

    expectStatus(await call('POST', `${API}/users`, { auth: basic('alice', PW.alice), json: { ...good, username: 'byalice' } }), 403);
    expectStatus(await call('POST', `${API}/users`, { json: { ...good, username: 'byanon' } }), 401);
    expectStatus(await call('POST', `${API}/users`, { auth: basic('admin', 'Wrong-Passw0rd'), json: { ...good, username: 'bywrong' } }), 401);
  });

  test('GET /users: admin only, paged with X-Total-Count, q=username=<exact> and username=~<fuzzy>', async () => {
    const all = expectStatus(await call('GET', `${API}/users?page_size=100`, { auth: ADMIN }), 200);
    const total = Number(all.headers.get('x-total-count'));
    expect(total).toBeGreaterThanOrEqual(5);
    const names = all.json().map((u: any) => u.username);
    expect(names).toEqual(expect.arrayContaining(['admin', 'alice', 'bob', 'carol', 'dave']));
    for (const u of all.json()) {
      expect(Object.keys(u).sort()).toEqual(['admin_role_in_auth', 'comment', 'creation_time', 'email', 'realname', 'sysadmin_flag', 'update_time', 'user_id', 'username']);
    }

    const exact = expectStatus(await call('GET', `${API}/users?q=${encodeURIComponent('username=alice')}`, { auth: ADMIN }), 200);
    expect(exact.json().map((u: any) => u.username)).toEqual(['alice']);
    expect(exact.headers.get('x-total-count')).toBe('1');
    const fuzzy = expectStatus(await call('GET', `${API}/users?q=${encodeURIComponent('username=~aro')}`, { auth: ADMIN }), 200);
    expect(fuzzy.json().map((u: any) => u.username)).toEqual(['carol']);
    // q encoded twice, as some clients do
    const twice = expectStatus(await call('GET', `${API}/users?q=${encodeURIComponent(encodeURIComponent('username=~ali'))}`, { auth: ADMIN }), 200);
    expect(twice.json().map((u: any) => u.username)).toEqual(['alice']);

    const p1 = expectStatus(await call('GET', `${API}/users?page=1&page_size=2`, { auth: ADMIN }), 200);
    expect(p1.json()).toHaveLength(2);
    expect(Number(p1.headers.get('x-total-count'))).toBe(total);
    expect(p1.headers.get('link')).toContain('rel="next"');

    expectStatus(await call('GET', `${API}/users?q=username`, { auth: ADMIN }), 400);
    expectStatus(await call('GET', `${API}/users?q=${encodeURIComponent('password=x')}`, { auth: ADMIN }), 400);
    expectStatus(await call('GET', `${API}/users?page=0`, { auth: ADMIN }), 400);
    expectStatus(await call('GET', `${API}/users`, { auth: basic('alice', PW.alice) }), 403);
    expectStatus(await call('GET', `${API}/users`), 401);
  });

  test('GET /users/current and /users/{id}: the caller, or anyone for the admin; 403 for others, 404 for no such user', async () => {
    const me = expectStatus(await call('GET', `${API}/users/current`, { auth: basic('alice', PW.alice) }), 200).json();
    expect(me).toMatchObject({ user_id: ids.alice, username: 'alice', email: 'alice@example.com', sysadmin_flag: false });
    expect(me).not.toHaveProperty('password');
    const adm = expectStatus(await call('GET', `${API}/users/current`, { auth: ADMIN }), 200).json();
    expect(adm).toMatchObject({ user_id: 1, username: 'admin', sysadmin_flag: true });
    expectStatus(await call('GET', `${API}/users/current`), 401);

    expectStatus(await call('GET', `${API}/users/${ids.alice}`, { auth: basic('alice', PW.alice) }), 200);
    expectStatus(await call('GET', `${API}/users/${ids.alice}`, { auth: ADMIN }), 200);
    expectStatus(await call('GET', `${API}/users/${ids.alice}`, { auth: basic('bob', PW.bob) }), 403);
    expectStatus(await call('GET', `${API}/users/${ids.alice}`), 401);
    expectStatus(await call('GET', `${API}/users/999999`, { auth: ADMIN }), 404);
    expectStatus(await call('GET', `${API}/users/999999`, { auth: basic('bob', PW.bob) }), 403);
    expectStatus(await call('GET', `${API}/users/abc`, { auth: ADMIN }), 400);
    // ids longer than 15 digits never reach the database (PostgreSQL would fail on the bigint)
    expectStatus(await call('GET', `${API}/users/12345678901234567890`, { auth: ADMIN }), 400);
    expectStatus(await call('PUT', `${API}/users/12345678901234567890/password`, { auth: ADMIN, json: { new_password: 'Some-Passw0rd1' } }), 400);
    expectStatus(await call('PUT', `${API}/users/12345678901234567890/sysadmin`, { auth: ADMIN, json: { sysadmin_flag: true } }), 400);
    expectStatus(await call('DELETE', `${API}/users/12345678901234567890`, { auth: ADMIN }), 400);
    expectStatus(await call('GET', `${API}/users/0`, { auth: ADMIN }), 400);
  });

  test('PUT /users/{id}: the user or the admin edits email, realname, comment', async () => {
    expectStatus(await call('PUT', `${API}/users/${ids.dave}`, { auth: basic('dave', PW.dave), json: { realname: 'Dave D', comment: 'hello' } }), 200);
    expect(expectStatus(await call('GET', `${API}/users/current`, { auth: basic('dave', PW.dave) }), 200).json()).toMatchObject({ realname: 'Dave D', comment: 'hello', email: 'dave@example.com' });
    expectStatus(await call('PUT', `${API}/users/${ids.dave}`, { auth: ADMIN, json: { email: 'dave2@example.com', realname: 'Dave', comment: '' } }), 200);
    expect(expectStatus(await call('GET', `${API}/users/${ids.dave}`, { auth: ADMIN }), 200).json()).toMatchObject({ realname: 'Dave', email: 'dave2@example.com', comment: '' });
    expectStatus(await call('PUT', `${API}/users/${ids.dave}`, { auth: basic('dave', PW.dave), json: { email: 'bad' } }), 400);
    expectStatus(await call('PUT', `${API}/users/${ids.dave}`, { auth: basic('dave', PW.dave), json: { realname: 12 } }), 400);
    expectStatus(await call('PUT', `${API}/users/${ids.dave}`, { auth: basic('dave', PW.dave), json: { email: 'bob@example.com' } }), 409);
    expectStatus(await call('PUT', `${API}/users/${ids.dave}`, { auth: basic('bob', PW.bob), json: { realname: 'hacked' } }), 403);
    expectStatus(await call('PUT', `${API}/users/${ids.dave}`, { json: { realname: 'hacked' } }), 401);
    expectStatus(await call('PUT', `${API}/users/999999`, { auth: ADMIN, json: { realname: 'x' } }), 404);
  });

  test('GET /users/search: any logged-in caller, fuzzy, only id and name', async () => {
    const r = expectStatus(await call('GET', `${API}/users/search?username=ali`, { auth: basic('bob', PW.bob) }), 200);
    expect(r.json()).toEqual([{ user_id: ids.alice, username: 'alice' }]);
    expect(r.headers.get('x-total-count')).toBe('1');
    expectStatus(await call('GET', `${API}/users/search`, { auth: basic('bob', PW.bob) }), 400);
    expectStatus(await call('GET', `${API}/users/search?username=ali`), 401);
  });

  test('PUT /users/{id}/password: yourself with the old password; the admin resets others; takes effect at once', async () => {
    const carol = basic('carol', PW.carol);
    // a portal session of carol's, to see it end with the password change
    const s = await login('carol', PW.carol);
    expectStatus(await call('GET', `${API}/users/current`, { headers: { cookie: s.cookie } }), 200);

    const url = `${API}/users/${ids.carol}/password`;
    // a personal access token is not the password: it cannot replace it, even with the old one
    const cpat = expectStatus(await call('POST', `${API}/users/current/tokens`, { auth: carol, json: { name: 'pw-changer', scopes: ['api:read', 'api:write'] } }), 201).json();
    secrets.add(cpat.token);
    expectStatus(await call('PUT', url, { auth: basic('carol', cpat.token), json: { old_password: PW.carol, new_password: 'Carol-Pat-Pass1' } }), 403);
    expect((await v2(carol)).status).toBe(200);
    expectStatus(await call('PUT', url, { auth: carol, json: { old_password: 'Wrong-Passw0rd', new_password: 'Carol-New-Pass1' } }), 403); // Harbor: 403 "current password is incorrect"
    expectStatus(await call('PUT', url, { auth: carol, json: { new_password: 'Carol-New-Pass1' } }), 403);
    expectStatus(await call('PUT', url, { auth: carol, json: { old_password: PW.carol, new_password: 'weak' } }), 400);
    expectStatus(await call('PUT', url, { auth: carol, json: { old_password: PW.carol, new_password: PW.carol } }), 400);
    expectStatus(await call('PUT', url, { auth: carol, json: { old_password: PW.carol } }), 400);
    expectStatus(await call('PUT', url, { auth: basic('bob', PW.bob), json: { old_password: PW.carol, new_password: 'Carol-New-Pass1' } }), 403);
    expectStatus(await call('PUT', url, { json: { new_password: 'Carol-New-Pass1' } }), 401);
    expectStatus(await call('PUT', `${API}/users/999999/password`, { auth: ADMIN, json: { new_password: 'Carol-New-Pass1' } }), 404);

    expectStatus(await call('PUT', url, { auth: carol, json: { old_password: PW.carol, new_password: 'Carol-New-Pass1' } }), 200);
    secrets.add('Carol-New-Pass1');
    // the old password, the old session: gone at once
    expectStatus(await call('GET', `${API}/users/current`, { auth: carol }), 401);
    expect((await v2(carol)).status).toBe(401);
    expectStatus(await call('GET', `${API}/users/current`, { headers: { cookie: s.cookie } }), 401);
    expect((await v2(basic('carol', 'Carol-New-Pass1'))).status).toBe(200);

    // the admin resets it without the old one
    expectStatus(await call('PUT', url, { auth: ADMIN, json: { new_password: 'Carol-Reset-Pass2' } }), 200);
    secrets.add('Carol-Reset-Pass2');
    expect((await v2(basic('carol', 'Carol-New-Pass1'))).status).toBe(401);
    expect((await v2(basic('carol', 'Carol-Reset-Pass2'))).status).toBe(200);
    PW.carol = 'Carol-Reset-Pass2';

    // the admin changing their own password needs the old one too
    expectStatus(await call('PUT', `${API}/users/1/password`, { auth: ADMIN, json: { new_password: 'Other-Admin-Pass1' } }), 403);
  });

  test('PUT /users/{id}/sysadmin: admin only, not yourself; takes effect at once', async () => {
    const bob = basic('bob', PW.bob);
    expectStatus(await call('GET', `${API}/users`, { auth: bob }), 403);
    expectStatus(await call('PUT', `${API}/users/${ids.bob}/sysadmin`, { auth: ADMIN, json: { sysadmin_flag: true } }), 200);
    expectStatus(await call('GET', `${API}/users`, { auth: bob }), 200);
    expect(expectStatus(await call('GET', `${API}/users/current`, { auth: bob }), 200).json().sysadmin_flag).toBe(true);
    expectStatus(await call('PUT', `${API}/users/${ids.bob}/sysadmin`, { auth: bob, json: { sysadmin_flag: false } }), 403); // not yourself
    expectStatus(await call('PUT', `${API}/users/1/sysadmin`, { auth: bob, json: { sysadmin_flag: false } }), 403); // not admin
    expectStatus(await call('PUT', `${API}/users/${ids.bob}/sysadmin`, { auth: ADMIN, json: { sysadmin_flag: false } }), 200);
    expectStatus(await call('GET', `${API}/users`, { auth: bob }), 403);
    expectStatus(await call('PUT', `${API}/users/1/sysadmin`, { auth: ADMIN, json: { sysadmin_flag: false } }), 403);
    expectStatus(await call('PUT', `${API}/users/${ids.bob}/sysadmin`, { auth: ADMIN, json: { sysadmin_flag: 'yes' } }), 400);
    expectStatus(await call('PUT', `${API}/users/999999/sysadmin`, { auth: ADMIN, json: { sysadmin_flag: true } }), 404);
    expectStatus(await call('PUT', `${API}/users/${ids.dave}/sysadmin`, { auth: basic('alice', PW.alice), json: { sysadmin_flag: true } }), 403);
  });

  test('DELETE /users/{id}: admin only, never yourself or admin; the credentials stop working at once', async () => {
    const frank = await createUser('frank', 'Frank-Passw0rd');
    secrets.add('Frank-Passw0rd');
    const fb = basic('frank', 'Frank-Passw0rd');
    expect((await v2(fb)).status).toBe(200);
    const pat = expectStatus(await call('POST', `${API}/users/current/tokens`, { auth: fb, json: { name: 'f', scopes: ['pull'] } }), 201).json().token;
    secrets.add(pat);
    expect((await v2(basic('frank', pat))).status).toBe(200);

    expectStatus(await call('DELETE', `${API}/users/1`, { auth: ADMIN }), 403);
    expectStatus(await call('DELETE', `${API}/users/${frank}`, { auth: basic('alice', PW.alice) }), 403);
    expectStatus(await call('DELETE', `${API}/users/${frank}`), 401);
    expectStatus(await call('DELETE', `${API}/users/${frank}`, { auth: ADMIN }), 200);
    expect((await v2(fb)).status).toBe(401);
    expect((await v2(basic('frank', pat))).status).toBe(401);
    expectStatus(await call('GET', `${API}/users/current`, { auth: fb }), 401);
    expectStatus(await call('GET', `${API}/users/${frank}`, { auth: ADMIN }), 404);
    expectStatus(await call('DELETE', `${API}/users/${frank}`, { auth: ADMIN }), 404);
    // the name is free again; the new frank does not inherit anything
    await createUser('frank', 'Frank-Passw0rd2');
    expect((await v2(basic('frank', pat))).status).toBe(401);
  });
});

// ---------------------------------------------------------------------------------------------

describe('personal access tokens', () => {
  const alice = () => basic('alice', PW.alice);

  test('create (shown once), log in with it on /v2, list without values, scopes enforced on the API', async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = expectStatus(await call('POST', `${API}/users/current/tokens`, { auth: alice(), json: { name: 'ci', scopes: ['pull', 'api:read', 'pull'], duration: 7 } }), 201);
    const t = r.json();
    const id = idFromLocation(r, `${API}/users/current/tokens`);
    expect(t.id).toBe(id);
    expect(t.name).toBe('ci');
    expect(t.scopes).toEqual(['pull', 'api:read']);
    expect(t.token).toMatch(new RegExp(`^wpat_${id}_[A-Za-z0-9_-]{20,}$`));
    expect(t.expires_at).toBeGreaterThanOrEqual(before + 7 * 86400 - 5);
    expect(t.expires_at).toBeLessThanOrEqual(before + 7 * 86400 + 60);
    expect(typeof t.creation_time).toBe('string');
    secrets.add(t.token);
    const pat = basic('alice', t.token);

    expect((await v2(pat)).status).toBe(200);
    // the token only works with its own user name
    expect((await v2(basic('bob', t.token))).status).toBe(401);
    // API with api:read: reading works, writing does not, minting more tokens does not
    expectStatus(await call('GET', `${API}/users/current`, { auth: pat }), 200);
    expectStatus(await call('PUT', `${API}/users/${ids.alice}`, { auth: pat, json: { comment: 'via pat' } }), 403);
    expectStatus(await call('POST', `${API}/users/current/tokens`, { auth: pat, json: { name: 'child', scopes: ['pull'] } }), 403);

    const list = expectStatus(await call('GET', `${API}/users/current/tokens`, { auth: alice() }), 200);
    expect(list.text).not.toContain(t.token);
    const ci = list.json().find((x: any) => x.name === 'ci');
    expect(ci).toMatchObject({ id, name: 'ci', scopes: ['pull', 'api:read'], expires_at: t.expires_at, expired: false });
    expect(ci).not.toHaveProperty('token');
    expect(ci).not.toHaveProperty('token_hash');
    // other users do not see it
    expect(expectStatus(await call('GET', `${API}/users/current/tokens`, { auth: basic('bob', PW.bob) }), 200).json().some((x: any) => x.id === id)).toBe(false);

    // a token without api:read cannot use the API at all
    const pullOnly = expectStatus(await call('POST', `${API}/users/current/tokens`, { auth: alice(), json: { name: 'pull-only', scopes: ['pull'] } }), 201).json();
    secrets.add(pullOnly.token);
    expectStatus(await call('GET', `${API}/users/current`, { auth: basic('alice', pullOnly.token) }), 403);
    expect((await v2(basic('alice', pullOnly.token))).status).toBe(200);
  });

  test('durations: default 30 days, -1 never; bad input → 400; duplicate name → 409; robots and anonymous cannot manage tokens', async () => {
    const now = Math.floor(Date.now() / 1000);
    const d30 = expectStatus(await call('POST', `${API}/users/current/tokens`, { auth: alice(), json: { name: 'default', scopes: ['push'] } }), 201).json();
    secrets.add(d30.token);
    expect(Math.abs(d30.expires_at - (now + 30 * 86400))).toBeLessThan(60);
    const never = expectStatus(await call('POST', `${API}/users/current/tokens`, { auth: alice(), json: { name: 'forever', scopes: ['api:write'], duration: -1 } }), 201).json();
    secrets.add(never.token);
    expect(never.expires_at).toBe(-1);

    expectStatus(await call('POST', `${API}/users/current/tokens`, { auth: alice(), json: { name: 'default', scopes: ['pull'] } }), 409);
    for (const bad of [
      { scopes: ['pull'] },
      { name: '', scopes: ['pull'] },
      { name: 'x'.repeat(129), scopes: ['pull'] },
      { name: 'x', scopes: [] },
      { name: 'x' },
      { name: 'x', scopes: 'pull' },
      { name: 'x', scopes: ['admin'] },
      { name: 'x', scopes: ['pull'], duration: 'long' },
      { name: 'x', scopes: ['pull'], duration: -5 },
      { name: 'x', scopes: ['pull'], duration: 1.5 },
    ]) {
      const res = await call('POST', `${API}/users/current/tokens`, { auth: alice(), json: bad });
      expect(res.status, `${JSON.stringify(bad).slice(0, 60)} → ${show(res)}`).toBe(400);
    }
    expectStatus(await call('POST', `${API}/users/current/tokens`, { json: { name: 'anon', scopes: ['pull'] } }), 401);
    expectStatus(await call('GET', `${API}/users/current/tokens`), 401);
  });

  test('DELETE revokes at once; an expired token is refused', async () => {
    const t = expectStatus(await call('POST', `${API}/users/current/tokens`, { auth: alice(), json: { name: 'short', scopes: ['pull'] } }), 201).json();
    secrets.add(t.token);
    expect((await v2(basic('alice', t.token))).status).toBe(200);
    expectStatus(await call('DELETE', `${API}/users/current/tokens/${t.id}`, { auth: basic('bob', PW.bob) }), 404);
    expectStatus(await call('DELETE', `${API}/users/current/tokens/${t.id}`), 401);
    expectStatus(await call('DELETE', `${API}/users/current/tokens/${t.id}`, { auth: alice() }), 200);
    expect((await v2(basic('alice', t.token))).status).toBe(401);
    expectStatus(await call('DELETE', `${API}/users/current/tokens/${t.id}`, { auth: alice() }), 404);
    expectStatus(await call('DELETE', `${API}/users/current/tokens/xyz`, { auth: alice() }), 400);
    expectStatus(await call('DELETE', `${API}/users/current/tokens/12345678901234567890`, { auth: alice() }), 400);

    // expire a token (never used before) behind the server's back
    const e = expectStatus(await call('POST', `${API}/users/current/tokens`, { auth: alice(), json: { name: 'expiring', scopes: ['pull'] } }), 201).json();
    secrets.add(e.token);
    const d = db();
    try {
      d.prepare('update access_tokens set expires_at = ? where id = ?').run(Date.now() - 1000, e.id);
    } finally {
      d.close();
    }
    expect((await v2(basic('alice', e.token))).status).toBe(401);
    const listed = expectStatus(await call('GET', `${API}/users/current/tokens`, { auth: alice() }), 200).json().find((x: any) => x.id === e.id);
    expect(listed.expired).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

describe('robots', () => {
  const alice = () => basic('alice', PW.alice);
  const bob = () => basic('bob', PW.bob);
  const dave = () => basic('dave', PW.dave);
  const projectRobot = (name: string, access: { resource: string; action: string }[], extra: Record<string, unknown> = {}) => ({
    name,
    description: 'test robot',
    level: 'project',
    permissions: [{ kind: 'project', namespace: PROJECT, access }],
    ...extra,
  });
  const PULL_PUSH = [
    { resource: 'repository', action: 'pull' },
    { resource: 'repository', action: 'push' },
  ];
  let builder: { id: number; name: string; secret: string };
  let sys: { id: number; name: string; secret: string };

  test('POST /robots: project robots by the project admin, system robots by the system admin; 201 + Location, secret once', async () => {
    const now = Math.floor(Date.now() / 1000);
    const r = expectStatus(await call('POST', `${API}/robots`, { auth: alice(), json: projectRobot('builder', PULL_PUSH) }), 201);
    const j = r.json();
    expect(Object.keys(j).sort()).toEqual(['creation_time', 'expires_at', 'id', 'name', 'secret']);
    expect(idFromLocation(r, `${API}/robots`)).toBe(j.id);
    expect(j.name).toBe(`robot$${PROJECT}+builder`);
    expect(typeof j.secret).toBe('string');
    expect(j.secret.length).toBeGreaterThanOrEqual(20);
    expect(Math.abs(j.expires_at - (now + 30 * 86400))).toBeLessThan(60);
    builder = { id: j.id, name: j.name, secret: j.secret };
    secrets.add(j.secret);

    const s = expectStatus(
      await call('POST', `${API}/robots`, {
        auth: ADMIN,
        json: { name: 'sys1', level: 'system', duration: -1, permissions: [{ kind: 'project', namespace: '*', access: [{ resource: 'repository', action: 'pull' }] }, { kind: 'system', namespace: '/', access: [{ resource: 'audit-log', action: 'list' }] }] },
      }),
      201,
    ).json();
    expect(s.name).toBe('robot$sys1');
    expect(s.expires_at).toBe(-1);
    sys = { id: s.id, name: s.name, secret: s.secret };
    secrets.add(s.secret);

    expectStatus(await call('POST', `${API}/robots`, { auth: alice(), json: projectRobot('builder', PULL_PUSH) }), 409);
    expectStatus(await call('POST', `${API}/robots`, { auth: alice(), json: { ...projectRobot('x', PULL_PUSH), level: 'system' } }), 403);
    expectStatus(await call('POST', `${API}/robots`, { auth: bob(), json: projectRobot('by-bob', PULL_PUSH) }), 403);
    expectStatus(await call('POST', `${API}/robots`, { auth: dave(), json: projectRobot('by-dave', PULL_PUSH) }), 403);
    expectStatus(await call('POST', `${API}/robots`, { json: projectRobot('by-anon', PULL_PUSH) }), 401);
    // a project that does not exist: 404 for the admin, 403 for others (no probing)
    const elsewhere = { ...projectRobot('x', PULL_PUSH), permissions: [{ kind: 'project', namespace: 'no-such-project', access: PULL_PUSH }] };
    expectStatus(await call('POST', `${API}/robots`, { auth: ADMIN, json: elsewhere }), 404);
    expectStatus(await call('POST', `${API}/robots`, { auth: alice(), json: elsewhere }), 403);

    for (const bad of [
      projectRobot('Bad Name', PULL_PUSH),
      projectRobot('UPPER', PULL_PUSH),
      projectRobot('a..b', PULL_PUSH),
      projectRobot('', PULL_PUSH),
      projectRobot('x', [{ resource: 'repository', action: 'fly' }]),
      projectRobot('x', [{ resource: 'spaceship', action: 'pull' }]),
      projectRobot('x', []),
      projectRobot('x', PULL_PUSH, { level: undefined }),
      projectRobot('x', PULL_PUSH, { duration: 'x' }),
      projectRobot('x', PULL_PUSH, { disable: 'no' }),
      projectRobot('x', PULL_PUSH, { permissions: [] }),
      projectRobot('x', PULL_PUSH, { permissions: [{ kind: 'project', namespace: PROJECT, access: PULL_PUSH }, { kind: 'project', namespace: 'library', access: PULL_PUSH }] }),
      projectRobot('x', PULL_PUSH, { permissions: [{ kind: 'system', namespace: '/', access: [{ resource: 'audit-log', action: 'list' }] }] }),
      projectRobot('x', PULL_PUSH, { permissions: [{ kind: 'project', namespace: '*', access: PULL_PUSH }] }),
    ]) {
      const res = await call('POST', `${API}/robots`, { auth: alice(), json: bad });
      expect(res.status, `${JSON.stringify(bad).slice(0, 120)} → ${show(res)}`).toBe(400);
    }
    // system robots: only grantable system permissions
    expectStatus(await call('POST', `${API}/robots`, { auth: ADMIN, json: { name: 'sys2', level: 'system', permissions: [{ kind: 'system', namespace: '/', access: [{ resource: 'user', action: 'create' }] }] } }), 400);
  });

  test('robots log in on /v2; GET /robots/{id} and the lists never show secrets', async () => {
    expect((await v2(basic(builder.name, builder.secret))).status).toBe(200);
    expect((await v2(basic(sys.name, sys.secret))).status).toBe(200);
    expect((await v2(basic(builder.name, 'Wrong-Secret-123'))).status).toBe(401);

    const g = expectStatus(await call('GET', `${API}/robots/${builder.id}`, { auth: alice() }), 200).json();
    expect(g).toMatchObject({ id: builder.id, name: builder.name, description: 'test robot', level: 'project', duration: 30, editable: true, disable: false, permissions: [{ kind: 'project', namespace: PROJECT, access: PULL_PUSH }] });
    expect(Object.keys(g).sort()).toEqual(['creation_time', 'description', 'disable', 'duration', 'editable', 'expires_at', 'id', 'level', 'name', 'permissions', 'update_time']);
    expectStatus(await call('GET', `${API}/robots/${builder.id}`, { auth: bob() }), 200); // developer: robot:read
    expectStatus(await call('GET', `${API}/robots/${builder.id}`, { auth: dave() }), 403);
    expectStatus(await call('GET', `${API}/robots/${builder.id}`), 401);
    expectStatus(await call('GET', `${API}/robots/${sys.id}`, { auth: alice() }), 403);
    expectStatus(await call('GET', `${API}/robots/${sys.id}`, { auth: ADMIN }), 200);
    expectStatus(await call('GET', `${API}/robots/999999`, { auth: ADMIN }), 404);
    expectStatus(await call('GET', `${API}/robots/abc`, { auth: ADMIN }), 400);
    expectStatus(await call('GET', `${API}/robots/12345678901234567890`, { auth: ADMIN }), 400);
    expectStatus(await call('PUT', `${API}/robots/12345678901234567890`, { auth: ADMIN, json: { description: 'x' } }), 400);
    expectStatus(await call('DELETE', `${API}/robots/12345678901234567890`, { auth: ADMIN }), 400);

    const all = expectStatus(await call('GET', `${API}/robots`, { auth: ADMIN }), 200);
    expect(all.json().map((r: any) => r.name)).toEqual(expect.arrayContaining([builder.name, sys.name]));
    expect(Number(all.headers.get('x-total-count'))).toBe(all.json().length);
    const sysOnly = expectStatus(await call('GET', `${API}/robots?q=${encodeURIComponent('Level=system')}`, { auth: ADMIN }), 200).json();
    expect(sysOnly.every((r: any) => r.level === 'system')).toBe(true);
    const q = `q=${encodeURIComponent(`Level=project,ProjectID=${projectId}`)}`;
    const proj = expectStatus(await call('GET', `${API}/robots?${q}`, { auth: bob() }), 200).json();
    expect(proj.map((r: any) => r.name)).toEqual([builder.name]);
    expectStatus(await call('GET', `${API}/robots?${q}`, { auth: dave() }), 403);
    expectStatus(await call('GET', `${API}/robots?${q}`), 401);
    expectStatus(await call('GET', `${API}/robots`, { auth: alice() }), 403);
    expectStatus(await call('GET', `${API}/robots?q=${encodeURIComponent('ProjectID=abc')}`, { auth: ADMIN }), 400);
    expectStatus(await call('GET', `${API}/robots?q=${encodeURIComponent('Color=red')}`, { auth: ADMIN }), 400);
    const fuzzy = expectStatus(await call('GET', `${API}/robots?q=${encodeURIComponent('name=~build')}`, { auth: ADMIN }), 200).json();
    expect(fuzzy.map((r: any) => r.name)).toEqual([builder.name]);
    // the system robot granted audit-log:list may read the audit log, nothing else of the system's
    expectStatus(await call('GET', `${API}/audit-logs`, { auth: basic(sys.name, sys.secret) }), 200);
    expectStatus(await call('GET', `${API}/users`, { auth: basic(sys.name, sys.secret) }), 403);
    expectStatus(await call('GET', `${API}/users/current`, { auth: basic(builder.name, builder.secret) }), 403);
    expectStatus(await call('POST', `${API}/users/current/tokens`, { auth: basic(builder.name, builder.secret), json: { name: 'r', scopes: ['pull'] } }), 403);

    for (const r of [all, await call('GET', `${API}/robots/${builder.id}`, { auth: ADMIN }), await call('GET', `${API}/robots?${q}`, { auth: ADMIN })]) {
      for (const s of secrets) expect(r.text.includes(s), `a secret in ${r.text.slice(0, 200)}`).toBe(false);
      expect(r.text).not.toMatch(/secret/);
    }
  });

  test('PATCH /robots/{id} refreshes the secret: the old one stops at once; a chosen secret must meet the policy', async () => {
    const old = builder.secret;
    const r = expectStatus(await call('PATCH', `${API}/robots/${builder.id}`, { auth: alice(), json: {} }), 200).json();
    expect(Object.keys(r)).toEqual(['secret']);
    expect(r.secret).not.toBe(old);
    secrets.add(r.secret);
    expect((await v2(basic(builder.name, old))).status).toBe(401);
    expect((await v2(basic(builder.name, r.secret))).status).toBe(200);

    expectStatus(await call('PATCH', `${API}/robots/${builder.id}`, { auth: alice(), json: { secret: 'weak' } }), 400);
    const chosen = expectStatus(await call('PATCH', `${API}/robots/${builder.id}`, { auth: alice(), json: { secret: 'Chosen-Secret-123' } }), 200).json();
    expect(chosen.secret).toBe('Chosen-Secret-123');
    secrets.add('Chosen-Secret-123');
    expect((await v2(basic(builder.name, r.secret))).status).toBe(401);
    expect((await v2(basic(builder.name, 'Chosen-Secret-123'))).status).toBe(200);
    expect((await v2(basic(builder.name, 'Chosen-Secret-124'))).status).toBe(401);
    // a chosen secret may be guessable: stored slow-hashed like a password; random ones as SHA-256
    const hashOf = () => {
      const d = db();
      try {
        return (d.prepare('select secret_hash from robots where id = ?').get(builder.id) as { secret_hash: string }).secret_hash;
      } finally {
        d.close();
      }
    };
    expect(hashOf()).toMatch(/^scrypt\$/);
    // without any body
    const nobody = expectStatus(await call('PATCH', `${API}/robots/${builder.id}`, { auth: alice() }), 200).json();
    secrets.add(nobody.secret);
    builder.secret = nobody.secret;
    expect((await v2(basic(builder.name, builder.secret))).status).toBe(200);
    expect(hashOf()).toMatch(/^[0-9a-f]{64}$/);

    expectStatus(await call('PATCH', `${API}/robots/${builder.id}`, { auth: bob(), json: {} }), 403);
    expectStatus(await call('PATCH', `${API}/robots/${builder.id}`, { json: {} }), 401);
    expectStatus(await call('PATCH', `${API}/robots/${sys.id}`, { auth: alice(), json: {} }), 403);
    expectStatus(await call('PATCH', `${API}/robots/999999`, { auth: ADMIN, json: {} }), 404);
  });

  test('PUT /robots/{id}: description, disable (at once), duration, permissions; name and level stay', async () => {
    const cur = expectStatus(await call('GET', `${API}/robots/${builder.id}`, { auth: alice() }), 200).json();
    expectStatus(await call('PUT', `${API}/robots/${builder.id}`, { auth: alice(), json: { ...cur, description: 'disabled for now', disable: true } }), 200);
    expect((await v2(basic(builder.name, builder.secret))).status).toBe(401);
    const dis = expectStatus(await call('GET', `${API}/robots/${builder.id}`, { auth: alice() }), 200).json();
    expect(dis).toMatchObject({ description: 'disabled for now', disable: true });
    expectStatus(await call('PUT', `${API}/robots/${builder.id}`, { auth: alice(), json: { ...dis, disable: false, duration: -1 } }), 200);
    expect((await v2(basic(builder.name, builder.secret))).status).toBe(200);
    expect(expectStatus(await call('GET', `${API}/robots/${builder.id}`, { auth: alice() }), 200).json()).toMatchObject({ duration: -1, expires_at: -1, disable: false });

    const more = [...PULL_PUSH, { resource: 'artifact', action: 'delete' }];
    expectStatus(await call('PUT', `${API}/robots/${builder.id}`, { auth: alice(), json: { permissions: [{ kind: 'project', namespace: PROJECT, access: more }] } }), 200);
    expect(expectStatus(await call('GET', `${API}/robots/${builder.id}`, { auth: alice() }), 200).json().permissions[0].access).toEqual(more);

    expectStatus(await call('PUT', `${API}/robots/${builder.id}`, { auth: alice(), json: { name: 'renamed' } }), 400);
    expectStatus(await call('PUT', `${API}/robots/${builder.id}`, { auth: alice(), json: { level: 'system' } }), 400);
    expectStatus(await call('PUT', `${API}/robots/${builder.id}`, { auth: alice(), json: { permissions: [{ kind: 'project', namespace: 'library', access: PULL_PUSH }] } }), 400);
    expectStatus(await call('PUT', `${API}/robots/${builder.id}`, { auth: alice(), json: { disable: 'yes' } }), 400);
    expectStatus(await call('PUT', `${API}/robots/${builder.id}`, { auth: bob(), json: { description: 'bob was here' } }), 403);
    expectStatus(await call('PUT', `${API}/robots/${sys.id}`, { auth: alice(), json: { description: 'x' } }), 403);
    expectStatus(await call('PUT', `${API}/robots/${builder.id}`, { json: { description: 'x' } }), 401);
  });

  test('robots and personal access tokens cannot hand out more than they hold', async () => {
    // a robot allowed to manage robots, but only to pull
    const mgr = expectStatus(
      await call('POST', `${API}/robots`, {
        auth: alice(),
        json: projectRobot('manager', [
          { resource: 'robot', action: 'create' },
          { resource: 'robot', action: 'update' },
          { resource: 'robot', action: 'read' },
          { resource: 'repository', action: 'pull' },
        ]),
      }),
      201,
    ).json();
    secrets.add(mgr.secret);
    const m = basic(mgr.name, mgr.secret);
    expectStatus(await call('POST', `${API}/robots`, { auth: m, json: projectRobot('puller', [{ resource: 'repository', action: 'pull' }]) }), 201);
    expectStatus(await call('POST', `${API}/robots`, { auth: m, json: projectRobot('pusher', PULL_PUSH) }), 403);
    expectStatus(
      await call('PUT', `${API}/robots/${mgr.id}`, { auth: m, json: { permissions: [{ kind: 'project', namespace: PROJECT, access: [{ resource: 'robot', action: 'update' }, ...PULL_PUSH] }] } }),
      403,
    );
    // nor obtain the secret of a robot with more rights
    expectStatus(await call('PATCH', `${API}/robots/${builder.id}`, { auth: m, json: {} }), 403);

    // alice's token with api:write and pull, but not push
    const t = expectStatus(await call('POST', `${API}/users/current/tokens`, { auth: alice(), json: { name: 'robot-maker', scopes: ['pull', 'api:write', 'api:read'] } }), 201).json();
    secrets.add(t.token);
    const pat = basic('alice', t.token);
    expectStatus(await call('POST', `${API}/robots`, { auth: pat, json: projectRobot('via-pat-push', PULL_PUSH) }), 403);
    const ok = expectStatus(await call('POST', `${API}/robots`, { auth: pat, json: projectRobot('via-pat-pull', [{ resource: 'repository', action: 'pull' }]) }), 201).json();
    secrets.add(ok.secret);
    expectStatus(await call('PATCH', `${API}/robots/${builder.id}`, { auth: pat, json: {} }), 403);
  });

  test('robots made or changed by robots and personal access tokens never outlive them; reviving one needs its rights', async () => {
    const DAY = 86400;
    const near = (a: number, b: number) => expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThan(120);
    // alice's token: 5 days, pull but not push
    const t = expectStatus(await call('POST', `${API}/users/current/tokens`, { auth: alice(), json: { name: 'five-days', scopes: ['pull', 'api:read', 'api:write'], duration: 5 } }), 201).json();
    secrets.add(t.token);
    const pat = basic('alice', t.token);
    const pull = [{ resource: 'repository', action: 'pull' }];
    const now = () => Math.floor(Date.now() / 1000);

    // an explicit duration past the token's expiry is refused; the default (30 days) is shortened
    expectStatus(await call('POST', `${API}/robots`, { auth: pat, json: projectRobot('pat-long', pull, { duration: 10 }) }), 400);
    expectStatus(await call('POST', `${API}/robots`, { auth: pat, json: projectRobot('pat-never', pull, { duration: -1 }) }), 400);
    const short = expectStatus(await call('POST', `${API}/robots`, { auth: pat, json: projectRobot('pat-short', pull, { duration: 3 }) }), 201).json();
    secrets.add(short.secret);
    near(short.expires_at, now() + 3 * DAY);
    const dflt = expectStatus(await call('POST', `${API}/robots`, { auth: pat, json: projectRobot('pat-default', pull) }), 201).json();
    secrets.add(dflt.secret);
    expect(dflt.expires_at).toBeLessThanOrEqual(t.expires_at);
    near(dflt.expires_at, t.expires_at);

    // re-enabling: only with the robot's rights, and not past the token's expiry
    const sleeper = expectStatus(await call('POST', `${API}/robots`, { auth: alice(), json: projectRobot('sleeper', pull, { duration: -1, disable: true }) }), 201).json();
    secrets.add(sleeper.secret);
    expectStatus(await call('PUT', `${API}/robots/${sleeper.id}`, { auth: pat, json: { disable: false } }), 400);
    expectStatus(await call('PUT', `${API}/robots/${sleeper.id}`, { auth: pat, json: { disable: false, duration: 9 } }), 400);
    expect(expectStatus(await call('GET', `${API}/robots/${sleeper.id}`, { auth: alice() }), 200).json()).toMatchObject({ disable: true, expires_at: -1 });
    expect((await v2(basic(sleeper.name, sleeper.secret))).status).toBe(401);
    expectStatus(await call('PUT', `${API}/robots/${sleeper.id}`, { auth: pat, json: { disable: false, duration: 4 } }), 200);
    const woke = expectStatus(await call('GET', `${API}/robots/${sleeper.id}`, { auth: alice() }), 200).json();
    expect(woke).toMatchObject({ disable: false, duration: 4 });
    near(woke.expires_at, now() + 4 * DAY);
    expect((await v2(basic(sleeper.name, sleeper.secret))).status).toBe(200);

    const pushSleeper = expectStatus(await call('POST', `${API}/robots`, { auth: alice(), json: projectRobot('push-sleeper', PULL_PUSH, { duration: 2, disable: true }) }), 201).json();
    secrets.add(pushSleeper.secret);
    expectStatus(await call('PUT', `${API}/robots/${pushSleeper.id}`, { auth: pat, json: { disable: false } }), 403);
    expectStatus(await call('PUT', `${API}/robots/${pushSleeper.id}`, { auth: pat, json: { duration: 3 } }), 403);
    expect(expectStatus(await call('GET', `${API}/robots/${pushSleeper.id}`, { auth: alice() }), 200).json()).toMatchObject({ disable: true, duration: 2 });
    // a description is harmless
    expectStatus(await call('PUT', `${API}/robots/${pushSleeper.id}`, { auth: pat, json: { description: 'renamed by a token' } }), 200);

    // nor obtain the secret of a robot that outlives the token
    const forever = expectStatus(await call('POST', `${API}/robots`, { auth: alice(), json: projectRobot('forever-pull', pull, { duration: -1 }) }), 201).json();
    secrets.add(forever.secret);
    expectStatus(await call('PATCH', `${API}/robots/${forever.id}`, { auth: pat, json: {} }), 403);
    expect((await v2(basic(forever.name, forever.secret))).status).toBe(200);
    const refreshed = expectStatus(await call('PATCH', `${API}/robots/${short.id}`, { auth: pat, json: {} }), 200).json();
    secrets.add(refreshed.secret);

    // a robot that manages robots: the same bounds, by its own expiry
    const mgr = expectStatus(
      await call('POST', `${API}/robots`, {
        auth: alice(),
        json: projectRobot('short-manager', [{ resource: 'robot', action: 'create' }, { resource: 'robot', action: 'read' }, ...pull], { duration: 2 }),
      }),
      201,
    ).json();
    secrets.add(mgr.secret);
    const m = basic(mgr.name, mgr.secret);
    expectStatus(await call('POST', `${API}/robots`, { auth: m, json: projectRobot('by-mgr-long', pull, { duration: 30 }) }), 400);
    const byMgr = expectStatus(await call('POST', `${API}/robots`, { auth: m, json: projectRobot('by-mgr', pull) }), 201).json();
    secrets.add(byMgr.secret);
    expect(byMgr.expires_at).toBeLessThanOrEqual(mgr.expires_at);
    near(byMgr.expires_at, mgr.expires_at);
  });

  test('DELETE /robots/{id}: the robot stops at once', async () => {
    const tmp = expectStatus(await call('POST', `${API}/robots`, { auth: alice(), json: projectRobot('doomed', [{ resource: 'repository', action: 'pull' }], { duration: 2 }) }), 201).json();
    secrets.add(tmp.secret);
    expect((await v2(basic(tmp.name, tmp.secret))).status).toBe(200);
    expectStatus(await call('DELETE', `${API}/robots/${tmp.id}`, { auth: bob() }), 403);
    expectStatus(await call('DELETE', `${API}/robots/${tmp.id}`), 401);
    expectStatus(await call('DELETE', `${API}/robots/${tmp.id}`, { auth: alice() }), 200);
    expect((await v2(basic(tmp.name, tmp.secret))).status).toBe(401);
    expectStatus(await call('GET', `${API}/robots/${tmp.id}`, { auth: alice() }), 404);
    expectStatus(await call('DELETE', `${API}/robots/${tmp.id}`, { auth: alice() }), 404);
    expectStatus(await call('DELETE', `${API}/robots/${sys.id}`, { auth: alice() }), 403);
    expectStatus(await call('DELETE', `${API}/robots/${sys.id}`, { auth: ADMIN }), 200);
    expect((await v2(basic(sys.name, sys.secret))).status).toBe(401);
  });
});

// ---------------------------------------------------------------------------------------------

describe('audit logs', () => {
  test('GET /audit-logs: the operations above, newest first, in Harbor shape; admin only', async () => {
    const r = expectStatus(await call('GET', `${API}/audit-logs?page_size=100`, { auth: ADMIN }), 200);
    const items = r.json() as any[];
    expect(Number(r.headers.get('x-total-count'))).toBeGreaterThanOrEqual(items.length);
    for (const e of items) {
      expect(Object.keys(e).sort()).toEqual(['id', 'op_time', 'operation', 'resource', 'resource_type', 'username']);
      expect(new Date(e.op_time).toISOString()).toBe(e.op_time);
    }
    const times = items.map((e) => Date.parse(e.op_time));
    expect([...times].sort((a, b) => b - a)).toEqual(times);

    const find = async (q: string) => expectStatus(await call('GET', `${API}/audit-logs?page_size=100&q=${encodeURIComponent(q)}`, { auth: ADMIN }), 200);
    const userCreates = (await find('operation=create,resource_type=user')).json();
    expect(userCreates.map((e: any) => e.resource)).toEqual(expect.arrayContaining(['alice', 'bob', 'carol', 'dave', 'erin', 'frank']));
    expect(userCreates.every((e: any) => e.operation === 'create' && e.resource_type === 'user' && e.username === 'admin')).toBe(true);
    const deletes = (await find('operation=delete,resource_type=user')).json();
    expect(deletes.map((e: any) => e.resource)).toContain('frank');
    const updates = (await find('operation=update,resource_type=user,resource=carol')).json();
    expect(updates.length).toBeGreaterThanOrEqual(2); // her own change and the admin's reset
    const robots = (await find(`resource_type=robot,resource=~${PROJECT}+`)).json();
    expect(robots.map((e: any) => `${e.operation} ${e.resource}`)).toEqual(expect.arrayContaining([`create robot$${PROJECT}+builder`, `delete robot$${PROJECT}+doomed`, `update robot$${PROJECT}+builder`]));
    expect(robots.every((e: any) => e.resource.includes(`${PROJECT}+`))).toBe(true);
    expect((await find('resource_type=robot,operation=delete,resource=robot$sys1')).json()).toHaveLength(1);
    const byAlice = (await find('username=alice')).json();
    expect(byAlice.length).toBeGreaterThan(0);
    expect(byAlice.every((e: any) => e.username === 'alice')).toBe(true);
    expect((await find('username=~lic')).json().length).toBe(byAlice.length);
    expect((await find('resource_type=access_token,operation=create')).json().map((e: any) => e.resource)).toContain('alice/ci');

    const wide = await find('op_time=[2000-01-01 00:00:00~2100-01-01 00:00:00]');
    expect(Number(wide.headers.get('x-total-count'))).toBeGreaterThanOrEqual(Number(r.headers.get('x-total-count')));
    const none = await find('op_time=[2000-01-01 00:00:00~2000-01-02 00:00:00]');
    expect(none.json()).toEqual([]);
    expect(none.headers.get('x-total-count')).toBe('0');

    const first4 = expectStatus(await call('GET', `${API}/audit-logs?page_size=4`, { auth: ADMIN }), 200).json();
    const page = expectStatus(await call('GET', `${API}/audit-logs?page=2&page_size=2`, { auth: ADMIN }), 200);
    expect(page.json().map((e: any) => e.id)).toEqual(first4.slice(2, 4).map((e: any) => e.id));
    const asc = expectStatus(await call('GET', `${API}/audit-logs?sort=op_time&page_size=100`, { auth: ADMIN }), 200).json();
    expect(Date.parse(asc[0].op_time)).toBeLessThanOrEqual(Date.parse(asc[asc.length - 1].op_time));

    for (const bad of ['operation', 'nosuchkey=x', 'op_time=2020-01-01', 'op_time=[yesterday~today]', 'op_time=[2020-01-02 00:00:00~2020-01-01 00:00:00]', 'operation=~cre', 'operation={create delete}', 'operation=']) {
      const res = await call('GET', `${API}/audit-logs?q=${encodeURIComponent(bad)}`, { auth: ADMIN });
      expect(res.status, `q=${bad} → ${show(res)}`).toBe(400);
    }
    expectStatus(await call('GET', `${API}/audit-logs?sort=name`, { auth: ADMIN }), 400);
    expectStatus(await call('GET', `${API}/audit-logs`, { auth: basic('alice', PW.alice) }), 403);
    expectStatus(await call('GET', `${API}/audit-logs`), 401);
    for (const s of secrets) expect(r.text.includes(s)).toBe(false);
  });

  test("GET /projects/{p}/logs: only that project's entries, for members with log:list", async () => {
    const r = expectStatus(await call('GET', `${API}/projects/${PROJECT}/logs?page_size=100`, { auth: basic('alice', PW.alice) }), 200);
    const items = r.json() as any[];
    expect(items.length).toBeGreaterThan(0);
    expect(items.filter((e: any) => e.resource_type === 'robot').every((e: any) => e.resource.startsWith(`robot$${PROJECT}+`))).toBe(true);
    expect(items.map((e: any) => `${e.operation} ${e.resource}`)).toContain(`create robot$${PROJECT}+builder`);
    expect(items.some((e: any) => e.resource === 'robot$sys1')).toBe(false);
    const byId = expectStatus(await call('GET', `${API}/projects/${projectId}/logs?page_size=100&q=${encodeURIComponent('operation=delete')}`, { auth: basic('bob', PW.bob) }), 200).json();
    expect(byId.map((e: any) => e.resource)).toEqual([`robot$${PROJECT}+doomed`]);
    expectStatus(await call('GET', `${API}/projects/${PROJECT}/logs?q=bad`, { auth: basic('alice', PW.alice) }), 400);
    const outsider = await call('GET', `${API}/projects/${PROJECT}/logs`, { auth: basic('dave', PW.dave) });
    expect([403, 404], show(outsider)).toContain(outsider.status);
    expectStatus(await call('GET', `${API}/projects/${PROJECT}/logs`), 401);
  });
});

// ---------------------------------------------------------------------------------------------

describe('a wrong old password is a failed login', () => {
  let w2: RunningRegistry;
  beforeAll(async () => {
    w2 = await startWharf({ env: { WHARF_ADMIN_PASSWORD: ADMIN_PW, WHARF_LOGIN_MAX_FAILURES: '3' } });
  });
  afterAll(async () => {
    await w2?.stop();
  });

  const req = async (method: string, p: string, o: { auth?: Auth; cookie?: string; csrf?: string; json?: unknown } = {}) => {
    const headers: Record<string, string> = {};
    if (o.auth) headers.Authorization = o.auth;
    if (o.cookie) headers.cookie = o.cookie;
    if (o.csrf) headers['X-Harbor-CSRF-Token'] = o.csrf;
    if (o.json !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(w2.url + p, { method, headers, body: o.json === undefined ? undefined : JSON.stringify(o.json) });
    const text = await r.text();
    return { status: r.status, headers: r.headers, text, json: () => JSON.parse(text) } as Resp;
  };

  test('wrong old passwords count towards the lock; a locked name is refused like a wrong password', async () => {
    const pw = 'Locky-Passw0rd1';
    const r = expectStatus(await req('POST', `${API}/users`, { auth: basic('admin', ADMIN_PW), json: { username: 'locky', email: 'locky@example.com', realname: 'Locky', password: pw } }), 201);
    const id = Number(/(\d+)$/.exec(r.headers.get('location')!)![1]);
    // a portal session, which (unlike Basic) still gets through to the handler once the name is locked
    const lr = await fetch(`${w2.url}/c/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ principal: 'locky', password: pw }) });
    expect(lr.status).toBe(200);
    const set = lr.headers.getSetCookie();
    const cookie = set.map((c) => c.split(';')[0]).join('; ');
    const csrf = set.find((c) => c.startsWith('__csrf='))!.split(';')[0].split('=')[1];

    const hashOf = () => {
      const d = new Database(path.join(w2.dataDir, 'wharf.db'), { readonly: true, fileMustExist: true });
      try {
        return (d.prepare('select password_hash from users where id = ?').get(id) as { password_hash: string }).password_hash;
      } finally {
        d.close();
      }
    };
    const before = hashOf();
    const url = `${API}/users/${id}/password`;
    const wrong = [] as string[];
    for (let i = 0; i < 3; i++) {
      const res = expectStatus(await req('PUT', url, { cookie, csrf, json: { old_password: `Wrong-Passw0rd${i}`, new_password: 'Locky-New-Pass1' } }), 403);
      wrong.push(res.json().errors[0].message);
    }
    // three failures lock the name: Basic with the right password now fails everywhere
    expect((await req('GET', '/v2/', { auth: basic('locky', pw) })).status).toBe(401);
    // and the right old password is refused with the very same answer as a wrong one
    const locked = expectStatus(await req('PUT', url, { cookie, csrf, json: { old_password: pw, new_password: 'Locky-New-Pass1' } }), 403);
    expect(locked.json().errors[0].message).toBe(wrong[0]);
    // the password is unchanged
    expect(hashOf()).toBe(before);
  });
});
