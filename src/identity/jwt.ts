// The Docker token service's JWTs (distribution docs/spec/auth/jwt.md): ES256, signed with a
// P-256 key. The server keeps the key in the metadata database (table `secrets`, migration 0008,
// TokenSigner.loadShared) so that every replica and worker issues and accepts the same tokens;
// load(dir) (a PEM file under the data dir) is what single-node installs used before, and its key
// is imported into the database on first start so the tokens it issued stay valid.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../metadata/schema.ts';
import type { Logger } from '../logger.ts';

/** the `secrets` row holding the signing key (PKCS#8 PEM) */
export const SIGNING_KEY_SECRET = 'token-signing-key';

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

  /**
   * The signing key shared through the metadata database. The first process to start inserts it
   * (insert-if-absent: concurrent starters race on the primary key, exactly one row wins) and
   * every process then reads back the row that won. The candidate it inserts is the old
   * `<legacyDir>/token-signing.pem` when there is one (a single-node install moving to the shared
   * key keeps its tokens valid), else a new key. The PEM file is left in place, unused.
   */
  static async loadShared(db: Kysely<Database>, legacyDir?: string, logger?: Logger): Promise<TokenSigner> {
    const read = async () => (await db.selectFrom('secrets').select('value').where('name', '=', SIGNING_KEY_SECRET).executeTakeFirst())?.value;
    let pem = await read();
    let legacy: string | undefined;
    if (legacyDir) {
      const file = path.join(legacyDir, 'token-signing.pem');
      try {
        legacy = readFileSync(file, 'utf8');
        createPrivateKey(legacy);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read token signing key ${file}: ${(e as Error).message}`);
        legacy = undefined;
      }
    }
    if (pem === undefined) {
      const candidate = legacy ?? (generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
      const r = await db
        .insertInto('secrets')
        .values({ name: SIGNING_KEY_SECRET, value: candidate, created_at: Date.now() })
        .onConflict((oc) => oc.column('name').doNothing())
        .executeTakeFirst();
      pem = await read();
      if (pem === undefined) throw new Error('token signing key: inserted but not found');
      if (Number(r.numInsertedOrUpdatedRows ?? 0) > 0) logger?.info(legacy !== undefined ? 'token signing key imported into the database from the data dir' : 'token signing key created in the database');
    }
    const signer = new TokenSigner(createPrivateKey(pem));
    if (legacy !== undefined && new TokenSigner(createPrivateKey(legacy)).kid !== signer.kid) {
      logger?.warn('the data dir holds a different token signing key than the database; the database key is used (tokens signed with the old file are refused)', { kid: signer.kid });
    }
    return signer;
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
