// Personal access tokens (a Wharf extension): GET/POST /users/current/tokens and
// DELETE /users/current/tokens/{token_id}. A token is `wpat_<id>_<secret>`; only its SHA-256 is
// stored, and it is shown once, in the answer to POST.
import { PAT_PREFIX, PAT_SCOPES } from '../identity/identity.ts';
import { newSecret, sha256hex } from '../identity/secrets.ts';
import { ConflictError, type AccessToken } from '../identity/store.ts';
import { badRequest, conflict, custom, denial, forbidden, notFound, type ApiCtx, type ApiRoute } from './framework.ts';
import { pathId } from './projects.ts';

const DAY_MS = 86_400_000;
/** the longest finite lifetime accepted for tokens and robots, in days */
export const MAX_DURATION_DAYS = 36_500;

/** `duration` in days: -1 never expires, missing/null/0 → 30. Returns expiresAt (epoch ms, -1 = never) and the stored duration. */
export function durationToExpiry(v: unknown, from = Date.now()): { duration: number; expiresAt: number } {
  if (v === undefined || v === null || v === 0) return { duration: 30, expiresAt: from + 30 * DAY_MS };
  if (typeof v !== 'number' || !Number.isInteger(v)) throw badRequest('duration must be an integer number of days (-1: never expires)');
  if (v === -1) return { duration: -1, expiresAt: -1 };
  if (v < 1 || v > MAX_DURATION_DAYS) throw badRequest(`duration must be -1 or between 1 and ${MAX_DURATION_DAYS} days`);
  return { duration: v, expiresAt: from + v * DAY_MS };
}

/** epoch ms (-1 never) → Harbor's expires_at, epoch seconds (-1 never) */
export function expiresAtSeconds(ms: number): number {
  return ms === -1 ? -1 : Math.floor(ms / 1000);
}

function tokenJson(t: AccessToken) {
  return {
    id: t.id,
    name: t.name,
    scopes: t.scopes,
    creation_time: new Date(t.createdAt).toISOString(),
    expires_at: expiresAtSeconds(t.expiresAt),
    expired: t.expiresAt !== -1 && t.expiresAt <= Date.now(),
  };
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** The calling user; robots and anonymous callers may not manage tokens. */
function owner(c: ApiCtx): { id: number; username: string; tokenId: number | null } {
  const s = c.subject;
  if (s.kind !== 'user') throw denial(s);
  return s;
}

const MANAGE = custom('a logged-in user (not a robot); creating a token needs the password or a session, not another token');

export const tokenRoutes: ApiRoute[] = [
  {
    method: 'GET',
    path: '/users/current/tokens',
    tag: 'user',
    summary: "List the caller's personal access tokens (never the token values)",
    perm: MANAGE,
    handler: async (c) => {
      const me = owner(c);
      c.json(200, (await c.identity.store.listTokens(me.id)).map(tokenJson));
    },
  },
  {
    method: 'POST',
    path: '/users/current/tokens',
    tag: 'user',
    summary: 'Create a personal access token {name, scopes, duration} → 201 with the token (shown once)',
    perm: MANAGE,
    handler: async (c) => {
      const me = owner(c);
      if (me.tokenId !== null) throw forbidden('a personal access token cannot create personal access tokens');
      const body = await c.body();
      const name = body.name;
      if (typeof name !== 'string' || name.trim() === '') throw badRequest('name is required');
      if (name.length > 128 || CONTROL.test(name) || name.trim() !== name) throw badRequest('name must be 1 to 128 characters, without control characters or surrounding spaces');
      const scopes = body.scopes;
      if (!Array.isArray(scopes) || scopes.length === 0) throw badRequest(`scopes must be a non-empty array of ${PAT_SCOPES.join(', ')}`);
      for (const s of scopes) {
        if (typeof s !== 'string' || !(PAT_SCOPES as readonly string[]).includes(s)) throw badRequest(`unknown scope ${JSON.stringify(s)} (valid: ${PAT_SCOPES.join(', ')})`);
      }
      const uniq = PAT_SCOPES.filter((s) => scopes.includes(s));
      const { expiresAt } = durationToExpiry(body.duration);
      const secret = newSecret();
      let value = '';
      let t: AccessToken;
      try {
        t = await c.identity.store.createTokenWithId({ userId: me.id, name, scopes: uniq, expiresAt }, (id) => {
          value = `${PAT_PREFIX}${id}_${secret}`;
          return sha256hex(value);
        });
      } catch (e) {
        if (e instanceof ConflictError) throw conflict(`a token named ${name} already exists`);
        throw e;
      }
      c.identity.changed();
      c.audit('create', 'access_token', `${me.username}/${name}`);
      c.created(`/users/current/tokens/${t.id}`, { id: t.id, name: t.name, token: value, scopes: t.scopes, creation_time: new Date(t.createdAt).toISOString(), expires_at: expiresAtSeconds(t.expiresAt) });
    },
  },
  {
    method: 'DELETE',
    path: '/users/current/tokens/{token_id}',
    tag: 'user',
    summary: "Revoke one of the caller's personal access tokens",
    perm: MANAGE,
    handler: async (c) => {
      const me = owner(c);
      const id = pathId(c, 'token_id');
      const t = await c.identity.store.getToken(id);
      if (!t || t.userId !== me.id || !(await c.identity.store.deleteToken(me.id, id))) throw notFound(`token ${id} not found`);
      c.identity.changed();
      c.audit('delete', 'access_token', `${me.username}/${t.name}`);
      c.empty(200);
    },
  },
];
