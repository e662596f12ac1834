// `npm run bench:scale` (also `npm run bench -- --only scale`): the embedded mode (SQLite) against
// the scale-out mode (PostgreSQL; 1 and 2 replicas sharing one data dir for storage and keys) in
// one run:
//   - manifest GET by tag, requests/s: wrk against each replica at once (2 replicas: one wrk per
//     replica, half the connections each, summed), every request authenticated;
//   - push throughput: concurrent pushers each pushing small images (3 layers of 256 KiB + config
//     + manifest, all new content), spread round-robin over the replicas; images/s and MiB/s.
// Everything runs on this machine: with 2 cores, two replicas and the load generators share them,
// so the 2-replica lines show coordination overhead more than capacity. Results also go to
// bench/results/scale.json.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { adminAuth, createProject, repoRoot, startWharf, type RunningRegistry } from '../test/helpers/servers.ts';
import { makeAgent } from './lib/http.ts';
import { makeSmallImage, RegistryClient } from './lib/registry.ts';
import { runWrk, writeWrkScript } from './lib/wrk.ts';

const { values: v } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    duration: { type: 'string' },
    connections: { type: 'string' },
    pushers: { type: 'string' },
    images: { type: 'string' },
    'pg-url': { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (v.help) {
  console.log(`Usage: npm run bench:scale -- [--duration S (5)] [--connections N (32)] [--pushers N (4)] [--images N (60)] [--pg-url URL] [--json FILE]`);
  process.exit(0);
}
const durationS = Number(v.duration ?? 5);
const connections = Number(v.connections ?? 32);
const pushers = Number(v.pushers ?? 4);
const imageCount = Number(v.images ?? 60);
const PG = v['pg-url'] ?? process.env.WHARF_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const log = (m: string) => process.stderr.write(`${m}\n`);

interface Mode {
  name: string;
  replicas: RunningRegistry[];
  cleanup(): Promise<void>;
}

async function startMode(name: string, db: 'sqlite' | 'postgres', n: number): Promise<Mode> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `wharf-bench-scale-${name}-`));
  const schema = `wharf_bench_scale_${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = { WHARF_LOG_LEVEL: 'warn', WHARF_AUDIT_SKIP: '' };
  if (db === 'postgres') {
    env.WHARF_DATABASE_URL = `${PG}?schema=${schema}`;
    env.WHARF_AUTO_MIGRATE = 'true';
  }
  const replicas: RunningRegistry[] = [];
  replicas.push(await startWharf({ dataDir, env }));
  for (let i = 1; i < n; i++) replicas.push(await startWharf({ dataDir, env }));
  return {
    name,
    replicas,
    async cleanup() {
      await Promise.allSettled(replicas.map((r) => r.stop({ keepData: true })));
      await rm(dataDir, { recursive: true, force: true });
      if (db === 'postgres') {
        const c = new pg.Client({ connectionString: PG });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      }
    },
  };
}

async function manifestGet(m: Mode, work: string): Promise<number> {
  const r0 = m.replicas[0]!;
  const client = new RegistryClient(r0.url, makeAgent(8), adminAuth(r0));
  const img = makeSmallImage([1024], 'get');
  for (const b of img.blobs) await client.pushBuffer('bench/get', b.data, b.digest);
  await client.putManifest('bench/get', 'latest', img.manifest);
  client.close();
  const script = path.join(work, `wrk-${m.name}.lua`);
  await writeWrkScript(script, { Accept: 'application/vnd.oci.image.manifest.v1+json', Authorization: adminAuth(r0) });
  const per = Math.max(1, Math.floor(connections / m.replicas.length));
  const results = await Promise.all(m.replicas.map((r) => runWrk(`${r.url}/v2/bench/get/manifests/latest`, script, { threads: 1, connections: per, durationS })));
  for (const res of results) if (res.errors.status || res.errors.connect) throw new Error(`${m.name}: wrk errors ${JSON.stringify(res.errors)}`);
  return results.reduce((s, x) => s + x.rps, 0);
}

async function pushes(m: Mode): Promise<{ imagesPerS: number; mibPerS: number }> {
  const clients = m.replicas.map((r) => new RegistryClient(r.url, makeAgent(pushers * 4), adminAuth(r)));
  const images = Array.from({ length: imageCount }, (_, i) => makeSmallImage([256 << 10, 256 << 10, 256 << 10], `${m.name}-${i}-${randomBytes(4).toString('hex')}`));
  const bytes = images.reduce((s, im) => s + im.blobs.reduce((t, b) => t + b.data.length, 0) + im.manifest.length, 0);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: pushers }, async (_, w) => {
      for (;;) {
        const i = next++;
        if (i >= images.length) return;
        const c = clients[(i + w) % clients.length]!;
        const im = images[i]!;
        await Promise.all(im.blobs.map((b) => c.pushBuffer(`bench/push${w}`, b.data, b.digest)));
        await c.putManifest(`bench/push${w}`, `t${i}`, im.manifest);
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  clients.forEach((c) => c.close());
  return { imagesPerS: images.length / s, mibPerS: bytes / 1048576 / s };
}

const work = await mkdtemp(path.join(os.tmpdir(), 'wharf-bench-scale-'));
const rows: Array<{ mode: string; manifestRps: number; imagesPerS: number; mibPerS: number }> = [];
try {
  for (const [name, db, n] of [
    ['embedded (SQLite)', 'sqlite', 1],
    ['PostgreSQL, 1 replica', 'postgres', 1],
    ['PostgreSQL, 2 replicas', 'postgres', 2],
  ] as const) {
    log(`${name}: starting`);
    const m = await startMode(name.replace(/[^a-z0-9]+/gi, '-').toLowerCase(), db, n);
    try {
      await createProject(m.replicas[0]!, 'bench');
      log(`${name}: manifest GET`);
      const rps = await manifestGet(m, work);
      log(`${name}: pushes`);
      const p = await pushes(m);
      rows.push({ mode: name, manifestRps: rps, imagesPerS: p.imagesPerS, mibPerS: p.mibPerS });
    } finally {
      await m.cleanup();
    }
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
const base = rows[0]!;
console.log(`\nScale-out (${os.cpus().length} cores; manifest GET: wrk ${durationS} s, ${connections} connections in all; pushes: ${imageCount} images of 3 × 256 KiB by ${pushers} pushers)`);
console.log(`${'mode'.padEnd(26)}${'manifest GET req/s'.padStart(20)}${'× embedded'.padStart(12)}${'push images/s'.padStart(16)}${'MiB/s'.padStart(9)}${'× embedded'.padStart(12)}`);
for (const r of rows) {
  console.log(
    `${r.mode.padEnd(26)}${r.manifestRps.toFixed(0).padStart(20)}${(r.manifestRps / base.manifestRps).toFixed(2).padStart(12)}${r.imagesPerS.toFixed(1).padStart(16)}${r.mibPerS.toFixed(1).padStart(9)}${(r.imagesPerS / base.imagesPerS).toFixed(2).padStart(12)}`,
  );
}
const out = v.json ?? path.join(repoRoot, 'bench/results/scale.json');
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, JSON.stringify({ date: new Date().toISOString(), durationS, connections, pushers, imageCount, rows }, null, 2));
