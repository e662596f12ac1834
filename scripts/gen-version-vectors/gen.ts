// Generates test/fixtures/version-vectors/{go,maven}.tsv: builds version pairs (hand edge cases,
// real versions, pairs of near versions), asks the ecosystem's own tool for each verdict, and
// writes "A<TAB>op<TAB>B" lines. apk.tsv is not generated (no apk-tools offline): see apk-cases.ts.
//
//   npx tsx scripts/gen-version-vectors/gen.ts go      # needs go + golang-golang-x-mod-dev (apt)
//   npx tsx scripts/gen-version-vectors/gen.ts maven   # needs java + a maven-artifact 3.9.x jar
//   npx tsx scripts/gen-version-vectors/gen.ts apk     # writes apk.tsv from the hand-ordered chains
//
// Deterministic: a fixed-seed PRNG picks the random pairs.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { APK_CHAINS, APK_EQUAL, apkRealPlainSorted } from "./apk-cases.ts";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "../..");
const shared = process.env.WHARF_SHARED ?? join(root, "../shared/vulndata");
const outDir = join(root, "test/fixtures/version-vectors");

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Hand pairs + every pair inside each hand group + random pairs of real versions + near pairs. */
function makePairs(hand: string[][], real: string[], nRandom: number, seed: number): Array<[string, string]> {
  const r = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const seen = new Set<string>();
  const out: Array<[string, string]> = [];
  const add = (a: string, b: string) => {
    const k = a < b ? `${a}\t${b}` : `${b}\t${a}`;
    if (a === b && r() < 0.9) return;
    if (seen.has(k)) return;
    seen.add(k);
    out.push(r() < 0.5 ? [a, b] : [b, a]);
  };
  for (const g of hand) for (let i = 0; i < g.length; i++) for (let j = i; j < g.length; j++) add(g[i]!, g[j]!);
  const uniq = [...new Set(real)].sort();
  for (let i = 0; i < nRandom; i++) add(pick(uniq), pick(uniq));
  // near pairs: neighbours in string order share a prefix, the hard cases
  for (let i = 0; i + 1 < uniq.length; i++) if (r() < 0.5) add(uniq[i]!, uniq[i + 1]!);
  return out;
}

function runOracle(cmd: string, args: string[], pairs: Array<[string, string]>, env?: NodeJS.ProcessEnv): string[] {
  const input = pairs.map(([a, b]) => `${a}\t${b}`).join("\n") + "\n";
  const out = execFileSync(cmd, args, { input, env: { ...process.env, ...env }, maxBuffer: 1 << 28, cwd: here });
  return out.toString("utf8").split("\n").filter((l) => l !== "");
}

function write(name: string, header: string[], lines: string[]): void {
  const path = join(outDir, `${name}.tsv`);
  writeFileSync(path, [...header.map((h) => `# ${h}`), ...lines].join("\n") + "\n");
  console.log(`${path}: ${lines.length} pairs`);
}

// ---------------------------------------------------------------- Go
const GO_HAND: string[][] = [
  ["v0", "v0.0.0", "0", "0.0.0", "v0.0", "v0.0.1", "v0.1", "v0.1.0", "v1", "v1.0", "v1.0.0", "1.0.0", "v1.0.0+build", "v1.0.0+incompatible"],
  ["v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta", "v1.0.0-beta.2", "v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.0.0-rc.1+meta"],
  ["v1.2.3-0.20200101000000-abcdefabcdef", "v1.2.3-0.20210101000000-abcdefabcdef", "v1.2.3-pre.0.20200101000000-abcdefabcdef", "v1.2.2", "v1.2.3", "v1.2.2-0.20191231235959-0123456789ab", "v1.2.3-rc.1"],
  ["v0.0.0-20180816102801-aaf60122140d", "v0.0.0-20190101000000-000000000000", "v0.0.0-20210322153248-0c34fe9e7dc2", "v0.0.1", "v0.0.0"],
  ["v2.0.0+incompatible", "v2.1.0+incompatible", "v2.0.0", "v2.0.0-20180101000000-abcdefabcdef+incompatible", "v10.0.0", "v9.99.99"],
  ["v1.2.3-1", "v1.2.3-a", "v1.2.3-1a", "v1.2.3-999", "v1.2.3-A", "v1.2.3-a.b.c", "v1.2.3-a.b", "v1.2.3--", "v1.2.3-0"],
  ["v99999999999999999999.0.0", "v9999999999999999999.0.0", "v1.18446744073709551616.0", "v1.18446744073709551615.0"],
  ["1.21.0-rc.2", "1.21.0", "1.20.7", "1.21.1", "1.19.12", "1.21.0-rc.1"],
];
function goReal(): string[] {
  const out: string[] = [];
  for (const line of readFileSync(join(shared, "osv/golang-vulndb.osv.jsonl"), "utf8").split("\n")) {
    if (!line.trim()) continue;
    const rec = JSON.parse(line) as { affected?: Array<{ ranges?: Array<{ events?: Array<Record<string, string>> }>; versions?: string[] }> };
    for (const a of rec.affected ?? []) {
      for (const rg of a.ranges ?? []) for (const e of rg.events ?? []) for (const v of Object.values(e)) out.push(v);
      for (const v of a.versions ?? []) out.push(v);
    }
  }
  return out;
}

function genGo(): void {
  const real = goReal();
  const pairs = makePairs(GO_HAND, real, 700, 5);
  const env = { GO111MODULE: "off", GOPATH: "/usr/share/gocode", GOCACHE: "/tmp/wharf-gocache", GOFLAGS: "" };
  const lines = runOracle("go", ["run", "govercmp.go"], pairs, env);
  const goVersion = execFileSync("go", ["version"]).toString().trim();
  let xmod = "unknown";
  try {
    xmod = execFileSync("dpkg-query", ["-W", "-f", "${Version}", "golang-golang-x-mod-dev"]).toString().trim();
  } catch {}
  write("go", [
    `verdicts by golang.org/x/mod/semver.Compare (Debian golang-golang-x-mod-dev ${xmod}, ${goVersion}); inputs without "v" given to it with "v" prepended`,
    `inputs: golang/vulndb OSV events (../shared/vulndata/osv/golang-vulndb.osv.jsonl) + hand cases; generated by scripts/gen-version-vectors/gen.ts go`,
  ], lines);
}

// ---------------------------------------------------------------- Maven
const MAVEN_HAND: string[][] = [
  ["1", "1.0", "1.0.0", "1-0", "1.0-0", "1-ga", "1-final", "1.0.RELEASE", "1-release", "1.0.0.Final", "1-GA", "1.0-FINAL", "1-", "1.", "1.0.0.0.0"],
  ["1-alpha", "1-alpha1", "1-alpha-1", "1-a1", "1a1", "1.a1", "1-alpha-2", "1-alpha-10", "1-beta", "1-b1", "1-b2", "1-milestone", "1-m1", "1-M2", "1-rc", "1-rc1", "1-cr1", "1-CR", "1-RC2", "1-snapshot", "1-SNAPSHOT", "1", "1-sp", "1-sp1", "1-SP2", "1-foo", "1-bar", "1-1", "1.1", "1-abc", "1-xyz"],
  ["1.0-alpha-1", "1.0", "1.0-1", "1.0-2", "1.0.0", "1.0-beta-1", "1.0-SNAPSHOT", "1.0-RC1", "1.0-RC1-SNAPSHOT", "1.0.1", "1.0.1-SNAPSHOT", "1.1"],
  ["2.0", "2-1", "2.0.a", "2.0.0.a", "2.0.1", "2.0.1-xyz", "2.0.1-123", "2.0.1-xyz-1", "2.0.1.xyz", "2.0.1.123", "2-xyz"],
  ["1.0.0.X1", "1.0.0-X2", "1.0.X1", "1.0-X", "1.0.x", "1.x.1", "1x", "1.0.0.X", "1.0.RC1", "1.0.rc.1", "1.0-rc-1"],
  ["1a", "1b", "1m", "1c", "1a1", "1b1", "1m1", "1c1", "1-a", "1-b", "1-m"],
  ["2.0.0.v200706041905-7C78EfGlb-1G1g0z0h3", "2.0.0.v200706041906-7C78EfGlb-1G1g0z0h3", "3.8.0.v20120529-1548", "3.8.0.I20120529", "1.0.0.RC1", "1.0.0.M1", "1.0.0.BUILD-SNAPSHOT"],
  ["1.2147483647", "1.2147483648", "1.9223372036854775807", "1.9223372036854775808", "1.123456789012345678901234567890", "1.123456789012345678901234567891", "1.0000000000000000000000001", "1.1", "1.000000001"],
  ["1-1.foo-bar1baz-.1", "1-1.foo-bar-1-baz-0.1", "1.0-alpha-1-SNAPSHOT", "1.0-alpha-1", "1.0-alpha-2-SNAPSHOT", "1.0-SNAPSHOT"],
  ["1.2.3.4.5", "1.2.3.4.5.0", "1.2.3.4.5.0.1", "1.2.3-4-5", "1.2.3.4-5", "1..2", "1.0.2", "1--2", "1-0-2", "1.-2"],
  ["1-sp", "1-sp.1", "1-sp-1", "1-ga-1", "1-final-1", "1-1", "1-1-sp", "1-rc-1", "1-snapshot-1", "1-SP-2"],
  ["11.0.2", "11.0.10", "11.0.2.1", "11.0.2-jre", "11.0.2-android", "31.1-jre", "31.1-android", "32.0.0-jre", "33.0.0-android"],
  ["2.13.4.2", "2.13.4", "2.13.4.1", "2.13.5", "2.14.0-rc1", "2.14.0", "2.9.10.8", "2.9.10", "2.10.0.pr1", "2.10.0"],
  ["0.0.0", "0", "0.0.1", "0.1", "0-alpha", "0-snapshot", "alpha", "snapshot", "a", "ga", "", "0-sp"],
];
function mavenReal(): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 12 || !existsSync(dir)) return;
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (!statSync(p).isDirectory()) {
        if (e.endsWith(".pom")) out.push(dirname(p).split("/").pop()!);
        continue;
      }
      walk(p, depth + 1);
    }
  };
  walk(join(homedir(), ".m2/repository"), 0);
  walk("/usr/share/maven-repo", 0);
  return out.filter((v) => v !== "" && !v.includes("\t"));
}

function findMavenJar(): string {
  const want = process.env.MAVEN_ARTIFACT_JAR ?? join(homedir(), ".m2/repository/org/apache/maven/maven-artifact/3.9.6/maven-artifact-3.9.6.jar");
  if (!existsSync(want)) throw new Error(`maven-artifact jar not found at ${want}; set MAVEN_ARTIFACT_JAR`);
  return want;
}

function genMaven(): void {
  const jar = findMavenJar();
  const real = mavenReal();
  const hand = MAVEN_HAND.map((g) => g.filter((v) => v !== ""));
  const pairs = makePairs(hand, real, 600, 7);
  const lines = runOracle("java", ["-cp", jar, "MavenVercmp.java"], pairs);
  const java = execFileSync("java", ["-version"], { stdio: ["ignore", "pipe", "pipe"] }).toString() || "";
  const jv = (execFileSync("sh", ["-c", "java -version 2>&1 | head -1"]).toString().trim() || java).replace(/"/g, "");
  write("maven", [
    `verdicts by org.apache.maven.artifact.versioning.ComparableVersion.compareTo of ${jar.split("/").pop()} (${jv})`,
    `inputs: versions of the artifacts in the local Maven repositories (~/.m2, /usr/share/maven-repo) + hand cases; generated by scripts/gen-version-vectors/gen.ts maven`,
  ], lines);
}

// ---------------------------------------------------------------- apk
function genApk(): void {
  const lines: string[] = [];
  const seen = new Set<string>();
  const r = rng(11);
  const add = (a: string, op: string, b: string) => {
    const k = `${a}\t${b}`;
    if (seen.has(k) || seen.has(`${b}\t${a}`)) return;
    seen.add(k);
    if (r() < 0.5) lines.push(`${a}\t${op}\t${b}`);
    else lines.push(`${b}\t${op === "<" ? ">" : op === ">" ? "<" : "="}\t${a}`);
  };
  // every pair of a strictly increasing chain is "<" (transitivity of the hand-derived order)
  for (const chain of APK_CHAINS) for (let i = 0; i < chain.length; i++) for (let j = i + 1; j < chain.length; j++) add(chain[i]!, "<", chain[j]!);
  for (const [a, b] of APK_EQUAL) add(a, "=", b);
  // real secdb versions: neighbours in apk order, and random pairs (verdict from the positions)
  const real = apkRealPlainSorted(shared);
  for (let i = 0; i + 1 < real.length; i++) if (r() < 0.4) add(real[i]!, "<", real[i + 1]!);
  for (let n = 0; n < 250; n++) {
    const i = Math.floor(r() * real.length);
    const j = Math.floor(r() * real.length);
    if (i !== j) add(real[Math.min(i, j)]!, "<", real[Math.max(i, j)]!);
  }
  write("apk", [
    "verdicts HAND-DERIVED from reading apk-tools src/version.c (2024 tokenizer: digit{.digit}...{letter}{_suf{#}}...{~hash}{-r#}); NOT produced by apk (apk-tools is not installable here)",
    "inputs: hand-ordered chains in scripts/gen-version-vectors/apk-cases.ts (real versions from Alpine secdb v3.10/v3.11 secfixes + edge cases); every pair of a chain, plus equalities",
  ], lines);
}

const which = process.argv[2];
if (which === "go") genGo();
else if (which === "maven") genMaven();
else if (which === "apk") genApk();
else {
  console.error("usage: gen.ts go|maven|apk");
  process.exit(2);
}
