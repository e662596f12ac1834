// The matcher (issue 5): an image's packages × the vulnerability database → findings.
//
// Which advisories apply to a package:
//   deb (Debian)   namespace debian:<codename> (os.codename, else VERSION_ID 10/11/12/13 →
//                  buster/bullseye/bookworm/trixie), keyed by the SOURCE package
//                  (sourceName ?? name), compared with dpkg against sourceVersion ?? version.
//                  Tracker verdicts: open/undetermined = affected, no fix; resolved with
//                  fixed_version "0" = never affected; else affected iff installed < fixed.
//                  OSV "Debian:12" advisories land in the same namespace (namespace.ts).
//   apk (Alpine)   namespace alpine:v<major>.<minor> of VERSION_ID, keyed by the origin
//                  (sourceName ?? name); affected iff installed < fixed (apk), "0" = never.
//   rpm            OSV namespaces of the distribution, best effort: rocky linux:<major>,
//                  almalinux:<major>, red hat:enterprise_linux:<major>::{baseos,appstream}.
//   npm, pypi,     OSV ecosystems npm / PyPI (PEP 503 names) / Go / Maven. ECOSYSTEM ranges use
//   golang, maven  the ecosystem's scheme (semver, pep440, go, maven), SEMVER ranges semver (Go's
//                  "v" prefix normalised away); `last_affected` is inclusive, `versions` exact.
//                  npm also takes Node security WG ranges (vulnerable and not patched).
// Findings are deduplicated per package (name, version, path): advisories that share an id or an
// alias (a GHSA whose alias is a CVE, a Node advisory listing that CVE) are one finding, reported
// under the CVE id when there is one; the finding names the source of the advisory it reports.
// Severity: from the CVSS v3 score when the advisory has one (≥9 Critical, ≥7 High, ≥4 Medium,
// >0 Low, 0 Negligible), else the distribution's urgency (Debian) or GHSA's text, else Unknown.
//
// Advisories are fetched per namespace for all package keys at once (VulnDb.advisoriesFor runs
// one query per 500 names), never one query per package.
import { SEVERITIES, type OsInfo, type Package, type Severity, type VersionScheme, type Vulnerability } from './types.ts';
import { compareVersions } from './version/index.ts';
import { satisfies } from './version/semver-range.ts';
import { severityOfScore } from './vulndb/cvss.ts';
import { alpineNamespace, DEBIAN_CODENAMES, pep503 } from './vulndb/namespace.ts';
import type { AdvisoryQuery, StoredAdvisory } from './vulndb/store.ts';
import type { OsvRange } from './vulndb/types.ts';

type Cmp = (a: string, b: string) => number;

export interface MatchOptions {
  /** called for each advisory that could not be evaluated (a version the scheme cannot parse, …) */
  onIssue?: (message: string) => void;
}

const cmpOf = (scheme: VersionScheme): Cmp => (a, b) => compareVersions(scheme, a, b);

// ---------------------------------------------------------------- targets

/** One package as the advisories of one namespace key it. */
interface Target {
  pkg: Package;
  namespace: string;
  key: string;
  version: string;
  /** the scheme of ECOSYSTEM ranges and fixed versions in this namespace */
  scheme: VersionScheme;
}

export function debianCodename(os: OsInfo): string | undefined {
  if (os.codename) return os.codename.toLowerCase();
  return DEBIAN_CODENAMES[os.versionId.split('.')[0] ?? ''];
}

/** alpine:v<major>.<minor> for VERSION_ID "3.11.6"; alpine:edge for pre-release ids ("3.19_alpha…"). */
export function alpineBranch(os: OsInfo): string | undefined {
  const m = /^(\d+)\.(\d+)/.exec(os.versionId);
  if (!m) return undefined;
  if (/_alpha|_beta|_rc/.test(os.versionId)) return 'alpine:edge';
  return alpineNamespace(`v${m[1]}.${m[2]}`);
}

function targetsOf(pkg: Package, os: OsInfo | undefined): Target[] {
  const id = os?.id.toLowerCase();
  switch (pkg.type) {
    case 'deb': {
      if (!os || (id !== 'debian' && !/\bdebian\b/.test(id ?? ''))) return [];
      const codename = debianCodename(os);
      if (!codename) return [];
      return [{ pkg, namespace: `debian:${codename}`, key: pkg.sourceName ?? pkg.name, version: pkg.sourceVersion ?? pkg.version, scheme: 'dpkg' }];
    }
    case 'apk': {
      if (!os || id !== 'alpine') return [];
      const ns = alpineBranch(os);
      return ns ? [{ pkg, namespace: ns, key: pkg.sourceName ?? pkg.name, version: pkg.sourceVersion ?? pkg.version, scheme: 'apk' }] : [];
    }
    case 'rpm': {
      if (!os) return [];
      const major = os.versionId.split('.')[0];
      const ns =
        id === 'rocky' ? [`rocky linux:${major}`] : id === 'almalinux' ? [`almalinux:${major}`] : id === 'rhel' ? [`red hat:enterprise_linux:${major}::baseos`, `red hat:enterprise_linux:${major}::appstream`] : [];
      const keys = [...new Set([pkg.name, pkg.sourceName ?? pkg.name])];
      return ns.flatMap((namespace) => keys.map((key) => ({ pkg, namespace, key, version: pkg.version, scheme: 'rpm' as const })));
    }
    case 'npm':
      return [{ pkg, namespace: 'npm', key: pkg.name, version: pkg.version, scheme: 'semver' }];
    case 'pypi':
      return [{ pkg, namespace: 'PyPI', key: pep503(pkg.name), version: pkg.version, scheme: 'pep440' }];
    case 'golang':
      return [{ pkg, namespace: 'Go', key: pkg.name, version: pkg.version, scheme: 'go' }];
    case 'maven':
      return [{ pkg, namespace: 'Maven', key: pkg.name, version: pkg.version, scheme: 'maven' }];
    default:
      return [];
  }
}

// ---------------------------------------------------------------- evaluation

interface Hit {
  adv: StoredAdvisory;
  /** absent: no fix */
  fixed?: string;
}

class Evaluator {
  constructor(private readonly issue: (m: string) => void) {}

  // Comparators memoised per match() call: the same (installed, bound) pairs recur across
  // advisories (PyPI's explicit version lists above all), and parsing dominates a comparison.
  private readonly memo = new Map<VersionScheme, Cmp>();
  private cached(scheme: VersionScheme): Cmp {
    let f = this.memo.get(scheme);
    if (!f) {
      const raw = cmpOf(scheme);
      const results = new Map<string, number | Error>();
      f = (a, b) => {
        const k = `${a}\0${b}`;
        let r = results.get(k);
        if (r === undefined) {
          try {
            r = raw(a, b);
          } catch (e) {
            r = e as Error;
          }
          if (results.size < 1_000_000) results.set(k, r);
        }
        if (r instanceof Error) throw r;
        return r;
      };
      this.memo.set(scheme, f);
    }
    return f;
  }

  /**
   * The comparator of a range: SEMVER ranges compare as SemVer, ECOSYSTEM ranges by the
   * namespace's scheme. In Go both use Go's ordering (x/mod/semver, "v" optional), which is what
   * the Go vulnerability database's SEMVER ranges mean.
   */
  private comparator(scheme: VersionScheme, rangeType: 'SEMVER' | 'ECOSYSTEM'): Cmp {
    return this.cached(scheme === 'go' ? 'go' : rangeType === 'SEMVER' ? 'semver' : scheme);
  }

  evaluate(t: Target, adv: StoredAdvisory): Hit | null {
    const a = adv.affected;
    try {
      switch (a.kind) {
        case 'osv':
          return this.osv(t, adv, a.ranges, a.versions);
        case 'debian': {
          if (a.status === 'open' || a.status === 'undetermined') return { adv };
          if (a.status !== 'resolved' || !a.fixed_version || a.fixed_version === '0') return null;
          return compareVersions('dpkg', t.version, a.fixed_version) < 0 ? { adv, fixed: a.fixed_version } : null;
        }
        case 'alpine': {
          if (a.fixed_version === '0') return null;
          return compareVersions('apk', t.version, a.fixed_version) < 0 ? { adv, fixed: a.fixed_version } : null;
        }
        case 'npm-range': {
          if (!satisfies(t.version, a.vulnerable)) return null;
          if (a.patched && satisfies(t.version, a.patched)) return null;
          return { adv, fixed: a.patched ? this.lowestPatched(t.version, a.patched) : undefined };
        }
      }
    } catch (e) {
      this.issue(`${adv.source} ${adv.advisoryId} ${t.key} ${t.version}: ${(e as Error).message}`);
    }
    return null;
  }

  /** The lowest lower bound of a patched range above the installed version (">=4.17.21 || ^3.10.1"). */
  private lowestPatched(version: string, patched: string): string | undefined {
    const cmp = cmpOf('semver');
    let best: string | undefined;
    for (const m of patched.matchAll(/(?:>=|\^|~|>)\s*v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)/g)) {
      const v = m[1]!;
      try {
        if (cmp(v, version) > 0 && (best === undefined || cmp(v, best) < 0)) best = v;
      } catch {
        /* not a version */
      }
    }
    return best;
  }

  private osv(t: Target, adv: StoredAdvisory, ranges: OsvRange[], versions: string[]): Hit | null {
    let hit: Hit | null = null;
    for (const r of ranges) {
      const cmp = this.comparator(t.scheme, r.type);
      const res = inRange(cmp, t.version, r);
      if (res.affected) {
        // several ranges may hold the version: report the lowest fix among them
        if (!hit) hit = { adv, fixed: res.fixed };
        else if (res.fixed && (!hit.fixed || cmp(res.fixed, hit.fixed) < 0)) hit.fixed = res.fixed;
      }
    }
    if (hit) return hit;
    // the explicit list of affected versions (exact, or equal under the ecosystem's ordering)
    const eco = this.comparator(t.scheme, 'ECOSYSTEM');
    for (const v of versions) if (v === t.version || safeEq(eco, v, t.version)) return { adv };
    return null;
  }
}

function safeEq(cmp: Cmp, a: string, b: string): boolean {
  try {
    return cmp(a, b) === 0;
  } catch {
    return false;
  }
}

/**
 * OSV's range evaluation (osv-schema "Evaluation"): events sorted by version ("0" lowest); walk
 * them, entering at an `introduced` ≤ v, leaving at a `fixed` ≤ v or a `last_affected` < v. The
 * fix reported is the first `fixed` above v.
 */
export function inRange(cmp: Cmp, version: string, range: OsvRange): { affected: boolean; fixed?: string } {
  const val = (e: OsvRange['events'][number]) => e.introduced ?? e.fixed ?? e.last_affected ?? e.limit ?? '';
  const order = (x: string, y: string) => (x === y ? 0 : x === '0' ? -1 : y === '0' ? 1 : cmp(x, y));
  const events = range.events.filter((e) => e.limit === undefined).slice().sort((a, b) => order(val(a), val(b)));
  for (const e of range.events) if (e.limit !== undefined && e.limit !== '*' && order(version, e.limit) >= 0) return { affected: false };
  let affected = false;
  let fixed: string | undefined;
  for (const e of events) {
    if (e.introduced !== undefined) {
      if (e.introduced === '0' || cmp(version, e.introduced) >= 0) affected = true;
    } else if (e.fixed !== undefined) {
      if (cmp(version, e.fixed) >= 0) affected = false;
      else if (affected && fixed === undefined) fixed = e.fixed;
    } else if (e.last_affected !== undefined) {
      if (cmp(version, e.last_affected) > 0) affected = false;
    }
    if (!affected) fixed = undefined;
  }
  return affected ? { affected, fixed } : { affected: false };
}

// ---------------------------------------------------------------- match

const isCve = (id: string) => /^CVE-\d+-\d+$/i.test(id);

/** Find the vulnerabilities of `input.packages` in `db`. */
export async function match(input: { os?: OsInfo; packages: Package[] }, db: AdvisoryQuery, opts: MatchOptions = {}): Promise<Vulnerability[]> {
  const ev = new Evaluator(opts.onIssue ?? (() => {}));
  const targets = input.packages.flatMap((p) => targetsOf(p, input.os));
  const byNs = new Map<string, Target[]>();
  for (const t of targets) {
    let l = byNs.get(t.namespace);
    if (!l) byNs.set(t.namespace, (l = []));
    l.push(t);
  }
  // package identity → hits
  const hits = new Map<string, { pkg: Package; key: string; hits: Hit[] }>();
  for (const [ns, list] of byNs) {
    const advs = await db.advisoriesFor(
      ns,
      list.map((t) => t.key),
    );
    const byKey = new Map<string, StoredAdvisory[]>();
    for (const a of advs) {
      let l = byKey.get(a.package);
      if (!l) byKey.set(a.package, (l = []));
      l.push(a);
    }
    for (const t of list) {
      const cands = byKey.get(t.key);
      if (!cands) continue;
      const pkgId = `${t.pkg.type}\0${t.pkg.name}\0${t.pkg.version}\0${t.pkg.path}`;
      let entry = hits.get(pkgId);
      for (const adv of alpineLowestFix(cands)) {
        const h = ev.evaluate(t, adv);
        if (!h) continue;
        if (!entry) hits.set(pkgId, (entry = { pkg: t.pkg, key: t.key, hits: [] }));
        entry.hits.push(h);
      }
    }
  }
  const out: Vulnerability[] = [];
  for (const { pkg, key, hits: hs } of hits.values()) out.push(...merge(pkg, key, hs));
  const rank = (v: Vulnerability) => SEVERITIES.indexOf(v.severity);
  out.sort((a, b) => (a.package < b.package ? -1 : a.package > b.package ? 1 : a.pkgPath < b.pkgPath ? -1 : a.pkgPath > b.pkgPath ? 1 : rank(b) - rank(a) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
  return out;
}

/** Alpine secdb may list one CVE under several fixed versions of a package: only the lowest counts. */
function alpineLowestFix(cands: StoredAdvisory[]): StoredAdvisory[] {
  const cmp = cmpOf('apk');
  if (!cands.some((c) => c.affected.kind === 'alpine')) return cands;
  const lowest = new Map<string, StoredAdvisory>();
  const out: StoredAdvisory[] = [];
  for (const c of cands) {
    if (c.affected.kind !== 'alpine') {
      out.push(c);
      continue;
    }
    const k = `${c.source}\0${c.advisoryId}`;
    const prev = lowest.get(k);
    if (!prev) lowest.set(k, c);
    else {
      try {
        if (c.affected.fixed_version !== '0' && (prev.affected.kind === 'alpine' && (prev.affected.fixed_version === '0' ? false : cmp(c.affected.fixed_version, prev.affected.fixed_version) < 0))) lowest.set(k, c);
        if (c.affected.fixed_version === '0') lowest.set(k, c); // "never affected" wins
      } catch {
        /* keep the first */
      }
    }
  }
  return [...out, ...lowest.values()];
}

/** Merge one package's hits: advisories sharing an id or alias are one finding. */
function merge(pkg: Package, key: string, hits: Hit[]): Vulnerability[] {
  // union-find over hit indexes through shared identifiers
  const parent = hits.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const owner = new Map<string, number>();
  hits.forEach((h, i) => {
    for (const id of [h.adv.advisoryId, ...h.adv.aliases]) {
      const k = id.toUpperCase();
      const o = owner.get(k);
      if (o === undefined) owner.set(k, i);
      else parent[find(i)] = find(o);
    }
  });
  const groups = new Map<number, Hit[]>();
  hits.forEach((h, i) => {
    const r = find(i);
    let g = groups.get(r);
    if (!g) groups.set(r, (g = []));
    g.push(h);
  });
  const out: Vulnerability[] = [];
  for (const g of groups.values()) {
    const ids = new Set<string>();
    for (const h of g) for (const id of [h.adv.advisoryId, ...h.adv.aliases]) ids.add(id);
    const cves = [...ids].filter(isCve).sort();
    // the record reported: one with a CVSS score, then one with a fix, then by source name
    const primary = g.slice().sort((a, b) => Number(b.adv.cvssScore !== undefined) - Number(a.adv.cvssScore !== undefined) || Number(b.fixed !== undefined) - Number(a.fixed !== undefined) || (a.adv.source < b.adv.source ? -1 : a.adv.source > b.adv.source ? 1 : 0))[0]!;
    const id = g.find((h) => isCve(h.adv.advisoryId))?.adv.advisoryId ?? cves[0] ?? primary.adv.advisoryId;
    const fixed = primary.fixed ?? g.find((h) => h.fixed)?.fixed;
    const score = primary.adv.cvssScore;
    let severity: Severity = score !== undefined ? severityOfScore(score) : primary.adv.severity;
    if (score === undefined && severity === 'Unknown') {
      // no CVSS anywhere in the group: the highest textual severity any record gives
      for (const h of g) if (SEVERITIES.indexOf(h.adv.severity) > SEVERITIES.indexOf(severity)) severity = h.adv.severity;
    }
    const aliases = [...ids].filter((x) => x !== id).sort();
    out.push({
      id,
      ...(aliases.length ? { aliases } : {}),
      package: pkg.name,
      packageType: pkg.type,
      ...(key !== pkg.name ? { advisoryPackage: key } : {}),
      installedVersion: pkg.version,
      ...(fixed ? { fixedVersion: fixed } : {}),
      severity,
      ...(score !== undefined ? { cvssScore: score } : {}),
      source: primary.adv.source,
      ...(primary.adv.summary ? { title: primary.adv.summary } : {}),
      ...(primary.adv.url ? { url: primary.adv.url } : {}),
      pkgPath: pkg.path,
      ...(pkg.layer ? { layer: pkg.layer } : {}),
    });
  }
  return out;
}
