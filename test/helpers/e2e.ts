// Shared setup for the real-client e2e suites: a registry under test (Wharf, or the Go reference
// with WHARF_TEST_TARGET=reference), the offline test images, a scratch dir, direct HTTP access,
// and on a failing test a dump of the registry's output (and, with WHARF_E2E_TRACE=1, of the
// HTTP exchanges the clients made).
//
// Wharf keeps repositories in projects and refuses anonymous pushes: startE2E creates the projects
// a suite names (`projects`), direct HTTP checks carry the admin's Basic credentials, and each
// suite logs its clients in with `login()` (the clients then do the token flow themselves).
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { removeTree } from './clients.ts';
import { buildTestImages, type TestImages } from './images.ts';
import { RegistryHttp, startTraceProxy, type TraceProxy } from './registry-http.ts';
import { basicAuth, createProjects, freePort, startTarget, type Credentials, type RunningRegistry } from './servers.ts';

export interface E2E {
  reg: RunningRegistry;
  /** the registry's admin (what the clients log in as) */
  admin: Credentials;
  /** host:port the clients use (the trace proxy's when tracing) */
  host: string;
  url: string;
  http: RegistryHttp;
  images: TestImages;
  /** scratch dir removed at stop() */
  tmp: string;
  trace?: TraceProxy;
  target: 'wharf' | 'reference';
  stop(): Promise<void>;
}

/** `projects`: created (as the admin) before the suite runs; every repository must live in one. */
export async function startE2E(opts: { seed: string; projects?: string[] }): Promise<E2E> {
  // all lower case: podman/buildah name an image pulled from oci:<dir> after the dir's path
  const tmp = path.join(os.tmpdir(), `wharf-e2e-${opts.seed.toLowerCase()}-${randomBytes(5).toString('hex')}`);
  await mkdir(tmp, { mode: 0o700 });
  let reg: RunningRegistry | undefined;
  let trace: TraceProxy | undefined;
  let images: TestImages;
  try {
    images = await buildTestImages(path.join(tmp, 'images'), opts.seed);
    reg = await startTarget();
    await createProjects(reg, opts.projects ?? []);
    if (process.env.WHARF_E2E_TRACE === '1') trace = await startTraceProxy(reg.host, await freePort());
  } catch (err) {
    await reg?.stop().catch(() => undefined);
    await removeTree(tmp);
    throw err;
  }
  const host = trace?.host ?? reg.host;
  const url = trace?.url ?? reg.url;
  const running = reg;
  return {
    reg: running,
    admin: running.admin,
    host,
    url,
    http: new RegistryHttp(url, basicAuth(running.admin)),
    images,
    tmp,
    trace,
    target: process.env.WHARF_TEST_TARGET === 'reference' ? 'reference' : 'wharf',
    async stop() {
      await trace?.close();
      await running.stop();
      await removeTree(tmp);
    },
  };
}

/** After each failing test, print what the registry logged and (when tracing) the last exchanges. */
export function dumpOnFailure(get: () => E2E | undefined): void {
  afterEach((ctx) => {
    const e = get();
    if (!e || ctx.task.result?.state !== 'fail') return;
    const out = e.reg.output();
    const parts = [`==== ${e.target} registry output (last 4000 chars) for "${ctx.task.name}" ====`, out.slice(-4000) || '(none)'];
    if (e.trace) parts.push(`==== last HTTP exchanges ====`, e.trace.format(80));
    console.error(parts.join('\n'));
  });
}

/** A unique-enough name suffix so tests in one file never collide on repositories. */
export function uniq(): string {
  return Math.random().toString(36).slice(2, 8);
}

/** Log clients (Skopeo, Podman, Buildah, DockerDaemon) in to the registry under test as the admin. */
export async function login(e: E2E, ...clients: { login(host: string, creds: Credentials): Promise<unknown> }[]): Promise<void> {
  await Promise.all(clients.map((c) => c.login(e.host, e.admin)));
}

type Stoppable = { stop(): Promise<void> } | { cleanup(): Promise<void> };

/**
 * Start several things at once (registry, clients, dockerd). When one fails, the ones that did
 * start are stopped again before the error is thrown, so a failing beforeAll leaks nothing.
 */
export async function startAll<T extends Stoppable[]>(...starts: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const rs = await Promise.allSettled(starts);
  const failed = rs.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const r of rs) {
      if (r.status !== 'fulfilled') continue;
      const v = r.value as Stoppable;
      await ('stop' in v ? v.stop() : v.cleanup()).catch(() => undefined);
    }
    throw failed.reason;
  }
  return rs.map((r) => (r as PromiseFulfilledResult<unknown>).value) as T;
}
