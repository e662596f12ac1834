// Real container clients (skopeo, podman, buildah, docker) run with isolated, throw-away state,
// so the host's configuration and stores neither leak into a test nor get touched by one.
// Every command is time-boxed; failures throw a ClientError carrying the command line, exit
// status, stdout and stderr.
//
// One thing cannot be isolated: run as root, the containers/image library keeps its blob info
// cache in /var/lib/containers/cache whatever HOME says. It remembers which compressed blobs it
// saw in which registry repository and may substitute them (or try a cross-repo mount) on later
// copies to the same registry. Tests that assert exact digests pass skopeo --preserve-digests,
// and every suite starts its own registry on a fresh port, so entries never point at a live one.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Credentials } from './servers.ts';

// ---------------------------------------------------------------------------------------------
// Running commands

export interface RunOptions {
  env?: Record<string, string | undefined>;
  /** kill (SIGKILL) the command after this long; default 120 s */
  timeoutMs?: number;
  /** resolve instead of throwing on a non-zero exit */
  allowFail?: boolean;
  input?: string | Buffer;
  cwd?: string;
}

export interface RunResult {
  cmd: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stdoutBuf: Buffer;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

export class ClientError extends Error {
  constructor(readonly result: RunResult) {
    super(describeFailure(result));
    this.name = 'ClientError';
  }
}

function clip(s: string, n = 6000): string {
  return s.length > n ? `…(${s.length - n} chars cut)…\n` + s.slice(-n) : s;
}

function describeFailure(r: RunResult): string {
  const how = r.timedOut ? `timed out after ${r.ms} ms` : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
  return `command failed (${how}): ${r.cmd}\n--- stdout ---\n${clip(r.stdout.trimEnd())}\n--- stderr ---\n${clip(r.stderr.trimEnd())}`;
}

function quote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** processes still running that run() started; killed if the test process exits early */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of live) {
      try {
        if (p.pid) process.kill(-p.pid, 'SIGKILL');
      } catch {
        try {
          p.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  });
}

/** Run a command to completion, time-boxed; throws ClientError unless it exits 0 (or allowFail). */
export function run(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  installExitHook();
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const cmd = [file, ...args].map(quote).join(' ');
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...opts.env })) if (v !== undefined) env[k] = v;
    // own process group, so a timeout kills the command's children too
    const p = spawn(file, args, { env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    live.add(p);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    p.stdout!.on('data', (d: Buffer) => out.push(d));
    p.stderr!.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        p.kill('SIGKILL');
      }
    }, timeoutMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      live.delete(p);
      reject(new Error(`could not run ${cmd}: ${e.message}`));
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(p);
      const stdoutBuf = Buffer.concat(out);
      const r: RunResult = {
        cmd,
        code,
        signal,
        stdout: stdoutBuf.toString('utf8'),
        stdoutBuf,
        stderr: Buffer.concat(err).toString('utf8'),
        ms: Date.now() - started,
        timedOut,
      };
      if ((code !== 0 || timedOut) && !opts.allowFail) reject(new ClientError(r));
      else resolve(r);
    });
    if (opts.input !== undefined) p.stdin!.end(opts.input);
    else p.stdin!.end();
  });
}

// ---------------------------------------------------------------------------------------------
// Isolated state

/** Unmount whatever is mounted under dir (deepest first), then remove it. */
export async function removeTree(dir: string): Promise<void> {
  const abs = path.resolve(dir);
  try {
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1])
      .filter((m): m is string => !!m)
      .map((m) => m.replace(/\\040/g, ' '))
      .filter((m) => m === abs || m.startsWith(abs + '/'))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  } catch {
    /* no /proc/mounts */
  }
  await rm(abs, { recursive: true, force: true, maxRetries: 3 });
}

export interface ClientHome {
  /** the temp root holding everything below */
  dir: string;
  /** environment that points the containers/* libraries and docker CLI at the temp files */
  env: Record<string, string>;
  policy: string;
  registriesConf: string;
  registriesD: string;
  authFile: string;
  cleanup(): Promise<void>;
}

/**
 * A temp HOME with its own policy.json (insecureAcceptAnything), registries.conf (no search
 * registries, no short names), registries.d, auth file and containers.conf, and the environment
 * variables that make every client use them.
 */
export async function makeClientHome(prefix = 'wharf-e2e-'): Promise<ClientHome> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const home = path.join(dir, 'home');
  const run = path.join(dir, 'xdg-run');
  const tmp = path.join(dir, 'tmp');
  const registriesD = path.join(dir, 'registries.d');
  for (const d of [home, run, tmp, registriesD, path.join(home, '.docker')]) await mkdir(d, { recursive: true, mode: 0o700 });
  const policy = path.join(dir, 'policy.json');
  await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const registriesConf = path.join(dir, 'registries.conf');
  await writeFile(registriesConf, 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n');
  const authFile = path.join(dir, 'auth.json');
  await writeFile(authFile, JSON.stringify({ auths: {} }));
  await writeFile(path.join(home, '.docker', 'config.json'), JSON.stringify({ auths: {} }));
  const containersConf = path.join(dir, 'containers.conf');
  await writeFile(
    containersConf,
    ['[engine]', 'cgroup_manager = "cgroupfs"', 'events_logger = "file"', `events_logfile_path = "${path.join(dir, 'events.log')}"`, ''].join('\n'),
  );
  const env: Record<string, string> = {
    HOME: home,
    XDG_RUNTIME_DIR: run,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local/share'),
    TMPDIR: tmp,
    REGISTRY_AUTH_FILE: authFile,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    CONTAINERS_CONF: containersConf,
    DOCKER_CONFIG: path.join(home, '.docker'),
    // no proxies for loopback test traffic
    NO_PROXY: '*',
    no_proxy: '*',
    HTTP_PROXY: '',
    HTTPS_PROXY: '',
    http_proxy: '',
    https_proxy: '',
    BUILDAH_ISOLATION: 'chroot',
  };
  return { dir, env, policy, registriesConf, registriesD, authFile, cleanup: () => removeTree(dir) };
}

// ---------------------------------------------------------------------------------------------
// skopeo

export class Skopeo {
  private constructor(readonly home: ClientHome) {}

  static async create(): Promise<Skopeo> {
    return new Skopeo(await makeClientHome('wharf-skopeo-'));
  }

  /** skopeo with the isolated policy/registries config; args after the global flags */
  run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(
      'skopeo',
      // (skopeo 1.9 has no --registries-conf flag: CONTAINERS_REGISTRIES_CONF in the env does that)
      ['--policy', this.home.policy, '--registries.d', this.home.registriesD, '--tmpdir', this.home.env.TMPDIR, ...args],
      { ...opts, env: { ...this.home.env, ...opts.env } },
    );
  }

  /** skopeo copy with TLS verification off on both sides; returns the result (stdout lists blobs) */
  copy(src: string, dest: string, extra: string[] = [], opts: RunOptions = {}): Promise<RunResult> {
    return this.run(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', ...extra, src, dest], opts);
  }

  /** skopeo copy, returning the digest of the manifest written (via --digestfile) */
  async copyDigest(src: string, dest: string, extra: string[] = []): Promise<string> {
    const f = path.join(this.home.dir, `digest-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    await this.copy(src, dest, ['--digestfile', f, ...extra]);
    return (await readFile(f, 'utf8')).trim();
  }

  async inspect(ref: string, extra: string[] = []): Promise<any> {
    const r = await this.run(['inspect', '--tls-verify=false', ...extra, ref]);
    return JSON.parse(r.stdout);
  }

  /** the exact manifest bytes (or config bytes with config=true) */
  async inspectRaw(ref: string, opts: { config?: boolean } = {}): Promise<Buffer> {
    const r = await this.run(['inspect', '--tls-verify=false', '--raw', ...(opts.config ? ['--config'] : []), ref]);
    return r.stdoutBuf;
  }

  async listTags(repoRef: string): Promise<string[]> {
    const r = await this.run(['list-tags', '--tls-verify=false', repoRef]);
    return JSON.parse(r.stdout).Tags ?? [];
  }

  delete(ref: string): Promise<RunResult> {
    return this.run(['delete', '--tls-verify=false', ref]);
  }

  sync(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.run(['sync', '--src-tls-verify=false', '--dest-tls-verify=false', ...args], { timeoutMs: 180_000, ...opts });
  }

  /** `skopeo login` into the isolated auth file (REGISTRY_AUTH_FILE), which every later command reads */
  login(host: string, creds: Credentials): Promise<RunResult> {
    return this.run(['login', '--tls-verify=false', '--authfile', this.home.authFile, '--username', creds.username, '--password-stdin', host], { input: creds.password });
  }

  cleanup(): Promise<void> {
    return this.home.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// podman, buildah

export class Podman {
  private constructor(
    readonly home: ClientHome,
    private readonly globals: string[],
  ) {}

  static async create(): Promise<Podman> {
    const home = await makeClientHome('wharf-podman-');
    const globals = [
      '--root',
      path.join(home.dir, 'storage'),
      '--runroot',
      path.join(home.dir, 'runroot'),
      '--storage-driver',
      'vfs',
      '--tmpdir',
      path.join(home.dir, 'libpod-tmp'),
      '--cgroup-manager',
      'cgroupfs',
      '--events-backend',
      'file',
    ];
    return new Podman(home, globals);
  }

  run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('podman', [...this.globals, ...args], { ...opts, env: { ...this.home.env, ...opts.env } });
  }

  /** push, returning the digest of the manifest pushed */
  async push(image: string, dest: string, extra: string[] = []): Promise<string> {
    const f = path.join(this.home.dir, `digest-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    await this.run(['push', '--tls-verify=false', '--digestfile', f, ...extra, image, dest]);
    return (await readFile(f, 'utf8')).trim();
  }

  pull(ref: string, extra: string[] = []): Promise<RunResult> {
    return this.run(['pull', '--tls-verify=false', ...extra, ref]);
  }

  /** `podman login` into the isolated auth file (REGISTRY_AUTH_FILE) */
  login(host: string, creds: Credentials): Promise<RunResult> {
    return this.run(['login', '--tls-verify=false', '--authfile', this.home.authFile, '--username', creds.username, '--password-stdin', host], { input: creds.password });
  }

  async inspect(image: string): Promise<any> {
    const r = await this.run(['image', 'inspect', image]);
    const v = JSON.parse(r.stdout);
    return Array.isArray(v) ? v[0] : v;
  }

  async cleanup(): Promise<void> {
    // unmounts nothing here with vfs, but make sure no storage lock holder lingers
    await this.run(['rmi', '--all', '--force'], { allowFail: true, timeoutMs: 60_000 }).catch(() => undefined);
    await this.home.cleanup();
  }
}

export class Buildah {
  private constructor(
    readonly home: ClientHome,
    private readonly globals: string[],
  ) {}

  static async create(): Promise<Buildah> {
    const home = await makeClientHome('wharf-buildah-');
    const globals = ['--root', path.join(home.dir, 'storage'), '--runroot', path.join(home.dir, 'runroot'), '--storage-driver', 'vfs'];
    return new Buildah(home, globals);
  }

  run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('buildah', [...this.globals, ...args], { ...opts, env: { ...this.home.env, ...opts.env } });
  }

  async push(image: string, dest: string, extra: string[] = []): Promise<string> {
    const f = path.join(this.home.dir, `digest-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    await this.run(['push', '--tls-verify=false', '--digestfile', f, ...extra, image, dest]);
    return (await readFile(f, 'utf8')).trim();
  }

  /** `buildah login` into the isolated auth file (REGISTRY_AUTH_FILE) */
  login(host: string, creds: Credentials): Promise<RunResult> {
    return this.run(['login', '--tls-verify=false', '--authfile', this.home.authFile, '--username', creds.username, '--password-stdin', host], { input: creds.password });
  }

  async cleanup(): Promise<void> {
    await this.run(['rm', '--all'], { allowFail: true, timeoutMs: 60_000 }).catch(() => undefined);
    await this.home.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// docker: a private dockerd

export class DockerDaemon {
  private stopped = false;
  private exitHook = () => {
    try {
      this.proc.kill('SIGKILL');
    } catch {
      /* gone */
    }
  };

  private constructor(
    readonly home: ClientHome,
    readonly socket: string,
    readonly dataRoot: string,
    readonly proc: ChildProcess,
    private readonly log: () => string,
  ) {
    process.once('exit', this.exitHook);
  }

  /**
   * Start dockerd with vfs storage, no iptables, no bridge, its own data/exec roots and socket
   * under a temp dir (it starts its own containerd there too), and wait until `docker info` answers.
   * dockerd treats 127.0.0.0/8 as insecure registries by default, so plain-HTTP loopback works.
   */
  static async start(opts: { timeoutMs?: number } = {}): Promise<DockerDaemon> {
    const home = await makeClientHome('wharf-dockerd-');
    // unix socket paths are limited to ~108 bytes; the temp dir is short enough
    const socket = path.join(home.dir, 'docker.sock');
    const dataRoot = path.join(home.dir, 'data');
    const execRoot = path.join(home.dir, 'exec');
    const proc = spawn(
      'dockerd',
      [
        '--storage-driver=vfs',
        '--iptables=false',
        '--ip6tables=false',
        '--bridge=none',
        '--data-root',
        dataRoot,
        '--exec-root',
        execRoot,
        '--pidfile',
        path.join(home.dir, 'docker.pid'),
        '-H',
        `unix://${socket}`,
        '--config-file',
        await writeDaemonJson(home.dir),
      ],
      { env: { ...process.env, ...home.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let buf = '';
    const add = (d: Buffer) => {
      buf += d.toString();
      if (buf.length > 400_000) buf = buf.slice(-200_000);
    };
    proc.stdout!.on('data', add);
    proc.stderr!.on('data', add);
    const d = new DockerDaemon(home, socket, dataRoot, proc, () => buf);
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        await d.stop();
        throw new Error(`dockerd exited (${proc.exitCode ?? proc.signalCode}) before it was ready:\n${clip(buf)}`);
      }
      if (existsSync(socket)) {
        const r = await d.docker(['info', '--format', '{{.ServerVersion}}'], { allowFail: true, timeoutMs: 10_000 });
        if (r.code === 0) break;
      }
      if (Date.now() > deadline) {
        await d.stop();
        throw new Error(`dockerd not ready after ${opts.timeoutMs ?? 60_000} ms:\n${clip(buf)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return d;
  }

  output(): string {
    return this.log();
  }

  /** docker CLI against this daemon */
  docker(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('docker', ['-H', `unix://${this.socket}`, ...args], { ...opts, env: { ...this.home.env, ...opts.env } });
  }

  /**
   * `docker login` (credentials land in the isolated DOCKER_CONFIG; the daemon talks plain HTTP
   * to 127.0.0.0/8 as an insecure registry, and does the token flow itself on push and pull).
   */
  login(host: string, creds: Credentials): Promise<RunResult> {
    return this.docker(['login', host, '--username', creds.username, '--password-stdin'], { input: creds.password });
  }

  async imageId(ref: string): Promise<string> {
    return (await this.docker(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();
  }

  async inspect(ref: string): Promise<any> {
    return JSON.parse((await this.docker(['image', 'inspect', ref])).stdout)[0];
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    process.removeListener('exit', this.exitHook);
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    }
    // dockerd's own containerd normally exits with it; make sure nothing is left holding the dirs
    const pidFile = path.join(this.home.dir, 'exec', 'containerd', 'containerd.pid');
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (pid > 0) {
        try {
          const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          if (cmdline.includes(this.home.dir)) process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    // dockerd bind-mounts its data root onto itself; removeTree unmounts it
    await this.home.cleanup();
  }
}

async function writeDaemonJson(dir: string): Promise<string> {
  const f = path.join(dir, 'daemon.json');
  // keep the daemon from reaching out anywhere: no registry mirrors, no metrics, no experimental
  await writeFile(f, JSON.stringify({ 'registry-mirrors': [], 'max-concurrent-uploads': 3, 'max-concurrent-downloads': 3 }));
  return f;
}

// ---------------------------------------------------------------------------------------------
// misc

/** Is this command installed? (tests skip a client that is missing rather than fail obscurely) */
export function haveCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${quote(cmd)}`], { stdio: 'ignore' }).status === 0;
}
