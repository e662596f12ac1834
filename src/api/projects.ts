// Projects (Harbor's /projects API): list, existence check, create, read, update, delete, summary
// and project metadata. Shapes follow Harbor's swagger definitions Project, ProjectReq,
// ProjectMetadata and ProjectSummary.
import { Identity } from '../identity/identity.ts';
import { ConflictError, type Project } from '../identity/store.ts';
import { ROLE_IDS } from '../rbac/permissions.ts';
import { QuotaStore, UNLIMITED } from '../quota/store.ts';
import { anyone, badRequest, conflict, forbidden, idParam, login, notFound, preconditionFailed, project, type ApiCtx, type ApiRoute } from './framework.ts';

// ------------------------------------------------------------------------------------------------
// Helpers shared by the project-scoped modules (members, repositories, artifacts)

/** Epoch milliseconds as Harbor's date-time. */
export const iso = (ms: number): string => new Date(ms).toISOString();

/** What Harbor answers for a pull time that never happened. */
export const NEVER = '0001-01-01T00:00:00.000Z';

/** The project loaded by the router for `project(...)` routes. */
export function projectOf(c: ApiCtx): Project {
  if (!c.project) throw new Error('route without a project permission used projectOf()');
  return c.project;
}

/** A boolean query parameter (`true`/`false`, also `1`/`0`), or `def` when absent. */
export function boolParam(c: ApiCtx, name: string, def: boolean): boolean;
export function boolParam(c: ApiCtx, name: string, def?: undefined): boolean | undefined;
export function boolParam(c: ApiCtx, name: string, def?: boolean): boolean | undefined {
  const v = c.query.get(name);
  if (v === null || v === '') return def;
  const s = v.toLowerCase();
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  throw badRequest(`${name} must be true or false`);
}

export interface QueryTerm {
  key: string;
  value: string;
  fuzzy: boolean;
}

/** Harbor's `q` syntax, the parts Wharf supports: `k=v` (exact) and `k=~v` (fuzzy), comma-separated. */
export function parseQ(c: ApiCtx, allowed: readonly string[]): Map<string, QueryTerm> {
  const out = new Map<string, QueryTerm>();
  const q = c.query.get('q');
  if (q === null || q === '') return out;
  for (const part of q.split(',')) {
    if (part === '') continue;
    const m = /^([a-z_]+)=(~?)(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid query ${JSON.stringify(part)}: expected key=value or key=~value`);
    const [, key, tilde, value] = m;
    if (!allowed.includes(key)) throw badRequest(`unsupported query key ${key} (supported: ${allowed.join(', ')})`);
    if (/^[{(\[].*[})\]]$/.test(value)) throw badRequest(`query ranges and lists are not supported (${key})`);
    out.set(key, { key, value, fuzzy: tilde === '~' });
  }
  return out;
}

/**
 * A numeric id from the path (`user_id`, `robot_id`, `mid`, `token_id`): 1 to 15 digits (the
 * framework's idParam: a longer one would overflow the database's bigint) and positive, or 400.
 */
export function pathId(c: ApiCtx, name: string): number {
  const id = idParam(c, name);
  if (id < 1) throw badRequest(`${name} must be a positive integer`);
  return id;
}

/** The caller's user id when it is a user (for self checks and role lookups). */
export function callerUserId(c: ApiCtx): number | null {
  return c.subject.kind === 'user' ? c.subject.id : null;
}

// ------------------------------------------------------------------------------------------------
// Validation

const PROJECT_NAME_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

export function validProjectName(name: unknown): name is string {
  return typeof name === 'string' && name.length >= 1 && name.length <= 255 && PROJECT_NAME_RE.test(name);
}

const BOOL_KEYS = ['public', 'enable_content_trust', 'enable_content_trust_cosign', 'prevent_vul', 'auto_scan', 'auto_sbom_generation', 'reuse_sys_cve_allowlist'];
const SEVERITIES = ['none', 'negligible', 'low', 'medium', 'high', 'critical'];
/** Go's strconv.ParseBool, which Harbor uses for boolean metadata (normalized to "true"/"false"). */
const TRUE_STRINGS = ['1', 't', 'T', 'TRUE', 'true', 'True'];
const FALSE_STRINGS = ['0', 'f', 'F', 'FALSE', 'false', 'False'];
export const METADATA_KEYS = [...BOOL_KEYS, 'severity', 'retention_id', 'proxy_speed_kb'] as const;

/** Validate a Harbor project metadata map (string values, known keys). Returns a normalized copy. */
export function validateMetadata(v: unknown, where = 'metadata'): Record<string, string> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest(`${where} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (!(METADATA_KEYS as readonly string[]).includes(k)) throw badRequest(`unknown project metadata key ${JSON.stringify(k)} (allowed: ${METADATA_KEYS.join(', ')})`);
    if (typeof val !== 'string') throw badRequest(`${where}.${k} must be a string`);
    let norm = val;
    if (BOOL_KEYS.includes(k)) {
      if (TRUE_STRINGS.includes(val)) norm = 'true';
      else if (FALSE_STRINGS.includes(val)) norm = 'false';
      else throw badRequest(`${where}.${k} must be "true" or "false"`);
    } else if (k === 'severity') {
      norm = val.toLowerCase();
      if (!SEVERITIES.includes(norm)) throw badRequest(`${where}.severity must be one of ${SEVERITIES.join(', ')}`);
    } else if (k === 'retention_id') {
      if (!/^\d{1,18}$/.test(val)) throw badRequest(`${where}.retention_id must be a numeric id`);
    } else if (k === 'proxy_speed_kb') {
      if (!/^-?\d{1,15}$/.test(val) || Number(val) < -1) throw badRequest(`${where}.proxy_speed_kb must be an integer (-1 = unlimited)`);
    }
    out[k] = norm;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Representation

function metadataOf(p: Project): Record<string, string> {
  return { ...p.metadata, public: String(p.public) };
}

async function roleIdsOf(c: ApiCtx, projectId: number): Promise<number[]> {
  const rid = await c.identity.roleId(c.subject, projectId);
  return rid === null ? [] : [rid];
}

function projectJson(p: Project, extra: { ownerName: string | null; repoCount: number; roleIds: number[] }) {
  return {
    project_id: p.id,
    owner_id: p.ownerId ?? 0,
    name: p.name,
    creation_time: iso(p.createdAt),
    update_time: iso(p.updatedAt),
    deleted: false,
    owner_name: extra.ownerName ?? '',
    togglable: true,
    current_user_role_id: extra.roleIds[0] ?? 0,
    current_user_role_ids: extra.roleIds,
    repo_count: extra.repoCount,
    metadata: metadataOf(p),
  };
}

async function oneProjectJson(c: ApiCtx, p: Project) {
  const owner = p.ownerId === null ? null : await c.identity.store.getUser(p.ownerId);
  return projectJson(p, { ownerName: owner?.username ?? null, repoCount: await c.identity.store.countRepositories(p.name), roleIds: await roleIdsOf(c, p.id) });
}

/** Apply a validated metadata patch (and a `public` flag) to a project; refreshes permission caches. */
async function patchProject(c: ApiCtx, p: Project, patch: Record<string, string>, remove: string[] = []): Promise<void> {
  const metadata = { ...p.metadata, ...patch };
  for (const k of remove) delete metadata[k];
  const pub = patch.public !== undefined ? patch.public === 'true' : p.public;
  metadata.public = String(pub);
  await c.identity.store.updateProject(p.id, { public: pub, metadata });
  c.identity.changed();
}

// ------------------------------------------------------------------------------------------------
// Routes

const SORT_COLUMNS: Record<string, 'name' | 'created_at' | 'updated_at' | 'id'> = { name: 'name', creation_time: 'created_at', update_time: 'updated_at', project_id: 'id' };

const PP = '/projects/{project_name_or_id}';

export const projectRoutes: ApiRoute[] = [
  // HEAD must come before GET /projects: the router lets HEAD fall through to a GET route.
  {
    method: 'HEAD',
    path: '/projects',
    tag: 'project',
    summary: 'Check whether a project name is taken (?project_name=)',
    perm: login,
    handler: async (c) => {
      const name = c.query.get('project_name');
      if (!name) throw badRequest('project_name is required');
      const p = await c.identity.store.getProjectByName(name);
      if (!p) throw notFound(`project ${name} not found`);
      c.empty(200);
    },
  },
  {
    method: 'GET',
    path: '/projects',
    tag: 'project',
    summary: 'List the projects the caller can see (public ones, those they are a member of; all for system admins)',
    perm: anyone,
    handler: async (c) => {
      if (!Identity.scopeAllows(c.subject, 'api:read')) throw forbidden('the access token lacks the scope for this request');
      const pg = c.page();
      const q = parseQ(c, ['name', 'public', 'owner']);
      let name = c.query.get('name') ?? undefined;
      let exactName = false;
      const qn = q.get('name');
      if (qn) {
        name = qn.value;
        exactName = !qn.fuzzy;
      }
      let pub = boolParam(c, 'public');
      const qp = q.get('public');
      if (qp) {
        if (qp.value !== 'true' && qp.value !== 'false') throw badRequest('public must be true or false');
        pub = qp.value === 'true';
      }
      const owner = q.get('owner')?.value ?? c.query.get('owner') ?? undefined;
      boolParam(c, 'with_detail', true);
      let sort: { column: 'name' | 'created_at' | 'updated_at' | 'id'; desc: boolean } | undefined;
      const s = c.query.get('sort');
      if (s) {
        const desc = s.startsWith('-');
        const col = SORT_COLUMNS[desc ? s.slice(1) : s];
        if (!col) throw badRequest(`unsupported sort ${s} (supported: ${Object.keys(SORT_COLUMNS).join(', ')}, optionally prefixed with -)`);
        sort = { column: col, desc };
      }
      const subj = c.subject;
      let visible: { all: true } | { memberUserId?: number; names?: string[] };
      if (subj.kind === 'user') visible = subj.sysadmin ? { all: true } : { memberUserId: subj.id };
      else if (subj.kind === 'robot') {
        const perms = subj.permissions.filter((p) => p.kind === 'project');
        visible = subj.level === 'system' && perms.some((p) => p.namespace === '*') ? { all: true } : { names: perms.map((p) => p.namespace) };
      } else visible = {};
      const { items, total } = await c.identity.store.listProjectsPage({ visible, name, exactName, public: pub, owner: owner || undefined, sort, offset: pg.offset, limit: pg.pageSize });
      const roles = await Promise.all(items.map((p) => roleIdsOf(c, p.id)));
      c.paged(
        items.map((p, i) => projectJson(p, { ownerName: p.ownerName, repoCount: p.repoCount, roleIds: roles[i] })),
        total,
        pg,
      );
    },
  },
  {
    method: 'POST',
    path: '/projects',
    tag: 'project',
    summary: 'Create a project; the creator becomes its Project Admin',
    perm: login,
    handler: async (c) => {
      const s = c.subject;
      const mayCreate = s.kind === 'user' ? s.sysadmin || c.svc.config.projectCreation !== 'adminonly' : c.identity.canSystem(s, 'project', 'create');
      if (!mayCreate) throw forbidden(c.svc.config.projectCreation === 'adminonly' ? 'only system admins may create projects' : 'not allowed to create projects');
      const b = await c.body();
      if (b.project_name === undefined) throw badRequest('project_name is required');
      if (!validProjectName(b.project_name)) throw badRequest('project_name must be 1-255 characters of lower-case letters and digits, separated by single ".", "_" or "-"');
      if (b.public !== undefined && b.public !== null && typeof b.public !== 'boolean') throw badRequest('public must be a boolean');
      const metadata = b.metadata === undefined || b.metadata === null ? {} : validateMetadata(b.metadata);
      if (b.registry_id !== undefined && b.registry_id !== null) throw badRequest('proxy cache projects (registry_id) are not supported');
      if (b.storage_limit !== undefined && b.storage_limit !== null && (typeof b.storage_limit !== 'number' || !Number.isSafeInteger(b.storage_limit) || b.storage_limit < -1)) {
        throw badRequest('storage_limit must be an integer (-1 = unlimited)');
      }
      if (b.cve_allowlist !== undefined && b.cve_allowlist !== null && (typeof b.cve_allowlist !== 'object' || Array.isArray(b.cve_allowlist))) throw badRequest('cve_allowlist must be an object');
      // Harbor: metadata.public wins over the deprecated top-level public; default private.
      const pub = metadata.public !== undefined ? metadata.public === 'true' : b.public === true;
      metadata.public = String(pub);
      let p: Project;
      try {
        p = await c.identity.store.createProject({ name: b.project_name, ownerId: s.kind === 'user' ? s.id : null, public: pub, metadata });
      } catch (e) {
        if (e instanceof ConflictError) throw conflict(`project ${b.project_name} already exists`);
        throw e;
      }
      // Harbor: only a system admin chooses the storage limit; 0 or none means the default (unlimited).
      const limit = typeof b.storage_limit === 'number' && b.storage_limit !== 0 && c.identity.canSystem(s, 'project', 'create') ? b.storage_limit : UNLIMITED;
      await new QuotaStore(c.svc.store).setHard(p.id, limit);
      c.identity.changed();
      c.audit('create', 'project', p.name, p.id);
      const byName = String(c.req.headers['x-resource-name-in-location'] ?? '').toLowerCase() === 'true';
      c.created(`/projects/${byName ? p.name : p.id}`);
    },
  },
  {
    method: 'GET',
    path: PP,
    tag: 'project',
    summary: 'A project',
    perm: project('project', 'read'),
    handler: async (c) => c.json(200, await oneProjectJson(c, projectOf(c))),
  },
  {
    method: 'PUT',
    path: PP,
    tag: 'project',
    summary: "Update a project's metadata (public, …)",
    perm: project('project', 'update'),
    handler: async (c) => {
      const p = projectOf(c);
      const b = await c.body();
      if (b.project_name !== undefined && b.project_name !== p.name) throw badRequest('a project cannot be renamed');
      if (b.public !== undefined && b.public !== null && typeof b.public !== 'boolean') throw badRequest('public must be a boolean');
      const patch = b.metadata === undefined || b.metadata === null ? {} : validateMetadata(b.metadata);
      if (patch.public === undefined && typeof b.public === 'boolean') patch.public = String(b.public);
      if (b.storage_limit !== undefined && b.storage_limit !== null && (typeof b.storage_limit !== 'number' || !Number.isSafeInteger(b.storage_limit) || b.storage_limit < -1)) {
        throw badRequest('storage_limit must be an integer (-1 = unlimited)');
      }
      if (b.cve_allowlist !== undefined && b.cve_allowlist !== null && (typeof b.cve_allowlist !== 'object' || Array.isArray(b.cve_allowlist))) throw badRequest('cve_allowlist must be an object');
      await patchProject(c, p, patch);
      c.audit('update', 'project', p.name, p.id);
      c.empty(200);
    },
  },
  {
    method: 'DELETE',
    path: PP,
    tag: 'project',
    summary: 'Delete a project (only when it holds no repositories)',
    perm: project('project', 'delete'),
    handler: async (c) => {
      const p = projectOf(c);
      const r = await c.identity.store.deleteProject(p.id);
      if (r === 'not-found') throw notFound(`project ${p.name} not found`);
      if (r === 'not-empty') throw preconditionFailed(`project ${p.name} still contains repositories; delete them first`);
      // The retention policy went with the project (cascade); its schedule must go too.
      await c.svc.jobs?.setSchedule('retention', `project:${p.id}`, null);
      c.identity.changed();
      c.audit('delete', 'project', p.name, p.id);
      c.empty(200);
    },
  },
  {
    method: 'GET',
    path: `${PP}/summary`,
    tag: 'project',
    summary: 'Repository count, member counts by role and storage used',
    perm: project('project', 'read'),
    handler: async (c) => {
      const p = projectOf(c);
      const out: Record<string, unknown> = { repo_count: await c.identity.store.countRepositories(p.name), chart_count: 0 };
      if (await c.can(p, 'member', 'list')) {
        const members = await c.identity.store.listMembers(p.id);
        const count = (rid: number) => members.filter((m) => m.roleId === rid).length;
        out.project_admin_count = count(ROLE_IDS.projectAdmin);
        out.maintainer_count = count(ROLE_IDS.maintainer);
        out.developer_count = count(ROLE_IDS.developer);
        out.guest_count = count(ROLE_IDS.guest);
        out.limited_guest_count = count(ROLE_IDS.limitedGuest);
      }
      if (await c.can(p, 'quota', 'read')) {
        // Harbor's quota (used: distinct blobs and manifests of the project); physical: blob bytes
        // only this project references, and (for system admins) the whole registry's blob store.
        const qs = new QuotaStore(c.svc.store);
        const physical: Record<string, number> = { unique_storage: await qs.uniqueBytes(p.name) };
        if (c.sysadmin) physical.registry_storage = await qs.registryBlobBytes();
        out.quota = { hard: { storage: (await qs.limitOf(p.name))?.hard ?? UNLIMITED }, used: { storage: (await qs.usage(p.name)).used }, physical };
      }
      c.json(200, out);
    },
  },
  {
    method: 'GET',
    path: `${PP}/metadatas`,
    tag: 'projectMetadata',
    summary: "A project's metadata (Harbor checks metadata:list here, which only system admins hold)",
    perm: project('metadata', 'list'),
    handler: async (c) => c.json(200, metadataOf(projectOf(c))),
  },
  {
    method: 'POST',
    path: `${PP}/metadatas`,
    tag: 'projectMetadata',
    summary: 'Add (or overwrite) one metadata entry {key: "value"}',
    perm: project('metadata', 'create'),
    handler: async (c) => {
      const p = projectOf(c);
      const b = await c.body();
      if (Object.keys(b).length !== 1) throw badRequest('exactly one key/value pair is allowed');
      const patch = validateMetadata(b, 'body');
      await patchProject(c, p, patch);
      c.audit('create', 'project_metadata', `${p.name}/${Object.keys(patch)[0]}`, p.id);
      c.empty(200);
    },
  },
  {
    method: 'GET',
    path: `${PP}/metadatas/{meta_name}`,
    tag: 'projectMetadata',
    summary: 'One metadata entry',
    perm: project('metadata', 'read'),
    handler: async (c) => {
      const name = c.params.meta_name;
      const md = metadataOf(projectOf(c));
      if (!Object.prototype.hasOwnProperty.call(md, name)) throw notFound(`project metadata ${name} not found`);
      c.json(200, { [name]: md[name] });
    },
  },
  {
    method: 'PUT',
    path: `${PP}/metadatas/{meta_name}`,
    tag: 'projectMetadata',
    summary: 'Update one metadata entry (body {meta_name: "value"})',
    perm: project('metadata', 'update'),
    handler: async (c) => {
      const p = projectOf(c);
      const name = c.params.meta_name;
      if (!(METADATA_KEYS as readonly string[]).includes(name)) throw badRequest(`unknown project metadata key ${JSON.stringify(name)}`);
      const patch = validateMetadata(await c.body(), 'body');
      const keys = Object.keys(patch);
      if (keys.length !== 1 || keys[0] !== name) throw badRequest(`the body must hold exactly the key ${name}`);
      if (!Object.prototype.hasOwnProperty.call(metadataOf(p), name)) throw notFound(`project metadata ${name} not found`);
      await patchProject(c, p, patch);
      c.audit('update', 'project_metadata', `${p.name}/${name}`, p.id);
      c.empty(200);
    },
  },
  {
    method: 'DELETE',
    path: `${PP}/metadatas/{meta_name}`,
    tag: 'projectMetadata',
    summary: 'Delete one metadata entry (not public)',
    perm: project('metadata', 'delete'),
    handler: async (c) => {
      const p = projectOf(c);
      const name = c.params.meta_name;
      if (!(METADATA_KEYS as readonly string[]).includes(name)) throw badRequest(`unknown project metadata key ${JSON.stringify(name)}`);
      if (name === 'public') throw badRequest('the public metadata cannot be deleted; set it to "false" instead');
      if (!Object.prototype.hasOwnProperty.call(p.metadata, name)) throw notFound(`project metadata ${name} not found`);
      await patchProject(c, p, {}, [name]);
      c.audit('delete', 'project_metadata', `${p.name}/${name}`, p.id);
      c.empty(200);
    },
  },
];
