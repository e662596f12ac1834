// CycloneDX 1.5 JSON SBOM: the image as the subject component, its OS and packages as
// components (with purl, licences, the layer that introduced each), and the vulnerabilities found
// pointing at the affected components.
import { randomUUID } from 'node:crypto';
import type { Package, Severity } from '../types.ts';
import { purlOf } from '../purl.ts';
import { sortVulnerabilities, type ScanReport } from './report.ts';

const CDX_SEVERITY: Record<Severity, string> = {
  Critical: 'critical',
  High: 'high',
  Medium: 'medium',
  Low: 'low',
  Negligible: 'info',
  Unknown: 'unknown',
};

function licenses(p: Package): unknown[] | undefined {
  if (!p.licenses?.length) return undefined;
  return p.licenses.map((l) => ({ license: { name: l } }));
}

export function cyclonedxDocument(r: ScanReport): Record<string, unknown> {
  const imageRef = `image:${r.artifact.digest}`;
  const components: unknown[] = [];
  const refOf = new Map<Package, string>();
  if (r.os) {
    components.push({
      'bom-ref': 'os',
      type: 'operating-system',
      name: r.os.id,
      version: r.os.versionId,
      ...(r.os.prettyName ? { description: r.os.prettyName } : {}),
    });
  }
  const seen = new Set<string>();
  for (const p of r.packages) {
    const purl = p.purl ?? purlOf(p, r.os);
    let ref = `${purl}#${p.path}`;
    for (let n = 2; seen.has(ref); n++) ref = `${purl}#${p.path}#${n}`;
    seen.add(ref);
    refOf.set(p, ref);
    const props = [
      { name: 'wharf:package:type', value: p.type },
      { name: 'wharf:package:path', value: p.path },
      ...(p.layer ? [{ name: 'wharf:layer:index', value: String(p.layer.index) }, { name: 'wharf:layer:digest', value: p.layer.digest }] : []),
      ...(p.layer?.diffId ? [{ name: 'wharf:layer:diff_id', value: p.layer.diffId }] : []),
      ...(p.sourceName ? [{ name: 'wharf:package:source_name', value: p.sourceName }] : []),
      ...(p.sourceVersion ? [{ name: 'wharf:package:source_version', value: p.sourceVersion }] : []),
    ];
    const lic = licenses(p);
    const group = p.type === 'maven' && p.name.includes(':') ? p.name.split(':')[0] : undefined;
    components.push({
      'bom-ref': ref,
      type: 'library',
      ...(group ? { group, name: p.name.split(':').slice(1).join(':') } : { name: p.name }),
      version: p.version,
      purl,
      ...(lic ? { licenses: lic } : {}),
      properties: props,
    });
  }
  const refsByKey = new Map<string, string[]>();
  for (const [p, ref] of refOf) {
    const k = `${p.type}\0${p.name}\0${p.version}\0${p.path}`;
    refsByKey.set(k, [...(refsByKey.get(k) ?? []), ref]);
  }
  const vulns = new Map<string, { v: ScanReport['vulnerabilities'][number]; refs: Set<string> }>();
  for (const v of sortVulnerabilities(r.vulnerabilities)) {
    const key = `${v.id}\0${v.source}`;
    const refs = refsByKey.get(`${v.packageType}\0${v.package}\0${v.installedVersion}\0${v.pkgPath}`) ?? [];
    const e = vulns.get(key) ?? { v, refs: new Set<string>() };
    refs.forEach((x) => e.refs.add(x));
    vulns.set(key, e);
  }
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: r.generatedAt,
      tools: { components: [{ type: 'application', name: r.scanner.name, version: r.scanner.version }] },
      component: {
        'bom-ref': imageRef,
        type: 'container',
        name: r.artifact.name,
        version: r.artifact.digest,
        properties: [
          ...(r.artifact.os ? [{ name: 'wharf:image:os', value: r.artifact.os }] : []),
          ...(r.artifact.architecture ? [{ name: 'wharf:image:architecture', value: r.artifact.architecture }] : []),
        ],
      },
    },
    components,
    dependencies: [{ ref: imageRef, dependsOn: [...(r.os ? ['os'] : []), ...refOf.values()] }],
    vulnerabilities: [...vulns.values()].map(({ v, refs }) => ({
      'bom-ref': `vuln:${v.id}:${v.source}`,
      id: v.id,
      source: { name: v.source, ...(v.url ? { url: v.url } : {}) },
      ratings: [
        {
          source: { name: v.source },
          ...(v.cvssScore !== undefined ? { score: v.cvssScore, method: 'CVSSv31' } : {}),
          severity: CDX_SEVERITY[v.severity],
        },
      ],
      ...(v.title ? { description: v.title } : {}),
      ...(v.aliases?.length ? { references: v.aliases.map((a) => ({ id: a, source: { name: v.source } })) } : {}),
      ...(v.fixedVersion ? { recommendation: `upgrade ${v.package} to ${v.fixedVersion} or later` } : {}),
      affects: [...refs].map((ref) => ({ ref })),
    })),
  };
}

export function formatCycloneDx(r: ScanReport): string {
  return JSON.stringify(cyclonedxDocument(r), null, 2) + '\n';
}
