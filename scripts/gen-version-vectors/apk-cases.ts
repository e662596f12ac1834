// Hand-derived apk version orderings (no apk-tools binary is available offline, see gen.ts apk).
// Each chain is strictly increasing under `apk version -t`; the order of each neighbouring pair
// was worked out by hand from apk-tools src/version.c (token types in the order
// number < .number < letter < _suffix < suffix-number < ~hash < -rN < end; when the types differ,
// a pre-release suffix _alpha/_beta/_pre/_rc is lower, otherwise the version whose next token type
// comes first is higher; `.numbers` with a leading zero compare as strings). gen.ts writes every
// pair of a chain (transitivity), plus the equalities below.
import { readFileSync } from "node:fs";

export const APK_CHAINS: string[][] = [
  // around one release: pre-release suffixes < release < -r < ~hash < post suffixes < letter < .number
  [
    "0.9", "0.10", "1_alpha", "1_rc1", "1", "1-r1", "1~ab", "1_p1", "1a", "1.0_alpha", "1.0_alpha1", "1.0_alpha2",
    "1.0_alpha10", "1.0_beta", "1.0_beta1", "1.0_pre1", "1.0_rc", "1.0_rc1", "1.0_rc1-r1", "1.0_rc2", "1.0", "1.0-r0",
    "1.0-r1", "1.0-r10", "1.0~abc", "1.0~abc-r0", "1.0~abc-r1", "1.0~abd", "1.0~b", "1.0_cvs", "1.0_cvs1", "1.0_svn",
    "1.0_git", "1.0_git20200101", "1.0_hg", "1.0_p", "1.0_p1", "1.0_p2", "1.0_p10", "1.0a", "1.0a-r1", "1.0a_p1",
    "1.0b", "1.0z", "1.0.0", "1.0.0.0", "1.0.1", "1.01", "1.1", "1.2", "1.10", "2", "2.0",
  ],
  // chained suffixes (a post suffix right after a suffix is higher than a suffix number: _alpha_p > _alpha2)
  ["1.2_alpha_alpha", "1.2_alpha", "1.2_alpha1_beta", "1.2_alpha1", "1.2_alpha1_p1", "1.2_alpha2", "1.2_alpha_p", "1.2_beta_rc", "1.2_beta", "1.2"],
  // openssl-style letters (real secfixes versions)
  ["1.1.0j-r0", "1.1.1", "1.1.1-r0", "1.1.1a-r0", "1.1.1b-r1", "1.1.1d-r0", "1.1.1d-r1", "1.1.1d-r3", "1.1.1g-r0", "1.1.1.1", "1.10a-r1", "1.10a-r2"],
  // leading zeros: the first number is numeric, later ones with a leading zero compare as strings
  ["17.99", "18", "18.0", "18.00", "18.000", "18.01", "18.06.1", "18.09.7", "18.09.8", "18.09.10", "18.9", "18.10", "19.03.1", "19.3"],
  ["1.0.9", "1.01", "1.010", "1.02", "1.1", "1.9", "1.10"],
  // bind / openssh / ncurses (real secfixes versions)
  ["9.10.4_p5-r0", "9.11.0_p5-r0", "9.11.2_p1-r0", "9.12.1_p2-r0", "9.12.2_p1-r0", "9.12.3", "9.12.3-r0", "9.12.3_p4-r0", "9.12.3_p4-r1", "9.12.3_p5", "9.12.3a", "9.12.3.1"],
  ["7.4_p1-r0", "7.5_p1-r8", "7.7_p1-r4", "7.9_p1-r3", "8.1_p1-r0", "8.1_p1-r1"],
  ["6.0_p20170701-r0", "6.0_p20171125-r0", "6.1_p20180414-r0", "6.1_p20190518-r0", "6.1_p20190518-r1", "6.2"],
  ["0.5_alpha-r1", "0.7.1_alpha-r0", "0.8_alpha-r0", "0.15.1b-r9", "0.99_beta19-r3", "0.99_beta20", "0.99_rc1", "0.99", "0.99-r1", "1.0.0_rc7", "1.0.0_rc9", "1.0.0", "1.6_rc1-r0", "1.8.20_p2-r0", "2.0.0_rc4-r0", "2.0.0-r0"],
  // commit hashes: compared as strings, a prefix first
  ["2.1~0", "2.1~00", "2.1~01", "2.1~1", "2.1~10", "2.1~9", "2.1~a", "2.1~a0", "2.1~ab", "2.1~f", "2.1~f-r1", "2.1_git"],
  // big numbers
  ["1.4294967295", "1.4294967296", "1.18446744073709551615", "1.99999999999999999999", "4294967296", "18446744073709551615"],
  // revisions
  ["3.2-r0", "3.2-r1", "3.2-r2", "3.2-r9", "3.2-r10", "3.2-r100", "3.2a-r0", "3.2.0-r0"],
];

export const APK_EQUAL: Array<[string, string]> = [
  ["1.0", "1.0"], ["018.1", "18.1"], ["0.1", "00.1"], ["1.0-r0", "1.0-r00"], ["1.0_p01", "1.0_p1"], ["1.0_rc1", "1.0_rc01"],
  ["1.10a-r1", "1.10a-r01"], ["2.1~ab", "2.1~ab"], ["1.0.0", "1.0.0"], ["001", "1"],
];

/**
 * Real versions from the Alpine secdb (v3.10, v3.11 secfixes) of the plain form N(.N)*-rN without
 * leading zeros, in apk order. For that form the apk order is simply: the numbers as a tuple (a
 * prefix lower: "1.2-r9" < "1.2.0-r0"), then the revision.
 */
export function apkRealPlainSorted(sharedVulndata: string): string[] {
  const vs = new Set<string>();
  for (const f of ["v3.10/main.json", "v3.10/community.json", "v3.11/main.json", "v3.11/community.json"]) {
    const db = JSON.parse(readFileSync(`${sharedVulndata}/alpine/${f}`, "utf8")) as { packages: Array<{ pkg: { secfixes?: Record<string, string[]> } }> };
    for (const p of db.packages) for (const v of Object.keys(p.pkg.secfixes ?? {})) vs.add(v);
  }
  const plain = [...vs].filter((v) => /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*-r(0|[1-9][0-9]*)$/.test(v));
  const key = (v: string) => {
    const [main, rev] = v.split("-r");
    return { nums: main!.split(".").map(Number), rev: Number(rev) };
  };
  return plain.sort((a, b) => {
    const x = key(a);
    const y = key(b);
    for (let i = 0; i < Math.min(x.nums.length, y.nums.length); i++) if (x.nums[i] !== y.nums[i]) return x.nums[i]! - y.nums[i]!;
    if (x.nums.length !== y.nums.length) return x.nums.length - y.nums.length;
    return x.rev - y.rev;
  });
}
