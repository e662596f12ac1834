// Blob-pull throughput of the two ways Wharf can send a file body, side by side:
//   stream    fs.createReadStream (1 MiB chunks, as fs-driver.reader) → pipeline → ServerResponse
//   sendfile  sendFileToResponse (src/storage/sendfile.ts: sendfile(2), no user-space copy)
//   copy      sendFileToResponse with mode 'copy' (native pread + send loop, one copy)
//   go        the Go reference registry (docker-registry, http.ServeContent → sendfile(2)),
//             the same bytes pushed as a blob and pulled with GET /v2/<name>/blobs/<digest>
// Each is downloaded with `curl -o /dev/null` over loopback, interleaved round by round; the
// table shows the best and the median MB/s (MB = 10^6 bytes). The file is in the page cache
// (warm-up pull first), so this measures the serving path, not the disk.
//
//   node --import tsx bench/zero-copy.ts [--size 1G] [--reps 3] [--no-go]
//
// The machine is small (2 cores) and often shared: repeat and read the best numbers.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { sendFileToResponse, zeroCopyAvailable } from '../src/storage/sendfile.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}
function parseSize(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s);
  if (!m) throw new Error(`bad size ${s}`);
  return Number(m[1]) * { '': 1, K: 1 << 10, M: 1 << 20, G: 1 << 30 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G'];
}

const size = parseSize(arg('size') ?? '1G');
const reps = Number(arg('reps') ?? 3);
const withGo = !process.argv.includes('--no-go') && spawnSync('which', ['docker-registry']).status === 0;

async function makeFile(dir: string): Promise<{ file: string; digest: string }> {
  const file = path.join(dir, 'blob');
  const fh = await open(file, 'w');
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(8 << 20);
  for (let done = 0; done < size; ) {
    const n = Math.min(chunk.length, size - done);
    randomFillSync(chunk, 0, n);
    hash.update(chunk.subarray(0, n));
    await fh.write(chunk, 0, n);
    done += n;
  }
  await fh.close();
  return { file, digest: `sha256:${hash.digest('hex')}` };
}

function startServer(file: string): Promise<http.Server> {
  const server = http.createServer(async (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
    try {
      if (req.url === '/sendfile' || req.url === '/copy') {
        if (await sendFileToResponse(res, file, 0, size, { mode: req.url === '/copy' ? 'copy' : 'sendfile' })) return;
        throw new Error('sendFileToResponse declined (addon not built or WHARF_ZERO_COPY=0)');
      }
      await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), res);
    } catch (e) {
      console.error(`${req.url}: ${(e as Error).message}`);
      res.destroy();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** One `curl -o /dev/null` download; MB/s from curl's own byte count and total time. */
function curl(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn('curl', ['-sS', '-o', '/dev/null', '-w', '%{size_download} %{time_total} %{http_code}', url], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => {
      const [bytes, secs, status] = out.trim().split(' ');
      if (code !== 0 || status !== '200' || Number(bytes) !== size) return reject(new Error(`curl ${url}: exit ${code}, HTTP ${status}, ${bytes} bytes`));
      resolve(size / Number(secs) / 1e6);
    });
  });
}

async function pushToGo(baseUrl: string, file: string, digest: string): Promise<string> {
  const repo = 'bench/zerocopy';
  const post = await fetch(`${baseUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (post.status !== 202) throw new Error(`go: POST upload → ${post.status}`);
  const loc = new URL(post.headers.get('location')!, baseUrl);
  loc.searchParams.set('digest', digest);
  // curl streams the file from disk (fetch would want the whole GiB in memory or a duplex stream).
  const put = spawnSync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Content-Type: application/octet-stream', '-T', file, loc.toString()], {
    encoding: 'utf8',
  });
  if (put.stdout.trim() !== '201') throw new Error(`go: PUT blob → ${put.stdout} ${put.stderr}`);
  return `${baseUrl}/v2/${repo}/blobs/${digest}`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main() {
  if (!zeroCopyAvailable) console.warn('warning: native addon not built; the sendfile line will fail (run node scripts/build-native.js)');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-zc-'));
  const stops: Array<() => Promise<void>> = [];
  try {
    process.stderr.write(`generating ${size} random bytes... `);
    const { file, digest } = await makeFile(dir);
    process.stderr.write('done\n');
    const server = await startServer(file);
    stops.push(() => new Promise((r) => server.close(() => r())));
    const port = (server.address() as AddressInfo).port;
    // [name, url, server CPU seconds so far]
    const selfCpu = () => {
      const u = process.cpuUsage(); // this process, all threads (the server runs in it)
      return (u.user + u.system) / 1e6;
    };
    const targets: Array<[string, string, () => number]> = [
      ['stream (createReadStream+pipeline)', `http://127.0.0.1:${port}/stream`, selfCpu],
      ['sendfile (sendFileToResponse)', `http://127.0.0.1:${port}/sendfile`, selfCpu],
      ['copy (sendFileToResponse mode copy)', `http://127.0.0.1:${port}/copy`, selfCpu],
    ];
    if (withGo) {
      const { startReference } = await import('../test/helpers/servers.ts');
      const go = await startReference();
      stops.push(() => go.stop());
      const pid = go.proc.pid!;
      const ticks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
      const goCpu = () => {
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
        return (Number(f[11]) + Number(f[12])) / ticks; // utime + stime
      };
      targets.push(['go reference registry', await pushToGo(go.url, file, digest), goCpu]);
    }
    const results = new Map<string, number[]>(targets.map(([name]) => [name, []]));
    const cpu = new Map<string, number[]>(targets.map(([name]) => [name, []]));
    for (const [, url] of targets) await curl(url); // warm-up: page cache, JIT, connections
    for (let r = 0; r < reps; r++) {
      // Rotate the order each round so no target always goes first.
      for (let i = 0; i < targets.length; i++) {
        const [name, url, serverCpu] = targets[(i + r) % targets.length];
        const c0 = serverCpu();
        const mbs = await curl(url);
        cpu.get(name)!.push(((serverCpu() - c0) * (1 << 30)) / size);
        results.get(name)!.push(mbs);
        process.stderr.write(`  round ${r + 1}: ${name.padEnd(38)} ${mbs.toFixed(0)} MB/s\n`);
      }
    }
    const sizeLabel = size >= 1 << 30 ? `${size / (1 << 30)} GiB` : `${size / (1 << 20)} MiB`;
    console.log(`\nblob pull of ${sizeLabel} over loopback, curl -o /dev/null, ${reps} rounds (MB/s, MB = 10^6 B)`);
    console.log(`${'path'.padEnd(40)}${'best'.padStart(8)}${'median'.padStart(9)}${'srv CPU s/GiB'.padStart(15)}   all`);
    for (const [name, xs] of results) {
      const c = median(cpu.get(name)!).toFixed(2);
      console.log(`${name.padEnd(40)}${Math.max(...xs).toFixed(0).padStart(8)}${median(xs).toFixed(0).padStart(9)}${c.padStart(15)}   ${xs.map((x) => x.toFixed(0)).join(' ')}`);
    }
    console.log('srv CPU: median server process CPU time (user+sys, all threads) per GiB served');
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
