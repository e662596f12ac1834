// Users: Harbor's /users API (list, create, get, profile, password, sysadmin flag, delete, search,
// current user). Passwords are stored scrypt-hashed and never returned.
import { PAT_PREFIX } from '../identity/identity.ts';
import { hashPassword, passwordPolicyError, verifyPassword } from '../identity/secrets.ts';
import { ConflictError, type User } from '../identity/store.ts';
import { badRequest, conflict, custom, denial, forbidden, login, notFound, system, type ApiCtx, type ApiRoute } from './framework.ts';
import { onlyKeys, parseQuery } from './audit-logs.ts';
import { clientIp } from '../identity/http-auth.ts';
import { pathId } from './projects.ts';

/** Harbor's UserResp (never the password). */
export function userJson(u: User) {
  return {
    user_id: u.id,
    username: u.username,
    email: u.email ?? '',
    realname: u.realname ?? '',
    comment: u.comment ?? '',
    sysadmin_flag: u.sysadmin,
    admin_role_in_auth: false,
    creation_time: new Date(u.createdAt).toISOString(),
    update_time: new Date(u.updatedAt).toISOString(),
  };
}

// Harbor's e-mail pattern (handler/user.go validateUserProfile).
const EMAIL_RE = /^(([^<>()[\]\\.,;:\s@"]+(\.[^<>()[\]\\.,;:\s@"]+)*)|(".+"))@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\])|(([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}))$/;
const ILLEGAL = [',', '"', '~', '#', '$', '%'];
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Is `v` an e-mail address in Harbor's format (at most 255 characters)? */
export function emailFormatOk(v: string): boolean {
  return v.length <= 255 && EMAIL_RE.test(v);
}

/** Harbor's username rules, plus: no ':' (Basic credentials could not carry it), no control characters, no surrounding spaces. */
export function usernameError(v: unknown): string | null {
  if (typeof v !== 'string' || v.length === 0) return 'username is required';
  if ([...v].length > 255) return 'username must be at most 255 characters';
  if (v.toLowerCase().startsWith('robot$')) return 'username must not start with robot$';
  if (ILLEGAL.some((ch) => v.includes(ch))) return `username must not contain any of ${ILLEGAL.join(' ')}`;
  if (v.includes(':') || CONTROL.test(v)) return 'username must not contain ":" or control characters';
  if (v.trim() !== v) return 'username must not begin or end with spaces';
  return null;
}

/** Harbor's password policy; also refuses the personal-access-token prefix (such a password could never log in). */
function newPasswordError(pw: unknown): string | null {
  const err = passwordPolicyError(pw);
  if (err) return err;
  if ((pw as string).startsWith(PAT_PREFIX)) return `password must not start with ${PAT_PREFIX} (reserved for personal access tokens)`;
  return null;
}

const WRONG_OLD_PASSWORD = 'current password is incorrect';

interface Profile {
  email: string;
  realname: string;
  comment: string;
}

function optString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badRequest(`${key} must be a string`);
  return v;
}

/** Harbor's profile rules: e-mail required and well-formed, realname 1–255 without , ~ # $ %, comment at most 30 characters. */
function validateProfile(p: Profile): void {
  if (!p.email) throw badRequest("email can't be empty");
  if (!emailFormatOk(p.email)) throw badRequest('email with illegal format');
  const rl = [...p.realname].length;
  if (rl < 1 || rl > 255) throw badRequest('realname with illegal length');
  if (ILLEGAL.filter((ch) => ch !== '"').some((ch) => p.realname.includes(ch)) || CONTROL.test(p.realname)) throw badRequest('realname contains illegal characters');
  if ([...p.comment].length > 30) throw badRequest('comment with illegal length');
  if (CONTROL.test(p.comment)) throw badRequest('comment contains illegal characters');
}

async function requireEmailFree(c: ApiCtx, email: string, exceptId?: number): Promise<void> {
  const other = await c.identity.store.getUserByEmail(email);
  if (other && other.id !== exceptId) throw conflict(`email ${email} is already in use`);
}

function userIdParam(c: ApiCtx): number {
  return pathId(c, 'user_id');
}

/** The calling human user (not a robot, not anonymous), or 401/403. */
function callerUser(c: ApiCtx): { id: number; username: string; sysadmin: boolean; tokenId: number | null } {
  const s = c.subject;
  if (s.kind !== 'user') throw denial(s);
  return s;
}

/** Admin, or the user themself; others get 403 (without learning whether the id exists). */
async function readableUser(c: ApiCtx): Promise<User> {
  const me = callerUser(c);
  const id = userIdParam(c);
  if (!me.sysadmin && me.id !== id) throw forbidden(`not authorized to access user ${id}`);
  const u = await c.identity.store.getUser(id);
  if (!u) throw notFound(`user ${id} not found`);
  return u;
}

function pageUsers(c: ApiCtx): { username?: string; exact?: boolean } {
  const terms = parseQuery(c.query.get('q'));
  onlyKeys(terms, ['username']);
  const t = terms.get('username');
  // Harbor also takes ?username= as a fuzzy filter
  const plain = c.query.get('username');
  if (t && t.kind === 'range') throw badRequest('username takes username=value or username=~value');
  if (t) return { username: t.value, exact: t.kind === 'exact' };
  if (plain) return { username: plain, exact: false };
  return {};
}

export const userRoutes: ApiRoute[] = [
  {
    method: 'GET',
    path: '/users',
    tag: 'user',
    summary: 'List users; q=username=<name> (exact) or username=~<part> (fuzzy)',
    perm: system('user', 'list'),
    handler: async (c) => {
      const filter = pageUsers(c);
      const pg = c.page();
      const { items, total } = await c.identity.store.listUsers({ ...filter, offset: pg.offset, limit: pg.pageSize });
      c.paged(items.map(userJson), total, pg);
    },
  },
  {
    method: 'POST',
    path: '/users',
    tag: 'user',
    summary: 'Create a user (UserCreationReq) → 201 with Location',
    perm: system('user', 'create'),
    handler: async (c) => {
      const body = await c.body();
      const uerr = usernameError(body.username);
      if (uerr) throw badRequest(uerr);
      const username = body.username as string;
      const perr = newPasswordError(body.password);
      if (perr) throw badRequest(perr);
      const profile: Profile = { email: optString(body, 'email') ?? '', realname: optString(body, 'realname') ?? '', comment: optString(body, 'comment') ?? '' };
      validateProfile(profile);
      if (await c.identity.store.getUserByName(username)) throw conflict(`user ${username} already exists`);
      await requireEmailFree(c, profile.email);
      let u: User;
      try {
        u = await c.identity.store.createUser({ username, email: profile.email, realname: profile.realname, comment: profile.comment || null, passwordHash: await hashPassword(body.password as string) });
      } catch (e) {
        if (e instanceof ConflictError) throw conflict(e.message);
        throw e;
      }
      c.identity.changed();
      c.audit('create', 'user', username);
      c.created(`/users/${u.id}`);
    },
  },
  {
    method: 'GET',
    path: '/users/current',
    tag: 'user',
    summary: 'The calling user (UserResp)',
    perm: login,
    handler: async (c) => {
      const me = callerUser(c);
      const u = await c.identity.store.getUser(me.id);
      if (!u) throw notFound('the current user no longer exists');
      c.json(200, userJson(u));
    },
  },
  {
    method: 'GET',
    path: '/users/search',
    tag: 'user',
    summary: 'Search users by name (fuzzy) → [{user_id, username}]',
    perm: login,
    handler: async (c) => {
      const name = c.query.get('username');
      if (name === null || name === '') throw badRequest('the query parameter username is required');
      if (name.length > 255) throw badRequest('username is too long');
      const pg = c.page();
      const { items, total } = await c.identity.store.listUsers({ username: name, exact: false, offset: pg.offset, limit: pg.pageSize });
      c.paged(
        items.map((u) => ({ user_id: u.id, username: u.username })),
        total,
        pg,
      );
    },
  },
  {
    method: 'GET',
    path: '/users/{user_id}',
    tag: 'user',
    summary: 'Get a user (UserResp)',
    perm: custom('system admin, or the user themself'),
    handler: async (c) => c.json(200, userJson(await readableUser(c))),
  },
  {
    method: 'PUT',
    path: '/users/{user_id}',
    tag: 'user',
    summary: "Update a user's profile (email, realname, comment)",
    perm: custom('system admin, or the user themself'),
    handler: async (c) => {
      const u = await readableUser(c);
      const body = await c.body();
      const profile: Profile = {
        email: optString(body, 'email') ?? u.email ?? '',
        realname: optString(body, 'realname') ?? u.realname ?? '',
        comment: optString(body, 'comment') ?? u.comment ?? '',
      };
      validateProfile(profile);
      await requireEmailFree(c, profile.email, u.id);
      if (!(await c.identity.store.updateUser(u.id, { email: profile.email, realname: profile.realname, comment: profile.comment || null }))) throw notFound(`user ${u.id} not found`);
      c.identity.changed();
      c.audit('update', 'user', u.username);
      c.empty(200);
    },
  },
  {
    method: 'DELETE',
    path: '/users/{user_id}',
    tag: 'user',
    summary: 'Delete a user (not yourself, not admin)',
    perm: system('user', 'delete'),
    handler: async (c) => {
      const id = userIdParam(c);
      const me = c.subject;
      const u = await c.identity.store.getUser(id);
      if (id === 1 || u?.username === 'admin' || (me.kind === 'user' && me.id === id)) throw forbidden(`user with ID ${id} cannot be deleted`);
      if (!u) throw notFound(`user ${id} not found`);
      await c.identity.store.deleteSessionsOf(id);
      if (!(await c.identity.store.deleteUser(id))) throw notFound(`user ${id} not found`);
      c.identity.changed();
      c.audit('delete', 'user', u.username);
      c.empty(200);
    },
  },
  {
    method: 'PUT',
    path: '/users/{user_id}/password',
    tag: 'user',
    summary: 'Change a password: yourself with old_password, or (system admin) anyone else without it',
    perm: custom('the user themself (with the old password), or a system admin'),
    handler: async (c) => {
      const me = callerUser(c);
      // A personal access token is not the password: it must not be able to replace it (and so
      // take the account over for good).
      if (me.tokenId !== null) throw forbidden('a personal access token cannot change passwords');
      const id = userIdParam(c);
      const self = me.id === id;
      if (!self && !me.sysadmin) throw forbidden(`user with ID ${id} can't be updated`);
      const body = await c.body();
      const oldPw = body.old_password;
      const newPw = body.new_password;
      if (oldPw !== undefined && oldPw !== null && typeof oldPw !== 'string') throw badRequest('old_password must be a string');
      const u = await c.identity.store.getUser(id);
      if (!u) throw notFound(`user ${id} not found`);
      if (self) {
        // Checking the old password is a password guess like a login: a locked name is refused
        // (with the same answer as a wrong password), and a wrong one counts towards the lock.
        const ip = clientIp(c.req);
        if (c.identity.isLocked(u.username, ip)) throw forbidden(WRONG_OLD_PASSWORD);
        // Harbor answers a wrong current password with 403.
        if (typeof oldPw !== 'string' || oldPw === '') throw forbidden(WRONG_OLD_PASSWORD);
        if (oldPw.length > 1024 || !(await verifyPassword(oldPw, u.passwordHash))) {
          c.identity.noteFailedPassword(u.username, ip);
          throw forbidden(WRONG_OLD_PASSWORD);
        }
      }
      const perr = newPasswordError(newPw);
      if (perr) throw badRequest(perr);
      if (await verifyPassword(newPw as string, u.passwordHash)) throw badRequest('new password is identical to old password');
      await c.identity.store.updateUser(id, { passwordHash: await hashPassword(newPw as string) });
      await c.identity.store.deleteSessionsOf(id);
      c.identity.changed();
      c.audit('update', 'user', u.username);
      c.empty(200);
    },
  },
  {
    method: 'PUT',
    path: '/users/{user_id}/sysadmin',
    tag: 'user',
    summary: "Grant or revoke a user's system admin flag ({sysadmin_flag})",
    perm: system('user', 'update'),
    handler: async (c) => {
      const id = userIdParam(c);
      const me = c.subject;
      if (me.kind === 'user' && me.id === id) throw forbidden('you cannot change your own system admin flag');
      const body = await c.body();
      if (typeof body.sysadmin_flag !== 'boolean') throw badRequest('sysadmin_flag must be a boolean');
      const u = await c.identity.store.getUser(id);
      if (!u) throw notFound(`user ${id} not found`);
      if (id === 1 || u.username === 'admin') throw forbidden('the system admin flag of admin cannot be changed');
      await c.identity.store.updateUser(id, { sysadmin: body.sysadmin_flag });
      c.identity.changed();
      c.audit('update', 'user', u.username);
      c.empty(200);
    },
  },
];
