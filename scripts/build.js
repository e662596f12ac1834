#!/usr/bin/env node
// `npm run build` (also run by `npm install` / `npm ci`): bundle the TypeScript sources into
// dist/ with esbuild, so that `wharf` starts without transpiling TypeScript through tsx's module
// hooks (which run on a separate thread in Node 20 and cost ~0.6 s per start; a cached rescan with
// `wharf scan` went from 1.1 s to 0.4 s).
//
// bin/wharf.js runs dist/ only while it matches the sources: dist/build-stamp.json holds a hash
// of every source file's path, size and modification time, computed again (~7 ms) at each start;
// after any edit it runs the sources through tsx, as before. Nothing to remember in development.
//
// Entry points: src/cli/main.ts (the command line and the server) and src/scanner/scan-worker.ts
// (the scan worker thread). Dependencies stay in node_modules, except Kysely (pure ESM, ~400
// files: bundling it saves ~180 ms per start). Code that needs to know it runs bundled tests
// `typeof __WHARF_BUNDLE__ !== 'undefined'` (defined here).
//
// Like the native addon build, it never fails the install: on error it prints one line and the
// command line keeps running from the sources. Options: --outdir DIR (default dist), --check
// (exit 0 when dist/ is up to date, 1 otherwise; builds nothing).
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceStamp } from './source-stamp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const BUNDLED_DEPS = new Set(['kysely']);

async function main() {
  const args = process.argv.slice(2);
  const outIdx = args.indexOf('--outdir');
  const outdir = path.resolve(root, outIdx >= 0 ? args[outIdx + 1] : 'dist');
  if (args.includes('--check')) {
    try {
      const stamp = JSON.parse(readFileSync(path.join(outdir, 'build-stamp.json'), 'utf8'));
      const now = sourceStamp();
      process.exit(stamp.hash === now.hash ? 0 : 1);
    } catch {
      process.exit(1);
    }
  }
  if (process.env.WHARF_SKIP_BUILD === '1') return;
  const started = Date.now();
  const { build } = await import('esbuild');
  const before = sourceStamp();
  // build next to the target and swap, so a running `wharf` never sees half a bundle
  const tmp = `${outdir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const external = Object.keys(pkg.dependencies ?? {})
    .filter((d) => !BUNDLED_DEPS.has(d))
    .flatMap((d) => [d, `${d}/*`]);
  await build({
    absWorkingDir: root,
    entryPoints: { main: 'src/cli/main.ts', 'scan-worker': 'src/scanner/scan-worker.ts' },
    outdir: tmp,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external,
    chunkNames: '[name]-[hash]',
    sourcemap: 'linked',
    define: { __WHARF_BUNDLE__: 'true' },
    logLevel: 'warning',
  });
  const after = sourceStamp();
  // a source edited during the build: leave no stamp, so the sources run
  if (after.hash === before.hash) writeFileSync(path.join(tmp, 'build-stamp.json'), `${JSON.stringify({ ...after, builtAt: new Date().toISOString() })}\n`);
  const old = `${outdir}.old-${process.pid}`;
  try {
    renameSync(outdir, old);
  } catch {
    /* no previous build */
  }
  renameSync(tmp, outdir);
  rmSync(old, { recursive: true, force: true });
  if (args.includes('--verbose') || process.env.npm_lifecycle_event === 'build') console.log(`wharf: bundled ${after.files} source files into ${path.relative(root, outdir) || '.'} in ${Date.now() - started} ms`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.warn(`wharf: bundle not built (${e?.message ?? e}); the command line runs the TypeScript sources through tsx`);
    process.exit(0);
  });
}
