// Reading credentials off an HTTP request: Basic, Bearer (our token service's JWT) or the portal's
// session cookie. Absent credentials mean anonymous; present but wrong ones are an AuthError.
import type { IncomingMessage } from 'node:http';
import type { TokenClaims } from './jwt.ts';
import { ANONYMOUS, AuthError, Identity, type Subject } from './identity.ts';
import { sha256hex } from './secrets.ts';

export interface RequestAuth {
  subject: Subject;
  via: 'anonymous' | 'basic' | 'bearer' | 'session';
  claims?: TokenClaims;
  /** the session's CSRF token (via = session) */
  csrf?: string;
}

export const SESSION_COOKIE = 'sid';
export const CSRF_COOKIE = '__csrf';
export const CSRF_HEADER = 'x-harbor-csrf-token';

export function clientIp(req: IncomingMessage): string | undefined {
  return req.socket.remoteAddress ?? undefined;
}

export function parseBasic(header: string): { username: string; password: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return null;
  const s = Buffer.from(m[1], 'base64').toString('utf8');
  const i = s.indexOf(':');
  if (i < 0) return null;
  return { username: s.slice(0, i), password: s.slice(i + 1) };
}

export function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  const h = req.headers.cookie;
  if (!h) return out;
  for (const part of h.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    let v = part.slice(i + 1).trim();
    try {
      v = decodeURIComponent(v);
    } catch {
      /* keep raw */
    }
    if (!out.has(k)) out.set(k, v);
  }
  return out;
}

export async function authenticate(req: IncomingMessage, identity: Identity, opts: { allowSession?: boolean; allowBearer?: boolean } = {}): Promise<RequestAuth> {
  const h = req.headers.authorization;
  if (h) {
    if (/^basic\s/i.test(h)) {
      const c = parseBasic(h);
      if (!c) throw new AuthError('malformed Basic credentials');
      const subject = await identity.login(c.username, c.password, clientIp(req));
      if (!subject) throw new AuthError('invalid credentials');
      return { subject, via: 'basic' };
    }
    if (/^bearer\s/i.test(h)) {
      if (opts.allowBearer === false) throw new AuthError('registry tokens are valid on /v2 only; use Basic credentials or a session');
      const r = await identity.bearer(h.replace(/^bearer\s+/i, '').trim());
      if (!r) throw new AuthError('invalid or expired token');
      return { subject: r.subject, via: 'bearer', claims: r.claims };
    }
    throw new AuthError('unsupported authorization scheme');
  }
  if (opts.allowSession) {
    const sid = cookies(req).get(SESSION_COOKIE);
    if (sid) {
      const s = await identity.store.getSession(sha256hex(sid));
      if (s && s.expiresAt > Date.now()) {
        const subject = await identity.subjectByRef({ k: 'u', id: s.userId });
        if (subject) return { subject, via: 'session', csrf: s.csrf };
      }
      // A stale cookie is not an error: the caller is simply anonymous.
    }
  }
  return { subject: ANONYMOUS, via: 'anonymous' };
}
