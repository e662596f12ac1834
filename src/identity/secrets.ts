// Password hashing (scrypt) and random secrets. Passwords are slow-hashed; robot secrets, personal
// access tokens and session ids are 256-bit random values, so a SHA-256 digest of them is enough
// (nothing to brute-force) and keeps their verification cheap.
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const N_LOG2 = 15;
const R = 8;
const P = 1;
const KEYLEN = 32;

function scryptAsync(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

/** `scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>` */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, KEYLEN, { N: 2 ** N_LOG2, r: R, p: P, maxmem: 128 * 2 ** N_LOG2 * R * 2 });
  return `scrypt$${N_LOG2}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

// A hash to verify against when the user does not exist, so that the answer takes as long
// either way (no user enumeration by timing).
let dummy: Promise<string> | undefined;

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  if (stored === null) {
    dummy ??= hashPassword('not-a-password');
    await verifyPassword(password, await dummy);
    return false;
  }
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, salt, hash] = parts;
  const expected = Buffer.from(hash, 'base64');
  const key = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length, { N: 2 ** Number(n), r: Number(r), p: Number(p), maxmem: 128 * 2 ** Number(n) * Number(r) * 2 });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** Harbor's password policy: 8–128 characters, at least one upper-case, one lower-case letter and one digit. */
export function passwordPolicyError(pw: unknown): string | null {
  if (typeof pw !== 'string') return 'password is required';
  if (pw.length < 8 || pw.length > 128) return 'password must be 8 to 128 characters long';
  if (!/[A-Z]/.test(pw) || !/[a-z]/.test(pw) || !/[0-9]/.test(pw)) return 'password must contain at least one upper-case letter, one lower-case letter and one digit';
  return null;
}

export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function sha256hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** Constant-time equality of two strings (different lengths compare unequal). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
