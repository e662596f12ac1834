// The pure retention evaluator against Harbor's semantics (see the header of evaluate.ts), as a
// table of cases, plus the doublestar matcher it uses.
import { describe, expect, it } from 'vitest';
import {
  applicableRules,
  evaluate,
  evaluateRepository,
  repositoryPath,
  repositorySelects,
  tagSelects,
  untaggedFlag,
  type Candidate,
  type RetentionPolicy,
  type RetentionRule,
  type RetentionSelector,
} from './evaluate.ts';

const DAY = 86_400_000;
const NOW = Date.UTC(2024, 5, 1, 12, 0, 0);
const ago = (days: number) => NOW - days * DAY;

/** artifact `name` in `repo`: digest derived from the name, times in days ago */
function art(repo: string, name: string, tags: string[], pushedDaysAgo: number, pulledDaysAgo: number | null = null): Candidate {
  return { repository: repo, digest: `sha256:${name}`, tags, pushedAt: ago(pushedDaysAgo), pulledAt: pulledDaysAgo === null ? null : ago(pulledDaysAgo) };
}

/** a tag selector as Harbor's UI sends it: extras always carries the untagged checkbox */
const tagSel = (pattern = '**', decoration: 'matches' | 'excludes' = 'matches', untagged = false): RetentionSelector => ({
  kind: 'doublestar',
  decoration,
  pattern,
  extras: JSON.stringify({ untagged }),
});
const repoSel = (pattern = '**', decoration: 'repoMatches' | 'repoExcludes' = 'repoMatches'): RetentionSelector => ({ kind: 'doublestar', decoration, pattern });

function rule(template: string, n: number | undefined, o: { tags?: RetentionSelector[]; repos?: RetentionSelector[]; disabled?: boolean } = {}): RetentionRule {
  return {
    action: 'retain',
    template,
    params: n === undefined ? {} : { [template]: n },
    disabled: o.disabled ?? false,
    tag_selectors: o.tags ?? [tagSel('**', 'matches', false)],
    scope_selectors: { repository: o.repos ?? [repoSel()] },
  };
}

const policy = (...rules: RetentionRule[]): RetentionPolicy => ({ algorithm: 'or', rules, trigger: { kind: 'Schedule', settings: { cron: '' } }, scope: { level: 'project', ref: 1 } });

/** digests (short names) retained / deleted in one repository */
function decide(p: RetentionPolicy, arts: Candidate[], repo = 'p/app') {
  const d = evaluateRepository(p, repo, arts, NOW);
  if (!d) return null;
  const short = (c: Candidate) => c.digest.slice('sha256:'.length);
  return { retained: d.retained.map((r) => short(r.artifact)).sort(), deleted: d.deleted.map(short).sort(), by: Object.fromEntries(d.retained.map((r) => [short(r.artifact), r.rules])) };
}

// A repository of five tagged artifacts (pushed 1..5 days ago; some pulled) and two untagged.
const R = 'p/app';
const BASE: Candidate[] = [
  art(R, 'a1', ['v1.0', 'latest'], 1, 0.5),
  art(R, 'a2', ['v0.9'], 2, 10),
  art(R, 'a3', ['dev-3'], 3),
  art(R, 'a4', ['dev-4', 'v0.8'], 4, 1),
  art(R, 'a5', ['v0.7'], 5, 40),
  art(R, 'u1', [], 1.5, 0.1),
  art(R, 'u2', [], 6),
];

interface Case {
  name: string;
  rules: RetentionRule[];
  arts?: Candidate[];
  retained: string[] | null;
  deleted?: string[];
}

const cases: Case[] = [
  // ---- latestPushedK
  { name: 'latestPushedK 2 keeps the two most recently pushed tagged; untagged go', rules: [rule('latestPushedK', 2)], retained: ['a1', 'a2'], deleted: ['a3', 'a4', 'a5', 'u1', 'u2'] },
  { name: 'latestPushedK 0 keeps nothing', rules: [rule('latestPushedK', 0)], retained: [], deleted: ['a1', 'a2', 'a3', 'a4', 'a5', 'u1', 'u2'] },
  { name: 'latestPushedK larger than the count keeps all selected', rules: [rule('latestPushedK', 100)], retained: ['a1', 'a2', 'a3', 'a4', 'a5'], deleted: ['u1', 'u2'] },
  { name: 'latestPushedK exactly the count', rules: [rule('latestPushedK', 5)], retained: ['a1', 'a2', 'a3', 'a4', 'a5'] },
  { name: 'latestPushedK counts untagged when selected', rules: [rule('latestPushedK', 2, { tags: [tagSel('**', 'matches', true)] })], retained: ['a1', 'u1'] },
  { name: 'latestPushedK without the parameter uses Harbor default 10', rules: [rule('latestPushedK', undefined, { tags: [tagSel('**', 'matches', true)] })], retained: ['a1', 'a2', 'a3', 'a4', 'a5', 'u1', 'u2'] },
  {
    name: 'latestPushedK ties broken by digest',
    rules: [rule('latestPushedK', 1)],
    arts: [art(R, 'b', ['x'], 1), art(R, 'a', ['y'], 1)],
    retained: ['a'],
    deleted: ['b'],
  },
  // ---- latestPulledN
  { name: 'latestPulledN 2 keeps the two most recently pulled', rules: [rule('latestPulledN', 2)], retained: ['a1', 'a4'] },
  { name: 'latestPulledN 4: never-pulled ones fill up after the pulled ones', rules: [rule('latestPulledN', 5)], retained: ['a1', 'a2', 'a3', 'a4', 'a5'] },
  { name: 'latestPulledN 4 picks the pulled ones first', rules: [rule('latestPulledN', 4)], retained: ['a1', 'a2', 'a4', 'a5'], deleted: ['a3', 'u1', 'u2'] },
  {
    name: 'latestPulledN: among never pulled, the most recently pushed first',
    rules: [rule('latestPulledN', 1)],
    arts: [art(R, 'old', ['a'], 9), art(R, 'new', ['b'], 2)],
    retained: ['new'],
  },
  { name: 'latestPulledN 0 keeps nothing', rules: [rule('latestPulledN', 0)], retained: [] },
  { name: 'latestPulledN with untagged selected', rules: [rule('latestPulledN', 1, { tags: [tagSel('**', 'matches', true)] })], retained: ['u1'] },
  // ---- nDaysSinceLastPush
  { name: 'nDaysSinceLastPush 3 keeps pushed within 3 days (boundary inclusive)', rules: [rule('nDaysSinceLastPush', 3)], retained: ['a1', 'a2', 'a3'] },
  { name: 'nDaysSinceLastPush 0 keeps only pushed now', rules: [rule('nDaysSinceLastPush', 0)], arts: [art(R, 'now', ['n'], 0), art(R, 'sec', ['s'], 1 / 86_400 + 1e-9)], retained: ['now'] },
  {
    name: 'nDaysSinceLastPush: 999 ms before the boundary (previous second) is not kept',
    rules: [rule('nDaysSinceLastPush', 1)],
    arts: [{ repository: R, digest: 'sha256:edge', tags: ['e'], pushedAt: NOW - DAY - 999, pulledAt: null }],
    retained: [],
  },
  {
    name: 'nDaysSinceLastPush: exactly N days ago is kept',
    rules: [rule('nDaysSinceLastPush', 1)],
    arts: [{ repository: R, digest: 'sha256:edge', tags: ['e'], pushedAt: NOW - DAY, pulledAt: null }],
    retained: ['edge'],
  },
  { name: 'nDaysSinceLastPush with untagged', rules: [rule('nDaysSinceLastPush', 2, { tags: [tagSel('**', 'matches', true)] })], retained: ['a1', 'a2', 'u1'] },
  // ---- nDaysSinceLastPull
  { name: 'nDaysSinceLastPull 7 keeps pulled within a week; never pulled go', rules: [rule('nDaysSinceLastPull', 7)], retained: ['a1', 'a4'] },
  { name: 'nDaysSinceLastPull 10 includes exactly 10 days ago', rules: [rule('nDaysSinceLastPull', 10)], retained: ['a1', 'a2', 'a4'] },
  { name: 'nDaysSinceLastPull 1000 still drops never pulled', rules: [rule('nDaysSinceLastPull', 1000)], retained: ['a1', 'a2', 'a4', 'a5'] },
  { name: 'nDaysSinceLastPull with untagged', rules: [rule('nDaysSinceLastPull', 1, { tags: [tagSel('**', 'matches', true)] })], retained: ['a1', 'a4', 'u1'] },
  // ---- always
  { name: 'always keeps every selected tagged artifact', rules: [rule('always', undefined)], retained: ['a1', 'a2', 'a3', 'a4', 'a5'], deleted: ['u1', 'u2'] },
  { name: 'always with untagged keeps everything', rules: [rule('always', undefined, { tags: [tagSel('**', 'matches', true)] })], retained: ['a1', 'a2', 'a3', 'a4', 'a5', 'u1', 'u2'], deleted: [] },
  // ---- tag selectors
  { name: 'matches v*: any tag of the artifact may match', rules: [rule('always', undefined, { tags: [tagSel('v*')] })], retained: ['a1', 'a2', 'a4', 'a5'] },
  { name: 'matches dev-*: artifacts not selected are deleted', rules: [rule('always', undefined, { tags: [tagSel('dev-*')] })], retained: ['a3', 'a4'], deleted: ['a1', 'a2', 'a5', 'u1', 'u2'] },
  { name: 'excludes dev-*: selected when any tag does not match', rules: [rule('always', undefined, { tags: [tagSel('dev-*', 'excludes', true)] })], retained: ['a1', 'a2', 'a4', 'a5'] },
  { name: 'excludes with untagged=false selects untagged', rules: [rule('always', undefined, { tags: [tagSel('dev-*', 'excludes', false)] })], retained: ['a1', 'a2', 'a4', 'a5', 'u1', 'u2'] },
  { name: 'excludes ** selects nothing tagged', rules: [rule('always', undefined, { tags: [tagSel('**', 'excludes', true)] })], retained: [] },
  { name: 'brace alternatives', rules: [rule('always', undefined, { tags: [tagSel('{latest,v0.9}')] })], retained: ['a1', 'a2'] },
  { name: 'character class', rules: [rule('always', undefined, { tags: [tagSel('v0.[89]')] })], retained: ['a2', 'a4'] },
  { name: 'two tag selectors are AND-ed', rules: [rule('always', undefined, { tags: [tagSel('v*'), tagSel('*.8', 'excludes', true)] })], retained: ['a1', 'a2', 'a4', 'a5'] },
  { name: 'two tag selectors AND: matches v* and matches dev-*', rules: [rule('always', undefined, { tags: [tagSel('v*'), tagSel('dev-*')] })], retained: ['a4'] },
  { name: 'selector before the count: latest 1 of dev-*', rules: [rule('latestPushedK', 1, { tags: [tagSel('dev-*')] })], retained: ['a3'] },
  {
    name: 'matches without extras selects untagged too (Harbor upgrade default)',
    rules: [rule('always', undefined, { tags: [{ kind: 'doublestar', decoration: 'matches', pattern: 'v*' }] })],
    retained: ['a1', 'a2', 'a4', 'a5', 'u1', 'u2'],
  },
  {
    name: 'excludes without extras selects untagged too (untagged defaults to false there)',
    rules: [rule('always', undefined, { tags: [{ kind: 'doublestar', decoration: 'excludes', pattern: 'v*' }] })],
    retained: ['a1', 'a3', 'a4', 'u1', 'u2'],
  },
  { name: 'empty pattern matches all (Harbor)', rules: [rule('always', undefined, { tags: [tagSel('')] })], retained: ['a1', 'a2', 'a3', 'a4', 'a5'] },
  // ---- OR of several rules
  {
    name: 'two rules OR-ed: latest 1 pushed OR pulled within 2 days',
    rules: [rule('latestPushedK', 1), rule('nDaysSinceLastPull', 2)],
    retained: ['a1', 'a4'],
  },
  {
    name: 'three rules OR-ed with different tag selectors',
    rules: [rule('latestPushedK', 1, { tags: [tagSel('dev-*')] }), rule('always', undefined, { tags: [tagSel('v0.7')] }), rule('nDaysSinceLastPush', 1, { tags: [tagSel('**', 'matches', true)] })],
    retained: ['a1', 'a3', 'a5'],
    deleted: ['a2', 'a4', 'u1', 'u2'],
  },
  // ---- disabled rules
  { name: 'a disabled rule retains nothing; the repository is then untouched', rules: [rule('always', undefined, { disabled: true })], retained: null },
  { name: 'a disabled rule next to an enabled one is ignored', rules: [rule('always', undefined, { disabled: true }), rule('latestPushedK', 1)], retained: ['a1'] },
  // ---- repository scope
  { name: 'repository not matched: untouched', rules: [rule('latestPushedK', 1, { repos: [repoSel('other')] })], retained: null },
  { name: 'repository excluded: untouched', rules: [rule('latestPushedK', 1, { repos: [repoSel('app', 'repoExcludes')] })], retained: null },
  { name: 'repository pattern sees the path inside the project', rules: [rule('latestPushedK', 1, { repos: [repoSel('app')] })], retained: ['a1'] },
  { name: 'repository selector matching the full name with project does not match', rules: [rule('latestPushedK', 1, { repos: [repoSel('p/app')] })], retained: null },
  { name: 'only the rules scoped to the repository count', rules: [rule('always', undefined, { repos: [repoSel('other')] }), rule('latestPushedK', 1)], retained: ['a1'] },
  // ---- a rule without tag selectors (Harbor does not evaluate it)
  { name: 'no tag selectors: not evaluated; alone, nothing is deleted', rules: [rule('always', undefined, { tags: [] })], retained: null },
  { name: 'no tag selectors next to another rule: retains nothing itself', rules: [rule('always', undefined, { tags: [] }), rule('latestPushedK', 1)], retained: ['a1'] },
  // ---- empty repository
  { name: 'no artifacts', rules: [rule('latestPushedK', 1)], arts: [], retained: [], deleted: [] },
];

describe('retention evaluator (Harbor semantics)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const d = decide(policy(...c.rules), c.arts ?? BASE);
      if (c.retained === null) {
        expect(d).toBeNull();
        return;
      }
      expect(d).not.toBeNull();
      expect(d!.retained).toEqual([...c.retained].sort());
      const all = (c.arts ?? BASE).map((a) => a.digest.slice(7));
      // retained and deleted partition the repository
      expect([...d!.retained, ...d!.deleted].sort()).toEqual(all.sort());
      if (c.deleted) expect(d!.deleted).toEqual([...c.deleted].sort());
    });
  }

  it('reports every rule that retained an artifact', () => {
    const d = decide(policy(rule('latestPushedK', 1), rule('nDaysSinceLastPull', 2), rule('always', undefined, { tags: [tagSel('v0.9')] })), BASE)!;
    expect(d.by).toEqual({ a1: [0, 1], a4: [1], a2: [2] });
  });

  it('an artifact with several tags is retained whole when one tag is retained (Harbor docs example)', () => {
    const arts = [art(R, 'x', ['harbor-1.8', 'harbor-release', 'harbor-nightly', 'harbor-latest'], 1), art(R, 'y', ['other'], 2)];
    const d = decide(policy(rule('latestPushedK', 2, { tags: [tagSel('harbor-*')] })), arts)!;
    expect(d.retained).toEqual(['x']);
    expect(d.deleted).toEqual(['y']);
  });

  it('Harbor docs example 1: latest 10 pulled per repository, untagged deleted', () => {
    const arts: Candidate[] = [];
    for (let i = 0; i < 100; i++) arts.push(art('p/A', `A${i}`, [`t${i}`], 30, 1 + i / 100));
    arts.push(art('p/A', 'Au1', [], 30, 1), art('p/A', 'Au2', [], 30, 1));
    for (const r of ['B', 'C', 'D', 'E']) {
      for (let i = 0; i < 6; i++) arts.push(art(`p/${r}`, `${r}${i}`, [`t${i}`], 60, 45));
      arts.push(art(`p/${r}`, `${r}u`, [], 60, 45));
    }
    const e = evaluate(policy(rule('latestPulledN', 10)), arts, NOW);
    const kept = e.repositories.reduce((n, r) => n + r.retained.length, 0);
    expect(kept).toBe(34);
    const a = e.repositories.find((r) => r.repository === 'p/A')!;
    expect(a.retained.map((r) => r.artifact.digest).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `sha256:A${i}`).sort());
    for (const r of ['p/B', 'p/C', 'p/D', 'p/E']) expect(e.repositories.find((x) => x.repository === r)!.deleted.map((c) => c.digest)).toEqual([`sha256:${r.slice(2)}u`]);
    expect(a.deleted.map((c) => c.digest)).toContain('sha256:Au1');
  });

  it('Harbor docs examples 2 and 3: pulled within 7 days, with and without untagged', () => {
    const arts: Candidate[] = [];
    for (let i = 0; i < 100; i++) arts.push(art('p/A', `A${i}`, [`t${i}`], 30, 2));
    arts.push(art('p/A', 'Au1', [], 30, 2), art('p/A', 'Au2', [], 30, 2), art('p/A', 'Au3', [], 30, 2));
    for (let i = 0; i < 6; i++) arts.push(art('p/B', `B${i}`, [`t${i}`], 60, 45));
    const ex2 = evaluate(policy(rule('nDaysSinceLastPull', 7)), arts, NOW);
    expect(ex2.repositories.reduce((n, r) => n + r.retained.length, 0)).toBe(100);
    const ex3 = evaluate(policy(rule('nDaysSinceLastPull', 7, { tags: [tagSel('**', 'matches', true)] })), arts, NOW);
    expect(ex3.repositories.reduce((n, r) => n + r.retained.length, 0)).toBe(103);
  });

  it('Harbor docs example 5: three rules on twelve tags', () => {
    const arts: Candidate[] = [];
    let age = 1;
    for (const v of ['2.1', '2.2', '3.1', '4.4']) for (const k of ['prod', 'rc', 'release']) arts.push(art(R, `${v}-${k}`, [`${v}-your_repo-${k}`], age++));
    const p = policy(
      rule('latestPushedK', 10, { tags: [tagSel('2*')] }),
      rule('latestPushedK', 10, { tags: [tagSel('*-prod')] }),
      rule('always', undefined, { tags: [tagSel('2.1-your_repo-prod', 'excludes', true)] }),
    );
    // Harbor's text lists 7 tags; by Harbor's code (which we follow) the OR of the three rules
    // keeps all 12: 2.1-prod, excluded by rule 3, is kept by rules 1 and 2.
    const d = decide(p, arts)!;
    expect(d.retained.length).toBe(12);
    expect(d.by['2.1-prod']).toEqual([0, 1]);
    expect(decide(policy(p.rules[2])!, arts)!.deleted).toEqual(['2.1-prod']);
  });

  it('evaluate() groups by repository and lists untouched ones', () => {
    const arts = [art('p/app', 'a', ['1'], 1), art('p/app', 'b', ['2'], 2), art('p/tools/x', 'c', ['1'], 1), art('p/other', 'd', ['1'], 1)];
    const e = evaluate(policy(rule('latestPushedK', 1, { repos: [repoSel('{app,tools/**}')] })), arts, NOW);
    expect(e.repositories.map((r) => r.repository)).toEqual(['p/app', 'p/tools/x']);
    expect(e.untouched).toEqual(['p/other']);
    expect(e.repositories[0].deleted.map((c) => c.digest)).toEqual(['sha256:b']);
  });

  it('applicableRules: repository selectors AND-ed; disabled skipped; no selector = all', () => {
    const p = policy(
      rule('always', undefined, { repos: [repoSel('a*'), repoSel('ab', 'repoExcludes')] }),
      rule('always', undefined, { repos: [repoSel('**')], disabled: true }),
      { ...rule('always', undefined), scope_selectors: {} },
    );
    expect(applicableRules(p, 'p/abc')).toEqual([0, 2]);
    expect(applicableRules(p, 'p/ab')).toEqual([2]);
    expect(applicableRules(p, 'p/x')).toEqual([2]);
  });

  it('day windows compare whole seconds, as Harbor does', () => {
    // now is mid-second: an artifact pushed 400 ms before the exact boundary, in the same second, is kept
    const now = NOW + 500;
    const a = { repository: R, digest: 'sha256:x', tags: ['x'], pushedAt: now - DAY - 400, pulledAt: now - DAY - 400 };
    expect(evaluateRepository(policy(rule('nDaysSinceLastPush', 1)), R, [a], now)!.retained).toHaveLength(1);
    expect(evaluateRepository(policy(rule('nDaysSinceLastPull', 1)), R, [a], now)!.retained).toHaveLength(1);
    const b = { ...a, pushedAt: now - DAY - 600, pulledAt: now - DAY - 600 };
    expect(evaluateRepository(policy(rule('nDaysSinceLastPush', 1)), R, [b], now)!.retained).toHaveLength(0);
    expect(evaluateRepository(policy(rule('nDaysSinceLastPull', 1)), R, [b], now)!.retained).toHaveLength(0);
  });

  it('refuses algorithms other than "or"', () => {
    expect(() => evaluateRepository({ ...policy(rule('always', undefined)), algorithm: 'and' }, R, BASE, NOW)).toThrow(/only "or"/);
  });

  it('a malformed pattern selects nothing (the API refuses to store one)', () => {
    expect(decide(policy(rule('always', undefined, { tags: [tagSel('v[1')] })), BASE)!.retained).toEqual([]);
  });
});

describe('selector flags', () => {
  it('untagged defaults as in Harbor', () => {
    expect(untaggedFlag({ kind: 'doublestar', decoration: 'matches', pattern: '**' })).toBe(true);
    expect(untaggedFlag({ kind: 'doublestar', decoration: 'excludes', pattern: '**' })).toBe(false);
    expect(untaggedFlag({ kind: 'doublestar', decoration: 'matches', pattern: '**', extras: '' })).toBe(true);
    expect(untaggedFlag({ kind: 'doublestar', decoration: 'matches', pattern: '**', extras: 'not json' })).toBe(true);
    expect(untaggedFlag({ kind: 'doublestar', decoration: 'matches', pattern: '**', extras: '{}' })).toBe(false);
    expect(untaggedFlag({ kind: 'doublestar', decoration: 'matches', pattern: '**', extras: '{"untagged":false}' })).toBe(false);
    expect(untaggedFlag({ kind: 'doublestar', decoration: 'excludes', pattern: '**', extras: '{"untagged":true}' })).toBe(true);
  });

  it('tagSelects on untagged artifacts', () => {
    expect(tagSelects(tagSel('x', 'matches', true), [])).toBe(true);
    expect(tagSelects(tagSel('x', 'matches', false), [])).toBe(false);
    expect(tagSelects(tagSel('x', 'excludes', true), [])).toBe(false);
    expect(tagSelects(tagSel('x', 'excludes', false), [])).toBe(true);
  });

  it('repositoryPath strips the project', () => {
    expect(repositoryPath('library/a/b')).toBe('a/b');
    expect(repositoryPath('x')).toBe('x');
  });
});

describe('patterns as retention uses them', () => {
  // The matcher itself is src/immutability/doublestar.ts (tested there); these are the cases
  // retention relies on: tags never contain '/', repository paths do.
  const table: [string, string, boolean][] = [
    ['**', 'anything', true],
    ['**', 'a/b/c', true],
    ['*', 'abc', true],
    ['*', 'a/b', false],
    ['*/*', 'a/b', true],
    ['a/**', 'a/b/c', true],
    ['a/**/c', 'a/x/y/c', true],
    ['**/c', 'x/y/c', true],
    ['v[0-9].*', 'v1.2', true],
    ['v[0-9].*', 'vx.2', false],
    ['{a,b}', 'b', true],
    ['{a,b}', 'c', false],
    ['{team/app,web}', 'team/app', true],
    ['1.0', '1x0', false],
    ['latest', 'latest2', false],
    ['release-*', 'release-', true],
  ];
  for (const [p, n, want] of table) {
    it(`${JSON.stringify(p)} ${want ? 'selects' : 'does not select'} tag/repository ${JSON.stringify(n)}`, () => {
      if (!n.includes('/')) expect(tagSelects(tagSel(p), [n])).toBe(want);
      expect(repositorySelects(repoSel(p), `proj/${n}`)).toBe(want);
    });
  }
});
