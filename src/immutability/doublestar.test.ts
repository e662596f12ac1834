import { describe, expect, it } from 'vitest';
import { compileDoublestar, doublestarProblem, DoublestarError, matchDoublestar } from './doublestar.ts';

const yes = (p: string, ...names: string[]) => {
  for (const n of names) expect(matchDoublestar(p, n), `${p} should match ${n}`).toBe(true);
};
const no = (p: string, ...names: string[]) => {
  for (const n of names) expect(matchDoublestar(p, n), `${p} should not match ${n}`).toBe(false);
};

describe('matchDoublestar', () => {
  it('literals match exactly', () => {
    yes('latest', 'latest');
    no('latest', 'latest2', 'Latest', 'alatest', '');
    yes('v1.0', 'v1.0');
    no('v1.0', 'v1x0'); // "." is not a wildcard
    yes('a+b(c)|d$^', 'a+b(c)|d$^');
  });

  it('* stays within a segment', () => {
    yes('*', 'latest', 'v1', '');
    no('*', 'a/b');
    yes('v*', 'v', 'v1', 'v1.2.3');
    no('v*', 'x1', 'v1/x');
    yes('app/*', 'app/api', 'app/');
    no('app/*', 'app/api/v1', 'app');
    yes('*-rc*', 'v1-rc1', '-rc');
  });

  it('** crosses segments', () => {
    yes('**', '', 'x', 'a/b/c');
    yes('team/**', 'team/a', 'team/a/b', 'team');
    no('team/**', 'teams/a', 'other/team/a');
    yes('**/api', 'api', 'app/api', 'a/b/api');
    no('**/api', 'app/apix', 'xapi');
    yes('a/**/z', 'a/z', 'a/b/z', 'a/b/c/z');
    no('a/**/z', 'a/bz', 'az');
    yes('release-**', 'release-1', 'release-1/x');
    yes('**/**', 'a', 'a/b');
  });

  it('? is one character, never /', () => {
    yes('v?', 'v1', 'va');
    no('v?', 'v', 'v12', 'v/');
    yes('??', 'ab');
  });

  it('character classes', () => {
    yes('v[0-9]', 'v0', 'v9');
    no('v[0-9]', 'va', 'v10');
    yes('[abc]x', 'ax', 'cx');
    no('[abc]x', 'dx');
    yes('v[!0-9]', 'va');
    no('v[!0-9]', 'v1', 'v/');
    yes('v[^0-9]', 'vb');
    no('a[/]b', 'a/b');
    yes('[]]', ']');
    yes('[a-]', '-', 'a');
  });

  it('{a,b} alternatives, with wildcards and nesting', () => {
    yes('{latest,stable}', 'latest', 'stable');
    no('{latest,stable}', 'beta', 'lateststable');
    yes('v{1,2}.*', 'v1.0', 'v2.x');
    no('v{1,2}.*', 'v3.0');
    yes('{app,svc}/**', 'app/a/b', 'svc/x', 'app');
    yes('{a,b{c,d}}', 'a', 'bc', 'bd');
    no('{a,b{c,d}}', 'b', 'bcd');
    yes('x{,-dev}', 'x', 'x-dev');
  });

  it('escapes', () => {
    yes('v\\*', 'v*');
    no('v\\*', 'v1');
    yes('\\{a\\}', '{a}');
  });

  it('malformed patterns match nothing and are reported', () => {
    for (const p of ['[abc', '{a,b', 'abc\\', 'x{a,[b}']) {
      expect(matchDoublestar(p, 'a')).toBe(false);
      expect(doublestarProblem(p)).toMatch(/invalid pattern/);
      expect(() => compileDoublestar(p)).toThrow(DoublestarError);
    }
    expect(doublestarProblem('v{1,2}*')).toBeNull();
  });

  it('no catastrophic backtracking: hostile patterns stay linear in the name', () => {
    const t = Date.now();
    expect(matchDoublestar('**a**a**a**a**a**a**a**a**a**b', 'a'.repeat(255))).toBe(false);
    expect(matchDoublestar('*a*a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(128))).toBe(false);
    expect(matchDoublestar('{*a,**a}{*a,**a}{*a,**a}{*a,**a}b', 'a'.repeat(255))).toBe(false);
    expect(Date.now() - t).toBeLessThan(500);
    // brace bombs are refused rather than expanded
    expect(doublestarProblem('{a,b}'.repeat(9))).toMatch(/alternatives/);
  });
});
