/**
 * RPM version comparison: `[epoch:]version[-release]`, each of version and release compared with
 * the rpmvercmp algorithm (RPM 4.18). Runs of digits and runs of letters are compared in turn,
 * other characters only separate; a numeric run beats an alphabetic one; `~` sorts before
 * anything (including the end), `^` sorts after the end but before any further segment.
 * A missing epoch counts as 0; the release is compared only when both sides have one.
 */
import { compareAscii, compareDigits, type Verdict } from "./util.ts";

export interface RpmVersion {
  epoch: string;
  version: string;
  release: string | undefined;
}

export function parse(input: string): RpmVersion {
  const v = input.trim();
  if (v === "") throw new Error("rpm version: empty version string");
  if (/\s/.test(v)) throw new Error(`rpm version "${input}": contains whitespace`);
  let epoch = "0";
  let rest = v;
  const m = /^([0-9]*):(.*)$/.exec(v);
  if (m) {
    epoch = m[1] === "" ? "0" : m[1]!;
    rest = m[2]!;
  } else if (v.includes(":")) {
    throw new Error(`rpm version "${input}": epoch is not a number`);
  }
  let version = rest;
  let release: string | undefined;
  const dash = rest.lastIndexOf("-");
  if (dash >= 0) {
    version = rest.slice(0, dash);
    release = rest.slice(dash + 1);
  }
  if (version === "") throw new Error(`rpm version "${input}": empty version`);
  return { epoch, version, release };
}

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
const isAlpha = (c: string | undefined) => c !== undefined && ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z"));
const isAlnum = (c: string | undefined) => isDigit(c) || isAlpha(c);

/** rpmvercmp: compare two version (or release) strings. */
export function vercmp(a: string, b: string): Verdict {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  for (;;) {
    while (i < a.length && !isAlnum(a[i]) && a[i] !== "~" && a[i] !== "^") i++;
    while (j < b.length && !isAlnum(b[j]) && b[j] !== "~" && b[j] !== "^") j++;
    const ca = a[i];
    const cb = b[j];
    if (ca === undefined && cb === undefined) return 0;
    if (ca === "~" || cb === "~") {
      if (ca !== "~") return 1;
      if (cb !== "~") return -1;
      i++;
      j++;
      continue;
    }
    if (ca === "^" || cb === "^") {
      if (ca === undefined) return -1;
      if (cb === undefined) return 1;
      if (ca !== "^") return 1;
      if (cb !== "^") return -1;
      i++;
      j++;
      continue;
    }
    if (ca === undefined || cb === undefined) break;
    const numeric = isDigit(ca);
    const cls = numeric ? isDigit : isAlpha;
    const si = i;
    while (i < a.length && cls(a[i])) i++;
    const sj = j;
    while (j < b.length && cls(b[j])) j++;
    const sa = a.slice(si, i);
    const sb = b.slice(sj, j);
    // Segments of different kinds: the numeric one is newer.
    if (sb === "") return numeric ? 1 : -1;
    const c = numeric ? compareDigits(sa, sb) : compareAscii(sa, sb);
    if (c !== 0) return c;
  }
  return i >= a.length && j >= b.length ? 0 : i >= a.length ? -1 : 1;
}

export function compare(a: string, b: string): Verdict {
  const x = parse(a);
  const y = parse(b);
  const e = compareDigits(x.epoch, y.epoch);
  if (e !== 0) return e;
  const v = vercmp(x.version, y.version);
  if (v !== 0) return v;
  if (x.release !== undefined && y.release !== undefined) return vercmp(x.release, y.release);
  return 0;
}
