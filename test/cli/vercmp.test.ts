// `wharf vercmp`: the real CLI (node bin/wharf.js) in single mode, in stdin mode over whole vector
// files (every line must agree with the reference tool's verdict), and its errors.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/servers.ts';

function wharf(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['bin/wharf.js', ...args], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
    proc.stdin.end(input ?? '');
  });
}

function vectors(name: string): Array<[string, string, string]> {
  return readFileSync(path.join(repoRoot, 'test/fixtures/version-vectors', `${name}.tsv`), 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split('\t') as [string, string, string]);
}

describe('wharf vercmp', () => {
  it('single mode prints <, = or > and exits 0', async () => {
    for (const [scheme, a, b, want] of [
      ['dpkg', '1.0~rc1', '1.0', '<'],
      ['apk', '1.2.3-r1', '1.2.3-r0', '>'],
      ['rpm', '0:1.0-1', '1.0-1', '='],
      ['semver', '1.0.0-rc.1', '1.0.0', '<'],
      ['pep440', '1.0rc1', '1.0c1', '='],
      ['go', '1.2.3', 'v1.2.3+incompatible', '='],
      ['maven', '1.0-SNAPSHOT', '1.0', '<'],
    ]) {
      const r = await wharf(['vercmp', scheme!, a!, b!]);
      expect(r.code, `${scheme} ${r.stderr}`).toBe(0);
      expect(r.stdout).toBe(`${want}\n`);
    }
  }, 120_000);

  for (const scheme of ['apk', 'go', 'maven', 'dpkg']) {
    it(`stdin mode agrees with every line of ${scheme}.tsv`, async () => {
      const v = vectors(scheme);
      const r = await wharf(['vercmp', scheme, '-', '-'], v.map(([a, , b]) => `${a}\t${b}`).join('\n') + '\n');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const got = r.stdout.split('\n').slice(0, -1);
      expect(got.length).toBe(v.length);
      const bad = v.flatMap(([a, op, b], i) => (got[i] === op ? [] : [`${a} ${op} ${b}: got ${got[i]}`]));
      expect(bad).toEqual([]);
    }, 60_000);
  }

  it('stdin mode: a bad pair prints "!" in its place, the message with its line on stderr, exit 1', async () => {
    const r = await wharf(['vercmp', 'go', '-', '-'], '1.0.0\t2.0.0\n# comment\nnot-a-version\t1.0.0\n\n2.0.0\t1.0.0\nonly-one-field\n');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('<\n!\n>\n!\n');
    expect(r.stderr).toMatch(/line 3: go: invalid version "not-a-version"/);
    expect(r.stderr).toMatch(/line 6: expected two tab-separated versions/);
  }, 60_000);

  it('an unknown scheme exits 2 naming the known ones', async () => {
    const r = await wharf(['vercmp', 'cargo', '1', '2']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/unknown version scheme "cargo".*apk.*maven/);
  }, 60_000);

  it('a version the scheme cannot parse exits 1 with the message', async () => {
    const r = await wharf(['vercmp', 'apk', '1.0', '1.0-1']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/apk: invalid version "1.0-1"/);
  }, 60_000);
});
