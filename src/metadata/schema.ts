// Kysely table types for the metadata database. Times are epoch milliseconds (bigint columns),
// sizes are bytes. The same schema runs on SQLite and PostgreSQL.
import type { Generated } from 'kysely';

export interface RepositoriesTable {
  id: Generated<number>;
  name: string;
  created_at: number;
}

/** Committed, verified blobs in the global content-addressed store. */
export interface BlobsTable {
  digest: string;
  size: number;
  created_at: number;
}

/** A repository sees a blob only through its link (distribution's linkedblobstore). */
export interface RepositoryBlobsTable {
  repository_id: number;
  digest: string;
  created_at: number;
}

export interface ManifestsTable {
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject_digest: string | null;
  annotations: string | null;
  size: number;
  content: Buffer;
  created_at: number;
}

/** Every blob or manifest a manifest names: what GC, quotas and scanning follow. */
export interface ManifestReferencesTable {
  repository_id: number;
  manifest_digest: string;
  ref_digest: string;
  /** 'config' | 'layer' | 'manifest' | 'subject' */
  ref_kind: string;
  ref_size: number;
}

export interface TagsTable {
  repository_id: number;
  name: string;
  manifest_digest: string;
  created_at: number;
  updated_at: number;
}

export interface UploadsTable {
  id: string;
  repository_id: number;
  created_at: number;
  updated_at: number;
}

export interface Database {
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  uploads: UploadsTable;
}
