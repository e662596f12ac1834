// Non-API identity endpoints: the Docker token service (/service/token) and the portal's session
// login/logout (/c/login, /c/log_out).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuthError, Identity } from './identity.ts';
import { authenticate, clientIp, cookies, CSRF_COOKIE, parseBasic, SESSION_COOKIE } from './http-auth.ts';
import { newSecret, sha256hex } from './secrets.ts';
import type { AuditLog } from './audit.ts';

export interface EndpointDeps {
  identity: Identity;
  audit: AuditLog;
  sessionTtlMs: number;
  /** the external URL, when configured: an https one marks the cookies Secure */
  externalUrl?: string;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length, 'Cache-Control': 'no-store', ...headers });
  res.end(data);
}

const err = (code: string, message: string) => ({ errors: [{ code, message }] });

/** GET /service/token?service=…&scope=…[&scope=…] (also `account`, `client_id`, `offline_token` are accepted and ignored). */
export async function tokenEndpoint(d: EndpointDeps, req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, err('METHOD_NOT_ALLOWED', 'use GET'), { Allow: 'GET' });
  const service = query.get('service');
  if (service !== null && service !== d.identity.service) return send(res, 400, err('BAD_REQUEST', `unknown service ${service}; this token service issues tokens for ${d.identity.service}`));
  let auth;
  try {
    // Only credentials buy a token: a registry token is never exchanged for another (it would
    // outlive a revoked password or secret, and could be widened to new repositories).
    auth = await authenticate(req, d.identity, { allowBearer: false });
  } catch (e) {
    if (e instanceof AuthError) {
      // No Basic challenge: a browser would cache the credentials and send them cross-site.
      return send(res, 401, err('UNAUTHORIZED', 'authentication required'));
    }
    throw e;
  }
  const scopes = query.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
  const t = await d.identity.issueToken(auth.subject, scopes);
  send(res, 200, { token: t.token, access_token: t.token, expires_in: t.expiresIn, issued_at: t.issuedAt.toISOString() });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > 64 * 1024) throw new Error('body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** POST /c/login with `principal` and `password` (form or JSON): a session cookie plus the CSRF cookie. */
export async function loginEndpoint(d: EndpointDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST') return send(res, 405, err('METHOD_NOT_ALLOWED', 'use POST'), { Allow: 'POST' });
  let principal: unknown;
  let password: unknown;
  try {
    const text = await readBody(req);
    if (String(req.headers['content-type'] ?? '').includes('application/json')) {
      const j = JSON.parse(text);
      principal = j.principal ?? j.username;
      password = j.password;
    } else {
      const f = new URLSearchParams(text);
      principal = f.get('principal') ?? f.get('username');
      password = f.get('password');
    }
  } catch {
    return send(res, 400, err('BAD_REQUEST', 'expected principal and password (form or JSON)'));
  }
  if (typeof principal !== 'string' || typeof password !== 'string' || !principal || !password) return send(res, 400, err('BAD_REQUEST', 'principal and password are required'));
  const subject = await d.identity.login(principal, password, clientIp(req));
  if (!subject || subject.kind !== 'user' || subject.tokenId !== null) return send(res, 401, err('UNAUTHORIZED', 'invalid user name or password'));
  const sid = newSecret();
  const csrf = newSecret(24);
  await d.identity.store.createSession({ idHash: sha256hex(sid), userId: subject.id, csrf, expiresAt: Date.now() + d.sessionTtlMs });
  const maxAge = Math.floor(d.sessionTtlMs / 1000);
  const https = d.externalUrl?.startsWith('https:') || String(req.headers['x-forwarded-proto'] ?? '').split(',')[0].trim() === 'https';
  const secure = https ? '; Secure' : '';
  send(res, 200, { username: subject.username, user_id: subject.id, sysadmin_flag: subject.sysadmin }, {
    'Set-Cookie': [`${SESSION_COOKIE}=${sid}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure}`, `${CSRF_COOKIE}=${csrf}; Path=/; SameSite=Strict; Max-Age=${maxAge}${secure}`],
    'X-Harbor-CSRF-Token': csrf,
  });
}

/** GET|POST /c/log_out: end the session. */
export async function logoutEndpoint(d: EndpointDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const sid = cookies(req).get(SESSION_COOKIE);
  if (sid) await d.identity.store.deleteSession(sha256hex(sid));
  send(res, 200, {}, { 'Set-Cookie': [`${SESSION_COOKIE}=; Path=/; HttpOnly; Max-Age=0`, `${CSRF_COOKIE}=; Path=/; Max-Age=0`] });
}

export { parseBasic };
