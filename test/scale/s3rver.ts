// s3rver (an S3 on a local directory) in a child process, for the S3 driver's tests.
//
// A child process because s3rver's ListObjectsV2 continuation tokens use DES, which OpenSSL 3
// only has in its legacy provider (node --openssl-legacy-provider): without it every listing
// of more than 1000 keys fails with a 500.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface RunningS3rver {
  endpoint: string;
  port: number;
  dir: string;
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

const SCRIPT = `
const S3rver = require('s3rver');
const [dir, buckets] = process.argv.slice(1);
const s = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true, configureBuckets: buckets.split(',').filter(Boolean).map((name) => ({ name })) });
s.run().then(({ port }) => process.stdout.write('READY ' + port + '\\n'), (e) => { console.error(e); process.exit(1); });
process.on('SIGTERM', () => s.close().finally(() => process.exit(0)));
`;

export async function startS3rver(buckets: string[]): Promise<RunningS3rver> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-s3rver-'));
  const proc: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', '-e', SCRIPT, dir, buckets.join(',')], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`s3rver did not start: ${out}`)), 20_000);
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = out.match(/READY (\d+)/);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    proc.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`s3rver exited ${code}: ${out}`));
    });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    dir,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
