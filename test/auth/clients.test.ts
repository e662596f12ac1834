// Real clients against Wharf's access control (issue 3): skopeo and docker log in and push/pull as
// the admin, a developer, a project robot (whose name has a `$` in it), and with a personal
// access token; a guest can pull but not push; anonymous pulls work from a public project only,
// and anonymous pushes fail. Images are built offline (test/helpers/images.ts).
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DockerDaemon, Skopeo, haveCommand, removeTree, run, type RunResult } from '../helpers/clients.ts';
import { buildTestImages, openLayout, type TestImages } from '../helpers/images.ts';
import { startWharf, type RunningRegistry } from '../helpers/servers.ts';
import { ADMIN_PASSWORD, API, Admin, Http, createPat, must, newPassword } from './lib.ts';

const haveSkopeo = haveCommand('skopeo');
const haveDocker = haveCommand('docker') && haveCommand('dockerd');

const PRIV = 'cl-private';
const PUB = 'cl-public';

interface Who {
  label: string;
  username: string;
  password: string;
}

let reg: RunningRegistry;
let tmp: string;
let images: TestImages;
let admin: Who;
let dev: Who;
let guest: Who;
let robot: Who;
let pat: Who;
let patPullOnly: Who;
let adminApi: Admin;

/** does the repository hold anything? (as the admin) */
async function repoExists(repo: string): Promise<boolean> {
  const r = await adminApi.req('GET', `/v2/${repo}/tags/list`);
  if (r.status === 200) return (r.json().tags ?? []).length > 0;
  if (r.status === 404) return false;
  throw new Error(`GET /v2/${repo}/tags/list as admin -> ${r.status}: ${r.text.slice(0, 200)}`);
}

beforeAll(async () => {
  if (!haveSkopeo && !haveDocker) return;
  tmp = await mkdtemp(path.join(os.tmpdir(), 'wharf-auth-clients-'));
  images = await buildTestImages(path.join(tmp, 'images'), 'authclients');
  reg = await startWharf({ env: { WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD } });
  const h = new Http(reg.url);
  const a = new Admin(h);
  adminApi = a;
  must(await h.req('GET', `${API}/ping`), 200);
  await a.createProject(PRIV, false);
  await a.createProject(PUB, true);
  admin = { label: 'admin', username: 'admin', password: ADMIN_PASSWORD };
  dev = { label: 'developer', username: 'dev-client', password: newPassword() };
  guest = { label: 'guest', username: 'guest-client', password: newPassword() };
  for (const u of [dev, guest]) await a.createUser(u.username, u.password);
  for (const p of [PRIV, PUB]) {
    await a.addMember(p, dev.username, 2);
    await a.addMember(p, guest.username, 3);
  }
  const r = await a.createRobot(PRIV, 'ci', [
    { resource: 'repository', action: 'pull' },
    { resource: 'repository', action: 'push' },
  ]);
  expect(r.name).toBe(`robot$${PRIV}+ci`);
  robot = { label: 'robot', username: r.name, password: r.secret };
  const t = await createPat(h, dev.username, dev.password, 'clients', ['pull', 'push']);
  pat = { label: 'personal access token', username: dev.username, password: t.token };
  const t2 = await createPat(h, dev.username, dev.password, 'clients-pull', ['pull']);
  patPullOnly = { label: 'pull-only token', username: dev.username, password: t2.token };
}, 180_000);

afterAll(async () => {
  await reg?.stop();
  if (tmp) await removeTree(tmp);
});

const IDENTITIES = ['admin', 'developer', 'robot', 'personal access token'] as const;
function identity(label: (typeof IDENTITIES)[number]): Who {
  return { admin, developer: dev, robot, 'personal access token': pat }[label];
}

const denied = /denied|unauthorized|forbidden|401|403|authentication required|requested access to the resource/i;

// ---------------------------------------------------------------------------------------------
// skopeo

describe.skipIf(!haveSkopeo)('skopeo', () => {
  let sk: Skopeo;
  const docker = (ref: string) => `docker://${reg.host}/${ref}`;

  beforeAll(async () => {
    sk = await Skopeo.create();
    // seed both projects as the admin
    const f = await authFile('seed');
    await login(f, admin);
    for (const p of [PRIV, PUB]) await sk.copy(images.ref('single'), docker(`${p}/seed:1`), ['--authfile', f, '--preserve-digests']);
  });
  afterAll(async () => {
    await sk?.cleanup();
  });

  async function authFile(name: string): Promise<string> {
    const f = path.join(tmp, `skopeo-auth-${name.replace(/\W/g, '_')}.json`);
    await writeFile(f, JSON.stringify({ auths: {} }));
    return f;
  }

  function login(f: string, who: Who): Promise<RunResult> {
    return sk.run(['login', '--tls-verify=false', '--authfile', f, '--username', who.username, '--password-stdin', reg.host], { input: who.password });
  }

  async function pushPull(who: Who, f: string, repo: string, extra: string[] = []): Promise<void> {
    const digestFile = path.join(tmp, `digest-${Math.random().toString(36).slice(2)}`);
    await sk.copy(images.ref('single'), docker(`${repo}:1`), ['--preserve-digests', '--digestfile', digestFile, ...extra]);
    const out = path.join(tmp, `back-${repo.replace(/\W/g, '_')}`);
    await sk.copy(docker(`${repo}:1`), `oci:${out}:x`, ['--preserve-digests', ...extra]);
    expect((await openLayout(out)).manifestFor('x').digest, `${who.label} round trip`).toBe(images.single.descriptor.digest);
  }

  for (const label of IDENTITIES) {
    test(`${label}: log in, push to the private project and pull back`, async () => {
      const who = identity(label);
      const f = await authFile(who.label);
      await login(f, who);
      await pushPull(who, f, `${PRIV}/sk-${who.label.replace(/\W/g, '-')}`, ['--authfile', f]);
    });
  }

  test('robot credentials with a `$` survive a shell when quoted, and work as --creds', async () => {
    // through a shell, as a user would type it: single quotes keep `$cl` from expanding
    const f = await authFile('robot-shell');
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const cmd = `skopeo --policy ${q(sk.home.policy)} login --tls-verify=false --authfile ${q(f)} --username ${q(robot.username)} --password-stdin ${reg.host}`;
    await run('sh', ['-c', cmd], { input: robot.password, env: sk.home.env });
    await pushPull(robot, f, `${PRIV}/sk-robot-shell`, ['--authfile', f]);
    // no login at all: --creds user:secret (the name contains `$` and `+`)
    const empty = await authFile('robot-creds');
    const creds = `${robot.username}:${robot.password}`;
    await sk.copy(images.ref('single'), docker(`${PRIV}/sk-robot-creds:1`), ['--authfile', empty, '--dest-creds', creds, '--preserve-digests']);
    const out = path.join(tmp, 'robot-creds-back');
    await sk.copy(docker(`${PRIV}/sk-robot-creds:1`), `oci:${out}:x`, ['--authfile', empty, '--src-creds', creds]);
    expect((await openLayout(out)).manifestFor('x').digest).toBe(images.single.descriptor.digest);
  });

  test('a guest can pull but not push', async () => {
    const f = await authFile('guest');
    await login(f, guest);
    const out = path.join(tmp, 'guest-pull');
    await sk.copy(docker(`${PRIV}/seed:1`), `oci:${out}:x`, ['--authfile', f]);
    expect((await openLayout(out)).manifestFor('x').digest).toBe(images.single.descriptor.digest);
    const push = await sk.copy(images.ref('single'), docker(`${PRIV}/guest-push:1`), ['--authfile', f], { allowFail: true });
    expect(push.code, push.stderr).not.toBe(0);
    expect(push.stderr).toMatch(denied);
    expect(await repoExists(`${PRIV}/guest-push`)).toBe(false);
  });

  test('a personal access token with only the pull scope can pull but not push', async () => {
    const f = await authFile('pat-pull');
    await login(f, patPullOnly);
    const out = path.join(tmp, 'pat-pull');
    await sk.copy(docker(`${PRIV}/seed:1`), `oci:${out}:x`, ['--authfile', f]);
    expect((await openLayout(out)).manifestFor('x').digest).toBe(images.single.descriptor.digest);
    const push = await sk.copy(images.ref('single'), docker(`${PRIV}/pat-pull-push:1`), ['--authfile', f], { allowFail: true });
    expect(push.code, push.stderr).not.toBe(0);
    expect(push.stderr).toMatch(denied);
    expect(await repoExists(`${PRIV}/pat-pull-push`)).toBe(false);
  });

  test('anonymous: pull from the public project works, from the private one fails, and push fails', async () => {
    const f = await authFile('anonymous');
    const out = path.join(tmp, 'anon-pull');
    await sk.copy(docker(`${PUB}/seed:1`), `oci:${out}:x`, ['--authfile', f]);
    expect((await openLayout(out)).manifestFor('x').digest).toBe(images.single.descriptor.digest);
    const priv = await sk.copy(docker(`${PRIV}/seed:1`), `oci:${path.join(tmp, 'anon-priv')}:x`, ['--authfile', f], { allowFail: true });
    expect(priv.code).not.toBe(0);
    expect(priv.stderr).toMatch(denied);
    const push = await sk.copy(images.ref('single'), docker(`${PUB}/anon-push:1`), ['--authfile', f], { allowFail: true });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toMatch(denied);
    expect(await repoExists(`${PUB}/anon-push`)).toBe(false);
  });

  test('login with a wrong password fails', async () => {
    const f = await authFile('wrong');
    const r = await login(f, { ...dev, password: 'Wrong-Password-1' }).catch((e) => e.result as RunResult);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unauthorized|401|invalid|incorrect/i);
  });
});

// ---------------------------------------------------------------------------------------------
// docker

describe.skipIf(!haveDocker || !haveSkopeo)('docker', () => {
  let dk: DockerDaemon;
  let sk: Skopeo;
  const LOCAL = 'wharf-auth/single:latest';

  beforeAll(async () => {
    [dk, sk] = await Promise.all([DockerDaemon.start(), Skopeo.create()]);
    const archive = path.join(tmp, 'single.tar');
    await sk.copy(images.ref('single'), `docker-archive:${archive}:${LOCAL}`);
    await dk.docker(['load', '-i', archive]);
    // seed both projects as the admin (skopeo, OCI manifests)
    await sk.run(['login', '--tls-verify=false', '--username', 'admin', '--password-stdin', reg.host], { input: ADMIN_PASSWORD });
    for (const p of [PRIV, PUB]) await sk.copy(images.ref('single'), `docker://${reg.host}/${p}/seed:1`, ['--preserve-digests']);
  }, 180_000);
  afterAll(async () => {
    await dk?.stop();
    await sk?.cleanup();
  });

  const dockerLogin = (who: Who) => dk.docker(['login', reg.host, '--username', who.username, '--password-stdin'], { input: who.password });
  const logout = () => dk.docker(['logout', reg.host], { allowFail: true });

  function pushedDigest(out: string): string {
    const m = /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(out);
    if (!m) throw new Error(`no digest in docker push output:\n${out}`);
    return m[1]!;
  }

  for (const label of IDENTITIES) {
    test(`${label}: log in, push to the private project, remove, pull`, async () => {
      const who = identity(label);
      await logout();
      const l = await dockerLogin(who);
      expect(l.stdout + l.stderr).toMatch(/Login Succeeded/);
      const ref = `${reg.host}/${PRIV}/dk-${who.label.replace(/\W/g, '-')}:1`;
      await dk.docker(['tag', LOCAL, ref]);
      const digest = pushedDigest((await dk.docker(['push', ref])).stdout);
      const m = await adminApi.req('HEAD', `/v2/${PRIV}/dk-${who.label.replace(/\W/g, '-')}/manifests/1`, {
        headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      });
      expect(m.headers.get('docker-content-digest')).toBe(digest);
      await dk.docker(['rmi', ref]);
      const pull = await dk.docker(['pull', ref]);
      expect(pull.stdout).toContain(`Digest: ${digest}`);
      expect(await dk.imageId(ref)).toBe(images.single.imageId);
      await dk.docker(['rmi', ref]);
      await logout();
    });
  }

  test('a robot logs in through a shell with its `$` name quoted', async () => {
    await logout();
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    await run('sh', ['-c', `docker -H ${q(`unix://${dk.socket}`)} login ${reg.host} --username ${q(robot.username)} --password-stdin`], {
      input: robot.password,
      env: dk.home.env,
    });
    const ref = `${reg.host}/${PRIV}/dk-robot-shell:1`;
    await dk.docker(['tag', LOCAL, ref]);
    await dk.docker(['push', ref]);
    await dk.docker(['rmi', ref]);
    await logout();
  });

  test('a guest can pull but not push', async () => {
    await logout();
    await dockerLogin(guest);
    const ref = `${reg.host}/${PRIV}/seed:1`;
    const pull = await dk.docker(['pull', ref]);
    expect(pull.stdout).toContain('Digest: ');
    await dk.docker(['rmi', ref]);
    const dst = `${reg.host}/${PRIV}/dk-guest:1`;
    await dk.docker(['tag', LOCAL, dst]);
    const push = await dk.docker(['push', dst], { allowFail: true });
    expect(push.code, push.stdout).not.toBe(0);
    expect(push.stdout + push.stderr).toMatch(denied);
    expect(await repoExists(`${PRIV}/dk-guest`)).toBe(false);
    await dk.docker(['rmi', dst]);
    await logout();
  });

  test('a personal access token with only the pull scope can pull but not push', async () => {
    await logout();
    await dockerLogin(patPullOnly);
    const ref = `${reg.host}/${PRIV}/seed:1`;
    expect((await dk.docker(['pull', ref])).stdout).toContain('Digest: ');
    await dk.docker(['rmi', ref]);
    const dst = `${reg.host}/${PRIV}/dk-pat-pull:1`;
    await dk.docker(['tag', LOCAL, dst]);
    const push = await dk.docker(['push', dst], { allowFail: true });
    expect(push.code, push.stdout).not.toBe(0);
    expect(push.stdout + push.stderr).toMatch(denied);
    expect(await repoExists(`${PRIV}/dk-pat-pull`)).toBe(false);
    await dk.docker(['rmi', dst]);
    await logout();
  });

  test('anonymous: pull from the public project works, from the private one fails, and push fails', async () => {
    await logout();
    const pub = `${reg.host}/${PUB}/seed:1`;
    const pull = await dk.docker(['pull', pub]);
    expect(pull.stdout).toContain('Digest: ');
    await dk.docker(['rmi', pub]);
    const priv = await dk.docker(['pull', `${reg.host}/${PRIV}/seed:1`], { allowFail: true });
    expect(priv.code).not.toBe(0);
    expect(priv.stderr).toMatch(denied);
    const dst = `${reg.host}/${PUB}/dk-anon:1`;
    await dk.docker(['tag', LOCAL, dst]);
    const push = await dk.docker(['push', dst], { allowFail: true });
    expect(push.code).not.toBe(0);
    expect(push.stdout + push.stderr).toMatch(denied);
    expect(await repoExists(`${PUB}/dk-anon`)).toBe(false);
    await dk.docker(['rmi', dst]);
  });

  test('login with a wrong password fails', async () => {
    await logout();
    const r = await dk.docker(['login', reg.host, '--username', dev.username, '--password-stdin'], { input: 'Wrong-Password-1', allowFail: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unauthorized|401|incorrect|invalid/i);
  });
});
