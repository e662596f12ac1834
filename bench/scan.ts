// `npm run bench:scan` (also `npm run bench -- --only scan`): the image scanner (issue 5).
//
// Issue 5 asks for "indexing time and memory for a 50 MB and a 300 MB image, a rescan whose layers
// are cached, and matching time against the whole database", with two targets: a cached rescan
// under 0.5 s, and a first scan faster than reading the layers twice.
//
// Images (one OCI layout in a temp dir, two tags; deterministic on a given machine):
//   scan50   the `debootstrap --variant=minbase bookworm` rootfs (scripts/debian-fixture.sh) as one
//            gzip layer (level 6, ~58 MiB) + a small app layer (zstd; package.json, a real lockfile)
//   scan300  the same base + node_modules (~3,000 package.json, JS, a few prebuilt .node files;
//            gzip) + Python site-packages (dist-info METADATA, .py, .so; zstd) + jars from ~/.m2 and
//            ELF binaries of this machine (Go: skopeo, docker-registry, runc…; C: python, cmake…;
//            gzip) + random data files to reach 300 MiB compressed (gzip) + the app layer
// The vulnerability database: every fixture source of test/fixtures/vulndata imported into a fresh
// SQLite metadata database (and PostgreSQL when reachable), import time per source.
// Per image, each scan in a fresh child process (peak RSS = that process's maxRSS):
//   read-once   every layer blob through `gzip -dc | tar -t` / `zstd -dc | tar -t` (CLI, sequential)
//   first scan  scanImage with an empty FsLayerCache and the full database: in-process time
//               (index / match / checks), child wall time (node + tsx startup included), peak RSS
//   rescan      the same with the warm cache (median of --runs), in-process and as `wharf scan` CLI
//               process wall time (startup, config, DB open, report rendering included)
// Matching: match() for each image's packages and for a synthetic set of 5,000 npm/PyPI/Go
// packages named after advisories (so they hit), on SQLite and PostgreSQL.
// Progress on stderr, the table on stdout, everything to bench/results/scan.json.
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, createReadStream, createWriteStream, existsSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import { busyPercent } from './lib/procstat.ts';
import { pgReachable } from '../src/metadata/pg-test-store.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SELF = fileURLToPath(import.meta.url);
const FIXTURES = path.join(repoRoot, 'test/fixtures/vulndata');
const WHARF = path.join(repoRoot, 'bin/wharf.js');
const MiB = 1 << 20;
const BUILD_VERSION = 2; // bump when the generated images change (invalidates --workdir reuse)
const log = (m: string) => process.stderr.write(`[scan-bench] ${m}\n`);
/** `wharf` runs the prebuilt bundle (scripts/build.js) only while it matches the sources */
const BUNDLE_CURRENT = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/build.js'), '--check']).status === 0;

const HELP = `Usage: npm run bench:scan -- [options]

  --sizes LIST      images to build and scan: 50, 300 (default 50,300)
  --runs N          rescans (in-process and CLI) and read-once repetitions; the median is shown (default 3)
  --first-runs N    first scans (each with a new empty cache; default 1)
  --match-runs N    match() repetitions per package set (default 5; the first, cold, is shown apart)
  --synthetic N     synthetic packages for the matching line (default 5000)
  --pg / --no-pg    also PostgreSQL (default: when reachable)
  --pg-url URL      (default WHARF_TEST_PG_URL or postgres://postgres@127.0.0.1:5432/test)
  --cpu-prof        profile the first scans (node --cpu-prof); top functions to the table and JSON
  --workdir DIR     build / reuse the images there (the images are kept; a second run skips the build)
  --json FILE       JSON output (default bench/results/scan.json)
  --keep            keep the temp dir (images, caches, databases, profiles)
`;

interface Opts {
  sizes: number[];
  runs: number;
  firstRuns: number;
  matchRuns: number;
  synthetic: number;
  pg: boolean | undefined;
  pgUrl: string;
  cpuProf: boolean;
  workdir?: string;
  json: string;
  keep: boolean;
}

function parseOpts(): Opts {
  const { values: v } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== '--'),
    options: {
      sizes: { type: 'string' },
      runs: { type: 'string' },
      'first-runs': { type: 'string' },
      'match-runs': { type: 'string' },
      synthetic: { type: 'string' },
      pg: { type: 'boolean' },
      'no-pg': { type: 'boolean' },
      'pg-url': { type: 'string' },
      'cpu-prof': { type: 'boolean' },
      workdir: { type: 'string' },
      json: { type: 'string' },
      keep: { type: 'boolean' },
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
  const int = (k: string, d: number) => {
    const n = Number(s(k) ?? d);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${k} must be a positive integer`);
    return n;
  };
  const sizes = (s('sizes') ?? '50,300').split(',').map((x) => Number(x.trim().replace(/m(i?b)?$/i, '')));
  for (const z of sizes) if (z !== 50 && z !== 300) throw new Error(`--sizes: 50 and/or 300, not ${z}`);
  return {
    sizes: [...new Set(sizes)].sort((a, b) => a - b),
    runs: int('runs', 3),
    firstRuns: int('first-runs', 1),
    matchRuns: int('match-runs', 5),
    synthetic: int('synthetic', 5000),
    pg: v['no-pg'] ? false : v.pg ? true : undefined,
    pgUrl: s('pg-url') ?? process.env.WHARF_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    cpuProf: !!v['cpu-prof'],
    workdir: s('workdir'),
    json: s('json') ?? path.join(repoRoot, 'bench/results/scan.json'),
    keep: !!v.keep,
  };
}

// ============================================================================ deterministic content

/** mulberry32 seeded from a string */
function prng(seed: string): () => number {
  let a = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(r: () => number, a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
const between = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

/** incompressible bytes: AES-256-CTR keystream keyed by the seed */
function noise(seed: string, n: number): Buffer {
  const key = createHash('sha256').update(`scan-bench:${seed}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

const WORDS =
  'the of and to in is for that with on as by this are be from or an at which it not can use value data request response options config module function return error state node item list map key index buffer stream string number object array parse format default handler event listener client server cache path file name type version source target result callback promise resolve reject async await export import require const let var if else for while switch case break continue new throw try catch finally class extends super this null undefined true false typeof instanceof length push pop slice splice concat join split replace match test exec keys values entries assign create define property prototype call apply bind'.split(
    ' ',
  );
const IDENTS = WORDS.filter((w) => w.length > 3);

/** pseudo-JavaScript of about `n` bytes (compresses like real minified-ish sources, ~4:1) */
function jsText(r: () => number, n: number): string {
  const out: string[] = [];
  let len = 0;
  while (len < n) {
    const a = pick(r, IDENTS);
    const b = pick(r, IDENTS);
    const c = pick(r, IDENTS);
    const k = r();
    const line =
      k < 0.25
        ? `function ${a}${b[0]!.toUpperCase()}${b.slice(1)}(${c}, opts) {`
        : k < 0.5
          ? `  const ${a} = ${b}.${c}(${pick(r, IDENTS)}, ${between(r, 0, 4096)});`
          : k < 0.7
            ? `  if (${a} === ${b}) return ${c}.${pick(r, IDENTS)};`
            : k < 0.85
              ? `  // ${Array.from({ length: between(r, 3, 10) }, () => pick(r, WORDS)).join(' ')}`
              : `}\nmodule.exports.${a} = ${b};`;
    out.push(line);
    len += line.length + 1;
  }
  return out.join('\n') + '\n';
}

function prose(r: () => number, n: number): string {
  const out: string[] = [];
  let len = 0;
  while (len < n) {
    const s = Array.from({ length: between(r, 6, 18) }, () => pick(r, WORDS)).join(' ');
    const line = s[0]!.toUpperCase() + s.slice(1) + '.';
    out.push(line);
    len += line.length + 1;
  }
  return out.join(r() < 0.5 ? ' ' : '\n') + '\n';
}

const MIT = `MIT License\n\nCopyright (c) 2020 The Authors\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\nof this software and associated documentation files (the "Software"), to deal\nin the Software without restriction, including without limitation the rights\nto use, copy, modify, merge, publish, distribute, sublicense, and/or sell\ncopies of the Software, and to permit persons to whom the Software is\nfurnished to do so, subject to the following conditions:\n\nThe above copyright notice and this permission notice shall be included in all\ncopies or substantial portions of the Software.\n\nTHE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.\n`;

// ============================================================================ advisory names

interface AdvisoryNames {
  npm: string[];
  pypi: string[];
  go: string[];
}

function advisoryNames(): AdvisoryNames {
  const npm = new Set<string>();
  for (const a of JSON.parse(readFileSync(path.join(FIXTURES, 'npm/nodejs-security-wg/vuln-npm.json'), 'utf8')) as { module_name?: string }[])
    if (typeof a.module_name === 'string' && /^(@[a-z0-9._-]+\/)?[a-z0-9._-]+$/.test(a.module_name)) npm.add(a.module_name);
  const ghsa = path.join(FIXTURES, 'npm/ghsa-osv-exemplars');
  for (const f of readdirSync(ghsa).sort()) for (const a of JSON.parse(readFileSync(path.join(ghsa, f), 'utf8')).affected ?? []) npm.add(a.package.name);
  const osvNames = (file: string, eco: string) => {
    const s = new Set<string>();
    for (const line of readFileSync(path.join(FIXTURES, 'osv', file), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      for (const a of JSON.parse(line).affected ?? []) if (a.package?.ecosystem === eco && typeof a.package.name === 'string') s.add(a.package.name);
    }
    return [...s].sort();
  };
  return { npm: [...npm].sort(), pypi: osvNames('pypa-advisory-database.osv.jsonl', 'PyPI'), go: osvNames('golang-vulndb.osv.jsonl', 'Go') };
}

// ============================================================================ layer writing

const BLOCK = 512;
const FIXED_MTIME = 1700000000;

function tarHeader(name: string, type: 'file' | 'dir', size: number, mode: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const put = (off: number, len: number, s: string) => {
    const b = Buffer.from(s, 'utf8');
    if (b.length > len) throw new Error(`tar: ${s} does not fit`);
    b.copy(h, off);
  };
  const oct = (off: number, len: number, n: number) => put(off, len, n.toString(8).padStart(len - 1, '0') + '\0');
  let p = name;
  if (type === 'dir' && !p.endsWith('/')) p += '/';
  let prefix = '';
  if (Buffer.byteLength(p) > 100) {
    const i = p.lastIndexOf('/', p.length - 2);
    prefix = p.slice(0, i);
    p = p.slice(i + 1);
  }
  put(0, 100, p);
  oct(100, 8, mode);
  oct(108, 8, 0);
  oct(116, 8, 0);
  oct(124, 12, size);
  oct(136, 12, FIXED_MTIME);
  h.fill(0x20, 148, 156);
  h[156] = (type === 'file' ? '0' : '5').charCodeAt(0);
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  put(265, 32, 'root');
  put(297, 32, 'root');
  put(345, 155, prefix);
  let sum = 0;
  for (const b of h) sum += b;
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

interface WrittenLayer {
  digest: string;
  diffId: string;
  size: number;
  tarBytes: number;
  compression: 'gzip' | 'zstd';
  files: number;
  createdBy: string;
}

/** Streams a tar (ustar, fixed mtimes, root-owned) through gzip (zlib, level 6) or `zstd -3` into blobs/sha256. */
class LayerWriter {
  private readonly tarHash = createHash('sha256');
  private readonly blobHash = createHash('sha256');
  private tarBytes = 0;
  private blobBytes = 0;
  private files = 0;
  private readonly dirs = new Set<string>();
  private readonly input: Writable;
  private readonly done: Promise<unknown>;
  private readonly tmp: string;

  constructor(
    private readonly blobsDir: string,
    readonly compression: 'gzip' | 'zstd',
    private readonly createdBy: string,
  ) {
    this.tmp = path.join(blobsDir, `.tmp-${randomBytes(6).toString('hex')}`);
    const out = createWriteStream(this.tmp);
    const counter = new Writable({
      write: (c: Buffer, _e, cb) => {
        this.blobHash.update(c);
        this.blobBytes += c.length;
        if (!out.write(c)) out.once('drain', cb);
        else cb();
      },
      final: (cb) => out.end(cb),
    });
    if (compression === 'gzip') {
      const gz = zlib.createGzip({ level: 6 });
      this.input = gz;
      this.done = pipeline(gz, counter);
    } else {
      const z = spawn('zstd', ['-3', '-q', '-c', '-T1'], { stdio: ['pipe', 'pipe', 'inherit'] });
      this.input = z.stdin;
      this.done = Promise.all([pipeline(z.stdout, counter), once(z, 'exit').then(([code]) => (code === 0 ? undefined : Promise.reject(new Error(`zstd exited ${code}`))))]);
    }
  }

  private async raw(b: Buffer): Promise<void> {
    this.tarHash.update(b);
    this.tarBytes += b.length;
    if (!this.input.write(b)) await once(this.input, 'drain');
  }

  private async parents(p: string): Promise<void> {
    const parts = p.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (this.dirs.has(d)) continue;
      this.dirs.add(d);
      await this.raw(tarHeader(d, 'dir', 0, 0o755));
    }
  }

  async file(p: string, content: Buffer | string, mode = 0o644): Promise<void> {
    const b = typeof content === 'string' ? Buffer.from(content) : content;
    await this.parents(p);
    await this.raw(tarHeader(p, 'file', b.length, mode));
    if (b.length) await this.raw(b);
    const pad = (BLOCK - (b.length % BLOCK)) % BLOCK;
    if (pad) await this.raw(Buffer.alloc(pad));
    this.files++;
  }

  async finish(): Promise<WrittenLayer> {
    await this.raw(Buffer.alloc(BLOCK * 2));
    this.input.end();
    await this.done;
    const digest = `sha256:${this.blobHash.digest('hex')}`;
    await rename(this.tmp, path.join(this.blobsDir, digest.slice(7)));
    return { digest, diffId: `sha256:${this.tarHash.digest('hex')}`, size: this.blobBytes, tarBytes: this.tarBytes, compression: this.compression, files: this.files, createdBy: this.createdBy };
  }
}

/** gzip an existing tar file (the debootstrap rootfs) into a blob */
async function gzipTarFile(blobsDir: string, src: string, createdBy: string): Promise<WrittenLayer> {
  const tarHash = createHash('sha256');
  const blobHash = createHash('sha256');
  let tarBytes = 0;
  let size = 0;
  const tmp = path.join(blobsDir, `.tmp-${randomBytes(6).toString('hex')}`);
  const out = createWriteStream(tmp);
  await pipeline(
    createReadStream(src, { highWaterMark: MiB }),
    async function* (src: AsyncIterable<Buffer>) {
      for await (const c of src) {
        tarHash.update(c);
        tarBytes += c.length;
        yield c;
      }
    },
    zlib.createGzip({ level: 6 }),
    async function* (src: AsyncIterable<Buffer>) {
      for await (const c of src) {
        blobHash.update(c);
        size += c.length;
        yield c;
      }
    },
    out,
  );
  const digest = `sha256:${blobHash.digest('hex')}`;
  await rename(tmp, path.join(blobsDir, digest.slice(7)));
  return { digest, diffId: `sha256:${tarHash.digest('hex')}`, size, tarBytes, compression: 'gzip', files: -1, createdBy };
}

// ---------------------------------------------------------------------------- the layers of scan300

const NPM_VERSIONS = ['0.1.0', '1.0.0', '1.2.3', '2.0.1', '3.4.5', '4.17.20', '0.0.8', '5.7.0', '2.6.9', '1.1.1'];
const PY_VERSIONS = ['0.9.3', '1.0', '1.2.1', '2.2.1', '2.0.0', '3.1', '0.4.2', '4.0.1', '1.11.0'];
const GO_VERSIONS = ['v0.1.0', 'v1.0.0', 'v1.2.3', 'v0.3.1', 'v1.8.2', 'v2.0.0+incompatible', 'v0.0.0-20200101000000-abcdefabcdef'];

async function nodeModulesLayer(blobs: string, names: AdvisoryNames): Promise<WrittenLayer> {
  const w = new LayerWriter(blobs, 'gzip', '/bin/sh -c npm ci --omit=dev');
  const r = prng('node_modules');
  const pkgs = [...names.npm];
  const adj = ['fast', 'tiny', 'simple', 'micro', 'async', 'deep', 'safe', 'pretty', 'super', 'node', 'smart', 'lazy', 'quick', 'is', 'get', 'has'];
  const noun = ['merge', 'glob', 'path', 'stream', 'parse', 'array', 'object', 'string', 'color', 'debug', 'cache', 'queue', 'event', 'json', 'buffer', 'url', 'fs', 'proxy', 'retry', 'hash'];
  for (let i = 0; pkgs.length < 3000; i++) pkgs.push(i % 7 === 0 ? `@${pick(r, adj)}/${pick(r, noun)}-${i}` : `${pick(r, adj)}-${pick(r, noun)}-${i}`);
  const top: string[] = [];
  let prebuilt = 0;
  for (const [i, name] of pkgs.entries()) {
    // a tenth nested under an earlier package, as npm does for conflicting versions
    const dir = i > 50 && r() < 0.1 ? `app/node_modules/${pick(r, top)}/node_modules/${name}` : `app/node_modules/${name}`;
    if (!dir.includes('/node_modules/', 'app/node_modules/'.length)) top.push(name);
    const version = pick(r, NPM_VERSIONS);
    const deps: Record<string, string> = {};
    for (let d = between(r, 0, 4); d > 0; d--) deps[pick(r, pkgs)] = `^${pick(r, NPM_VERSIONS)}`;
    const pj = {
      name,
      version,
      description: prose(r, between(r, 30, 120)).trim(),
      main: 'index.js',
      license: pick(r, ['MIT', 'MIT', 'ISC', 'Apache-2.0', 'BSD-3-Clause']),
      repository: { type: 'git', url: `git+https://github.com/example/${name.replace('@', '').replace('/', '-')}.git` },
      keywords: Array.from({ length: between(r, 0, 6) }, () => pick(r, IDENTS)),
      dependencies: deps,
      engines: { node: '>=14' },
    };
    await w.file(`${dir}/package.json`, JSON.stringify(pj, null, 2) + '\n');
    await w.file(`${dir}/index.js`, jsText(r, between(r, 800, 9000)));
    if (r() < 0.4) await w.file(`${dir}/lib/${pick(r, IDENTS)}.js`, jsText(r, between(r, 2000, 20000)));
    if (r() < 0.6) await w.file(`${dir}/README.md`, `# ${name}\n\n` + prose(r, between(r, 500, 4000)));
    await w.file(`${dir}/LICENSE`, MIT);
    if (r() < 0.012) {
      prebuilt++;
      await w.file(`${dir}/prebuilds/linux-x64/node.napi.node`, noise(`node-${name}`, between(r, 200_000, 1_500_000)), 0o755);
    }
  }
  log(`  node_modules: ${pkgs.length} packages, ${prebuilt} prebuilt .node`);
  return w.finish();
}

async function pythonLayer(blobs: string, names: AdvisoryNames): Promise<WrittenLayer> {
  const w = new LayerWriter(blobs, 'zstd', '/bin/sh -c pip install --no-cache-dir -r requirements.txt');
  const r = prng('site-packages');
  const sp = 'usr/local/lib/python3.11/site-packages';
  const pkgs = names.pypi.filter((n) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(n)).slice(0, 700);
  for (let i = 0; pkgs.length < 800; i++) pkgs.push(`py-${pick(r, IDENTS)}-${i}`);
  let so = 0;
  for (const name of pkgs) {
    const version = pick(r, PY_VERSIONS);
    const dist = `${name.replace(/[-.]+/g, '_')}-${version}.dist-info`;
    const mod = name.toLowerCase().replace(/[^a-z0-9]+/g, '_');
    const files: string[] = [];
    const add = async (p: string, c: string | Buffer, mode?: number) => {
      await w.file(`${sp}/${p}`, c, mode);
      files.push(p);
    };
    await add(`${mod}/__init__.py`, `"""${name}."""\n__version__ = "${version}"\n` + jsText(r, between(r, 100, 1500)).replace(/[{};]/g, ''));
    for (let k = between(r, 1, 5); k > 0; k--) await add(`${mod}/${pick(r, IDENTS)}_${k}.py`, jsText(r, between(r, 1500, 15000)).replace(/[{};]/g, ''));
    if (r() < 0.06) {
      so++;
      await add(`${mod}/_speedups.cpython-311-x86_64-linux-gnu.so`, noise(`so-${name}`, between(r, 100_000, 700_000)), 0o755);
    }
    const metadata = `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\nSummary: ${prose(r, 60).trim().split('\n')[0]}\nHome-page: https://example.org/${mod}\nAuthor: The ${name} authors\nLicense: ${pick(r, ['MIT', 'BSD', 'Apache 2.0', 'PSF'])}\nRequires-Python: >=3.8\nDescription-Content-Type: text/markdown\n\n${prose(r, between(r, 300, 6000))}`;
    await add(`${dist}/METADATA`, metadata);
    await add(`${dist}/WHEEL`, 'Wheel-Version: 1.0\nGenerator: bdist_wheel (0.41.2)\nRoot-Is-Purelib: true\nTag: py3-none-any\n');
    await add(`${dist}/top_level.txt`, `${mod}\n`);
    await add(`${dist}/INSTALLER`, 'pip\n');
    const record = files.map((f) => `${f},sha256=${createHash('sha256').update(f).digest('base64url')},${between(r, 100, 99999)}`).join('\n') + `\n${dist}/RECORD,,\n`;
    await w.file(`${sp}/${dist}/RECORD`, record);
  }
  log(`  site-packages: ${pkgs.length} distributions, ${so} .so`);
  return w.finish();
}

const ELF_CANDIDATES = [
  '/usr/bin/skopeo',
  '/usr/bin/docker-registry',
  '/usr/bin/umoci',
  '/usr/sbin/runc',
  '/usr/bin/buildah',
  '/usr/sbin/nats-server',
  '/usr/bin/containerd-shim-runc-v2',
  '/usr/bin/python3.11',
  '/usr/bin/cmake',
  '/usr/bin/gdb',
  '/usr/bin/zstd',
];

function jarFiles(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let es: import('node:fs').Dirent[];
    try {
      es = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    es.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of es) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if ((e.isFile() || e.isSymbolicLink()) && e.name.endsWith('.jar') && !e.name.endsWith('-sources.jar')) out.push(p);
    }
  };
  walk(path.join(os.homedir(), '.m2/repository'));
  walk('/usr/share/maven/lib');
  return out;
}

async function binariesLayer(blobs: string): Promise<{ layer: WrittenLayer; jars: number; jarBytes: number; elves: string[]; elfBytes: number }> {
  const w = new LayerWriter(blobs, 'gzip', '/bin/sh -c ./install-tools.sh && cp target/lib/*.jar /opt/app/lib/');
  let jarBytes = 0;
  let jars = 0;
  const seen = new Set<string>();
  for (const j of jarFiles()) {
    let real: string;
    let st;
    try {
      st = statSync(j);
      real = path.basename(j);
    } catch {
      continue;
    }
    if (seen.has(real) || st.size > 20 * MiB) continue;
    if (jarBytes + st.size > 80 * MiB) break;
    seen.add(real);
    await w.file(`opt/app/lib/${real}`, await readFile(j));
    jarBytes += st.size;
    jars++;
  }
  const elves: string[] = [];
  let elfBytes = 0;
  for (const e of ELF_CANDIDATES) {
    if (!existsSync(e)) continue;
    const b = await readFile(e);
    await w.file(`usr/local/bin/${path.basename(e)}`, b, 0o755);
    elves.push(path.basename(e));
    elfBytes += b.length;
  }
  log(`  binaries: ${jars} jars (${(jarBytes / MiB).toFixed(0)} MiB), ${elves.length} ELF (${(elfBytes / MiB).toFixed(0)} MiB): ${elves.join(' ')}`);
  return { layer: await w.finish(), jars, jarBytes, elves, elfBytes };
}

async function fillerLayer(blobs: string, bytes: number): Promise<WrittenLayer> {
  const w = new LayerWriter(blobs, 'gzip', '/bin/sh -c ./fetch-models.sh /opt/app/data');
  const r = prng('filler');
  let left = bytes;
  for (let i = 0; left > 0; i++) {
    const n = Math.min(left, between(r, 256 * 1024, 8 * MiB));
    // mostly binary; every fifth a base64 text asset (<= 1 MiB, so the secret scan reads it)
    if (i % 5 === 4) {
      const t = noise(`asset-${i}`, Math.min(n, 700_000)).toString('base64');
      await w.file(`opt/app/assets/bundle-${i}.b64`, t);
      left -= t.length;
    } else {
      await w.file(`opt/app/data/blob-${String(i).padStart(4, '0')}.bin`, noise(`data-${i}`, n));
      left -= n;
    }
  }
  return w.finish();
}

// ---------------------------------------------------------------------------- the layout

interface BuiltImage {
  tag: string;
  manifestDigest: string;
  layers: WrittenLayer[];
}
interface Built {
  version: number;
  layout: string;
  images: Record<string, BuiltImage>;
  info: Record<string, unknown>;
  buildS: number;
}

async function buildLayout(dir: string, sizes: number[], rootfsTar: string): Promise<Built> {
  const stampFile = path.join(dir, 'bench-stamp.json');
  if (existsSync(stampFile)) {
    const st = JSON.parse(await readFile(stampFile, 'utf8')) as Built;
    if (st.version === BUILD_VERSION && sizes.every((s) => st.images[`scan${s}`])) {
      log(`reusing the images in ${dir}`);
      return st;
    }
  }
  const t0 = performance.now();
  const { ImageBuilder, MEDIA } = await import('../test/helpers/image-builder.ts');
  const layout = path.join(dir, 'layout');
  const blobs = path.join(layout, 'blobs/sha256');
  await mkdir(blobs, { recursive: true });
  const b = new ImageBuilder(layout);
  log('building: base layer (debootstrap bookworm minbase rootfs, gzip -6)');
  const base = await gzipTarFile(blobs, rootfsTar, '/bin/sh -c #(nop) ADD file:bookworm-minbase.tar in / ');
  log(`  base: ${(base.tarBytes / MiB).toFixed(1)} MiB tar → ${(base.size / MiB).toFixed(1)} MiB gzip`);
  const lock = await readFile(path.join(FIXTURES, 'npm/testproj-package-lock.json'));
  const appSpec = b.layer({
    files: {
      'app/package.json': await readFile(path.join(FIXTURES, 'npm/testproj-package.json')),
      'app/package-lock.json': lock,
      'app/server.js': jsText(prng('server'), 20_000),
      'app/config/default.json': JSON.stringify({ port: 8080, logLevel: 'info', cache: { ttl: 300 } }, null, 2),
    },
    compression: 'zstd',
    createdBy: '/bin/sh -c #(nop) COPY dir:app in /app ',
  });
  const app: WrittenLayer = { digest: appSpec.descriptor.digest, diffId: appSpec.diffId, size: appSpec.descriptor.size, tarBytes: appSpec.tar.length, compression: 'zstd', files: 4, createdBy: appSpec.createdBy };
  const info: Record<string, unknown> = {};
  const images: Record<string, BuiltImage> = {};
  const makeImage = (tag: string, layers: WrittenLayer[]) => {
    const config = {
      created: '2026-11-30T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NODE_ENV=production'], Cmd: ['node', '/app/server.js'], User: '1000', WorkingDir: '/app' },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((l) => ({ created: '2026-11-30T00:00:00Z', created_by: l.createdBy })),
    };
    const configDesc = b.blob(Buffer.from(JSON.stringify(config)), MEDIA.ociConfig);
    const manifest = {
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: configDesc,
      layers: layers.map((l) => ({ mediaType: l.compression === 'zstd' ? MEDIA.ociLayerZstd : MEDIA.ociLayerGzip, digest: l.digest, size: l.size })),
    };
    const m = b.blob(Buffer.from(JSON.stringify(manifest)), MEDIA.ociManifest);
    b.tag(tag, m);
    images[tag] = { tag, manifestDigest: m.digest, layers };
  };
  if (sizes.includes(50)) makeImage('scan50', [base, app]);
  if (sizes.includes(300)) {
    const names = advisoryNames();
    log('building: node_modules layer');
    const nm = await nodeModulesLayer(blobs, names);
    log('building: site-packages layer (zstd)');
    const py = await pythonLayer(blobs, names);
    log('building: jars + ELF binaries layer');
    const bin = await binariesLayer(blobs);
    const target = 300 * MiB;
    const sofar = base.size + app.size + nm.size + py.size + bin.layer.size;
    log(`building: filler layer (${((target - sofar) / MiB).toFixed(1)} MiB random data)`);
    const fill = await fillerLayer(blobs, Math.max(MiB, Math.round((target - sofar) / 1.0004)));
    info.jars = bin.jars;
    info.jarMiB = +(bin.jarBytes / MiB).toFixed(1);
    info.elf = bin.elves;
    info.elfMiB = +(bin.elfBytes / MiB).toFixed(1);
    makeImage('scan300', [base, nm, py, bin.layer, fill, app]);
  }
  await b.write();
  const built: Built = { version: BUILD_VERSION, layout, images, info, buildS: (performance.now() - t0) / 1000 };
  await writeFile(stampFile, JSON.stringify(built, null, 2));
  log(`built in ${built.buildS.toFixed(1)} s`);
  return built;
}

// ============================================================================ measurements

const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** wall time of a shell pipeline (pipefail) */
function timeShell(cmd: string): number {
  const t = performance.now();
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd}: exit ${r.status}: ${r.stderr}`);
  return ms;
}

function magic(file: string): 'gzip' | 'zstd' | 'none' {
  const b = Buffer.alloc(4);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, b, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  return b[0] === 0x1f && b[1] === 0x8b ? 'gzip' : b.readUInt32LE(0) === 0xfd2fb528 ? 'zstd' : 'none';
}

interface ReadOnce {
  /** per layer: the faster of `gzip -dc | tar -t` and node zlib → `tar -t` (gzip), or `zstd -dc | tar -t` (median ms) */
  layersMs: number[];
  /** per layer: median ms of `gzip -dc | tar -t` / `zstd -dc | tar -t` */
  cliMs: number[];
  /** per gzip layer: median ms of node zlib gunzip piped into `tar -t` (zstd layers: NaN) */
  zlibTarMs: number[];
  totalMs: number;
  /** per layer: median ms of the decompressor alone (`gzip -dc > /dev/null`) */
  decompressMs: number[];
  /** per layer: node's own decompression, as the indexer does it (zlib / fzstd), no tar parsing */
  nodeDecompressMs: number[];
}

async function readOnce(layout: string, img: BuiltImage, runs: number): Promise<ReadOnce> {
  const { Decompress } = await import('fzstd');
  const layersMs: number[] = [];
  const cliMs: number[] = [];
  const zlibTarMs: number[] = [];
  const decompressMs: number[] = [];
  const nodeDecompressMs: number[] = [];
  for (const l of img.layers) {
    const f = path.join(layout, 'blobs/sha256', l.digest.slice(7));
    const dec = magic(f) === 'zstd' ? 'zstd -dc' : 'gzip -dc';
    const a: number[] = [];
    const d: number[] = [];
    const z: number[] = [];
    for (let i = 0; i < runs; i++) {
      a.push(timeShell(`${dec} '${f}' | tar -t > /dev/null`));
      d.push(timeShell(`${dec} '${f}' > /dev/null`));
      if (dec === 'gzip -dc') {
        const t = performance.now();
        const tar = spawn('tar', ['-t'], { stdio: ['pipe', 'ignore', 'inherit'] });
        const exit = once(tar, 'exit');
        tar.stdin.on('error', () => undefined);
        // tar stops reading at its end-of-archive blocks: only the zero padding after them is left unread
        const piped = await pipeline(createReadStream(f, { highWaterMark: MiB }), zlib.createGunzip({ chunkSize: 128 * 1024 }), tar.stdin).then(
          () => null,
          (e: NodeJS.ErrnoException) => e,
        );
        const [code] = await exit;
        if (piped && !(piped.code === 'ERR_STREAM_PREMATURE_CLOSE' || piped.code === 'EPIPE')) throw piped;
        if (code !== 0) throw new Error(`tar -t exited ${code} on ${f}`);
        z.push(performance.now() - t);
      }
    }
    cliMs.push(median(a));
    zlibTarMs.push(z.length ? median(z) : NaN);
    layersMs.push(z.length ? Math.min(median(a), median(z)) : median(a));
    decompressMs.push(median(d));
    const t = performance.now();
    if (dec === 'gzip -dc') {
      await pipeline(createReadStream(f, { highWaterMark: MiB }), zlib.createGunzip({ chunkSize: 128 * 1024 }), new Writable({ write: (_c, _e, cb) => cb() }));
    } else {
      const z = new Decompress(() => {});
      for await (const c of createReadStream(f, { highWaterMark: 128 * 1024 })) z.push(c as Buffer);
      z.push(new Uint8Array(0), true);
    }
    nodeDecompressMs.push(performance.now() - t);
  }
  return { layersMs, cliMs, zlibTarMs, totalMs: layersMs.reduce((x, y) => x + y, 0), decompressMs, nodeDecompressMs };
}

interface ChildScan {
  scanMs: number;
  indexMs: number;
  matchMs: number;
  checksMs: number;
  /** child: process start → modules loaded, DB open, source resolved */
  setupMs: number;
  rssBeforeMiB: number;
  maxRssMiB: number;
  packages: number;
  packagesByType: Record<string, number>;
  vulnerabilities: number;
  findings: number;
  issues: number;
  layers: { index: number; cached: boolean; ms: number; bytes: number; entries: number }[];
  /** parent: spawn → exit */
  wallMs: number;
}

interface ChildArgs {
  layout: string;
  tag: string;
  cacheDir: string;
  db: string;
  dump?: string;
}

function runChild(args: ChildArgs, nodeFlags: string[] = []): Promise<ChildScan> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const c = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', SELF, '--child', JSON.stringify(args)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('error', reject);
    c.on('exit', (code) => {
      const wallMs = performance.now() - t;
      if (code !== 0) return reject(new Error(`scan child exited ${code}: ${err.slice(-2000)}`));
      try {
        resolve({ ...(JSON.parse(out.trim().split('\n').pop()!) as ChildScan), wallMs });
      } catch (e) {
        reject(new Error(`scan child output: ${(e as Error).message}: ${out.slice(-500)} ${err.slice(-500)}`));
      }
    });
  });
}

/** The child: one scanImage in this process, JSON result on stdout. */
async function childMain(args: ChildArgs): Promise<void> {
  const t00 = performance.now();
  const { openImageSource } = await import('../src/scanner/source/index.ts');
  const { scanImage } = await import('../src/scanner/scan.ts');
  const { defaultAnalyzers } = await import('../src/scanner/analyzers/index.ts');
  const { FsLayerCache } = await import('../src/scanner/indexer/cache.ts');
  const { VulnDb } = await import('../src/scanner/vulndb/store.ts');
  const { match } = await import('../src/scanner/matcher.ts');
  const { openMetadata } = await import('../src/metadata/open.ts');
  const meta = await openMetadata(args.db);
  const db = new VulnDb(meta);
  const databases = (await db.listSources()).map((s) => ({ name: s.name, records: s.records }));
  const source = await openImageSource(`${args.layout}:${args.tag}`);
  const setupMs = performance.now() - t00;
  const rssBefore = process.memoryUsage().rss;
  const marks: Record<string, number> = {};
  const layers: ChildScan['layers'] = [];
  const starts = new Map<number, number>();
  const t0 = performance.now();
  const report = await scanImage(source, {
    analyzers: defaultAnalyzers(),
    cache: new FsLayerCache(args.cacheDir),
    matcher: (input) => match(input, db),
    databases,
    onProgress: (p) => (marks[p.phase] ??= performance.now()),
    indexOptions: {
      onProgress: (ev: { type: string; index: number; cached?: boolean; bytes?: number; entries?: number }) => {
        if (ev.type === 'layer-start') starts.set(ev.index, performance.now());
        if (ev.type === 'layer-done') layers.push({ index: ev.index, cached: !!ev.cached, ms: performance.now() - starts.get(ev.index)!, bytes: ev.bytes ?? 0, entries: ev.entries ?? 0 });
      },
    },
  });
  const t1 = performance.now();
  const maxRss = process.resourceUsage().maxRSS * 1024;
  await source.close?.();
  await meta.close();
  const byType: Record<string, number> = {};
  for (const p of report.packages) byType[p.type] = (byType[p.type] ?? 0) + 1;
  if (args.dump) await writeFile(args.dump, JSON.stringify({ os: report.os, packages: report.packages }));
  const res: Omit<ChildScan, 'wallMs'> = {
    scanMs: t1 - t0,
    indexMs: (marks.match ?? t1) - t0,
    matchMs: (marks.checks ?? t1) - (marks.match ?? t1),
    checksMs: t1 - (marks.checks ?? t1),
    setupMs,
    rssBeforeMiB: rssBefore / MiB,
    maxRssMiB: maxRss / MiB,
    packages: report.packages.length,
    packagesByType: byType,
    vulnerabilities: report.vulnerabilities.length,
    findings: report.findings.length,
    issues: report.issues.length,
    layers: layers.sort((a, b) => a.index - b.index),
  };
  process.stdout.write(JSON.stringify(res) + '\n');
}

/** `wharf scan` as a user runs it: a fresh node process, JSON to a file */
function runCli(layout: string, tag: string, cacheDir: string, env: Record<string, string>, outFile: string): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, [WHARF, 'scan', '-q', '--format', 'json', '-o', outFile, '--cache-dir', cacheDir, `${layout}:${tag}`], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`wharf scan exited ${r.status}: ${r.stderr}`);
  return ms;
}

// ---------------------------------------------------------------------------- CPU profile summary

interface ProfNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

function summarizeProfile(file: string, top = 15): { fn: string; selfMs: number; pct: number }[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfNode[]; samples: number[]; timeDeltas: number[] };
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const byFn = new Map<string, number>();
  let total = 0;
  for (const n of p.nodes) {
    const us = self.get(n.id) ?? 0;
    total += us;
    const url = n.callFrame.url.replace(/^file:\/\//, '').replace(repoRoot + '/', '');
    const k = `${n.callFrame.functionName || '(anonymous)'} ${url ? `${url}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
    byFn.set(k, (byFn.get(k) ?? 0) + us);
  }
  return [...byFn.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, us]) => ({ fn, selfMs: +(us / 1000).toFixed(1), pct: +((100 * us) / total).toFixed(1) }));
}

// ---------------------------------------------------------------------------- vulnerability DB and matching

const SOURCES: { name: string; path: string }[] = [
  { name: 'debian-bookworm', path: 'debian/bookworm-minbase/advisories.changelog-derived.json' },
  { name: 'alpine-v3.10', path: 'alpine/v3.10' },
  { name: 'alpine-v3.11', path: 'alpine/v3.11' },
  { name: 'ghsa-npm', path: 'npm/ghsa-osv-exemplars' },
  { name: 'nodejs-security-wg', path: 'npm/nodejs-security-wg' },
  { name: 'osv-go', path: 'osv/golang-vulndb.osv.jsonl' },
  { name: 'osv-pypi', path: 'osv/pypa-advisory-database.osv.jsonl' },
];

interface ImportLine {
  source: string;
  records: number;
  rows: number;
  ms: number;
}

async function importAll(url: string): Promise<{ imports: ImportLine[]; totalMs: number }> {
  const { openMetadata } = await import('../src/metadata/open.ts');
  const { VulnDb } = await import('../src/scanner/vulndb/store.ts');
  const { importPath } = await import('../src/scanner/vulndb/import.ts');
  const meta = await openMetadata(url);
  const db = new VulnDb(meta);
  const imports: ImportLine[] = [];
  try {
    for (const s of SOURCES) {
      const t = performance.now();
      const sum = await importPath(db, path.join(FIXTURES, s.path), { name: s.name });
      imports.push({ source: s.name, records: sum.records, rows: sum.rows, ms: performance.now() - t });
    }
  } finally {
    await meta.close();
  }
  return { imports, totalMs: imports.reduce((a, b) => a + b.ms, 0) };
}

type Pkg = import('../src/scanner/types.ts').Package;
type OsInfo = import('../src/scanner/types.ts').OsInfo;

function syntheticPackages(n: number, names: AdvisoryNames): Pkg[] {
  const out: Pkg[] = [];
  const eco: { type: Pkg['type']; names: string[]; versions: string[]; dir: (name: string, i: number) => string }[] = [
    { type: 'npm', names: names.npm, versions: NPM_VERSIONS, dir: (nm, i) => `app${i % 4}/node_modules/${nm}/package.json` },
    { type: 'pypi', names: names.pypi, versions: PY_VERSIONS, dir: (nm, i) => `venv${i % 4}/lib/python3.11/site-packages/${nm}-x.dist-info/METADATA` },
    { type: 'golang', names: names.go, versions: GO_VERSIONS, dir: (_nm, i) => `usr/local/bin/tool${i % 40}` },
  ];
  const r = prng('synthetic');
  for (let i = 0; out.length < n; i++) {
    const e = eco[i % eco.length]!;
    const k = Math.floor(i / eco.length);
    const name = e.names[k % e.names.length]!;
    out.push({ type: e.type, name, version: pick(r, e.versions), path: e.dir(name, Math.floor(k / e.names.length)) });
  }
  return out;
}

interface MatchLine {
  set: string;
  backend: string;
  packages: number;
  vulnerabilities: number;
  coldMs: number;
  medianMs: number;
  samplesMs: number[];
}

async function timeMatches(url: string, backend: string, sets: { name: string; os?: OsInfo; packages: Pkg[] }[], runs: number): Promise<MatchLine[]> {
  const { openMetadata } = await import('../src/metadata/open.ts');
  const { VulnDb } = await import('../src/scanner/vulndb/store.ts');
  const { match } = await import('../src/scanner/matcher.ts');
  const meta = await openMetadata(url);
  const db = new VulnDb(meta);
  const out: MatchLine[] = [];
  try {
    for (const s of sets) {
      const samples: number[] = [];
      let vulns = 0;
      for (let i = 0; i < runs; i++) {
        // fresh package objects each run (the matcher must not depend on earlier runs)
        const pkgs = s.packages.map((p) => ({ ...p }));
        const t = performance.now();
        const v = await match({ os: s.os, packages: pkgs }, db);
        samples.push(performance.now() - t);
        vulns = v.length;
      }
      out.push({ set: s.name, backend, packages: s.packages.length, vulnerabilities: vulns, coldMs: samples[0]!, medianMs: median(samples.length > 1 ? samples.slice(1) : samples), samplesMs: samples.map((x) => +x.toFixed(1)) });
      log(`  match ${backend} ${s.name}: ${s.packages.length} packages → ${vulns} vulnerabilities, cold ${samples[0]!.toFixed(0)} ms, median ${out.at(-1)!.medianMs.toFixed(0)} ms`);
    }
  } finally {
    await meta.close();
  }
  return out;
}


async function dropPgSchema(url: string, schema: string): Promise<void> {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await c.end();
  }
}

// ============================================================================ main

interface ImageResult {
  tag: string;
  layers: { digest: string; compression: string; compressedMiB: number; tarMiB: number; createdBy: string }[];
  compressedMiB: number;
  tarMiB: number;
  readOnce: ReadOnce;
  first: ChildScan[];
  rescan: ChildScan[];
  cliRescanMs: number[];
  profile?: { file: string; top: { fn: string; selfMs: number; pct: number }[] };
  verdict: { firstRatio: number; firstPass: boolean; rescanInProcMs: number; rescanInProcPass: boolean; rescanCliMs: number; rescanCliPass: boolean };
}

const fmt = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')).join('\n') + '\n';
}

async function main(): Promise<number> {
  let o: Opts;
  try {
    o = parseOpts();
  } catch (e) {
    process.stderr.write(`bench:scan: ${(e as Error).message}\n(npm run bench:scan -- --help)\n`);
    return 2;
  }
  for (const tool of ['zstd', 'gzip', 'tar']) if (spawnSync(tool, ['--version']).status !== 0) throw new Error(`${tool} is needed`);
  const work = o.workdir ? path.resolve(o.workdir) : await mkdtemp(path.join(os.tmpdir(), 'wharf-scan-bench-'));
  await mkdir(work, { recursive: true });
  log(`work dir ${work}`);
  const run = path.join(work, `run-${process.pid}`);
  await mkdir(run, { recursive: true });
  const pgSchema = `wharf_scanbench_${randomBytes(5).toString('hex')}`;
  let pgUsed = false;
  try {
    const fx = spawnSync('bash', [path.join(repoRoot, 'scripts/debian-fixture.sh')], { encoding: 'utf8', timeout: 900_000, stdio: ['ignore', 'pipe', 'inherit'] });
    if (fx.status !== 0) throw new Error('scripts/debian-fixture.sh failed');
    const rootfs = fx.stdout.trim();
    const built = await buildLayout(work, o.sizes, rootfs);
    const layout = built.layout;

    // ---- the vulnerability database
    log('importing the fixture vulnerability database (SQLite)');
    const sqliteUrl = `sqlite:${path.join(run, 'vulndb.sqlite')}`;
    const sqliteImport = await importAll(sqliteUrl);
    for (const i of sqliteImport.imports) log(`  ${i.source}: ${i.records} records, ${i.rows} rows, ${fmt(i.ms)}`);
    const usePg = o.pg ?? (await pgReachable(o.pgUrl));
    let pgImport: Awaited<ReturnType<typeof importAll>> | undefined;
    const pgUrl = `${o.pgUrl}?schema=${pgSchema}`;
    if (usePg) {
      log(`importing the fixture vulnerability database (PostgreSQL, schema ${pgSchema})`);
      pgUsed = true;
      pgImport = await importAll(pgUrl);
    }

    // ---- per image
    const results: ImageResult[] = [];
    const background: number[] = [];
    const checkQuiet = async () => {
      const b = await busyPercent(1000);
      background.push(Math.round(b));
      if (b > 30) log(`WARNING: other processes use ${b.toFixed(0)}% of a core (2 cores here?); numbers will be noisy`);
    };
    const dataDir = path.join(run, 'wharf-data');
    await mkdir(dataDir, { recursive: true });
    const cliEnv = { WHARF_DATA_DIR: dataDir, WHARF_DATABASE_URL: sqliteUrl, WHARF_LOG_LEVEL: 'warn' };
    const dumps: Record<string, string> = {};
    for (const size of o.sizes) {
      const img = built.images[`scan${size}`]!;
      const compressed = img.layers.reduce((a, l) => a + l.size, 0);
      const tarBytes = img.layers.reduce((a, l) => a + l.tarBytes, 0);
      log(`== ${img.tag}: ${img.layers.length} layers, ${(compressed / MiB).toFixed(1)} MiB compressed, ${(tarBytes / MiB).toFixed(1)} MiB tar`);
      await checkQuiet();
      log('  read-once baseline (decompress | tar -t)');
      const ro = await readOnce(layout, img, o.runs);
      log(`    ${fmt(ro.totalMs)} (${ro.layersMs.map(fmt).join(' + ')})`);
      const first: ChildScan[] = [];
      let profile: ImageResult['profile'];
      for (let i = 0; i < o.firstRuns; i++) {
        const cacheDir = path.join(run, `cache-${size}-${i}`);
        await rm(cacheDir, { recursive: true, force: true });
        const dump = path.join(run, `packages-${size}.json`);
        const profDir = path.join(run, `prof-${size}`);
        const flags = o.cpuProf && i === 0 ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [];
        log(`  first scan ${i + 1}/${o.firstRuns} (empty cache)${flags.length ? ' with --cpu-prof' : ''}`);
        const r = await runChild({ layout, tag: img.tag, cacheDir, db: sqliteUrl, dump }, flags);
        dumps[img.tag] = dump;
        first.push(r);
        log(`    scan ${fmt(r.scanMs)} (index ${fmt(r.indexMs)}, match ${fmt(r.matchMs)}, checks ${fmt(r.checksMs)}), wall ${fmt(r.wallMs)}, peak RSS ${r.maxRssMiB.toFixed(0)} MiB; ${r.packages} packages, ${r.vulnerabilities} vulns, ${r.findings} findings`);
        if (flags.length) {
          const f = (await readdir(profDir)).find((x) => x.endsWith('.cpuprofile'));
          if (f) profile = { file: path.join(profDir, f), top: summarizeProfile(path.join(profDir, f)) };
        }
      }
      const warm = path.join(run, `cache-${size}-0`);
      const rescan: ChildScan[] = [];
      const cli: number[] = [];
      log(`  rescans with the warm cache (${o.runs} in-process, ${o.runs} CLI)`);
      for (let i = 0; i < o.runs; i++) {
        rescan.push(await runChild({ layout, tag: img.tag, cacheDir: warm, db: sqliteUrl }));
        cli.push(runCli(layout, img.tag, warm, cliEnv, path.join(run, `cli-${size}.json`)));
      }
      const rsMed = median(rescan.map((r) => r.scanMs));
      const cliMed = median(cli);
      log(`    in-process ${fmt(rsMed)} (index ${fmt(median(rescan.map((r) => r.indexMs)))}, match ${fmt(median(rescan.map((r) => r.matchMs)))}), CLI wall ${fmt(cliMed)}`);
      const firstMed = median(first.map((r) => r.scanMs));
      const ratio = firstMed / (2 * ro.totalMs);
      results.push({
        tag: img.tag,
        layers: img.layers.map((l) => ({ digest: l.digest, compression: l.compression, compressedMiB: +(l.size / MiB).toFixed(2), tarMiB: +(l.tarBytes / MiB).toFixed(2), createdBy: l.createdBy })),
        compressedMiB: +(compressed / MiB).toFixed(1),
        tarMiB: +(tarBytes / MiB).toFixed(1),
        readOnce: ro,
        first,
        rescan,
        cliRescanMs: cli,
        profile,
        verdict: { firstRatio: ratio, firstPass: ratio < 1, rescanInProcMs: rsMed, rescanInProcPass: rsMed < 500, rescanCliMs: cliMed, rescanCliPass: cliMed < 500 },
      });
    }

    // node + tsx + CLI startup alone, for reading the CLI wall time
    // (`wharf` runs the esbuild bundle in dist/ when it is current, else the sources through tsx)
    const startup: Record<string, number[]> = { node: [], 'node --import tsx': [], 'wharf --help': [], 'wharf --help, sources through tsx': [] };
    for (let i = 0; i < o.runs; i++) {
      for (const [k, args, extra] of [
        ['node', ['-e', '0'], {}],
        ['node --import tsx', ['--import', 'tsx', '-e', '0'], {}],
        ['wharf --help', [WHARF, '--help'], {}],
        ['wharf --help, sources through tsx', [WHARF, '--help'], { WHARF_FROM_SOURCES: '1' }],
      ] as const) {
        const t = performance.now();
        spawnSync(process.execPath, args, { cwd: repoRoot, stdio: 'ignore', env: { ...process.env, ...cliEnv, ...extra } });
        startup[k]!.push(performance.now() - t);
      }
    }

    // ---- matching
    log('matching');
    const names = advisoryNames();
    const sets: { name: string; os?: OsInfo; packages: Pkg[] }[] = [];
    for (const [tag, f] of Object.entries(dumps)) {
      const d = JSON.parse(await readFile(f, 'utf8')) as { os?: OsInfo; packages: Pkg[] };
      sets.push({ name: `${tag} packages`, os: d.os, packages: d.packages });
    }
    sets.push({ name: `synthetic npm/PyPI/Go`, packages: syntheticPackages(o.synthetic, names) });
    const matches = await timeMatches(sqliteUrl, 'sqlite', sets, o.matchRuns);
    if (usePg) matches.push(...(await timeMatches(pgUrl, 'postgres', sets, o.matchRuns)));

    // ---- report
    const out: string[] = [];
    out.push('\nVulnerability database import (test/fixtures/vulndata)\n');
    const imp: string[][] = [['source', 'records', 'rows', 'SQLite', ...(pgImport ? ['PostgreSQL'] : [])]];
    for (const [i, l] of sqliteImport.imports.entries()) imp.push([l.source, String(l.records), String(l.rows), fmt(l.ms), ...(pgImport ? [fmt(pgImport.imports[i]!.ms)] : [])]);
    imp.push(['total', String(sqliteImport.imports.reduce((a, b) => a + b.records, 0)), String(sqliteImport.imports.reduce((a, b) => a + b.rows, 0)), fmt(sqliteImport.totalMs), ...(pgImport ? [fmt(pgImport.totalMs)] : [])]);
    out.push(table(imp));
    out.push('\nScans (SQLite vulnerability DB; times are medians; first scan = empty FsLayerCache)\n');
    const hdr = ['', ...results.map((r) => r.tag)];
    const rows: string[][] = [hdr];
    const row = (label: string, f: (r: ImageResult) => string) => rows.push([label, ...results.map(f)]);
    const fm = (r: ImageResult, k: keyof ChildScan) => median(r.first.map((x) => x[k] as number));
    const rm_ = (r: ImageResult, k: keyof ChildScan) => median(r.rescan.map((x) => x[k] as number));
    row('layers (gzip/zstd)', (r) => `${r.layers.length} (${r.layers.filter((l) => l.compression === 'gzip').length}/${r.layers.filter((l) => l.compression === 'zstd').length})`);
    row('compressed / tar', (r) => `${r.compressedMiB} / ${r.tarMiB} MiB`);
    row('packages / vulns / findings', (r) => `${r.first[0]!.packages} / ${r.first[0]!.vulnerabilities} / ${r.first[0]!.findings}`);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + (Number.isNaN(b) ? 0 : b), 0);
    row('read once (faster per layer, below)', (r) => fmt(r.readOnce.totalMs));
    row('  gzip -dc|tar -t, zstd -dc|tar -t', (r) => fmt(sum(r.readOnce.cliMs)));
    row('  gzip layers: node zlib → tar -t', (r) => fmt(sum(r.readOnce.zlibTarMs)));
    row('  decompress only (CLI)', (r) => fmt(sum(r.readOnce.decompressMs)));
    row('  decompress only (node zlib/fzstd)', (r) => fmt(sum(r.readOnce.nodeDecompressMs)));
    row('first scan: scanImage', (r) => fmt(fm(r, 'scanMs')));
    row('  index', (r) => fmt(fm(r, 'indexMs')));
    row('  match', (r) => fmt(fm(r, 'matchMs')));
    row('  checks', (r) => fmt(fm(r, 'checksMs')));
    row('  MiB/s (compressed, tar)', (r) => `${(r.compressedMiB / (fm(r, 'indexMs') / 1000)).toFixed(0)}, ${(r.tarMiB / (fm(r, 'indexMs') / 1000)).toFixed(0)}`);
    row('  process wall (startup incl.)', (r) => fmt(fm(r, 'wallMs')));
    row('  peak RSS (before scan)', (r) => `${fm(r, 'maxRssMiB').toFixed(0)} MiB (${fm(r, 'rssBeforeMiB').toFixed(0)})`);
    row('  first / (2 × read once)', (r) => `${r.verdict.firstRatio.toFixed(2)} ${r.verdict.firstPass ? 'PASS' : 'FAIL'}`);
    row('rescan (cached): scanImage', (r) => `${fmt(r.verdict.rescanInProcMs)} ${r.verdict.rescanInProcPass ? 'PASS' : 'FAIL'}`);
    row('  index (cache read+merge)', (r) => fmt(rm_(r, 'indexMs')));
    row('  match', (r) => fmt(rm_(r, 'matchMs')));
    row('  peak RSS', (r) => `${rm_(r, 'maxRssMiB').toFixed(0)} MiB`);
    row('  child setup (imports, DB, source)', (r) => fmt(rm_(r, 'setupMs')));
    row(`rescan: \`wharf scan\` CLI wall (${BUNDLE_CURRENT ? 'bundle' : 'sources: dist/ missing or stale, npm run build'})`, (r) => `${fmt(r.verdict.rescanCliMs)} ${r.verdict.rescanCliPass ? 'PASS' : 'FAIL'}`);
    for (const [k, v] of Object.entries(startup)) rows.push([`  (\`${k}\` wall)`, ...results.map(() => fmt(median(v)))]);
    out.push(table(rows));
    out.push('\nPer layer, first scan (concurrency 2: layers overlap)\n');
    const pl: string[][] = [['image / layer', 'comp', 'compressed', 'tar', 'read once', 'node decomp', 'indexed in']];
    for (const r of results)
      r.layers.forEach((l, i) => {
        const fl = r.first[0]!.layers.find((x) => x.index === i);
        pl.push([`${r.tag} #${i} ${l.createdBy.replace('/bin/sh -c ', '').slice(0, 40)}`, l.compression, `${l.compressedMiB} MiB`, `${l.tarMiB} MiB`, fmt(r.readOnce.layersMs[i]!), fmt(r.readOnce.nodeDecompressMs[i]!), fl ? fmt(fl.ms) : '-']);
      });
    out.push(table(pl));
    out.push('\nMatching: match() against the whole database (cold = first call in the process; median of the rest)\n');
    const mt: string[][] = [['package set', 'backend', 'packages', 'vulns', 'cold', 'median']];
    for (const m of matches) mt.push([m.set, m.backend, String(m.packages), String(m.vulnerabilities), fmt(m.coldMs), fmt(m.medianMs)]);
    out.push(table(mt));
    for (const r of results)
      if (r.profile) {
        out.push(`\nCPU profile of the ${r.tag} first scan (self time, top ${r.profile.top.length}): ${o.keep ? r.profile.file : '(--keep to keep the file)'}\n`);
        out.push(table([['function', 'self', '%'], ...r.profile.top.map((t) => [t.fn.slice(0, 110), fmt(t.selfMs), `${t.pct}%`])]));
      }
    out.push(`\nOther processes' CPU before each image (% of one core): ${background.join(', ')}${background.some((b) => b > 30) ? ' — noisy, compare with care' : ''}\n`);
    out.push('\nTargets (issue 5)\n');
    for (const r of results) {
      out.push(`  ${r.tag}: first scan ${fmt(median(r.first.map((x) => x.scanMs)))} vs 2 × read-once ${fmt(2 * r.readOnce.totalMs)} → ${r.verdict.firstPass ? 'PASS' : 'FAIL'} (ratio ${r.verdict.firstRatio.toFixed(2)})\n`);
      out.push(`  ${r.tag}: cached rescan in-process ${fmt(r.verdict.rescanInProcMs)} → ${r.verdict.rescanInProcPass ? 'PASS' : 'FAIL'}; whole \`wharf scan\` process ${fmt(r.verdict.rescanCliMs)} → ${r.verdict.rescanCliPass ? 'PASS' : 'FAIL'} (< 0.5 s)\n`);
    }
    process.stdout.write(out.join(''));

    const json = {
      when: new Date().toISOString(),
      backgroundBusyPct: background,
      machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version },
      options: { ...o },
      build: { seconds: built.buildS, ...built.info },
      imports: { sqlite: sqliteImport, ...(pgImport ? { postgres: pgImport } : {}) },
      images: results,
      cliStartupMs: startup,
      matches,
    };
    await mkdir(path.dirname(o.json), { recursive: true });
    await writeFile(o.json, JSON.stringify(json, null, 2));
    log(`wrote ${path.relative(process.cwd(), o.json)}`);
    return results.every((r) => r.verdict.firstPass && r.verdict.rescanInProcPass) ? 0 : 1;
  } finally {
    if (pgUsed && !o.keep) await dropPgSchema(o.pgUrl, pgSchema).catch((e) => log(`could not drop ${pgSchema}: ${(e as Error).message}`));
    if (o.keep) log(`kept ${work}`);
    else if (o.workdir) await rm(run, { recursive: true, force: true }); // keep the images, drop this run's caches and DBs
    else await rm(work, { recursive: true, force: true });
  }
}

const childIdx = process.argv.indexOf('--child');
if (childIdx !== -1) {
  childMain(JSON.parse(process.argv[childIdx + 1]!) as ChildArgs).then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`${(e as Error).stack ?? e}\n`);
      process.exit(1);
    },
  );
} else {
  // top-level await: `npm run bench -- --only scan` imports this module and exits when the import resolves
  try {
    process.exitCode = await main();
  } catch (e) {
    process.stderr.write(`bench:scan: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 2;
  }
}
