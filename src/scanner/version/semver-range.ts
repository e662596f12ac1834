/**
 * npm range matching, as `semver.satisfies(version, range)` of npm semver 7 (non-loose): the syntax
 * npm advisories use.
 *
 *   range      := set ( "||" set )*            a version matches when it matches any set
 *   set        := hyphen | simple ( " " simple )*   all of a set's comparators must match
 *   hyphen     := partial " - " partial        "1.2.3 - 2.3.4" = ">=1.2.3 <=2.3.4"
 *   simple     := ("<" | "<=" | ">" | ">=" | "=" | "~" | "~>" | "^")? partial
 *   partial    := "v"? (N | x | X | *) ( "." (N | x | X | *) ( "." (N | x | X | *) pre? build? )? )?
 *
 * Desugaring: "1.x", "1" = ">=1.0.0 <2.0.0-0"; "*", "x", "" = any; "~1.2.3" = ">=1.2.3 <1.3.0-0";
 * "~1" = ">=1.0.0 <2.0.0-0"; "^1.2.3" = ">=1.2.3 <2.0.0-0"; "^0.2.3" = ">=0.2.3 <0.3.0-0";
 * "^0.0.3" = ">=0.0.3 <0.0.4-0"; ">1.2" = ">=1.3.0"; "<=1.2" = "<1.3.0-0"; "<1.2" = "<1.2.0-0";
 * "<*" / ">*" match nothing. Build metadata in a range is ignored.
 *
 * Pre-releases: a version with a pre-release tag matches a set only if, besides satisfying every
 * comparator, one of the set's comparators has a pre-release on the same MAJOR.MINOR.PATCH
 * ("1.2.3-beta.4" satisfies ">1.2.3-alpha.0 <1.2.4" but not ">1.2.2 <1.3.0", nor "*").
 * `includePrerelease: true` drops that rule and lets lower bounds start at the lowest
 * pre-release ("^1.2" then includes "1.2.0-rc.1").
 *
 * An invalid range throws Error("semver-range: invalid range ..."); an invalid version throws too
 * (npm's satisfies would return false — a scanner must not silently treat it as unaffected).
 */
import { compare, parse } from "./semver.ts";

export interface RangeOptions {
  includePrerelease?: boolean;
}

type Op = "" | "<" | "<=" | ">" | ">=";
/** a primitive comparator; `version` undefined = matches any version */
interface Comparator {
  op: Op;
  version?: string;
  /** parsed version parts, when `version` is set */
  tuple?: [string, string, string];
  pre?: boolean;
}

const NUM = "0|[1-9][0-9]*";
const XID = `${NUM}|x|X|\\*`;
const PRE_ID = `(?:${NUM}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)`;
const PRE = `(?:-(${PRE_ID}(?:\\.${PRE_ID})*))`;
const BUILD = `(?:\\+([0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*))`;
/** a partial version, "[v=\s]*" prefix allowed as npm does; groups: major, minor, patch, pre, build */
const PARTIAL = `[v=\\s]*(${XID})(?:\\.(${XID})(?:\\.(${XID})(?:${PRE})?${BUILD}?)?)?`;
const HYPHEN_RE = new RegExp(`^\\s*(${PARTIAL})\\s+-\\s+(${PARTIAL})\\s*$`);
const OP_SPACE_RE = new RegExp(`(\\s*)((?:<|>)?=?)\\s*(~>?|${PARTIAL})`, "g");
const TILDE_SPACE_RE = /(\s*)~>?\s+/g;
const CARET_SPACE_RE = /(\s*)\^\s+/g;
const TILDE_RE = new RegExp(`^~>?${PARTIAL}$`);
const CARET_RE = new RegExp(`^\\^${PARTIAL}$`);
const XRANGE_RE = new RegExp(`^((?:<|>)?=?)\\s*${PARTIAL}$`);
const FULL_RE = new RegExp(`^((?:<|>)?=?)\\s*(v?(?:${NUM})\\.(?:${NUM})\\.(?:${NUM})${PRE}?${BUILD}?)$`);
const BUILD_STRIP_RE = new RegExp(BUILD);

const isX = (id: string | undefined) => !id || id === "x" || id === "X" || id === "*";
const inc = (n: string) => (BigInt(n) + 1n).toString();

/** A parsed range: an OR of ANDs of primitive comparators. */
export class Range {
  readonly raw: string;
  readonly sets: Comparator[][];
  readonly includePrerelease: boolean;

  constructor(range: string, options: RangeOptions = {}) {
    this.includePrerelease = options.includePrerelease === true;
    this.raw = range.trim().split(/\s+/).join(" ");
    let sets = this.raw.split("||").map((s) => this.parseSet(s.trim(), range));
    if (sets.length > 1) {
      const first = sets[0]!;
      sets = sets.filter((s) => !isNullSet(s));
      if (sets.length === 0) sets = [first];
      else {
        const any = sets.find((s) => s.length === 1 && s[0]!.version === undefined);
        if (any && sets.length > 1) sets = [any];
      }
    }
    this.sets = sets;
  }

  private parseSet(set: string, original: string): Comparator[] {
    const z = this.includePrerelease ? "-0" : "";
    const h = HYPHEN_RE.exec(set);
    if (h) set = this.hyphen(h, z);
    set = set.replace(OP_SPACE_RE, "$1$2$3").replace(TILDE_SPACE_RE, "$1~").replace(CARET_SPACE_RE, "$1^");
    const parts = set
      .split(" ")
      .map((c) => this.desugar(c, z))
      .join(" ")
      .split(/\s+/)
      .map((c) => (c === (this.includePrerelease ? ">=0.0.0-0" : ">=0.0.0") ? "" : c));
    const out = new Map<string, Comparator>();
    for (const p of parts) {
      const c = comparator(p, original);
      if (c.op === "<" && c.version === "0.0.0-0") return [c];
      out.set(p, c);
    }
    if (out.size > 1) out.delete("");
    return [...out.values()];
  }

  private hyphen(m: RegExpExecArray, z: string): string {
    let from = m[1]!;
    const [fM, fm, fp, fpr] = [m[2], m[3], m[4], m[5]];
    let to = m[7]!;
    const [tM, tm, tp, tpr] = [m[8], m[9], m[10], m[11]];
    if (isX(fM)) from = "";
    else if (isX(fm)) from = `>=${fM}.0.0${z}`;
    else if (isX(fp)) from = `>=${fM}.${fm}.0${z}`;
    else if (fpr) from = `>=${from}`;
    else from = `>=${from}${z}`;
    if (isX(tM)) to = "";
    else if (isX(tm)) to = `<${inc(tM!)}.0.0-0`;
    else if (isX(tp)) to = `<${tM}.${inc(tm!)}.0-0`;
    else if (tpr) to = `<=${tM}.${tm}.${tp}-${tpr}`;
    else if (z) to = `<${tM}.${tm}.${inc(tp!)}-0`;
    else to = `<=${to}`;
    return `${from} ${to}`.trim();
  }

  /** One written comparator ("^1.2", "~1", ">=1.x", "*") → primitive comparators, space-separated. */
  private desugar(comp: string, z: string): string {
    comp = comp.replace(BUILD_STRIP_RE, "").trim();
    let m = CARET_RE.exec(comp);
    if (m) {
      const [, M, mi, p, pr] = m;
      if (isX(M)) comp = "";
      else if (isX(mi)) comp = `>=${M}.0.0${z} <${inc(M!)}.0.0-0`;
      else if (isX(p)) comp = M === "0" ? `>=${M}.${mi}.0${z} <${M}.${inc(mi!)}.0-0` : `>=${M}.${mi}.0${z} <${inc(M!)}.0.0-0`;
      else {
        // a full version keeps its own lower bound, even with includePrerelease (as npm)
        const lo = pr ? `>=${M}.${mi}.${p}-${pr}` : `>=${M}.${mi}.${p}`;
        const hi = M === "0" ? (mi === "0" ? `<${M}.${mi}.${inc(p!)}-0` : `<${M}.${inc(mi!)}.0-0`) : `<${inc(M!)}.0.0-0`;
        comp = `${lo} ${hi}`;
      }
    }
    m = TILDE_RE.exec(comp);
    if (m) {
      const [, M, mi, p, pr] = m;
      if (isX(M)) comp = "";
      else if (isX(mi)) comp = `>=${M}.0.0${z} <${inc(M!)}.0.0-0`;
      else if (isX(p)) comp = `>=${M}.${mi}.0${z} <${M}.${inc(mi!)}.0-0`;
      else if (pr) comp = `>=${M}.${mi}.${p}-${pr} <${M}.${inc(mi!)}.0-0`;
      else comp = `>=${M}.${mi}.${p} <${M}.${inc(mi!)}.0-0`;
    }
    comp = comp
      .split(/\s+/)
      .map((c) => xrange(c, z))
      .join(" ");
    // npm then drops the first "*" left (with the operator before it): a lone "*", ">=*"
    return comp.trim().replace(/(?:<|>)?=?\s*\*/, "");
  }

  /** Does `version` satisfy the range? Throws on an invalid version. */
  test(version: string): boolean {
    const v = parse(version);
    const pre = v.prerelease.length > 0;
    return this.sets.some((set) => {
      for (const c of set) if (!testComparator(c, version)) return false;
      if (pre && !this.includePrerelease) {
        return set.some((c) => c.pre === true && c.tuple![0] === v.major && c.tuple![1] === v.minor && c.tuple![2] === v.patch);
      }
      return true;
    });
  }
}

function xrange(comp: string, z: string): string {
  const m = XRANGE_RE.exec(comp.trim());
  if (!m) return comp;
  let [, op, M, mi, p] = m as unknown as [string, string, string | undefined, string | undefined, string | undefined];
  const xM = isX(M);
  const xm = xM || isX(mi);
  const xp = xm || isX(p);
  if (op === "=" && xp) op = "";
  let pr = z;
  if (xM) return op === ">" || op === "<" ? "<0.0.0-0" : "*";
  if (op && xp) {
    if (xm) mi = "0";
    p = "0";
    if (op === ">") {
      op = ">=";
      if (xm) {
        M = inc(M!);
        mi = "0";
      } else mi = inc(mi!);
    } else if (op === "<=") {
      op = "<";
      if (xm) M = inc(M!);
      else mi = inc(mi!);
    }
    if (op === "<") pr = "-0";
    return `${op}${M}.${mi}.${p}${pr}`;
  }
  if (xm) return `>=${M}.0.0${pr} <${inc(M!)}.0.0-0`;
  if (xp) return `>=${M}.${mi}.0${pr} <${M}.${inc(mi!)}.0-0`;
  return comp;
}

function comparator(text: string, original: string): Comparator {
  if (text === "") return { op: "" };
  const m = FULL_RE.exec(text);
  if (!m) throw new Error(`semver-range: invalid range "${original}": bad comparator "${text}"`);
  const op = (m[1] === "=" ? "" : m[1]) as Op;
  const v = parse(m[2]!);
  return { op, version: m[2]!, tuple: [v.major, v.minor, v.patch], pre: v.prerelease.length > 0 };
}

function isNullSet(set: Comparator[]): boolean {
  return set.length === 1 && set[0]!.op === "<" && set[0]!.version === "0.0.0-0";
}

function testComparator(c: Comparator, version: string): boolean {
  if (c.version === undefined) return true;
  const r = compare(version, c.version);
  switch (c.op) {
    case "":
      return r === 0;
    case "<":
      return r < 0;
    case "<=":
      return r <= 0;
    case ">":
      return r > 0;
    case ">=":
      return r >= 0;
  }
}

/** Parse a range once to test many versions (throws Error on an invalid range). */
export function parseRange(range: string, options: RangeOptions = {}): Range {
  return new Range(range, options);
}

export function satisfies(version: string, range: string, options: RangeOptions = {}): boolean {
  return new Range(range, options).test(version);
}
