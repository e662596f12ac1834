// SARIF 2.1.0 (OASIS) for code-scanning dashboards: one rule per vulnerability id / check id,
// one result per finding. Locations point at the file the package or finding came from; the
// layer and image digest ride along in properties.
import type { Severity } from '../types.ts';
import { sortFindings, sortVulnerabilities, type ScanReport } from './report.ts';

const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = {
  Critical: 'error',
  High: 'error',
  Medium: 'warning',
  Low: 'note',
  Negligible: 'note',
  Unknown: 'note',
};
// GitHub's `security-severity` property (0–10) when no CVSS score is known.
const SCORE: Record<Severity, number> = { Critical: 9.5, High: 8.0, Medium: 5.5, Low: 2.0, Negligible: 0.5, Unknown: 0.0 };

interface Rule {
  id: string;
  name: string;
  shortDescription: { text: string };
  helpUri?: string;
  properties: Record<string, unknown>;
}

export function formatSarif(r: ScanReport): string {
  const rules: Rule[] = [];
  const index = new Map<string, number>();
  const rule = (id: string, make: () => Rule) => {
    let i = index.get(id);
    if (i === undefined) {
      i = rules.push(make()) - 1;
      index.set(id, i);
    }
    return i;
  };
  const results: unknown[] = [];
  for (const v of sortVulnerabilities(r.vulnerabilities)) {
    const ruleIndex = rule(v.id, () => ({
      id: v.id,
      name: 'Vulnerability',
      shortDescription: { text: v.title ?? v.id },
      ...(v.url ? { helpUri: v.url } : {}),
      properties: { tags: ['vulnerability', 'security', v.severity.toLowerCase()], 'security-severity': (v.cvssScore ?? SCORE[v.severity]).toFixed(1) },
    }));
    results.push({
      ruleId: v.id,
      ruleIndex,
      level: LEVEL[v.severity],
      message: {
        text: `${v.package} ${v.installedVersion} is affected by ${v.id} (${v.severity})${v.fixedVersion ? `; fixed in ${v.fixedVersion}` : '; no fix released'}. Source: ${v.source}.`,
      },
      locations: [{ physicalLocation: { artifactLocation: { uri: v.pkgPath }, region: { startLine: 1 } } }],
      properties: { image: r.artifact.name, imageDigest: r.artifact.digest, package: v.package, installedVersion: v.installedVersion, fixedVersion: v.fixedVersion ?? null, layer: v.layer ?? null },
    });
  }
  for (const f of sortFindings(r.findings)) {
    const ruleIndex = rule(f.check, () => ({
      id: f.check,
      name: 'BestPractice',
      shortDescription: { text: f.title },
      properties: { tags: ['best-practice', 'security', f.severity.toLowerCase()], 'security-severity': SCORE[f.severity].toFixed(1) },
    }));
    results.push({
      ruleId: f.check,
      ruleIndex,
      level: LEVEL[f.severity],
      message: { text: `${f.title}${f.detail ? `: ${f.detail}` : ''}${f.deletedIn ? ` (deleted in layer ${f.deletedIn.index} but still inside the image)` : ''}` },
      locations: [{ physicalLocation: { artifactLocation: { uri: f.path ?? 'image-config' }, region: { startLine: 1 } } }],
      properties: { image: r.artifact.name, imageDigest: r.artifact.digest, layer: f.layer ?? null, deletedIn: f.deletedIn ?? null },
    });
  }
  const doc = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: r.scanner.name, version: r.scanner.version, informationUri: 'https://github.com/wharf-registry/wharf', rules } },
        results,
        properties: { image: r.artifact.name, imageDigest: r.artifact.digest, os: r.os ?? null },
      },
    ],
  };
  return JSON.stringify(doc, null, 2) + '\n';
}
