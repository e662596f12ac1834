// The vulnerability database's records (issue 5): what the format parsers produce, what the store
// keeps (table vulndb_advisories, one row per source × namespace × package × advisory) and what
// the matcher reads back.
import type { Severity } from '../types.ts';

/** An OSV range event: exactly one key set. */
export interface OsvEvent {
  introduced?: string;
  fixed?: string;
  last_affected?: string;
  limit?: string;
}

export interface OsvRange {
  /** SEMVER or ECOSYSTEM (GIT ranges are dropped at import) */
  type: 'SEMVER' | 'ECOSYSTEM';
  events: OsvEvent[];
}

/**
 * How an advisory says which versions are affected; the `kind` tells the matcher the rule.
 * - osv: affected iff the version is inside one of the ranges or equal to one of `versions`.
 * - debian: the security tracker's per-release verdict: status "open" (no fix yet: affected),
 *   "resolved" (affected iff installed < fixed_version; fixed_version "0" = never affected),
 *   "undetermined" (reported as affected, no fix).
 * - alpine: secdb secfixes: affected iff installed < fixed_version ("0" = never affected).
 * - npm-range: Node security WG: affected iff the version satisfies `vulnerable` and not `patched`.
 */
export type Affected =
  | { kind: 'osv'; ranges: OsvRange[]; versions: string[] }
  | { kind: 'debian'; status: string; fixed_version?: string; urgency?: string }
  | { kind: 'alpine'; fixed_version: string }
  | { kind: 'npm-range'; vulnerable: string; patched?: string };

/** One advisory for one package of one namespace (one row). */
export interface AdvisoryRecord {
  /**
   * OSV ecosystem as spelled by OSV for language ecosystems ("npm", "PyPI", "Go", "Maven",
   * "crates.io"); lower-case "<distro>:<release>" for distributions ("debian:bookworm",
   * "alpine:v3.18", "red hat:…", "rocky linux:9"). See namespace.ts.
   */
  namespace: string;
  /** the package as the ecosystem keys it; PyPI names PEP 503-normalised */
  package: string;
  advisoryId: string;
  aliases: string[];
  affected: Affected;
  severity: Severity;
  cvssScore?: number;
  cvssVector?: string;
  summary?: string;
  url?: string;
  published?: string;
  modified?: string;
}

export type VulnFormat = 'osv' | 'debian-tracker' | 'alpine-secdb' | 'nodejs-security-wg';
export const VULN_FORMATS: readonly VulnFormat[] = ['osv', 'debian-tracker', 'alpine-secdb', 'nodejs-security-wg'];

/** What a parser reports besides its records. */
export interface ParseStats {
  /** input advisories read (an OSV object, a tracker CVE entry, a secdb package, a Node advisory) */
  records: number;
  /** rows produced */
  rows: number;
  /** malformed input records skipped */
  skipped: number;
  /** the first few reasons records were skipped */
  problems: string[];
}

export function newStats(): ParseStats {
  return { records: 0, rows: 0, skipped: 0, problems: [] };
}

export function skip(stats: ParseStats, why: string): void {
  stats.skipped++;
  if (stats.problems.length < 20) stats.problems.push(why);
}
