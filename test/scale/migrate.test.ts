// Issue 6: `wharf migrate` and the startup schema policy. Embedded SQLite migrates on start (the
// quick start needs no extra step); on PostgreSQL replicas refuse a pending schema until
// `wharf migrate` ran; any Wharf refuses a schema newer than it knows.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { openMetadata } from '../../src/metadata/open.ts';
import { PG_TEST_URL, pgReachable } from '../../src/metadata/pg-test-store.ts';
import { isSchemaMismatch } from '../../src/metadata/migrate-policy.ts';
import { knownMigrations, schemaStatus } from '../../src/metadata/schema-check.ts';
import { startWharf } from '../helpers/servers.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const FUTURE = '9999_from_the_future';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function wharf(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(repoRoot, 'bin/wharf.js'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, WHARF_LOG_LEVEL: 'warn', WHARF_ADDR: '127.0.0.1:0', WHARF_CONFIG: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`wharf ${args.join(' ')} did not exit in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

let known: string[];
let latest: string;
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'wharf-migrate-'));
  const probe = await openMetadata('sqlite::memory:', { skipSchemaCheck: true });
  known = await knownMigrations(probe);
  latest = known.at(-1)!;
  await probe.close();
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('configuration', () => {
  it('autoMigrate defaults to true on SQLite and false on PostgreSQL; env and YAML override', () => {
    expect(loadConfig({}).autoMigrate).toBe(true);
    expect(loadConfig({ WHARF_DATABASE_URL: 'postgres://u@h:5432/db' }).autoMigrate).toBe(false);
    expect(loadConfig({ WHARF_DATABASE_URL: 'postgres://u@h:5432/db', WHARF_AUTO_MIGRATE: 'true' }).autoMigrate).toBe(true);
    expect(loadConfig({ WHARF_AUTO_MIGRATE: 'FALSE' }).autoMigrate).toBe(false);
    expect(() => loadConfig({ WHARF_AUTO_MIGRATE: 'yes' })).toThrow(/WHARF_AUTO_MIGRATE: expected one of true, false, got yes/);
  });
});

describe('SQLite (embedded)', () => {
  it('migrate --status (pending, exit 3) → migrate (a progress line each) → --status up to date (exit 0)', async () => {
    const env = { WHARF_DATA_DIR: path.join(tmp, 'a') };
    const before = await wharf(['migrate', '--status'], env);
    expect(before.code, before.stderr).toBe(3);
    for (const m of known) expect(before.stdout).toContain(`pending  ${m}`);
    expect(before.stdout).toContain(`this Wharf needs ${latest}`);

    const run = await wharf(['migrate'], env);
    expect(run.code, run.stderr).toBe(0);
    for (const m of known) expect(run.stdout).toMatch(new RegExp(`applied ${m} \\(\\d+ ms\\)`));

    const after = await wharf(['migrate', '--status'], env);
    expect(after.code, after.stderr).toBe(0);
    for (const m of known) expect(after.stdout).toMatch(new RegExp(`applied  ${m}  \\d{4}-`));
    expect(after.stdout).toContain(`up to date at ${latest}`);

    const again = await wharf(['migrate'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`up to date at ${latest}`);
  });

  it('serve starts on a fresh data dir with no extra step (the quick start)', async () => {
    const w = await startWharf({ dataDir: path.join(tmp, 'quick') });
    try {
      const r = await fetch(`${w.url}/health`);
      expect(r.status).toBe(200);
    } finally {
      await w.stop();
    }
    const meta = await openMetadata(`sqlite:${path.join(tmp, 'quick', 'wharf.db')}`, { autoMigrate: false });
    expect((await schemaStatus(meta)).pending).toEqual([]);
    await meta.close();
  });

  it('with WHARF_AUTO_MIGRATE=false, serve refuses pending migrations', async () => {
    const r = await wharf(['serve'], { WHARF_DATA_DIR: path.join(tmp, 'manual'), WHARF_AUTO_MIGRATE: 'false' });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`wharf: database schema is at none (empty database), this Wharf needs ${latest}: run \`wharf migrate\``);
  });

  it('serve, gc and migrate refuse a schema newer than this build even with auto-migrate on', async () => {
    const dir = path.join(tmp, 'newer');
    expect((await wharf(['migrate'], { WHARF_DATA_DIR: dir })).code).toBe(0);
    const db = new BetterSqlite3(path.join(dir, 'wharf.db'));
    db.prepare('insert into wharf_migrations (name, timestamp) values (?, ?)').run(FUTURE, new Date().toISOString());
    db.close();
    const msg = `database schema ${FUTURE} is newer than this Wharf (knows up to ${latest}): upgrade Wharf`;
    for (const args of [['serve'], ['gc', '--dry-run'], ['migrate']]) {
      const r = await wharf(args, { WHARF_DATA_DIR: dir });
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(4);
      expect(r.stderr).toContain(`wharf: ${msg}`);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
    const st = await wharf(['migrate', '--status'], { WHARF_DATA_DIR: dir });
    expect(st.code).toBe(4);
    expect(st.stdout).toContain(`unknown  ${FUTURE}`);
    // the library refuses too
    await expect(openMetadata(`sqlite:${path.join(dir, 'wharf.db')}`)).rejects.toSatisfy((e) => isSchemaMismatch(e) && e.kind === 'newer');
  });
});

describe.skipIf(!(await pgReachable()))('PostgreSQL (scale-out)', () => {
  const schema = `wharf_mig_${randomBytes(5).toString('hex')}`;
  const url = `${PG_TEST_URL}?schema=${schema}`;
  const env = () => ({ WHARF_DATABASE_URL: url, WHARF_DATA_DIR: path.join(tmp, 'pg') });
  const admin = () => new pg.Client({ connectionString: PG_TEST_URL });

  afterAll(async () => {
    const c = admin();
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });

  it('a replica refuses to start until `wharf migrate` ran; then it starts; a newer schema refuses', async () => {
    const pending = `database schema is at none (empty database), this Wharf needs ${latest}: run \`wharf migrate\``;

    const st = await wharf(['migrate', '--status'], env());
    expect(st.code, st.stderr).toBe(3);
    expect(st.stdout).toContain(`pending  ${known[0]}`);

    const serve = await wharf(['serve'], env());
    expect(serve.code, serve.stdout + serve.stderr).toBe(3);
    expect(serve.stderr).toContain(`wharf: ${pending}`);
    expect(serve.stderr).not.toMatch(/\n\s+at /);

    // CLI tools follow the same policy on PostgreSQL
    const gc = await wharf(['gc', '--dry-run'], env());
    expect(gc.code).toBe(3);
    expect(gc.stderr).toContain(`wharf: ${pending}`);

    const run = await wharf(['migrate'], env());
    expect(run.code, run.stderr).toBe(0);
    for (const m of known) expect(run.stdout).toMatch(new RegExp(`applied ${m} \\(\\d+ ms\\)`));
    expect((await wharf(['migrate', '--status'], env())).code).toBe(0);

    const w = await startWharf({ env: env() });
    try {
      expect((await fetch(`${w.url}/health`)).status).toBe(200);
    } finally {
      await w.stop();
    }

    const c = admin();
    await c.connect();
    await c.query(`insert into ${schema}.wharf_migrations (name, timestamp) values ($1, $2)`, [FUTURE, new Date().toISOString()]);
    await c.end();
    const newer = `database schema ${FUTURE} is newer than this Wharf (knows up to ${latest}): upgrade Wharf`;
    for (const extra of [{}, { WHARF_AUTO_MIGRATE: 'true' }] as Record<string, string>[]) {
      const r = await wharf(['serve'], { ...env(), ...extra });
      expect(r.code, r.stdout + r.stderr).toBe(4);
      expect(r.stderr).toContain(`wharf: ${newer}`);
    }
  });

  it('openMetadata with autoMigrate: false refuses a pending schema; true migrates it', async () => {
    const s2 = `${schema}_lib`;
    const u = `${PG_TEST_URL}?schema=${s2}`;
    try {
      await expect(openMetadata(u, { autoMigrate: false })).rejects.toSatisfy((e) => isSchemaMismatch(e) && e.kind === 'pending');
      const m = await openMetadata(u, { autoMigrate: true });
      expect((await schemaStatus(m)).current).toBe(latest);
      await m.close();
      const again = await openMetadata(u, { autoMigrate: false });
      await again.close();
    } finally {
      const c = admin();
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${s2} CASCADE`);
      await c.end();
    }
  });
});
