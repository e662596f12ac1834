// PostgreSQL faults under a running Wharf (a private server from initdb + pg_ctl, never the
// machine's shared one): while the database is down requests fail fast with an error body, not a
// hang; a crash (immediate stop) in the middle of pushes leaves nothing half-committed — every tag
// that exists afterwards pulls completely and digest-identical — and the server recovers by itself.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestImages, type TestImages } from '../helpers/images.ts';
import { createProject, startWharf, type RunningRegistry } from '../helpers/servers.ts';
import { Skopeo } from '../helpers/clients.ts';
import { req } from '../helpers/raw-http.ts';
import { startPrivatePg, type PrivatePg } from './private-pg.ts';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('PostgreSQL restarted under a running Wharf', () => {
  let db: PrivatePg;
  let w: RunningRegistry;
  let work: string;
  let images: TestImages;
  let skopeo: Skopeo;
  const creds = () => `${w.admin.username}:${w.admin.password}`;
  const raw = async (ref: string) => (await skopeo.run(['inspect', '--tls-verify=false', '--raw', '--creds', creds(), ref])).stdoutBuf;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'wharf-pgfault-'));
    db = await startPrivatePg();
    w = await startWharf({ env: { WHARF_DATABASE_URL: db.url } });
    await createProject(w, 'team');
    images = await buildTestImages(path.join(work, 'images'), 'pgfault');
    skopeo = await Skopeo.create();
  }, 120_000);

  afterAll(async () => {
    if (process.env.DEBUG_PGFAULT) console.log(w?.output().slice(-4000));
    await w?.stop();
    await db?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('while the database is down, requests fail fast with an error body; after it is back, they work', async () => {
    await skopeo.copy(images.ref('single'), `docker://${w.host}/team/app:1`, ['--dest-creds', creds()]);
    await db.stop();
    const t0 = Date.now();
    const r = await req(w, 'GET', '/v2/team/app/manifests/1', { Accept: 'application/vnd.oci.image.manifest.v1+json' });
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.status).toBeGreaterThanOrEqual(500);
    expect(r.json().errors?.[0]?.code).toBeTruthy();
    const api = await fetch(`${w.url}/api/v2.0/projects`, { headers: { Authorization: `Basic ${Buffer.from(creds()).toString('base64')}` } });
    expect(api.status).toBeGreaterThanOrEqual(500);
    expect((await api.json()).errors?.[0]?.code).toBeTruthy();
    const health = async () => {
      const h = await fetch(`${w.url}/api/v2.0/health`);
      const body = (await h.json()) as { status: string; components: { name: string; status: string }[] };
      return { code: h.status, overall: body.status, database: body.components.find((x) => x.name === 'database')?.status };
    };
    expect(await health()).toEqual({ code: 503, overall: 'unhealthy', database: 'unhealthy' });
    await db.start();
    let ok = 0;
    for (let i = 0; i < 100 && ok !== 200; i++) {
      ok = (await req(w, 'GET', '/v2/team/app/manifests/1', { Accept: 'application/vnd.oci.image.manifest.v1+json' })).status;
      if (ok !== 200) await new Promise((res) => setTimeout(res, 200));
    }
    expect(ok).toBe(200);
    expect(await health()).toEqual({ code: 200, overall: 'healthy', database: 'healthy' });
  }, 120_000);

  it('a crash in the middle of pushes leaves nothing half-committed, and pushes work again after', async () => {
    const refs = ['single', 'derived', 'multi'] as const;
    const pushes = refs.map((r, i) =>
      skopeo.copy(images.ref(r), `docker://${w.host}/team/crash${i}:1`, ['--dest-creds', creds(), ...(r === 'multi' ? ['--all'] : [])]).then(
        () => 'ok' as const,
        (e: Error) => e,
      ),
    );
    await new Promise((res) => setTimeout(res, 150));
    await db.crash();
    await new Promise((res) => setTimeout(res, 500));
    await db.start();
    const outcomes = await Promise.all(pushes);
    // whatever happened to each push, every tag that exists is complete
    for (let i = 0; i < refs.length; i++) {
      const tags = await req(w, 'GET', `/v2/team/crash${i}/tags/list`);
      if (tags.status !== 200) continue;
      for (const t of tags.json().tags ?? []) {
        const out = path.join(work, `pulled-${i}-${t}`);
        await skopeo.copy(`docker://${w.host}/team/crash${i}:${t}`, `oci:${out}:x`, ['--src-creds', creds(), '--all']);
      }
    }
    // and the pushes that failed succeed when retried
    for (let i = 0; i < refs.length; i++) {
      if (outcomes[i] === 'ok') continue;
      const d = await skopeo.copyDigest(images.ref(refs[i]!), `docker://${w.host}/team/crash${i}:1`, ['--dest-creds', creds(), ...(refs[i] === 'multi' ? ['--all'] : [])]);
      expect(sha256(await raw(`docker://${w.host}/team/crash${i}:1`))).toBe(d);
    }
    console.log(`pg crash during 3 pushes: ${outcomes.filter((o) => o === 'ok').length} completed, ${outcomes.filter((o) => o !== 'ok').length} failed and were retried`);
  }, 180_000);
});
