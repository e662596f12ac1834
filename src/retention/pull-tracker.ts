// Pull times for tag retention ("the most recently pulled N", "pulled within the last N days").
// Every manifest GET (by tag or by digest) calls record(); pulls are buffered in memory, deduped
// per (repository, digest) keeping the latest time, and written in one batch every second (or
// at 5000 distinct entries) with MetadataStore.setPulledAt, so a pull costs no database write on
// the request path. close() flushes what is pending; a crash loses at most the last second of
// pull times (as Harbor, which also updates pull times asynchronously).
import type { Logger } from '../logger.ts';

export interface PullTimeStore {
  setPulledAt(entries: { repository: string; digest: string; at: number }[]): Promise<void>;
}

export class PullTracker {
  private pending = new Map<string, { repository: string; digest: string; at: number }>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly store: PullTimeStore,
    private readonly logger?: Logger,
    private readonly intervalMs = 1000,
    private readonly maxPending = 5000,
  ) {}

  /** A manifest of `repository` was pulled (GET by tag or digest; `digest` is the manifest's). */
  record(repository: string, digest: string, at: number = Date.now()): void {
    if (this.closed) return;
    const key = `${repository}@${digest}`;
    const cur = this.pending.get(key);
    if (cur) {
      if (at > cur.at) cur.at = at;
      return;
    }
    this.pending.set(key, { repository, digest, at });
    if (this.pending.size >= this.maxPending) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Write what is pending (serialised: batches are written one after another). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    this.flushing = this.flushing.then(async () => {
      if (batch.length === 0) return;
      try {
        await this.store.setPulledAt(batch);
      } catch (err) {
        this.logger?.warn('pull time update failed', { entries: batch.length, error: String(err) });
      }
    });
    return this.flushing;
  }

  /** Flush and stop accepting pulls. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }
}
