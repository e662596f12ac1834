// Human-readable report: header, vulnerabilities, best-practice findings, input problems, summary.
import type { LayerRef } from '../types.ts';
import { severityCounts, sortFindings, sortVulnerabilities, type ScanReport } from './report.ts';

function layerLabel(l: LayerRef | undefined, width = 48): string {
  if (!l) return '-';
  const how = (l.createdBy ?? '').replace(/^\/bin\/sh -c (#\(nop\) )?/, '').replace(/\s+/g, ' ').trim();
  const text = how ? `#${l.index} ${how}` : `#${l.index} ${l.digest.slice(7, 19)}`;
  return text.length > width ? text.slice(0, width - 1) + '…' : text;
}

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}

export function formatTable(r: ScanReport): string {
  const out: string[] = [];
  out.push(`${r.artifact.name} (${r.artifact.digest})`);
  if (r.os) {
    const eol = r.os.eol ? (r.os.eol.eol ? `  END OF LIFE since ${r.os.eol.date}` : `  supported until ${r.os.eol.date}`) : '';
    out.push(`OS: ${r.os.prettyName ?? `${r.os.id} ${r.os.versionId}`}${eol}`);
  } else {
    out.push('OS: not detected');
  }
  out.push(`Packages: ${r.packages.length}   Layers: ${r.artifact.layers.length}`);
  out.push(
    r.databases.length
      ? `Vulnerability databases: ${r.databases.map((d) => `${d.name} (${d.records})`).join(', ')}`
      : 'Vulnerability databases: none imported (run `wharf vuln-db import`); only best-practice checks ran',
  );
  out.push('');
  const counts = severityCounts(r.vulnerabilities);
  out.push(
    `Vulnerabilities: ${r.vulnerabilities.length} (` +
      (['Critical', 'High', 'Medium', 'Low', 'Negligible', 'Unknown'] as const).map((s) => `${s}: ${counts[s]}`).join(', ') +
      ')',
  );
  if (r.vulnerabilities.length) {
    out.push(
      table(
        ['ID', 'PACKAGE', 'INSTALLED', 'FIXED', 'SEVERITY', 'SOURCE', 'LAYER'],
        sortVulnerabilities(r.vulnerabilities).map((v) => [
          v.id,
          v.advisoryPackage && v.advisoryPackage !== v.package ? `${v.package} (${v.advisoryPackage})` : v.package,
          v.installedVersion,
          v.fixedVersion ?? '(no fix)',
          v.severity,
          v.source,
          layerLabel(v.layer),
        ]),
      ),
    );
  }
  out.push('');
  out.push(`Best-practice findings: ${r.findings.length}`);
  if (r.findings.length) {
    out.push(
      table(
        ['CHECK', 'SEVERITY', 'PATH', 'LAYER', 'TITLE'],
        sortFindings(r.findings).map((f) => [
          f.check,
          f.severity,
          (f.path ?? '-') + (f.deletedIn ? ` (deleted in #${f.deletedIn.index}, still in the image)` : ''),
          layerLabel(f.layer, 40),
          f.title,
        ]),
      ),
    );
  }
  if (r.issues.length) {
    out.push('');
    out.push(`Problems reading the image: ${r.issues.length}`);
    for (const i of r.issues.slice(0, 50)) out.push(`  ${i.layer ? `#${i.layer.index} ` : ''}${i.path ? `${i.path}: ` : ''}${i.message}`);
    if (r.issues.length > 50) out.push(`  … ${r.issues.length - 50} more (see --format json)`);
  }
  return out.join('\n') + '\n';
}
