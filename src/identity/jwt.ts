// The Docker token service's JWTs (distribution docs/spec/auth/jwt.md): ES256, signed with a
// P-256 key persisted under the data dir so tokens survive restarts and are shared by the
// worker processes of one node.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: AccessEntry[];
  /** who the token speaks for, so that revoking them revokes the token: u=user, r=robot, p=personal access token (id of the token), a=anonymous */
  wharf: { k: 'u' | 'r' | 'p' | 'a'; id: number };
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export class TokenSigner {
  readonly kid: string;
  private readonly pub: KeyObject;

  private constructor(private readonly key: KeyObject) {
    this.pub = createPublicKey(key);
    const der = this.pub.export({ type: 'spki', format: 'der' });
    this.kid = createHash('sha256').update(der).digest('base64url').slice(0, 32);
  }

  /** Load the signing key from `<dir>/token-signing.pem`, creating it (exclusively, so concurrent workers agree) when missing. */
  static load(dir: string): TokenSigner {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, 'token-signing.pem');
    try {
      return new TokenSigner(createPrivateKey(readFileSync(file)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read token signing key ${file}: ${(e as Error).message}`);
    }
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    try {
      writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { flag: 'wx', mode: 0o600 });
      return new TokenSigner(privateKey);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      return new TokenSigner(createPrivateKey(readFileSync(file)));
    }
  }

  static ephemeral(): TokenSigner {
    return new TokenSigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  }

  sign(claims: Omit<TokenClaims, 'jti' | 'iat' | 'nbf'> & { iat?: number }): string {
    const iat = claims.iat ?? Math.floor(Date.now() / 1000);
    const full: TokenClaims = { ...claims, iat, nbf: iat - 1, jti: randomUUID() };
    const head = b64(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: this.kid }));
    const body = b64(JSON.stringify(full));
    const sig = sign('sha256', Buffer.from(`${head}.${body}`), { key: this.key, dsaEncoding: 'ieee-p1363' });
    return `${head}.${body}.${b64(sig)}`;
  }

  /** The claims of a token this signer issued, or null when the signature, audience or times do not hold. */
  verify(token: string, audience: string, nowSec = Math.floor(Date.now() / 1000)): TokenClaims | null {
    const parts = token.split('.');
    if (parts.length !== 3) return null;
    let header: { alg?: string; kid?: string };
    let claims: TokenClaims;
    try {
      header = JSON.parse(Buffer.from(parts[0], 'base64url').toString());
      if (header.alg !== 'ES256' || header.kid !== this.kid) return null;
      const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: this.pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'));
      if (!ok) return null;
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
    } catch {
      return null;
    }
    if (claims.aud !== audience) return null;
    if (typeof claims.exp !== 'number' || claims.exp <= nowSec) return null;
    if (typeof claims.nbf === 'number' && claims.nbf > nowSec + 60) return null;
    if (!Array.isArray(claims.access) || !claims.wharf) return null;
    return claims;
  }
}
