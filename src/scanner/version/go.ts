/**
 * Go module version ordering, as `golang.org/x/mod/semver.Compare`: "v" MAJOR[.MINOR[.PATCH]]
 * with the shorthands "v1" = "v1.0.0" and "v1.2" = "v1.2.0" (shorthands take no pre-release or
 * build part); numbers without leading zeros; a pre-release orders below its release, identifiers
 * compared one by one as in SemVer 2.0.0 §11 (numeric ones numerically and below alphanumeric
 * ones); build metadata, including "+incompatible", is ignored. Pseudo-versions
 * ("v1.2.4-0.20200101120000-abcdefabcdef", "v0.0.0-20200101120000-abcdefabcdef") are ordinary
 * pre-releases and so order by their timestamp, below the release they precede.
 *
 * The "v" prefix: Go requires it, but OSV "Go" ranges and Go vulnerability database events write
 * versions without it ("1.2.3", "0"). This module therefore accepts both: a version starting with
 * a digit is read as if it had the "v" ("1.2.3" = "v1.2.3", "0" = "v0.0.0"). Anything else
 * `semver.IsValid` rejects throws (x/mod itself would order invalid versions below all valid ones
 * and equal to each other; a scanner must not silently do that).
 */
import { compareAscii, compareDigits, type Verdict } from "./util.ts";

export interface GoVersion {
  major: string;
  minor: string;
  patch: string;
  prerelease: string[];
  build: string[];
}

const NUM = "0|[1-9][0-9]*";
const ID = "[0-9A-Za-z-]+";
const RE = new RegExp(
  `^v(${NUM})(?:\\.(${NUM})(?:\\.(${NUM})(?:-(${ID}(?:\\.${ID})*))?(?:\\+(${ID}(?:\\.${ID})*))?)?)?$`,
);

export function parse(input: string): GoVersion {
  const v = /^[0-9]/.test(input) ? `v${input}` : input;
  const m = RE.exec(v);
  const bad = (why: string): never => {
    throw new Error(`go: invalid version "${input}"${why ? `: ${why}` : ""}`);
  };
  if (!m) bad("");
  const prerelease = m![4] ? m![4].split(".") : [];
  for (const id of prerelease) {
    if (/^[0-9]+$/.test(id) && id.length > 1 && id[0] === "0") bad(`numeric pre-release identifier "${id}" has a leading zero`);
  }
  return { major: m![1]!, minor: m![2] ?? "0", patch: m![3] ?? "0", prerelease, build: m![5] ? m![5].split(".") : [] };
}

const isNum = (s: string) => /^[0-9]+$/.test(s);

export function compare(a: string, b: string): Verdict {
  const x = parse(a);
  const y = parse(b);
  const c = compareDigits(x.major, y.major) || compareDigits(x.minor, y.minor) || compareDigits(x.patch, y.patch);
  if (c !== 0) return c;
  const p = x.prerelease;
  const q = y.prerelease;
  if (p.length === 0 || q.length === 0) return p.length === q.length ? 0 : p.length === 0 ? 1 : -1;
  for (let i = 0; i < Math.min(p.length, q.length); i++) {
    const s = p[i]!;
    const t = q[i]!;
    if (s === t) continue;
    const ns = isNum(s);
    const nt = isNum(t);
    if (ns && nt) return compareDigits(s, t);
    if (ns) return -1;
    if (nt) return 1;
    return compareAscii(s, t);
  }
  return p.length === q.length ? 0 : p.length < q.length ? -1 : 1;
}
