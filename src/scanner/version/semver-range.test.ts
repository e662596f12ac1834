// semver-range.ts against npm `semver` 7.8.6 (devDependency, used here only as the oracle) over every
// vulnerable_versions / patched_versions string of the Node.js security WG advisories × many versions.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import npmSemver from "semver";
import { describe, expect, it } from "vitest";
import { parseRange, satisfies } from "./semver-range.ts";

const vulnPath = fileURLToPath(new URL("../../../test/fixtures/vulndata/npm/nodejs-security-wg/vuln-npm.json", import.meta.url));

function loadRanges(): string[] {
  const recs = JSON.parse(readFileSync(vulnPath, "utf8")) as Array<{ vulnerable_versions?: string | null; patched_versions?: string | null }>;
  const out = new Set<string>();
  for (const r of recs) {
    if (typeof r.vulnerable_versions === "string") out.add(r.vulnerable_versions);
    if (typeof r.patched_versions === "string") out.add(r.patched_versions);
  }
  return [...out];
}

const HAND_RANGES = [
  "", "*", "x", "1.x", "1.X.x", "1", "1.2", "=1.2", "v1.2.3", "=v1.2.3", "<=4.17.20", ">=2.0.0 <2.3.1 || >=3.0.0 <3.0.2",
  "^1.2.3", "^0.2.3", "^0.0.3", "^0.0", "^0.x", "^1.2.x", "^0.0.x", "^1.2.3-beta.2", "^0.0.3-beta", "~1.2.3", "~1.2", "~1",
  "~1.2.3-beta.2", "~>1.2", "~ 1.2", "^ 1.2", "> 1.2.3", ">= 1.2.3 < 2", "1.2.3 - 2.3.4", "1.2 - 2.3.4", "1.2.3 - 2.3", "1.2.3 - 2",
  "* - 2", "1.2.3-alpha - 2.3.4-beta", "<0.0.0", "<0.0.0-0", "<*", ">*", ">=*", ">1", ">1.2", "<=1", "<=1.2", "<1", "<1.2",
  ">=0.0.0", ">1.2.3-alpha.0 <1.2.4", ">1.2.2 <1.3.0", "1.2.3 || 2.x || <*", "<* || >*", "1.2.3+build", ">=1.2.3+build <2",
  "||", "1.2.3 ||", "|| 1.2.3", ">=1.2.3 *", "1.2.3*",
];
const BAD_RANGES = ["1.2.3.4", ">=abc", "==1.2.3", "1.2.3-01", "^", "~", ">=", "1.2.3 - ", "not a range", "1..2"];

function versionsFrom(ranges: string[]): string[] {
  const out = new Set<string>(["0.0.0", "0.0.0-0", "0.0.1", "0.1.0", "1.0.0", "1.0.0-alpha", "1.2.3-beta.4", "1.2.3-alpha.0", "1.2.4-rc.1", "2.0.0-0", "99.0.0"]);
  for (const r of ranges) {
    for (const m of r.matchAll(/[0-9]+(?:\.[0-9]+){0,2}(?:-[0-9A-Za-z.-]+)?/g)) {
      let v = m[0];
      const parts = v.split("-")[0]!.split(".");
      while (parts.length < 3) parts.push("0");
      const [M, mi, p] = parts.map(Number) as [number, number, number];
      const base = `${M}.${mi}.${p}`;
      v = v.includes("-") && npmSemver.valid(`${base}-${v.split("-").slice(1).join("-")}`) ? `${base}-${v.split("-").slice(1).join("-")}` : base;
      for (const c of [v, base, `${M}.${mi}.${p + 1}`, `${M}.${mi + 1}.0`, `${M + 1}.0.0`, `${base}-0`, `${base}-rc.1`, `${M}.${mi}.${p + 1}-beta`, p > 0 ? `${M}.${mi}.${p - 1}` : `${M}.${Math.max(mi - 1, 0)}.9`]) {
        if (npmSemver.valid(c)) out.add(c);
      }
    }
  }
  return [...out];
}

describe("semver-range vs npm semver 7.8.6", () => {
  const ranges = [...loadRanges(), ...HAND_RANGES];
  const versions = versionsFrom(ranges);

  for (const includePrerelease of [false, true]) {
    it(`every advisory range × every version agrees (includePrerelease=${includePrerelease})`, () => {
      let checked = 0;
      const disagreements: string[] = [];
      for (const r of ranges) {
        let npmOk = true;
        try {
          new npmSemver.Range(r, { includePrerelease });
        } catch {
          npmOk = false;
        }
        let ours;
        try {
          ours = parseRange(r, { includePrerelease });
        } catch (err) {
          if (npmOk) disagreements.push(`range ${JSON.stringify(r)}: we threw ${(err as Error).message}, npm accepts it`);
          continue;
        }
        if (!npmOk) {
          disagreements.push(`range ${JSON.stringify(r)}: npm rejects it, we accept it`);
          continue;
        }
        for (const v of versions) {
          checked++;
          const want = npmSemver.satisfies(v, r, { includePrerelease });
          const got = ours.test(v);
          if (got !== want) disagreements.push(`${v} in ${JSON.stringify(r)}: npm ${want}, ours ${got}`);
        }
      }
      console.log(`semver-range (includePrerelease=${includePrerelease}): ${ranges.length} ranges × ${versions.length} versions, ${checked - disagreements.length}/${checked} agree`);
      expect(disagreements.slice(0, 40), disagreements.slice(0, 40).join("\n")).toEqual([]);
      expect(checked).toBeGreaterThan(100_000);
    });
  }

  it("rejects invalid ranges with a clear error, as npm does", () => {
    for (const r of BAD_RANGES) {
      expect(() => new npmSemver.Range(r), r).toThrow();
      expect(() => parseRange(r), r).toThrow(/semver-range: invalid range/);
    }
  });

  it("documented examples", () => {
    expect(satisfies("4.17.20", "<=4.17.20")).toBe(true);
    expect(satisfies("4.17.21", "<=4.17.20")).toBe(false);
    expect(satisfies("3.0.1", ">=2.0.0 <2.3.1 || >=3.0.0 <3.0.2")).toBe(true);
    expect(satisfies("2.5.0", ">=2.0.0 <2.3.1 || >=3.0.0 <3.0.2")).toBe(false);
    expect(satisfies("1.2.3-beta.4", ">1.2.3-alpha.0 <1.2.4")).toBe(true);
    expect(satisfies("1.2.3-beta.4", ">1.2.2 <1.3.0")).toBe(false);
    expect(satisfies("1.2.3-beta.4", ">1.2.2 <1.3.0", { includePrerelease: true })).toBe(true);
    expect(satisfies("1.0.0-beta", "*")).toBe(false);
    expect(satisfies("0.0.1", "<0.0.0")).toBe(false);
    expect(satisfies("7.0.0", "")).toBe(true);
    expect(() => satisfies("not-a-version", "*")).toThrow(/invalid version/);
  });
});
