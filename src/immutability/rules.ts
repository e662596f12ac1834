// Tag immutability rules (Harbor's ImmutableRule): per project, a rule names repositories (scope
// selectors, matched against the repository path inside the project, e.g. `app/api` for
// `team/app/api`) and tags (tag selectors); a tag both select is immutable unless the rule is
// disabled. Selectors are doublestar patterns with Harbor's decorations: `repoMatches` /
// `repoExcludes` for repositories, `matches` / `excludes` for tags. Several selectors of one kind
// must all agree (Harbor's own matcher only looks at the first; its UI only ever writes one).
//
// Rules live in `immutable_rules` (disabled and priority as columns, the rest as JSON). Lookups
// are cached per project for a short time and dropped at once when a rule changes through this
// process; other processes of a cluster see a change within CACHE_TTL_MS.
import type { MetadataStore } from '../metadata/store.ts';
import { doublestarProblem, matchDoublestar } from './doublestar.ts';

/** Harbor's limit (its UI enforces it; Wharf enforces it on the server). */
export const MAX_RULES_PER_PROJECT = 15;
export const CACHE_TTL_MS = 2000;

export interface Selector {
  kind: 'doublestar';
  decoration: string;
  pattern: string;
  extras?: string;
}

export interface ImmutableRule {
  id: number;
  projectId: number;
  disabled: boolean;
  priority: number;
  action: string;
  template: string;
  params: Record<string, unknown>;
  tagSelectors: Selector[];
  repoSelectors: Selector[];
}

export type RuleInput = Omit<ImmutableRule, 'id' | 'projectId'>;

export class RuleValidationError extends Error {}
export class RuleLimitError extends Error {}
export class RuleConflictError extends Error {}

const TAG_DECORATIONS = ['matches', 'excludes'];
const REPO_DECORATIONS = ['repoMatches', 'repoExcludes'];

function selectors(v: unknown, where: string, decorations: string[]): Selector[] {
  if (!Array.isArray(v) || v.length === 0) throw new RuleValidationError(`${where} must be a non-empty array of selectors`);
  if (v.length > 10) throw new RuleValidationError(`${where} holds more than 10 selectors`);
  return v.map((s, i) => {
    const at = `${where}[${i}]`;
    if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new RuleValidationError(`${at} must be an object`);
    const o = s as Record<string, unknown>;
    if (o.kind !== 'doublestar') throw new RuleValidationError(`${at}.kind must be "doublestar"`);
    if (typeof o.decoration !== 'string' || !decorations.includes(o.decoration)) throw new RuleValidationError(`${at}.decoration must be one of ${decorations.join(', ')}`);
    if (typeof o.pattern !== 'string' || o.pattern === '' || o.pattern.length > 1024) throw new RuleValidationError(`${at}.pattern must be a non-empty doublestar pattern`);
    const problem = doublestarProblem(o.pattern);
    if (problem) throw new RuleValidationError(`${at}.pattern: ${problem}`);
    if (o.extras !== undefined && o.extras !== null && typeof o.extras !== 'string') throw new RuleValidationError(`${at}.extras must be a string`);
    const out: Selector = { kind: 'doublestar', decoration: o.decoration, pattern: o.pattern };
    if (typeof o.extras === 'string' && o.extras !== '') out.extras = o.extras;
    return out;
  });
}

/** Validate a Harbor ImmutableRule body into a rule; throws RuleValidationError. */
export function parseRule(body: Record<string, unknown>): RuleInput {
  if (body.disabled !== undefined && body.disabled !== null && typeof body.disabled !== 'boolean') throw new RuleValidationError('disabled must be a boolean');
  if (body.priority !== undefined && body.priority !== null && (typeof body.priority !== 'number' || !Number.isSafeInteger(body.priority))) throw new RuleValidationError('priority must be an integer');
  if (body.action !== undefined && body.action !== null && body.action !== '' && body.action !== 'immutable') throw new RuleValidationError('action must be "immutable"');
  if (body.template !== undefined && body.template !== null && body.template !== '' && body.template !== 'immutable_template') throw new RuleValidationError('template must be "immutable_template"');
  if (body.params !== undefined && body.params !== null && (typeof body.params !== 'object' || Array.isArray(body.params))) throw new RuleValidationError('params must be an object');
  const scope = body.scope_selectors;
  if (scope === null || typeof scope !== 'object' || Array.isArray(scope)) throw new RuleValidationError('scope_selectors must be an object {repository: [selector]}');
  for (const k of Object.keys(scope)) if (k !== 'repository') throw new RuleValidationError(`unsupported scope selector ${JSON.stringify(k)} (only "repository")`);
  return {
    disabled: body.disabled === true,
    priority: typeof body.priority === 'number' ? body.priority : 0,
    action: 'immutable',
    template: 'immutable_template',
    params: (body.params as Record<string, unknown> | undefined) ?? {},
    tagSelectors: selectors(body.tag_selectors, 'tag_selectors', TAG_DECORATIONS),
    repoSelectors: selectors((scope as Record<string, unknown>).repository, 'scope_selectors.repository', REPO_DECORATIONS),
  };
}

/** Harbor's ImmutableRule JSON. */
export function ruleJson(r: ImmutableRule) {
  return {
    id: r.id,
    project_id: r.projectId,
    disabled: r.disabled,
    priority: r.priority,
    action: r.action,
    template: r.template,
    params: r.params,
    tag_selectors: r.tagSelectors,
    scope_selectors: { repository: r.repoSelectors },
  };
}

function accepts(s: Selector, value: string): boolean {
  const m = matchDoublestar(s.pattern, value);
  return s.decoration === 'matches' || s.decoration === 'repoMatches' ? m : !m;
}

/** Does the (enabled) rule make `tag` of the repository `path` (inside the project) immutable? */
export function ruleMatches(r: ImmutableRule, path: string, tag: string): boolean {
  if (r.disabled) return false;
  return r.repoSelectors.every((s) => accepts(s, path)) && r.tagSelectors.every((s) => accepts(s, tag));
}

/** A short description of a rule for error messages: `rule 3 (repository matches **, tag matches v*)`. */
export function describeRule(r: ImmutableRule): string {
  const sel = (what: string, s: Selector) => `${what} ${s.decoration.replace(/^repo/, '').toLowerCase()} ${s.pattern}`;
  return `rule ${r.id} (${[...r.repoSelectors.map((s) => sel('repository', s)), ...r.tagSelectors.map((s) => sel('tag', s))].join(', ')})`;
}

interface Row {
  id: number;
  project_id: number;
  disabled: number;
  priority: number;
  rule: string;
}

function toRule(r: Row): ImmutableRule {
  let doc: Record<string, any> = {};
  try {
    doc = JSON.parse(r.rule);
  } catch {
    doc = {};
  }
  return {
    id: Number(r.id),
    projectId: Number(r.project_id),
    disabled: Number(r.disabled) === 1,
    priority: Number(r.priority),
    action: doc.action ?? 'immutable',
    template: doc.template ?? 'immutable_template',
    params: doc.params ?? {},
    tagSelectors: Array.isArray(doc.tag_selectors) ? doc.tag_selectors : [],
    repoSelectors: Array.isArray(doc.scope_selectors?.repository) ? doc.scope_selectors.repository : [],
  };
}

const docOf = (r: RuleInput) => JSON.stringify({ action: r.action, template: r.template, params: r.params, tag_selectors: r.tagSelectors, scope_selectors: { repository: r.repoSelectors } });
/** what makes two rules the same (Harbor refuses a duplicate with 409) */
const identityOf = (r: Pick<RuleInput, 'tagSelectors' | 'repoSelectors'>) => JSON.stringify([r.repoSelectors.map((s) => [s.decoration, s.pattern]), r.tagSelectors.map((s) => [s.decoration, s.pattern])]);

export class ImmutableRuleStore {
  private readonly cache = new Map<number, { rules: ImmutableRule[]; at: number }>();
  /** bumped on every local change, so a lookup that raced a change is not cached */
  private gen = 0;

  constructor(private readonly meta: MetadataStore) {}

  private invalidate(projectId: number): void {
    this.gen++;
    this.cache.delete(projectId);
  }

  /** Every rule of a project (disabled ones too), by priority then id. Cached briefly. */
  async rulesOf(projectId: number): Promise<ImmutableRule[]> {
    const c = this.cache.get(projectId);
    if (c && Date.now() - c.at < CACHE_TTL_MS) return c.rules;
    const gen = this.gen;
    const rules = await this.list(projectId);
    if (gen === this.gen) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(projectId, { rules, at: Date.now() });
    }
    return rules;
  }

  /** The first enabled rule that makes `repo:tag` immutable (`repo` the full name), or null. */
  async immutableBy(projectId: number, projectName: string, repo: string, tag: string): Promise<ImmutableRule | null> {
    const rules = await this.rulesOf(projectId);
    if (!rules.length) return null;
    const path = repo.startsWith(`${projectName}/`) ? repo.slice(projectName.length + 1) : repo;
    return rules.find((r) => ruleMatches(r, path, tag)) ?? null;
  }

  /** Uncached list straight from the database. */
  async list(projectId: number): Promise<ImmutableRule[]> {
    const rows = await this.meta.db.selectFrom('immutable_rules').select(['id', 'project_id', 'disabled', 'priority', 'rule']).where('project_id', '=', projectId).orderBy('priority').orderBy('id').execute();
    return rows.map((r) => toRule(r as Row));
  }

  async get(projectId: number, id: number): Promise<ImmutableRule | null> {
    const r = await this.meta.db.selectFrom('immutable_rules').select(['id', 'project_id', 'disabled', 'priority', 'rule']).where('id', '=', id).where('project_id', '=', projectId).executeTakeFirst();
    return r ? toRule(r as Row) : null;
  }

  /** Add a rule; RuleLimitError past MAX_RULES_PER_PROJECT, RuleConflictError for a duplicate. */
  async create(projectId: number, r: RuleInput): Promise<number> {
    try {
      return await this.meta.writeTx(async (trx) => {
        const existing = (await trx.selectFrom('immutable_rules').select(['id', 'project_id', 'disabled', 'priority', 'rule']).where('project_id', '=', projectId).execute()).map((x) => toRule(x as Row));
        if (existing.length >= MAX_RULES_PER_PROJECT) throw new RuleLimitError(`a project holds at most ${MAX_RULES_PER_PROJECT} immutable tag rules`);
        if (existing.some((x) => identityOf(x) === identityOf(r))) throw new RuleConflictError('an identical immutable tag rule exists in the project');
        const t = Date.now();
        const row = await trx
          .insertInto('immutable_rules')
          .values({ project_id: projectId, disabled: r.disabled ? 1 : 0, priority: r.priority, rule: docOf(r), created_at: t, updated_at: t })
          .returning('id')
          .executeTakeFirstOrThrow();
        return Number(row.id);
      });
    } finally {
      this.invalidate(projectId);
    }
  }

  /** Replace a rule; false if it is not a rule of the project. RuleConflictError for a duplicate. */
  async update(projectId: number, id: number, r: RuleInput): Promise<boolean> {
    try {
      return await this.meta.writeTx(async (trx) => {
        const existing = (await trx.selectFrom('immutable_rules').select(['id', 'project_id', 'disabled', 'priority', 'rule']).where('project_id', '=', projectId).execute()).map((x) => toRule(x as Row));
        if (!existing.some((x) => x.id === id)) return false;
        if (existing.some((x) => x.id !== id && identityOf(x) === identityOf(r))) throw new RuleConflictError('an identical immutable tag rule exists in the project');
        await trx
          .updateTable('immutable_rules')
          .set({ disabled: r.disabled ? 1 : 0, priority: r.priority, rule: docOf(r), updated_at: Date.now() })
          .where('id', '=', id)
          .where('project_id', '=', projectId)
          .execute();
        return true;
      });
    } finally {
      this.invalidate(projectId);
    }
  }

  async delete(projectId: number, id: number): Promise<boolean> {
    try {
      const r = await this.meta.db.deleteFrom('immutable_rules').where('id', '=', id).where('project_id', '=', projectId).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    } finally {
      this.invalidate(projectId);
    }
  }
}

const stores = new WeakMap<MetadataStore, ImmutableRuleStore>();

/** The one rule store (and cache) of a metadata database in this process: shared by the guard and the API. */
export function immutableRules(meta: MetadataStore): ImmutableRuleStore {
  let s = stores.get(meta);
  if (!s) {
    s = new ImmutableRuleStore(meta);
    stores.set(meta, s);
  }
  return s;
}
