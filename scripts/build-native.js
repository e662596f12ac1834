#!/usr/bin/env node
// `npm install` / `npm ci` hook: build the optional native addon (build/Release/wharf_native.node,
// the sendfile(2) zero-copy path for blob pulls) with node-gyp.
//
// It never fails the install: without the addon the registry serves blobs through streams.
// On failure it prints one warning line (set WHARF_NATIVE_VERBOSE=1 for node-gyp's output)
// and exits 0. WHARF_SKIP_NATIVE=1 skips the build.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const verbose = process.env.WHARF_NATIVE_VERBOSE === '1';

function warn(msg) {
  console.warn(`wharf: native addon not built (${msg}); blob pulls will use the stream path`);
  process.exit(0);
}

if (process.env.WHARF_SKIP_NATIVE === '1') process.exit(0);
if (process.platform !== 'linux') warn(`sendfile addon is Linux-only, platform is ${process.platform}`);

// node-gyp: the one npm runs scripts with, else the one bundled with npm, else a local install.
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) {
    // .../npm/bin/npm-cli.js → .../npm/node_modules/node-gyp/bin/node-gyp.js
    candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  // npm installed beside this node: <prefix>/lib/node_modules/npm
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    candidates.push(createRequire(path.join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not installed locally */
  }
  return candidates.find((c) => existsSync(c));
}

const gyp = findNodeGyp();
if (!gyp) warn('node-gyp not found');

const args = [gyp, 'rebuild', '--release', '-j', 'max'];
// Use the headers shipped with this node (e.g. /usr/include/node) instead of downloading them:
// the download needs the internet, which builds here may not have.
if (!process.env.npm_config_nodedir) {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
}

const r = spawnSync(process.execPath, args, {
  cwd: root,
  stdio: verbose ? 'inherit' : ['ignore', 'pipe', 'pipe'],
  encoding: 'utf8',
  timeout: 5 * 60_000,
});
if (r.error) warn(r.error.message);
if (r.status !== 0) {
  const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  const firstError = out.split('\n').find((l) => /error|ERR!/i.test(l) && !/gyp info/.test(l)) ?? `exit ${r.status}`;
  warn(`node-gyp failed: ${firstError.trim().slice(0, 200)}`);
}
if (!existsSync(path.join(root, 'build', 'Release', 'wharf_native.node'))) warn('build produced no wharf_native.node');
