// The advisory formats the vulnerability database imports, as pure functions from one parsed
// record (what json-stream.ts splits out of a file) to rows. Malformed input is skipped and
// counted in ParseStats, never thrown.
//   osv                 OSV JSON (https://ossf.github.io/osv-schema/): one advisory per record
//   debian-tracker      the Debian security tracker's JSON: one record {source:{CVE:{releases}}}
//   alpine-secdb        Alpine secdb: one record {distroversion, packages:[{pkg:{name, secfixes}}]}
//   nodejs-security-wg  nodejs/security-wg vuln/npm/*.json: one advisory per record
import type { Severity } from '../types.ts';
import { cvss3, severityOfScore, severityOfText } from './cvss.ts';
import { alpineNamespace, osvNamespace, packageKey } from './namespace.ts';
import { skip, type AdvisoryRecord, type OsvEvent, type OsvRange, type ParseStats, type VulnFormat } from './types.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x.trim() !== '').map((x) => x.trim()) : []);

/** The format of a file, from its first record; null when it is none of them. */
export function detectFormat(first: unknown): VulnFormat | null {
  if (!isObj(first)) return null;
  if (typeof first.module_name === 'string' && 'vulnerable_versions' in first) return 'nodejs-security-wg';
  if ('distroversion' in first && Array.isArray(first.packages)) return 'alpine-secdb';
  if (typeof first.id === 'string' && ('affected' in first || 'modified' in first || 'schema_version' in first)) return 'osv';
  // the tracker: source package → CVE → {releases: {...}}
  const pkgs = Object.values(first);
  if (pkgs.length > 0 && pkgs.slice(0, 5).every((p) => isObj(p) && Object.values(p).slice(0, 5).every((c) => isObj(c) && isObj(c.releases)))) return 'debian-tracker';
  return null;
}

export type RecordParser = (value: unknown, stats: ParseStats, emit: (r: AdvisoryRecord) => void) => void;

export const PARSERS: Record<VulnFormat, RecordParser> = {
  osv: parseOsv,
  'debian-tracker': parseDebianTracker,
  'alpine-secdb': parseAlpineSecdb,
  'nodejs-security-wg': parseNodeSecurity,
};

interface Scored {
  severity: Severity;
  cvssScore?: number;
  cvssVector?: string;
}

/** Severity from a CVSS v3 vector when one is given (score computed), else from text. */
function scored(vectors: string[], textSeverity?: string, givenScore?: number): Scored {
  for (const v of vectors) {
    const c = cvss3(v);
    if (c) return { severity: severityOfScore(c.baseScore), cvssScore: c.baseScore, cvssVector: v };
  }
  if (givenScore !== undefined && Number.isFinite(givenScore) && givenScore >= 0 && givenScore <= 10) return { severity: severityOfScore(givenScore), cvssScore: givenScore, cvssVector: vectors[0] };
  return { severity: severityOfText(textSeverity), cvssVector: vectors[0] };
}

// ---------------------------------------------------------------- OSV

function osvEvents(v: unknown): OsvEvent[] | null {
  if (!Array.isArray(v) || v.length === 0) return null;
  const out: OsvEvent[] = [];
  for (const e of v) {
    if (!isObj(e)) return null;
    const keys = Object.keys(e).filter((k) => k === 'introduced' || k === 'fixed' || k === 'last_affected' || k === 'limit');
    if (keys.length !== 1) return null;
    const val = str(e[keys[0]!]);
    if (val === undefined) return null;
    out.push({ [keys[0]!]: val } as OsvEvent);
  }
  return out;
}

function parseOsv(value: unknown, stats: ParseStats, emit: (r: AdvisoryRecord) => void): void {
  if (!isObj(value) || !str(value.id)) return skip(stats, 'OSV record without an id');
  const id = str(value.id)!;
  if (value.affected !== undefined && !Array.isArray(value.affected)) return skip(stats, `${id}: affected is not an array`);
  stats.records++;
  if (str(value.withdrawn)) return;
  const aliases = strings(value.aliases).filter((a) => a !== id);
  const db = isObj(value.database_specific) ? value.database_specific : {};
  const vectorsOf = (sev: unknown) => (Array.isArray(sev) ? sev.filter((s) => isObj(s) && typeof s.type === 'string' && /^CVSS_V3/.test(s.type) && typeof s.score === 'string').map((s) => (s as Obj).score as string) : []);
  const dbCvss = isObj(db.cvss) ? db.cvss : undefined;
  const topVectors = [...vectorsOf(value.severity), ...(dbCvss && typeof dbCvss.vectorString === 'string' ? [dbCvss.vectorString] : [])];
  const dbScore = dbCvss && typeof dbCvss.score === 'number' ? dbCvss.score : undefined;
  const refs = Array.isArray(value.references) ? value.references.filter(isObj) : [];
  const url =
    str(db.url) ??
    (refs.find((r) => r.type === 'ADVISORY' && str(r.url))?.url as string | undefined) ??
    (refs.find((r) => str(r.url))?.url as string | undefined);
  const summary = str(value.summary) ?? str(value.details)?.split('\n')[0]?.slice(0, 300);
  // one row per (namespace, package): several affected entries of one package are merged
  const rows = new Map<string, AdvisoryRecord>();
  for (const a of (value.affected as unknown[] | undefined) ?? []) {
    if (!isObj(a) || !isObj(a.package) || !str(a.package.ecosystem) || !str(a.package.name)) {
      skip(stats, `${id}: affected entry without package ecosystem/name`);
      continue;
    }
    const namespace = osvNamespace(str(a.package.ecosystem)!);
    const pkg = packageKey(namespace, str(a.package.name)!);
    const ranges: OsvRange[] = [];
    for (const r of Array.isArray(a.ranges) ? a.ranges : []) {
      if (!isObj(r) || (r.type !== 'SEMVER' && r.type !== 'ECOSYSTEM')) continue; // GIT ranges: commits, not versions
      const events = osvEvents(r.events);
      if (!events) {
        skip(stats, `${id}: malformed range events for ${pkg}`);
        continue;
      }
      ranges.push({ type: r.type, events });
    }
    const versions = strings(a.versions);
    if (ranges.length === 0 && versions.length === 0) continue;
    const key = `${namespace}\0${pkg}`;
    const prev = rows.get(key);
    if (prev && prev.affected.kind === 'osv') {
      prev.affected.ranges.push(...ranges);
      for (const v of versions) if (!prev.affected.versions.includes(v)) prev.affected.versions.push(v);
      continue;
    }
    const s = scored([...vectorsOf(a.severity), ...topVectors], str(db.severity) ?? (isObj(a.database_specific) ? str(a.database_specific.severity) : undefined), dbScore);
    rows.set(key, {
      namespace,
      package: pkg,
      advisoryId: id,
      aliases,
      affected: { kind: 'osv', ranges, versions },
      ...s,
      summary,
      url,
      published: str(value.published),
      modified: str(value.modified),
    });
  }
  for (const r of rows.values()) {
    stats.rows++;
    emit(r);
  }
}

// ---------------------------------------------------------------- Debian security tracker

function parseDebianTracker(value: unknown, stats: ParseStats, emit: (r: AdvisoryRecord) => void): void {
  if (!isObj(value)) return skip(stats, 'tracker record is not an object');
  for (const [source, cves] of Object.entries(value)) {
    if (!isObj(cves)) {
      skip(stats, `${source}: not an object of CVEs`);
      continue;
    }
    for (const [cve, entry] of Object.entries(cves)) {
      if (!isObj(entry) || !isObj(entry.releases)) {
        skip(stats, `${source} ${cve}: no releases`);
        continue;
      }
      stats.records++;
      const description = str(entry.description);
      for (const [codename, rel] of Object.entries(entry.releases)) {
        if (!isObj(rel) || !str(rel.status)) {
          skip(stats, `${source} ${cve} ${codename}: release without a status`);
          continue;
        }
        const urgency = str(rel.urgency)?.replace(/\*+/g, '').trim();
        const fixed = str(rel.fixed_version);
        stats.rows++;
        emit({
          namespace: `debian:${codename.trim().toLowerCase()}`,
          package: source,
          advisoryId: cve,
          aliases: [],
          affected: { kind: 'debian', status: str(rel.status)!.toLowerCase(), ...(fixed ? { fixed_version: fixed } : {}), ...(urgency ? { urgency } : {}) },
          severity: severityOfText(urgency),
          summary: description,
          url: `https://security-tracker.debian.org/tracker/${encodeURIComponent(cve)}`,
        });
      }
    }
  }
}

// ---------------------------------------------------------------- Alpine secdb

const ADVISORY_ID = /^[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9][\w.:-]*$/;

function parseAlpineSecdb(value: unknown, stats: ParseStats, emit: (r: AdvisoryRecord) => void): void {
  if (!isObj(value) || !str(value.distroversion) || !Array.isArray(value.packages)) return skip(stats, 'secdb record without distroversion/packages');
  const namespace = alpineNamespace(str(value.distroversion)!);
  for (const p of value.packages) {
    const pkg = isObj(p) && isObj(p.pkg) ? p.pkg : undefined;
    if (!pkg || !str(pkg.name) || !isObj(pkg.secfixes)) {
      skip(stats, `${namespace}: package entry without name/secfixes`);
      continue;
    }
    stats.records++;
    const name = str(pkg.name)!;
    for (const [fixed, ids] of Object.entries(pkg.secfixes)) {
      if (!Array.isArray(ids)) {
        skip(stats, `${namespace} ${name} ${fixed}: not a list of ids`);
        continue;
      }
      for (const entry of ids) {
        // entries are "CVE-…", sometimes several ids or an id with a note
        const tokens = typeof entry === 'string' ? entry.split(/\s+/).filter((t) => ADVISORY_ID.test(t)) : [];
        if (tokens.length === 0) {
          skip(stats, `${namespace} ${name} ${fixed}: no advisory id in ${JSON.stringify(entry)}`);
          continue;
        }
        for (const id of tokens) {
          stats.rows++;
          emit({
            namespace,
            package: name,
            advisoryId: id,
            aliases: [],
            affected: { kind: 'alpine', fixed_version: fixed.trim() },
            severity: 'Unknown',
            url: id.startsWith('CVE-') ? `https://security.alpinelinux.org/vuln/${id}` : undefined,
          });
        }
      }
    }
  }
}

// ---------------------------------------------------------------- Node security WG

function parseNodeSecurity(value: unknown, stats: ParseStats, emit: (r: AdvisoryRecord) => void): void {
  if (!isObj(value) || !str(value.module_name) || !str(value.vulnerable_versions) || (typeof value.id !== 'number' && !str(value.id))) return skip(stats, 'Node advisory without id/module_name/vulnerable_versions');
  stats.records++;
  const num = String(value.id).trim();
  const vector = str(value.cvss_vector);
  const score = typeof value.cvss_score === 'number' ? value.cvss_score : undefined;
  stats.rows++;
  emit({
    namespace: 'npm',
    package: str(value.module_name)!,
    advisoryId: `NSWG-ECO-${num}`,
    aliases: strings(value.cves),
    affected: { kind: 'npm-range', vulnerable: str(value.vulnerable_versions)!, ...(str(value.patched_versions) ? { patched: str(value.patched_versions) } : {}) },
    ...scored(vector ? [vector] : [], undefined, score),
    summary: str(value.title),
    url: `https://github.com/nodejs/security-wg/blob/main/vuln/npm/${encodeURIComponent(num)}.json`,
    published: str(value.publish_date) ?? str(value.created_at),
    modified: str(value.updated_at),
  });
}
