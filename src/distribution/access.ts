// Access control for /v2: who is calling (Basic, Bearer or anonymous), which action the route
// needs (pull, push or delete on the repository), and the Docker token-auth challenge when the
// answer is no (distribution docs/spec/auth/token.md).
import type { IncomingMessage } from 'node:http';
import { OciError } from '../errors/oci-errors.ts';
import { AuthError, Identity, tokenAllows, type ProjectInfo, type Subject } from '../identity/identity.ts';
import { authenticate, type RequestAuth } from '../identity/http-auth.ts';

export type RepoAction = 'pull' | 'push' | 'delete';

export interface V2Access {
  identity: Identity;
  /** base URL clients reach us at, for the token realm; derived from Host when unset */
  externalUrl?: string;
}

export function realmOf(access: V2Access, req: IncomingMessage): string {
  const base = access.externalUrl ?? `${(req.headers['x-forwarded-proto'] as string | undefined)?.split(',')[0]?.trim() || 'http'}://${req.headers.host ?? 'localhost'}`;
  return `${base.replace(/\/+$/, '')}/service/token`;
}

function challenge(access: V2Access, req: IncomingMessage, scope?: string, error?: string): string {
  let v = `Bearer realm="${realmOf(access, req)}",service="${access.identity.service}"`;
  if (scope) v += `,scope="${scope}"`;
  if (error) v += `,error="${error}"`;
  return v;
}

function unauthorized(access: V2Access, req: IncomingMessage, message: string, scope?: string, error?: string): OciError {
  return new OciError('UNAUTHORIZED', message, { status: 401, headers: { 'WWW-Authenticate': challenge(access, req, scope, error) } });
}

/** Authenticate a /v2 request; wrong credentials are a 401 with the challenge. */
export async function authenticateV2(access: V2Access, req: IncomingMessage): Promise<RequestAuth> {
  try {
    return await authenticate(req, access.identity);
  } catch (e) {
    if (e instanceof AuthError) throw unauthorized(access, req, 'authentication required: ' + e.message);
    throw e;
  }
}

/** `/v2/` answers 200 only to a caller with credentials or a token (this is how clients probe for login). */
export function requireLogin(access: V2Access, req: IncomingMessage, auth: RequestAuth, scope?: string): void {
  if (auth.via === 'anonymous') throw unauthorized(access, req, 'authentication required', scope);
}

const scopeActions: Record<RepoAction, string> = { pull: 'pull', push: 'pull,push', delete: 'delete' };

/**
 * May the caller do `action` on repository `repo`? Throws 401 (anonymous, or a token lacking the
 * scope), 403 DENIED (credentials without the permission) or NAME_UNKNOWN (push into a project
 * that does not exist) otherwise. Returns the project.
 */
export async function authorizeRepo(access: V2Access, req: IncomingMessage, auth: RequestAuth, repo: string, action: RepoAction, extraScope?: string): Promise<ProjectInfo | null> {
  const { identity } = access;
  const project = await identity.projectOfRepository(repo);
  // Several scopes go in one space-separated scope parameter, as distribution writes them.
  const scope = `repository:${repo}:${scopeActions[action]}${extraScope ? ` ${extraScope}` : ''}`;
  const s = auth.subject;
  if (auth.via === 'bearer' && !tokenAllows(auth.claims!, repo, action)) {
    throw unauthorized(access, req, `the token does not grant ${action} on ${repo}`, scope, 'insufficient_scope');
  }
  let allowed: boolean;
  if (project) {
    const resource = 'repository';
    allowed = Identity.scopeAllows(s, action) && (await identity.can(s, project, resource, action));
  } else {
    allowed = s.kind === 'user' && s.sysadmin && Identity.scopeAllows(s, action);
  }
  if (!allowed) {
    if (s.kind === 'anonymous') throw unauthorized(access, req, `authentication required to ${action} ${repo}`, scope);
    throw new OciError('DENIED', `requested access to the resource is denied: ${action} on ${repo}`, { status: 403 });
  }
  if (!project && action === 'push') {
    const first = repo.includes('/') ? repo.slice(0, repo.indexOf('/')) : null;
    throw new OciError('NAME_UNKNOWN', first ? `project ${first} not found` : `repository name ${repo} must start with a project (<project>/<repository>)`, { status: 404, detail: { name: repo } });
  }
  return project;
}

/** For catalog filtering and mount sources: may the subject pull from `repo`? Never throws. */
export async function canPull(access: V2Access, subject: Subject, repo: string): Promise<boolean> {
  const project = await access.identity.projectOfRepository(repo);
  if (!project) return subject.kind === 'user' && subject.sysadmin;
  return Identity.scopeAllows(subject, 'pull') && access.identity.can(subject, project, 'repository', 'pull');
}

/**
 * A cross-repository mount also reads the source. A token that lacks pull on the source while
 * its holder could pull gets a 401 naming both scopes, so the client fetches a token that covers
 * the mount (distribution asks for the same); a caller who may not read the source gets a plain
 * upload session instead (the spec's fallback), never the blob.
 */
export async function authorizeMountSource(access: V2Access, req: IncomingMessage, auth: RequestAuth, repo: string, from: string): Promise<void> {
  if (auth.via !== 'bearer' || tokenAllows(auth.claims!, from, 'pull')) return;
  if (await canPull(access, auth.subject, from)) {
    throw unauthorized(access, req, `the token does not grant pull on the mount source ${from}`, `repository:${repo}:pull,push repository:${from}:pull`, 'insufficient_scope');
  }
}
