// A distributed lock with fencing tokens, on one Redis server.
//
// acquire: SET <lock> <random owner token> NX PX <ttl>, and only when that succeeds INCR
// <fence> — one Lua script, so fences are handed out in the order the lock was won and every
// holder gets a larger fence than all holders before it. release / extend: only while the lock is
// still held by the same owner token (Lua compare-and-delete / compare-and-pexpire), so a holder
// whose lease expired cannot release or extend its successor's lease.
//
// A lease can expire while its holder still works (a long GC pause, a slow disk): the lock alone
// does not prevent two writers. The resource the lock protects must remember the highest fence it
// has accepted and refuse writes that carry a smaller one (e.g. `UPDATE … SET fence = $f WHERE
// id = $id AND fence < $f`). The fence counter has no expiry; if Redis loses its data (no
// persistence) it restarts at 1 and stale-looking writes are refused: safe, but a resource that
// has seen high fences then needs its stored fence reset.
//
// When Redis is unreachable, acquire throws LockUnavailableError: coordination is required, so the
// caller must fail the operation with a clear error rather than proceed unlocked.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisConnection } from './redis.ts';

const ACQUIRE = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
const EXTEND = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

export class LockUnavailableError extends Error {
  constructor(name: string, cause: unknown) {
    super(`cannot take lock ${name}: Redis is unavailable (${cause instanceof Error ? cause.message : String(cause)})`);
  }
}

export interface Lease {
  readonly name: string;
  /** larger than the fence of every earlier holder of this lock */
  readonly fence: number;
  /** true when this lease still held the lock and released it */
  release(): Promise<boolean>;
  /** true when this lease still holds the lock, now for `ttlMs` from now */
  extend(ttlMs: number): Promise<boolean>;
}

interface LockCommands {
  wharfLockAcquire(lock: string, fence: string, owner: string, ttlMs: number): Promise<number>;
  wharfLockRelease(lock: string, owner: string): Promise<number>;
  wharfLockExtend(lock: string, owner: string, ttlMs: number): Promise<number>;
}

export class DistributedLock {
  private readonly client: Redis & LockCommands;

  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix = 'wharf:lock:',
  ) {
    const c = redis.client;
    c.defineCommand('wharfLockAcquire', { numberOfKeys: 2, lua: ACQUIRE });
    c.defineCommand('wharfLockRelease', { numberOfKeys: 1, lua: RELEASE });
    c.defineCommand('wharfLockExtend', { numberOfKeys: 1, lua: EXTEND });
    this.client = c as Redis & LockCommands;
    redis.start();
  }

  /** The lease, or null when someone else holds the lock. Throws LockUnavailableError when Redis is down. */
  async tryAcquire(name: string, ttlMs: number): Promise<Lease | null> {
    if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw new RangeError('ttlMs: a positive integer');
    const owner = randomBytes(16).toString('hex');
    // {name}: a Redis Cluster hash tag, the lock and its fence counter in one slot
    const lockKey = `${this.prefix}{${name}}`;
    let fence: number;
    try {
      fence = Number(await this.client.wharfLockAcquire(lockKey, `${lockKey}:fence`, owner, ttlMs));
    } catch (e) {
      throw new LockUnavailableError(name, e);
    }
    if (fence === 0) return null;
    return {
      name,
      fence,
      release: async () => {
        try {
          return (await this.client.wharfLockRelease(lockKey, owner)) === 1;
        } catch (e) {
          throw new LockUnavailableError(name, e);
        }
      },
      extend: async (ms: number) => {
        try {
          return (await this.client.wharfLockExtend(lockKey, owner, ms)) === 1;
        } catch (e) {
          throw new LockUnavailableError(name, e);
        }
      },
    };
  }

  /** tryAcquire, retried every `retryMs` for up to `waitMs`; null when still held by someone else. */
  async acquire(name: string, ttlMs: number, opts: { waitMs?: number; retryMs?: number } = {}): Promise<Lease | null> {
    const deadline = Date.now() + (opts.waitMs ?? 0);
    for (;;) {
      const lease = await this.tryAcquire(name, ttlMs);
      if (lease || Date.now() >= deadline) return lease;
      await new Promise((r) => setTimeout(r, Math.min(opts.retryMs ?? 50, Math.max(1, deadline - Date.now()))));
    }
  }
}
