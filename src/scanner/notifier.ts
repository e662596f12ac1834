// Clair's notifier, in Wharf: when the vulnerability database changes (an import, a scheduled
// update), every stored scan report is matched again from its stored package list — no image is
// read again — and each vulnerability that now affects an image and did not before becomes a
// notification for every repository holding that manifest (`scan_notifications`, listed by
// `GET /api/v2.0/projects/{p}/scan-notifications`). Reports, severities and summaries are updated.
import type { MetadataStore } from '../metadata/store.ts';
import { match } from './matcher.ts';
import { reportDatabases, vulnerabilitySummary, type ScanReport } from './report/report.ts';
import type { Vulnerability } from './types.ts';
import type { AdvisoryQuery, VulnDb } from './vulndb/store.ts';

export interface RematchResult {
  /** stored reports matched again */
  reports: number;
  /** reports whose vulnerabilities changed */
  changed: number;
  /** vulnerabilities that appeared / disappeared (per report) */
  added: number;
  removed: number;
  /** notification rows written (one per repository and new vulnerability) */
  notifications: number;
}

const key = (v: Vulnerability) => `${v.id}\0${v.package}\0${v.installedVersion}\0${v.pkgPath}`;
const BATCH = 20;

export async function rematchStoredReports(
  store: MetadataStore,
  db: AdvisoryQuery & Pick<VulnDb, 'listSources'>,
  opts: { signal?: AbortSignal; log?: (m: string) => void; now?: () => number } = {},
): Promise<RematchResult> {
  const now = opts.now ?? Date.now;
  const out: RematchResult = { reports: 0, changed: 0, added: 0, removed: 0, notifications: 0 };
  const sources = await db.listSources();
  const databases = reportDatabases(sources);
  let after = '';
  for (;;) {
    if (opts.signal?.aborted) break;
    const rows = await store.db.selectFrom('scan_reports').select(['digest', 'report']).where('status', '=', 'Success').where('digest', '>', after).orderBy('digest').limit(BATCH).execute();
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.digest;
    for (const row of rows) {
      if (!row.report) continue;
      let report: ScanReport;
      try {
        report = JSON.parse(row.report) as ScanReport;
      } catch {
        continue;
      }
      out.reports++;
      const fresh = await match({ os: report.os, packages: report.packages }, db);
      const before = new Set(report.vulnerabilities.map(key));
      const nowKeys = new Set(fresh.map(key));
      const added = fresh.filter((v) => !before.has(key(v)));
      const removed = report.vulnerabilities.filter((v) => !nowKeys.has(key(v)));
      // a changed fixed version or severity also updates the stored report, without a notification
      const same = added.length === 0 && removed.length === 0 && JSON.stringify(fresh) === JSON.stringify(report.vulnerabilities);
      if (same) continue;
      out.changed++;
      out.added += added.length;
      out.removed += removed.length;
      const updated: ScanReport = { ...report, vulnerabilities: fresh, databases };
      const t = now();
      await store.writeTx(async (trx) => {
        await trx
          .updateTable('scan_reports')
          .set({ report: JSON.stringify(updated), ...vulnerabilitySummary(fresh) })
          .where('digest', '=', row.digest)
          .execute();
        if (added.length === 0) return;
        const repos = await trx
          .selectFrom('manifests')
          .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
          .select('repositories.name')
          .where('manifests.digest', '=', row.digest)
          .execute();
        const values = repos.flatMap((r) =>
          added.map((v) => ({
            repository: r.name,
            digest: row.digest,
            vulnerability_id: v.id,
            package: v.package,
            installed_version: v.installedVersion,
            fixed_version: v.fixedVersion ?? null,
            severity: v.severity,
            source: v.source,
            created_at: t,
          })),
        );
        for (let i = 0; i < values.length; i += 200) await trx.insertInto('scan_notifications').values(values.slice(i, i + 200)).execute();
        out.notifications += values.length;
      });
      if (added.length) opts.log?.(`${row.digest}: ${added.length} new (${added.slice(0, 5).map((v) => v.id).join(', ')}${added.length > 5 ? ', …' : ''}), ${removed.length} gone`);
    }
  }
  return out;
}

export interface ScanNotification {
  id: number;
  repository: string;
  digest: string;
  vulnerabilityId: string;
  package: string;
  installedVersion: string;
  fixedVersion: string | null;
  severity: string;
  source: string;
  createdAt: number;
}

/** Notifications of the repositories of one project, newest first. */
export async function listNotifications(store: MetadataStore, project: string, page: { offset: number; limit: number }): Promise<{ items: ScanNotification[]; total: number }> {
  // every repository of project p is named "p/…": the range ["p/", "p0") ('0' follows '/')
  const base = store.db.selectFrom('scan_notifications').where('repository', '>=', `${project}/`).where('repository', '<', `${project}0`);
  const total = Number((await base.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const rows = await base.selectAll().orderBy('id', 'desc').offset(page.offset).limit(page.limit).execute();
  return {
    total,
    items: rows.map((r) => ({
      id: Number(r.id),
      repository: r.repository,
      digest: r.digest,
      vulnerabilityId: r.vulnerability_id,
      package: r.package,
      installedVersion: r.installed_version,
      fixedVersion: r.fixed_version,
      severity: r.severity,
      source: r.source,
      createdAt: Number(r.created_at),
    })),
  };
}
