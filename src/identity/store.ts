// Identity rows: users, projects, members, robots, personal access tokens, sessions, audit log.
// One implementation over Kysely for SQLite and PostgreSQL (shares the metadata database).
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../metadata/schema.ts';
import type { MetadataStore } from '../metadata/store.ts';

export interface User {
  id: number;
  username: string;
  email: string | null;
  realname: string | null;
  comment: string | null;
  passwordHash: string;
  sysadmin: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface Project {
  id: number;
  name: string;
  ownerId: number | null;
  public: boolean;
  metadata: Record<string, string>;
  createdAt: number;
  updatedAt: number;
}

export interface Member {
  id: number;
  projectId: number;
  userId: number;
  username: string;
  roleId: number;
  createdAt: number;
  updatedAt: number;
}

export interface RobotAccess {
  resource: string;
  action: string;
  effect?: string;
}

export interface RobotPermission {
  kind: 'project' | 'system';
  namespace: string;
  access: RobotAccess[];
}

export interface Robot {
  id: number;
  name: string;
  description: string | null;
  level: 'project' | 'system';
  projectId: number | null;
  secretHash: string;
  permissions: RobotPermission[];
  disabled: boolean;
  duration: number;
  expiresAt: number;
  creator: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface AccessToken {
  id: number;
  userId: number;
  name: string;
  tokenHash: string;
  scopes: string[];
  expiresAt: number;
  createdAt: number;
}

export interface AuditEntry {
  username: string;
  operation: string;
  resourceType: string;
  resource: string;
  projectId: number | null;
  clientIp: string | null;
  success: boolean;
  opTime: number;
}

export interface AuditQuery {
  username?: string;
  operation?: string;
  resourceType?: string;
  /** substring match */
  resource?: string;
  /** exact match on the resource */
  resourceExact?: string;
  /** substring match on the user name */
  usernameLike?: string;
  projectId?: number;
  from?: number;
  to?: number;
  /** newest first unless 'asc' */
  order?: 'asc' | 'desc';
  offset: number;
  limit: number;
}

export class ConflictError extends Error {}

const now = () => Date.now();
/** `s` with A–Z lowered, every other character kept (matches IdentityStore.lowerAscii in SQL) */
const asciiLower = (s: string) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

function toUser(r: any): User {
  return { id: Number(r.id), username: r.username, email: r.email, realname: r.realname, comment: r.comment, passwordHash: r.password_hash, sysadmin: Number(r.sysadmin) === 1, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) };
}
function toProject(r: any): Project {
  return { id: Number(r.id), name: r.name, ownerId: r.owner_id === null ? null : Number(r.owner_id), public: Number(r.public) === 1, metadata: JSON.parse(r.metadata), createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) };
}
function toRobot(r: any): Robot {
  return {
    id: Number(r.id),
    name: r.name,
    description: r.description,
    level: r.level,
    projectId: r.project_id === null ? null : Number(r.project_id),
    secretHash: r.secret_hash,
    permissions: JSON.parse(r.permissions),
    disabled: Number(r.disabled) === 1,
    duration: Number(r.duration),
    expiresAt: Number(r.expires_at),
    creator: r.creator,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}
function toToken(r: any): AccessToken {
  return { id: Number(r.id), userId: Number(r.user_id), name: r.name, tokenHash: r.token_hash, scopes: JSON.parse(r.scopes), expiresAt: Number(r.expires_at), createdAt: Number(r.created_at) };
}

function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === '23505' || err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || err?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || /UNIQUE constraint/.test(err?.message ?? '');
}

export class IdentityStore {
  readonly db: Kysely<Database>;
  constructor(private readonly meta: MetadataStore) {
    this.db = meta.db;
  }

  /** position of `needle` in `expr` (0 = absent), in either dialect */
  private contains(expr: RawBuilder<unknown>, needle: string): RawBuilder<number> {
    return this.meta.dialect === 'postgres' ? sql<number>`strpos(${expr}, ${needle})` : sql<number>`instr(${expr}, ${needle})`;
  }

  /**
   * `expr` with A–Z lowered and every other character kept, in either dialect. SQLite's lower()
   * folds ASCII only, while PostgreSQL's follows the database's ctype; pair with asciiLower().
   */
  private lowerAscii(expr: RawBuilder<unknown>): RawBuilder<string> {
    return this.meta.dialect === 'postgres' ? sql<string>`translate(${expr}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')` : sql<string>`lower(${expr})`;
  }

  /** A column ordered byte-wise (PostgreSQL would otherwise use the database locale's collation). */
  private bytewise(column: string): RawBuilder<string> {
    return this.meta.dialect === 'postgres' ? sql<string>`${sql.ref(column)} collate "C"` : sql<string>`${sql.ref(column)}`;
  }

  private async insertId(q: { returning: (c: 'id') => { executeTakeFirstOrThrow(): Promise<{ id: number }> } }): Promise<number> {
    const r = await q.returning('id').executeTakeFirstOrThrow();
    return Number(r.id);
  }

  // ---- users
  async createUser(u: { username: string; email?: string | null; realname?: string | null; comment?: string | null; passwordHash: string; sysadmin?: boolean }): Promise<User> {
    const t = now();
    try {
      const id = await this.insertId(
        this.db.insertInto('users').values({ username: u.username, email: u.email ?? null, realname: u.realname ?? null, comment: u.comment ?? null, password_hash: u.passwordHash, sysadmin: u.sysadmin ? 1 : 0, created_at: t, updated_at: t }) as any,
      );
      return (await this.getUser(id))!;
    } catch (e) {
      if (isUniqueViolation(e)) throw new ConflictError(`user ${u.username} already exists`);
      throw e;
    }
  }
  async getUser(id: number): Promise<User | null> {
    const r = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toUser(r) : null;
  }
  async getUserByName(username: string): Promise<User | null> {
    const r = await this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    return r ? toUser(r) : null;
  }
  async listUsers(opts: { username?: string; exact?: boolean; offset: number; limit: number }): Promise<{ items: User[]; total: number }> {
    let q = this.db.selectFrom('users');
    if (opts.username) q = opts.exact ? q.where('username', '=', opts.username) : q.where(this.contains(this.lowerAscii(sql`username`), asciiLower(opts.username)), '>', 0);
    const total = Number((await q.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const rows = await q.selectAll().orderBy('id').offset(opts.offset).limit(opts.limit).execute();
    return { items: rows.map(toUser), total };
  }
  async updateUser(id: number, patch: { email?: string | null; realname?: string | null; comment?: string | null; passwordHash?: string; sysadmin?: boolean }): Promise<boolean> {
    const v: Record<string, unknown> = { updated_at: now() };
    if (patch.email !== undefined) v.email = patch.email;
    if (patch.realname !== undefined) v.realname = patch.realname;
    if (patch.comment !== undefined) v.comment = patch.comment;
    if (patch.passwordHash !== undefined) v.password_hash = patch.passwordHash;
    if (patch.sysadmin !== undefined) v.sysadmin = patch.sysadmin ? 1 : 0;
    const r = await this.db.updateTable('users').set(v).where('id', '=', id).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
  async deleteUser(id: number): Promise<boolean> {
    return this.meta.writeTx(async (trx) => {
      await trx.updateTable('projects').set({ owner_id: null }).where('owner_id', '=', id).execute();
      const r = await trx.deleteFrom('users').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }
  /** A user whose e-mail address equals `email` (case-insensitively), if any. */
  async getUserByEmail(email: string): Promise<User | null> {
    const r = await this.db.selectFrom('users').selectAll().where(this.lowerAscii(sql`email`), '=', asciiLower(email)).orderBy('id').executeTakeFirst();
    return r ? toUser(r) : null;
  }
  async countUsers(): Promise<number> {
    return Number((await this.db.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  }

  // ---- projects
  async createProject(p: { name: string; ownerId: number | null; public: boolean; metadata: Record<string, string> }): Promise<Project> {
    const t = now();
    try {
      const id = await this.meta.writeTx(async (trx) => {
        const r = await trx.insertInto('projects').values({ name: p.name, owner_id: p.ownerId, public: p.public ? 1 : 0, metadata: JSON.stringify(p.metadata), created_at: t, updated_at: t }).returning('id').executeTakeFirstOrThrow();
        const id = Number(r.id);
        if (p.ownerId !== null) await trx.insertInto('project_members').values({ project_id: id, user_id: p.ownerId, role_id: 1, created_at: t, updated_at: t }).execute();
        return id;
      });
      return (await this.getProject(id))!;
    } catch (e) {
      if (isUniqueViolation(e)) throw new ConflictError(`project ${p.name} already exists`);
      throw e;
    }
  }
  async getProject(id: number): Promise<Project | null> {
    const r = await this.db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toProject(r) : null;
  }
  async getProjectByName(name: string): Promise<Project | null> {
    const r = await this.db.selectFrom('projects').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toProject(r) : null;
  }
  async listProjects(): Promise<Project[]> {
    return (await this.db.selectFrom('projects').selectAll().orderBy(this.bytewise('name')).execute()).map(toProject);
  }
  async updateProject(id: number, patch: { public?: boolean; metadata?: Record<string, string> }): Promise<boolean> {
    const v: Record<string, unknown> = { updated_at: now() };
    if (patch.public !== undefined) v.public = patch.public ? 1 : 0;
    if (patch.metadata !== undefined) v.metadata = JSON.stringify(patch.metadata);
    const r = await this.db.updateTable('projects').set(v).where('id', '=', id).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
  /**
   * Deletes the project (and its members and robots) only when it holds no repository. System
   * robots name projects by name, so their permission entries for this project go too (in the same
   * transaction): a new project of the same name must not inherit them.
   */
  async deleteProject(id: number): Promise<'deleted' | 'not-found' | 'not-empty'> {
    return this.meta.writeTx(async (trx) => {
      const p = await trx.selectFrom('projects').select('name').where('id', '=', id).executeTakeFirst();
      if (!p) return 'not-found';
      if ((await this.countRepositories(p.name, trx)) > 0) return 'not-empty';
      await trx.deleteFrom('projects').where('id', '=', id).execute();
      const t = now();
      for (const r of await trx.selectFrom('robots').select(['id', 'permissions']).where('level', '=', 'system').execute()) {
        const perms = JSON.parse(r.permissions) as RobotPermission[];
        const kept = perms.filter((x) => !(x.kind === 'project' && x.namespace === p.name));
        if (kept.length === perms.length) continue;
        await trx.updateTable('robots').set({ permissions: JSON.stringify(kept), updated_at: t }).where('id', '=', r.id).execute();
      }
      return 'deleted';
    });
  }
  /** Repositories whose name starts with `<project>/`. */
  async countRepositories(project: string, db: Kysely<Database> = this.db): Promise<number> {
    const prefix = `${project}/`;
    const r = await db
      .selectFrom('repositories')
      .select((eb) => eb.fn.countAll().as('n'))
      .where(sql`substr(name, 1, ${prefix.length})`, '=', prefix)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }
  async listRepositories(project: string, opts: { q?: string; offset: number; limit: number }): Promise<{ items: { id: number; name: string; description: string | null; createdAt: number; artifactCount: number; updatedAt: number }[]; total: number }> {
    const prefix = `${project}/`;
    let q = this.db.selectFrom('repositories').where(sql`substr(name, 1, ${prefix.length})`, '=', prefix);
    if (opts.q) q = q.where(this.contains(sql`name`, opts.q), '>', 0);
    const total = Number((await q.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const rows = await q
      .select(['id', 'name', 'description', 'created_at'])
      .select((eb) => [
        eb.selectFrom('manifests').whereRef('manifests.repository_id', '=', 'repositories.id').select((e) => e.fn.countAll().as('c')).as('artifact_count'),
        eb.selectFrom('manifests').whereRef('manifests.repository_id', '=', 'repositories.id').select((e) => e.fn.max('created_at').as('m')).as('updated'),
      ])
      .orderBy(this.bytewise('name'))
      .offset(opts.offset)
      .limit(opts.limit)
      .execute();
    return { items: rows.map((r: any) => ({ id: Number(r.id), name: r.name, description: r.description ?? null, createdAt: Number(r.created_at), artifactCount: Number(r.artifact_count ?? 0), updatedAt: Number(r.updated ?? r.created_at) })), total };
  }

  // ---- members
  async listMembers(projectId: number, entityName?: string): Promise<Member[]> {
    let q = this.db.selectFrom('project_members as m').innerJoin('users as u', 'u.id', 'm.user_id').where('m.project_id', '=', projectId);
    if (entityName) q = q.where('u.username', '=', entityName);
    const rows = await q.select(['m.id', 'm.project_id', 'm.user_id', 'm.role_id', 'm.created_at', 'm.updated_at', 'u.username']).orderBy('m.id').execute();
    return rows.map((r: any) => ({ id: Number(r.id), projectId: Number(r.project_id), userId: Number(r.user_id), username: r.username, roleId: Number(r.role_id), createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) }));
  }
  async getMember(projectId: number, memberId: number): Promise<Member | null> {
    return (await this.listMembers(projectId)).find((m) => m.id === memberId) ?? null;
  }
  async addMember(projectId: number, userId: number, roleId: number): Promise<number> {
    const t = now();
    try {
      return await this.insertId(this.db.insertInto('project_members').values({ project_id: projectId, user_id: userId, role_id: roleId, created_at: t, updated_at: t }) as any);
    } catch (e) {
      if (isUniqueViolation(e)) throw new ConflictError('the user is already a member of the project');
      throw e;
    }
  }
  async updateMember(projectId: number, memberId: number, roleId: number): Promise<boolean> {
    const r = await this.db.updateTable('project_members').set({ role_id: roleId, updated_at: now() }).where('id', '=', memberId).where('project_id', '=', projectId).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
  async deleteMember(projectId: number, memberId: number): Promise<boolean> {
    const r = await this.db.deleteFrom('project_members').where('id', '=', memberId).where('project_id', '=', projectId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
  /** project id → role id for every project the user is a member of */
  async memberships(userId: number): Promise<Map<number, number>> {
    const rows = await this.db.selectFrom('project_members').select(['project_id', 'role_id']).where('user_id', '=', userId).execute();
    return new Map(rows.map((r) => [Number(r.project_id), Number(r.role_id)]));
  }

  // ---- robots
  async createRobot(r: Omit<Robot, 'id' | 'createdAt' | 'updatedAt'>): Promise<Robot> {
    const t = now();
    try {
      const id = await this.insertId(
        this.db.insertInto('robots').values({
          name: r.name,
          description: r.description,
          level: r.level,
          project_id: r.projectId,
          secret_hash: r.secretHash,
          permissions: JSON.stringify(r.permissions),
          disabled: r.disabled ? 1 : 0,
          duration: r.duration,
          expires_at: r.expiresAt,
          creator: r.creator,
          created_at: t,
          updated_at: t,
        }) as any,
      );
      return (await this.getRobot(id))!;
    } catch (e) {
      if (isUniqueViolation(e)) throw new ConflictError(`robot account ${r.name} already exists`);
      throw e;
    }
  }
  async getRobot(id: number): Promise<Robot | null> {
    const r = await this.db.selectFrom('robots').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toRobot(r) : null;
  }
  async getRobotByName(name: string): Promise<Robot | null> {
    const r = await this.db.selectFrom('robots').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toRobot(r) : null;
  }
  async listRobots(filter: { projectId?: number; level?: string } = {}): Promise<Robot[]> {
    let q = this.db.selectFrom('robots').selectAll();
    if (filter.projectId !== undefined) q = q.where('project_id', '=', filter.projectId);
    if (filter.level !== undefined) q = q.where('level', '=', filter.level);
    return (await q.orderBy('id').execute()).map(toRobot);
  }
  async updateRobot(id: number, patch: { description?: string | null; disabled?: boolean; permissions?: RobotPermission[]; duration?: number; expiresAt?: number; secretHash?: string }): Promise<boolean> {
    const v: Record<string, unknown> = { updated_at: now() };
    if (patch.description !== undefined) v.description = patch.description;
    if (patch.disabled !== undefined) v.disabled = patch.disabled ? 1 : 0;
    if (patch.permissions !== undefined) v.permissions = JSON.stringify(patch.permissions);
    if (patch.duration !== undefined) v.duration = patch.duration;
    if (patch.expiresAt !== undefined) v.expires_at = patch.expiresAt;
    if (patch.secretHash !== undefined) v.secret_hash = patch.secretHash;
    const r = await this.db.updateTable('robots').set(v).where('id', '=', id).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
  async deleteRobot(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('robots').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // ---- personal access tokens
  async createToken(t: Omit<AccessToken, 'id' | 'createdAt'>): Promise<AccessToken> {
    try {
      const id = await this.insertId(this.db.insertInto('access_tokens').values({ user_id: t.userId, name: t.name, token_hash: t.tokenHash, scopes: JSON.stringify(t.scopes), expires_at: t.expiresAt, created_at: now() }) as any);
      return (await this.getToken(id))!;
    } catch (e) {
      if (isUniqueViolation(e)) throw new ConflictError(`a token named ${t.name} already exists`);
      throw e;
    }
  }
  /**
   * Create a token whose hash depends on its own id (the token string embeds the id): inserts the
   * row and sets `token_hash = hashFor(id)` in one transaction, so no row without its real hash is
   * ever visible.
   */
  async createTokenWithId(t: Omit<AccessToken, 'id' | 'createdAt' | 'tokenHash'>, hashFor: (id: number) => string): Promise<AccessToken> {
    try {
      const id = await this.meta.writeTx(async (trx) => {
        const r = await trx
          .insertInto('access_tokens')
          .values({ user_id: t.userId, name: t.name, token_hash: '!pending', scopes: JSON.stringify(t.scopes), expires_at: t.expiresAt, created_at: now() })
          .returning('id')
          .executeTakeFirstOrThrow();
        const id = Number(r.id);
        await trx.updateTable('access_tokens').set({ token_hash: hashFor(id) }).where('id', '=', id).execute();
        return id;
      });
      return (await this.getToken(id))!;
    } catch (e) {
      if (isUniqueViolation(e)) throw new ConflictError(`a token named ${t.name} already exists`);
      throw e;
    }
  }
  async getToken(id: number): Promise<AccessToken | null> {
    const r = await this.db.selectFrom('access_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toToken(r) : null;
  }
  async listTokens(userId: number): Promise<AccessToken[]> {
    return (await this.db.selectFrom('access_tokens').selectAll().where('user_id', '=', userId).orderBy('id').execute()).map(toToken);
  }
  async deleteToken(userId: number, id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('access_tokens').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // ---- sessions
  async createSession(s: { idHash: string; userId: number; csrf: string; expiresAt: number }): Promise<void> {
    await this.db.insertInto('sessions').values({ id_hash: s.idHash, user_id: s.userId, csrf: s.csrf, expires_at: s.expiresAt, created_at: now() }).execute();
  }
  async getSession(idHash: string): Promise<{ userId: number; csrf: string; expiresAt: number } | null> {
    const r = await this.db.selectFrom('sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
    return r ? { userId: Number(r.user_id), csrf: r.csrf, expiresAt: Number(r.expires_at) } : null;
  }
  async deleteSession(idHash: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
  }
  async deleteSessionsOf(userId: number): Promise<void> {
    await this.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
  }
  async purgeSessions(before = now()): Promise<void> {
    await this.db.deleteFrom('sessions').where('expires_at', '<', before).execute();
  }

  // ---- audit log
  async insertAudit(entries: AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    for (let i = 0; i < entries.length; i += 500) {
      const chunk = entries.slice(i, i + 500);
      await this.db
        .insertInto('audit_logs')
        .values(chunk.map((e) => ({ username: e.username, operation: e.operation, resource_type: e.resourceType, resource: e.resource, project_id: e.projectId, client_ip: e.clientIp, success: e.success ? 1 : 0, op_time: e.opTime })))
        .execute();
    }
  }
  async queryAudit(q: AuditQuery): Promise<{ items: (AuditEntry & { id: number })[]; total: number }> {
    let b = this.db.selectFrom('audit_logs');
    if (q.username !== undefined) b = b.where('username', '=', q.username);
    if (q.operation !== undefined) b = b.where('operation', '=', q.operation);
    if (q.resourceType !== undefined) b = b.where('resource_type', '=', q.resourceType);
    if (q.projectId !== undefined) b = b.where('project_id', '=', q.projectId);
    if (q.from !== undefined) b = b.where('op_time', '>=', q.from);
    if (q.to !== undefined) b = b.where('op_time', '<=', q.to);
    if (q.resource !== undefined) b = b.where(this.contains(sql`resource`, q.resource), '>', 0);
    if (q.resourceExact !== undefined) b = b.where('resource', '=', q.resourceExact);
    if (q.usernameLike !== undefined) b = b.where(this.contains(sql`username`, q.usernameLike), '>', 0);
    const total = Number((await b.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const rows = await b.selectAll().orderBy('op_time', q.order ?? 'desc').orderBy('id', q.order ?? 'desc').offset(q.offset).limit(q.limit).execute();
    return {
      items: rows.map((r) => ({ id: Number(r.id), username: r.username, operation: r.operation, resourceType: r.resource_type, resource: r.resource, projectId: r.project_id === null ? null : Number(r.project_id), clientIp: r.client_ip, success: Number(r.success) === 1, opTime: Number(r.op_time) })),
      total,
    };
  }
  async purgeAudit(before: number): Promise<number> {
    const r = await this.db.deleteFrom('audit_logs').where('op_time', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  // ---- projects API (issue 3: GET /projects, repositories of a project)
  /**
   * One page of projects, filtered and restricted to what a caller may see: public projects, plus
   * those the user `memberUserId` is a member of, plus those named in `names`; everything when
   * `all`. Each row carries the owner's name and the number of repositories.
   */
  async listProjectsPage(opts: {
    visible: { all: true } | { memberUserId?: number; names?: string[] };
    name?: string;
    exactName?: boolean;
    public?: boolean;
    owner?: string;
    sort?: { column: 'name' | 'created_at' | 'updated_at' | 'id'; desc: boolean };
    offset: number;
    limit: number;
  }): Promise<{ items: (Project & { ownerName: string | null; repoCount: number })[]; total: number }> {
    let q = this.db.selectFrom('projects as p').leftJoin('users as u', 'u.id', 'p.owner_id');
    const v = opts.visible;
    if (!('all' in v)) {
      q = q.where((eb) => {
        const ors = [eb('p.public', '=', 1)];
        if (v.memberUserId !== undefined) {
          ors.push(eb('p.id', 'in', eb.selectFrom('project_members as m').select('m.project_id').where('m.user_id', '=', v.memberUserId)));
        }
        if (v.names && v.names.length) ors.push(eb('p.name', 'in', v.names));
        return eb.or(ors);
      });
    }
    if (opts.name !== undefined && opts.name !== '') {
      q = opts.exactName ? q.where('p.name', '=', opts.name) : q.where(this.contains(sql`p.name`, opts.name), '>', 0);
    }
    if (opts.public !== undefined) q = q.where('p.public', '=', opts.public ? 1 : 0);
    if (opts.owner !== undefined) q = q.where('u.username', '=', opts.owner);
    const total = Number((await q.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const sort = opts.sort ?? { column: 'name', desc: false };
    const rows = await q
      .selectAll('p')
      .select('u.username as owner_name')
      .select(sql<number>`(select count(*) from repositories r where substr(r.name, 1, length(p.name) + 1) = p.name || '/')`.as('repo_count'))
      .orderBy(sort.column === 'name' ? this.bytewise('p.name') : sql.ref(`p.${sort.column}`), sort.desc ? 'desc' : 'asc')
      .orderBy('p.id')
      .offset(opts.offset)
      .limit(opts.limit)
      .execute();
    return { items: rows.map((r: any) => ({ ...toProject(r), ownerName: r.owner_name ?? null, repoCount: Number(r.repo_count ?? 0) })), total };
  }

  async setRepositoryDescription(id: number, description: string | null): Promise<void> {
    await this.db.updateTable('repositories').set({ description }).where('id', '=', id).execute();
  }

  /** One repository (by full name) in the shape listRepositories() gives, or null. */
  async getRepositorySummary(name: string): Promise<{ id: number; name: string; description: string | null; createdAt: number; artifactCount: number; updatedAt: number } | null> {
    const r: any = await this.db
      .selectFrom('repositories')
      .where('name', '=', name)
      .select(['id', 'name', 'description', 'created_at'])
      .select((eb) => [
        eb.selectFrom('manifests').whereRef('manifests.repository_id', '=', 'repositories.id').select((e) => e.fn.countAll().as('c')).as('artifact_count'),
        eb.selectFrom('manifests').whereRef('manifests.repository_id', '=', 'repositories.id').select((e) => e.fn.max('created_at').as('m')).as('updated'),
      ])
      .executeTakeFirst();
    return r ? { id: Number(r.id), name: r.name, description: r.description ?? null, createdAt: Number(r.created_at), artifactCount: Number(r.artifact_count ?? 0), updatedAt: Number(r.updated ?? r.created_at) } : null;
  }
}
