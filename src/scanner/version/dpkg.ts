/**
 * Debian package version comparison (Debian Policy §5.6.12, as `dpkg --compare-versions`).
 * A version is `[epoch:]upstream[-revision]`; epoch is numeric, the revision is whatever follows
 * the last hyphen. Strings are compared by alternating non-digit and digit runs: in the non-digit
 * run `~` sorts before everything (even the end of the string), then letters, then other
 * characters; digit runs are compared numerically.
 */
import { compareDigits, type Verdict } from "./util.ts";

export interface DebianVersion {
  epoch: string;
  upstream: string;
  revision: string;
}

export function parse(input: string): DebianVersion {
  const v = input.trim();
  if (v === "") throw new Error("dpkg version: empty version string");
  if (/\s/.test(v)) throw new Error(`dpkg version "${input}": contains whitespace`);
  let epoch = "0";
  let rest = v;
  const colon = v.indexOf(":");
  if (colon >= 0) {
    epoch = v.slice(0, colon);
    rest = v.slice(colon + 1);
    if (!/^[0-9]+$/.test(epoch)) throw new Error(`dpkg version "${input}": epoch is not a number`);
  }
  let upstream = rest;
  let revision = "";
  const dash = rest.lastIndexOf("-");
  if (dash >= 0) {
    upstream = rest.slice(0, dash);
    revision = rest.slice(dash + 1);
    if (revision === "") throw new Error(`dpkg version "${input}": empty revision`);
  }
  if (upstream === "") throw new Error(`dpkg version "${input}": empty upstream version`);
  if (!/^[0-9]/.test(upstream)) throw new Error(`dpkg version "${input}": upstream version must start with a digit`);
  if (!/^[A-Za-z0-9.+~-]+$/.test(upstream)) throw new Error(`dpkg version "${input}": invalid character in upstream version`);
  if (revision !== "" && !/^[A-Za-z0-9.+~]+$/.test(revision)) throw new Error(`dpkg version "${input}": invalid character in revision`);
  return { epoch, upstream, revision };
}

const isDigit = (c: string) => c >= "0" && c <= "9";
const isLetter = (c: string) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");

/** Weight of one character in a non-digit run; `undefined` (end of run) weighs 0. */
function weight(c: string | undefined): number {
  if (c === undefined || isDigit(c)) return 0;
  if (c === "~") return -1;
  if (isLetter(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

/** Compare one version part (upstream or revision) by the Policy algorithm. */
export function comparePart(a: string, b: string): Verdict {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    // Non-digit run.
    while ((i < a.length && !isDigit(a[i]!)) || (j < b.length && !isDigit(b[j]!))) {
      const wa = weight(a[i]);
      const wb = weight(b[j]);
      if (wa !== wb) return wa < wb ? -1 : 1;
      i++;
      j++;
    }
    // Digit run.
    const si = i;
    while (i < a.length && isDigit(a[i]!)) i++;
    const sj = j;
    while (j < b.length && isDigit(b[j]!)) j++;
    const c = compareDigits(a.slice(si, i) || "0", b.slice(sj, j) || "0");
    if (c !== 0) return c;
  }
  return 0;
}

export function compare(a: string, b: string): Verdict {
  const x = parse(a);
  const y = parse(b);
  return compareDigits(x.epoch, y.epoch) || comparePart(x.upstream, y.upstream) || comparePart(x.revision, y.revision);
}
