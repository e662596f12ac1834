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
// be admitted. An admitted blob or manifest is therefore held as a reservation — a row of
// quota_reservations, counted in the usage — until its row is visible in the database or
// RESERVATION_TTL_MS passes (a failed commit). Admission is one write transaction that locks the
// project's quota row (PostgreSQL: FOR UPDATE; SQLite: BEGIN IMMEDIATE), so admissions of one
// project are serialized across the processes of a node (WHARF_WORKERS > 1) and across replicas:
// the limit holds cluster-wide. Unlimited projects (the default) cost one indexed query per blob
// and nothing else.
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

export class QuotaGuard implements RegistryGuard {
  readonly quotas: QuotaStore;

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
    const meta = this.quotas.meta;
    // a refusal commits too (the clean-up of landed and expired reservations stays done)
    const refused = await meta.writeTx(async (trx): Promise<{ current: number; hard: number } | null> => {
      // serializes this project's admissions everywhere (SQLite: the transaction holds the write lock)
      let lock = trx.selectFrom('project_quotas').select('hard_bytes').where('project_id', '=', lim.projectId);
      if (meta.dialect === 'postgres') lock = lock.forUpdate();
      const locked = await lock.executeTakeFirst();
      const hard = locked ? Number(locked.hard_bytes) : UNLIMITED; // the limit as of now, under the lock
      if (hard === UNLIMITED) return null;
      const now = Date.now();
      await trx.deleteFrom('quota_reservations').where('until', '<=', now).execute();
      const rows = await trx.selectFrom('quota_reservations').select(['key', 'size']).where('project_id', '=', lim.projectId).execute();
      if (rows.some((r) => r.key === key)) return null; // the same blob is being committed right now: counted once
      const q = this.quotas.bound(trx);
      const keys = [key, ...rows.map((r) => r.key)];
      const split = (kind: string) => keys.filter((k) => k.startsWith(`${kind}:`)).map((k) => k.slice(kind.length + 1));
      const present = await q.presentInProject(project, split('blob'), split('manifest'));
      if (present.has(key)) return null; // already in the project: adds nothing
      // reservations whose rows are committed are in the usage now
      let reservedBytes = 0;
      const landed: string[] = [];
      for (const r of rows) {
        if (present.has(r.key)) landed.push(r.key);
        else reservedBytes += Number(r.size);
      }
      if (landed.length) await trx.deleteFrom('quota_reservations').where('project_id', '=', lim.projectId).where('key', 'in', landed).execute();
      const current = (await q.usage(project)).used + reservedBytes;
      if (current + size > hard) return { current, hard };
      await trx.insertInto('quota_reservations').values({ project_id: lim.projectId, key, size, until: now + RESERVATION_TTL_MS }).execute();
      return null;
    });
    if (refused) throw quotaExceeded(project, size, refused.current, refused.hard);
  }
}
