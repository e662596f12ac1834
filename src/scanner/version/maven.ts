/**
 * Maven version ordering, as `org.apache.maven.artifact.versioning.ComparableVersion` of
 * maven-artifact 3.9 (the behaviour checked against 3.9.6 by test/fixtures/version-vectors/maven.tsv).
 *
 * Any string is a version. It is lower-cased and cut into items:
 *   - "." separates items of the same list; "-" starts a nested sub-list for the rest;
 *   - a change between digits and letters also starts a nested sub-list ("1a2" = 1-a-2);
 *   - a string item that comes after other items of its list and is followed by digits or by the
 *     end of the version is pushed into a sub-list of its own, so ".X" means "-X"
 *     ("1.0.rc1" = "1-rc-1", "1.0.final" = "1"), but "1.x.1" keeps x inside the list;
 *   - an empty item ("1..2", "1-") is 0; numbers are compared numerically, of any size;
 *   - a single letter a, b, m directly followed by a digit means alpha, beta, milestone;
 *     ga, final and release mean "" (the release itself), cr means rc.
 * Each list is then normalised: trailing "null" items (0, "", an empty list) are dropped, walking
 * back from the end and looking past non-null sub-lists ("1.0-1" = "1-1", "1.0.0" = "1").
 *
 * Comparison, item by item, a missing item being "null":
 *   - number vs number: numerically; number > string; number > list; number vs null: 0 = null, else >;
 *   - string vs string / null: by qualifier order
 *       alpha < beta < milestone < rc = cr < snapshot < "" = ga = final = release < sp
 *     then unknown qualifiers, after all known ones, in lexical order among themselves;
 *     string < list;
 *   - list vs list: element-wise; list vs null: its first item that differs from null decides.
 *
 * Never throws for a non-empty string (Maven accepts any); an empty or all-blank version throws, as a
 * scanner should not match "" against ranges.
 */
import type { Verdict } from "./util.ts";

export type Item = bigint | string | Item[];

const QUALIFIERS = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
const ALIASES: Record<string, string> = { ga: "", final: "", release: "", cr: "rc" };
const RELEASE_INDEX = String(QUALIFIERS.indexOf(""));

function stringItem(value: string, followedByDigit: boolean): string {
  if (followedByDigit && value.length === 1) {
    if (value === "a") value = "alpha";
    else if (value === "b") value = "beta";
    else if (value === "m") value = "milestone";
  }
  return Object.prototype.hasOwnProperty.call(ALIASES, value) ? ALIASES[value]! : value;
}

function comparableQualifier(q: string): string {
  const i = QUALIFIERS.indexOf(q);
  return i === -1 ? `${QUALIFIERS.length}-${q}` : String(i);
}

const isDigitChar = (c: string) => c >= "0" && c <= "9";

function parseItem(isDigit: boolean, buf: string): Item {
  return isDigit ? BigInt(buf) : stringItem(buf, false);
}

function isNull(item: Item): boolean {
  if (typeof item === "bigint") return item === 0n;
  if (typeof item === "string") return comparableQualifier(item) === RELEASE_INDEX;
  return item.length === 0;
}

function normalize(list: Item[]): void {
  for (const it of list) if (Array.isArray(it)) normalize(it);
  for (let i = list.length - 1; i >= 0; i--) {
    const last = list[i]!;
    if (isNull(last)) list.splice(i, 1);
    else if (!Array.isArray(last)) break;
  }
}

/** The parsed, normalised item list (numbers as bigint, qualifiers as canonical strings, nested arrays). */
export function parse(input: string): Item[] {
  if (input.trim() === "") throw new Error(`maven: invalid version "${input}": empty`);
  const version = input.toLowerCase();
  const root: Item[] = [];
  let list = root;
  let isDigit = false;
  let start = 0;
  const nest = () => {
    const sub: Item[] = [];
    list.push(sub);
    list = sub;
  };
  for (let i = 0; i < version.length; i++) {
    const c = version[i]!;
    if (c === "." || c === "-") {
      list.push(i === start ? 0n : parseItem(isDigit, version.slice(start, i)));
      start = i + 1;
      if (c === "-") nest();
    } else if (isDigitChar(c)) {
      if (!isDigit && i > start) {
        if (list.length > 0) nest();
        list.push(stringItem(version.slice(start, i), true));
        start = i;
        nest();
      }
      isDigit = true;
    } else {
      if (isDigit && i > start) {
        list.push(parseItem(true, version.slice(start, i)));
        start = i;
        nest();
      }
      isDigit = false;
    }
  }
  if (version.length > start) {
    if (!isDigit && list.length > 0) nest();
    list.push(parseItem(isDigit, version.slice(start)));
  }
  normalize(root);
  return root;
}

const sgn = (n: number): Verdict => (n < 0 ? -1 : n > 0 ? 1 : 0);

/** Compare one item with another or with "null" (a missing item). */
function compareItem(a: Item, b: Item | undefined): Verdict {
  if (typeof a === "bigint") {
    if (b === undefined) return a === 0n ? 0 : 1;
    if (typeof b === "bigint") return a < b ? -1 : a > b ? 1 : 0;
    return 1; // number > string, number > list
  }
  if (typeof a === "string") {
    if (b === undefined) return sgn(cmpStr(comparableQualifier(a), RELEASE_INDEX));
    if (typeof b === "string") return sgn(cmpStr(comparableQualifier(a), comparableQualifier(b)));
    return -1; // string < number, string < list
  }
  if (b === undefined) {
    for (const it of a) {
      const r = compareItem(it, undefined);
      if (r !== 0) return r;
    }
    return 0;
  }
  if (typeof b === "bigint") return -1;
  if (typeof b === "string") return 1;
  return compareLists(a, b);
}

function compareLists(a: Item[], b: Item[]): Verdict {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const l = a[i];
    const r = b[i];
    const c = l === undefined ? (r === undefined ? 0 : ((0 - compareItem(r, undefined)) as Verdict)) : compareItem(l, r);
    if (c !== 0) return c;
  }
  return 0;
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compare(a: string, b: string): Verdict {
  return compareLists(parse(a), parse(b));
}

/** Maven's canonical form of a version ("1.0.0-RC1" → "1-rc-1"), as ComparableVersion.getCanonical(). */
export function canonical(input: string): string {
  const render = (list: Item[]): string => {
    let s = "";
    list.forEach((it, i) => {
      if (i > 0) s += Array.isArray(it) ? "-" : ".";
      s += Array.isArray(it) ? render(it) : String(it);
    });
    return s;
  };
  return render(parse(input));
}
