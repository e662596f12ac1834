// The scan report: what `wharf scan` prints (in one of four formats) and what the API stores.
import type { Finding, LayerRef, OsInfo, Package, ScanIssue, Severity, Vulnerability } from '../types.ts';
import { SEVERITIES } from '../types.ts';

export const SCANNER_NAME = 'Wharf';
export const SCANNER_VERSION = '0.1.0';

export interface ScanReport {
  scanner: { name: string; version: string };
  /** ISO time the scan finished */
  generatedAt: string;
  durationMs: number;
  artifact: {
    name: string;
    digest: string;
    os?: string;
    architecture?: string;
    layers: LayerRef[];
  };
  os?: OsInfo;
  packages: Package[];
  vulnerabilities: Vulnerability[];
  findings: Finding[];
  issues: ScanIssue[];
  /** the vulnerability sources matched against (empty: none imported) */
  databases: Array<{ name: string; records: number; updatedAt?: string | null }>;
}

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

/** Parse a user-given severity name case-insensitively (`high`, `HIGH`, `High`). */
export function parseSeverity(s: string): Severity {
  const hit = SEVERITIES.find((x) => x.toLowerCase() === s.trim().toLowerCase());
  if (!hit) throw new Error(`unknown severity "${s}" (one of ${SEVERITIES.join(', ')})`);
  return hit;
}

/** Highest severity of everything reported, or undefined when nothing was found. */
export function highestSeverity(r: ScanReport): Severity | undefined {
  let best = -1;
  for (const x of [...r.vulnerabilities, ...r.findings]) best = Math.max(best, severityRank(x.severity));
  return best < 0 ? undefined : SEVERITIES[best];
}

/** Counts per severity (vulnerabilities only), all keys present. */
export function severityCounts(items: Array<{ severity: Severity }>): Record<Severity, number> {
  const out = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  for (const x of items) out[x.severity]++;
  return out;
}

/** Sort by severity (highest first), then package, then id: the order every format prints. */
export function sortVulnerabilities(v: Vulnerability[]): Vulnerability[] {
  return [...v].sort(
    (a, b) =>
      severityRank(b.severity) - severityRank(a.severity) ||
      a.package.localeCompare(b.package) ||
      a.id.localeCompare(b.id) ||
      a.pkgPath.localeCompare(b.pkgPath),
  );
}

export function sortFindings(f: Finding[]): Finding[] {
  return [...f].sort(
    (a, b) =>
      severityRank(b.severity) - severityRank(a.severity) ||
      a.check.localeCompare(b.check) ||
      (a.path ?? '').localeCompare(b.path ?? '') ||
      (a.layer?.index ?? -1) - (b.layer?.index ?? -1),
  );
}

/** The `databases` of a report: the imported sources with records. */
export function reportDatabases(sources: Array<{ name: string; records: number; importedAt: number | null }>): ScanReport['databases'] {
  return sources.filter((s) => s.records > 0).map((s) => ({ name: s.name, records: s.records, updatedAt: s.importedAt ? new Date(s.importedAt).toISOString() : null }));
}

/** What a stored report row keeps beside the report (Harbor's overview): severity, totals, counts. */
export function vulnerabilitySummary(v: Vulnerability[]): { severity: string; total: number; fixable: number; summary: string } {
  let top = -1;
  for (const x of v) top = Math.max(top, severityRank(x.severity));
  const counts = Object.fromEntries(Object.entries(severityCounts(v)).filter(([, n]) => n > 0));
  return { severity: top < 0 ? 'None' : SEVERITIES[top]!, total: v.length, fixable: v.filter((x) => x.fixedVersion).length, summary: JSON.stringify(counts) };
}

/** Keep only what is at or above `min`. */
export function filterReport(r: ScanReport, min: Severity): ScanReport {
  const k = severityRank(min);
  return {
    ...r,
    vulnerabilities: r.vulnerabilities.filter((v) => severityRank(v.severity) >= k),
    findings: r.findings.filter((f) => severityRank(f.severity) >= k),
  };
}
