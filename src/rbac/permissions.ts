// Project-level permission decisions, following Harbor's project role model.
//
// Pure data and pure functions: no I/O, no imports. The facts (which role may do
// which action on which project resource) are transcribed from Harbor's
// src/common/rbac/project/rbac_role.go (goharbor/harbor @ 0063430f), the names
// from src/common/rbac/const.go, the public-project set from
// src/common/rbac/project/rbac_util.go, and the token scope mapping from
// src/core/service/token/creator.go.

/** Every project resource Harbor's role table mentions. */
export const RESOURCES = [
  // Harbor's ResourceSelf is the empty string: the project itself (read = see the
  // project, update = edit it, delete = delete it). Named 'project' here.
  'project',
  'member',
  'metadata',
  'log',
  'label',
  'quota',
  'repository',
  'tag-retention',
  'immutable-tag',
  'helm-chart',
  'helm-chart-version',
  'helm-chart-version-label',
  'configuration',
  'robot',
  'notification-policy', // webhooks
  'scan',
  'scanner',
  'artifact',
  'artifact-addition',
  'tag',
  'accessory',
  'artifact-label',
  'preheat-policy',
] as const;

/** Every action Harbor's role table uses. */
export const ACTIONS = ['create', 'read', 'update', 'delete', 'list', 'pull', 'push', 'operate', 'stop'] as const;

export type Resource = (typeof RESOURCES)[number];
export type Action = (typeof ACTIONS)[number];

export const ROLES = ['projectAdmin', 'maintainer', 'developer', 'guest', 'limitedGuest'] as const;
export type Role = (typeof ROLES)[number];

/** Harbor's numeric role ids (common.RoleProjectAdmin etc.), as stored on project members. */
export const ROLE_IDS: Readonly<Record<Role, number>> = {
  projectAdmin: 1,
  developer: 2,
  guest: 3,
  maintainer: 4,
  limitedGuest: 5,
};

export function roleFromId(id: number): Role | null {
  for (const role of ROLES) if (ROLE_IDS[role] === id) return role;
  return null;
}

export interface Permission {
  resource: Resource;
  action: Action;
}

type Grants = Readonly<Partial<Record<Resource, readonly Action[]>>>;

const CRUD: readonly Action[] = ['create', 'read', 'update', 'delete'];
const CRUDL: readonly Action[] = ['create', 'read', 'update', 'delete', 'list'];
const RETENTION: readonly Action[] = ['create', 'read', 'update', 'delete', 'list', 'operate'];
const IMMUTABLE: readonly Action[] = ['create', 'update', 'delete', 'list'];
const READ_LIST: readonly Action[] = ['read', 'list'];
const CREATE_DELETE: readonly Action[] = ['create', 'delete'];
const CREATE_DELETE_LIST: readonly Action[] = ['create', 'delete', 'list'];

const ROLE_GRANTS: Readonly<Record<Role, Grants>> = {
  projectAdmin: {
    project: ['read', 'update', 'delete'],
    member: CRUDL,
    metadata: CRUD,
    log: ['list'],
    label: CRUDL,
    quota: ['read'],
    repository: ['create', 'read', 'update', 'delete', 'list', 'pull', 'push'],
    'tag-retention': RETENTION,
    'immutable-tag': IMMUTABLE,
    'helm-chart': ['create', 'read', 'delete', 'list'],
    'helm-chart-version': ['create', 'read', 'delete', 'list'],
    'helm-chart-version-label': CREATE_DELETE_LIST,
    configuration: ['read', 'update'],
    robot: CRUDL,
    'notification-policy': CRUDL,
    scan: ['create', 'read', 'stop'],
    scanner: ['create', 'read'],
    artifact: ['create', 'read', 'delete', 'list'],
    'artifact-addition': ['read'],
    tag: ['create', 'delete', 'list'],
    accessory: ['list'],
    'artifact-label': CREATE_DELETE,
    'preheat-policy': CRUDL,
  },
  maintainer: {
    project: ['read'],
    member: READ_LIST,
    metadata: CRUD,
    log: ['list'],
    label: CRUDL,
    quota: ['read'],
    repository: ['create', 'read', 'update', 'delete', 'list', 'pull', 'push'],
    'tag-retention': RETENTION,
    'immutable-tag': IMMUTABLE,
    'helm-chart': ['create', 'read', 'delete', 'list'],
    'helm-chart-version': ['create', 'read', 'delete', 'list'],
    'helm-chart-version-label': CREATE_DELETE_LIST,
    configuration: ['read'],
    robot: READ_LIST,
    'notification-policy': ['list'],
    scan: ['create', 'read', 'stop'],
    scanner: ['read'],
    artifact: ['create', 'read', 'delete', 'list'],
    'artifact-addition': ['read'],
    tag: ['create', 'delete', 'list'],
    accessory: ['list'],
    'artifact-label': CREATE_DELETE,
  },
  developer: {
    project: ['read'],
    member: READ_LIST,
    log: ['list'],
    label: READ_LIST,
    quota: ['read'],
    repository: ['create', 'read', 'update', 'list', 'pull', 'push'],
    'tag-retention': RETENTION,
    'helm-chart': ['create', 'read', 'list'],
    'helm-chart-version': ['create', 'read', 'list'],
    'helm-chart-version-label': CREATE_DELETE_LIST,
    configuration: ['read'],
    robot: READ_LIST,
    scan: ['read'],
    scanner: ['read'],
    artifact: ['create', 'read', 'list'],
    'artifact-addition': ['read'],
    tag: ['create', 'list'],
    accessory: ['list'],
    'artifact-label': CREATE_DELETE,
  },
  guest: {
    project: ['read'],
    member: READ_LIST,
    log: ['list'],
    label: READ_LIST,
    quota: ['read'],
    repository: ['read', 'list', 'pull'],
    'helm-chart': READ_LIST,
    'helm-chart-version': READ_LIST,
    configuration: ['read'],
    robot: READ_LIST,
    scan: ['read'],
    scanner: ['read'],
    artifact: READ_LIST,
    'artifact-addition': ['read'],
    tag: ['list'],
    accessory: ['list'],
  },
  limitedGuest: {
    project: ['read'],
    quota: ['read'],
    repository: ['list', 'pull'],
    'helm-chart': READ_LIST,
    'helm-chart-version': READ_LIST,
    configuration: ['read'],
    scan: ['read'],
    scanner: ['read'],
    artifact: READ_LIST,
    'artifact-addition': ['read'],
    tag: ['list'],
    accessory: ['list'],
  },
};

/**
 * What anyone (anonymous or a logged-in non-member) may do in a public project.
 * Members of a public project get this on top of their role, as in Harbor.
 */
const PUBLIC_PROJECT_GRANTS: Grants = {
  project: ['read'],
  label: READ_LIST,
  repository: ['list', 'pull'],
  'helm-chart': READ_LIST,
  'helm-chart-version': READ_LIST,
  scan: ['read'],
  scanner: ['read'],
  tag: ['list'],
  artifact: READ_LIST,
  'artifact-addition': ['read'],
  accessory: ['list'],
};

function grantsAllow(grants: Grants, resource: string, action: string): boolean {
  if (!Object.prototype.hasOwnProperty.call(grants, resource)) return false;
  const actions = grants[resource as Resource];
  return actions !== undefined && (actions as readonly string[]).includes(action);
}

/** Does a project role, by itself, allow `action` on `resource`? Unknown roles, resources and actions are denied. */
export function roleAllows(role: Role, resource: Resource, action: Action): boolean {
  if (!Object.prototype.hasOwnProperty.call(ROLE_GRANTS, role)) return false;
  return grantsAllow(ROLE_GRANTS[role], resource, action);
}

/** Does a public project allow `action` on `resource` to everyone? */
export function publicAllows(resource: Resource, action: Action): boolean {
  return grantsAllow(PUBLIC_PROJECT_GRANTS, resource, action);
}

/** Every (resource, action) a role allows, in RESOURCES × ACTIONS order. */
export function rolePermissions(role: Role): Permission[] {
  const out: Permission[] = [];
  for (const resource of RESOURCES) {
    for (const action of ACTIONS) if (roleAllows(role, resource, action)) out.push({ resource, action });
  }
  return out;
}

export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'user'; sysadmin: boolean; projectRole: Role | null }
  | { kind: 'robot'; permissions: readonly Permission[] };

export interface ProjectContext {
  public: boolean;
}

/** May `principal` do `action` on `resource` in the project described by `projectCtx`? */
export function decide(principal: Principal, projectCtx: ProjectContext, resource: Resource, action: Action): boolean {
  switch (principal.kind) {
    case 'anonymous':
      return projectCtx.public && publicAllows(resource, action);
    case 'user':
      if (principal.sysadmin) return true;
      if (principal.projectRole !== null && roleAllows(principal.projectRole, resource, action)) return true;
      return projectCtx.public && publicAllows(resource, action);
    case 'robot':
      // What the robot was granted, plus what everyone may do in a public project (as in
      // Harbor: a CI robot pulls its base images from `library`).
      return principal.permissions.some((p) => p.resource === resource && p.action === action) || (projectCtx.public && publicAllows(resource, action));
    default:
      return false;
  }
}

/** Docker token scope actions for a `repository:<name>:<actions>` scope, each checked against repository:<action>. */
const SCOPE_ACTIONS = ['pull', 'push', 'delete'] as const;

/**
 * Filter the actions of a requested `repository` scope down to what the principal may do.
 *
 * pull/push/delete are each checked independently against `repository:<same action>`
 * (Harbor's actionScopeMap; push does not imply pull, nor the other way round).
 * `*` stands for all three: it is granted only when pull, push and delete all are,
 * and a request for `*` also yields whichever of pull/push/delete are allowed.
 * Anything else is dropped. The result is deduplicated, in the order pull, push, delete, *.
 */
export function grantedActions(principal: Principal, projectCtx: ProjectContext, requested: readonly string[]): string[] {
  const wantAll = requested.includes('*');
  const allowed = new Set<string>();
  for (const action of SCOPE_ACTIONS) {
    if (decide(principal, projectCtx, 'repository', action)) allowed.add(action);
  }
  const out: string[] = [];
  for (const action of SCOPE_ACTIONS) {
    if ((wantAll || requested.includes(action)) && allowed.has(action)) out.push(action);
  }
  if (wantAll && allowed.size === SCOPE_ACTIONS.length) out.push('*');
  return out;
}
