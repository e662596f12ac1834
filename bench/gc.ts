// `npm run bench:gc` (also `npm run bench -- --only gc`): online GC over a synthetic registry.
//
// For each backend (SQLite, PostgreSQL): 1,000,000 blobs and 100,000 manifests inserted directly
// into the database (1,000 repositories of 100 tagged manifests; each manifest references a config
// and 7 layers of its own and 2 base layers shared across repositories; 10% of the blobs are
// garbage: half not linked anywhere, half linked by a repository but used by no manifest, as
// abandoned uploads are). Then a real Wharf server runs on that database and:
//   1. push latency of a few concurrent small-image pushes, no GC running (baseline);
//   2. a GC (time_window 2 h, so only the synthetic, day-old garbage is eligible) on the quiet
//      server: time per phase (links, mark, sweep), peak RSS of the server process;
//   3. the garbage is inserted again, and a GC runs while the same pushes continue: push latency
//      during GC, and the GC's own time under load.
// The synthetic blobs have no files (only the database part is measured: deleting 100,000 files
// is not); pushes during the benchmark do have files and are not garbage (they are younger than
// the window). Progress goes to stderr, the table to stdout, everything to bench/results/gc.json.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openMetadata } from '../src/metadata/open.ts';
import { createProject, repoRoot, startWharf, type RunningRegistry } from '../test/helpers/servers.ts';
import { Client, makeImage } from '../test/gc/lib.ts';
import { MemWatch } from './lib/procstat.ts';

const HELP = `Usage: npm run bench:gc -- [options]

  --backends LIST   sqlite,postgres (default both)
  --blobs N         synthetic blobs (default 1000000)
  --manifests N     synthetic manifests (default 100000; 100 per repository)
  --garbage F       fraction of the blobs that is garbage (default 0.1)
  --pushers N       concurrent pushers for the latency measurement (default 4)
  --baseline S      seconds of pushes without GC (default 15)
  --workers N       GC workers parameter (default 2)
  --pg-url URL      PostgreSQL server (default WHARF_TEST_PG_URL or postgres://postgres@127.0.0.1:5432/test)
  --json FILE       JSON output (default bench/results/gc.json)
  --keep            keep the data dirs / schemas
  --generate-only   only generate the synthetic registry (kept; for profiling with src/gc directly)
`;

const DAY = 86_400_000;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const log = (m: string) => process.stderr.write(`[gc-bench] ${m}\n`);

interface Opts {
  backends: ('sqlite' | 'postgres')[];
  blobs: number;
  manifests: number;
  garbage: number;
  pushers: number;
  baselineS: number;
  workers: number;
  pgUrl: string;
  json: string;
  keep: boolean;
  generateOnly: boolean;
}

function opts(): Opts {
  const { values: v } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== '--'),
    options: {
      backends: { type: 'string' },
      blobs: { type: 'string' },
      manifests: { type: 'string' },
      garbage: { type: 'string' },
      pushers: { type: 'string' },
      baseline: { type: 'string' },
      workers: { type: 'string' },
      'pg-url': { type: 'string' },
      json: { type: 'string' },
      keep: { type: 'boolean' },
      'generate-only': { type: 'boolean' },
      only: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: false,
  });
  if (v.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const s = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  return {
    backends: (s('backends') ?? 'sqlite,postgres').split(',').map((x) => x.trim()) as Opts['backends'],
    blobs: Number(s('blobs') ?? 1_000_000),
    manifests: Number(s('manifests') ?? 100_000),
    garbage: Number(s('garbage') ?? 0.1),
    pushers: Number(s('pushers') ?? 4),
    baselineS: Number(s('baseline') ?? 15),
    workers: Number(s('workers') ?? 2),
    pgUrl: s('pg-url') ?? process.env.WHARF_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    json: s('json') ?? path.join(repoRoot, 'bench/results/gc.json'),
    keep: !!v.keep || !!v['generate-only'],
    generateOnly: !!v['generate-only'],
  };
}

// ------------------------------------------------------------------------------ synthetic data

interface Shape {
  repos: number;
  manifests: number;
  /** blobs per manifest of its own: config + layers */
  own: number;
  /** shared base blobs */
  pool: number;
  garbage: number;
}

function shape(o: Opts): Shape {
  const garbage = Math.round(o.blobs * o.garbage);
  const own = 8;
  const pool = o.blobs - garbage - own * o.manifests;
  if (pool < 2) throw new Error('too few blobs for that many manifests');
  return { repos: Math.max(1, Math.round(o.manifests / 100)), manifests: o.manifests, own, pool, garbage };
}

const digestOfBlob = (i: number) => `sha256:${sha(`blob${i}`)}`;

/** Rows, generated in chunks (same data for both backends). */
function* rows(sh: Shape, t: number, garbageFrom: number, garbageOnly = false) {
  const referenced = sh.own * sh.manifests + sh.pool;
  const repoOf = (m: number) => Math.floor(m / Math.ceil(sh.manifests / sh.repos));
  const CH = 20_000;
  let blobs: [string, number, number][] = [];
  let links: [number, string, number][] = [];
  let refs: [number, string, string, string, number][] = [];
  let manifests: [number, string, string, number, number][] = [];
  let tags: [number, string, string, number][] = [];
  const flush = (force = false) => {
    if (force || blobs.length + links.length + refs.length + manifests.length >= CH) {
      const out = { blobs, links, refs, manifests, tags };
      blobs = [];
      links = [];
      refs = [];
      manifests = [];
      tags = [];
      return out;
    }
    return null;
  };
  if (!garbageOnly) {
    for (let i = 0; i < referenced; i++) {
      blobs.push([digestOfBlob(i), 1000 + (i % 50_000), t]);
      const f = flush();
      if (f) yield f;
    }
    for (let m = 0; m < sh.manifests; m++) {
      const repo = repoOf(m) + 1;
      const content = `{"schemaVersion":2,"synthetic":${m}}`;
      const md = `sha256:${sha(content)}`;
      manifests.push([repo, md, content, content.length, t]);
      tags.push([repo, `v${m}`, md, t]);
      const own = Array.from({ length: sh.own }, (_, k) => m * sh.own + k);
      const base = [sh.own * sh.manifests + ((2 * m) % sh.pool), sh.own * sh.manifests + ((2 * m + 1) % sh.pool)];
      for (const [k, b] of [...own, ...base].entries()) {
        const d = digestOfBlob(b);
        refs.push([repo, md, d, k === 0 ? 'config' : 'layer', 1000]);
        links.push([repo, d, t]);
      }
      const f = flush();
      if (f) yield f;
    }
  }
  for (let g = 0; g < sh.garbage; g++) {
    const d = digestOfBlob(garbageFrom + g);
    blobs.push([d, 1000 + (g % 50_000), t]);
    if (g % 2) links.push([(g % sh.repos) + 1, d, t]); // an upload no manifest uses
    const f = flush();
    if (f) yield f;
  }
  yield flush(true)!;
}

async function generateSqlite(file: string, sh: Shape, garbageFrom: number, garbageOnly: boolean): Promise<void> {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.pragma('busy_timeout = 10000');
  const t = Date.now() - DAY;
  const ins = {
    repo: db.prepare('insert or ignore into repositories (id, name, created_at) values (?, ?, ?)'),
    blob: db.prepare('insert into blobs (digest, size, created_at) values (?, ?, ?)'),
    link: db.prepare('insert or ignore into repository_blobs (repository_id, digest, created_at) values (?, ?, ?)'),
    ref: db.prepare('insert or ignore into manifest_references (repository_id, manifest_digest, ref_digest, ref_kind, ref_size) values (?, ?, ?, ?, ?)'),
    man: db.prepare("insert into manifests (repository_id, digest, media_type, size, content, created_at) values (?, ?, 'application/vnd.oci.image.manifest.v1+json', ?, ?, ?)"),
    tag: db.prepare('insert into tags (repository_id, name, manifest_digest, created_at, updated_at) values (?, ?, ?, ?, ?)'),
  };
  db.transaction(() => {
    if (!garbageOnly) for (let r = 1; r <= sh.repos; r++) ins.repo.run(r, `synthetic/r${r}`, t);
    for (const c of rows(sh, t, garbageFrom, garbageOnly)) {
      for (const b of c.blobs) ins.blob.run(...b);
      for (const m of c.manifests) ins.man.run(m[0], m[1], m[3], Buffer.from(m[2]), m[4]);
      for (const x of c.refs) ins.ref.run(...x);
      for (const l of c.links) ins.link.run(...l);
      for (const g of c.tags) ins.tag.run(g[0], g[1], g[2], g[3], g[3]);
    }
  })();
  // Checkpoint here, so the server does not pay for copying the bulk load out of the WAL.
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

async function generatePg(url: string, schema: string, sh: Shape, garbageFrom: number, garbageOnly: boolean): Promise<void> {
  const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await c.connect();
  const t = Date.now() - DAY;
  const col = <T>(a: T[][], i: number) => a.map((r) => r[i]);
  try {
    await c.query('begin');
    if (!garbageOnly) {
      const ids = Array.from({ length: sh.repos }, (_, i) => i + 1);
      await c.query('insert into repositories (id, name, created_at) select i, $2 || i, $3 from unnest($1::bigint[]) i', [ids, 'synthetic/r', t]);
      await c.query(`select setval(pg_get_serial_sequence('repositories', 'id'), $1)`, [sh.repos]);
    }
    for (const ch of rows(sh, t, garbageFrom, garbageOnly)) {
      if (ch.blobs.length) await c.query('insert into blobs (digest, size, created_at) select * from unnest($1::text[], $2::bigint[], $3::bigint[])', [col(ch.blobs, 0), col(ch.blobs, 1), col(ch.blobs, 2)]);
      if (ch.manifests.length)
        await c.query("insert into manifests (repository_id, digest, media_type, size, content, created_at) select r, d, 'application/vnd.oci.image.manifest.v1+json', s, convert_to(x, 'UTF8'), t from unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) as u(r, d, x, s, t)", [
          col(ch.manifests, 0),
          col(ch.manifests, 1),
          col(ch.manifests, 2),
          col(ch.manifests, 3),
          col(ch.manifests, 4),
        ]);
      if (ch.refs.length)
        await c.query('insert into manifest_references select * from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[]) on conflict do nothing', [col(ch.refs, 0), col(ch.refs, 1), col(ch.refs, 2), col(ch.refs, 3), col(ch.refs, 4)]);
      if (ch.links.length) await c.query('insert into repository_blobs (repository_id, digest, created_at) select * from unnest($1::bigint[], $2::text[], $3::bigint[]) on conflict do nothing', [col(ch.links, 0), col(ch.links, 1), col(ch.links, 2)]);
      if (ch.tags.length) await c.query('insert into tags (repository_id, name, manifest_digest, created_at, updated_at) select r, n, d, t, t from unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) as u(r, n, d, t)', [col(ch.tags, 0), col(ch.tags, 1), col(ch.tags, 2), col(ch.tags, 3)]);
    }
    await c.query('commit');
    // What autovacuum would do shortly after a bulk load; the planner needs the statistics.
    await c.query('analyze');
  } finally {
    await c.end();
  }
}

// ------------------------------------------------------------------------------ measurements

interface Latency {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

function summarize(ms: number[]): Latency {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN);
  return { n: s.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: s.length ? s[s.length - 1] : NaN };
}

/** `pushers` loops pushing small images (2 layers of 16 KiB + config) until `until()` says stop. */
async function pushLoad(w: RunningRegistry, pushers: number, until: () => boolean): Promise<{ lat: Latency; errors: number; retries: number }> {
  const lat: number[] = [];
  let errors = 0;
  const clients = Array.from({ length: pushers }, () => new Client(w));
  await Promise.all(
    clients.map(async (c, k) => {
      for (let i = 0; !until(); i++) {
        const img = makeImage([randomBytes(16 << 10), randomBytes(16 << 10)], `b${k}-${i}`);
        const t = performance.now();
        try {
          await c.pushImage(`bench/p${k}`, `t${i}`, img);
          lat.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  return { lat: summarize(lat), errors, retries: clients.reduce((n, c) => n + c.stats.gcRetries + c.stats.manifestRetries, 0) };
}

interface BackendResult {
  backend: string;
  generateS: number;
  rows: Record<string, number>;
  quiet: { ms: Record<string, number>; stats: Record<string, number>; peakRssMiB: number; rssBeforeMiB: number };
  loaded: { ms: Record<string, number>; stats: Record<string, number>; peakRssMiB: number };
  pushIdle: Latency & { errors: number };
  pushDuringGc: Latency & { errors: number; retries: number };
}

async function counts(url: string): Promise<Record<string, number>> {
  const store = await openMetadata(url);
  try {
    const out: Record<string, number> = {};
    for (const t of ['blobs', 'repository_blobs', 'manifest_references', 'manifests', 'tags'] as const) {
      out[t] = Number((await store.db.selectFrom(t).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    }
    return out;
  } finally {
    await store.close();
  }
}

async function runBackend(o: Opts, backend: 'sqlite' | 'postgres'): Promise<BackendResult | null> {
  const sh = shape(o);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `wharf-gc-bench-${backend}-`));
  const schema = `wharf_gcbench_${randomBytes(4).toString('hex')}`;
  const url = backend === 'sqlite' ? `sqlite:${path.join(dataDir, 'wharf.db')}` : `${o.pgUrl}?schema=${schema}`;
  let w: RunningRegistry | undefined;
  try {
    log(`${backend}: generating ${o.blobs} blobs, ${o.manifests} manifests in ${sh.repos} repositories (${sh.garbage} garbage)…`);
    await (await openMetadata(url)).close(); // migrations
    const g0 = Date.now();
    const referenced = sh.own * sh.manifests + sh.pool;
    if (backend === 'sqlite') await generateSqlite(path.join(dataDir, 'wharf.db'), sh, referenced, false);
    else await generatePg(o.pgUrl, schema, sh, referenced, false);
    const generateS = (Date.now() - g0) / 1000;
    const rowsBefore = await counts(url);
    log(`${backend}: generated in ${generateS.toFixed(1)} s: ${JSON.stringify(rowsBefore)}`);
    if (o.generateOnly) {
      log(`${backend}: database ${url}`);
      return null;
    }

    w = await startWharf({ dataDir, env: { WHARF_DATABASE_URL: url, WHARF_LOG_LEVEL: 'warn' } });
    await createProject(w, 'bench');
    const c = new Client(w);
    const mem = new MemWatch(w.proc.pid!);
    mem.start(50);

    log(`${backend}: pushes without GC for ${o.baselineS} s…`);
    const t0 = Date.now();
    const idle = await pushLoad(w, o.pushers, () => Date.now() - t0 > o.baselineS * 1000);

    log(`${backend}: GC on the quiet server…`);
    mem.resetPeak();
    const rssBefore = mem.rssKb();
    const quiet = await c.runGc({ time_window: 2, workers: o.workers });
    const quietPeak = mem.peakKb();
    const q = quiet.gc.result;
    log(`${backend}: quiet GC ${JSON.stringify(q.ms)} ${q.blobsDeleted} blobs, ${q.linksDeleted} links`);
    if (q.blobsDeleted !== sh.garbage || q.linksDeleted !== Math.floor(sh.garbage / 2)) throw new Error(`unexpected GC result ${JSON.stringify(q)}`);

    log(`${backend}: inserting the garbage again, then GC under push load…`);
    if (backend === 'sqlite') await generateSqlite(path.join(dataDir, 'wharf.db'), sh, o.blobs + 1_000_000, true);
    else await generatePg(o.pgUrl, schema, sh, o.blobs + 1_000_000, true);
    mem.resetPeak();
    const id = await c.startGc({ time_window: 2, workers: o.workers });
    let finished = false;
    const gcDone = c.waitGc(id, 900_000).finally(() => (finished = true));
    const during = await pushLoad(w, o.pushers, () => finished);
    const loadedGc = await gcDone;
    const loadedPeak = mem.peakKb();
    mem.stop();
    const l = loadedGc.result;
    log(`${backend}: GC under load ${JSON.stringify(l.ms)} ${l.blobsDeleted} blobs; pushes ${JSON.stringify(during.lat)}`);
    if (loadedGc.job_status !== 'Success' || l.blobsDeleted !== sh.garbage) throw new Error(`unexpected GC result under load ${JSON.stringify(loadedGc)}`);
    const v = await c.verifyAllPullable('bench/');
    if (v.problems.length) throw new Error(`pushed images not pullable after GC: ${v.problems.slice(0, 5).join('; ')}`);
    return {
      backend,
      generateS,
      rows: rowsBefore,
      quiet: { ms: q.ms, stats: statsOf(q), peakRssMiB: quietPeak / 1024, rssBeforeMiB: rssBefore / 1024 },
      loaded: { ms: l.ms, stats: statsOf(l), peakRssMiB: loadedPeak / 1024 },
      pushIdle: { ...idle.lat, errors: idle.errors },
      pushDuringGc: { ...during.lat, errors: during.errors, retries: during.retries },
    };
  } finally {
    await w?.stop({ keepData: true });
    if (!o.keep) {
      await rm(dataDir, { recursive: true, force: true });
      if (backend === 'postgres') {
        const cl = new pg.Client({ connectionString: o.pgUrl });
        await cl.connect();
        await cl.query(`drop schema if exists ${schema} cascade`);
        await cl.end();
      }
    } else log(`kept ${dataDir}${backend === 'postgres' ? ` and schema ${schema}` : ''}`);
  }
}

function statsOf(r: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of ['blobsExamined', 'blobsDeleted', 'bytesFreed', 'manifestsDeleted', 'linksDeleted', 'orphanFiles']) out[k] = Number(r[k]);
  return out;
}

function table(results: BackendResult[]): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const lat = (l: Latency) => `${l.p50.toFixed(0)} / ${l.p95.toFixed(0)} / ${l.p99.toFixed(0)} / ${l.max.toFixed(0)} ms (n=${l.n})`;
  const lines = [
    ['', ...results.map((r) => r.backend)],
    ['rows: blobs / links / refs / manifests', ...results.map((r) => `${r.rows.blobs} / ${r.rows.repository_blobs} / ${r.rows.manifest_references} / ${r.rows.manifests}`)],
    ['garbage deleted: blobs / links', ...results.map((r) => `${r.quiet.stats.blobsDeleted} / ${r.quiet.stats.linksDeleted}`)],
    ['quiet GC: links phase', ...results.map((r) => s(r.quiet.ms.links))],
    ['quiet GC: mark (db)', ...results.map((r) => s(r.quiet.ms.mark))],
    ['quiet GC: sweep (db)', ...results.map((r) => s(r.quiet.ms.sweep))],
    ['quiet GC: total (db part, no files)', ...results.map((r) => s(r.quiet.ms.total))],
    ['server RSS before / peak during GC', ...results.map((r) => `${r.quiet.rssBeforeMiB.toFixed(0)} / ${r.quiet.peakRssMiB.toFixed(0)} MiB`)],
    ['GC under push load: total', ...results.map((r) => s(r.loaded.ms.total))],
    ['peak RSS under load', ...results.map((r) => `${r.loaded.peakRssMiB.toFixed(0)} MiB`)],
    ['image push p50 / p95 / p99 / max, no GC', ...results.map((r) => lat(r.pushIdle))],
    ['image push p50 / p95 / p99 / max, during GC', ...results.map((r) => `${lat(r.pushDuringGc)}${r.pushDuringGc.retries ? `, ${r.pushDuringGc.retries} retries` : ''}${r.pushDuringGc.errors ? `, ${r.pushDuringGc.errors} errors` : ''}`)],
  ];
  const w = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  return lines.map((l) => l.map((c, i) => c.padEnd(w[i])).join(' | ')).join('\n');
}

async function main(): Promise<void> {
  const o = opts();
  const results: BackendResult[] = [];
  for (const b of o.backends) {
    const r = await runBackend(o, b);
    if (r) results.push(r);
  }
  if (o.generateOnly) return;
  const t = table(results);
  process.stdout.write(`\nGC benchmark: ${o.blobs} blobs, ${o.manifests} manifests, ${Math.round(o.garbage * 100)}% garbage, ${o.pushers} concurrent pushers, workers=${o.workers}; ${os.cpus().length} CPUs\n\n${t}\n\n`);
  await mkdir(path.dirname(o.json), { recursive: true });
  await writeFile(o.json, JSON.stringify({ at: new Date().toISOString(), opts: { ...o }, cpus: os.cpus().length, results }, null, 2));
  log(`wrote ${o.json}`);
}

await main();
