// Kysely table types for the metadata database. Times are epoch milliseconds (bigint columns),
// sizes are bytes. The same schema runs on SQLite and PostgreSQL.
import type { Generated } from 'kysely';

export interface RepositoriesTable {
  id: Generated<number>;
  name: string;
  /** Harbor's repository description (API only) */
  description: string | null;
  created_at: number;
}

/** Committed, verified blobs in the global content-addressed store. */
export interface BlobsTable {
  digest: string;
  size: number;
  created_at: number;
  /** when a GC run marked the blob as a deletion candidate; null = live (a new reference clears it) */
  gc_marked_at: Generated<number | null>;
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
  /** last pull (batched; null = never pulled) */
  pulled_at: Generated<number | null>;
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

export interface UsersTable {
  id: Generated<number>;
  username: string;
  email: string | null;
  realname: string | null;
  comment: string | null;
  password_hash: string;
  sysadmin: number;
  created_at: number;
  updated_at: number;
}

export interface ProjectsTable {
  id: Generated<number>;
  name: string;
  owner_id: number | null;
  public: number;
  /** JSON object of Harbor's project metadata (string values) */
  metadata: string;
  created_at: number;
  updated_at: number;
}

export interface ProjectMembersTable {
  id: Generated<number>;
  project_id: number;
  user_id: number;
  role_id: number;
  created_at: number;
  updated_at: number;
}

export interface RobotsTable {
  id: Generated<number>;
  name: string;
  description: string | null;
  /** 'project' | 'system' */
  level: string;
  project_id: number | null;
  /** sha256 of the secret (secrets are 256-bit random, so a fast hash is enough) */
  secret_hash: string;
  /** JSON: Harbor's robot permissions [{kind, namespace, access:[{resource, action}]}] */
  permissions: string;
  disabled: number;
  duration: number;
  /** epoch ms, -1 = never */
  expires_at: number;
  creator: string | null;
  created_at: number;
  updated_at: number;
}

export interface AccessTokensTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  token_hash: string;
  /** JSON array of scopes */
  scopes: string;
  /** epoch ms, -1 = never */
  expires_at: number;
  created_at: number;
}

export interface SessionsTable {
  id_hash: string;
  user_id: number;
  csrf: string;
  expires_at: number;
  created_at: number;
}

export interface AuditLogsTable {
  id: Generated<number>;
  username: string;
  operation: string;
  resource_type: string;
  resource: string;
  project_id: number | null;
  client_ip: string | null;
  success: number;
  op_time: number;
}

export interface JobsTable {
  id: Generated<number>;
  kind: string;
  status: string;
  trigger: string;
  /** e.g. 'system' or 'project:<id>' */
  scope: string;
  params: string;
  progress: string | null;
  result: string | null;
  error: string | null;
  attempts: number;
  max_attempts: number;
  run_after: number;
  lease_owner: string | null;
  lease_until: number | null;
  stop_requested: number;
  schedule_id: number | null;
  created_at: number;
  started_at: number | null;
  updated_at: number;
  finished_at: number | null;
}

export interface JobLogsTable {
  id: Generated<number>;
  job_id: number;
  at: number;
  level: string;
  message: string;
}

export interface JobSchedulesTable {
  id: Generated<number>;
  kind: string;
  scope: string;
  cron: string;
  params: string;
  next_run: number | null;
  enabled: number;
  created_at: number;
  updated_at: number;
}

/** Quota admissions not yet visible as rows, shared by every process and replica (src/quota/guard.ts). */
export interface QuotaReservationsTable {
  project_id: number;
  /** `blob:<digest>` or `manifest:<digest>` */
  key: string;
  size: number;
  /** ms since epoch after which the reservation no longer counts (a commit that never came) */
  until: number;
}

export interface ProjectQuotasTable {
  project_id: number;
  hard_bytes: number;
  created_at: number;
  updated_at: number;
}

export interface ImmutableRulesTable {
  id: Generated<number>;
  project_id: number;
  disabled: number;
  priority: number;
  rule: string;
  created_at: number;
  updated_at: number;
}

export interface RetentionPoliciesTable {
  id: Generated<number>;
  project_id: number;
  policy: string;
  created_at: number;
  updated_at: number;
}

/** Vulnerability database sources (src/scanner/vulndb/). */
export interface VulnDbSourcesTable {
  id: Generated<number>;
  name: string;
  format: string | null;
  location: string | null;
  url: string | null;
  record_count: Generated<number>;
  row_count: Generated<number>;
  skipped_count: Generated<number>;
  etag: string | null;
  last_modified: string | null;
  last_error: string | null;
  imported_at: number | null;
  checked_at: number | null;
  created_at: number;
}

/** One advisory for one package of one namespace, from one source. */
export interface VulnDbAdvisoriesTable {
  id: Generated<number>;
  source_id: number;
  namespace: string;
  package: string;
  advisory_id: string;
  aliases: string;
  affected: string;
  severity: string;
  cvss_score: number | null;
  cvss_vector: string | null;
  summary: string | null;
  url: string | null;
  published: string | null;
  modified: string | null;
}

export interface ScanReportsTable {
  digest: string;
  report_id: string;
  repository: string;
  status: string;
  job_id: number | null;
  report: string | null;
  severity: string | null;
  total: number;
  fixable: number;
  summary: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
}

export interface ScanNotificationsTable {
  id: Generated<number>;
  repository: string;
  digest: string;
  vulnerability_id: string;
  package: string;
  installed_version: string;
  fixed_version: string | null;
  severity: string;
  source: string;
  created_at: number;
}

/** 0008: secrets shared by all replicas (name → value), e.g. 'token-signing-key' (PKCS#8 PEM) */
export interface SecretsTable {
  name: string;
  value: string;
  created_at: number;
}

export interface Database {
  secrets: SecretsTable;
  scan_reports: ScanReportsTable;
  scan_notifications: ScanNotificationsTable;
  vulndb_sources: VulnDbSourcesTable;
  vulndb_advisories: VulnDbAdvisoriesTable;
  jobs: JobsTable;
  job_logs: JobLogsTable;
  job_schedules: JobSchedulesTable;
  project_quotas: ProjectQuotasTable;
  quota_reservations: QuotaReservationsTable;
  immutable_rules: ImmutableRulesTable;
  retention_policies: RetentionPoliciesTable;
  users: UsersTable;
  projects: ProjectsTable;
  project_members: ProjectMembersTable;
  robots: RobotsTable;
  access_tokens: AccessTokensTable;
  sessions: SessionsTable;
  audit_logs: AuditLogsTable;
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  uploads: UploadsTable;
}
