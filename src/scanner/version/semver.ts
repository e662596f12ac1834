/**
 * Semantic Versioning 2.0.0 precedence (§11), as npm `semver.compare`: major, minor, patch
 * numerically; a version with a pre-release is lower than the same version without; pre-release
 * identifiers compared one by one (numeric ones numerically and below alphanumeric ones,
 * alphanumeric ones in ASCII order, a shorter list lower when it is a prefix); build metadata is
 * ignored. A leading `v` is accepted, as npm does.
 */
import { compareAscii, compareDigits, type Verdict } from "./util.ts";

export interface SemVer {
  major: string;
  minor: string;
  patch: string;
  prerelease: string[];
  build: string[];
}

const NUM = "0|[1-9][0-9]*";
const PRE_ID = `(?:${NUM}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)`;
const BUILD_ID = "[0-9A-Za-z-]+";
const RE = new RegExp(
  `^v?(${NUM})\\.(${NUM})\\.(${NUM})` +
    `(?:-(${PRE_ID}(?:\\.${PRE_ID})*))?` +
    `(?:\\+(${BUILD_ID}(?:\\.${BUILD_ID})*))?$`,
);

export function parse(input: string): SemVer {
  const m = RE.exec(input.trim());
  if (!m) throw new Error(`semver: invalid version "${input}"`);
  return {
    major: m[1]!,
    minor: m[2]!,
    patch: m[3]!,
    prerelease: m[4] ? m[4].split(".") : [],
    build: m[5] ? m[5].split(".") : [],
  };
}

const isNumeric = (s: string) => /^[0-9]+$/.test(s);

function compareIdentifier(a: string, b: string): Verdict {
  const na = isNumeric(a);
  const nb = isNumeric(b);
  if (na && nb) return compareDigits(a, b);
  if (na) return -1;
  if (nb) return 1;
  return compareAscii(a, b);
}

export function compare(a: string, b: string): Verdict {
  const x = parse(a);
  const y = parse(b);
  const main = compareDigits(x.major, y.major) || compareDigits(x.minor, y.minor) || compareDigits(x.patch, y.patch);
  if (main !== 0) return main;
  const p = x.prerelease;
  const q = y.prerelease;
  if (p.length === 0 || q.length === 0) {
    if (p.length === q.length) return 0;
    return p.length === 0 ? 1 : -1;
  }
  for (let i = 0; i < Math.min(p.length, q.length); i++) {
    const c = compareIdentifier(p[i]!, q[i]!);
    if (c !== 0) return c;
  }
  return p.length === q.length ? 0 : p.length < q.length ? -1 : 1;
}
