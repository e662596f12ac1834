// The portal's session login with CSRF protection, the OpenAPI document, the first-start admin,
// and the admin CLI in both modes (local database, --server API) — all against real processes.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { repoRoot, startWharf, type RunningRegistry } from '../helpers/servers.ts';
import { run } from '../helpers/clients.ts';

const ADMIN = 'Wharf-Test-Admin-1';
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

// asynchronous: a synchronous spawn blocks the test worker (vitest's worker RPC times out after 60 s)
async function cli(args: string[], env: Record<string, string>, input = '') {
  const r = await run(process.execPath, [path.join(repoRoot, 'bin/wharf.js'), ...args], { env: { ...process.env, WHARF_LOG_LEVEL: 'warn', ...env }, input, timeoutMs: 60_000, allowFail: true });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

describe('sessions, CSRF and the OpenAPI document', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startWharf({ env: { WHARF_ADMIN_PASSWORD: ADMIN } });
  });
  afterAll(async () => reg?.stop());

  test('login sets an HttpOnly session cookie; unsafe requests need the CSRF header', async () => {
    const bad = await fetch(`${reg.url}/c/login`, { method: 'POST', body: new URLSearchParams({ principal: 'admin', password: 'nope' }) });
    expect(bad.status).toBe(401);
    const r = await fetch(`${reg.url}/c/login`, { method: 'POST', body: new URLSearchParams({ principal: 'admin', password: ADMIN }) });
    expect(r.status).toBe(200);
    const set = r.headers.getSetCookie();
    const sid = set.find((c) => c.startsWith('sid='))!;
    const csrf = set.find((c) => c.startsWith('__csrf='))!;
    expect(sid).toMatch(/HttpOnly/);
    expect(sid).not.toMatch(/Secure/); // plain HTTP here; behind https (X-Forwarded-Proto or an https WHARF_EXTERNAL_URL) it is Secure
    const viaTls = await fetch(`${reg.url}/c/login`, { method: 'POST', headers: { 'X-Forwarded-Proto': 'https' }, body: new URLSearchParams({ principal: 'admin', password: ADMIN }) });
    expect(viaTls.headers.getSetCookie().every((c) => /; Secure/.test(c))).toBe(true);
    const cookie = [sid, csrf].map((c) => c.split(';')[0]).join('; ');
    const csrfToken = csrf.split(';')[0].split('=')[1];
    const me = await fetch(`${reg.url}/api/v2.0/users/current`, { headers: { cookie } });
    expect(me.status).toBe(200);
    expect((await me.json()).username).toBe('admin');
    const body = JSON.stringify({ project_name: 'csrf-one', public: false });
    const noCsrf = await fetch(`${reg.url}/api/v2.0/projects`, { method: 'POST', headers: { cookie, 'Content-Type': 'application/json' }, body });
    expect(noCsrf.status).toBe(403);
    const wrong = await fetch(`${reg.url}/api/v2.0/projects`, { method: 'POST', headers: { cookie, 'Content-Type': 'application/json', 'X-Harbor-CSRF-Token': 'x' + csrfToken }, body });
    expect(wrong.status).toBe(403);
    const head = await fetch(`${reg.url}/api/v2.0/projects?project_name=csrf-one`, { method: 'HEAD', headers: { authorization: basic('admin', ADMIN) } });
    expect(head.status).toBe(404); // nothing was created by the refused requests
    const ok = await fetch(`${reg.url}/api/v2.0/projects`, { method: 'POST', headers: { cookie, 'Content-Type': 'application/json', 'X-Harbor-CSRF-Token': csrfToken }, body });
    expect(ok.status).toBe(201);
    // Log out: the cookie no longer authenticates.
    expect((await fetch(`${reg.url}/c/log_out`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${reg.url}/api/v2.0/users/current`, { headers: { cookie } })).status).toBe(401);
  });

  test('the session cookie is not accepted on /v2 (registry clients use Basic or tokens)', async () => {
    const r = await fetch(`${reg.url}/c/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ principal: 'admin', password: ADMIN }) });
    const cookie = r.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    expect((await fetch(`${reg.url}/v2/`, { headers: { cookie } })).status).toBe(401);
  });

  test('an OpenAPI 3 document lists every route with its permission', async () => {
    const r = await fetch(`${reg.url}/api/v2.0/openapi.json`);
    expect(r.status).toBe(200);
    const doc = await r.json();
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of ['/ping', '/users', '/projects', '/projects/{project_name_or_id}/members', '/robots', '/audit-logs', '/systeminfo']) expect(Object.keys(doc.paths)).toContain(p);
    for (const ops of Object.values<any>(doc.paths)) for (const op of Object.values<any>(ops)) expect(typeof op['x-wharf-permission']).toBe('string');
  });

  test('unknown API paths and methods answer in the Harbor envelope', async () => {
    const r = await fetch(`${reg.url}/api/v2.0/nope`);
    expect(r.status).toBe(404);
    expect((await r.json()).errors[0].code).toBe('NOT_FOUND');
    const m = await fetch(`${reg.url}/api/v2.0/ping`, { method: 'DELETE' });
    expect(m.status).toBe(405);
  });
});

describe('first start and the admin CLI', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-cli-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  test('a generated admin password is printed once and works; the CLI manages the local database', async () => {
    const env = { WHARF_DATA_DIR: dir };
    const add2 = await cli(['user', 'add', 'alice', '--password-stdin'], env, 'Alice-Pass-1\n');
    expect(add2.code, add2.err).toBe(0);
    const printed = /password: (\S+)/.exec(add2.err)?.[1];
    expect(printed).toBeTruthy();
    expect((await cli(['user', 'add', 'alice'], env, 'Alice-Pass-1\n')).code).not.toBe(0); // duplicate
    expect((await cli(['user', 'add', 'weak'], env, 'short\n')).code).toBe(2); // policy
    // the username and e-mail rules of POST /users hold for the local database too
    for (const bad of ['robot$evil', 'a:b', 'has#hash', ' spaced']) {
      const r = await cli(['user', 'add', bad], env, 'Alice-Pass-1\n');
      expect(r.code, `${bad}: ${r.err}`).toBe(2);
      expect(r.err).toMatch(/username/);
    }
    const badMail = await cli(['user', 'add', 'bob', '--email', 'not-an-email'], env, 'Bob-Pass-12\n');
    expect(badMail.code, badMail.err).toBe(2);
    expect(badMail.err).toMatch(/e-mail/);
    const bob = await cli(['user', 'add', 'bob', '--email', 'bob@example.com'], env, 'Bob-Pass-12\n');
    expect(bob.code, bob.err).toBe(0);
    expect((await cli(['project', 'create', 'team'], env)).code).toBe(0);
    expect((await cli(['project', 'create', 'Bad_Name'], env)).code).toBe(2);
    const robot = await cli(['robot', 'create', 'team', 'ci', '--access', 'pull,push'], env);
    expect(robot.code, robot.err).toBe(0);
    const [robotName, robotSecret] = robot.out.trim().split('\n');
    expect(robotName).toBe('robot$team+ci');

    const reg = await startWharf({ dataDir: dir, env: { WHARF_ADMIN_PASSWORD: 'ignored-after-first-start-1A' } });
    try {
      expect(reg.output()).not.toContain(printed!); // shown once, by the first start only
      const ok = (u: string, p: string) => fetch(`${reg.url}/v2/`, { headers: { authorization: basic(u, p) } }).then((r) => r.status);
      expect(await ok('admin', printed!)).toBe(200);
      expect(await ok('admin', 'ignored-after-first-start-1A')).toBe(401);
      expect(await ok('alice', 'Alice-Pass-1')).toBe(200);
      expect(await ok(robotName, robotSecret)).toBe(200);
      // --server mode goes through the API with the caller's rights.
      const srv = { WHARF_DATA_DIR: dir, WHARF_CLI_PASSWORD: printed! };
      const viaApi = await cli(['project', 'create', 'remote', '--server', reg.url, '--user', 'admin'], srv);
      expect(viaApi.code, viaApi.err).toBe(0);
      const r = await fetch(`${reg.url}/api/v2.0/projects/remote`, { headers: { authorization: basic('admin', printed!), 'X-Is-Resource-Name': 'true' } });
      expect(r.status).toBe(200);
      const denied = await cli(['project', 'create', 'remote2', '--server', reg.url, '--user', 'alice'], { ...srv, WHARF_CLI_PASSWORD: 'wrong' });
      expect(denied.code).not.toBe(0);
      expect(denied.err).toMatch(/401/);
      const pw = await cli(['user', 'passwd', 'alice', '--server', reg.url, '--user', 'admin'], srv, 'Alice-Pass-2\n');
      expect(pw.code, pw.err).toBe(0);
      expect(await ok('alice', 'Alice-Pass-1')).toBe(401);
      expect(await ok('alice', 'Alice-Pass-2')).toBe(200);
      // Changing your own password: the CLI sends the current one (the one it logs in with).
      const own = await cli(['user', 'passwd', 'alice', '--server', reg.url, '--user', 'alice'], { ...srv, WHARF_CLI_PASSWORD: 'Alice-Pass-2' }, 'Alice-Pass-3\n');
      expect(own.code, own.err).toBe(0);
      expect(await ok('alice', 'Alice-Pass-2')).toBe(401);
      expect(await ok('alice', 'Alice-Pass-3')).toBe(200);
      expect(reg.output()).not.toContain(robotSecret);
      expect(reg.output()).not.toContain('Alice-Pass');
    } finally {
      await reg.stop({ keepData: true });
    }
  });
});
