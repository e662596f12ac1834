// Starting and stopping registries for tests and benchmarks: Wharf (as a child process running
// `bin/wharf.js serve`) and the Go reference registry (Debian's `docker-registry`).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface RunningRegistry {
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
  const proc = spawn(process.execPath, [path.join(repoRoot, 'bin/wharf.js'), 'serve', ...(opts.args ?? [])], {
    env: {
      ...process.env,
      WHARF_ADDR: `127.0.0.1:${port}`,
      WHARF_DATA_DIR: dataDir,
      WHARF_LOG_LEVEL: process.env.WHARF_LOG_LEVEL ?? 'warn',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = track(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url, proc, out, 60_000, opts.dataDir ? undefined : dataDir);
  return {
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
