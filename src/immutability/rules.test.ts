import { describe, expect, it } from 'vitest';
import { describeRule, parseRule, ruleMatches, RuleValidationError, type ImmutableRule } from './rules.ts';

const body = (tag: { decoration?: string; pattern: string }, repo: { decoration?: string; pattern: string } = { pattern: '**' }, extra: Record<string, unknown> = {}) => ({
  action: 'immutable',
  template: 'immutable_template',
  tag_selectors: [{ kind: 'doublestar', decoration: tag.decoration ?? 'matches', pattern: tag.pattern }],
  scope_selectors: { repository: [{ kind: 'doublestar', decoration: repo.decoration ?? 'repoMatches', pattern: repo.pattern }] },
  ...extra,
});

const rule = (b: Record<string, unknown>, id = 1): ImmutableRule => ({ id, projectId: 1, ...parseRule(b) });

describe('parseRule', () => {
  it('accepts Harbor bodies and fills defaults', () => {
    const r = parseRule({ tag_selectors: [{ kind: 'doublestar', decoration: 'matches', pattern: 'v*' }], scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern: '**' }] } });
    expect(r).toMatchObject({ disabled: false, priority: 0, action: 'immutable', template: 'immutable_template', params: {} });
    expect(r.tagSelectors).toEqual([{ kind: 'doublestar', decoration: 'matches', pattern: 'v*' }]);
  });

  it('refuses malformed rules', () => {
    const bad: Record<string, unknown>[] = [
      {},
      { ...body({ pattern: 'v*' }), tag_selectors: [] },
      { ...body({ pattern: 'v*' }), tag_selectors: 'v*' },
      body({ pattern: '' }),
      body({ pattern: '[v' }),
      body({ pattern: 'v*', decoration: 'repoMatches' }),
      body({ pattern: 'v*' }, { pattern: '**', decoration: 'matches' }),
      { ...body({ pattern: 'v*' }), scope_selectors: { repository: [] } },
      { ...body({ pattern: 'v*' }), scope_selectors: { namespace: [] } },
      { ...body({ pattern: 'v*' }), scope_selectors: null },
      { ...body({ pattern: 'v*' }), action: 'retain' },
      { ...body({ pattern: 'v*' }), template: 'latestPushedK' },
      { ...body({ pattern: 'v*' }), disabled: 'yes' },
      { ...body({ pattern: 'v*' }), priority: 1.5 },
      { ...body({ pattern: 'v*' }), tag_selectors: [{ kind: 'regexp', decoration: 'matches', pattern: 'v.*' }] },
    ];
    for (const b of bad) expect(() => parseRule(b), JSON.stringify(b)).toThrow(RuleValidationError);
  });
});

describe('ruleMatches', () => {
  it('matches repository path (inside the project) and tag', () => {
    const r = rule(body({ pattern: 'v*' }, { pattern: 'app/**' }));
    expect(ruleMatches(r, 'app/api', 'v1')).toBe(true);
    expect(ruleMatches(r, 'app', 'v1')).toBe(true);
    expect(ruleMatches(r, 'app/api', 'latest')).toBe(false);
    expect(ruleMatches(r, 'web', 'v1')).toBe(false);
  });

  it('excludes decorations invert', () => {
    const r = rule(body({ pattern: 'dev-*', decoration: 'excludes' }, { pattern: 'scratch/**', decoration: 'repoExcludes' }));
    expect(ruleMatches(r, 'app', 'v1')).toBe(true);
    expect(ruleMatches(r, 'app', 'dev-1')).toBe(false);
    expect(ruleMatches(r, 'scratch/x', 'v1')).toBe(false);
  });

  it('disabled rules match nothing', () => {
    expect(ruleMatches(rule(body({ pattern: '**' }, { pattern: '**' }, { disabled: true })), 'a', 'b')).toBe(false);
  });

  it('several selectors must all accept', () => {
    const r = rule({ ...body({ pattern: 'v*' }), tag_selectors: [{ kind: 'doublestar', decoration: 'matches', pattern: 'v*' }, { kind: 'doublestar', decoration: 'excludes', pattern: '*-rc*' }] });
    expect(ruleMatches(r, 'a', 'v1')).toBe(true);
    expect(ruleMatches(r, 'a', 'v1-rc1')).toBe(false);
  });

  it('describes itself for error messages', () => {
    expect(describeRule(rule(body({ pattern: 'v*' }, { pattern: 'app/**', decoration: 'repoExcludes' }), 7))).toBe('rule 7 (repository excludes app/**, tag matches v*)');
  });
});
