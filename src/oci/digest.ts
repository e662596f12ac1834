// Digests: `algorithm:encoded` (image-spec descriptor.md "Digests"). Registered algorithms
// sha256 (64 lowercase hex) and sha512 (128 lowercase hex) are the ones we can verify.
import { createHash, type Hash } from 'node:crypto';
import { OciError } from '../errors/oci-errors.ts';

export type DigestAlgorithm = 'sha256' | 'sha512';
const HEX_LEN: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
  digest: string;
}

/** Parse and validate a digest we can verify; anything else is DIGEST_INVALID (400). */
export function parseDigest(s: string | null | undefined): ParsedDigest {
  if (!s || s.length > 256 || !GRAMMAR.test(s)) throw new OciError('DIGEST_INVALID', 'invalid digest format', { detail: { digest: s ?? null } });
  const i = s.indexOf(':');
  const alg = s.slice(0, i);
  const hex = s.slice(i + 1);
  if (alg !== 'sha256' && alg !== 'sha512') {
    throw new OciError('DIGEST_INVALID', `unsupported digest algorithm ${alg}`, { detail: { digest: s } });
  }
  if (hex.length !== HEX_LEN[alg] || !/^[a-f0-9]+$/.test(hex)) {
    throw new OciError('DIGEST_INVALID', 'invalid digest encoding', { detail: { digest: s } });
  }
  return { algorithm: alg, hex, digest: s };
}

export function isDigest(s: string): boolean {
  try {
    parseDigest(s);
    return true;
  } catch {
    return false;
  }
}

/** True if the string looks like a digest (has algorithm prefix), valid or not. */
export const looksLikeDigest = (s: string): boolean => s.includes(':');

export function newHash(alg: DigestAlgorithm): Hash {
  return createHash(alg);
}

export function digestOf(data: Uint8Array | string, alg: DigestAlgorithm = 'sha256'): string {
  return `${alg}:${createHash(alg).update(data).digest('hex')}`;
}
