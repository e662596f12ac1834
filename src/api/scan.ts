// Harbor's scan endpoints for an artifact: start (202), stop, log, the vulnerability report
// (`additions/vulnerabilities`, keyed by the report mime type) and, Wharf's additions, the CycloneDX
// SBOM (`additions/sbom`) and the full report with best-practice findings (`additions/wharf-report`).
import { ApiError, badRequest, notFound, project, type ApiCtx, type ApiRoute } from './framework.ts';
import { artifactOf, PA } from './artifacts.ts';
import { projectOf } from './projects.ts';
import { requireRegistryScope } from './repositories.ts';
import { harborVulnerabilityReport, VULN_REPORT_MIME, type ScanService } from '../scanner/service.ts';
import { cyclonedxDocument } from '../scanner/report/cyclonedx.ts';
import { listNotifications } from '../scanner/notifier.ts';

function scans(c: ApiCtx): ScanService {
  if (!c.svc.scans) throw new ApiError(503, 'SERVICE_UNAVAILABLE', 'scanning is not available in this process');
  return c.svc.scans;
}

/** The stored report of the artifact, named as the caller sees it (reports are shared per digest); 404 when not scanned. */
async function scannedReport(c: ApiCtx) {
  const { repo, art } = await artifactOf(c);
  const report = await scans(c).report(art.digest);
  if (!report) throw notFound(`${repo.name}@${art.digest} has not been scanned`);
  report.artifact.name = `${repo.name}@${art.digest}`;
  return report;
}

async function scanType(c: ApiCtx): Promise<void> {
  const len = Number(c.req.headers['content-length'] ?? 0);
  if (!len && !c.req.headers['transfer-encoding']) return;
  const b = await c.body();
  if (b.scan_type !== undefined && b.scan_type !== 'vulnerability' && b.scan_type !== 'sbom') throw badRequest('scan_type must be "vulnerability" or "sbom" (one scan produces both)');
}

export const scanRoutes: ApiRoute[] = [
  {
    method: 'GET',
    path: '/projects/{project_name_or_id}/scan-notifications',
    tag: 'scan',
    summary: "Vulnerabilities that started to affect this project's scanned images after a vulnerability-database update (newest first; Wharf's notifier)",
    perm: project('scan', 'read'),
    handler: async (c) => {
      const pg = c.page();
      const { items, total } = await listNotifications(c.svc.store, projectOf(c).name, { offset: pg.offset, limit: pg.pageSize });
      c.paged(
        items.map((n) => ({
          id: n.id,
          repository_name: n.repository,
          digest: n.digest,
          vulnerability_id: n.vulnerabilityId,
          package: n.package,
          version: n.installedVersion,
          fix_version: n.fixedVersion ?? '',
          severity: n.severity,
          source: n.source,
          creation_time: new Date(n.createdAt).toISOString(),
        })),
        total,
        pg,
      );
    },
  },
  {
    method: 'POST',
    path: `${PA}/{reference}/scan`,
    tag: 'scan',
    summary: 'Scan an artifact (vulnerabilities, SBOM, best-practice checks); 202, the result appears in scan_overview',
    perm: project('scan', 'create'),
    handler: async (c) => {
      requireRegistryScope(c, 'pull');
      await scanType(c);
      const { repo, art } = await artifactOf(c);
      const p = projectOf(c);
      await scans(c).request(repo.name, art.digest, `project:${p.id}`);
      c.audit('create', 'scan', `${repo.name}@${art.digest}`, p.id);
      c.empty(202);
    },
  },
  {
    method: 'POST',
    path: `${PA}/{reference}/scan/stop`,
    tag: 'scan',
    summary: 'Stop a pending or running scan of an artifact',
    perm: project('scan', 'stop'),
    handler: async (c) => {
      await scanType(c);
      const { art } = await artifactOf(c);
      if (!(await scans(c).stop(art.digest, `project:${projectOf(c).id}`))) throw badRequest(`no scan of ${art.digest} requested in this project is pending or running`);
      c.empty(202);
    },
  },
  {
    method: 'GET',
    path: `${PA}/{reference}/scan/{report_id}/log`,
    tag: 'scan',
    summary: 'The log of the last scan of an artifact (text)',
    perm: project('scan', 'read'),
    handler: async (c) => {
      const { art } = await artifactOf(c);
      const rec = await scans(c).get(art.digest);
      // the log belongs to the project that requested the scan (reports are shared per digest)
      if (!rec || rec.reportId !== c.params.report_id || (await scans(c).requestedBy(art.digest)) !== `project:${projectOf(c).id}`) throw notFound(`scan log ${c.params.report_id} not found in this project`);
      const text = Buffer.from((await scans(c).log(art.digest)) ?? '');
      c.res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': text.length });
      c.res.end(text);
    },
  },
  {
    method: 'GET',
    path: `${PA}/{reference}/additions/vulnerabilities`,
    tag: 'scan',
    summary: "The artifact's vulnerability report, keyed by its mime type ({} when not scanned)",
    perm: project('artifact-addition', 'read'),
    handler: async (c) => {
      const { repo, art } = await artifactOf(c);
      const report = await scans(c).report(art.digest);
      c.json(200, report ? { [VULN_REPORT_MIME]: harborVulnerabilityReport(report, repo.name, art.mediaType) } : {});
    },
  },
  {
    method: 'GET',
    path: `${PA}/{reference}/additions/sbom`,
    tag: 'scan',
    summary: "The artifact's SBOM (CycloneDX 1.5 JSON) from its last scan; 404 when not scanned",
    perm: project('artifact-addition', 'read'),
    handler: async (c) => {
      c.json(200, cyclonedxDocument(await scannedReport(c)), { 'Content-Type': 'application/vnd.cyclonedx+json' });
    },
  },
  {
    method: 'GET',
    path: `${PA}/{reference}/additions/wharf-report`,
    tag: 'scan',
    summary: "The artifact's full scan report (packages, vulnerabilities, best-practice findings, problems); 404 when not scanned",
    perm: project('artifact-addition', 'read'),
    handler: async (c) => {
      c.json(200, await scannedReport(c));
    },
  },
];
