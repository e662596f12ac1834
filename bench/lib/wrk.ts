// wrk runner: a Lua script sets the method and Accept header, and its done() hook prints the
// summary as one JSON line (no per-request Lua callback, so wrk stays at full speed).
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';

export interface WrkResult {
  requests: number;
  durationS: number;
  rps: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
}

export async function writeWrkScript(file: string, headers: Record<string, string>, method = 'GET'): Promise<void> {
  const lua = [
    `wrk.method = ${JSON.stringify(method)}`,
    ...Object.entries(headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format(\'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"mean":%f,"p50":%d,"p90":%d,"p99":%d,"max":%d}\\n\',',
    '    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,',
    '    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))',
    'end',
    '',
  ].join('\n');
  await writeFile(file, lua);
}

export function runWrk(
  url: string,
  script: string,
  opts: { threads: number; connections: number; durationS: number },
): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const args = [
      '-t',
      String(opts.threads),
      '-c',
      String(opts.connections),
      '-d',
      `${opts.durationS}s`,
      '--timeout',
      '5s',
      '-s',
      script,
      url,
    ];
    const p = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => {
      const m = /^WRKJSON (.*)$/m.exec(out);
      if (code !== 0 || !m) return reject(new Error(`wrk exited ${code}:\n${out}`));
      const j = JSON.parse(m[1]);
      const durationS = j.duration_us / 1e6;
      resolve({
        requests: j.requests,
        durationS,
        rps: j.requests / durationS,
        bytes: j.bytes,
        errors: { connect: j.connect, read: j.read, write: j.write, status: j.status, timeout: j.timeout },
        latencyMs: { mean: j.mean / 1e3, p50: j.p50 / 1e3, p90: j.p90 / 1e3, p99: j.p99 / 1e3, max: j.max / 1e3 },
      });
    });
  });
}
