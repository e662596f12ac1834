// The audit log writer. Entries are buffered and written in batches (every 250 ms, or at 500
// entries) so that logging every pull costs no database round trip on the request path; close()
// flushes what is pending.
import type { Logger } from '../logger.ts';
import type { AuditEntry, IdentityStore } from './store.ts';

export class AuditLog {
  private pending: AuditEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  private readonly skip: ReadonlySet<string>;

  constructor(
    private readonly store: IdentityStore,
    private readonly logger: Logger,
    /** operations not to record (Harbor's "disabled audit log event types"), e.g. pull */
    skip: Iterable<string> = [],
    private readonly intervalMs = 250,
  ) {
    this.skip = new Set(skip);
  }

  record(e: Omit<AuditEntry, 'opTime' | 'success'> & { success?: boolean; opTime?: number }): void {
    if (this.skip.has(e.operation)) return;
    this.pending.push({ ...e, success: e.success ?? true, opTime: e.opTime ?? Date.now() });
    if (this.pending.length >= 500) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    this.flushing = this.flushing.then(async () => {
      if (batch.length === 0) return;
      try {
        await this.store.insertAudit(batch);
      } catch (err) {
        this.logger.error('audit log write failed', { entries: batch.length, error: String(err) });
      }
    });
    return this.flushing;
  }
}
