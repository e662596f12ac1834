// Distributed lock with fencing and the Redis login limiter, against a private redis-server.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DistributedLock, LockUnavailableError } from '../../src/cluster/lock.ts';
import { RedisBus } from '../../src/cluster/bus.ts';
import { RedisConnection } from '../../src/cluster/redis.ts';
import { startPrivateRedis, until, type PrivateRedis } from '../../src/cluster/test-redis.ts';
import { RedisLoginLimiter } from '../../src/identity/limiter.ts';
import { createLogger } from '../../src/logger.ts';

const logger = createLogger('silent');
let server: PrivateRedis;
const toClose: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  server = await startPrivateRedis();
});
afterAll(async () => {
  for (const c of toClose) await c.close();
  await server?.stop();
});

const conn = async () => {
  const c = new RedisConnection(server.url, logger, { retryMinMs: 20, retryMaxMs: 100 }).start();
  toClose.push(c);
  await until(() => c.ready, 'redis connection');
  return c;
};

describe('distributed lock', () => {
  test('one holder at a time; fences increase; only the owner releases', async () => {
    const a = new DistributedLock(await conn());
    const b = new DistributedLock(await conn());
    const l1 = await a.tryAcquire('upload:1', 10_000);
    expect(l1).not.toBeNull();
    expect(await b.tryAcquire('upload:1', 10_000)).toBeNull();
    // another name is independent
    const other = await b.tryAcquire('upload:2', 10_000);
    expect(other).not.toBeNull();
    expect(await l1!.release()).toBe(true);
    expect(await l1!.release()).toBe(false);
    const l2 = await b.tryAcquire('upload:1', 10_000);
    expect(l2!.fence).toBeGreaterThan(l1!.fence);
    expect(await l1!.release()).toBe(false); // a former holder cannot release its successor's lease
    expect(await b.tryAcquire('upload:1', 10_000)).toBeNull();
    expect(await l2!.extend(10_000)).toBe(true);
    expect(await l1!.extend(10_000)).toBe(false);
    await l2!.release();
    await other!.release();
  });

  test('an expired lease loses the lock; the next holder gets a larger fence', async () => {
    const a = new DistributedLock(await conn());
    const b = new DistributedLock(await conn());
    const l1 = await a.tryAcquire('exp', 100);
    expect(l1).not.toBeNull();
    const waited = await b.acquire('exp', 5_000, { waitMs: 2_000, retryMs: 20 });
    expect(waited).not.toBeNull();
    expect(waited!.fence).toBeGreaterThan(l1!.fence);
    // the stale holder can neither extend nor release the new lease
    expect(await l1!.extend(5_000)).toBe(false);
    expect(await l1!.release()).toBe(false);
    expect(await a.tryAcquire('exp', 1_000)).toBeNull();
    expect(await waited!.release()).toBe(true);
  });

  test('fences follow the order the lock was won, under contention', async () => {
    const locks = await Promise.all([1, 2, 3, 4].map(async () => new DistributedLock(await conn())));
    const order: number[] = [];
    await Promise.all(
      locks.map(async (l) => {
        for (let i = 0; i < 5; i++) {
          const lease = await l.acquire('contended', 5_000, { waitMs: 10_000, retryMs: 5 });
          order.push(lease!.fence);
          await new Promise((r) => setTimeout(r, 2));
          expect(await lease!.release()).toBe(true);
        }
      }),
    );
    expect(order).toHaveLength(20);
    expect([...order].sort((x, y) => x - y)).toEqual(order); // strictly in acquisition order
    expect(new Set(order).size).toBe(20);
  });

  test('Redis down: a clear LockUnavailableError, not a lease', async () => {
    const c = new RedisConnection('redis://127.0.0.1:1', logger, { retryMinMs: 1000, retryMaxMs: 1000 }).start();
    toClose.push(c);
    await expect(new DistributedLock(c).tryAcquire('x', 1000)).rejects.toBeInstanceOf(LockUnavailableError);
  });
});

describe('RedisLoginLimiter', () => {
  const opts = { maxFailures: 5, maxFailuresPerIp: 8, windowMs: 60_000, lockMs: 60_000 };
  const replica = async (prefix: string) => {
    const c = await conn();
    const sub = c.duplicate('redis-sub');
    const bus = new RedisBus(c, sub, logger);
    toClose.push(bus);
    await until(() => bus.healthy(), 'bus healthy');
    return new RedisLoginLimiter(opts, c, bus, logger, prefix);
  };

  test('failures on two replicas add up and lock the name on both', async () => {
    const a = await replica('t1:');
    const b = await replica('t1:');
    for (let i = 0; i < 3; i++) a.fail('Carol', '10.0.0.1');
    await a.settle();
    for (let i = 0; i < 2; i++) b.fail('carol', '10.0.0.2');
    await b.settle();
    await until(() => a.nameLocked('carol') && b.nameLocked('CAROL'), 'both replicas see the lock');
    expect(a.locked('carol', undefined)).toBe(true);
    expect(a.nameLocked('dave')).toBe(false);
    // per-address counts add up too: 8 failures from one address over both replicas
    for (let i = 0; i < 4; i++) a.fail(`u${i}`, '10.9.9.9');
    for (let i = 4; i < 8; i++) b.fail(`u${i}`, '10.9.9.9');
    await Promise.all([a.settle(), b.settle()]);
    await until(() => a.ipLocked('10.9.9.9') && b.ipLocked('10.9.9.9'), 'address lock on both');
    expect(a.ipLocked('10.9.9.8')).toBe(false);
  });

  test('a replica that starts later learns existing locks', async () => {
    const a = await replica('t2:');
    for (let i = 0; i < 5; i++) a.fail('erin', undefined);
    await a.settle();
    const late = await replica('t2:');
    await until(() => late.nameLocked('erin'), 'late replica sees the lock');
  });

  test('success resets the shared count', async () => {
    const a = await replica('t3:');
    const b = await replica('t3:');
    for (let i = 0; i < 4; i++) a.fail('frank', undefined);
    await a.settle();
    b.succeed('frank');
    await new Promise((r) => setTimeout(r, 50));
    a.fail('frank', undefined);
    await a.settle();
    await new Promise((r) => setTimeout(r, 50));
    expect(a.nameLocked('frank') || b.nameLocked('frank')).toBe(false);
  });

  test('Redis down: falls back to per-replica counting, never throws', async () => {
    const c = new RedisConnection('redis://127.0.0.1:1', logger, { retryMinMs: 1000, retryMaxMs: 1000 });
    const bus = new RedisBus(c, c.duplicate('sub'), logger);
    toClose.push(bus);
    const lines: string[] = [];
    const l = new RedisLoginLimiter(opts, c, bus, createLogger('warn', (x) => lines.push(x)), 't4:');
    for (let i = 0; i < 4; i++) l.fail('gina', undefined);
    expect(l.nameLocked('gina')).toBe(false);
    l.fail('gina', undefined);
    expect(l.nameLocked('gina')).toBe(true);
    expect(lines.filter((x) => x.includes('counted per replica'))).toHaveLength(1);
  });
});
