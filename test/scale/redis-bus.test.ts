// Scale-out over Redis: two Wharf replicas on one PostgreSQL schema and a private redis-server.
// Identity-cache invalidation crosses replicas; a Redis outage bypasses the caches (no stale
// grant) and recovery flushes them; both replicas share one token signing key.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { createWharf, type Wharf } from '../../src/main.ts';
import { createLogger } from '../../src/logger.ts';
import { startPrivateRedis, until, type PrivateRedis } from '../../src/cluster/test-redis.ts';
import { PG_TEST_URL, openPgTestStore } from '../../src/metadata/pg-test-store.ts';
import { TokenSigner } from '../../src/identity/jwt.ts';
import { hashPassword } from '../../src/identity/secrets.ts';
import { openMetadata } from '../../src/metadata/open.ts';

let server: PrivateRedis;
const schema = `wharf_redis_${randomBytes(5).toString('hex')}`;
const dirs: string[] = [];
let a: Wharf;
let b: Wharf;
const logs = { a: [] as string[], b: [] as string[] };

const replica = async (name: 'a' | 'b', bootstrap: boolean) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `wharf-redis-${name}-`));
  dirs.push(dataDir);
  const cfg = loadConfig({
    WHARF_DATA_DIR: dataDir,
    WHARF_DATABASE_URL: `${PG_TEST_URL}?schema=${schema}`,
    WHARF_REDIS_URL: server.url,
    WHARF_ADMIN_PASSWORD: 'Admin-Pass-123',
    WHARF_ADDR: '127.0.0.1:0',
    WHARF_VULNDB_UPDATE_CRON: 'off',
  });
  return createWharf(cfg, createLogger('info', (l) => logs[name].push(l)), { bootstrap, cleanTmp: false });
};

const count = (name: 'a' | 'b', msg: string) => logs[name].filter((l) => l.includes(msg)).length;

beforeAll(async () => {
  server = await startPrivateRedis();
  // a first replica runs the migrations; then the two start concurrently
  const first = await replica('a', true);
  await first.close();
  logs.a.length = 0;
  [a, b] = await Promise.all([replica('a', false), replica('b', false)]);
  await until(() => count('a', 'redis bus: healthy') > 0 && count('b', 'redis bus: healthy') > 0, 'both buses healthy');
}, 60_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  await server?.stop();
  const c = new pg.Client({ connectionString: PG_TEST_URL });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const newUser = async (username: string) => {
  const u = await a.identity.store.createUser({ username, passwordHash: await hashPassword('Passw0rd-xyz') });
  a.identity.changed();
  return u;
};

describe('two replicas, one database, one Redis', () => {
  test('the replicas issue and accept the same tokens', () => {
    expect(a.identity.signer.kid).toBe(b.identity.signer.kid);
    const exp = Math.floor(Date.now() / 1000) + 60;
    const t = a.identity.signer.sign({ iss: 'x', sub: 'admin', aud: 'wharf-registry', exp, access: [], wharf: { k: 'u', id: 1 } });
    expect(b.identity.signer.verify(t, 'wharf-registry')?.sub).toBe('admin');
  });

  test('deleting a user on A makes B refuse it (cached credentials invalidated over pub/sub)', async () => {
    const bob = await newUser('bob');
    expect(await b.identity.login('bob', 'Passw0rd-xyz')).not.toBeNull();
    expect(await b.identity.login('bob', 'Passw0rd-xyz')).not.toBeNull(); // from B's cache
    await a.identity.store.deleteUser(bob.id);
    a.identity.changed();
    await until(async () => (await b.identity.login('bob', 'Passw0rd-xyz')) === null, 'B refuses the deleted user', 2000);
  });

  test('Redis down: no stale grant; Redis back: caches flushed, invalidation works again', async () => {
    const carl = await newUser('carl');
    const erin = await newUser('erin');
    expect(await b.identity.login('carl', 'Passw0rd-xyz')).not.toBeNull(); // cached on B

    await server.kill();
    await until(() => count('a', 'redis bus: unhealthy') > 0 && count('b', 'redis bus: unhealthy') > 0, 'both buses unhealthy');
    // A deletes carl; its message cannot be sent, yet B refuses carl on the very next request
    await a.identity.store.deleteUser(carl.id);
    a.identity.changed();
    expect(await b.identity.login('carl', 'Passw0rd-xyz')).toBeNull();
    // degraded, not down: valid credentials still work, wrong ones still fail
    expect(await b.identity.login('erin', 'Passw0rd-xyz')).not.toBeNull();
    expect(await b.identity.login('erin', 'wrong-password')).toBeNull();
    await a.identity.store.deleteUser(erin.id);
    a.identity.changed();
    expect(await b.identity.login('erin', 'Passw0rd-xyz')).toBeNull();

    const healthyBefore = { a: count('a', 'redis bus: healthy'), b: count('b', 'redis bus: healthy') };
    await server.restart();
    await until(() => count('a', 'redis bus: healthy') > healthyBefore.a && count('b', 'redis bus: healthy') > healthyBefore.b, 'both buses healthy again', 10_000);
    expect(count('a', 'connection restored')).toBeGreaterThan(0);
    expect(await b.identity.login('erin', 'Passw0rd-xyz')).toBeNull();

    const dan = await newUser('dan');
    expect(await b.identity.login('dan', 'Passw0rd-xyz')).not.toBeNull();
    await a.identity.store.deleteUser(dan.id);
    a.identity.changed();
    await until(async () => (await b.identity.login('dan', 'Passw0rd-xyz')) === null, 'B refuses dan after recovery', 2000);
  }, 30_000);

  test('failed logins on A and B add up to one lock-out', async () => {
    await newUser('fred');
    for (let i = 0; i < 3; i++) expect(await a.identity.login('fred', 'nope')).toBeNull();
    for (let i = 0; i < 2; i++) expect(await b.identity.login('fred', 'nope')).toBeNull();
    await until(() => a.identity.isLocked('fred') && b.identity.isLocked('fred'), 'fred locked on both');
    expect(await a.identity.login('fred', 'Passw0rd-xyz')).toBeNull();
    expect(await b.identity.login('fred', 'Passw0rd-xyz')).toBeNull();
  });
});

describe('shared token signing key', () => {
  test('concurrent first starts agree on one key', async () => {
    const { store, cleanup } = await openPgTestStore();
    try {
      const signers = await Promise.all([1, 2, 3, 4].map(() => TokenSigner.loadShared(store.db)));
      expect(new Set(signers.map((s) => s.kid)).size).toBe(1);
    } finally {
      await cleanup();
    }
  });

  test("an existing install's PEM is imported, so its tokens stay valid", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-keys-'));
    dirs.push(dir);
    const old = TokenSigner.load(dir);
    const token = old.sign({ iss: 'x', sub: 'admin', aud: 'svc', exp: Math.floor(Date.now() / 1000) + 60, access: [], wharf: { k: 'u', id: 1 } });
    const { store, cleanup } = await openPgTestStore();
    try {
      const shared = await TokenSigner.loadShared(store.db, dir);
      expect(shared.kid).toBe(old.kid);
      expect(shared.verify(token, 'svc')?.sub).toBe('admin');
      // another replica without the file loads the same key from the database
      expect((await TokenSigner.loadShared(store.db)).kid).toBe(old.kid);
    } finally {
      await cleanup();
    }
    // SQLite too (a single node upgrading in place)
    const sqlite = await openMetadata(`sqlite:${path.join(dir, 'wharf.db')}`);
    try {
      expect((await TokenSigner.loadShared(sqlite.db, dir)).kid).toBe(old.kid);
    } finally {
      await sqlite.close();
    }
  });
});
