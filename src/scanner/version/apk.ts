/**
 * Alpine apk version ordering, as `apk version -t A B` of current apk-tools (the tokenizer
 * rewritten in 2024, shipped in apk-tools 2.14.x / 3.x). Grammar:
 *
 *     digit{.digit}...{letter}{_suffix{number}}...{~hash}{-r number}
 *
 * A version is a sequence of typed tokens, in this order of types:
 *   initial number < .number < letter < _suffix < suffix number < ~hash < -rN < end
 * Two versions are compared token by token while both tokens have the same type:
 *   - the first number numerically; later `.numbers` numerically, unless either has a leading
 *     zero, then as strings (byte order, a prefix first: "1.01" < "1.1", "1.0" < "1.00");
 *   - a letter by its character; a suffix by its rank:
 *       _alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p;
 *   - suffix numbers and `-rN` numerically; a `~hash` as a string.
 * When the types differ, the version whose next token is a pre-release suffix (_alpha … _rc) is
 * lower; otherwise the version whose next token comes earlier in the type order above is higher
 * ("1.2.1" > "1.2a" > "1.2", "1.2-r1" > "1.2", "1.2~ab" > "1.2", "1.2" > "1.2_rc1").
 *
 * Unlike apk, which compares invalid versions as far as it can, this module throws on a version
 * that apk's own validation (`apk_version_validate`) would reject: a letter after a letter or
 * suffix, a digit right after a letter ("1.2a3"), an unknown suffix, "-" not followed by "r", an
 * empty number, upper-case letters, non-ASCII. Numbers are compared exactly (apk uses uint64 and
 * would wrap past 2^64).
 */
import { compareAscii, compareDigits, type Verdict } from "./util.ts";

export const enum Tok {
  InitialDigit = 0,
  Digit = 1,
  Letter = 2,
  Suffix = 3,
  SuffixNo = 4,
  CommitHash = 5,
  RevisionNo = 6,
  End = 7,
}

export interface Token {
  type: Tok;
  /** the token's text (digits, the letter, the suffix name, the hash) */
  value: string;
  /** suffix rank, 0 = alpha … 3 = rc, 4 = none, 5 = cvs … 9 = p */
  rank?: number;
}

const SUFFIXES = ["alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p"];
const NO_SUFFIX = 4;

/** Split a version into apk's tokens (without the terminating End); throws when apk would call it invalid. */
export function parse(input: string): Token[] {
  const bad = (why: string): never => {
    throw new Error(`apk: invalid version "${input}": ${why}`);
  };
  if (input === "") bad("empty");
  const s = input;
  let i = 0;
  const digits = (): string => {
    const start = i;
    while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
    return s.slice(start, i);
  };
  const out: Token[] = [];
  const first = digits();
  if (first === "") bad("must start with a digit");
  out.push({ type: Tok.InitialDigit, value: first });
  let prev: Tok = Tok.InitialDigit;
  while (i < s.length) {
    const c = s[i]!;
    let tok: Token;
    if (c >= "a" && c <= "z") {
      if (prev > Tok.Digit) bad(`letter "${c}" not allowed after ${describe(prev)}`);
      tok = { type: Tok.Letter, value: c };
      i++;
    } else if (c === "." || (c >= "0" && c <= "9")) {
      // a digit directly after a digit run cannot happen; after a letter, apk calls it invalid
      if (prev === Tok.Suffix && c !== ".") {
        tok = { type: Tok.SuffixNo, value: digits() };
      } else {
        if (prev > Tok.Digit) bad(`"${c}" not allowed after ${describe(prev)}`);
        if (c === ".") i++;
        tok = { type: Tok.Digit, value: digits() };
        if (tok.value === "") bad(`"." must be followed by a number`);
      }
    } else if (c === "_") {
      if (prev > Tok.SuffixNo) bad(`suffix not allowed after ${describe(prev)}`);
      i++;
      const start = i;
      while (i < s.length && s[i]! >= "a" && s[i]! <= "z") i++;
      const name = s.slice(start, i);
      const rank = name === "" ? -1 : SUFFIXES.indexOf(name);
      if (rank < 0 || rank === NO_SUFFIX) bad(`unknown suffix "_${name}"`);
      tok = { type: Tok.Suffix, value: name, rank };
    } else if (c === "~") {
      if (prev >= Tok.CommitHash) bad(`"~" not allowed after ${describe(prev)}`);
      i++;
      const start = i;
      while (i < s.length && /[0-9a-f]/.test(s[i]!)) i++;
      tok = { type: Tok.CommitHash, value: s.slice(start, i) };
      if (tok.value === "") bad(`"~" must be followed by a lower-case hex commit hash`);
    } else if (c === "-") {
      if (prev >= Tok.RevisionNo) bad(`"-" not allowed after ${describe(prev)}`);
      if (s[i + 1] !== "r") bad(`"-" must be followed by "r" and the revision number`);
      i += 2;
      tok = { type: Tok.RevisionNo, value: digits() };
      if (tok.value === "") bad(`"-r" must be followed by a number`);
    } else {
      bad(`unexpected character "${c}"`);
    }
    out.push(tok!);
    prev = tok!.type;
  }
  return out;
}

function describe(t: Tok): string {
  return ["the first number", "a number", "a letter", "a suffix", "a suffix number", "a commit hash", "the revision", "the end"][t]!;
}

function compareToken(a: Token, b: Token): Verdict {
  switch (a.type) {
    case Tok.Digit:
      if (a.value[0] === "0" || b.value[0] === "0") return compareAscii(a.value, b.value);
      return compareDigits(a.value, b.value);
    case Tok.InitialDigit:
    case Tok.SuffixNo:
    case Tok.RevisionNo:
      return compareDigits(a.value, b.value);
    case Tok.Suffix:
      return a.rank! < b.rank! ? -1 : a.rank! > b.rank! ? 1 : 0;
    default: // letter, commit hash: byte order, a prefix first
      return compareAscii(a.value, b.value);
  }
}

const END: Token = { type: Tok.End, value: "" };

export function compare(a: string, b: string): Verdict {
  const x = parse(a);
  const y = parse(b);
  let i = 0;
  for (; ; i++) {
    const p = x[i] ?? END;
    const q = y[i] ?? END;
    if (p.type !== q.type) {
      if (p.type === Tok.Suffix && p.rank! < NO_SUFFIX) return -1;
      if (q.type === Tok.Suffix && q.rank! < NO_SUFFIX) return 1;
      return p.type > q.type ? -1 : 1;
    }
    if (p.type === Tok.End) return 0;
    const c = compareToken(p, q);
    if (c !== 0) return c;
  }
}
