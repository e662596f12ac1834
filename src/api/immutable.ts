// Tag immutability rules of a project (Harbor's /projects/{p}/immutabletagrules API): list,
// create, update, delete; permission `immutable-tag` (Project Admins and Maintainers). Shapes
// follow Harbor's swagger definitions ImmutableRule and ImmutableSelector. Enforcement lives in
// src/immutability/guard.ts.
import { OciError } from '../errors/oci-errors.ts';
import { immutableRules, parseRule, ruleJson, RuleConflictError, RuleLimitError, RuleValidationError, type RuleInput } from '../immutability/rules.ts';
import { ApiError, badRequest, conflict, notFound, project, type ApiCtx, type ApiRoute } from './framework.ts';
import { parseQ, pathId, projectOf } from './projects.ts';

/**
 * Run registry policy checks (RegistryService.check*) for a management API delete: a refusal
 * (an OciError from a guard, e.g. an immutable tag) becomes Harbor's API answer, 412 PRECONDITION
 * with the guard's message.
 */
export async function apiGuard(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof OciError) throw new ApiError(e.status === 403 ? 412 : e.status, e.status === 403 ? 'PRECONDITION' : e.code, e.message);
    throw e;
  }
}

/** Which of `tags` of the repository `repo` (full name) are immutable, for Harbor's `tags[].immutable`. */
export async function immutableTagsOf(c: ApiCtx, repo: string, tags: string[]): Promise<Set<string>> {
  const p = projectOf(c);
  const store = immutableRules(c.svc.store);
  const out = new Set<string>();
  for (const t of new Set(tags)) if (await store.immutableBy(p.id, p.name, repo, t)) out.add(t);
  return out;
}

function ruleInput(b: Record<string, unknown>): RuleInput {
  try {
    return parseRule(b);
  } catch (e) {
    if (e instanceof RuleValidationError) throw badRequest(e.message);
    throw e;
  }
}

function storeErrors(e: unknown): never {
  if (e instanceof RuleLimitError) throw badRequest(e.message);
  if (e instanceof RuleConflictError) throw conflict(e.message);
  throw e;
}

const PI = '/projects/{project_name_or_id}/immutabletagrules';

export const immutableRoutes: ApiRoute[] = [
  {
    method: 'GET',
    path: PI,
    tag: 'immutable',
    summary: "The project's tag immutability rules, by priority",
    perm: project('immutable-tag', 'list'),
    handler: async (c: ApiCtx) => {
      const pg = c.page();
      parseQ(c, []);
      const rules = await immutableRules(c.svc.store).list(projectOf(c).id);
      c.paged(rules.slice(pg.offset, pg.offset + pg.pageSize).map(ruleJson), rules.length, pg);
    },
  },
  {
    method: 'POST',
    path: PI,
    tag: 'immutable',
    summary: 'Add a tag immutability rule (at most 15 per project)',
    perm: project('immutable-tag', 'create'),
    handler: async (c) => {
      const p = projectOf(c);
      const input = ruleInput(await c.body());
      const id = await immutableRules(c.svc.store).create(p.id, input).catch(storeErrors);
      c.audit('create', 'immutable_tag_rule', `${p.name}/${id}`, p.id);
      c.created(`/projects/${c.params.project_name_or_id}/immutabletagrules/${id}`);
    },
  },
  {
    method: 'PUT',
    path: `${PI}/{immutable_rule_id}`,
    tag: 'immutable',
    summary: 'Replace a tag immutability rule (also to enable or disable it)',
    perm: project('immutable-tag', 'update'),
    handler: async (c) => {
      const p = projectOf(c);
      const id = pathId(c, 'immutable_rule_id');
      const b = await c.body();
      if (b.id !== undefined && b.id !== null && b.id !== id) throw badRequest("the immutable_rule_id doesn't match the id in the payload body of ImmutableRule");
      const input = ruleInput(b);
      const ok = await immutableRules(c.svc.store).update(p.id, id, input).catch(storeErrors);
      if (!ok) throw notFound(`immutable tag rule ${id} not found in project ${p.name}`);
      c.audit('update', 'immutable_tag_rule', `${p.name}/${id}`, p.id);
      c.empty(200);
    },
  },
  {
    method: 'DELETE',
    path: `${PI}/{immutable_rule_id}`,
    tag: 'immutable',
    summary: 'Delete a tag immutability rule',
    perm: project('immutable-tag', 'delete'),
    handler: async (c) => {
      const p = projectOf(c);
      const id = pathId(c, 'immutable_rule_id');
      if (!(await immutableRules(c.svc.store).delete(p.id, id))) throw notFound(`immutable tag rule ${id} not found in project ${p.name}`);
      c.audit('delete', 'immutable_tag_rule', `${p.name}/${id}`, p.id);
      c.empty(200);
    },
  },
];
