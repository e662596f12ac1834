// Opens the configured blob store: `file:///path` (default `<dataDir>/storage`) or
// `s3://bucket[/prefix]` with the WHARF_S3_* connection settings.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BlobDriver } from './driver.ts';
import { FsBlobDriver } from './fs-driver.ts';

export interface StorageConfig {
  dataDir: string;
  /** '' (file storage under dataDir), file:///abs/path, or s3://bucket[/prefix] */
  storage: string;
  s3?: {
    endpoint?: string;
    region?: string;
    accessKeyId?: string;
    secretAccessKey?: string;
    forcePathStyle?: boolean;
  };
  // or the flat fields of Config (src/config/config.ts), used when `s3` is absent
  s3Endpoint?: string;
  s3Region?: string;
  s3AccessKeyId?: string;
  s3SecretAccessKey?: string;
  s3ForcePathStyle?: boolean;
}

export type ParsedStorage = { kind: 'file'; root: string } | { kind: 's3'; bucket: string; prefix: string };

/** Parse a storage URL; throws an Error with a readable message when it is not one. */
export function parseStorageUrl(storage: string, dataDir: string): ParsedStorage {
  const s = storage.trim();
  if (s === '') return { kind: 'file', root: path.join(dataDir, 'storage') };
  if (s.startsWith('file://')) {
    let root: string;
    try {
      root = fileURLToPath(s);
    } catch (e) {
      throw new Error(`expected file:///absolute/path, got ${storage} (${(e as Error).message})`);
    }
    return { kind: 'file', root };
  }
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(\/[^\s]*)?$/.exec(s);
  if (m) return { kind: 's3', bucket: m[1], prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
  throw new Error(`expected file:///path or s3://bucket[/prefix], got ${storage}`);
}

/**
 * The configured BlobDriver. Async because the S3 driver (and the AWS SDK, ~1 s to load) is
 * imported only when an s3:// storage is configured.
 */
export async function openBlobDriver(cfg: StorageConfig): Promise<BlobDriver> {
  const p = parseStorageUrl(cfg.storage, cfg.dataDir);
  if (p.kind === 'file') return new FsBlobDriver(p.root);
  const { S3BlobDriver } = await import('./s3-driver.ts');
  const s3 = cfg.s3 ?? {
    endpoint: cfg.s3Endpoint,
    region: cfg.s3Region,
    accessKeyId: cfg.s3AccessKeyId,
    secretAccessKey: cfg.s3SecretAccessKey,
    forcePathStyle: cfg.s3ForcePathStyle,
  };
  return new S3BlobDriver({
    bucket: p.bucket,
    prefix: p.prefix,
    endpoint: s3.endpoint || undefined,
    region: s3.region || 'us-east-1',
    accessKeyId: s3.accessKeyId || undefined,
    secretAccessKey: s3.secretAccessKey || undefined,
    forcePathStyle: s3.forcePathStyle,
  });
}
