// Doublestar glob patterns, as Harbor's tag immutability and retention selectors use them
// (Harbor matches with github.com/bmatcuk/doublestar):
//
//   `*`       any run of characters except `/` (within one path segment)
//   `**`      any run of characters, `/` included; `**/` at the start of a segment also matches
//             no segment at all (`**/app` matches `app` and `a/b/app`), and a trailing `/**`
//             matches the bare prefix too (`team/**` matches `team`)
//   `?`       one character except `/`
//   `[abc]`, `[a-z]`, `[!x]`, `[^x]`   one character of (not of) a class, never `/`
//   `{a,b}`   either alternative; alternatives may hold wildcards and nest
//   `\x`      the character x itself
//
// Matching never backtracks: braces are expanded into alternatives (bounded), and each
// alternative is matched by dynamic programming over (pattern position, name position), so a
// hostile pattern costs at most O(pattern length × name length) per alternative. Compiled
// patterns are cached. A malformed pattern (unclosed `[` or `{`, trailing `\`, too many
// alternatives) is an error for compileDoublestar() and never matches in matchDoublestar().

export class DoublestarError extends Error {}

/** at most this many alternatives after brace expansion, and this many characters in all */
const MAX_ALTERNATIVES = 256;
const MAX_EXPANDED_CHARS = 8192;

type Tok =
  | { k: 'lit'; c: string }
  | { k: 'one' }
  | { k: 'cls'; neg: boolean; items: [string, string][] }
  | { k: 'star' }
  | { k: 'glob' }
  | { k: 'globdir' }
  | { k: 'trail' };

export interface Doublestar {
  readonly pattern: string;
  test(name: string): boolean;
}

const cache = new Map<string, Doublestar | DoublestarError>();
const CACHE_MAX = 2000;

/** Compile a doublestar pattern; throws DoublestarError when malformed. */
export function compileDoublestar(pattern: string): Doublestar {
  let v = cache.get(pattern);
  if (v === undefined) {
    try {
      const alts = expandBraces(pattern).map((a) => tokenize(a, pattern));
      v = { pattern, test: (name: string) => alts.some((t) => run(t, name)) };
    } catch (e) {
      v = e instanceof DoublestarError ? e : new DoublestarError(`invalid pattern ${JSON.stringify(pattern)}: ${(e as Error).message}`);
    }
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(pattern, v);
  }
  if (v instanceof DoublestarError) throw v;
  return v;
}

/** Does `name` match the doublestar `pattern`? A malformed pattern matches nothing. */
export function matchDoublestar(pattern: string, name: string): boolean {
  let d: Doublestar;
  try {
    d = compileDoublestar(pattern);
  } catch {
    return false;
  }
  return d.test(name);
}

/** null when the pattern is well formed, else why not. */
export function doublestarProblem(pattern: string): string | null {
  try {
    compileDoublestar(pattern);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

const bad = (p: string, why: string) => new DoublestarError(`invalid pattern ${JSON.stringify(p)}: ${why}`);

/** The end (index after `]`) of a bracket expression starting at `i` (the `[`). */
function classEnd(p: string, i: number, whole: string): number {
  let j = i + 1;
  if (p[j] === '!' || p[j] === '^') j++;
  if (p[j] === ']') j++; // a leading `]` is literal
  while (j < p.length && p[j] !== ']') j += p[j] === '\\' ? 2 : 1;
  if (j >= p.length) throw bad(whole, 'unclosed [');
  return j + 1;
}

/** Expand `{a,b}` groups (nested ones too) into brace-free alternatives; escapes and classes are kept as written. */
function expandBraces(pattern: string): string[] {
  let total = 0;
  const check = (alts: string[]) => {
    if (alts.length > MAX_ALTERNATIVES) throw bad(pattern, `more than ${MAX_ALTERNATIVES} alternatives`);
    total = alts.reduce((n, a) => n + a.length, 0);
    if (total > MAX_EXPANDED_CHARS) throw bad(pattern, 'too many alternatives');
    return alts;
  };
  // parse a sequence until `,` or `}` (when nested) → the alternatives it stands for
  const seq = (i: number, nested: boolean): { alts: string[]; end: number } => {
    let alts = [''];
    while (i < pattern.length) {
      const c = pattern[i];
      if (c === '\\') {
        if (i + 1 >= pattern.length) throw bad(pattern, 'trailing backslash');
        const s = pattern.slice(i, i + 2);
        alts = alts.map((a) => a + s);
        i += 2;
      } else if (c === '[') {
        const e = classEnd(pattern, i, pattern);
        const s = pattern.slice(i, e);
        alts = alts.map((a) => a + s);
        i = e;
      } else if (c === '{') {
        const options: string[] = [];
        let j = i + 1;
        for (;;) {
          const r = seq(j, true);
          options.push(...r.alts);
          j = r.end;
          if (pattern[j] === '}') break;
          j++; // the ','
        }
        alts = check(alts.flatMap((a) => options.map((o) => a + o)));
        i = j + 1;
      } else if (nested && (c === ',' || c === '}')) {
        return { alts, end: i };
      } else {
        alts = alts.map((a) => a + c);
        i++;
      }
    }
    if (nested) throw bad(pattern, 'unclosed {');
    return { alts, end: i };
  };
  return check(seq(0, false).alts);
}

function tokenize(p: string, whole: string): Tok[] {
  const toks: Tok[] = [];
  const atSegStart = () => toks.length === 0 || (toks[toks.length - 1].k === 'lit' && (toks[toks.length - 1] as { c: string }).c === '/') || toks[toks.length - 1].k === 'globdir';
  let i = 0;
  while (i < p.length) {
    const c = p[i];
    if (c === '\\') {
      toks.push({ k: 'lit', c: p[i + 1] });
      i += 2;
    } else if (c === '*') {
      let j = i;
      while (p[j] === '*') j++;
      if (j - i === 1) toks.push({ k: 'star' });
      else if (atSegStart() && p[j] === '/') {
        toks.push({ k: 'globdir' });
        j++;
      } else if (j === p.length && toks.length > 0 && toks[toks.length - 1].k === 'lit' && (toks[toks.length - 1] as { c: string }).c === '/') {
        toks.pop();
        toks.push({ k: 'trail' });
      } else toks.push({ k: 'glob' });
      i = j;
    } else if (c === '?') {
      toks.push({ k: 'one' });
      i++;
    } else if (c === '[') {
      const end = classEnd(p, i, whole);
      let j = i + 1;
      let neg = false;
      if (p[j] === '!' || p[j] === '^') {
        neg = true;
        j++;
      }
      const chars: string[] = [];
      while (j < end - 1) {
        if (p[j] === '\\') {
          chars.push(p[j + 1]);
          j += 2;
        } else {
          chars.push(p[j]);
          j++;
        }
      }
      // ranges: x-y where `-` is neither first nor last
      const items: [string, string][] = [];
      for (let k = 0; k < chars.length; k++) {
        if (k + 2 < chars.length && chars[k + 1] === '-') {
          items.push([chars[k], chars[k + 2]]);
          k += 2;
        } else items.push([chars[k], chars[k]]);
      }
      toks.push({ k: 'cls', neg, items });
      i = end;
    } else {
      toks.push({ k: 'lit', c });
      i++;
    }
  }
  return toks;
}

/** Dynamic programming, pattern tokens from the end: row[j] = the tokens from i match name[j..]. */
function run(toks: Tok[], s: string): boolean {
  const n = s.length;
  let next = new Uint8Array(n + 1);
  next[n] = 1;
  let nextAny = suffixOr(next);
  for (let i = toks.length - 1; i >= 0; i--) {
    const t = toks[i];
    const cur = new Uint8Array(n + 1);
    switch (t.k) {
      case 'lit':
        for (let j = 0; j < n; j++) cur[j] = s[j] === t.c ? next[j + 1] : 0;
        break;
      case 'one':
        for (let j = 0; j < n; j++) cur[j] = s[j] !== '/' ? next[j + 1] : 0;
        break;
      case 'cls':
        for (let j = 0; j < n; j++) {
          const ch = s[j];
          if (ch === '/') continue;
          const inside = t.items.some(([a, b]) => ch >= a && ch <= b);
          cur[j] = inside !== t.neg ? next[j + 1] : 0;
        }
        break;
      case 'star':
        cur[n] = next[n];
        for (let j = n - 1; j >= 0; j--) cur[j] = next[j] || (s[j] !== '/' && cur[j + 1]) ? 1 : 0;
        break;
      case 'glob':
        cur.set(nextAny);
        break;
      case 'globdir': {
        // empty, or anything ending with '/'
        let g = 0;
        cur[n] = next[n];
        for (let j = n - 1; j >= 0; j--) {
          if (s[j] === '/' && next[j + 1]) g = 1;
          cur[j] = next[j] || g ? 1 : 0;
        }
        break;
      }
      case 'trail':
        // empty, or '/' followed by anything
        for (let j = 0; j <= n; j++) cur[j] = next[j] || (j < n && s[j] === '/' && nextAny[j + 1]) ? 1 : 0;
        break;
    }
    next = cur;
    nextAny = suffixOr(cur);
  }
  return next[0] === 1;
}

function suffixOr(row: Uint8Array): Uint8Array {
  const out = new Uint8Array(row.length);
  let any = 0;
  for (let j = row.length - 1; j >= 0; j--) {
    any |= row[j];
    out[j] = any;
  }
  return out;
}
