// Starting and stopping registries for tests and benchmarks: Wharf (as a child process running
// `bin/wharf.js serve`) and the Go reference registry (Debian's `docker-registry`).
//
// Wharf refuses anonymous pushes and keeps repositories in projects (docs/identity.md), so every
// Wharf started here has a known admin password (WHARF_ADMIN_PASSWORD), exposed as `admin`, and
// createProject()/createUser() set up what a suite needs through the management API with it. The
// Go reference has no auth: there the credentials are sent and ignored, and the helpers do nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The admin password every test Wharf starts with (unless opts.env sets WHARF_ADMIN_PASSWORD). */
export const TEST_ADMIN_PASSWORD = 'Wharf-Test-Admin-1';

export interface Credentials {
  username: string;
  password: string;
}

export interface RunningRegistry {
  /** which implementation runs: Wharf, or the Go reference (which has no auth) */
  kind: 'wharf' | 'reference';
  /** the system admin (for the reference target: sent, and ignored) */
  admin: Credentials;
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  /** e.g. 127.0.0.1:40123 (what docker/skopeo take) */
  host: string;
  port: number;
  dataDir: string;
  proc: ChildProcess;
  /** output captured so far (stdout+stderr) */
  output(): string;
  /** SIGTERM, wait for exit, remove the data dir unless keepData */
  stop(opts?: { keepData?: boolean }): Promise<void>;
  /** SIGKILL, wait for exit; the data dir is kept */
  kill(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string, proc: ChildProcess, out: () => string, timeoutMs = 60_000, dataDir?: string): Promise<void> {
  try {
    await waitReadyInner(url, proc, out, timeoutMs);
  } catch (e) {
    // Do not leave a half-started server or its data behind.
    if (proc.exitCode === null) proc.kill('SIGKILL');
    await exited(proc);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    throw new Error(`${(e as Error).message}\n${out()}`);
  }
}

async function waitReadyInner(url: string, proc: ChildProcess, out: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) {
      await new Promise((r) => setTimeout(r, 100)); // let stderr arrive
      throw new Error(`registry exited (${proc.exitCode}) before ready:`);
    }
    try {
      const r = await fetch(`${url}/v2/`);
      await r.arrayBuffer();
      if (r.status === 200 || r.status === 401) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`registry at ${url} not ready after ${timeoutMs} ms:`);
}

function track(proc: ChildProcess): () => string {
  let buf = '';
  const add = (d: Buffer) => {
    buf += d.toString();
    if (buf.length > 1_000_000) buf = buf.slice(-500_000);
  };
  proc.stdout?.on('data', add);
  proc.stderr?.on('data', add);
  return () => buf;
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((r) => proc.once('exit', () => r()));
}

export interface StartWharfOptions {
  dataDir?: string;
  port?: number;
  env?: Record<string, string>;
  /** extra CLI args after `serve` */
  args?: string[];
}

/** Start Wharf as a real process on a free loopback port with its own data dir. */
export async function startWharf(opts: StartWharfOptions = {}): Promise<RunningRegistry> {
  const port = opts.port ?? (await freePort());
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'wharf-test-')));
  const env: Record<string, string | undefined> = {
    ...process.env,
    WHARF_ADDR: `127.0.0.1:${port}`,
    WHARF_DATA_DIR: dataDir,
    WHARF_LOG_LEVEL: process.env.WHARF_LOG_LEVEL ?? 'warn',
    WHARF_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD,
    // test servers on PostgreSQL migrate their own private schema (deployments run `wharf migrate`);
    // on SQLite the real default applies
    ...(/^postgres/.test(opts.env?.WHARF_DATABASE_URL ?? '') ? { WHARF_AUTO_MIGRATE: 'true' } : {}),
    ...opts.env,
  };
  const admin: Credentials = { username: 'admin', password: env.WHARF_ADMIN_PASSWORD ?? TEST_ADMIN_PASSWORD };
  const proc = spawn(process.execPath, [path.join(repoRoot, 'bin/wharf.js'), 'serve', ...(opts.args ?? [])], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = track(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url, proc, out, 60_000, opts.dataDir ? undefined : dataDir);
  return {
    kind: 'wharf',
    admin,
    url,
    host: `127.0.0.1:${port}`,
    port,
    dataDir,
    proc,
    output: out,
    async stop(o) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited(proc);
      clearTimeout(t);
      if (!o?.keepData && !opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
  };
}

/** Start the Go reference registry (Debian's docker-registry 2.8.2) with filesystem storage. */
export async function startReference(opts: { port?: number; deleteEnabled?: boolean } = {}): Promise<RunningRegistry> {
  const port = opts.port ?? (await freePort());
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'goreg-'));
  const cfg = path.join(dataDir, 'config.yml');
  await writeFile(
    cfg,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(dataDir, 'store')}`,
      '  delete:',
      `    enabled: ${opts.deleteEnabled ?? true}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const proc = spawn('docker-registry', ['serve', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = track(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url, proc, out, 30_000, dataDir);
  return {
    kind: 'reference',
    admin: { username: 'admin', password: TEST_ADMIN_PASSWORD },
    url,
    host: `127.0.0.1:${port}`,
    port,
    dataDir,
    proc,
    output: out,
    async stop(o) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited(proc);
      clearTimeout(t);
      if (!o?.keepData) await rm(dataDir, { recursive: true, force: true });
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
  };
}

/** Which registry a suite targets: WHARF_TEST_TARGET=reference runs it against the Go registry. */
export async function startTarget(): Promise<RunningRegistry> {
  return process.env.WHARF_TEST_TARGET === 'reference' ? startReference() : startWharf();
}

// ---------------------------------------------------------------------------------------------
// Credentials and the management API (docs/identity.md)

/** The value of an `Authorization: Basic …` header. */
export function basicAuth(username: string, password: string): string;
export function basicAuth(creds: Credentials): string;
export function basicAuth(a: string | Credentials, b?: string): string {
  const [u, p] = typeof a === 'string' ? [a, b ?? ''] : [a.username, a.password];
  return 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');
}

/** The admin's Basic header for a registry (the Go reference ignores it). */
export function adminAuth(reg: Pick<RunningRegistry, 'admin'>): string {
  return basicAuth(reg.admin);
}

async function api(reg: RunningRegistry, method: string, p: string, body?: unknown): Promise<{ status: number; headers: Headers; text: string }> {
  const r = await fetch(reg.url + p, {
    method,
    headers: { Authorization: adminAuth(reg), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

/**
 * Create a project as the admin (`POST /api/v2.0/projects`); one that exists already (409) is
 * fine. Private unless `public: true`. Nothing to do on the Go reference (no projects there).
 */
export async function createProject(reg: RunningRegistry, name: string, opts: { public?: boolean } = {}): Promise<void> {
  if (reg.kind === 'reference') return;
  const r = await api(reg, 'POST', '/api/v2.0/projects', { project_name: name, public: opts.public ?? false });
  if (r.status === 201 || r.status === 409) return;
  throw new Error(`POST /api/v2.0/projects {project_name: ${JSON.stringify(name)}} -> ${r.status}: ${r.text.slice(0, 500)}`);
}

/** createProject() for several names at once. */
export async function createProjects(reg: RunningRegistry, names: Iterable<string>, opts: { public?: boolean } = {}): Promise<void> {
  for (const n of new Set(names)) await createProject(reg, n, opts);
}

/**
 * Create a user as the admin (`POST /api/v2.0/users`) and return its id (from the Location
 * header; looked up when the user exists already, 409). Returns 0 on the Go reference.
 */
export async function createUser(reg: RunningRegistry, username: string, password: string): Promise<number> {
  if (reg.kind === 'reference') return 0;
  const r = await api(reg, 'POST', '/api/v2.0/users', { username, email: `${username}@example.com`, realname: username, password });
  if (r.status === 201) {
    const id = Number(/\/users\/(\d+)\/?$/.exec(r.headers.get('location') ?? '')?.[1]);
    if (!Number.isInteger(id) || id <= 0) throw new Error(`POST /api/v2.0/users: 201 without a usable Location (${r.headers.get('location')})`);
    return id;
  }
  if (r.status === 409) {
    const q = await api(reg, 'GET', `/api/v2.0/users?q=${encodeURIComponent(`username=${username}`)}`);
    if (q.status === 200) {
      const found = (JSON.parse(q.text) as { user_id: number; username: string }[]).find((u) => u.username === username);
      if (found) return found.user_id;
    }
    throw new Error(`user ${username} exists, but GET /api/v2.0/users?q=username=${username} -> ${q.status}: ${q.text.slice(0, 300)}`);
  }
  throw new Error(`POST /api/v2.0/users {username: ${JSON.stringify(username)}} -> ${r.status}: ${r.text.slice(0, 500)}`);
}

/** The first path component of each repository name: the projects those names need. */
export function projectsOf(names: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const n of names) {
    const i = n.indexOf('/');
    if (i > 0) out.add(n.slice(0, i));
  }
  return [...out];
}
