import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as apk from "./apk.ts";
import * as dpkg from "./dpkg.ts";
import * as go from "./go.ts";
import * as maven from "./maven.ts";
import * as pep440 from "./pep440.ts";
import * as rpm from "./rpm.ts";
import * as semver from "./semver.ts";

type Compare = (a: string, b: string) => -1 | 0 | 1;
const ecosystems: Record<string, Compare> = {
  dpkg: dpkg.compare,
  rpm: rpm.compare,
  semver: semver.compare,
  pep440: pep440.compare,
  apk: apk.compare,
  go: go.compare,
  maven: maven.compare,
};
const verdict: Record<string, -1 | 0 | 1> = { "<": -1, "=": 0, ">": 1 };
const op = (n: number) => (n < 0 ? "<" : n > 0 ? ">" : "=");

function loadVectors(name: string): Array<{ line: number; a: string; op: string; b: string }> {
  const path = fileURLToPath(new URL(`../../../test/fixtures/version-vectors/${name}.tsv`, import.meta.url));
  const out: Array<{ line: number; a: string; op: string; b: string }> = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((text, i) => {
      if (text.trim() === "" || text.startsWith("#")) return;
      const parts = text.split("\t");
      if (parts.length !== 3 || !(parts[1]! in verdict)) throw new Error(`${name}.tsv:${i + 1}: malformed line ${JSON.stringify(text)}`);
      out.push({ line: i + 1, a: parts[0]!, op: parts[1]!, b: parts[2]! });
    });
  return out;
}

describe("version comparison vectors (verdicts from each ecosystem's own tool)", () => {
  for (const [name, compare] of Object.entries(ecosystems)) {
    it(`${name}: every pair agrees, both ways`, () => {
      const vectors = loadVectors(name);
      expect(vectors.length).toBeGreaterThan(100);
      const mismatches: string[] = [];
      let passed = 0;
      for (const v of vectors) {
        const want = verdict[v.op]!;
        let ok = true;
        try {
          const got = compare(v.a, v.b);
          const back = compare(v.b, v.a);
          if (got !== want) {
            ok = false;
            mismatches.push(`${name}.tsv:${v.line}: ${v.a} ${v.op} ${v.b}, got ${op(got)}`);
          }
          if (back !== -want) {
            ok = false;
            mismatches.push(`${name}.tsv:${v.line}: reversed ${v.b} ${op(-want)} ${v.a}, got ${op(back)}`);
          }
        } catch (err) {
          ok = false;
          mismatches.push(`${name}.tsv:${v.line}: ${v.a} ${v.op} ${v.b} threw ${(err as Error).message}`);
        }
        if (ok) passed++;
      }
      console.log(`${name}: ${passed}/${vectors.length} pairs passed`);
      expect(mismatches, mismatches.join("\n")).toEqual([]);
    });
  }
});

function check(compare: Compare, cases: Array<[string, string, string]>): void {
  for (const [a, o, b] of cases) {
    expect(op(compare(a, b)), `${a} ${o} ${b}`).toBe(o);
    expect(op(compare(b, a)), `${b} vs ${a}`).toBe(op(-verdict[o]!));
  }
}

describe("hand cases", () => {
  it("dpkg", () => {
    check(dpkg.compare, [
      ["1.0~rc1", "<", "1.0"],
      ["1.0~~", "<", "1.0~"],
      ["1.0~", "<", "1.0"],
      ["1.0", "<", "1.0a"],
      ["1.0a", "<", "1.0+"],
      ["1.0", "<", "1.0+b1"],
      ["1:0.1", ">", "9.9"],
      ["0:1.0", "=", "1.0"],
      ["1.0-1", "=", "1.0-1"],
      ["1.0-0", "=", "1.0"],
      ["1.01", "=", "1.1"],
      ["1.0-1~bpo1", "<", "1.0-1"],
      ["2.36-9+deb12u4", ">", "2.36-9+deb12u1"], ["2.36-9+deb12u10", ">", "2.36-9+deb12u9"],
      ["1.2-3-4", ">", "1.2-3"],
      ["00000000000000000000001", "<", "100000000000000000000000000"],
    ]);
    expect(() => dpkg.compare("", "1")).toThrow(/empty/);
    expect(() => dpkg.compare("a1.0", "1")).toThrow(/start with a digit/);
    expect(() => dpkg.compare("x:1.0", "1")).toThrow(/epoch/);
    expect(() => dpkg.compare("1.0-", "1")).toThrow(/revision/);
    expect(() => dpkg.compare("1.0 2", "1")).toThrow();
  });

  it("rpm", () => {
    check(rpm.compare, [
      ["1.0~rc1-1", "<", "1.0-1"],
      ["1.0^git1-1", ">", "1.0-1"],
      ["1.0^git1-1", "<", "1.0.1-1"],
      ["1.0~rc1", "<", "1.0^git1"],
      ["1:1.0-1", ">", "0.9-1"],
      ["0:1.0-1", "=", "1.0-1"],
      ["1.0-1.el8_10", ">", "1.0-1.el8_4"],
      ["1.0a", "<", "1.0.1"],
      ["1.0", "=", "1.0-5"],
      ["1_0", "=", "1.0"],
      ["2.0", ">", "2.a"],
      ["1.010", "=", "1.10"],
    ]);
    expect(() => rpm.compare("", "1")).toThrow(/empty/);
    expect(() => rpm.compare("x:1", "1")).toThrow(/epoch/);
  });

  it("semver", () => {
    check(semver.compare, [
      ["1.0.0-alpha", "<", "1.0.0-alpha.1"],
      ["1.0.0-alpha.1", "<", "1.0.0-alpha.beta"],
      ["1.0.0-alpha.beta", "<", "1.0.0-beta"],
      ["1.0.0-beta.2", "<", "1.0.0-beta.11"],
      ["1.0.0-beta.11", "<", "1.0.0-rc.1"],
      ["1.0.0-rc.1", "<", "1.0.0"],
      ["1.0.0+build.1", "=", "1.0.0+build.2"],
      ["v1.2.3", "=", "1.2.3"],
      ["1.2.3-1a", ">", "1.2.3-999"],
      ["1.2.3-A", "<", "1.2.3-a"],
      ["99999999999999999999.0.0", ">", "9999999999999999999.0.0"],
    ]);
    for (const bad of ["1.2", "01.2.3", "1.2.3-01", "1.2.3-", "1.2.3+", "a.b.c", ""]) {
      expect(() => semver.compare(bad, "1.0.0"), bad).toThrow(/invalid version/);
    }
  });

  it("pep440", () => {
    check(pep440.compare, [
      ["1.0.dev0", "<", "1.0a1"],
      ["1.0a1", "<", "1.0b1"],
      ["1.0b1", "<", "1.0rc1"],
      ["1.0rc1", "=", "1.0c1"],
      ["1.0RC1", "=", "1.0-pre1"],
      ["1.0-alpha-2", "=", "1.0a2"],
      ["1.0a1.dev1", "<", "1.0a1"],
      ["1.0", "<", "1.0.post0"],
      ["1.0.post1.dev1", "<", "1.0.post1"],
      ["1.0-1", "=", "1.0.post1"],
      ["1.0rev", "=", "1.0.post0"],
      ["1.0", "=", "1.0.0"],
      ["v1.0", "=", "1.0"],
      ["1!0.1", ">", "99.0"],
      ["1.0", "<", "1.0+local"],
      ["1.0+abc", "<", "1.0+1"],
      ["1.0+ubuntu-1", "=", "1.0+ubuntu.1"],
      ["1.0+abc.1", "<", "1.0+abc.1.0"],
      ["1.0.post1", "<", "1.1.dev0"],
      ["1.0a", "=", "1.0a0"],
    ]);
    for (const bad of ["", "1.0-foo", "abc", "1.0+", "1..0"]) {
      expect(() => pep440.compare(bad, "1.0"), bad).toThrow(/invalid version/);
    }
  });
});

describe("hand cases (apk, go, maven)", () => {
  it("apk", () => {
    check(apk.compare, [
      ["1.0_rc1", "<", "1.0"],
      ["1.0", "<", "1.0-r0"],
      ["1.0_p1", ">", "1.0-r5"],
      ["1.0a", ">", "1.0_p9"],
      ["1.0a", "<", "1.0.1"],
      ["1.0~abc", ">", "1.0-r9"],
      ["18.09.8", "<", "18.9.8"],
      ["01.2", "=", "1.2"],
      ["1.2.3-r10", ">", "1.2.3-r9"],
    ]);
    for (const bad of ["", "a1", "1.", "1-1", "1.0-r", "1_foo", "6.6.2p1-r0", "4.8.0.-r1", "1.0A", "1.0~", "1.0~ABC", "1.0-r1-r2", "1.0 "]) {
      expect(() => apk.compare(bad, "1.0"), bad).toThrow(/apk: invalid version/);
    }
  });

  it("go", () => {
    check(go.compare, [
      ["1.2.3", "=", "v1.2.3"],
      ["0", "=", "v0.0.0"],
      ["v1.2", "=", "v1.2.0"],
      ["v1.2.3+incompatible", "=", "v1.2.3"],
      ["v1.2.4-0.20200101000000-abcdefabcdef", "<", "v1.2.4"],
      ["v1.2.4-0.20200101000000-abcdefabcdef", ">", "v1.2.3"],
      ["v0.0.0-20200101000000-abcdefabcdef", "<", "v0.0.0-20210101000000-abcdefabcdef"],
    ]);
    for (const bad of ["", "v", "x1.2.3", "v1.2.3.4", "v01.2.3", "v1.2-pre", "v1.2.3-01", "v1.2.3-", "v1.2.3+", "1.2.3 "]) {
      expect(() => go.compare(bad, "v1.0.0"), bad).toThrow(/go: invalid version/);
    }
  });

  it("maven", () => {
    check(maven.compare, [
      ["1.0", "=", "1"],
      ["1.0.RELEASE", "=", "1-final"],
      ["1-cr1", "=", "1-rc1"],
      ["1-alpha1", "=", "1-a1"],
      ["1-SNAPSHOT", "<", "1"],
      ["1-sp1", ">", "1"],
      ["1-foo", ">", "1-sp"],
      ["1.0-1", "=", "1-1"],
      ["1.0.0.X1", "<", "1.0.0-X2"],
      ["1-1", ">", "1-sp"],
      ["2.13.4.2", ">", "2.13.4"],
    ]);
    expect(maven.canonical("1.0.0-RC1")).toBe("1-rc-1");
    expect(() => maven.compare("", "1")).toThrow(/maven: invalid version/);
  });
});
