// Who is calling and what may they do. Authentication (Basic: user password, robot secret,
// personal access token; Bearer: a token from our token service; session cookie) resolves a
// Subject; decisions come from the pure role table in rbac/permissions.ts.
//
// Caching: verified Basic credentials, subjects, project lookups and memberships are cached in
// memory, so a pull with credentials costs no password hash and no database query after the
// first. Every identity change (user, project, member, robot, token) calls changed(), which
// empties all caches here and, through the bus, in the other processes of the node. Entries also
// expire after `cacheTtlMs` as a backstop for changes made behind the server's back (the CLI).
import { decide, grantedActions, roleFromId, type Action, type Principal, type Resource } from '../rbac/permissions.ts';
import type { Logger } from '../logger.ts';
import { TokenSigner, type AccessEntry, type TokenClaims } from './jwt.ts';
import { LoginLimiter } from './limiter.ts';
import { sha256hex } from './secrets.ts';
import { DatabaseProvider, type AuthProvider } from './providers.ts';
import type { IdentityStore, Project, RobotPermission } from './store.ts';

export type Subject =
  | { kind: 'anonymous' }
  | { kind: 'user'; id: number; username: string; sysadmin: boolean; /** personal access token scopes; null = full user rights */ scopes: ReadonlySet<string> | null; tokenId: number | null; /** the personal access token's expiry (epoch ms, -1 never); -1 for passwords */ expiresAt: number }
  | { kind: 'robot'; id: number; name: string; level: 'project' | 'system'; projectId: number | null; permissions: RobotPermission[]; expiresAt: number };

export const ANONYMOUS: Subject = { kind: 'anonymous' };

export type SubjectRef = { k: 'u' | 'r' | 'p' | 'a'; id: number };

export interface ProjectInfo {
  id: number;
  name: string;
  public: boolean;
}

export const PAT_PREFIX = 'wpat_';
export const PAT_SCOPES = ['pull', 'push', 'delete', 'api:read', 'api:write'] as const;

export interface InvalidationBus {
  publish(): void;
  subscribe(fn: () => void): void;
}

export const localBus = (): InvalidationBus => {
  const subs: (() => void)[] = [];
  return { publish: () => subs.forEach((f) => f()), subscribe: (f) => void subs.push(f) };
};

export interface IdentityOptions {
  signer: TokenSigner;
  service: string;
  issuer?: string;
  tokenTtlSec: number;
  limiter: LoginLimiter;
  bus?: InvalidationBus;
  cacheTtlMs?: number;
  logger: Logger;
  /** tried in order; default: the database provider alone */
  providers?: AuthProvider[];
  /** called after every fresh (not cached) credential check */
  onLogin?: (username: string, ok: boolean, ip: string | undefined) => void;
}

interface Cached<T> {
  v: T;
  at: number;
}

export class AuthError extends Error {}

export class Identity {
  readonly service: string;
  readonly signer: TokenSigner;
  private readonly ttl: number;
  private readonly credCache = new Map<string, Cached<SubjectRef>>();
  private readonly subjectCache = new Map<string, Cached<Subject | null>>();
  private readonly projectCache = new Map<string, Cached<ProjectInfo | null>>();
  private readonly memberCache = new Map<number, Cached<Map<number, number>>>();
  private readonly inflight = new Map<string, Promise<SubjectRef | null>>();
  private readonly verifiedTokens = new Map<string, TokenClaims>();
  private readonly bus: InvalidationBus;
  private readonly providers: AuthProvider[];

  constructor(
    readonly store: IdentityStore,
    private readonly opts: IdentityOptions,
  ) {
    this.service = opts.service;
    this.signer = opts.signer;
    this.ttl = opts.cacheTtlMs ?? 30_000;
    this.bus = opts.bus ?? localBus();
    this.providers = opts.providers ?? [new DatabaseProvider(store)];
    this.bus.subscribe(() => this.clear());
  }

  /** An identity change happened: forget everything cached, here and in sibling processes. */
  changed(): void {
    this.clear();
    this.bus.publish();
  }

  /** bumped by every clear(): a result loaded before a change must not be cached after it */
  private gen = 0;

  private clear(): void {
    this.gen++;
    this.credCache.clear();
    this.subjectCache.clear();
    this.projectCache.clear();
    this.memberCache.clear();
  }

  private fresh<T>(c: Cached<T> | undefined): c is Cached<T> {
    return c !== undefined && Date.now() - c.at < this.ttl;
  }

  // ------------------------------------------------------------------ projects

  async project(name: string): Promise<ProjectInfo | null> {
    const c = this.projectCache.get(name);
    if (this.fresh(c)) return c.v;
    const gen = this.gen;
    const p = await this.store.getProjectByName(name);
    const v = p ? { id: p.id, name: p.name, public: p.public } : null;
    if (this.projectCache.size > 50_000) this.projectCache.clear();
    if (gen === this.gen) this.projectCache.set(name, { v, at: Date.now() });
    return v;
  }

  /** The project a repository name belongs to: its first path component. */
  async projectOfRepository(repo: string): Promise<ProjectInfo | null> {
    const i = repo.indexOf('/');
    if (i <= 0) return null;
    return this.project(repo.slice(0, i));
  }

  private async memberships(userId: number): Promise<Map<number, number>> {
    const c = this.memberCache.get(userId);
    if (this.fresh(c)) return c.v;
    const gen = this.gen;
    const v = await this.store.memberships(userId);
    if (gen === this.gen) this.memberCache.set(userId, { v, at: Date.now() });
    return v;
  }

  async roleId(subject: Subject, projectId: number): Promise<number | null> {
    if (subject.kind !== 'user') return null;
    return (await this.memberships(subject.id)).get(projectId) ?? null;
  }

  // ------------------------------------------------------------------ decisions

  async principal(subject: Subject, project: ProjectInfo): Promise<Principal> {
    switch (subject.kind) {
      case 'anonymous':
        return { kind: 'anonymous' };
      case 'user': {
        const rid = await this.roleId(subject, project.id);
        return { kind: 'user', sysadmin: subject.sysadmin, projectRole: rid === null ? null : roleFromId(rid) };
      }
      case 'robot': {
        const permissions = subject.permissions
          .filter((p) => p.kind === 'project' && (p.namespace === project.name || (p.namespace === '*' && subject.level === 'system')))
          .flatMap((p) => p.access.filter((a) => a.effect === undefined || a.effect === 'allow').map((a) => ({ resource: a.resource as Resource, action: a.action as Action })));
        return { kind: 'robot', permissions };
      }
    }
  }

  /** May the subject do `action` on `resource` in `project`? (Personal-access-token scopes are checked by the caller for the channel.) */
  async can(subject: Subject, project: ProjectInfo, resource: Resource, action: Action): Promise<boolean> {
    return decide(await this.principal(subject, project), { public: project.public }, resource, action);
  }

  /** System-level permission: system admins, and system robots granted it explicitly (`kind: system`). */
  canSystem(subject: Subject, resource: string, action: string): boolean {
    if (subject.kind === 'user') return subject.sysadmin;
    if (subject.kind === 'robot' && subject.level === 'system') {
      return subject.permissions.some((p) => p.kind === 'system' && p.access.some((a) => a.resource === resource && a.action === action && (a.effect ?? 'allow') === 'allow'));
    }
    return false;
  }

  /** Does a personal access token's scope set allow this? Users without a token and robots: always. */
  static scopeAllows(subject: Subject, scope: string): boolean {
    if (subject.kind !== 'user' || subject.scopes === null) return true;
    return subject.scopes.has(scope);
  }

  /** Repository actions (pull, push, delete, *) the subject gets on `repo` — the token service's filter. */
  async repositoryActions(subject: Subject, repo: string, requested: readonly string[]): Promise<string[]> {
    const project = await this.projectOfRepository(repo);
    if (!project) {
      // A system admin may be granted push to a project that does not exist yet; the push itself
      // then fails with a clear NAME_UNKNOWN naming the missing project.
      if (subject.kind === 'user' && subject.sysadmin) return requested.filter((a) => ['pull', 'push', 'delete', '*'].includes(a) && Identity.scopeAllows(subject, a));
      return [];
    }
    const granted = grantedActions(await this.principal(subject, project), { public: project.public }, requested);
    return granted.filter((a) => a === '*' ? ['pull', 'push', 'delete'].every((s) => Identity.scopeAllows(subject, s)) : Identity.scopeAllows(subject, a));
  }

  // ------------------------------------------------------------------ subjects

  async subjectByRef(ref: SubjectRef): Promise<Subject | null> {
    if (ref.k === 'a') return ANONYMOUS;
    const key = `${ref.k}:${ref.id}`;
    const c = this.subjectCache.get(key);
    if (this.fresh(c)) return this.alive(c.v);
    const gen = this.gen;
    const v = await this.loadSubject(ref);
    if (this.subjectCache.size > 50_000) this.subjectCache.clear();
    if (gen === this.gen) this.subjectCache.set(key, { v, at: Date.now() });
    return this.alive(v);
  }

  private alive(s: Subject | null): Subject | null {
    if (s && s.kind !== 'anonymous' && s.expiresAt !== -1 && s.expiresAt <= Date.now()) return null;
    return s;
  }

  private async loadSubject(ref: SubjectRef): Promise<Subject | null> {
    if (ref.k === 'u') {
      const u = await this.store.getUser(ref.id);
      return u ? { kind: 'user', id: u.id, username: u.username, sysadmin: u.sysadmin, scopes: null, tokenId: null, expiresAt: -1 } : null;
    }
    if (ref.k === 'p') {
      const t = await this.store.getToken(ref.id);
      if (!t || (t.expiresAt !== -1 && t.expiresAt <= Date.now())) return null;
      const u = await this.store.getUser(t.userId);
      return u ? { kind: 'user', id: u.id, username: u.username, sysadmin: u.sysadmin, scopes: new Set(t.scopes), tokenId: t.id, expiresAt: t.expiresAt } : null;
    }
    const r = await this.store.getRobot(ref.id);
    if (!r || r.disabled) return null;
    return { kind: 'robot', id: r.id, name: r.name, level: r.level, projectId: r.projectId, permissions: r.permissions, expiresAt: r.expiresAt };
  }

  static refOf(s: Subject): SubjectRef {
    if (s.kind === 'anonymous') return { k: 'a', id: 0 };
    if (s.kind === 'robot') return { k: 'r', id: s.id };
    return s.tokenId !== null ? { k: 'p', id: s.tokenId } : { k: 'u', id: s.id };
  }

  static nameOf(s: Subject): string {
    return s.kind === 'anonymous' ? 'anonymous' : s.kind === 'robot' ? s.name : s.username;
  }

  // ------------------------------------------------------------------ authentication

  /**
   * Verify a user name and secret (password, robot secret or personal access token). Returns
   * null for wrong credentials, unknown names and locked names alike.
   */
  async login(username: string, secret: string, ip?: string): Promise<Subject | null> {
    // A locked name is refused first, even with credentials verified before: otherwise the lock
    // would still tell a guess that matches a recently used password (200) from one that does not
    // (401). Attempts on a locked name are not audited one by one (they cost the attacker nothing).
    if (this.opts.limiter.nameLocked(username)) return null;
    const key = sha256hex(`${username}\u0000${secret}`);
    const c = this.credCache.get(key);
    // A locked address may not verify new credentials, but already verified ones keep working, so
    // that one noisy client behind a shared address (NAT, proxy) cannot lock everyone out.
    if (this.fresh(c)) return this.subjectByRef(c.v);
    if (this.opts.limiter.ipLocked(ip)) return null;
    const gen = this.gen;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.verify(username, secret, ip).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    const ref = await p;
    if (!ref) return null;
    if (this.credCache.size > 50_000) this.credCache.clear();
    if (gen === this.gen) this.credCache.set(key, { v: ref, at: Date.now() });
    return this.subjectByRef(ref);
  }

  /** Count a failed password check made outside login() (e.g. a wrong old password), and tell whether the name is locked. */
  noteFailedPassword(username: string, ip?: string): void {
    this.opts.limiter.fail(username, ip);
    this.opts.onLogin?.(username, false, ip);
  }

  isLocked(username: string, ip?: string): boolean {
    return this.opts.limiter.locked(username, ip);
  }

  private async verify(username: string, secret: string, ip?: string): Promise<SubjectRef | null> {
    const ref = await this.check(username, secret);
    if (ref) this.opts.limiter.succeed(username);
    else this.opts.limiter.fail(username, ip);
    this.opts.onLogin?.(username, ref !== null, ip);
    return ref;
  }

  private async check(username: string, secret: string): Promise<SubjectRef | null> {
    for (const p of this.providers) {
      const ref = await p.verify(username, secret);
      if (ref) return ref;
    }
    return null;
  }

  /** A bearer token from our token service: its subject (still alive) and claims, or null. */
  async bearer(token: string): Promise<{ subject: Subject; claims: TokenClaims } | null> {
    // A verified token's claims are kept until it expires: an ECDSA verification per request
    // would cost more than the rest of a manifest GET.
    let claims = this.verifiedTokens.get(token);
    if (!claims || claims.exp <= Date.now() / 1000) {
      this.verifiedTokens.delete(token);
      claims = this.signer.verify(token, this.service) ?? undefined;
      if (!claims) return null;
      if (this.verifiedTokens.size >= 10_000) this.verifiedTokens.clear();
      this.verifiedTokens.set(token, claims);
    }
    const k = claims.wharf?.k;
    if (k !== 'u' && k !== 'r' && k !== 'p' && k !== 'a') return null;
    const subject = await this.subjectByRef({ k, id: Number(claims.wharf.id) });
    return subject ? { subject, claims } : null;
  }

  /** Issue a token for the requested scopes (`type:name:actions`), keeping only what RBAC grants. */
  async issueToken(subject: Subject, scopes: string[]): Promise<{ token: string; expiresIn: number; issuedAt: Date }> {
    const access: AccessEntry[] = [];
    for (const s of scopes) {
      const parsed = parseScope(s);
      if (!parsed) continue;
      if (parsed.type === 'repository') {
        const actions = await this.repositoryActions(subject, parsed.name, parsed.actions);
        access.push({ type: 'repository', name: parsed.name, actions });
      } else if (parsed.type === 'registry' && parsed.name === 'catalog') {
        // The catalog answer is filtered per caller, so listing it is no privilege.
        access.push({ type: 'registry', name: 'catalog', actions: parsed.actions.includes('*') ? ['*'] : [] });
      }
    }
    const iat = Math.floor(Date.now() / 1000);
    let exp = iat + this.opts.tokenTtlSec;
    if (subject.kind !== 'anonymous' && subject.expiresAt !== -1) exp = Math.min(exp, Math.floor(subject.expiresAt / 1000));
    const token = this.signer.sign({ iss: this.opts.issuer ?? 'wharf-token-service', sub: Identity.nameOf(subject), aud: this.service, exp, iat, access, wharf: Identity.refOf(subject) });
    return { token, expiresIn: exp - iat, issuedAt: new Date(iat * 1000) };
  }
}

/** `repository:samalba/my-app:pull,push` → type, name, actions. The name may contain ':' (a registry host with a port). */
export function parseScope(s: string): { type: string; name: string; actions: string[] } | null {
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first <= 0 || last === first) return null;
  const type = s.slice(0, first);
  let name = s.slice(first + 1, last);
  // resource class: repository(plugin):name
  const cls = /^([a-z0-9]+)\([a-z0-9]+\)$/.exec(type);
  const t = cls ? cls[1] : type;
  if (!name) return null;
  const actions = s
    .slice(last + 1)
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  return { type: t, name, actions };
}

/** Does a token's access claim grant `action` on repository `name`? */
export function tokenAllows(claims: TokenClaims, name: string, action: string): boolean {
  return claims.access.some((a) => a.type === 'repository' && a.name === name && (a.actions.includes(action) || a.actions.includes('*')));
}

export type { Project };
