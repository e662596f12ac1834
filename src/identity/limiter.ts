// Failed-login limiting. Failures are counted per user name (whether or not that user exists,
// so a lock-out says nothing about existence) and per client address. A locked name or address
// fails every password check with the same answer as a wrong password until the lock ends.
// LoginLimiter counts in this process; RedisLoginLimiter (below) counts across replicas.
import type { Logger } from '../logger.ts';
import type { RedisBus } from '../cluster/bus.ts';
import type { RedisConnection } from '../cluster/redis.ts';
export interface LimiterOptions {
  /** failures within `windowMs` that lock a user name */
  maxFailures: number;
  /** failures within `windowMs` that lock a client address (0 = never); a locked address cannot verify new credentials, but credentials verified before keep working */
  maxFailuresPerIp: number;
  windowMs: number;
  lockMs: number;
}

interface Entry {
  failures: number[];
  lockedUntil: number;
}

export class LoginLimiter {
  private readonly entries = new Map<string, Entry>();
  constructor(protected readonly opts: LimiterOptions) {}

  locked(username: string, ip: string | undefined, now = Date.now()): boolean {
    return this.nameLocked(username, now) || this.ipLocked(ip, now);
  }

  nameLocked(username: string, now = Date.now()): boolean {
    return this.isLocked(`u:${username.toLowerCase()}`, now);
  }

  ipLocked(ip: string | undefined, now = Date.now()): boolean {
    return ip !== undefined && this.opts.maxFailuresPerIp > 0 && this.isLocked(`ip:${ip}`, now);
  }

  fail(username: string, ip: string | undefined, now = Date.now()): void {
    this.add(`u:${username.toLowerCase()}`, this.opts.maxFailures, now);
    if (ip !== undefined && this.opts.maxFailuresPerIp > 0) this.add(`ip:${ip}`, this.opts.maxFailuresPerIp, now);
    if (this.entries.size > 100_000) this.sweep(now);
  }

  succeed(username: string): void {
    this.entries.delete(`u:${username.toLowerCase()}`);
  }

  /** one failure of a client address alone */
  protected failIpLocally(ip: string, now = Date.now()): void {
    if (this.opts.maxFailuresPerIp > 0) this.add(`ip:${ip}`, this.opts.maxFailuresPerIp, now);
  }

  private isLocked(key: string, now: number): boolean {
    const e = this.entries.get(key);
    return e !== undefined && e.lockedUntil > now;
  }

  private add(key: string, max: number, now: number): void {
    let e = this.entries.get(key);
    if (!e) this.entries.set(key, (e = { failures: [], lockedUntil: 0 }));
    e.failures = e.failures.filter((t) => t > now - this.opts.windowMs);
    e.failures.push(now);
    if (e.failures.length >= max) {
      e.lockedUntil = now + this.opts.lockMs;
      e.failures = [];
    }
  }

  private sweep(now: number): void {
    for (const [k, e] of this.entries) if (e.lockedUntil <= now && e.failures.every((t) => t <= now - this.opts.windowMs)) this.entries.delete(k);
  }
}

// One failure, atomically, on Redis's clock (replicas' clocks may differ): drop failures older
// than the window, add this one, and when there are `max` lock the key for `lockMs`.
// KEYS: failures (sorted set), lock. ARGV: windowMs, max, lockMs, unique member.
// Returns {1, lockMs} newly locked, {2, pttl} already locked, {0, failures}.
const FAIL_SCRIPT = `
local pttl = redis.call('PTTL', KEYS[2])
if pttl > 0 then return {2, pttl} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[4])
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return {1, tonumber(ARGV[3])}
end
redis.call('PEXPIRE', KEYS[1], window)
return {0, n}
`;

export const LOGIN_LOCKS_CHANNEL = 'wharf:login-locks';

/**
 * LoginLimiter with failures counted in Redis, so that failures on every replica add up (five on
 * replica A and B together lock the name everywhere). Identity asks synchronously whether a name is
 * locked, so each replica keeps a mirror of the locks: a replica that locks a key publishes it on
 * `wharf:login-locks`, and every (re)connection loads the locks that exist. A lock set on another
 * replica therefore applies here after one pub/sub hop (about a millisecond).
 *
 * A failure Redis cannot count (unreachable, command failed) is counted in process instead (the
 * parent class), so limiting continues per replica during an outage (degraded: an attacker
 * spreading guesses over N replicas gets up to N times the attempts), with one log line per
 * outage. Locks already known (set in Redis or in process) keep applying.
 */
export class RedisLoginLimiter extends LoginLimiter {
  /** locks learnt from Redis: key → lockedUntil (local clock) */
  private readonly remote = new Map<string, number>();
  private degradedLogged = false;

  constructor(
    opts: LimiterOptions,
    private readonly redis: RedisConnection,
    private readonly bus: RedisBus,
    private readonly logger: Logger,
    private readonly prefix = 'wharf:login:',
  ) {
    super(opts);
    redis.client.defineCommand('wharfLoginFail', { numberOfKeys: 2, lua: FAIL_SCRIPT });
    bus.on(LOGIN_LOCKS_CHANNEL, (m) => {
      if (typeof m.key === 'string' && typeof m.ms === 'number') this.lockLocally(m.key, m.ms);
    });
    redis.onChange((up) => {
      if (up) void this.loadLocks();
    });
    if (redis.ready) void this.loadLocks();
    redis.start();
  }

  override nameLocked(username: string, now = Date.now()): boolean {
    return super.nameLocked(username, now) || (this.remote.get(`u:${username.toLowerCase()}`) ?? 0) > now;
  }

  override ipLocked(ip: string | undefined, now = Date.now()): boolean {
    if (ip === undefined || this.opts.maxFailuresPerIp <= 0) return false;
    return super.ipLocked(ip, now) || (this.remote.get(`ip:${ip}`) ?? 0) > now;
  }

  override locked(username: string, ip: string | undefined, now = Date.now()): boolean {
    return this.nameLocked(username, now) || this.ipLocked(ip, now);
  }

  override fail(username: string, ip: string | undefined, now = Date.now()): void {
    if (!this.redis.ready) {
      this.degraded(new Error(`redis ${this.redis.status()}`));
      super.fail(username, ip, now);
      return;
    }
    this.count(`u:${username.toLowerCase()}`, this.opts.maxFailures, () => super.fail(username, undefined, now));
    if (ip !== undefined && this.opts.maxFailuresPerIp > 0) this.count(`ip:${ip}`, this.opts.maxFailuresPerIp, () => this.failIpLocally(ip, now));
    if (this.remote.size > 100_000) for (const [k, until] of this.remote) if (until <= now) this.remote.delete(k);
  }

  override succeed(username: string): void {
    super.succeed(username);
    if (!this.redis.ready) return;
    this.redis.client.del(this.failuresKey(`u:${username.toLowerCase()}`)).catch((e: unknown) => this.degraded(e));
  }

  /** Resolves when the Redis commands issued so far have answered (tests). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private readonly pending = new Set<Promise<unknown>>();

  /** a failure counted in Redis; `fallback` counts it in process when Redis fails */
  private count(key: string, max: number, fallback: () => void): void {
    const member = `${Date.now()}:${Math.random().toString(36).slice(2)}`;
    const run = (this.redis.client as unknown as { wharfLoginFail(...a: (string | number)[]): Promise<[number, number]> })
      .wharfLoginFail(this.failuresKey(key), this.lockKey(key), this.opts.windowMs, max, this.opts.lockMs, member)
      .then(([state, ms]) => {
        this.degradedLogged = false;
        if (state === 0) return;
        this.lockLocally(key, ms);
        if (state === 1) this.bus.send(LOGIN_LOCKS_CHANNEL, { kind: 'lock', key, ms });
      })
      .catch((e: unknown) => {
        this.degraded(e);
        fallback();
      })
      .finally(() => this.pending.delete(run));
    this.pending.add(run);
  }

  private lockLocally(key: string, ms: number): void {
    const until = Date.now() + ms;
    if ((this.remote.get(key) ?? 0) < until) this.remote.set(key, until);
  }

  /** After a (re)connection: the locks other replicas set meanwhile. */
  private async loadLocks(): Promise<void> {
    try {
      let cursor = '0';
      let seen = 0;
      do {
        const [next, keys] = await this.redis.client.scan(cursor, 'MATCH', `${this.prefix}*:lock`, 'COUNT', 500);
        cursor = next;
        for (const k of keys) {
          const ms = await this.redis.client.pttl(k);
          const key = k.slice(this.prefix.length + 1, -'}:lock'.length);
          if (ms > 0) this.lockLocally(key, ms);
        }
        seen += keys.length;
      } while (cursor !== '0' && seen < 100_000);
    } catch (e) {
      this.degraded(e);
    }
  }

  // {…}: a Redis Cluster hash tag, so both keys of one name live in one slot (the script uses both)
  private failuresKey(key: string): string {
    return `${this.prefix}{${key}}:f`;
  }

  private lockKey(key: string): string {
    return `${this.prefix}{${key}}:lock`;
  }

  private degraded(e: unknown): void {
    if (this.degradedLogged) return;
    this.degradedLogged = true;
    this.logger.warn('login limiter: Redis unavailable; failed logins are counted per replica until it is back', { error: String(e) });
  }
}
