// Project members (Harbor's /projects/{p}/members API). Users only: Wharf has no user groups, so
// every member is `entity_type: "u"`. Shapes follow Harbor's ProjectMemberEntity, ProjectMember
// and RoleRequest.
import { Identity } from '../identity/identity.ts';
import { ConflictError, type Member, type Project, type User } from '../identity/store.ts';
import { roleFromId, rolePermissions } from '../rbac/permissions.ts';
import { badRequest, conflict, forbidden, notFound, project, type ApiCtx, type ApiRoute } from './framework.ts';
import { callerUserId, pathId, projectOf } from './projects.ts';

function memberJson(m: Member) {
  return {
    id: m.id,
    project_id: m.projectId,
    entity_name: m.username,
    role_name: roleFromId(m.roleId) ?? 'unknown',
    role_id: m.roleId,
    entity_id: m.userId,
    entity_type: 'u',
  };
}

function roleIdOf(v: unknown): number {
  if (v === undefined || v === null) throw badRequest('role_id is required');
  if (typeof v !== 'number' || !Number.isInteger(v) || roleFromId(v) === null) {
    throw badRequest('role_id must be 1 (Project Admin), 2 (Developer), 3 (Guest), 4 (Maintainer) or 5 (Limited Guest)');
  }
  return v;
}

function memberIdOf(c: ApiCtx): number {
  return pathId(c, 'mid');
}

/**
 * A caller authenticated by a robot or a personal access token may only give a member a role whose
 * every permission it holds itself in the project (and, for a token, whose registry actions its
 * scopes cover): otherwise a narrow credential could mint a wider one by making a user a member.
 */
async function requireRoleGrantable(c: ApiCtx, p: Project, roleId: number): Promise<void> {
  const s = c.subject;
  const limited = s.kind === 'robot' || (s.kind === 'user' && s.tokenId !== null);
  if (!limited) return;
  const role = roleFromId(roleId);
  if (role === null) throw badRequest('unknown role_id');
  const perms = rolePermissions(role);
  for (const { resource, action } of perms) {
    if (resource === 'repository' && (action === 'pull' || action === 'push' || action === 'delete') && !Identity.scopeAllows(s, action)) {
      throw forbidden(`the access token lacks the ${action} scope needed to grant this role`);
    }
  }
  for (const { resource, action } of perms) {
    if (!(await c.can(p, resource, action))) throw forbidden(`you cannot grant a role with ${resource}:${action}, which you do not hold yourself`);
  }
}

async function memberOf(c: ApiCtx): Promise<Member> {
  const p = projectOf(c);
  const mid = memberIdOf(c);
  const m = await c.identity.store.getMember(p.id, mid);
  if (!m) throw notFound(`member ${mid} not found in project ${p.name}`);
  return m;
}

/** Harbor refuses changes to one's own membership. */
function notSelf(c: ApiCtx, m: Member): void {
  if (callerUserId(c) === m.userId) throw forbidden('you cannot change or remove your own membership');
}

const PM = '/projects/{project_name_or_id}/members';

export const memberRoutes: ApiRoute[] = [
  {
    method: 'GET',
    path: PM,
    tag: 'member',
    summary: 'Members of a project (?entityname= matches part of the name)',
    perm: project('member', 'list'),
    handler: async (c) => {
      const p = projectOf(c);
      const pg = c.page();
      const needle = c.query.get('entityname') ?? '';
      let all = await c.identity.store.listMembers(p.id);
      if (needle) all = all.filter((m) => m.username.includes(needle));
      c.paged(all.slice(pg.offset, pg.offset + pg.pageSize).map(memberJson), all.length, pg);
    },
  },
  {
    method: 'POST',
    path: PM,
    tag: 'member',
    summary: 'Add a user to a project with a role ({role_id, member_user: {username} | {user_id}})',
    perm: project('member', 'create'),
    handler: async (c) => {
      const p = projectOf(c);
      const b = await c.body();
      const roleId = roleIdOf(b.role_id);
      await requireRoleGrantable(c, p, roleId);
      if (b.member_group !== undefined && b.member_group !== null) throw badRequest('group members are not supported; use member_user');
      const mu = b.member_user;
      if (mu === undefined || mu === null) throw badRequest('member_user is required');
      if (typeof mu !== 'object' || Array.isArray(mu)) throw badRequest('member_user must be an object {username} or {user_id}');
      const { username, user_id } = mu as Record<string, unknown>;
      let user: User | null;
      if (user_id !== undefined && user_id !== null && user_id !== 0) {
        if (typeof user_id !== 'number' || !Number.isSafeInteger(user_id) || user_id < 1) throw badRequest('member_user.user_id must be a positive integer');
        if (username !== undefined && username !== null && username !== '' && typeof username !== 'string') throw badRequest('member_user.username must be a string');
        user = await c.identity.store.getUser(user_id);
        if (user && typeof username === 'string' && username !== '' && username !== user.username) throw badRequest('member_user.user_id and member_user.username name different users');
        if (!user) throw notFound(`user ${user_id} not found`);
      } else {
        if (typeof username !== 'string' || username === '') throw badRequest('member_user needs a username or a user_id');
        user = await c.identity.store.getUserByName(username);
        if (!user) throw notFound(`user ${username} not found`);
      }
      let mid: number;
      try {
        mid = await c.identity.store.addMember(p.id, user.id, roleId);
      } catch (e) {
        if (e instanceof ConflictError) throw conflict(`${user.username} is already a member of project ${p.name}`);
        throw e;
      }
      c.identity.changed();
      c.audit('create', 'member', `${p.name}/${user.username}`, p.id);
      c.created(`/projects/${p.id}/members/${mid}`);
    },
  },
  {
    method: 'GET',
    path: `${PM}/{mid}`,
    tag: 'member',
    summary: 'One project member',
    perm: project('member', 'read'),
    handler: async (c) => c.json(200, memberJson(await memberOf(c))),
  },
  {
    method: 'PUT',
    path: `${PM}/{mid}`,
    tag: 'member',
    summary: "Change a member's role ({role_id})",
    perm: project('member', 'update'),
    handler: async (c) => {
      const p = projectOf(c);
      const b = await c.body();
      const roleId = roleIdOf(b.role_id);
      const m = await memberOf(c);
      notSelf(c, m);
      await requireRoleGrantable(c, p, roleId);
      if (!(await c.identity.store.updateMember(p.id, m.id, roleId))) throw notFound(`member ${m.id} not found in project ${p.name}`);
      c.identity.changed();
      c.audit('update', 'member', `${p.name}/${m.username}`, p.id);
      c.empty(200);
    },
  },
  {
    method: 'DELETE',
    path: `${PM}/{mid}`,
    tag: 'member',
    summary: 'Remove a member from a project',
    perm: project('member', 'delete'),
    handler: async (c) => {
      const p = projectOf(c);
      const m = await memberOf(c);
      notSelf(c, m);
      if (!(await c.identity.store.deleteMember(p.id, m.id))) throw notFound(`member ${m.id} not found in project ${p.name}`);
      c.identity.changed();
      c.audit('delete', 'member', `${p.name}/${m.username}`, p.id);
      c.empty(200);
    },
  },
];
