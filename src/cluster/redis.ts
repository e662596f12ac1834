// One Redis connection for cross-replica coordination (src/cluster): lazy connect, reconnect with
// capped exponential backoff, no offline queue (a command while disconnected fails at once instead
// of piling up), a short command timeout, and one log line per loss and per recovery. Callers
// decide what "down" means for them: the invalidation bus degrades caches, the login limiter falls
// back to per-replica counting, the lock refuses with LockUnavailableError.
import { Redis } from 'ioredis';
import { maskUrl } from '../config/config.ts';
import type { Logger } from '../logger.ts';

export type RedisStatus = 'ready' | 'connecting' | 'down' | 'closed';

export interface RedisConnectionOptions {
  /** shown in log lines, e.g. 'redis' or 'redis-sub' */
  name?: string;
  /** reconnect backoff: first delay and cap (ms) */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** a command without an answer after this long fails (ms) */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
}

export class RedisConnection {
  readonly client: Redis;
  readonly name: string;
  private state: RedisStatus = 'connecting';
  private everReady = false;
  private started = false;
  private lastErrorLog = 0;
  private readonly listeners: ((up: boolean) => void)[] = [];

  constructor(
    readonly url: string,
    private readonly logger: Logger,
    private readonly opts: RedisConnectionOptions = {},
  ) {
    this.name = opts.name ?? 'redis';
    const min = opts.retryMinMs ?? 100;
    const max = opts.retryMaxMs ?? 3000;
    this.client = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      autoResubscribe: false,
      commandTimeout: opts.commandTimeoutMs ?? 2000,
      connectTimeout: opts.connectTimeoutMs ?? 3000,
      retryStrategy: (times) => Math.min(min * 2 ** Math.min(times - 1, 16), max),
    });
    this.client.on('ready', () => {
      const wasLost = this.everReady;
      this.everReady = true;
      this.setState('ready');
      if (wasLost) this.logger.info(`${this.name}: connection restored`, { redis: this.where() });
      else this.logger.debug(`${this.name}: connected`, { redis: this.where() });
    });
    this.client.on('close', () => {
      if (this.state === 'closed') return;
      if (this.state === 'ready') this.logger.warn(`${this.name}: connection lost; cross-replica coordination is degraded until it is back`, { redis: this.where() });
      this.setState('down');
    });
    this.client.on('end', () => this.setState('closed'));
    // Without a listener ioredis prints every connection error itself; one line per 30 s is enough.
    this.client.on('error', (e: Error) => {
      const now = Date.now();
      if (now - this.lastErrorLog < 30_000) return;
      this.lastErrorLog = now;
      this.logger.warn(`${this.name}: ${e.message}`, { redis: this.where() });
    });
  }

  /** Connect in the background (idempotent). Failures are retried; nothing is thrown. */
  start(): this {
    if (this.started) return this;
    this.started = true;
    this.client.connect().catch(() => {
      /* the retry strategy keeps trying; 'error' logs it */
    });
    return this;
  }

  status(): RedisStatus {
    return this.state;
  }

  get ready(): boolean {
    return this.state === 'ready';
  }

  /** called with true on every (re)connect and false on every loss */
  onChange(fn: (up: boolean) => void): void {
    this.listeners.push(fn);
  }

  /** a second connection to the same server (a subscriber connection cannot run other commands) */
  duplicate(name: string): RedisConnection {
    return new RedisConnection(this.url, this.logger, { ...this.opts, name });
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('closed');
    try {
      if (this.client.status === 'ready') await this.client.quit();
      else this.client.disconnect();
    } catch {
      this.client.disconnect();
    }
  }

  private where(): string {
    return maskUrl(this.url);
  }

  private setState(s: RedisStatus): void {
    if (this.state === s || (this.state === 'closed' && s !== 'closed')) return;
    const was = this.state;
    this.state = s;
    if (s === 'ready' || was === 'ready') for (const f of this.listeners) {
      try {
        f(s === 'ready');
      } catch (e) {
        this.logger.error(`${this.name}: state listener failed`, { error: String(e) });
      }
    }
  }
}
