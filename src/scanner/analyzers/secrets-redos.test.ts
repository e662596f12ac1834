// Regular-expression denial of service in the secrets analyzer: it runs synchronously in the
// registry server over untrusted image files of up to 1 MiB, so every rule must stay (close to)
// linear in the file size. Each case below is an adversarial 1 MiB file for one rule that used to
// be quadratic (hours of CPU at 1 MiB); each must be scanned in well under a second, and a real
// secret appended to it must still be found.
//
// The scan runs in a child process with a hard time limit: a regressed rule blocks the event loop
// for hours, which no in-process test timeout can interrupt. A case still running at the limit
// fails as "timed out"; the remaining cases are then run in a fresh child.
//
// Environment (to check another implementation, e.g. an older copy of secrets.ts):
//   SECRETS_REDOS_MODULE   module URL exporting findSecrets (default: ./secrets.ts)
//   SECRETS_REDOS_SIZE     bytes per adversarial file (default: 1 MiB)
//   SECRETS_REDOS_KILL_MS  hard limit per child process (default: 20 s)
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MODULE = process.env.SECRETS_REDOS_MODULE ?? new URL('./secrets.ts', import.meta.url).href;
const SIZE = Number(process.env.SECRETS_REDOS_SIZE ?? 1024 * 1024);
const KILL_MS = Number(process.env.SECRETS_REDOS_KILL_MS ?? 20_000);
/** generous for a loaded CI machine: the fixed rules take a few tens of milliseconds */
const LIMIT_MS = 1000;
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

// deterministic "random" secrets (xorshift32), so a case never flakes on an unlucky token
let seed = 0x2545f491;
function next(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
}
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function rand(n: number, alphabet = ALNUM): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(next() * alphabet.length)];
  return s;
}
function secret(n = 20): string {
  for (;;) {
    const s = rand(n);
    if (/[a-z]/.test(s) && /[A-Z]/.test(s) && /[0-9]/.test(s) && !/(.)\1{3,}/.test(s)) return s;
  }
}
/** `unit()` repeated to about SIZE characters */
function fill(unit: () => string): string {
  const parts: string[] = [];
  let n = 0;
  while (n < SIZE) {
    const u = unit();
    parts.push(u);
    n += u.length;
  }
  return parts.join('');
}
const repeatTo = (unit: string) => unit.repeat(Math.ceil(SIZE / unit.length));
const spaces = () => ' '.repeat(SIZE);

interface Case {
  name: string;
  path: string;
  text: () => string;
  /** a check that must still be reported (a real secret is part of each input) */
  finds: string;
}

const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' }) as string;

const CASES: Case[] = [
  { name: '.env: value, a file-long run of blanks, one more character', path: 'app/.env', text: () => `API_TOKEN=x${spaces()}y\nDB_PASSWORD=${secret()}\n`, finds: 'secret.dotenv' },
  { name: '.env: 4 KiB lines of blanks', path: 'app/.env', text: () => `DB_PASSWORD=${secret()}\n` + fill(() => `API_TOKEN=x${' '.repeat(4000)}y\n`), finds: 'secret.dotenv' },
  { name: '.env: 4 KiB values of "<"', path: 'app/.env', text: () => `DB_PASSWORD=${secret()}\n` + fill(() => `API_TOKEN=${'<'.repeat(4000)}\n`), finds: 'secret.dotenv' },
  { name: '.env: 4 KiB values of blanks before a "#"', path: 'app/.env', text: () => `DB_PASSWORD=${secret()}\n` + fill(() => `API_TOKEN=x${' \t'.repeat(2000)}#\n`), finds: 'secret.dotenv' },
  { name: '.env: 30k secret assignments (covered() over all hits)', path: 'app/.env', text: () => fill(() => `S${rand(6)}_SECRET=${secret()}\n`), finds: 'secret.dotenv' },
  { name: '.npmrc: _authToken value, a file-long run of blanks', path: 'root/.npmrc', text: () => `//r.example.com/:_authToken=x${spaces()}y\n//r.example.com/:_password=${secret()}\n`, finds: 'secret.npmrc' },
  { name: '.yarnrc.yml: npmAuthToken value, a file-long run of blanks', path: 'app/.yarnrc.yml', text: () => `npmAuthToken: x${spaces()}y\nnpmAuthIdent: ${secret()}\n`, finds: 'secret.npmrc' },
  { name: '.pypirc: password value, a file-long run of blanks', path: 'root/.pypirc', text: () => `[a]\npassword = x${spaces()}y\n[b]\npassword = ${secret()}\n`, finds: 'secret.pypirc' },
  { name: '.netrc: machines without a password', path: 'root/.netrc', text: () => `machine h login u password ${secret()}\n` + repeatTo('machine a '), finds: 'secret.netrc' },
  {
    name: 'docker config.json: 20k auth entries',
    path: 'root/.docker/config.json',
    text: () => {
      const auths: Record<string, { auth: string }> = {};
      let n = 0;
      for (let i = 0; n < SIZE; i++, n += 40) auths[`r${i}.example.com`] = { auth: secret(16) };
      return JSON.stringify({ auths });
    },
    finds: 'secret.registry-auth',
  },
  { name: 'config: ".a.a.a…" (lazy name prefix)', path: 'etc/app/app.conf', text: () => `"${repeatTo('.a')}\npassword: ${secret()}\n`, finds: 'secret.generic' },
  { name: 'config: "a+a+a…" (URL scheme)', path: 'etc/app/app.conf', text: () => `${repeatTo('a+')}\npassword: ${secret()}\n`, finds: 'secret.generic' },
  { name: 'config: "pwd=pwd=…" (a keyword everywhere)', path: 'etc/app/app.conf', text: () => `password: ${secret()}\n${repeatTo('pwd=')}\n`, finds: 'secret.generic' },
  { name: 'config: 30k secret assignments (covered() over all hits)', path: 'etc/app/app.conf', text: () => fill(() => `k${rand(6)}_token: ${secret()}\n`), finds: 'secret.generic' },
  { name: 'AWS: one line of 50k key ids', path: 'app/data.txt', text: () => fill(() => `AKIA${rand(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')} `), finds: 'secret.aws-access-key' },
  { name: 'PEM: BEGIN lines without END', path: 'app/keys.txt', text: () => repeatTo('-----BEGIN RSA PRIVATE KEY-----\n') + ecKey, finds: 'secret.private-key' },
  { name: 'PEM: BEGIN lines, an END 60 KiB on', path: 'app/keys.txt', text: () => fill(() => repeatTo('-----BEGIN RSA PRIVATE KEY-----\n').slice(0, 60_000) + '-----END RSA PRIVATE KEY-----\n') + ecKey, finds: 'secret.private-key' },
];

/** The child: scan each file once (after a warm-up call), print one JSON line per case. */
const CHILD = `
import { readFileSync } from 'node:fs';
const { findSecrets } = await import(process.env.REDOS_MODULE);
for (const { name, path, file } of JSON.parse(process.env.REDOS_CASES)) {
  const content = readFileSync(file);
  findSecrets(path, Buffer.from('warm-up\\n'));
  const t = performance.now();
  const findings = findSecrets(path, content);
  const ms = performance.now() - t;
  process.stdout.write(JSON.stringify({ name, ms, bytes: content.length, checks: findings.map((f) => f.check) }) + '\\n');
}
`;

interface Result {
  ms: number;
  bytes: number;
  checks: string[];
}
const results = new Map<string, Result | 'timeout'>();
let dir = '';

/** Run the child on some cases; resolves with its stdout and how it ended. Async, so the test worker stays responsive. */
function runChild(cases: Array<{ name: string; path: string; file: string }>): Promise<{ stdout: string; stderr: string; status: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
      cwd: ROOT,
      env: { ...process.env, REDOS_MODULE: MODULE, REDOS_CASES: JSON.stringify(cases) },
      timeout: KILL_MS,
      killSignal: 'SIGKILL',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ stdout, stderr, status, signal }));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'secrets-redos-'));
  const files = CASES.map((c, i) => {
    const file = join(dir, `case-${i}`);
    writeFileSync(file, Buffer.from(c.text(), 'latin1'));
    return { name: c.name, path: c.path, file };
  });
  let pending = files;
  while (pending.length > 0) {
    const r = await runChild(pending);
    for (const line of r.stdout.split('\n')) {
      if (!line) continue;
      const { name, ...res } = JSON.parse(line) as Result & { name: string };
      results.set(name, res);
    }
    const rest = pending.filter((f) => !results.has(f.name));
    if (rest.length === 0) break;
    if (r.status === 0) throw new Error(`child exited without results for ${rest.map((f) => f.name).join(', ')}`);
    if (r.signal === null) throw new Error(`child failed (status ${r.status}): ${r.stderr}`);
    // killed at the time limit: the first case without a result is the one that hung
    results.set(rest[0]!.name, 'timeout');
    pending = rest.slice(1);
  }
}, (CASES.length + 1) * (KILL_MS + 5000));

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  const rows = CASES.map((c) => {
    const r = results.get(c.name);
    return `  ${c.name.padEnd(58)} ${r === undefined ? '-' : r === 'timeout' ? `> ${KILL_MS} ms (killed)` : `${r.ms.toFixed(1)} ms (${(r.bytes / 1024).toFixed(0)} KiB)`}`;
  });
  console.log(`findSecrets on adversarial inputs (${MODULE}):\n${rows.join('\n')}`);
});

describe(`secrets analyzer: adversarial ${SIZE >= 1 << 20 ? `${SIZE / (1 << 20)} MiB` : `${SIZE} B`} inputs stay fast`, () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const r = results.get(c.name);
    if (r === 'timeout') throw new Error(`timed out: still scanning after ${KILL_MS} ms`);
    expect(r, 'no result').toBeDefined();
    expect(r!.bytes).toBeGreaterThanOrEqual(SIZE);
    expect(r!.ms).toBeLessThan(LIMIT_MS);
    expect(r!.checks).toContain(c.finds);
  });
});
