// Failed-login limiting. Failures are counted per user name (whether or not that user exists,
// so a lock-out says nothing about existence) and per client address. A locked name or address
// fails every password check with the same answer as a wrong password until the lock ends.
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
  constructor(private readonly opts: LimiterOptions) {}

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
