#!/usr/bin/env node
// `npm test`: make sure the real clients (skopeo, docker, podman, buildah, the Go reference
// registry) are installed, then run the whole vitest suite.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tools = spawnSync('bash', [path.join(root, 'scripts/ensure-tools.sh')], { stdio: 'inherit' });
if (tools.status !== 0) process.exit(tools.status ?? 1);
const r = spawnSync(process.execPath, [path.join(root, 'node_modules/vitest/vitest.mjs'), 'run', ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(r.status ?? 1);
