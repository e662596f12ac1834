// For fault tests: a private PostgreSQL (initdb + pg_ctl, a few seconds) on a free 127.0.0.1 port
// that a test may stop, crash and restart — never the machine's shared server.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers/servers.ts';

export interface PrivatePg {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** stop with -m immediate: a crash (no checkpoint), as a killed server */
  crash(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

function binDir(): string {
  const base = '/usr/lib/postgresql';
  const v = existsSync(base) ? readdirSync(base).sort((a, b) => Number(b) - Number(a))[0] : undefined;
  if (!v) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql');
  return path.join(base, v, 'bin');
}

export async function startPrivatePg(): Promise<PrivatePg> {
  const bin = binDir();
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-pg-'));
  const data = path.join(dir, 'data');
  if (root) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()));
  const as = (cmd: string, args: string[]) => (root ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8' }) : spawnSync(cmd, args, { encoding: 'utf8' }));
  const init = as(path.join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  if (init.status !== 0) throw new Error(`initdb: ${init.stderr}`);
  const port = await freePort();
  const ctl = (args: string[]) => {
    const r = as(path.join(bin, 'pg_ctl'), ['-D', data, '-w', '-t', '30', ...args]);
    if (r.status !== 0) throw new Error(`pg_ctl ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  };
  const start = async () => ctl(['-l', path.join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop: async () => ctl(['-m', 'fast', 'stop']),
    crash: async () => ctl(['-m', 'immediate', 'stop']),
    destroy: async () => {
      try {
        ctl(['-m', 'immediate', 'stop']);
      } catch {
        /* not running */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
