// The registries under test, each a child process on its own loopback port and temp data dir:
// Wharf and the Go reference via test/helpers/servers.ts, plus the calibration null registry.
// Wharf refuses anonymous pushes and keeps repositories in projects: its client sends the
// admin's Basic credentials on every request, and the project `bench` is created at start.
import { spawn } from 'node:child_process';
import path from 'node:path';
import type http from 'node:http';
import { adminAuth, createProject, freePort, repoRoot, startReference, startWharf } from '../../test/helpers/servers.ts';
import { makeAgent } from './http.ts';
import { MemWatch } from './procstat.ts';
import { RegistryClient } from './registry.ts';

export type TargetName = 'reference' | 'wharf' | 'null';
export const TARGET_LABEL: Record<TargetName, string> = { reference: 'go-ref', wharf: 'wharf', null: 'null-srv' };

export interface Server {
  url: string;
  /** Authorization header value for every request (Wharf only) */
  auth?: string;
  pid: number;
  dataDir?: string;
  stop(opts?: { keepData?: boolean }): Promise<void>;
  output(): string;
  exited(): boolean;
}

export interface Target {
  name: TargetName;
  label: string;
  server: Server;
  agent: http.Agent;
  client: RegistryClient;
  mem: MemWatch;
  /** RSS right after startup (kB) */
  idleKb: number;
  /** process exited unexpectedly */
  dead(): boolean;
}

async function startNull(): Promise<Server> {
  const port = await freePort();
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'bench/null-registry.ts'), String(port)], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`null registry exited (${proc.exitCode}): ${out}`);
    try {
      const r = await fetch(`${url}/v2/`);
      await r.arrayBuffer();
      if (r.status === 200) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`null registry not ready: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    pid: proc.pid!,
    output: () => out,
    exited: () => proc.exitCode !== null || proc.signalCode !== null,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await done;
    },
  };
}

export async function startTarget(name: TargetName): Promise<Target> {
  let server: Server;
  if (name === 'null') {
    server = await startNull();
  } else {
    const r = name === 'wharf' ? await startWharf() : await startReference();
    try {
      // every repository the benchmark uses is bench/…
      await createProject(r, 'bench');
    } catch (e) {
      await r.stop();
      throw e;
    }
    server = {
      url: r.url,
      auth: r.kind === 'wharf' ? adminAuth(r) : undefined,
      pid: r.proc.pid!,
      dataDir: r.dataDir,
      stop: (o) => r.stop(o),
      output: () => r.output(),
      exited: () => r.proc.exitCode !== null || r.proc.signalCode !== null,
    };
  }
  const agent = makeAgent();
  const mem = new MemWatch(server.pid);
  mem.start();
  return {
    name,
    label: TARGET_LABEL[name],
    server,
    agent,
    client: new RegistryClient(server.url, agent, server.auth),
    mem,
    idleKb: mem.rssKb(),
    dead: () => server.exited(),
  };
}

export async function stopTarget(t: Target, keepData = false): Promise<void> {
  t.mem.stop();
  t.client.close();
  t.agent.destroy();
  await t.server.stop({ keepData });
}
