/**
 * PEP 440 version comparison (as `packaging.version.Version`). Versions are normalised first:
 * case-insensitive, optional leading `v`, `-`/`_`/`.` separators optional around pre, post and dev
 * markers, alternative spellings (`alpha`→a, `beta`→b, `c`/`pre`/`preview`→rc, `rev`/`r`→post),
 * implicit 0 numbers, `1.0-1` as a post-release. Ordering: epoch, release (trailing zeros
 * ignored), then dev-only < pre-releases < final < post-releases, dev releases before their
 * non-dev counterpart, and local versions after the public one (numeric local segments above
 * alphanumeric ones).
 */
import { compareAscii, compareDigits, type Verdict } from "./util.ts";

export interface Pep440Version {
  epoch: string;
  release: string[];
  pre: { label: "a" | "b" | "rc"; n: string } | undefined;
  post: string | undefined;
  dev: string | undefined;
  local: string[] | undefined;
}

const RE = new RegExp(
  "^v?" +
    "(?:([0-9]+)!)?" + // epoch
    "([0-9]+(?:\\.[0-9]+)*)" + // release
    "(?:[-_.]?(alpha|a|beta|b|preview|pre|c|rc)[-_.]?([0-9]+)?)?" + // pre
    "(?:-([0-9]+)|[-_.]?(post|rev|r)[-_.]?([0-9]+)?)?" + // post
    "(?:[-_.]?(dev)[-_.]?([0-9]+)?)?" + // dev
    "(?:\\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$", // local
  "i",
);

export function parse(input: string): Pep440Version {
  const m = RE.exec(input.trim());
  if (!m) throw new Error(`PEP 440: invalid version "${input}"`);
  const preLabel = m[3]?.toLowerCase();
  let pre: Pep440Version["pre"];
  if (preLabel !== undefined) {
    const label = preLabel === "alpha" || preLabel === "a" ? "a" : preLabel === "beta" || preLabel === "b" ? "b" : "rc";
    pre = { label, n: m[4] ?? "0" };
  }
  let post: string | undefined;
  if (m[5] !== undefined) post = m[5];
  else if (m[6] !== undefined) post = m[7] ?? "0";
  const dev = m[8] !== undefined ? (m[9] ?? "0") : undefined;
  const local = m[10] !== undefined ? m[10].toLowerCase().split(/[-_.]/) : undefined;
  return { epoch: m[1] ?? "0", release: m[2]!.split("."), pre, post, dev, local };
}

function compareRelease(a: string[], b: string[]): Verdict {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareDigits(a[i] ?? "0", b[i] ?? "0");
    if (c !== 0) return c;
  }
  return 0;
}

const rank = (s: string) => (s === "a" ? 0 : s === "b" ? 1 : 2);

/** Pre-release phase: dev-only release (−∞), a pre-release, or none (+∞). */
function comparePre(x: Pep440Version, y: Pep440Version): Verdict {
  const key = (v: Pep440Version): number =>
    v.pre ? 0 : v.post === undefined && v.dev !== undefined ? -1 : 1;
  const kx = key(x);
  const ky = key(y);
  if (kx !== ky) return kx < ky ? -1 : 1;
  if (x.pre && y.pre) {
    const r = rank(x.pre.label) - rank(y.pre.label);
    if (r !== 0) return r < 0 ? -1 : 1;
    return compareDigits(x.pre.n, y.pre.n);
  }
  return 0;
}

function compareOptional(a: string | undefined, b: string | undefined, absent: -1 | 1): Verdict {
  if (a === undefined && b === undefined) return 0;
  if (a === undefined) return absent;
  if (b === undefined) return absent === 1 ? -1 : 1;
  return compareDigits(a, b);
}

function compareLocal(a: string[] | undefined, b: string[] | undefined): Verdict {
  if (a === undefined && b === undefined) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const p = a[i]!;
    const q = b[i]!;
    const np = /^[0-9]+$/.test(p);
    const nq = /^[0-9]+$/.test(q);
    const c = np && nq ? compareDigits(p, q) : np ? 1 : nq ? -1 : compareAscii(p, q);
    if (c !== 0) return c;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

export function compare(a: string, b: string): Verdict {
  const x = parse(a);
  const y = parse(b);
  return (
    compareDigits(x.epoch, y.epoch) ||
    compareRelease(x.release, y.release) ||
    comparePre(x, y) ||
    compareOptional(x.post, y.post, -1) ||
    compareOptional(x.dev, y.dev, 1) ||
    compareLocal(x.local, y.local)
  );
}
