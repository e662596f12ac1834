// Cross-replica coordination over Redis (WHARF_REDIS_URL), as createWharf wires it: one command
// connection and one subscriber connection per process.
//   - identity-cache invalidation on the `wharf:auth-changed` channel (bus.ts), with the caches
//     bypassed while the bus is unhealthy and flushed everywhere on recovery;
//   - login limits counted in Redis (RedisLoginLimiter, src/identity/limiter.ts);
//   - distributed locks with fencing tokens (lock.ts), for callers that need them.
// Redis holds nothing that cannot be lost: losing it costs speed (no caches), precision (per-replica
// login limits) or availability of the operations that need a lock (LockUnavailableError).
import type { Logger } from '../logger.ts';
import type { InvalidationBus } from '../identity/identity.ts';
import { LoginLimiter, RedisLoginLimiter, type LimiterOptions } from '../identity/limiter.ts';
import { RedisBus, combineBuses } from './bus.ts';
import { DistributedLock } from './lock.ts';
import { RedisConnection } from './redis.ts';

export { RedisBus, combineBuses } from './bus.ts';
export { DistributedLock, LockUnavailableError, type Lease } from './lock.ts';
export { RedisConnection, type RedisStatus } from './redis.ts';

export const AUTH_CHANNEL = 'wharf:auth-changed';

export interface Coordination {
  redis: RedisConnection;
  bus: RedisBus;
  locks: DistributedLock;
  /** the node-local bus (cluster IPC) plus Redis, for Identity */
  authBus(local: InvalidationBus): InvalidationBus;
  limiter(opts: LimiterOptions): LoginLimiter;
  /** `identity` with its caches bypassed while the bus is unhealthy */
  guardIdentity<T extends object>(identity: T): T;
  status(): { healthy: boolean; publisher: string; subscriber: string };
  close(): Promise<void>;
}

export function createCoordination(url: string, logger: Logger): Coordination {
  const redis = new RedisConnection(url, logger, { name: 'redis' });
  const bus = new RedisBus(redis, redis.duplicate('redis-sub'), logger);
  const auth = bus.invalidation(AUTH_CHANNEL);
  let locks: DistributedLock | undefined;
  return {
    redis,
    bus,
    get locks() {
      return (locks ??= new DistributedLock(redis));
    },
    authBus: (local) => combineBuses(local, auth),
    limiter: (opts) => new RedisLoginLimiter(opts, redis, bus, logger),
    guardIdentity: (identity) => bus.guard(identity, auth.flush),
    status: () => bus.status(),
    close: () => bus.close(),
  };
}
