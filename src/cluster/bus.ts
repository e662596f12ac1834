// Cross-replica messages over Redis pub/sub: one channel per purpose (`wharf:auth-changed` for the
// identity caches, `wharf:login-locks` for the login limiter). A replica ignores its own messages.
//
// Pub/sub delivers at most once and only to connected subscribers, so a replica cannot trust its
// caches while it might be missing messages. The bus is *healthy* only when the subscriber
// connection is subscribed, the publisher connection is up and no publish has failed since. While
// it is not healthy:
//   - guard() makes the guarded object (the Identity) flush its caches before every call, so
//     nothing cached is served across requests (cache TTL ~0: slower, never stale);
//   - a publish that fails is remembered.
// On every transition to healthy the bus flushes its local subscribers and publishes a flush on
// every channel it has, so whatever another replica missed while this one could not publish (or
// this one missed while it could not listen) does not survive the outage.
// Loss of the connection is noticed when the socket closes (a killed or restarted server, a reset
// connection); a silent network partition is noticed only when a command times out (publish,
// the periodic ping below).
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.ts';
import type { InvalidationBus } from '../identity/identity.ts';
import type { RedisConnection } from './redis.ts';

export interface BusMessage {
  /** 'changed': something changed, forget it; 'flush': a replica recovered from an outage, forget everything */
  kind: string;
  [k: string]: unknown;
}

type Handler = (msg: BusMessage) => void;

export class RedisBus {
  readonly id = randomUUID();
  private readonly handlers = new Map<string, Handler[]>();
  private readonly flushers = new Map<string, (() => void)[]>();
  private subscribed = false;
  private publishFailed = false;
  /** set once a recovery flush got through; cleared when a connection is lost */
  private wasHealthy = false;
  private flushing = false;
  private closed = false;
  private readonly pinger: NodeJS.Timeout;
  private readonly healthListeners: ((healthy: boolean) => void)[] = [];

  constructor(
    private readonly pub: RedisConnection,
    private readonly sub: RedisConnection,
    private readonly logger: Logger,
    opts: { pingMs?: number } = {},
  ) {
    sub.client.on('message', (channel: string, raw: string) => this.deliver(channel, raw));
    sub.onChange((up) => {
      if (up) void this.subscribeAll();
      else {
        this.subscribed = false;
        this.check();
      }
    });
    pub.onChange(() => this.check());
    // A periodic PING over the publisher notices a dead server behind a silent network.
    this.pinger = setInterval(() => {
      if (this.publishFailed) this.check();
      else if (this.pub.ready) this.pub.client.ping().catch(() => this.fail('ping'));
    }, opts.pingMs ?? 5000);
    this.pinger.unref();
    pub.start();
    sub.start();
  }

  /** subscribed, publisher up, recovery flush done and no publish lost since */
  healthy(): boolean {
    return !this.closed && this.wasHealthy && this.subscribed && this.pub.ready && !this.publishFailed;
  }

  status(): { healthy: boolean; publisher: string; subscriber: string } {
    return { healthy: this.healthy(), publisher: this.pub.status(), subscriber: this.sub.status() };
  }

  onHealth(fn: (healthy: boolean) => void): void {
    this.healthListeners.push(fn);
  }

  /** Receive a channel's messages from other replicas; `flush` also runs on every recovery. */
  on(channel: string, handler: Handler, flush?: () => void): void {
    const first = !this.handlers.has(channel);
    if (first) this.handlers.set(channel, []);
    this.handlers.get(channel)!.push(handler);
    if (flush) {
      if (!this.flushers.has(channel)) this.flushers.set(channel, []);
      this.flushers.get(channel)!.push(flush);
    }
    if (first && this.sub.ready) void this.subscribeAll();
  }

  /** Send to the other replicas. Never throws: a lost message makes the bus unhealthy until a flush got through. */
  send(channel: string, msg: BusMessage): void {
    if (!this.handlers.has(channel)) this.handlers.set(channel, []);
    if (!this.pub.ready) {
      this.fail(channel);
      return;
    }
    this.pub.client.publish(channel, JSON.stringify({ ...msg, from: this.id })).catch(() => this.fail(channel));
  }

  /** An InvalidationBus on one channel (what Identity takes). */
  invalidation(channel: string): InvalidationBus & { flush(): void } {
    const subs: (() => void)[] = [];
    const flush = () => subs.forEach((f) => safe(f, this.logger));
    this.on(channel, () => flush(), flush);
    return {
      publish: () => this.send(channel, { kind: 'changed' }),
      subscribe: (f) => void subs.push(f),
      flush,
    };
  }

  /**
   * `target` with every method call preceded by `flush()` while the bus is not healthy: caches
   * are used within one call but never across calls (TTL ~0) until the bus has recovered.
   */
  guard<T extends object>(target: T, flush: () => void): T {
    return new Proxy(target, {
      get: (t, prop, receiver) => {
        const v = Reflect.get(t, prop, receiver);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          if (!this.healthy()) flush();
          return (v as (...a: unknown[]) => unknown).apply(t, args);
        };
      },
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pinger);
    await Promise.all([this.pub.close(), this.sub.close()]);
  }

  private async subscribeAll(): Promise<void> {
    const channels = [...this.handlers.keys()];
    try {
      if (channels.length) await this.sub.client.subscribe(...channels);
      this.subscribed = true;
    } catch (e) {
      this.logger.warn('redis bus: subscribe failed', { error: String(e) });
      this.subscribed = false;
    }
    this.check();
  }

  private fail(what: string): void {
    if (this.closed) return;
    if (!this.publishFailed) this.logger.warn('redis bus: a message could not be sent; caches are bypassed until Redis is reachable again', { channel: what });
    this.publishFailed = true;
    this.check();
  }

  /** Track health transitions; on recovery tell every other replica to flush, then flush here. */
  private check(): void {
    if (this.closed) return;
    const up = this.subscribed && this.pub.ready;
    if (up && (this.publishFailed || !this.wasHealthy)) {
      if (this.flushing) return;
      this.flushing = true;
      const channels = [...this.handlers.keys()];
      Promise.all(channels.map((c) => this.pub.client.publish(c, JSON.stringify({ kind: 'flush', from: this.id }))))
        .then(() => {
          if (this.closed || !this.subscribed || !this.pub.ready) return;
          // flush locally after the flush went out: anything loaded from here on is current
          for (const c of channels) for (const f of this.flushers.get(c) ?? []) safe(f, this.logger);
          this.publishFailed = false;
          if (!this.wasHealthy) {
            this.wasHealthy = true;
            this.logger.info('redis bus: healthy; caches flushed on every replica');
            this.healthListeners.forEach((f) => safe(() => f(true), this.logger));
          }
        })
        .catch(() => {
          this.publishFailed = true;
        })
        .finally(() => {
          this.flushing = false;
        });
      return;
    }
    if (!up && this.wasHealthy) {
      this.wasHealthy = false;
      this.logger.warn('redis bus: unhealthy; identity caches are bypassed until Redis is back');
      // from now on guard() flushes before every call; flush once right away too
      for (const fs of this.flushers.values()) for (const f of fs) safe(f, this.logger);
      this.healthListeners.forEach((f) => safe(() => f(false), this.logger));
    }
  }

  private deliver(channel: string, raw: string): void {
    let msg: BusMessage & { from?: string };
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    if (msg.from === this.id) return;
    for (const h of this.handlers.get(channel) ?? []) safe(() => h(msg), this.logger);
  }
}

function safe(f: () => void, logger: Logger): void {
  try {
    f();
  } catch (e) {
    logger.error('redis bus: handler failed', { error: String(e) });
  }
}

/** Several buses as one: publish on all, hear from all (e.g. the node's IPC relay and Redis). */
export function combineBuses(...buses: InvalidationBus[]): InvalidationBus {
  return {
    publish: () => buses.forEach((b) => b.publish()),
    subscribe: (f) => buses.forEach((b) => b.subscribe(f)),
  };
}
