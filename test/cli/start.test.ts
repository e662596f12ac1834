// The README's quick start: `npm start` and `npx wharf serve` serve a registry from a checkout.
// (With authentication /v2/ answers an anonymous client 401 with a Bearer challenge: that is up.)
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, repoRoot } from '../helpers/servers.ts';

async function serveWith(cmd: string, args: string[]) {
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'wharf-start-'));
  const proc = spawn(cmd, args, { cwd: repoRoot, env: { ...process.env, WHARF_ADDR: `127.0.0.1:${port}`, WHARF_DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  try {
    const deadline = Date.now() + 60_000;
    // "up": /v2/ answers 200, or (with authentication, docs/identity.md) 401 with a Bearer
    // challenge naming the token service
    let status = 0;
    let challenge = '';
    const up = () => status === 200 || (status === 401 && /^Bearer\s+realm="[^"]+\/service\/token"/i.test(challenge));
    while (Date.now() < deadline && !up()) {
      if (proc.exitCode !== null) break;
      [status, challenge] = await fetch(`http://127.0.0.1:${port}/v2/`).then(
        async (r) => {
          await r.arrayBuffer();
          return [r.status, r.headers.get('www-authenticate') ?? ''] as [number, string];
        },
        () => [0, ''] as [number, string],
      );
      if (!up()) await new Promise((r) => setTimeout(r, 100));
    }
    expect(up(), `GET /v2/ -> ${status} ${challenge}\n${out}`).toBe(true);
    expect((await stat(path.join(dataDir, 'wharf.db'))).isFile()).toBe(true);
    expect(out).toContain('wharf listening');
  } finally {
    try {
      process.kill(-proc.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
    await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
    await rm(dataDir, { recursive: true, force: true });
  }
}

describe('quick start', () => {
  it('npm start serves /v2/ with state under WHARF_DATA_DIR', () => serveWith('npm', ['start']));
  it('npx wharf serve does the same', () => serveWith('npx', ['--no-install', 'wharf', 'serve']));
  it('a bad setting stops the start with a clear message', async () => {
    const proc = spawn(process.execPath, [path.join(repoRoot, 'bin/wharf.js'), 'serve'], { env: { ...process.env, WHARF_ADDR: 'nonsense' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    const code = await new Promise((r) => proc.once('exit', r));
    expect(code).toBe(2);
    expect(err).toContain('WHARF_ADDR');
  });
});
