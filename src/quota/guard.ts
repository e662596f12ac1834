// Enforcement of project storage quotas on the registry's write paths (a RegistryGuard): a blob
// about to be linked into a repository (committed upload or mount) adds its size unless the
// project already holds it; a manifest about to be stored adds its bytes unless the project
// already holds that digest. Past the limit the request is refused with DENIED (403) and a
// message in Harbor's wording naming the project, the usage and the limit.
//
// A refused manifest PUT stores nothing, so a push that runs out of quota half-way leaves no tag
// and no manifest visible; the blobs it did upload are unreferenced and left to garbage
// collection.
//
// Concurrency. The check and the link happen in different steps (the guard runs before the
// blob's bytes are moved and its row committed), so two pushes racing past the limit could both
// be admitted. Within one process that cannot happen: admission is serialized per project, and an
// admitted blob or manifest is held as a reservation (counted in the usage) until its row is
// visible in the database or RESERVATION_TTL_MS passes (a failed commit). Across the processes
// of a cluster (WHARF_WORKERS > 1) or several nodes, the overshoot is bounded by what the other
// processes admit concurrently: at most the objects in flight at the moment the limit is crossed.
// Unlimited projects (the default) cost one indexed query per blob and nothing else.
import { OciError } from '../errors/oci-errors.ts';
import type { RegistryGuard } from '../distribution/registry-service.ts';
import { QuotaStore, UNLIMITED } from './store.ts';

export const RESERVATION_TTL_MS = 60_000;

/** Harbor's rendering of a byte count: `512 B`, `2.1 MiB`, `10.0 GiB`. */
export function formatBytes(n: number): string {
  const unit = 1024;
  if (n < unit) return `${n} B`;
  let div = unit;
  let exp = 0;
  for (let v = Math.floor(n / unit); v >= unit; v = Math.floor(v / unit)) {
    div *= unit;
    exp++;
  }
  return `${(n / div).toFixed(1)} ${'KMGTPE'[exp]}iB`;
}

export function quotaExceeded(project: string, adding: number, current: number, limit: number): OciError {
  return new OciError(
    'DENIED',
    `Quota exceeded in project ${project}: adding ${formatBytes(adding)} of storage resource, which when updated to current usage of ${formatBytes(current)} will exceed the configured upper limit of ${formatBytes(limit)} (${adding} + ${current} > ${limit} bytes).`,
    { status: 403, detail: { project, adding, used: current, limit } },
  );
}

interface Reservation {
  size: number;
  until: number;
}

export class QuotaGuard implements RegistryGuard {
  readonly quotas: QuotaStore;
  /** per project id: `blob:<digest>` / `manifest:<digest>` admitted but maybe not committed yet */
  private readonly reserved = new Map<number, Map<string, Reservation>>();
  private readonly locks = new Map<number, Promise<void>>();

  constructor(quotas: QuotaStore) {
    this.quotas = quotas;
  }

  async beforeBlob(e: { repo: string; digest: string; size: number }): Promise<void> {
    await this.admit(e.repo, `blob:${e.digest}`, e.size);
  }

  async beforeManifestPut(e: { repo: string; digest: string; size: number }): Promise<void> {
    await this.admit(e.repo, `manifest:${e.digest}`, e.size);
  }

  private async admit(repo: string, key: string, size: number): Promise<void> {
    const i = repo.indexOf('/');
    if (i <= 0) return;
    const project = repo.slice(0, i);
    const lim = await this.quotas.limitOf(project);
    if (!lim || lim.hard === UNLIMITED) return;
    await this.withLock(lim.projectId, async () => {
      const now = Date.now();
      let res = this.reserved.get(lim.projectId);
      if (res) for (const [k, r] of res) if (r.until <= now) res.delete(k);
      if (res?.has(key)) return; // the same blob is being committed right now: counted once
      const pending = [...(res?.keys() ?? [])];
      const split = (ks: string[], kind: string) => ks.filter((k) => k.startsWith(`${kind}:`)).map((k) => k.slice(kind.length + 1));
      const present = await this.quotas.presentInProject(project, split([key, ...pending], 'blob'), split([key, ...pending], 'manifest'));
      if (present.has(key)) return; // already in the project: adds nothing
      // reservations whose rows are committed are in the usage now
      let reservedBytes = 0;
      for (const k of pending) {
        if (present.has(k)) res!.delete(k);
        else reservedBytes += res!.get(k)!.size;
      }
      const current = (await this.quotas.usage(project)).used + reservedBytes;
      if (current + size > lim.hard) throw quotaExceeded(project, size, current, lim.hard);
      if (!res) this.reserved.set(lim.projectId, (res = new Map()));
      res.set(key, { size, until: now + RESERVATION_TTL_MS });
    });
  }

  private async withLock<T>(id: number, fn: () => Promise<T>): Promise<T> {
    while (this.locks.has(id)) await this.locks.get(id);
    let release!: () => void;
    this.locks.set(id, new Promise<void>((r) => (release = r)));
    try {
      return await fn();
    } finally {
      this.locks.delete(id);
      release();
    }
  }
}
