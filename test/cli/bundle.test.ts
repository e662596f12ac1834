// The prebuilt bundle (scripts/build.js → dist/, run by bin/wharf.js while it matches the sources):
// it gives the same answers as the sources run through tsx, it is only used while current, and in
// CI (WHARF_REQUIRE_BUNDLE=1, after `npm ci`) it is current — so every test that spawns
// bin/wharf.js (all server tests) runs what users run.
import { cp, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/servers.ts';
import { ImageBuilder } from '../helpers/image-builder.ts';
import { run } from '../helpers/clients.ts';
// @ts-expect-error plain JavaScript module without types
import { sourceStamp } from '../../scripts/source-stamp.js';

const node = (args: string[], opts: { input?: string; env?: Record<string, string> } = {}) =>
  run(process.execPath, args, { cwd: repoRoot, env: opts.env, input: opts.input ?? '', allowFail: true });

describe('the prebuilt bundle', () => {
  // a bundle of our own, inside node_modules so that its bare imports resolve like dist/'s
  let out: string;
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(path.join(repoRoot, 'node_modules/.cache-wharf-bundle-test-'));
    out = path.join(work, 'dist');
    const r = await node(['scripts/build.js', '--outdir', out, '--verbose']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/bundled \d+ source files/);
  }, 120_000);
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('writes a stamp of the sources it was built from', async () => {
    const stamp = JSON.parse(await readFile(path.join(out, 'build-stamp.json'), 'utf8'));
    const now = sourceStamp();
    // (a source edited while this suite runs would differ; nobody edits during CI)
    expect(stamp).toMatchObject({ files: now.files, hash: now.hash });
    expect(now.files).toBeGreaterThan(100);
  });

  it('the stamp changes with any edit, addition or removal of a source file, and not with tests', async () => {
    const src = path.join(work, 'src-copy');
    await cp(path.join(repoRoot, 'src/logger.ts'), path.join(src, 'logger.ts'));
    await cp(path.join(repoRoot, 'src/logger.ts'), path.join(src, 'sub/other.ts'));
    const t = new Date('2026-01-01T00:00:00Z');
    await utimes(path.join(src, 'logger.ts'), t, t);
    const a = sourceStamp(src);
    expect(sourceStamp(src)).toEqual(a);
    await writeFile(path.join(src, 'x.test.ts'), 'export {};\n');
    expect(sourceStamp(src)).toEqual(a);
    await writeFile(path.join(src, 'logger.ts'), (await readFile(path.join(src, 'logger.ts'), 'utf8')) + '\n');
    await utimes(path.join(src, 'logger.ts'), t, t); // same mtime, other size
    const b = sourceStamp(src);
    expect(b.hash).not.toBe(a.hash);
    const t2 = new Date('2026-01-01T00:00:01Z');
    await utimes(path.join(src, 'logger.ts'), t2, t2); // same size, other mtime
    expect(sourceStamp(src).hash).not.toBe(b.hash);
    await writeFile(path.join(src, 'new.ts'), '');
    expect(sourceStamp(src).files).toBe(a.files + 1);
  });

  it('answers as the sources do: wharf vercmp over the dpkg and rpm vectors', async () => {
    for (const scheme of ['dpkg', 'rpm']) {
      const pairs = (await readFile(path.join(repoRoot, 'test/fixtures/version-vectors', `${scheme}.tsv`), 'utf8'))
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('#'))
        .map((l) => l.split('\t'));
      const input = pairs.map(([a, , b]) => `${a}\t${b}\n`).join('');
      const bundled = await node([path.join(out, 'main.js'), 'vercmp', scheme, '-', '-'], { input });
      const sources = await node(['bin/wharf.js', 'vercmp', scheme, '-', '-'], { input, env: { WHARF_FROM_SOURCES: '1' } });
      expect(bundled.code, bundled.stderr).toBe(0);
      expect(bundled.stdout).toBe(sources.stdout);
      expect(bundled.stdout.trim().split('\n')).toEqual(pairs.map(([, op]) => op));
    }
  }, 60_000);

  it('answers as the sources do: wharf scan of an image (Alpine packages, an npm package, a secret)', async () => {
    const layout = path.join(work, 'layout');
    const b = new ImageBuilder(layout);
    const img = b.image({
      layers: [
        {
          files: {
            'etc/os-release': 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.11.6\n',
            'lib/apk/db/installed': await readFile(path.join(repoRoot, 'test/fixtures/vulndata/alpine/installed'), 'utf8'),
            'app/node_modules/lodash/package.json': JSON.stringify({ name: 'lodash', version: '4.17.20' }),
            'app/.env': `AWS_SECRET_ACCESS_KEY=${'q'.repeat(8)}${'Z'.repeat(32)}\n`,
          },
          createdBy: 'ADD rootfs /',
        },
      ],
    });
    b.tag('v1', img.descriptor);
    await b.write();
    const scan = (entry: string, env: Record<string, string> = {}) =>
      node([entry, 'scan', '-q', '--format', 'json', '--cache-dir', path.join(work, `cache-${entry === 'bin/wharf.js' ? 'src' : 'dist'}`), `${layout}:v1`], {
        env: { WHARF_DATA_DIR: path.join(work, 'data'), WHARF_LOG_LEVEL: 'warn', ...env },
      });
    const bundled = await scan(path.join(out, 'main.js'));
    const sources = await scan('bin/wharf.js', { WHARF_FROM_SOURCES: '1' });
    expect(bundled.code, bundled.stderr).toBe(0);
    expect(sources.code, sources.stderr).toBe(0);
    const strip = (s: string) => {
      const r = JSON.parse(s);
      delete r.generatedAt;
      delete r.durationMs;
      return r;
    };
    const a = strip(bundled.stdout);
    expect(a).toEqual(strip(sources.stdout));
    expect(a.packages.length).toBeGreaterThan(10);
    expect(JSON.stringify(a)).toContain('lodash');
  }, 120_000);

  it('is current after npm ci, so bin/wharf.js runs it (required in CI)', async () => {
    const check = await node(['scripts/build.js', '--check']);
    if (process.env.WHARF_REQUIRE_BUNDLE !== '1' && check.code !== 0) return; // a development checkout with edits: the sources run
    expect(check.code, 'dist/ is missing or older than the sources: npm run build').toBe(0);
    const v = await node(['bin/wharf.js', 'vercmp', 'dpkg', '1.0~rc1', '1.0'], { env: { WHARF_PRINT_ENTRY: '1' } });
    expect(v.stdout.trim()).toBe('<');
    expect(v.stderr).toContain('wharf: running the bundle in dist/');
    const s = await node(['bin/wharf.js', 'vercmp', 'dpkg', '1.0~rc1', '1.0'], { env: { WHARF_PRINT_ENTRY: '1', WHARF_FROM_SOURCES: '1' } });
    expect(s.stdout.trim()).toBe('<');
    expect(s.stderr).toContain('wharf: running the sources through tsx');
  }, 60_000);
});
