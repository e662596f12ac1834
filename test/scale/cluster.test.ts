// Two Wharf replicas on one PostgreSQL database (a private schema on the machine's server) and one
// shared storage backend: real clients alternate replicas, an upload session moves between them,
// both take the same image concurrently, a replica is killed mid-push while the other carries on,
// and a job started through one runs exactly once across the two.
import { randomBytes, createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestImages, type TestImages } from '../helpers/images.ts';
import { ImageBuilder } from '../helpers/image-builder.ts';
import { adminAuth, createProject, repoRoot, startWharf, type RunningRegistry } from '../helpers/servers.ts';
import { Skopeo, run } from '../helpers/clients.ts';
import { req } from '../helpers/raw-http.ts';
import { PG_TEST_URL } from '../../src/metadata/pg-test-store.ts';
import { startPrivateRedis, type PrivateRedis } from '../../src/cluster/test-redis.ts';
import { startS3rver, type RunningS3rver } from './s3rver.ts';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

for (const storage of ['shared data dir', 's3'] as const)
describe(`scale-out: two replicas on PostgreSQL, Redis and ${storage === 's3' ? 'S3 (s3rver), no shared directory' : 'a shared data dir'}`, () => {
  let redis: PrivateRedis;
  let s3: RunningS3rver | undefined;
  const schema = `wharf_cluster_${randomBytes(5).toString('hex')}`;
  let shared: string;
  let work: string;
  let env: Record<string, string>;
  let a: RunningRegistry;
  let b: RunningRegistry;
  let images: TestImages;
  let skopeo: Skopeo;
  const creds = () => ['--dest-creds', `${a.admin.username}:${a.admin.password}`];
  const raw = async (ref: string) => (await skopeo.run(['inspect', '--tls-verify=false', '--raw', '--creds', `${a.admin.username}:${a.admin.password}`, ref])).stdoutBuf;

  // on S3 every replica has its own (throw-away) data dir: nothing local is shared
  const start = async (port?: number) => startWharf({ ...(storage === 's3' ? {} : { dataDir: shared }), env, ...(port ? { port } : {}) });

  beforeAll(async () => {
    shared = await mkdtemp(path.join(os.tmpdir(), 'wharf-cluster-'));
    work = await mkdtemp(path.join(os.tmpdir(), 'wharf-cluster-work-'));
    redis = await startPrivateRedis();
    env = { WHARF_DATABASE_URL: `${PG_TEST_URL}?schema=${schema}`, WHARF_REDIS_URL: redis.url };
    if (storage === 's3') {
      s3 = await startS3rver(['wharf']);
      Object.assign(env, { WHARF_STORAGE: 's3://wharf/cluster', WHARF_S3_ENDPOINT: s3.endpoint, WHARF_S3_ACCESS_KEY_ID: s3.accessKeyId, WHARF_S3_SECRET_ACCESS_KEY: s3.secretAccessKey });
    }
    // the schema is created by an explicit migration, as a deployment would (replicas on
    // PostgreSQL do not migrate by themselves)
    const m = await run(process.execPath, [path.join(repoRoot, 'bin/wharf.js'), 'migrate'], { env: { ...process.env, ...env, WHARF_DATA_DIR: shared }, allowFail: true });
    if (m.code !== 0) throw new Error(`wharf migrate: ${m.stderr}`);
    [a, b] = await Promise.all([start(), start()]);
    await createProject(a, 'team');
    images = await buildTestImages(path.join(work, 'images'), 'cluster');
    skopeo = await Skopeo.create();
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled([a?.stop({ keepData: storage !== 's3' }), b?.stop({ keepData: storage !== 's3' })]);
    await redis?.stop();
    await s3?.stop();
    await rm(shared, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
    const c = new pg.Client({ connectionString: PG_TEST_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });

  it('a push through one replica is pullable through the other at once (skopeo)', async () => {
    const d = await skopeo.copyDigest(images.ref('single'), `docker://${a.host}/team/app:1`, creds());
    const back = await raw(`docker://${b.host}/team/app:1`);
    expect(sha256(back)).toBe(d);
    const out = path.join(work, 'pulled');
    await skopeo.copy(`docker://${b.host}/team/app:1`, `oci:${out}:x`, ['--src-creds', `${a.admin.username}:${a.admin.password}`]);
    // and the other way round
    const d2 = await skopeo.copyDigest(images.ref('derived'), `docker://${b.host}/team/app:2`, creds());
    expect(sha256(await raw(`docker://${a.host}/team/app:2`))).toBe(d2);
  });

  it('an upload session started on one replica continues and finishes on the other', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const digest = sha256(data);
    const start = await req(a, 'POST', '/v2/team/chunks/blobs/uploads/');
    expect(start.status).toBe(202);
    let loc = String(start.headers.location);
    const cut = [0, 1 << 20, 2 << 20, data.length];
    const hosts = [b, a, b];
    for (let i = 0; i < 3; i++) {
      const chunk = data.subarray(cut[i], cut[i + 1]);
      const r = await req(hosts[i]!, 'PATCH', new URL(loc, a.url).pathname + new URL(loc, a.url).search, { 'Content-Type': 'application/octet-stream', 'Content-Range': `${cut[i]}-${cut[i + 1]! - 1}` }, chunk);
      expect(r.status, r.body.toString()).toBe(202);
      loc = String(r.headers.location);
    }
    const u = new URL(loc, a.url);
    u.searchParams.set('digest', digest);
    const done = await req(a, 'PUT', u.pathname + u.search, { 'Content-Length': 0 });
    expect(done.status, done.body.toString()).toBe(201);
    const got = await req(b, 'GET', `/v2/team/chunks/blobs/${digest}`);
    expect(got.status).toBe(200);
    expect(sha256(got.body)).toBe(digest);
  });

  it('the same image pushed through both replicas at once: both succeed, one result', async () => {
    const [da, db] = await Promise.all([
      skopeo.copyDigest(images.ref('multi'), `docker://${a.host}/team/same:1`, ['--all', ...creds()]),
      skopeo.copyDigest(images.ref('multi'), `docker://${b.host}/team/same:1`, ['--all', ...creds()]),
    ]);
    expect(da).toBe(db);
    for (const r of [a, b]) expect(sha256(await raw(`docker://${r.host}/team/same:1`))).toBe(da);
  });

  it('a project quota holds across replicas: two images pushed at once through both, room for one', async () => {
    // two images of one incompressible 2 MiB layer each (stored uncompressed: sizes are exact)
    const layout = path.join(work, 'quota-images');
    const bld = new ImageBuilder(layout);
    for (const n of ['q1', 'q2']) {
      const img = bld.image({ layers: [{ files: { [`data/${n}.bin`]: randomBytes(2 << 20) }, compression: 'none' }] });
      bld.tag(n, img.descriptor);
    }
    await bld.write();
    const auth = { Authorization: adminAuth(a), 'Content-Type': 'application/json' };
    const limit = 3 << 20; // one image (~2 MiB + config + manifest) fits, two do not
    const created = await fetch(`${a.url}/api/v2.0/projects`, { method: 'POST', headers: auth, body: JSON.stringify({ project_name: 'quota', public: false, storage_limit: limit }) });
    expect(created.status).toBe(201);
    const pid = Number(created.headers.get('location')!.split('/').pop());
    const results = await Promise.allSettled([
      skopeo.copyDigest(`oci:${layout}:q1`, `docker://${a.host}/quota/one:1`, creds()),
      skopeo.copyDigest(`oci:${layout}:q2`, `docker://${b.host}/quota/two:1`, creds()),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    expect(ok).toBeLessThanOrEqual(1);
    for (const r of results) if (r.status === 'rejected') expect(String(r.reason)).toMatch(/quota exceeded/i);
    const q = await (await fetch(`${b.url}/api/v2.0/quotas?reference=project&reference_id=${pid}`, { headers: auth })).json();
    expect(q[0].hard.storage).toBe(limit);
    expect(q[0].used.storage).toBeLessThanOrEqual(limit);
    // with the limit raised (through the other replica), the refused image goes in
    const up = await fetch(`${b.url}/api/v2.0/quotas/${q[0].id}`, { method: 'PUT', headers: auth, body: JSON.stringify({ hard: { storage: 2 * limit } }) });
    expect(up.status).toBe(200);
    await skopeo.copy(`oci:${layout}:q1`, `docker://${b.host}/quota/one:1`, creds());
    await skopeo.copy(`oci:${layout}:q2`, `docker://${a.host}/quota/two:1`, creds());
  }, 120_000);

  it('a job started through one replica runs exactly once across both', async () => {
    const r = await fetch(`${a.url}/api/v2.0/system/gc/schedule`, {
      method: 'POST',
      headers: { Authorization: adminAuth(a), 'Content-Type': 'application/json' },
      body: JSON.stringify({ schedule: { type: 'Manual' }, parameters: { delete_untagged: false, dry_run: true } }),
    });
    expect(r.status).toBe(201);
    let runs: any[] = [];
    for (let i = 0; i < 300; i++) {
      runs = await (await fetch(`${b.url}/api/v2.0/system/gc`, { headers: { Authorization: adminAuth(b) } })).json();
      if (runs.length && runs.every((x) => ['Success', 'Error', 'Stopped'].includes(x.job_status))) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    expect(runs).toHaveLength(1);
    expect(runs[0].job_status).toBe('Success');
  });

  it('a replica killed mid-push: the other carries on, and the restarted one serves the result', async () => {
    // a large blob streams into A; A dies half way
    const big = randomBytes(48 * 1024 * 1024);
    const s = await req(a, 'POST', '/v2/team/big/blobs/uploads/');
    const loc = new URL(String(s.headers.location), a.url);
    const http = await import('node:http');
    const put = http.request({ host: '127.0.0.1', port: a.port, method: 'PATCH', path: loc.pathname + loc.search, headers: { Authorization: adminAuth(a), 'Content-Type': 'application/octet-stream', 'Content-Length': big.length } });
    put.on('error', () => {});
    put.write(big.subarray(0, 16 << 20));
    await new Promise((res) => setTimeout(res, 300));
    const port = a.port;
    await a.kill();
    put.destroy();
    // B carries on: a whole image push and pull
    const d = await skopeo.copyDigest(images.ref('single'), `docker://${b.host}/team/after-kill:1`, creds());
    expect(sha256(await raw(`docker://${b.host}/team/after-kill:1`))).toBe(d);
    // the session A held can be abandoned or continued; nothing half-written is visible
    expect((await req(b, 'HEAD', `/v2/team/big/blobs/${sha256(big)}`)).status).toBe(404);
    // A comes back on the same port and serves what B wrote
    a = await start(port);
    expect(sha256(await raw(`docker://${a.host}/team/after-kill:1`))).toBe(d);
  }, 180_000);

  it('identity changes through one replica take effect on the other at the next request, also while Redis is down', async () => {
    const user = (n: string) => ({ username: n, email: `${n}@example.com`, realname: n, password: 'Replica-Passw0rd', comment: '' });
    const api = (r: RunningRegistry, method: string, p: string, body?: unknown, auth = adminAuth(r)) =>
      fetch(`${r.url}/api/v2.0${p}`, { method, headers: { Authorization: auth, ...(body ? { 'Content-Type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const basic = (n: string) => `Basic ${Buffer.from(`${n}:Replica-Passw0rd`).toString('base64')}`;
    for (const [n, outage] of [['carol', false], ['dave', true]] as const) {
      const created = await api(a, 'POST', '/users', user(n));
      expect(created.status).toBe(201);
      const id = Number(created.headers.get('location')!.split('/').pop());
      // B verifies (and caches) the user's credentials
      expect((await api(b, 'GET', '/users/current', undefined, basic(n))).status).toBe(200);
      if (outage) await redis.kill();
      expect((await api(a, 'DELETE', `/users/${id}`)).status).toBe(200);
      // B refuses the credentials within one pub/sub hop (its cache would otherwise keep them 30 s),
      // or at once while Redis is down (no cache reuse); a request racing the message may still be
      // authenticated and then find no user (404)
      const deadline = Date.now() + 3000;
      let status = 0;
      while (Date.now() < deadline && (status = (await api(b, 'GET', '/users/current', undefined, basic(n))).status) !== 401) {
        expect([200, 404]).toContain(status);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(status).toBe(401);
      if (outage) {
        // still serving while Redis is down (health 200, Redis reported degraded), and recovering after
        expect((await req(b, 'GET', '/v2/')).status).toBe(200);
        const redisHealth = async (r: RunningRegistry) => {
          const h = await fetch(`${r.url}/api/v2.0/health`);
          expect(h.status).toBe(200);
          const body = (await h.json()) as { status: string; components: { name: string; status: string; error?: string }[] };
          return { overall: body.status, ...body.components.find((x) => x.name === 'redis')! };
        };
        const until = async (want: string) => {
          const end = Date.now() + 10_000;
          let h = await redisHealth(b);
          while (h.status !== want && Date.now() < end) {
            await new Promise((r) => setTimeout(r, 50));
            h = await redisHealth(b);
          }
          return h;
        };
        const down = await until('unhealthy');
        expect(down).toMatchObject({ overall: 'unhealthy', status: 'unhealthy' });
        expect(down.error).toMatch(/degraded/);
        await redis.restart();
        expect(await until('healthy')).toMatchObject({ overall: 'healthy', status: 'healthy' });
      }
    }
  }, 60_000);
});
