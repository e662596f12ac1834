// Online garbage collection against real Wharf processes (SQLite data dir): what it deletes, dry
// runs, pushes racing repeated GC runs, a server killed mid-GC, and the API in Harbor's shape.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { basicAuth, createProject, createUser, repoRoot, startWharf, type RunningRegistry } from '../helpers/servers.ts';
import { blobFiles, blobRows, Client, deletedItems, dropPgSchema, fileExists, insertGarbageRows, makeImage, openDb, pgView, sleep, sqliteView, unreferencedRows } from './lib.ts';

const PG = process.env.WHARF_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const running: RunningRegistry[] = [];
afterAll(async () => {
  for (const r of running) await r.stop().catch(() => undefined);
});

async function start(opts: Parameters<typeof startWharf>[0] = {}): Promise<{ w: RunningRegistry; c: Client }> {
  const w = await startWharf(opts);
  running.push(w);
  await createProject(w, 'p');
  return { w, c: new Client(w) };
}

/** `wharf gc` against a running server's data dir (and database). */
async function cliGc(w: RunningRegistry, env: Record<string, string>, args: string[]): Promise<string> {
  const p = spawn(process.execPath, [path.join(repoRoot, 'bin/wharf.js'), 'gc', ...args], { env: { ...process.env, WHARF_DATA_DIR: w.dataDir, WHARF_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
  if (code !== 0) throw new Error(`wharf gc exited ${code}: ${out}`);
  return out;
}

describe('garbage collection', () => {
  it('after deleting one of two images sharing a base: the shared layers stay, the unique ones go (files and rows)', async () => {
    const { w, c } = await start();
    const base = [randomBytes(50_000), randomBytes(20_000)];
    const a = makeImage([...base, randomBytes(30_000)], 'a');
    const b = makeImage([...base, randomBytes(40_000)], 'b');
    await c.pushImage('p/one', 'v1', a);
    await c.pushImage('p/two', 'v1', b, 'p/one'); // the base layers are mounted from p/one
    await c.deleteManifest('p/one', a.digest);
    const uniqueA = [a.blobs[2].digest, a.blobs[3].digest]; // a's own layer and config
    const keep = b.blobs.map((x) => x.digest); // the base layers, b's own layer and config
    for (const d of [...uniqueA, ...keep]) expect(await fileExists(w.dataDir, d)).toBe(true);

    const { gc, log } = await c.runGc({ time_window: 0 });
    expect(gc.job_status).toBe('Success');
    expect(gc.result.blobsDeleted).toBe(2);
    expect(gc.result.bytesFreed).toBe(a.layers[2].length + a.config.length);
    expect(log).toContain('deleted blob');
    const db = openDb(w.dataDir);
    try {
      const rows = blobRows(db);
      for (const d of uniqueA) {
        expect(await fileExists(w.dataDir, d), d).toBe(false);
        expect(rows.has(d)).toBe(false);
      }
      for (const d of keep) {
        expect(await fileExists(w.dataDir, d), d).toBe(true);
        expect(rows.has(d)).toBe(true);
      }
    } finally {
      db.close();
    }
    const v = await c.verifyAllPullable();
    expect(v.problems).toEqual([]);
    expect(v.tags).toBe(1);
    // the default window (2 h) protects everything that is this young
    const again = await c.runGc({});
    expect(again.gc.result.blobsDeleted).toBe(0);
  });

  it('a dry run reports exactly what the real run then deletes', async () => {
    const { w, c } = await start();
    const base = [randomBytes(10_000)];
    const imgs = [0, 1, 2, 3].map((i) => makeImage([...base, randomBytes(5000 + i)], `dry${i}`));
    await c.pushImage('p/dry', 'keep', imgs[0]);
    await c.pushImage('p/dry', 'gone', imgs[1]);
    await c.pushImage('p/dry', 'untag-me', imgs[2]);
    await c.pushImage('p/other', 'x', imgs[3]);
    await c.deleteManifest('p/dry', imgs[1].digest);
    // untagged (delete_untagged collects it)
    const t = await c.r('DELETE', '/v2/p/dry/manifests/untag-me');
    expect(t.status).toBe(202);
    // an upload no manifest uses
    const upload = await c.pushBlob('p/dry', randomBytes(7000));
    // a whole repository deleted
    const del = await c.r('DELETE', '/api/v2.0/projects/p/repositories/other');
    expect(del.status).toBe(200);
    const before = await blobFiles(w.dataDir);

    const dry = await c.runGc({ time_window: 0, delete_untagged: true, dry_run: true });
    expect(await blobFiles(w.dataDir)).toEqual(before);
    expect(dry.log).toContain('would delete');
    const real = await c.runGc({ time_window: 0, delete_untagged: true });
    expect(deletedItems(real.log)).toEqual(deletedItems(dry.log));
    expect(deletedItems(real.log).length).toBeGreaterThan(0);
    for (const k of ['blobsExamined', 'blobsDeleted', 'bytesFreed', 'manifestsDeleted', 'linksDeleted', 'orphanFiles', 'orphanBytes']) expect(real.gc.result[k], k).toBe(dry.gc.result[k]);
    expect(real.gc.result.manifestsDeleted).toBe(1);
    // the deleted image's, the untagged image's and the deleted repository's own layer and config, and the upload
    const expected = [...[1, 2, 3].flatMap((i) => [imgs[i].blobs[1].digest, imgs[i].blobs[2].digest]), upload].sort();
    expect(deletedItems(real.log).filter((l) => l.startsWith('blob ')).map((l) => l.split(' ')[1]).sort()).toEqual(expected);
    const after = await blobFiles(w.dataDir);
    expect([...before].filter((f) => !after.has(f)).sort()).toEqual(expected);
    expect((await c.verifyAllPullable()).problems).toEqual([]);
  });

  it.each(['sqlite', 'postgres'])('GC races pushes of images sharing layers (10+ rounds, time_window 0) on %s: every tagged image stays pullable, and a final GC leaves no unreferenced blob', async (backend) => {
    const schema = `wharf_gcrace_${randomBytes(5).toString('hex')}`;
    // PostgreSQL: two HTTP worker processes (each with its own job runner) share the database.
    const dbEnv: Record<string, string> = backend === 'postgres' ? { WHARF_DATABASE_URL: `${PG}?schema=${schema}`, WHARF_WORKERS: '2' } : {};
    const { w, c } = await start({ env: dbEnv });
    const base = Array.from({ length: 4 }, () => randomBytes(30_000));
    const clients = Array.from({ length: 4 }, () => new Client(w));
    let gcRuns = 0;
    const pushed: { repo: string; tag: string; digest: string }[] = [];
    for (let round = 0; round < 10; round++) {
      let pushing = true;
      const gcLoop = (async () => {
        while (pushing) {
          // every third run is `wharf gc` in a process of its own, next to the server, at the same time as a server's run
          if (gcRuns % 3 === 2) await Promise.all([cliGc(w, dbEnv, ['--time-window', '0', '--delete-untagged']), c.runGc({ time_window: 0, workers: 3 })]);
          else await c.runGc({ time_window: 0, workers: 1 + (gcRuns % 5), delete_untagged: gcRuns % 2 === 1 });
          gcRuns++;
        }
      })();
      await Promise.all(
        clients.map(async (cl, k) => {
          for (let i = 0; i < 6; i++) {
            const repo = `p/race${(k + i) % 3}`;
            const tag = `r${round}-c${k}-${i}`;
            const img = makeImage([base[(k + i) % base.length], base[(k + i + 1) % base.length], randomBytes(2000 + i)], tag);
            await cl.pushImage(repo, tag, img, i % 2 ? `p/race${(k + i + 1) % 3}` : undefined);
            pushed.push({ repo, tag, digest: img.digest });
          }
        }),
      );
      pushing = false;
      await gcLoop;
      // make garbage for the next rounds: delete some images (their unique layers and maybe a base)
      for (const p of pushed.splice(0, 6)) await c.deleteManifest(p.repo, p.digest).catch(() => undefined);
      const v = await c.verifyAllPullable();
      expect(v.problems, `round ${round}`).toEqual([]);
    }
    expect(gcRuns).toBeGreaterThanOrEqual(10);
    await c.runGc({ time_window: 0 });
    const v = await c.verifyAllPullable();
    expect(v.problems).toEqual([]);
    expect(v.tags).toBeGreaterThan(0);
    const db = backend === 'postgres' ? await pgView(PG, schema) : sqliteView(w.dataDir);
    try {
      expect(await db.unreferenced()).toEqual([]);
      // every file is a row's, every row has its file
      const rows = await db.rows();
      const files = await blobFiles(w.dataDir);
      expect([...files].filter((f) => !rows.has(f))).toEqual([]);
      expect([...rows].filter((r) => !files.has(r))).toEqual([]);
    } finally {
      await db.close();
    }
    if (backend === 'postgres') {
      await w.stop();
      await dropPgSchema(PG, schema);
    }
    const retries = clients.reduce((n, cl) => n + cl.stats.gcRetries, 0);
    const manifestRetries = clients.reduce((n, cl) => n + cl.stats.manifestRetries, 0);
    console.log(`GC race (${backend}): ${gcRuns} GC runs; pushes retried after "garbage-collected during the upload": ${retries}; manifests retried after MANIFEST_BLOB_UNKNOWN: ${manifestRetries}; mounts: ${clients.reduce((n, cl) => n + cl.stats.mounts, 0)}`);
  }, 300_000);

  it('a server killed during a GC of many blobs: after the restart the job is resumed and completes; nothing referenced is lost', async () => {
    let { w, c } = await start();
    const base = randomBytes(20_000);
    const keep = [0, 1, 2].map((i) => makeImage([base, randomBytes(3000 + i)], `keep${i}`));
    for (const [i, img] of keep.entries()) await c.pushImage('p/keep', `v${i}`, img);
    const dropped = makeImage([base, randomBytes(4000)], 'dropped');
    await c.pushImage('p/keep', 'dropped', dropped);
    await c.deleteManifest('p/keep', dropped.digest);
    let db = openDb(w.dataDir);
    insertGarbageRows(db, 300_000);
    db.close();

    const id = await c.startGc({ time_window: 0 });
    // kill it once it is deleting
    const t0 = Date.now();
    for (;;) {
      const g = await c.gc(id);
      if (g.job_status !== 'Pending' && (g.progress?.blobsDeleted ?? 0) > 0) break;
      if (['Success', 'Error', 'Stopped'].includes(g.job_status)) throw new Error(`GC finished before the kill (${g.job_status}); make the workload bigger`);
      if (Date.now() - t0 > 60_000) throw new Error('GC did not start deleting');
      await sleep(20);
    }
    await w.kill();
    db = openDb(w.dataDir);
    const mid = unreferencedRows(db).length;
    db.close();
    expect(mid).toBeGreaterThan(0);

    w = await startWharf({ dataDir: w.dataDir, port: w.port });
    running.push(w);
    c = new Client(w);
    const g = await c.waitGc(id, 180_000);
    expect(g.job_status).toBe('Success');
    const log = await c.gcLog(id);
    expect(log).toMatch(/attempt 2 of 3/);
    db = openDb(w.dataDir);
    try {
      expect(unreferencedRows(db)).toEqual([]);
    } finally {
      db.close();
    }
    for (const d of dropped.blobs.slice(1)) expect(await fileExists(w.dataDir, d.digest)).toBe(false);
    const v = await c.verifyAllPullable();
    expect(v.problems).toEqual([]);
    expect(v.tags).toBe(3);
  }, 300_000);

  it('the API: Manual runs now, history, log, stop, schedules, parameters, and only system admins', async () => {
    const { w, c } = await start();
    // Manual run: 201 + Location, history, log
    const r = await c.r('POST', '/api/v2.0/system/gc/schedule', { 'Content-Type': 'application/json' }, JSON.stringify({ schedule: { type: 'Manual' }, parameters: { delete_untagged: true, dry_run: true, workers: 2 } }));
    expect(r.status).toBe(201);
    const id = Number(/\/api\/v2\.0\/system\/gc\/(\d+)$/.exec(String(r.headers.location))![1]);
    const g = await c.waitGc(id);
    expect(g).toMatchObject({ id, job_name: 'GARBAGE_COLLECTION', job_kind: 'MANUAL', job_status: 'Success', schedule: { type: 'Manual' }, deleted: false });
    expect(JSON.parse(g.job_parameters)).toEqual({ delete_untagged: true, dry_run: true, time_window: 2, workers: 2 });
    expect(g.result).toMatchObject({ dryRun: true, blobsDeleted: 0 });
    const hist = await c.r('GET', '/api/v2.0/system/gc?page=1&page_size=10');
    expect(hist.status).toBe(200);
    expect(hist.headers['x-total-count']).toBe('1');
    expect(hist.json()[0].id).toBe(id);
    const log = await c.r('GET', `/api/v2.0/system/gc/${id}/log`);
    expect(log.status).toBe(200);
    expect(log.headers['content-type']).toMatch(/^text\/plain/);
    expect(log.body.toString()).toMatch(/\[INFO\] garbage collection \(dry run/);
    expect((await c.r('GET', '/api/v2.0/system/gc/99999')).status).toBe(404);
    expect((await c.r('GET', '/api/v2.0/system/gc/99999/log')).status).toBe(404);

    // bad parameters and schedules
    for (const body of [{ schedule: { type: 'Manual' }, parameters: { workers: 9 } }, { schedule: { type: 'Manual' }, parameters: { time_window: -1 } }, { schedule: { type: 'Manual' }, parameters: { bogus: 1 } }, { schedule: { type: 'Sometimes' } }, { schedule: { type: 'Custom' } }, { schedule: { type: 'Custom', cron: 'not a cron' } }, {}]) {
      const b = await c.r('POST', '/api/v2.0/system/gc/schedule', { 'Content-Type': 'application/json' }, JSON.stringify(body));
      expect(b.status, JSON.stringify(body)).toBe(400);
    }

    // schedules: set, get, change, remove
    expect((await c.r('GET', '/api/v2.0/system/gc/schedule')).json().schedule.type).toBe('None');
    const daily = await c.r('POST', '/api/v2.0/system/gc/schedule', { 'Content-Type': 'application/json' }, JSON.stringify({ schedule: { type: 'Daily' }, parameters: { delete_untagged: true } }));
    expect(daily.status).toBe(201);
    let s = (await c.r('GET', '/api/v2.0/system/gc/schedule')).json();
    expect(s.schedule).toMatchObject({ type: 'Daily', cron: '0 0 0 * * *' });
    expect(s.schedule.next_scheduled_time).toBeTruthy();
    expect(JSON.parse(s.job_parameters)).toMatchObject({ delete_untagged: true, time_window: 2 });
    const custom = await c.r('PUT', '/api/v2.0/system/gc/schedule', { 'Content-Type': 'application/json' }, JSON.stringify({ schedule: { type: 'Custom', cron: '0 30 3 * * 1' }, parameters: { time_window: 12, workers: 3 } }));
    expect(custom.status).toBe(200);
    s = (await c.r('GET', '/api/v2.0/system/gc/schedule')).json();
    expect(s.schedule).toMatchObject({ type: 'Custom', cron: '0 30 3 * * 1' });
    expect(JSON.parse(s.job_parameters)).toMatchObject({ time_window: 12, workers: 3 });
    const none = await c.r('PUT', '/api/v2.0/system/gc/schedule', { 'Content-Type': 'application/json' }, JSON.stringify({ schedule: { type: 'None' } }));
    expect(none.status).toBe(200);
    expect((await c.r('GET', '/api/v2.0/system/gc/schedule')).json().schedule.type).toBe('None');

    // stop a running GC (a big one), and a second GC conflicts while it runs
    const db = openDb(w.dataDir);
    insertGarbageRows(db, 150_000);
    db.close();
    const big = await c.startGc({ time_window: 0 });
    const conflict = await c.r('POST', '/api/v2.0/system/gc/schedule', { 'Content-Type': 'application/json' }, JSON.stringify({ schedule: { type: 'Manual' } }));
    expect(conflict.status).toBe(409);
    for (const t0 = Date.now(); (await c.gc(big)).job_status === 'Pending' && Date.now() - t0 < 30_000; ) await sleep(20);
    const stop = await c.r('PUT', `/api/v2.0/system/gc/${big}`);
    expect(stop.status).toBe(200);
    const stopped = await c.waitGc(big);
    expect(stopped.job_status).toBe('Stopped');
    expect(stopped.result?.stopped ?? true).toBe(true);
    expect(await c.gcLog(big)).toMatch(/stop/);

    // only system admins: a user gets 403, anonymous 401
    await createUser(w, 'gc-user', 'Gc-User-Pass-1');
    const user = { Authorization: basicAuth('gc-user', 'Gc-User-Pass-1') };
    for (const [m, p] of [
      ['GET', '/api/v2.0/system/gc'],
      ['GET', `/api/v2.0/system/gc/${id}`],
      ['GET', `/api/v2.0/system/gc/${id}/log`],
      ['PUT', `/api/v2.0/system/gc/${id}`],
      ['GET', '/api/v2.0/system/gc/schedule'],
      ['POST', '/api/v2.0/system/gc/schedule'],
      ['PUT', '/api/v2.0/system/gc/schedule'],
    ]) {
      const body = m === 'GET' ? undefined : JSON.stringify({ schedule: { type: 'Manual' } });
      const hdr: Record<string, string> = body ? { 'Content-Type': 'application/json' } : {};
      expect((await c.r(m, p, { ...user, ...hdr }, body)).status, `${m} ${p} as a user`).toBe(403);
      expect((await c.r(m, p, { Authorization: '', ...hdr }, body)).status, `${m} ${p} anonymous`).toBe(401);
    }
  }, 300_000);
});
