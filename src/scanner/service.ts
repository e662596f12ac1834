// Scanning inside the server: Harbor's "scan artifact" as a durable job (`scan_artifact`), reports
// stored per manifest digest in `scan_reports`, the overview Harbor shows in artifact listings,
// the vulnerability report in the pluggable-scanner-spec shape, and scan-on-push for projects
// with `auto_scan` set. The same pipeline as `wharf scan` (src/scanner/scan.ts), reading the
// image straight from this Wharf's storage.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { MetadataStore } from '../metadata/store.ts';
import type { BlobDriver } from '../storage/driver.ts';
import type { Jobs } from '../jobs/service.ts';
import type { JobHandler } from '../jobs/types.ts';
import type { Logger } from '../logger.ts';
import { match } from './matcher.ts';
import { reportDatabases, SCANNER_NAME, SCANNER_VERSION, vulnerabilitySummary, type ScanReport } from './report/report.ts';
import { VulnDb } from './vulndb/store.ts';

declare const __WHARF_BUNDLE__: boolean | undefined;
/** The worker's entry: the bundle's (scripts/build.js puts it next to this code's chunk), or the sources through tsx. */
const WORKER_URL = typeof __WHARF_BUNDLE__ !== 'undefined' ? new URL('./scan-worker.js', import.meta.url) : new URL('./worker-entry.mjs', import.meta.url);

export const SCAN_JOB = 'scan_artifact';
/** Harbor's mime type for vulnerability reports (pluggable-scanner-spec v1.1) */
export const VULN_REPORT_MIME = 'application/vnd.security.vulnerability.report; version=1.1';
export const SCANNER_INFO = { name: SCANNER_NAME, vendor: 'Wharf', version: SCANNER_VERSION };

export type ScanStatus = 'Pending' | 'Running' | 'Success' | 'Error' | 'Stopped';

export interface ScanRecord {
  digest: string;
  reportId: string;
  repository: string;
  status: ScanStatus;
  jobId: number | null;
  severity: string | null;
  total: number;
  fixable: number;
  summary: Record<string, number> | null;
  error: string | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
}

interface ScanParams {
  repository: string;
  digest: string;
}

export class ScanService {
  private readonly vulndb: VulnDb;
  constructor(
    private readonly deps: { store: MetadataStore; driver: BlobDriver; jobs: Jobs; dataDir: string; databaseUrl: string; logger: Logger; maxMemoryMb?: number; timeoutMinutes?: number },
  ) {
    this.vulndb = new VulnDb(deps.store);
  }

  private get db() {
    return this.deps.store.db;
  }

  handler(): JobHandler<ScanParams> {
    return {
      kind: SCAN_JOB,
      maxAttempts: 2,
      validate: (p) => {
        if (typeof p.repository !== 'string' || typeof p.digest !== 'string') throw new Error('repository and digest are required');
        return { repository: p.repository, digest: p.digest };
      },
      run: async (ctx) => {
        const { repository, digest } = ctx.params;
        const t0 = Date.now();
        await this.db.updateTable('scan_reports').set({ status: 'Running', started_at: t0, error: null }).where('digest', '=', digest).execute();
        ctx.log(`scanning ${digest}`);
        try {
          const report = await this.scanNow(repository, digest, (m) => ctx.progress({ message: m }), ctx.signal);
          await this.db
            .updateTable('scan_reports')
            .set({ status: 'Success', report: JSON.stringify(report), ...vulnerabilitySummary(report.vulnerabilities), ended_at: Date.now() })
            .where('digest', '=', digest)
            .execute();
          ctx.log(`done: ${report.packages.length} packages, ${report.vulnerabilities.length} vulnerabilities, ${report.findings.length} findings, ${report.issues.length} input problems`);
          return { packages: report.packages.length, vulnerabilities: report.vulnerabilities.length, findings: report.findings.length };
        } catch (e) {
          const stopped = ctx.signal.aborted;
          await this.db
            .updateTable('scan_reports')
            .set({ status: stopped ? 'Stopped' : 'Error', error: (e as Error).message, ended_at: Date.now() })
            .where('digest', '=', digest)
            .execute();
          ctx.log(`failed: ${(e as Error).message}`, 'error');
          throw e;
        }
      },
    };
  }

  /**
   * Scan one manifest of this registry now (the job's work). Reading and analysing the image runs
   * in a worker thread with its own heap limit and a timeout, so a hostile image can fail only its
   * own scan; matching against the vulnerability database runs here.
   */
  async scanNow(repository: string, digest: string, onProgress?: (m: string) => void, signal?: AbortSignal): Promise<ScanReport> {
    const report = await this.indexInWorker(repository, digest, onProgress, signal);
    onProgress?.(`match: ${report.packages.length} packages`);
    const t0 = performance.now();
    report.vulnerabilities = await match({ os: report.os, packages: report.packages }, this.vulndb);
    report.databases = reportDatabases(await this.vulndb.listSources());
    report.durationMs += Math.round(performance.now() - t0);
    return report;
  }

  private async indexInWorker(repository: string, digest: string, onProgress?: (m: string) => void, signal?: AbortSignal): Promise<ScanReport> {
    const cacheDir = path.join(this.deps.dataDir, 'scan-cache');
    await mkdir(cacheDir, { recursive: true });
    const limitMb = this.deps.maxMemoryMb ?? 2048;
    const timeoutMs = (this.deps.timeoutMinutes ?? 30) * 60_000;
    return new Promise<ScanReport>((resolve, reject) => {
      const w = new Worker(WORKER_URL, {
        workerData: { repository, digest, config: { dataDir: this.deps.dataDir, databaseUrl: this.deps.databaseUrl }, cacheDir },
        resourceLimits: { maxOldGenerationSizeMb: limitMb },
      });
      let settled = false;
      const finish = (err: Error | null, report?: ScanReport) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        void w.terminate();
        if (err) reject(err);
        else resolve(report!);
      };
      const timer = setTimeout(() => finish(new Error(`scan timed out after ${Math.round(timeoutMs / 60_000)} minutes`)), timeoutMs);
      const onAbort = () => finish(new Error('scan stopped'));
      signal?.addEventListener('abort', onAbort, { once: true });
      w.on('message', (m: { type: string; message?: string; report?: ScanReport }) => {
        if (m.type === 'progress') onProgress?.(m.message ?? '');
        else if (m.type === 'done') finish(null, m.report);
        else if (m.type === 'error') finish(new Error(m.message));
      });
      w.on('error', (e: Error & { code?: string }) => finish(e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? new Error(`scan ran out of memory (limit ${limitMb} MiB; WHARF_SCAN_MAX_MEMORY_MB)`) : e));
      w.on('exit', (code) => finish(new Error(`scan worker exited (code ${code})`)));
    });
  }

  /** Queue a scan of a manifest (idempotent while one is pending or running). */
  async request(repository: string, digest: string, scope: string): Promise<ScanRecord> {
    const cur = await this.get(digest);
    if (cur && (cur.status === 'Pending' || cur.status === 'Running')) {
      const job = cur.jobId !== null ? await this.deps.jobs.get(cur.jobId) : null;
      if (job && (job.status === 'pending' || job.status === 'running')) return cur;
    }
    const now = Date.now();
    const reportId = randomUUID();
    const job = await this.deps.jobs.enqueue(SCAN_JOB, { repository, digest }, { scope, trigger: 'manual' });
    const row = { digest, report_id: reportId, repository, status: 'Pending', job_id: job.id, report: null, severity: null, total: 0, fixable: 0, summary: null, error: null, created_at: now, started_at: null, ended_at: null };
    await this.deps.store.writeTx(async (trx) => {
      const exists = await trx.selectFrom('scan_reports').select('digest').where('digest', '=', digest).executeTakeFirst();
      if (exists) await trx.updateTable('scan_reports').set({ report_id: reportId, repository, status: 'Pending', job_id: job.id, error: null, created_at: now, started_at: null, ended_at: null }).where('digest', '=', digest).execute();
      else await trx.insertInto('scan_reports').values(row).execute();
    });
    return (await this.get(digest))!;
  }

  /** The project scope ('project:<id>') that requested the current scan of a digest. */
  async requestedBy(digest: string): Promise<string | null> {
    const cur = await this.get(digest);
    if (!cur || cur.jobId === null) return null;
    return (await this.deps.jobs.get(cur.jobId))?.scope ?? null;
  }

  /** Stop the pending or running scan of a digest, if `scope` requested it. */
  async stop(digest: string, scope: string): Promise<boolean> {
    const cur = await this.get(digest);
    if (!cur || cur.jobId === null || (cur.status !== 'Pending' && cur.status !== 'Running')) return false;
    if ((await this.requestedBy(digest)) !== scope) return false;
    const ok = await this.deps.jobs.stop(cur.jobId);
    if (ok && cur.status === 'Pending') await this.db.updateTable('scan_reports').set({ status: 'Stopped', ended_at: Date.now() }).where('digest', '=', digest).execute();
    return ok;
  }

  private static toRecord(r: any): ScanRecord {
    const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    return {
      digest: r.digest,
      reportId: r.report_id,
      repository: r.repository,
      status: r.status,
      jobId: n(r.job_id),
      severity: r.severity ?? null,
      total: Number(r.total ?? 0),
      fixable: Number(r.fixable ?? 0),
      summary: r.summary ? JSON.parse(r.summary) : null,
      error: r.error ?? null,
      createdAt: Number(r.created_at),
      startedAt: n(r.started_at),
      endedAt: n(r.ended_at),
    };
  }

  async get(digest: string): Promise<ScanRecord | null> {
    const r = await this.db.selectFrom('scan_reports').select(['digest', 'report_id', 'repository', 'status', 'job_id', 'severity', 'total', 'fixable', 'summary', 'error', 'created_at', 'started_at', 'ended_at']).where('digest', '=', digest).executeTakeFirst();
    return r ? ScanService.toRecord(r) : null;
  }

  async getMany(digests: string[]): Promise<Map<string, ScanRecord>> {
    const out = new Map<string, ScanRecord>();
    for (let i = 0; i < digests.length; i += 500) {
      const part = digests.slice(i, i + 500);
      if (!part.length) continue;
      const rows = await this.db.selectFrom('scan_reports').select(['digest', 'report_id', 'repository', 'status', 'job_id', 'severity', 'total', 'fixable', 'summary', 'error', 'created_at', 'started_at', 'ended_at']).where('digest', 'in', part).execute();
      for (const r of rows) out.set(r.digest, ScanService.toRecord(r));
    }
    return out;
  }

  async report(digest: string): Promise<ScanReport | null> {
    const r = await this.db.selectFrom('scan_reports').select('report').where('digest', '=', digest).executeTakeFirst();
    return r?.report ? (JSON.parse(r.report) as ScanReport) : null;
  }

  async log(digest: string): Promise<string | null> {
    const cur = await this.get(digest);
    if (!cur || cur.jobId === null) return null;
    const lines = await this.deps.jobs.logs(cur.jobId);
    return lines.map((l) => `${new Date(l.at).toISOString()} [${l.level.toUpperCase()}] ${l.message}`).join('\n') + (lines.length ? '\n' : '');
  }
}

const iso = (t: number | null) => (t ? new Date(t).toISOString() : undefined);

/** Harbor's NativeReportSummary for `scan_overview` (keyed by the report mime type by the caller). */
export function overviewJson(r: ScanRecord): Record<string, unknown> {
  const done = r.status === 'Success';
  return {
    report_id: r.reportId,
    scan_status: r.status,
    severity: done ? r.severity ?? 'None' : undefined,
    duration: r.startedAt && r.endedAt ? Math.round((r.endedAt - r.startedAt) / 1000) : 0,
    summary: done ? { total: r.total, fixable: r.fixable, summary: r.summary ?? {} } : undefined,
    start_time: iso(r.startedAt ?? r.createdAt),
    end_time: iso(r.endedAt),
    complete_percent: done ? 100 : 0,
    scanner: SCANNER_INFO,
  };
}

/** Harbor's vulnerability report (pluggable-scanner-spec `HarborVulnerabilityReport`). */
export function harborVulnerabilityReport(report: ScanReport, repository: string, mimeType: string): Record<string, unknown> {
  return {
    generated_at: report.generatedAt,
    artifact: { repository, digest: report.artifact.digest, mime_type: mimeType },
    scanner: SCANNER_INFO,
    severity: vulnerabilitySummary(report.vulnerabilities).severity,
    vulnerabilities: report.vulnerabilities.map((v) => ({
      id: v.id,
      package: v.package,
      version: v.installedVersion,
      fix_version: v.fixedVersion ?? '',
      severity: v.severity,
      description: v.title ?? '',
      links: v.url ? [v.url] : [],
      ...(v.cvssScore !== undefined ? { preferred_cvss: { score_v3: v.cvssScore } } : {}),
      vendor_attributes: { source: v.source, package_type: v.packageType, path: v.pkgPath, ...(v.layer ? { layer: v.layer } : {}), ...(v.aliases?.length ? { aliases: v.aliases } : {}) },
    })),
  };
}
