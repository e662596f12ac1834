/** Shared helpers for the version comparators. */
export type Verdict = -1 | 0 | 1;

export function sign(n: number): Verdict {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/** Compare two strings of ASCII digits numerically, of any length. */
export function compareDigits(a: string, b: string): Verdict {
  const x = a.replace(/^0+/, "");
  const y = b.replace(/^0+/, "");
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Plain byte-order (C strcmp) comparison of ASCII strings. */
export function compareAscii(a: string, b: string): Verdict {
  return a < b ? -1 : a > b ? 1 : 0;
}
