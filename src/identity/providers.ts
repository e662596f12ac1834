// Authentication providers: who can vouch for a user name and secret. The database provider
// (users' passwords, personal access tokens, robot secrets) is the only one today; an LDAP or OIDC
// provider implements the same interface (mapping its users to local user rows, as Harbor does)
// and is tried in order after it.
import type { SubjectRef } from './identity.ts';
import { safeEqual, sha256hex, verifyPassword } from './secrets.ts';
import type { IdentityStore } from './store.ts';

export interface AuthProvider {
  readonly name: string;
  /** The subject these credentials prove, or null (wrong, unknown, expired, disabled). */
  verify(username: string, secret: string): Promise<SubjectRef | null>;
}

const PAT_RE = /^wpat_(\d{1,15})_([A-Za-z0-9_-]{20,})$/;

export class DatabaseProvider implements AuthProvider {
  readonly name = 'db_auth';
  constructor(private readonly store: IdentityStore) {}

  async verify(username: string, secret: string): Promise<SubjectRef | null> {
    if (username.startsWith('robot$')) {
      const r = await this.store.getRobotByName(username);
      // Random secrets are stored as SHA-256 (256 random bits: nothing to brute-force); secrets a
      // caller chose (PATCH /robots/{id} with {secret}) are stored scrypt-hashed, like passwords.
      const stored = r?.secretHash ?? sha256hex('');
      const ok = stored.startsWith('scrypt$') ? await verifyPassword(secret, stored) : safeEqual(sha256hex(secret), stored);
      if (!r || !ok || r.disabled || (r.expiresAt !== -1 && r.expiresAt <= Date.now())) return null;
      return { k: 'r', id: r.id };
    }
    const user = await this.store.getUserByName(username);
    const pat = PAT_RE.exec(secret);
    if (pat) {
      const t = await this.store.getToken(Number(pat[1]));
      const ok = safeEqual(sha256hex(secret), t?.tokenHash ?? sha256hex(''));
      if (!user || !t || !ok || t.userId !== user.id || (t.expiresAt !== -1 && t.expiresAt <= Date.now())) return null;
      return { k: 'p', id: t.id };
    }
    const ok = await verifyPassword(secret, user?.passwordHash ?? null);
    return ok && user ? { k: 'u', id: user.id } : null;
  }
}
