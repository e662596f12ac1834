#!/usr/bin/env node
// The `wharf` command. It runs the bundle in dist/ (built by `npm ci` / `npm run build`, see
// scripts/build.js) when that bundle was built from the sources as they are now; otherwise — a
// checkout without a build, or any source edited since — it runs the TypeScript sources directly
// through tsx, so there is never a stale build to remember. WHARF_FROM_SOURCES=1 forces the sources;
// WHARF_PRINT_ENTRY=1 says on stderr which one runs.
import { readFileSync } from 'node:fs';
import { sourceStamp } from '../scripts/source-stamp.js';

function bundleIsCurrent() {
  if (process.env.WHARF_FROM_SOURCES === '1') return false;
  try {
    const stamp = JSON.parse(readFileSync(new URL('../dist/build-stamp.json', import.meta.url), 'utf8'));
    return stamp.hash === sourceStamp().hash;
  } catch {
    return false;
  }
}

const bundle = bundleIsCurrent();
if (process.env.WHARF_PRINT_ENTRY === '1') process.stderr.write(`wharf: running ${bundle ? 'the bundle in dist/' : 'the sources through tsx'}\n`);
if (bundle) {
  await import('../dist/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
