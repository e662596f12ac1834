// Tag retention: the pure evaluator. Given a project's artifacts and a retention policy (Harbor's
// RetentionPolicy shape), decide per repository which artifacts are retained (and by which rules)
// and which are deleted. No I/O; `now` is an input.
//
// Harbor's semantics, as read in goharbor/harbor (src/pkg/retention/launcher.go, policy/alg/or,
// policy/rule/{latestps,latestpl,daysps,dayspl,always}, policy/action/performer,
// src/lib/selector/selectors/doublestar, src/pkg/retention/dep/client.go):
//
// - Candidates are artifacts (one per digest, carrying all its tags), never single tags:
//   retention is matched at the tag level but carried out at the artifact level. Push time of a
//   candidate = latest of the artifact's push and its tags' push times; pull time likewise.
// - Disabled rules are ignored. A rule applies to a repository when every one of its repository
//   scope selectors selects the repository (selectors are applied one after another: AND). The
//   repository name matched is the path inside the project (`library/a/b` → `a/b`).
// - A repository no enabled rule applies to is not touched at all (Harbor starts no task for it).
// - In a repository, each applicable rule filters ALL the repository's artifacts through its tag
//   selectors (AND), then its template picks the ones to retain from what is left. The algorithm
//   is "or": an artifact is retained if any rule retains it.
// - Everything else in the repository is DELETED — including artifacts no rule's tag selector
//   selected. Untagged artifacts are therefore deleted unless a rule's tag selector lets them in
//   (`extras: {"untagged": true}` with `matches`) and the rule's template then retains them.
// - A rule without tag selectors is not evaluated by Harbor (it retains nothing); if no applicable
//   rule of a repository has a tag selector, Harbor runs no performer and nothing is deleted. The
//   API refuses such rules anyway (tag_selectors is required).
// - Tag selector `matches` selects a tagged artifact when ANY of its tags matches; `excludes`
//   when ANY of its tags does NOT match. An untagged artifact is selected by `matches` iff
//   untagged=true, by `excludes` iff untagged=false. `untagged` comes from `extras` (JSON); when
//   extras is empty or not JSON it defaults to true for `matches` and false for `excludes`
//   (Harbor's upgrade default); JSON without the key means false. An empty pattern matches all.
// - Templates: latestPushedK (the K most recently pushed), latestPulledN (the N most recently
//   pulled; never pulled sorts last but still counts when fewer than N were pulled),
//   nDaysSinceLastPush / nDaysSinceLastPull (pushed / pulled at or after now - N days, compared
//   in whole seconds as Harbor does; never pulled is never within), always (all selected).
//   Harbor's sorts are unstable; ties are broken here by push time, then digest, so results are
//   deterministic. Parameters are JSON integers keyed by the template id; a missing or invalid
//   one falls back to Harbor's default (K/N 10, days 30) — the API rejects them before that.
// - Patterns are doublestar globs (src/immutability/doublestar.ts, shared with tag immutability);
//   a malformed pattern matches nothing here — the API refuses to store one.
import { matchDoublestar } from '../immutability/doublestar.ts';

export const TEMPLATES = ['latestPushedK', 'latestPulledN', 'nDaysSinceLastPush', 'nDaysSinceLastPull', 'always'] as const;
export type Template = (typeof TEMPLATES)[number];

export const MAX_RULES = 15;
const DAY_MS = 86_400_000;
/** Harbor's limits: counts below math.MaxInt16, days at most 20190904 */
export const MAX_COUNT = 32_766;
export const MAX_DAYS = 20_190_904;
const DEFAULTS: Record<Exclude<Template, 'always'>, number> = { latestPushedK: 10, latestPulledN: 10, nDaysSinceLastPush: 30, nDaysSinceLastPull: 30 };

export interface RetentionSelector {
  kind: string;
  decoration: string;
  pattern: string;
  extras?: string;
}

export interface RetentionRule {
  id?: number;
  priority?: number;
  disabled?: boolean;
  action?: string;
  template: string;
  params?: Record<string, unknown>;
  tag_selectors?: RetentionSelector[];
  scope_selectors?: Record<string, RetentionSelector[]>;
}

export interface RetentionTrigger {
  kind: string;
  settings?: Record<string, unknown>;
  references?: Record<string, unknown>;
}

export interface RetentionPolicy {
  id?: number;
  algorithm: string;
  rules: RetentionRule[];
  trigger?: RetentionTrigger;
  scope?: { level: string; ref: number };
}

/** One artifact of the project as retention sees it. Times are epoch milliseconds. */
export interface Candidate {
  /** full repository name, `<project>/<path>` */
  repository: string;
  digest: string;
  tags: string[];
  /** latest of the artifact's push and its tags' push times */
  pushedAt: number;
  /** last pull, null = never pulled */
  pulledAt: number | null;
}

export interface RetainedArtifact {
  artifact: Candidate;
  /** indexes (into policy.rules) of every rule that retained it */
  rules: number[];
}

export interface RepositoryDecision {
  repository: string;
  /** indexes of the enabled rules that apply to the repository */
  rules: number[];
  retained: RetainedArtifact[];
  deleted: Candidate[];
}

export interface Evaluation {
  /** repositories at least one rule applies to, by name */
  repositories: RepositoryDecision[];
  /** repositories no rule applies to: nothing in them is touched */
  untouched: string[];
}

/** The repository path Harbor's repository selectors see: the name without the project. */
export function repositoryPath(full: string): string {
  const i = full.indexOf('/');
  return i === -1 ? full : full.slice(i + 1);
}

/** The `untagged` flag of a tag selector (Harbor's doublestar.New). */
export function untaggedFlag(s: RetentionSelector): boolean {
  let untagged = s.decoration !== 'excludes';
  if (s.extras) {
    try {
      const v = JSON.parse(s.extras);
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) untagged = (v as { untagged?: unknown }).untagged === true;
    } catch {
      /* Harbor keeps the default when extras is not JSON */
    }
  }
  return untagged;
}

const matches = (pattern: string, value: string) => pattern === '' || matchDoublestar(pattern, value);

/** Does the tag selector select the artifact? */
export function tagSelects(s: RetentionSelector, tags: readonly string[]): boolean {
  if (tags.length === 0) {
    const untagged = untaggedFlag(s);
    if (s.decoration === 'matches') return untagged;
    if (s.decoration === 'excludes') return !untagged;
    return false;
  }
  if (s.decoration === 'matches') return tags.some((t) => matches(s.pattern, t));
  if (s.decoration === 'excludes') return tags.some((t) => !matches(s.pattern, t));
  return false;
}

/** Does the repository selector select the repository (full name; matched without the project)? */
export function repositorySelects(s: RetentionSelector, repository: string): boolean {
  const m = matches(s.pattern, repositoryPath(repository));
  if (s.decoration === 'repoMatches') return m;
  if (s.decoration === 'repoExcludes') return !m;
  return false;
}

/** Indexes of the enabled rules that apply to a repository. */
export function applicableRules(policy: RetentionPolicy, repository: string): number[] {
  const out: number[] = [];
  policy.rules.forEach((r, i) => {
    if (r.disabled) return;
    const sels = r.scope_selectors?.repository ?? [];
    if (sels.every((s) => repositorySelects(s, repository))) out.push(i);
  });
  return out;
}

/** A rule parameter as Harbor reads it (a JSON number, truncated), or Harbor's default. */
export function ruleParam(rule: RetentionRule): number {
  const t = rule.template as Exclude<Template, 'always'>;
  const v = rule.params?.[t];
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.trunc(v);
  return DEFAULTS[t] ?? 0;
}

const byPushed = (a: Candidate, b: Candidate) => b.pushedAt - a.pushedAt || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0);
const sec = (ms: number) => Math.floor(ms / 1000);

/** The artifacts (already through the tag selectors) a rule's template retains. */
export function applyTemplate(rule: RetentionRule, selected: Candidate[], now: number): Candidate[] {
  switch (rule.template as Template) {
    case 'always':
      return selected;
    case 'latestPushedK':
      return [...selected].sort(byPushed).slice(0, ruleParam(rule));
    case 'latestPulledN':
      return [...selected].sort((a, b) => (b.pulledAt ?? -Infinity) - (a.pulledAt ?? -Infinity) || byPushed(a, b)).slice(0, ruleParam(rule));
    case 'nDaysSinceLastPush': {
      const min = sec(now - ruleParam(rule) * DAY_MS);
      return selected.filter((a) => sec(a.pushedAt) >= min);
    }
    case 'nDaysSinceLastPull': {
      const min = sec(now - ruleParam(rule) * DAY_MS);
      return selected.filter((a) => a.pulledAt !== null && sec(a.pulledAt) >= min);
    }
    default:
      throw new Error(`unknown retention rule template ${JSON.stringify(rule.template)}`);
  }
}

/**
 * Decide one repository: its artifacts (all with `repository` equal to it). null when no enabled
 * rule applies (nothing is touched), or when no applicable rule has a tag selector (Harbor then
 * deletes nothing either).
 */
export function evaluateRepository(policy: RetentionPolicy, repository: string, artifacts: Candidate[], now: number): RepositoryDecision | null {
  if (policy.algorithm !== 'or') throw new Error(`retention algorithm ${JSON.stringify(policy.algorithm)} is not supported (only "or")`);
  const rules = applicableRules(policy, repository);
  const evaluated = rules.filter((i) => (policy.rules[i].tag_selectors ?? []).length > 0);
  if (evaluated.length === 0) return null;
  const retainedBy = new Map<string, number[]>();
  for (const i of evaluated) {
    const rule = policy.rules[i];
    let selected = artifacts;
    for (const s of rule.tag_selectors!) selected = selected.filter((a) => tagSelects(s, a.tags));
    for (const a of applyTemplate(rule, selected, now)) {
      const by = retainedBy.get(a.digest);
      if (by) by.push(i);
      else retainedBy.set(a.digest, [i]);
    }
  }
  const retained: RetainedArtifact[] = [];
  const deleted: Candidate[] = [];
  for (const a of [...artifacts].sort(byPushed)) {
    const by = retainedBy.get(a.digest);
    if (by) retained.push({ artifact: a, rules: by });
    else deleted.push(a);
  }
  return { repository, rules, retained, deleted };
}

/** Decide a whole project: the artifacts grouped by repository. */
export function evaluate(policy: RetentionPolicy, artifacts: Candidate[], now: number): Evaluation {
  const byRepo = new Map<string, Candidate[]>();
  for (const a of artifacts) {
    const l = byRepo.get(a.repository);
    if (l) l.push(a);
    else byRepo.set(a.repository, [a]);
  }
  const out: Evaluation = { repositories: [], untouched: [] };
  for (const repo of [...byRepo.keys()].sort()) {
    const d = evaluateRepository(policy, repo, byRepo.get(repo)!, now);
    if (d) out.repositories.push(d);
    else out.untouched.push(repo);
  }
  return out;
}

/** A rule as one line of text (for logs): `#1 latestPushedK(3) repos matches "**" tags matches "v*"`. */
export function describeRule(policy: RetentionPolicy, i: number): string {
  const r = policy.rules[i];
  const param = r.template === 'always' ? '' : `(${ruleParam(r)})`;
  const sel = (s: RetentionSelector) => `${s.decoration} ${JSON.stringify(s.pattern)}${s.decoration === 'matches' || s.decoration === 'excludes' ? ` untagged=${untaggedFlag(s)}` : ''}`;
  const repos = (r.scope_selectors?.repository ?? []).map(sel).join(' & ') || 'all';
  const tags = (r.tag_selectors ?? []).map(sel).join(' & ') || 'none';
  return `rule ${i + 1} ${r.template}${param} [repositories ${repos}; tags ${tags}]`;
}
