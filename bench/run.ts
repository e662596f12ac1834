// `npm run bench`: Wharf and the Go reference registry side by side, same machine, same run.
// See bench/README.md. Progress goes to stderr; the tables go to stdout; everything (with every
// sample) goes to bench/results/latest.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../test/helpers/servers.ts';
import { DataDir, type BlobVariant } from './lib/data.ts';
import { makeAgent } from './lib/http.ts';
import { busyPercent, census, censusDelta, cpuSeconds, selfCpuS } from './lib/procstat.ts';
import { makeSmallImage, pushSmallImage, RegistryClient, ACCEPT_MANIFESTS, type SmallImage } from './lib/registry.ts';
import { costTable, cpuTable, errorList, fmtNum, mainTable, noisyLines, Results, type Line, type Sample } from './lib/report.ts';
import { startTarget, stopTarget, TARGET_LABEL, type Target, type TargetName } from './lib/targets.ts';
import { runWrk, writeWrkScript, type WrkResult } from './lib/wrk.ts';

const MiB = 1 << 20;
const GROUPS = ['push', 'pull', 'manifest', 'images', 'auth'] as const;
type Group = (typeof GROUPS)[number];

const HELP = `Usage: npm run bench -- [options]

  --target LIST      reference,wharf,null | both (default: reference,wharf) | all
                     (null = calibration server, see --ceiling)
  --only LIST        groups: push,pull,manifest,images,auth; "blob" = push,pull (default: all)
  --sizes LIST       blob sizes, e.g. 1M,64M,1G (default 1M,64M,1G; quick: 1M,64M)
  --modes LIST       push modes: mono,chunked (default both)
  --chunk SIZE       PATCH chunk size for chunked pushes (default 16M)
  --reps N           repetitions for every blob line (default: 15 for <=4M, 5 for <=256M, 3 above;
                     quick: 5 / 3 / 1); the table shows the median
  --duration S       wrk seconds per manifest run (default 5; quick 3)
  --wrk-reps N       wrk runs per manifest line (default 3; quick 1)
  --connections N    wrk connections (default 64)
  --threads N        wrk threads (default 2)
  --images N         concurrent small-image pushes (default 200)
  --image-reps N     repetitions of the image-push line (default 3; quick 1)
  --layers LIST      the two layer sizes of each small image (default 2K,32K)
  --ceiling          also run the null server (client ceiling); default on except in --quick
  --no-ceiling       do not
  --no-sync          do not run sync(1) before each large timed operation
  --verify           hash every timed pull (default: byte count only; digest checked once, untimed)
  --quick            fewer repetitions, no 1 GiB, shorter wrk runs, no ceiling
  --json FILE        JSON output (default bench/results/latest.json)
  --tmpdir DIR       where data and registries live (default os.tmpdir())
  --keep             keep generated data and registry data dirs
  --quiet-wait S     before each line, wait up to S seconds for the machine to be quiet
                     (other processes < 30% of a core); default 0 = don't wait
`;

interface Opts {
  targets: TargetName[];
  groups: Set<Group>;
  sizes: number[];
  modes: ('mono' | 'chunked')[];
  chunk: number;
  reps?: number;
  quick: boolean;
  duration: number;
  wrkReps: number;
  connections: number;
  threads: number;
  images: number;
  imageReps: number;
  layers: number[];
  sync: boolean;
  verify: boolean;
  json: string;
  tmpdir: string;
  keep: boolean;
  quietWait: number;
}

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg])?i?b?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size: ${s}`);
  const mult = { k: 1 << 10, m: 1 << 20, g: 1 << 30 }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  return Math.round(Number(m[1]) * mult);
}

function sizeLabel(n: number): string {
  if (n >= 1 << 30 && n % (1 << 30) === 0) return `${n / (1 << 30)} GiB`;
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} B`;
}

function list(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

function parseOpts(argv: string[]): Opts {
  const { values: v } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      target: { type: 'string' },
      only: { type: 'string' },
      sizes: { type: 'string' },
      modes: { type: 'string' },
      chunk: { type: 'string' },
      reps: { type: 'string' },
      duration: { type: 'string' },
      'wrk-reps': { type: 'string' },
      connections: { type: 'string' },
      threads: { type: 'string' },
      images: { type: 'string' },
      'image-reps': { type: 'string' },
      layers: { type: 'string' },
      ceiling: { type: 'boolean' },
      'no-ceiling': { type: 'boolean' },
      'no-sync': { type: 'boolean' },
      verify: { type: 'boolean' },
      quick: { type: 'boolean' },
      json: { type: 'string' },
      tmpdir: { type: 'string' },
      keep: { type: 'boolean' },
      'quiet-wait': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const quick = !!v.quick;
  const t = (v.target ?? 'both').toLowerCase();
  let targets: TargetName[] =
    t === 'both'
      ? ['reference', 'wharf']
      : t === 'all'
        ? ['reference', 'wharf', 'null']
        : list(t).map((x) => {
            const n = x === 'go' || x === 'ref' || x === 'go-ref' ? 'reference' : x === 'ceiling' ? 'null' : x;
            if (n !== 'reference' && n !== 'wharf' && n !== 'null') throw new Error(`unknown target ${x}`);
            return n as TargetName;
          });
  const ceiling = v['no-ceiling'] ? false : (v.ceiling ?? !quick);
  if (ceiling && !targets.includes('null')) targets = [...targets, 'null'];
  const groups = new Set<Group>();
  for (const g of list(v.only ?? GROUPS.join(','))) {
    if (g === 'blob' || g === 'blobs') {
      groups.add('push');
      groups.add('pull');
    } else if (g === 'manifests') groups.add('manifest');
    else if (g === 'image') groups.add('images');
    else if ((GROUPS as readonly string[]).includes(g)) groups.add(g as Group);
    else throw new Error(`unknown group ${g} (push, pull, blob, manifest, images)`);
  }
  const modes = list(v.modes ?? 'mono,chunked').map((m) => {
    if (m === 'monolithic') return 'mono';
    if (m !== 'mono' && m !== 'chunked') throw new Error(`unknown mode ${m}`);
    return m;
  }) as ('mono' | 'chunked')[];
  const int = (s: string | undefined, d: number) => (s === undefined ? d : Math.max(1, parseInt(s, 10)));
  return {
    targets,
    groups,
    sizes: list(v.sizes ?? (quick ? '1M,64M' : '1M,64M,1G')).map(parseSize),
    modes,
    chunk: parseSize(v.chunk ?? '16M'),
    reps: v.reps === undefined ? undefined : int(v.reps, 1),
    quick,
    duration: int(v.duration, quick ? 3 : 5),
    wrkReps: int(v['wrk-reps'], quick ? 1 : 3),
    connections: int(v.connections, 64),
    threads: int(v.threads, 2),
    images: int(v.images, 200),
    imageReps: int(v['image-reps'], quick ? 1 : 3),
    layers: list(v.layers ?? '2K,32K').map(parseSize),
    sync: !v['no-sync'],
    verify: !!v.verify,
    json: path.resolve(v.json ?? path.join(repoRoot, 'bench/results/latest.json')),
    tmpdir: path.resolve(v.tmpdir ?? os.tmpdir()),
    keep: !!v.keep,
    quietWait: v['quiet-wait'] === undefined ? 0 : Math.max(0, Number(v['quiet-wait'])),
  };
}

function repsFor(o: Opts, size: number): number {
  if (o.reps) return o.reps;
  if (size <= 4 * MiB) return o.quick ? 5 : 15;
  if (size <= 256 * MiB) return o.quick ? 3 : 5;
  return o.quick ? 1 : 3;
}

function warmupsFor(size: number): number {
  return size <= 4 * MiB ? 3 : size <= 256 * MiB ? 1 : 0;
}

const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);
const errMsg = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300);

/** Flush dirty pages so one operation's writeback does not land in the next one's timing. */
function syncDisks(o: Opts): void {
  if (o.sync) spawnSync('sync');
}

async function timed(t: Target, fn: () => Promise<void>): Promise<Omit<Sample, 'value'>> {
  const k0 = census();
  const c0 = cpuSeconds(t.server.pid);
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wallS = (performance.now() - t0) / 1000;
  const u = process.cpuUsage(u0);
  const serverCpuS = cpuSeconds(t.server.pid) - c0;
  const { kernelS, otherS } = censusDelta(k0, census());
  return { wallS, serverCpuS, clientCpuS: (u.user + u.system) / 1e6, kernelCpuS: kernelS, otherCpuS: otherS };
}

class Bench {
  res = new Results();
  constructor(
    readonly o: Opts,
    readonly ts: Target[],
    readonly data: DataDir,
  ) {}

  /** Targets that are still alive and, for `line`, have not failed yet. */
  live(line?: Line, ts = this.ts): Target[] {
    return ts.filter((t) => !t.dead() && !line?.cells[t.name]?.error);
  }

  fail(line: Line, t: Target, e: unknown): void {
    const dead = t.dead() ? ' (server process exited)' : '';
    const tail = t.server.output().slice(-1500).trim();
    this.res.setError(line, t.name, new Error(`${errMsg(e)}${dead}${tail ? `\nserver output (tail):\n${tail}` : ''}`));
    log(`  ${t.label}: ERROR ${errMsg(e)}${dead}`);
    if (tail) log(`  ${t.label} server output (tail):\n${tail.slice(-600)}`);
  }

  /** Repetitions interleaved across targets (order alternates every round). */
  async repeat(line: Line, ts: Target[], reps: number, op: (t: Target, rep: number) => Promise<Sample>): Promise<void> {
    await this.waitQuiet();
    for (let i = 0; i < reps; i++) {
      const order = i % 2 === 0 ? ts : [...ts].reverse();
      for (const t of this.live(line, order)) {
        try {
          this.res.addSample(line, t.name, await op(t, i));
        } catch (e) {
          this.fail(line, t, e);
        }
      }
    }
    const parts = ts.map((t) => {
      const c = line.cells[t.name];
      return `${t.label} ${c?.error ? 'ERR' : fmtNum(c?.value)}`;
    });
    log(`${line.label}: ${parts.join(' | ')} ${line.unit}${line.ratio !== undefined ? `  (wharf/go ${line.ratio.toFixed(2)})` : ''}`);
  }

  /** With --quiet-wait: wait (bounded) until other processes leave the machine alone. */
  async waitQuiet(): Promise<void> {
    if (!this.o.quietWait) return;
    const deadline = Date.now() + this.o.quietWait * 1000;
    let busy = await busyPercent(500);
    while (busy > 30 && Date.now() < deadline) {
      log(`  machine busy (${busy.toFixed(0)}% of a core used by others), waiting`);
      busy = await busyPercent(2000);
    }
  }

  async warm(line: Line, ts: Target[], n: number, op: (t: Target) => Promise<void>): Promise<void> {
    for (const t of this.live(line, ts))
      for (let i = 0; i < n; i++) {
        try {
          await op(t);
        } catch (e) {
          this.fail(line, t, e);
          break;
        }
      }
  }

  // ---- memory phases -------------------------------------------------------------------
  private peaks = new Map<TargetName, number>();

  phaseStart(): void {
    for (const t of this.ts) t.mem.resetPeak();
  }

  phaseEnd(id: string, label: string): void {
    const line = this.res.line(`rss.${id}`, 'rss', `peak RSS: ${label}`, 'MiB', 'lower');
    for (const t of this.ts) {
      if (t.name === 'null') continue;
      const kb = t.mem.peakKb();
      this.peaks.set(t.name, Math.max(this.peaks.get(t.name) ?? 0, kb));
      this.res.setValue(line, t.name, kb / 1024);
    }
  }

  memSummary(): void {
    const idle = this.res.line('rss.idle', 'rss', 'RSS after start (idle)', 'MiB', 'lower');
    const peak = this.res.line('rss.peak', 'rss', 'peak RSS: whole run', 'MiB', 'lower');
    const end = this.res.line('rss.end', 'rss', 'RSS at end of run', 'MiB', 'lower');
    for (const t of this.ts) {
      if (t.name === 'null') continue;
      this.res.setValue(idle, t.name, t.idleKb / 1024);
      this.res.setValue(peak, t.name, Math.max(t.idleKb, this.peaks.get(t.name) ?? 0) / 1024);
      this.res.setValue(end, t.name, t.mem.rssKb() / 1024);
    }
  }

  // ---- blobs -----------------------------------------------------------------------------
  async blobs(size: number): Promise<void> {
    const o = this.o;
    const sl = sizeLabel(size);
    const key = sl.replace(' ', '');
    log(`generating ${sl} of random data (untimed)`);
    const bf = await this.data.blob(size);
    const reps = repsFor(o, size);
    const big = size >= 64 * MiB;
    this.phaseStart();

    if (o.groups.has('push')) {
      for (const mode of o.modes) {
        const chunkNote = mode === 'chunked' ? ` (${sizeLabel(Math.min(o.chunk, size))} chunks)` : '';
        const line = this.res.line(
          `push.${mode}.${key}`,
          'push',
          `blob push ${mode === 'mono' ? 'monolithic' : 'chunked'} ${sl}${chunkNote}`,
          'MiB/s',
          'higher',
        );
        const repo = `bench/push-${mode}-${key.toLowerCase()}`;
        const push = (t: Target, v: BlobVariant) =>
          mode === 'mono' ? t.client.pushMonolithic(repo, v) : t.client.pushChunked(repo, v, o.chunk);
        await this.warm(line, this.ts, warmupsFor(size), (t) => push(t, bf.variant()));
        line.cost = { unit: 'CPU s/GiB', scale: 1 };
        await this.repeat(line, this.ts, reps, async (t) => {
          const v = bf.variant();
          if (big) syncDisks(o);
          const m = await timed(t, () => push(t, v));
          return { value: size / MiB / m.wallS, ...m, work: size / 2 ** 30 };
        });
      }
    }

    if (o.groups.has('pull')) {
      const line = this.res.line(`pull.${key}`, 'pull', `blob pull ${sl}`, 'MiB/s', 'higher');
      const repo = `bench/pull-${key.toLowerCase()}`;
      const blobs = new Map<TargetName, BlobVariant>();
      // setup (untimed): push one blob, pull it once checking its digest (also warms caches)
      for (const t of this.live(line)) {
        try {
          const v = bf.variant();
          await t.client.pushMonolithic(repo, v);
          await t.client.pull(repo, v.digest, size, t.name !== 'null');
          for (let i = 1; i < warmupsFor(size); i++) await t.client.pull(repo, v.digest, size);
          blobs.set(t.name, v);
        } catch (e) {
          this.fail(line, t, e);
        }
      }
      line.cost = { unit: 'CPU s/GiB', scale: 1 };
      await this.repeat(line, this.ts, reps, async (t) => {
        const v = blobs.get(t.name)!;
        if (big) syncDisks(o);
        const m = await timed(t, () => t.client.pull(repo, v.digest, size, o.verify && t.name !== 'null'));
        return { value: size / MiB / m.wallS, ...m, work: size / 2 ** 30 };
      });
    }
    this.phaseEnd(`blob.${key}`, `blob push/pull ${sl}`);
  }

  // ---- manifests -------------------------------------------------------------------------
  async manifests(): Promise<void> {
    const o = this.o;
    this.phaseStart();
    // one wrk script per target: Wharf's also carries the admin's Authorization header
    const scripts = new Map<TargetName, string>();
    for (const t of this.ts) {
      const f = path.join(this.data.dir, `manifest-${t.name}.lua`);
      await writeWrkScript(f, { Accept: ACCEPT_MANIFESTS, ...(t.server.auth ? { Authorization: t.server.auth } : {}) });
      scripts.set(t.name, f);
    }
    const repo = 'bench/manifest';
    const img = makeSmallImage(o.layers, 'manifest');
    const setupLine = this.res.line('manifest.tag', 'manifest', `manifest GET by tag (${o.connections} conns)`, 'req/s', 'higher');
    const ok: Target[] = [];
    for (const t of this.live(setupLine)) {
      try {
        await pushSmallImage(t.client, repo, 'latest', img);
        for (const ref of ['latest', img.manifestDigest]) {
          const r = await t.client.getManifest(repo, ref);
          if (!r.body.equals(img.manifest)) throw new Error(`GET manifest ${ref}: body differs from what was pushed`);
          const d = r.headers['docker-content-digest'];
          if (d && d !== img.manifestDigest) throw new Error(`GET manifest ${ref}: Docker-Content-Digest ${d}`);
        }
        ok.push(t);
      } catch (e) {
        this.fail(setupLine, t, e);
      }
    }
    for (const [kind, ref] of [
      ['tag', 'latest'],
      ['digest', img.manifestDigest],
    ] as const) {
      const rps = this.res.line(`manifest.${kind}`, 'manifest', `manifest GET by ${kind} (${o.connections} conns)`, 'req/s', 'higher');
      rps.cost = { unit: 'CPU µs/req', scale: 1e6 };
      const p99 = this.res.line(`manifest.${kind}.p99`, 'manifest', `manifest GET by ${kind}: p99 latency`, 'ms', 'lower');
      const wrkOpts = { threads: o.threads, connections: o.connections, durationS: o.duration };
      const check = (w: WrkResult) => {
        const sock = w.errors.connect + w.errors.read + w.errors.write + w.errors.timeout;
        if (w.errors.status > 0) throw new Error(`wrk: ${w.errors.status} non-2xx/3xx responses of ${w.requests}`);
        if (sock > w.requests * 0.001) throw new Error(`wrk: ${sock} socket errors of ${w.requests} (${JSON.stringify(w.errors)})`);
      };
      const ts = ok.filter((t) => !setupLine.cells[t.name]?.error);
      // warm-up run (untimed)
      for (const t of ts) {
        try {
          check(await runWrk(`${t.server.url}/v2/${repo}/manifests/${ref}`, scripts.get(t.name)!, { ...wrkOpts, durationS: Math.min(2, o.duration) }));
        } catch (e) {
          this.fail(rps, t, e);
        }
      }
      await this.repeat(rps, ts, o.wrkReps, async (t) => {
        const k0 = census();
        const c0 = cpuSeconds(t.server.pid);
        const s0 = selfCpuS();
        const w = await runWrk(`${t.server.url}/v2/${repo}/manifests/${ref}`, scripts.get(t.name)!, wrkOpts);
        const serverCpuS = cpuSeconds(t.server.pid) - c0;
        const clientCpuS = selfCpuS() - s0; // includes wrk (reaped child)
        const { kernelS: kernelCpuS, otherS: otherCpuS } = censusDelta(k0, census());
        check(w);
        this.res.addSample(p99, t.name, { value: w.latencyMs.p99, wallS: 0, serverCpuS: 0, extra: { latencyMs: w.latencyMs } });
        const extra = { requests: w.requests, errors: w.errors, latencyMs: w.latencyMs };
        return { value: w.rps, wallS: w.durationS, serverCpuS, clientCpuS, kernelCpuS, otherCpuS, work: w.requests, extra };
      });
      for (const t of ts) if (rps.cells[t.name]?.error) this.res.setError(p99, t.name, rps.cells[t.name]!.error);
    }
    this.phaseEnd('manifest', 'manifest GET');
  }

  // ---- cost of authentication ------------------------------------------------------------
  // Manifest GETs by a non-admin project member (developer) with Basic credentials and with a
  // bearer token from the token service, against anonymous GETs from a public project. The Go
  // reference runs without auth and ignores the header: its lines are the same request unauthenticated.
  async auth(): Promise<void> {
    const o = this.o;
    this.phaseStart();
    const repo = 'benchpub/manifest';
    const img = makeSmallImage(o.layers, 'auth');
    const setupLine = this.res.line('auth.setup', 'auth', 'auth setup', 'ok', 'higher');
    const headers = new Map<TargetName, Record<string, Record<string, string>>>();
    const ok: Target[] = [];
    for (const t of this.live(setupLine)) {
      try {
        const modes: Record<string, Record<string, string>> = { anonymous: {} };
        const devBasic = `Basic ${Buffer.from('benchdev:Bench-Dev-Pass-1').toString('base64')}`;
        if (t.server.auth) {
          const api = async (method: string, p: string, body: unknown) => {
            const r = await fetch(`${t.server.url}/api/v2.0${p}`, { method, headers: { Authorization: t.server.auth!, 'Content-Type': 'application/json', 'X-Is-Resource-Name': 'true' }, body: JSON.stringify(body) });
            if (r.status !== 201 && r.status !== 409) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
          };
          await api('POST', '/projects', { project_name: 'benchpub', public: true });
          await api('POST', '/users', { username: 'benchdev', email: 'benchdev@example.com', realname: 'bench', password: 'Bench-Dev-Pass-1' });
          await api('POST', '/projects/benchpub/members', { role_id: 2, member_user: { username: 'benchdev' } });
          const tr = await fetch(`${t.server.url}/service/token?service=wharf-registry&scope=repository:${repo}:pull`, { headers: { Authorization: devBasic } });
          const token = ((await tr.json()) as { token: string }).token;
          modes.basic = { Authorization: devBasic };
          modes.bearer = { Authorization: `Bearer ${token}` };
        } else {
          modes.basic = { Authorization: devBasic };
          modes.bearer = { Authorization: 'Bearer ignored-by-an-unauthenticated-registry' };
        }
        await pushSmallImage(t.client, repo, 'latest', img);
        for (const [mode, h] of Object.entries(modes)) {
          const r = await fetch(`${t.server.url}/v2/${repo}/manifests/latest`, { headers: { Accept: ACCEPT_MANIFESTS, ...h } });
          const body = Buffer.from(await r.arrayBuffer());
          if (r.status !== 200 || !body.equals(img.manifest)) throw new Error(`GET manifest as ${mode}: ${r.status}`);
        }
        headers.set(t.name, modes);
        ok.push(t);
      } catch (e) {
        this.fail(setupLine, t, e);
      }
    }
    const wrkOpts = { threads: o.threads, connections: o.connections, durationS: o.duration };
    for (const mode of ['anonymous', 'basic', 'bearer'] as const) {
      const label = mode === 'anonymous' ? 'anonymous, public project' : mode === 'basic' ? 'developer, Basic credentials' : 'developer, bearer token';
      const rps = this.res.line(`auth.${mode}`, 'auth', `manifest GET, ${label} (${o.connections} conns)`, 'req/s', 'higher');
      rps.cost = { unit: 'CPU µs/req', scale: 1e6 };
      const scripts = new Map<TargetName, string>();
      for (const t of ok) {
        const f = path.join(this.data.dir, `auth-${mode}-${t.name}.lua`);
        await writeWrkScript(f, { Accept: ACCEPT_MANIFESTS, ...headers.get(t.name)![mode] });
        scripts.set(t.name, f);
      }
      for (const t of ok) await runWrk(`${t.server.url}/v2/${repo}/manifests/latest`, scripts.get(t.name)!, { ...wrkOpts, durationS: Math.min(2, o.duration) }).catch(() => {});
      await this.repeat(rps, ok, o.wrkReps, async (t) => {
        const c0 = cpuSeconds(t.server.pid);
        const w = await runWrk(`${t.server.url}/v2/${repo}/manifests/latest`, scripts.get(t.name)!, wrkOpts);
        if (w.errors.status > 0) throw new Error(`wrk: ${w.errors.status} non-2xx/3xx responses of ${w.requests}`);
        return { value: w.rps, wallS: w.durationS, serverCpuS: cpuSeconds(t.server.pid) - c0, work: w.requests, extra: { latencyMs: w.latencyMs } };
      });
    }
    this.phaseEnd('auth', 'authenticated manifest GET');
  }

  // ---- many small images -----------------------------------------------------------------
  async images(): Promise<void> {
    const o = this.o;
    const n = o.images;
    this.phaseStart();
    const wall = this.res.line('images.wall', 'images', `${n} concurrent image pushes: wall time`, 's', 'lower');
    const rate = this.res.line('images.rate', 'images', `${n} concurrent image pushes: throughput`, 'images/s', 'higher');
    wall.cost = { unit: 'CPU ms/image', scale: 1e3 };
    for (let rep = 0; rep < o.imageReps; rep++) {
      const imgs: SmallImage[] = Array.from({ length: n }, (_, i) => makeSmallImage(o.layers, `r${rep}-${i}`));
      const order = rep % 2 === 0 ? this.ts : [...this.ts].reverse();
      for (const t of this.live(wall, order)) {
        syncDisks(o);
        const agent = makeAgent();
        const c = new RegistryClient(t.server.url, agent, t.server.auth);
        try {
          const m = await timed(t, async () => {
            const rs = await Promise.allSettled(imgs.map((img, i) => pushSmallImage(c, `bench/img-r${rep}-${i}`, 'v1', img)));
            const bad = rs.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
            if (bad.length) throw new Error(`${bad.length}/${n} pushes failed, first: ${errMsg(bad[0].reason)}`);
          });
          // spot-check (untimed) that the images are really there
          for (const i of [0, Math.floor(n / 2), n - 1]) {
            const r = await t.client.getManifest(`bench/img-r${rep}-${i}`, 'v1');
            if (!r.body.equals(imgs[i].manifest)) throw new Error(`image ${i}: manifest body differs`);
          }
          this.res.addSample(wall, t.name, { value: m.wallS, ...m, work: n, extra: { images: n } });
          this.res.addSample(rate, t.name, { value: n / m.wallS, ...m, extra: { images: n } });
        } catch (e) {
          this.fail(wall, t, e);
          this.res.setError(rate, t.name, wall.cells[t.name]!.error);
        } finally {
          c.close();
          agent.destroy();
        }
      }
    }
    const parts = this.ts.map((t) => `${t.label} ${wall.cells[t.name]?.error ? 'ERR' : fmtNum(rate.cells[t.name]?.value)}`);
    log(`${rate.label}: ${parts.join(' | ')} images/s`);
    this.phaseEnd('images', `${n} image pushes`);
  }
}

function machineInfo() {
  const sh = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      return undefined;
    }
  };
  return {
    date: new Date().toISOString(),
    host: os.hostname(),
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    goRegistry: sh('docker-registry', ['--version']),
    wrk: sh('wrk', ['-v'])?.split('\n')[0] ?? (spawnSync('wrk', ['-v']).stdout?.toString().split('\n')[0] || undefined),
    wharfCommit: (() => {
      const head = sh('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']);
      const dirty = sh('git', ['-C', repoRoot, 'status', '--porcelain', '--', 'src', 'bin', 'package.json']);
      return head && dirty ? `${head}+uncommitted` : head;
    })(),
  };
}

async function main(): Promise<number> {
  // `--only gc`: the GC benchmark (bench/gc.ts, also `npm run bench:gc`) with its own options.
  if (process.argv.slice(2).some((a, i, all) => a === '--only=gc' || (a === '--only' && all[i + 1] === 'gc'))) return import('./gc.ts').then(() => 0);
  // `--only scan`: the scanner benchmark (bench/scan.ts, also `npm run bench:scan`) with its own options.
  if (process.argv.slice(2).some((a, i, all) => a === '--only=scan' || (a === '--only' && all[i + 1] === 'scan'))) return import('./scan.ts').then(() => 0);
  // `--only scale`: embedded vs PostgreSQL with 1 and 2 replicas (bench/scale.ts, also `npm run bench:scale`).
  if (process.argv.slice(2).some((a, i, all) => a === '--only=scale' || (a === '--only' && all[i + 1] === 'scale'))) return import('./scale.ts').then(() => 0);
  let o: Opts;
  try {
    o = parseOpts(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench: ${errMsg(e)}\n(npm run bench -- --help)\n`);
    return 2;
  }
  const meta = machineInfo();
  process.env.TMPDIR = o.tmpdir; // servers.ts puts registry data dirs under os.tmpdir()
  const free = spawnSync('df', ['-Pk', o.tmpdir]).stdout?.toString().split('\n')[1]?.split(/\s+/)[3];
  const needGiB = (o.sizes.reduce((a, s) => a + s * (repsFor(o, s) * o.modes.length + 3), 0) * o.targets.length) / 2 ** 30;
  if (free && Number(free) / 2 ** 20 < needGiB * 1.2)
    log(`WARNING: ${o.tmpdir} has ${(Number(free) / 2 ** 20).toFixed(1)} GiB free, this run may write ~${needGiB.toFixed(1)} GiB`);

  const background = await busyPercent(1000);
  (meta as Record<string, unknown>).backgroundBusyPct = Math.round(background);
  if (background > 30)
    log(`WARNING: the machine is already busy (${background.toFixed(0)}% of a core used by other processes); numbers will be noisy`);
  const ts: Target[] = [];
  const startErrors: Partial<Record<TargetName, string>> = {};
  const targetsInfo: Record<string, unknown> = {};
  for (const name of o.targets) {
    log(`starting ${TARGET_LABEL[name]}`);
    try {
      const t = await startTarget(name);
      ts.push(t);
      targetsInfo[name] = { started: true, url: t.server.url, pid: t.server.pid, dataDir: t.server.dataDir };
      log(`  ${t.label} at ${t.server.url} pid ${t.server.pid}, idle RSS ${(t.idleKb / 1024).toFixed(1)} MiB`);
    } catch (e) {
      startErrors[name] = errMsg(e);
      targetsInfo[name] = { started: false, error: e instanceof Error ? e.message.slice(0, 4000) : String(e) };
      log(`  ${TARGET_LABEL[name]} did not start: ${(e instanceof Error ? e.message : String(e)).slice(0, 1500)}`);
    }
  }
  const data = await DataDir.create(o.tmpdir);
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      await Promise.all(ts.map((t) => stopTarget(t, o.keep).catch(() => {})));
      if (!o.keep) await data.remove().catch(() => {});
    })());
  let interrupted = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      interrupted = true;
      log(`${sig}: stopping registries, no results written`);
      void cleanup().then(() => process.exit(130));
    });

  const b = new Bench(o, ts, data);
  let fatal: unknown;
  try {
    if (!ts.length) throw new Error('no registry started');
    if (o.groups.has('push') || o.groups.has('pull')) for (const s of o.sizes) await b.blobs(s);
    if (o.groups.has('manifest')) await b.manifests();
    if (o.groups.has('images')) await b.images();
    if (o.groups.has('auth')) await b.auth();
    b.memSummary();
  } catch (e) {
    fatal = e;
    log(`FATAL: ${e instanceof Error ? e.stack : e}`);
  } finally {
    await cleanup();
  }
  if (interrupted) return new Promise<number>(() => {}); // the signal handler exits

  const present = o.targets.filter((n) => ts.some((t) => t.name === n));
  const headLines = [
    `Wharf vs Go reference registry — ${meta.date}`,
    `machine: ${meta.cpu}, ${meta.cores} cores, ${meta.memGiB} GiB, Linux ${meta.kernel}; node ${meta.node}; ${meta.goRegistry ?? 'docker-registry ?'}; wharf ${meta.wharfCommit ?? '?'}`,
    `options: sizes ${o.sizes.map(sizeLabel).join(',')}; modes ${o.modes.join(',')}; chunk ${sizeLabel(o.chunk)}; wrk ${o.threads}t/${o.connections}c ${o.duration}s x${o.wrkReps}; ${o.images} images x${o.imageReps}${o.quick ? '; QUICK' : ''}`,
    'values are medians over repetitions (see JSON for all samples); throughput = size / wall time of the whole upload or download',
    `machine busy before start (other processes): ${background.toFixed(0)}% of one core`,
    ...Object.entries(startErrors).map(([n, e]) => `NOTE: ${TARGET_LABEL[n as TargetName]} did not start (${e}) — its column is empty`),
    '',
  ];
  const out = [
    ...headLines,
    mainTable(b.res, present),
    '',
    present.includes('null')
      ? '* null-srv: bench/null-registry.ts, a raw-HTTP Node process that counts uploads and streams zeros (stores nothing):\n  the ceiling of this client on this machine, not a registry\n'
      : '',
    'Server CPU per unit of work (lower is better; less disturbed by other load on the machine than wall time):',
    costTable(b.res, present),
    '',
    'CPU during the timed operations, summed over repetitions, in % of one core (200% = the whole machine):',
    'srv = the registry process, cli = the benchmark client (incl. wrk), kern = kernel threads (writeback, net, memory workers;',
    'largely on behalf of the benchmark), other = other user processes on the machine (noise: other jobs)',
    cpuTable(b.res, present),
    '',
  ];
  const noisy = noisyLines(b.res);
  if (noisy.length) out.push('WARNING: measured while other processes were busy (treat these as noisy):', ...noisy.map((x) => `  ${x}`), '');
  const errs = errorList(b.res);
  if (errs) out.push('errors:', errs, '');
  if (fatal) out.push(`FATAL: ${errMsg(fatal)}`, '');
  process.stdout.write(out.join('\n'));

  await mkdir(path.dirname(o.json), { recursive: true });
  await writeFile(
    o.json,
    JSON.stringify(
      {
        meta,
        options: { ...o, groups: [...o.groups] },
        targets: targetsInfo,
        lines: b.res.lines,
        fatal: fatal ? errMsg(fatal) : undefined,
      },
      null,
      2,
    ) + '\n',
  );
  log(`wrote ${path.relative(process.cwd(), o.json) || o.json}`);
  return fatal || Object.keys(startErrors).length || b.res.errors() ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
    process.exit(2);
  },
);
