// Tag retention policies: validation of Harbor's RetentionPolicy documents and their storage in
// `retention_policies` (one per project; the document as JSON, its id the row id).
//
// Validation follows Harbor (src/server/v2.0/handler/retention.go, src/pkg/retention/policy/
// models.go, rule/models.go and the templates' Valid functions): algorithm "or"; at most 15
// rules; a rule has a known template, action "retain", its parameter (keyed by the template id)
// a JSON integer from 0 (counts below 32767, days at most 20190904), at least one tag selector
// (doublestar, `matches` / `excludes`) and at least one repository scope selector (doublestar,
// `repoMatches` / `repoExcludes`), patterns non-empty; two identical rules are a conflict (409);
// the trigger kind is "Schedule" with `settings.cron` (empty = no schedule); the scope is
// {level: "project", ref: <project id>}. Lenient where Harbor's UI and clients differ: a missing
// algorithm means "or", a missing action "retain", a missing trigger no schedule.
import type { MetadataStore } from '../metadata/store.ts';
import { doublestarProblem } from '../immutability/doublestar.ts';
import { parseCron } from '../jobs/cron.ts';
import { MAX_COUNT, MAX_DAYS, MAX_RULES, TEMPLATES, type RetentionPolicy, type RetentionRule, type RetentionSelector } from './evaluate.ts';

export class RetentionValidationError extends Error {}
export class RetentionConflictError extends Error {}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const bad = (m: string) => new RetentionValidationError(m);

const TAG_DECORATIONS = ['matches', 'excludes'];
const REPO_DECORATIONS = ['repoMatches', 'repoExcludes'];

function parseSelector(v: unknown, where: string, decorations: string[]): RetentionSelector {
  if (!isObj(v)) throw bad(`${where} must be an object`);
  if (v.kind !== 'doublestar') throw bad(`${where}.kind must be "doublestar"`);
  if (typeof v.decoration !== 'string' || !decorations.includes(v.decoration)) throw bad(`${where}.decoration must be one of ${decorations.join(', ')}`);
  if (typeof v.pattern !== 'string' || v.pattern === '') throw bad(`${where}.pattern must be a non-empty doublestar pattern`);
  if (v.pattern.length > 1024) throw bad(`${where}.pattern is longer than 1024 characters`);
  const problem = doublestarProblem(v.pattern);
  if (problem) throw bad(`${where}.pattern: ${problem}`);
  if (v.extras !== undefined && v.extras !== null && typeof v.extras !== 'string') throw bad(`${where}.extras must be a string (JSON, e.g. {"untagged":true})`);
  const s: RetentionSelector = { kind: 'doublestar', decoration: v.decoration, pattern: v.pattern };
  if (typeof v.extras === 'string' && v.extras !== '') s.extras = v.extras;
  return s;
}

function parseRule(v: unknown, i: number): RetentionRule {
  const where = `rules[${i}]`;
  if (!isObj(v)) throw bad(`${where} must be an object`);
  const template = v.template;
  if (typeof template !== 'string' || !(TEMPLATES as readonly string[]).includes(template)) throw bad(`${where}.template must be one of ${TEMPLATES.join(', ')}`);
  if (v.action !== undefined && v.action !== 'retain') throw bad(`${where}.action must be "retain"`);
  if (v.disabled !== undefined && typeof v.disabled !== 'boolean') throw bad(`${where}.disabled must be a boolean`);
  if (v.priority !== undefined && v.priority !== null && !Number.isInteger(v.priority)) throw bad(`${where}.priority must be an integer`);
  if (v.params !== undefined && v.params !== null && !isObj(v.params)) throw bad(`${where}.params must be an object`);
  const params: Record<string, unknown> = {};
  if (template !== 'always') {
    const n = (v.params as Record<string, unknown> | undefined)?.[template];
    const max = template === 'latestPushedK' || template === 'latestPulledN' ? MAX_COUNT : MAX_DAYS;
    if (n === undefined || n === null) throw bad(`${where}: missing required parameter ${template} for rule ${template}`);
    if (typeof n !== 'number' || !Number.isInteger(n)) throw bad(`${where}.params.${template} must be an integer`);
    if (n < 0) throw bad(`${where}.params.${template} is less than zero`);
    if (n > max) throw bad(`${where}.params.${template} is too large (at most ${max})`);
    params[template] = n;
  }
  if (!Array.isArray(v.tag_selectors) || v.tag_selectors.length === 0) throw bad(`${where}.tag_selectors must be a non-empty array`);
  if (v.tag_selectors.length > 10) throw bad(`${where}.tag_selectors: at most 10 selectors`);
  const tag_selectors = v.tag_selectors.map((s, k) => parseSelector(s, `${where}.tag_selectors[${k}]`, TAG_DECORATIONS));
  if (!isObj(v.scope_selectors)) throw bad(`${where}.scope_selectors must be an object with a "repository" list`);
  for (const k of Object.keys(v.scope_selectors)) if (k !== 'repository') throw bad(`${where}.scope_selectors.${k} is not supported (project policies select repositories only)`);
  const repos = v.scope_selectors.repository;
  if (!Array.isArray(repos) || repos.length === 0) throw bad(`${where}.scope_selectors.repository must be a non-empty array`);
  if (repos.length > 10) throw bad(`${where}.scope_selectors.repository: at most 10 selectors`);
  return {
    id: i + 1,
    priority: typeof v.priority === 'number' ? v.priority : 0,
    disabled: v.disabled === true,
    action: 'retain',
    template,
    params,
    tag_selectors,
    scope_selectors: { repository: repos.map((s, k) => parseSelector(s, `${where}.scope_selectors.repository[${k}]`, REPO_DECORATIONS)) },
  };
}

/** Validate and normalise a RetentionPolicy body. Throws RetentionValidationError (400) or RetentionConflictError (409). */
export function parsePolicy(body: unknown): RetentionPolicy {
  if (!isObj(body)) throw bad('the policy must be a JSON object');
  const algorithm = body.algorithm ?? 'or';
  if (algorithm !== 'or') throw bad('algorithm must be "or"');
  const rawRules = body.rules ?? [];
  if (!Array.isArray(rawRules)) throw bad('rules must be an array');
  if (rawRules.length > MAX_RULES) throw bad(`only ${MAX_RULES} rules are allowed at most`);
  const rules = rawRules.map(parseRule);
  // Harbor: two rules that are the same apart from their id conflict.
  const seen = new Map<string, number>();
  rules.forEach((r, i) => {
    const key = JSON.stringify({ ...r, id: 0 });
    const prev = seen.get(key);
    if (prev !== undefined) throw new RetentionConflictError(`rule ${i} is conflict with rule ${prev}: the two rules are identical`);
    seen.set(key, i);
  });
  let trigger: RetentionPolicy['trigger'] = { kind: 'Schedule', settings: { cron: '' }, references: {} };
  if (body.trigger !== undefined && body.trigger !== null) {
    const t = body.trigger;
    if (!isObj(t)) throw bad('trigger must be an object');
    if (t.kind !== 'Schedule') throw bad('trigger.kind must be "Schedule"');
    if (t.settings !== undefined && t.settings !== null && !isObj(t.settings)) throw bad('trigger.settings must be an object');
    const cron = (t.settings as Record<string, unknown> | undefined)?.cron ?? '';
    if (typeof cron !== 'string') throw bad('trigger.settings.cron must be a string');
    if (cron.trim() !== '') {
      try {
        parseCron(cron);
      } catch (e) {
        throw bad(`trigger.settings.cron: ${(e as Error).message}`);
      }
    }
    if (t.references !== undefined && t.references !== null && !isObj(t.references)) throw bad('trigger.references must be an object');
    trigger = { kind: 'Schedule', settings: { cron: cron.trim() }, references: (t.references as Record<string, unknown> | undefined) ?? {} };
  }
  const scope = body.scope;
  if (!isObj(scope)) throw bad('scope is required: {"level": "project", "ref": <project id>}');
  if (scope.level !== 'project') throw bad(`scope ${JSON.stringify(scope.level)} is not supported (only "project")`);
  if (typeof scope.ref !== 'number' || !Number.isSafeInteger(scope.ref) || scope.ref <= 0) throw bad(`invalid Project id ${JSON.stringify(scope.ref)}`);
  return { algorithm: 'or', rules, trigger, scope: { level: 'project', ref: scope.ref } };
}

/** The cron of a policy's schedule, or null when it has none. */
export function scheduleOf(p: RetentionPolicy): string | null {
  const cron = p.trigger?.kind === 'Schedule' ? p.trigger.settings?.cron : undefined;
  return typeof cron === 'string' && cron.trim() !== '' ? cron.trim() : null;
}

export interface StoredPolicy {
  id: number;
  projectId: number;
  policy: RetentionPolicy;
  createdAt: number;
  updatedAt: number;
}

function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === '23505' || err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || /UNIQUE constraint/.test(err?.message ?? '');
}

/** The `retention_policies` table. */
export class RetentionPolicies {
  constructor(private readonly meta: MetadataStore) {}

  private row(r: { id: number; project_id: number; policy: string; created_at: number; updated_at: number }): StoredPolicy {
    const id = Number(r.id);
    const projectId = Number(r.project_id);
    const doc = JSON.parse(r.policy) as RetentionPolicy;
    return { id, projectId, policy: { ...doc, id, scope: { level: 'project', ref: projectId } }, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) };
  }

  async get(id: number): Promise<StoredPolicy | null> {
    const r = await this.meta.db.selectFrom('retention_policies').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? this.row(r) : null;
  }

  async getByProject(projectId: number): Promise<StoredPolicy | null> {
    const r = await this.meta.db.selectFrom('retention_policies').selectAll().where('project_id', '=', projectId).executeTakeFirst();
    return r ? this.row(r) : null;
  }

  /** Store a project's policy; RetentionConflictError when the project has one already. */
  async create(projectId: number, policy: RetentionPolicy): Promise<number> {
    const t = Date.now();
    const { id: _id, ...doc } = policy;
    try {
      const r = await this.meta.db
        .insertInto('retention_policies')
        .values({ project_id: projectId, policy: JSON.stringify(doc), created_at: t, updated_at: t })
        .returning('id')
        .executeTakeFirstOrThrow();
      return Number(r.id);
    } catch (e) {
      if (isUniqueViolation(e)) {
        const existing = await this.getByProject(projectId);
        throw new RetentionConflictError(`project ${projectId} already has retention policy ${existing?.id ?? ''}`.trim());
      }
      throw e;
    }
  }

  async update(id: number, policy: RetentionPolicy): Promise<boolean> {
    const { id: _id, ...doc } = policy;
    const r = await this.meta.db.updateTable('retention_policies').set({ policy: JSON.stringify(doc), updated_at: Date.now() }).where('id', '=', id).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async delete(id: number): Promise<boolean> {
    const r = await this.meta.db.deleteFrom('retention_policies').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
