// The only place storage keys are made (see the drawing in driver.ts).
import type { ParsedDigest } from '../oci/digest.ts';

export type StoragePath =
  | { kind: 'blob'; digest: ParsedDigest }
  | { kind: 'upload'; id: string }
  | { kind: 'tmp'; id: string };

export function pathFor(p: StoragePath): string {
  switch (p.kind) {
    case 'blob':
      return `blobs/${p.digest.algorithm}/${p.digest.hex.slice(0, 2)}/${p.digest.hex}`;
    case 'upload':
      return `uploads/${p.id}`;
    case 'tmp':
      return `tmp/${p.id}`;
  }
}
