// Robot accounts: Harbor's /robots API. Project robots are `robot$<project>+<name>` with exactly one
// permission entry for their project; system robots are `robot$<name>`, made by system admins.
// Secrets are random (or, on refresh, chosen by the caller under the password policy) and shown
// only in the answers to POST and PATCH. Random ones are stored as SHA-256 (256 random bits leave
// nothing to brute-force); chosen ones are scrypt-hashed like passwords.
import { Identity, type Subject } from '../identity/identity.ts';
import { hashPassword, newSecret, passwordPolicyError, sha256hex } from '../identity/secrets.ts';
import { ConflictError, type Project, type Robot, type RobotAccess, type RobotPermission } from '../identity/store.ts';
import { ACTIONS, RESOURCES, type Action, type Resource } from '../rbac/permissions.ts';
import { badRequest, conflict, custom, denial, forbidden, notFound, type ApiCtx, type ApiRoute } from './framework.ts';
import { parseQuery } from './audit-logs.ts';
import { durationToExpiry, expiresAtSeconds } from './tokens.ts';
import { pathId } from './projects.ts';

/** Harbor's robot name rule (the part after `robot$` / `robot$<project>+`). */
export const ROBOT_NAME_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/**
 * System-level permissions (`kind: system`, namespace `/`) a system robot may hold: read-only
 * views plus project creation. Nothing that manages users or mints credentials.
 */
export const SYSTEM_GRANTS: Readonly<Record<string, readonly string[]>> = {
  'audit-log': ['list'],
  robot: ['list', 'read'],
  project: ['list', 'create'],
};

const MAX_ACCESS = 200;

/** Harbor's Robot (never the secret). */
export function robotJson(r: Robot) {
  return {
    id: r.id,
    name: r.name,
    description: r.description ?? '',
    level: r.level,
    duration: r.duration,
    editable: true,
    disable: r.disabled,
    expires_at: expiresAtSeconds(r.expiresAt),
    permissions: r.permissions,
    creation_time: new Date(r.createdAt).toISOString(),
    update_time: new Date(r.updatedAt).toISOString(),
  };
}

function robotIdParam(c: ApiCtx): number {
  return pathId(c, 'robot_id');
}

function requireLogin(c: ApiCtx): void {
  if (c.subject.kind === 'anonymous') throw denial(c.subject);
}

/** Is the request authenticated by a robot or a personal access token (whose grants are limited)? */
function limitedCaller(s: Subject): boolean {
  return s.kind === 'robot' || (s.kind === 'user' && s.tokenId !== null);
}

/** The personal-access-token scope a robot permission amounts to. */
function scopeFor(a: RobotAccess): string {
  if (a.resource === 'repository' && (a.action === 'pull' || a.action === 'push' || a.action === 'delete')) return a.action;
  return a.action === 'read' || a.action === 'list' ? 'api:read' : 'api:write';
}

/**
 * A caller authenticated by a robot or a personal access token may only hand out (or obtain the
 * secret of) rights it holds itself: a token's scopes and a robot's own permissions bound what it
 * can pass on, so neither can mint a wider credential.
 */
async function requireGrantable(c: ApiCtx, perms: RobotPermission[]): Promise<void> {
  const s = c.subject;
  if (!limitedCaller(s)) return;
  for (const p of perms) {
    for (const a of p.access) {
      if (!Identity.scopeAllows(s, scopeFor(a))) throw forbidden(`the access token lacks the scope to grant ${a.resource}:${a.action}`);
      if (s.kind === 'user' && s.sysadmin) continue;
      const proj = p.kind === 'project' && p.namespace !== '*' ? await c.identity.project(p.namespace) : null;
      if (!proj || !(await c.identity.can(s, proj, a.resource as Resource, a.action as Action))) {
        throw forbidden(`you cannot grant ${a.resource}:${a.action} in ${p.namespace}, which you do not hold yourself`);
      }
    }
  }
}

const DAY_MS = 86_400_000;

/** When the limited caller's own credential expires (epoch ms, -1 never); null for unlimited callers. */
function callerExpiry(s: Subject): number | null {
  if (!limitedCaller(s) || s.kind === 'anonymous') return null;
  return s.expiresAt;
}

/**
 * A robot or personal access token may not make (or revive, or obtain the secret of) a robot that
 * outlives it: that would extend its own rights past its expiry. A robot expiring after the caller
 * (or never) is refused: 400 where the request can fix it with a shorter `duration`, else 403.
 */
function requireExpiryWithinCaller(c: ApiCtx, expiresAt: number, from: number, status: 400 | 403 = 400): void {
  const limit = callerExpiry(c.subject);
  if (limit === null || limit === -1) return;
  if (expiresAt !== -1 && expiresAt <= limit) return;
  const days = Math.max(0, Math.floor((limit - from) / DAY_MS));
  const why = `the robot would outlive your own credential, which expires at ${new Date(limit).toISOString()}`;
  throw status === 400 ? badRequest(`${why}: duration may be at most ${days} days`) : forbidden(why);
}

/**
 * `durationToExpiry` for a limited caller: an explicit duration that would outlive the caller is
 * refused (400); the default one (no duration, null or 0: 30 days) is shortened to end with the
 * caller's own credential instead.
 */
function expiryWithinCaller(c: ApiCtx, requested: unknown, from: number): { duration: number; expiresAt: number } {
  const d = durationToExpiry(requested, from);
  const limit = callerExpiry(c.subject);
  if (limit === null || limit === -1 || (d.expiresAt !== -1 && d.expiresAt <= limit)) return d;
  if (requested === undefined || requested === null || requested === 0) {
    if (limit <= from) throw forbidden('your own credential has expired');
    return { duration: Math.max(1, Math.ceil((limit - from) / DAY_MS)), expiresAt: limit };
  }
  requireExpiryWithinCaller(c, d.expiresAt, from);
  return d;
}

function validateAccess(raw: unknown, kind: 'project' | 'system', where: string): RobotAccess[] {
  if (!Array.isArray(raw) || raw.length === 0) throw badRequest(`${where}.access must be a non-empty array`);
  if (raw.length > MAX_ACCESS) throw badRequest(`${where}.access has more than ${MAX_ACCESS} entries`);
  const seen = new Set<string>();
  const out: RobotAccess[] = [];
  raw.forEach((a, i) => {
    if (a === null || typeof a !== 'object' || Array.isArray(a)) throw badRequest(`${where}.access[${i}] must be an object`);
    const { resource, action, effect } = a as Record<string, unknown>;
    if (typeof resource !== 'string' || typeof action !== 'string') throw badRequest(`${where}.access[${i}] needs resource and action strings`);
    if (effect !== undefined && effect !== null && effect !== '' && effect !== 'allow') throw badRequest(`${where}.access[${i}].effect must be "allow"`);
    if (kind === 'project') {
      if (!(RESOURCES as readonly string[]).includes(resource)) throw badRequest(`${where}.access[${i}]: unknown resource ${JSON.stringify(resource)}`);
      if (!(ACTIONS as readonly string[]).includes(action)) throw badRequest(`${where}.access[${i}]: unknown action ${JSON.stringify(action)}`);
    } else if (!Object.prototype.hasOwnProperty.call(SYSTEM_GRANTS, resource) || !SYSTEM_GRANTS[resource].includes(action)) {
      const allowed = Object.entries(SYSTEM_GRANTS).flatMap(([r, acts]) => acts.map((x) => `${r}:${x}`));
      throw badRequest(`${where}.access[${i}]: ${resource}:${action} cannot be granted at system level (allowed: ${allowed.join(', ')})`);
    }
    const key = `${resource}\u0000${action}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ resource, action });
  });
  return out;
}

/**
 * Validate `permissions` for a robot of `level`. Project robots: exactly one `kind: project` entry
 * naming an existing project (returned). System robots: entries of `kind: project` (an existing
 * project or `*`) and `kind: system` (namespace `/`).
 */
async function validatePermissions(c: ApiCtx, level: 'project' | 'system', raw: unknown): Promise<{ perms: RobotPermission[]; project: Project | null }> {
  if (!Array.isArray(raw)) throw badRequest('permissions must be an array');
  if (level === 'project' && raw.length !== 1) throw badRequest('a project-level robot takes exactly one permission entry, for its project');
  if (raw.length === 0) throw badRequest('permissions must not be empty');
  if (raw.length > 100) throw badRequest('too many permission entries');
  const perms: RobotPermission[] = [];
  let project: Project | null = null;
  const namespaces = new Set<string>();
  for (const [i, p] of raw.entries()) {
    const where = `permissions[${i}]`;
    if (p === null || typeof p !== 'object' || Array.isArray(p)) throw badRequest(`${where} must be an object`);
    const { kind, namespace, access } = p as Record<string, unknown>;
    if (kind !== 'project' && kind !== 'system') throw badRequest(`${where}.kind must be "project" or "system"`);
    if (typeof namespace !== 'string' || namespace === '') throw badRequest(`${where}.namespace is required`);
    if (level === 'project' && kind !== 'project') throw badRequest(`${where}: a project-level robot takes only kind "project"`);
    if (namespaces.has(`${kind}\u0000${namespace}`)) throw badRequest(`${where}: namespace ${namespace} is listed twice`);
    namespaces.add(`${kind}\u0000${namespace}`);
    if (kind === 'system') {
      if (namespace !== '/') throw badRequest(`${where}.namespace must be "/" for kind "system"`);
    } else if (namespace === '*') {
      if (level === 'project') throw badRequest(`${where}: a project-level robot must name its project, not *`);
    } else {
      const proj = await c.identity.store.getProjectByName(namespace);
      if (!proj) {
        // Only system admins learn that a project does not exist.
        if (!c.sysadmin) throw denial(c.subject);
        throw notFound(`project ${namespace} not found`);
      }
      if (level === 'project') project = proj;
    }
    perms.push({ kind, namespace, access: validateAccess(access, kind, where) });
  }
  return { perms, project };
}

/** May the caller do `action` (read/update/delete) on this robot? Throws 401/403 otherwise. */
async function authorizeRobot(c: ApiCtx, r: Robot, action: 'read' | 'update' | 'delete'): Promise<void> {
  requireLogin(c);
  if (r.level === 'system' || r.projectId === null) {
    const ok = action === 'read' ? c.identity.canSystem(c.subject, 'robot', 'read') : c.sysadmin;
    if (!ok) throw denial(c.subject);
    return;
  }
  const proj = await c.identity.store.getProject(r.projectId);
  if (!proj) throw notFound(`robot ${r.id} not found`);
  await c.require(proj, 'robot', action);
}

async function loadRobot(c: ApiCtx, action: 'read' | 'update' | 'delete'): Promise<Robot> {
  requireLogin(c);
  const id = robotIdParam(c);
  const r = await c.identity.store.getRobot(id);
  if (!r) throw notFound(`robot ${id} not found`);
  await authorizeRobot(c, r, action);
  return r;
}

function optDescription(v: unknown): string | null | undefined {
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v !== 'string') throw badRequest('description must be a string');
  if (v.length > 1024) throw badRequest('description must be at most 1024 characters');
  return v;
}

function optBool(v: unknown, key: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badRequest(`${key} must be a boolean`);
  return v;
}

/** No body, or an empty one, reads as `{}` (PATCH /robots/{id} to refresh). */
async function bodyOrEmpty(c: ApiCtx): Promise<Record<string, unknown>> {
  const len = c.req.headers['content-length'];
  const chunked = c.req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (len === undefined || Number(len) === 0)) return {};
  return c.body();
}

export const robotRoutes: ApiRoute[] = [
  {
    method: 'GET',
    path: '/robots',
    tag: 'robot',
    summary: 'List robots: all (system robot:list), or q=Level=project,ProjectID=<id> (project robot:list); also name=<n> / name=~<part>',
    perm: custom('system robot:list; with q=Level=project,ProjectID=<id>: robot:list in that project'),
    handler: async (c) => {
      requireLogin(c);
      const terms = parseQuery(c.query.get('q'));
      const get = (k: string) => {
        for (const [key, t] of terms) if (key.toLowerCase() === k) return t;
        return undefined;
      };
      for (const key of terms.keys()) if (!['level', 'projectid', 'name'].includes(key.toLowerCase())) throw badRequest(`unsupported query key ${key} (supported: Level, ProjectID, name)`);
      const levelT = get('level');
      const pidT = get('projectid');
      const nameT = get('name');
      if (levelT && (levelT.kind !== 'exact' || !['project', 'system'].includes(levelT.value))) throw badRequest('Level must be project or system');
      if (pidT && (pidT.kind !== 'exact' || !/^\d{1,15}$/.test(pidT.value))) throw badRequest('ProjectID must be a project id');
      if (nameT && nameT.kind === 'range') throw badRequest('name takes name=value or name=~value');
      const filter: { projectId?: number; level?: string } = {};
      if (pidT) {
        if (levelT && levelT.value !== 'project') throw badRequest('ProjectID goes with Level=project');
        const proj = await c.identity.store.getProject(Number(pidT.value));
        if (!proj) {
          if (!c.sysadmin) throw denial(c.subject);
          throw notFound(`project ${pidT.value} not found`);
        }
        await c.require(proj, 'robot', 'list');
        filter.projectId = proj.id;
        filter.level = 'project';
      } else {
        if (!c.identity.canSystem(c.subject, 'robot', 'list')) throw denial(c.subject);
        if (levelT) filter.level = levelT.value;
      }
      const pg = c.page();
      let all = await c.identity.store.listRobots(filter);
      if (nameT) all = all.filter((r) => (nameT.kind === 'fuzzy' ? r.name.includes(nameT.value) : r.name === nameT.value));
      c.paged(all.slice(pg.offset, pg.offset + pg.pageSize).map(robotJson), all.length, pg);
    },
  },
  {
    method: 'POST',
    path: '/robots',
    tag: 'robot',
    summary: 'Create a robot (RobotCreate) → 201 with Location and {id, name, secret, creation_time, expires_at}; the secret is shown once',
    perm: custom('level=system: system admin; level=project: robot:create in the project named by the permission'),
    handler: async (c) => {
      requireLogin(c);
      const body = await c.body();
      const level = body.level;
      if (level !== 'project' && level !== 'system') throw badRequest('level must be "project" or "system"');
      // System robots are for system admins only: refuse others before looking any deeper.
      if (level === 'system' && !c.sysadmin) throw denial(c.subject);
      const name = body.name;
      if (typeof name !== 'string' || name.length === 0 || name.length > 128 || !ROBOT_NAME_RE.test(name)) {
        throw badRequest('name must be 1 to 128 characters of lower-case letters and digits, separated by single . _ or -');
      }
      const description = optDescription(body.description);
      const disabled = optBool(body.disable, 'disable') ?? false;
      const { duration, expiresAt } = expiryWithinCaller(c, body.duration, Date.now());
      const { perms, project } = await validatePermissions(c, level, body.permissions);
      if (level === 'project') await c.require(project!, 'robot', 'create');
      await requireGrantable(c, perms);
      const fullName = level === 'project' ? `robot$${project!.name}+${name}` : `robot$${name}`;
      if (fullName.length > 255) throw badRequest('the robot name is too long');
      const secret = newSecret();
      let r: Robot;
      try {
        r = await c.identity.store.createRobot({
          name: fullName,
          description: description ?? null,
          level,
          projectId: project?.id ?? null,
          secretHash: sha256hex(secret),
          permissions: perms,
          disabled,
          duration,
          expiresAt,
          creator: c.username,
        });
      } catch (e) {
        if (e instanceof ConflictError) throw conflict(`robot account ${fullName} already exists`);
        throw e;
      }
      c.identity.changed();
      c.audit('create', 'robot', fullName, project?.id ?? null);
      c.created(`/robots/${r.id}`, { id: r.id, name: r.name, secret, creation_time: new Date(r.createdAt).toISOString(), expires_at: expiresAtSeconds(r.expiresAt) });
    },
  },
  {
    method: 'GET',
    path: '/robots/{robot_id}',
    tag: 'robot',
    summary: 'Get a robot (never its secret)',
    perm: custom("robot:read in the robot's project; system robots: system admin"),
    handler: async (c) => c.json(200, robotJson(await loadRobot(c, 'read'))),
  },
  {
    method: 'PUT',
    path: '/robots/{robot_id}',
    tag: 'robot',
    summary: "Update a robot's description, disable flag, duration and permissions (name and level are fixed)",
    perm: custom("robot:update in the robot's project; system robots: system admin"),
    handler: async (c) => {
      const r = await loadRobot(c, 'update');
      const body = await c.body();
      if (body.name !== undefined && body.name !== null && body.name !== r.name) {
        const short = r.name.slice(r.name.indexOf(r.level === 'project' ? '+' : '$') + 1);
        if (body.name !== short) throw badRequest('the name of a robot cannot be changed');
      }
      if (body.level !== undefined && body.level !== null && body.level !== r.level) throw badRequest('the level of a robot cannot be changed');
      const patch: Parameters<typeof c.identity.store.updateRobot>[1] = {};
      const description = optDescription(body.description);
      if (description !== undefined) patch.description = description;
      const disabled = optBool(body.disable, 'disable');
      if (disabled !== undefined) patch.disabled = disabled;
      if (body.duration !== undefined && body.duration !== null && body.duration !== r.duration) {
        // Harbor counts the new duration from the robot's creation.
        const d = expiryWithinCaller(c, body.duration, r.createdAt);
        patch.duration = d.duration;
        patch.expiresAt = d.expiresAt;
      }
      if (body.permissions !== undefined && body.permissions !== null) {
        const { perms, project } = await validatePermissions(c, r.level, body.permissions);
        if (r.level === 'project' && project?.id !== r.projectId) throw badRequest("a project robot's permission must name its own project");
        await requireGrantable(c, perms);
        patch.permissions = perms;
      }
      // Re-enabling a robot or changing how long it lives hands its rights out again (or for
      // longer): a limited caller may do that only for rights it holds itself. And after a limited
      // caller re-enables it, sets its duration or its permissions, it must not outlive the caller.
      const reEnables = patch.disabled === false && r.disabled;
      const changesExpiry = patch.expiresAt !== undefined;
      if (reEnables || changesExpiry) await requireGrantable(c, patch.permissions ?? r.permissions);
      if (reEnables || changesExpiry || patch.permissions !== undefined) requireExpiryWithinCaller(c, patch.expiresAt ?? r.expiresAt, r.createdAt);
      if (!(await c.identity.store.updateRobot(r.id, patch))) throw notFound(`robot ${r.id} not found`);
      c.identity.changed();
      c.audit('update', 'robot', r.name, r.projectId);
      c.empty(200);
    },
  },
  {
    method: 'PATCH',
    path: '/robots/{robot_id}',
    tag: 'robot',
    summary: 'Refresh the secret: {} for a random one, or {secret} (password policy) → {secret}',
    perm: custom("robot:update in the robot's project; system robots: system admin"),
    handler: async (c) => {
      const r = await loadRobot(c, 'update');
      const body = await bodyOrEmpty(c);
      const chosen = !(body.secret === undefined || body.secret === null || body.secret === '');
      let secret: string;
      if (!chosen) secret = newSecret();
      else {
        const err = passwordPolicyError(body.secret);
        if (err) throw badRequest(err.replace(/^password/, 'secret'));
        secret = body.secret as string;
      }
      // Whoever obtains the secret gets the robot's rights: a limited caller may only refresh a
      // robot it could have made (rights it holds, and no longer-lived than itself).
      await requireGrantable(c, r.permissions);
      requireExpiryWithinCaller(c, r.expiresAt, Date.now(), 403);
      // A chosen secret may be guessable: slow-hash it like a password (providers.ts tells the two
      // apart by the `scrypt$` prefix).
      const secretHash = chosen ? await hashPassword(secret) : sha256hex(secret);
      if (!(await c.identity.store.updateRobot(r.id, { secretHash }))) throw notFound(`robot ${r.id} not found`);
      c.identity.changed();
      c.audit('update', 'robot', r.name, r.projectId);
      c.json(200, { secret });
    },
  },
  {
    method: 'DELETE',
    path: '/robots/{robot_id}',
    tag: 'robot',
    summary: 'Delete a robot',
    perm: custom("robot:delete in the robot's project; system robots: system admin"),
    handler: async (c) => {
      const r = await loadRobot(c, 'delete');
      if (!(await c.identity.store.deleteRobot(r.id))) throw notFound(`robot ${r.id} not found`);
      c.identity.changed();
      c.audit('delete', 'robot', r.name, r.projectId);
      c.empty(200);
    },
  },
];
