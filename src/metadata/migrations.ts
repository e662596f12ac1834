// Schema migrations, in code, shared by SQLite and PostgreSQL. Append new ones; never edit old ones.
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

function migrations(dialect: Dialect): Record<string, Migration> {
  const bytes = dialect === 'postgres' ? sql`bytea` : sql`blob`;
  return {
    '0001_registry_core': {
      async up(db: Kysely<any>) {
        let repos = db.schema.createTable('repositories');
        repos =
          dialect === 'postgres'
            ? repos.addColumn('id', 'bigserial', (c) => c.primaryKey())
            : repos.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
        await repos
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('blobs')
          .addColumn('digest', 'text', (c) => c.primaryKey())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('repository_blobs')
          .addColumn('repository_id', 'bigint', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
          .addColumn('digest', 'text', (c) => c.notNull().references('blobs.digest'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('repository_blobs_pk', ['repository_id', 'digest'])
          .execute();
        await db.schema.createIndex('repository_blobs_digest').on('repository_blobs').column('digest').execute();

        await db.schema
          .createTable('manifests')
          .addColumn('repository_id', 'bigint', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
          .addColumn('digest', 'text', (c) => c.notNull())
          .addColumn('media_type', 'text', (c) => c.notNull())
          .addColumn('artifact_type', 'text')
          .addColumn('subject_digest', 'text')
          .addColumn('annotations', 'text')
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('content', bytes, (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('manifests_pk', ['repository_id', 'digest'])
          .execute();
        await db.schema.createIndex('manifests_subject').on('manifests').columns(['repository_id', 'subject_digest']).execute();

        await db.schema
          .createTable('manifest_references')
          .addColumn('repository_id', 'bigint', (c) => c.notNull())
          .addColumn('manifest_digest', 'text', (c) => c.notNull())
          .addColumn('ref_digest', 'text', (c) => c.notNull())
          .addColumn('ref_kind', 'text', (c) => c.notNull())
          .addColumn('ref_size', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('manifest_references_pk', ['repository_id', 'manifest_digest', 'ref_digest', 'ref_kind'])
          .addForeignKeyConstraint('manifest_references_manifest_fk', ['repository_id', 'manifest_digest'], 'manifests', ['repository_id', 'digest'], (c) => c.onDelete('cascade'))
          .execute();
        await db.schema.createIndex('manifest_references_ref').on('manifest_references').columns(['ref_digest']).execute();

        await db.schema
          .createTable('tags')
          .addColumn('repository_id', 'bigint', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('manifest_digest', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('tags_pk', ['repository_id', 'name'])
          .addForeignKeyConstraint('tags_manifest_fk', ['repository_id', 'manifest_digest'], 'manifests', ['repository_id', 'digest'], (c) => c.onDelete('cascade'))
          .execute();
        await db.schema.createIndex('tags_manifest').on('tags').columns(['repository_id', 'manifest_digest']).execute();

        await db.schema
          .createTable('uploads')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('repository_id', 'bigint', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
      },
      async down(db: Kysely<any>) {
        for (const t of ['uploads', 'tags', 'manifest_references', 'manifests', 'repository_blobs', 'blobs', 'repositories']) {
          await db.schema.dropTable(t).ifExists().execute();
        }
      },
    },
    '0002_identity': {
      async up(db: Kysely<any>) {
        const id = (t: any) => (dialect === 'postgres' ? t.addColumn('id', 'bigserial', (c: any) => c.primaryKey()) : t.addColumn('id', 'integer', (c: any) => c.primaryKey().autoIncrement()));
        await id(db.schema.createTable('users'))
          .addColumn('username', 'text', (c: any) => c.notNull().unique())
          .addColumn('email', 'text')
          .addColumn('realname', 'text')
          .addColumn('comment', 'text')
          .addColumn('password_hash', 'text', (c: any) => c.notNull())
          .addColumn('sysadmin', 'integer', (c: any) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c: any) => c.notNull())
          .addColumn('updated_at', 'bigint', (c: any) => c.notNull())
          .execute();
        await id(db.schema.createTable('projects'))
          .addColumn('name', 'text', (c: any) => c.notNull().unique())
          .addColumn('owner_id', 'bigint')
          .addColumn('public', 'integer', (c: any) => c.notNull().defaultTo(0))
          .addColumn('metadata', 'text', (c: any) => c.notNull())
          .addColumn('created_at', 'bigint', (c: any) => c.notNull())
          .addColumn('updated_at', 'bigint', (c: any) => c.notNull())
          .execute();
        await id(db.schema.createTable('project_members'))
          .addColumn('project_id', 'bigint', (c: any) => c.notNull().references('projects.id').onDelete('cascade'))
          .addColumn('user_id', 'bigint', (c: any) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('role_id', 'integer', (c: any) => c.notNull())
          .addColumn('created_at', 'bigint', (c: any) => c.notNull())
          .addColumn('updated_at', 'bigint', (c: any) => c.notNull())
          .addUniqueConstraint('project_members_unique', ['project_id', 'user_id'])
          .execute();
        await db.schema.createIndex('project_members_user').on('project_members').column('user_id').execute();
        await id(db.schema.createTable('robots'))
          .addColumn('name', 'text', (c: any) => c.notNull().unique())
          .addColumn('description', 'text')
          .addColumn('level', 'text', (c: any) => c.notNull())
          .addColumn('project_id', 'bigint', (c: any) => c.references('projects.id').onDelete('cascade'))
          .addColumn('secret_hash', 'text', (c: any) => c.notNull())
          .addColumn('permissions', 'text', (c: any) => c.notNull())
          .addColumn('disabled', 'integer', (c: any) => c.notNull().defaultTo(0))
          .addColumn('duration', 'integer', (c: any) => c.notNull())
          .addColumn('expires_at', 'bigint', (c: any) => c.notNull())
          .addColumn('creator', 'text')
          .addColumn('created_at', 'bigint', (c: any) => c.notNull())
          .addColumn('updated_at', 'bigint', (c: any) => c.notNull())
          .execute();
        await id(db.schema.createTable('access_tokens'))
          .addColumn('user_id', 'bigint', (c: any) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('name', 'text', (c: any) => c.notNull())
          .addColumn('token_hash', 'text', (c: any) => c.notNull())
          .addColumn('scopes', 'text', (c: any) => c.notNull())
          .addColumn('expires_at', 'bigint', (c: any) => c.notNull())
          .addColumn('created_at', 'bigint', (c: any) => c.notNull())
          .addUniqueConstraint('access_tokens_name', ['user_id', 'name'])
          .execute();
        await db.schema
          .createTable('sessions')
          .addColumn('id_hash', 'text', (c: any) => c.primaryKey())
          .addColumn('user_id', 'bigint', (c: any) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('csrf', 'text', (c: any) => c.notNull())
          .addColumn('expires_at', 'bigint', (c: any) => c.notNull())
          .addColumn('created_at', 'bigint', (c: any) => c.notNull())
          .execute();
        await id(db.schema.createTable('audit_logs'))
          .addColumn('username', 'text', (c: any) => c.notNull())
          .addColumn('operation', 'text', (c: any) => c.notNull())
          .addColumn('resource_type', 'text', (c: any) => c.notNull())
          .addColumn('resource', 'text', (c: any) => c.notNull())
          .addColumn('project_id', 'bigint')
          .addColumn('client_ip', 'text')
          .addColumn('success', 'integer', (c: any) => c.notNull())
          .addColumn('op_time', 'bigint', (c: any) => c.notNull())
          .execute();
        await db.schema.createIndex('audit_logs_time').on('audit_logs').column('op_time').execute();
        await db.schema.createIndex('audit_logs_project').on('audit_logs').columns(['project_id', 'op_time']).execute();
      },
      async down(db: Kysely<any>) {
        for (const t of ['audit_logs', 'sessions', 'access_tokens', 'robots', 'project_members', 'projects', 'users']) await db.schema.dropTable(t).ifExists().execute();
      },
    },
    '0003_repository_description': {
      async up(db: Kysely<any>) {
        await db.schema.alterTable('repositories').addColumn('description', 'text').execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.alterTable('repositories').dropColumn('description').execute();
      },
    },
    '0004_lifecycle': {
      async up(db: Kysely<any>) {
        const id = (t: any) => (dialect === 'postgres' ? t.addColumn('id', 'bigserial', (c: any) => c.primaryKey()) : t.addColumn('id', 'integer', (c: any) => c.primaryKey().autoIncrement()));
        // Durable jobs: one row per execution.
        await id(db.schema.createTable('jobs'))
          .addColumn('kind', 'text', (c: any) => c.notNull())
          /** pending | running | success | error | stopped */
          .addColumn('status', 'text', (c: any) => c.notNull())
          /** manual | schedule | system */
          .addColumn('trigger', 'text', (c: any) => c.notNull())
          .addColumn('scope', 'text', (c: any) => c.notNull())
          .addColumn('params', 'text', (c: any) => c.notNull())
          .addColumn('progress', 'text')
          .addColumn('result', 'text')
          .addColumn('error', 'text')
          .addColumn('attempts', 'integer', (c: any) => c.notNull().defaultTo(0))
          .addColumn('max_attempts', 'integer', (c: any) => c.notNull().defaultTo(3))
          .addColumn('run_after', 'bigint', (c: any) => c.notNull())
          .addColumn('lease_owner', 'text')
          .addColumn('lease_until', 'bigint')
          .addColumn('stop_requested', 'integer', (c: any) => c.notNull().defaultTo(0))
          .addColumn('schedule_id', 'bigint')
          .addColumn('created_at', 'bigint', (c: any) => c.notNull())
          .addColumn('started_at', 'bigint')
          .addColumn('updated_at', 'bigint', (c: any) => c.notNull())
          .addColumn('finished_at', 'bigint')
          .execute();
        await db.schema.createIndex('jobs_status_run_after').on('jobs').columns(['status', 'run_after']).execute();
        await db.schema.createIndex('jobs_kind_scope').on('jobs').columns(['kind', 'scope', 'created_at']).execute();
        await id(db.schema.createTable('job_logs'))
          .addColumn('job_id', 'bigint', (c: any) => c.notNull().references('jobs.id').onDelete('cascade'))
          .addColumn('at', 'bigint', (c: any) => c.notNull())
          .addColumn('level', 'text', (c: any) => c.notNull())
          .addColumn('message', 'text', (c: any) => c.notNull())
          .execute();
        await db.schema.createIndex('job_logs_job').on('job_logs').columns(['job_id', 'id']).execute();
        await id(db.schema.createTable('job_schedules'))
          .addColumn('kind', 'text', (c: any) => c.notNull())
          .addColumn('scope', 'text', (c: any) => c.notNull())
          /** 5-field cron (minute hour day-of-month month day-of-week), or Harbor's 6-field with seconds */
          .addColumn('cron', 'text', (c: any) => c.notNull())
          .addColumn('params', 'text', (c: any) => c.notNull())
          .addColumn('next_run', 'bigint')
          .addColumn('enabled', 'integer', (c: any) => c.notNull().defaultTo(1))
          .addColumn('created_at', 'bigint', (c: any) => c.notNull())
          .addColumn('updated_at', 'bigint', (c: any) => c.notNull())
          .addUniqueConstraint('job_schedules_kind_scope', ['kind', 'scope'])
          .execute();
        // GC state of a blob: when a GC run marked it as a deletion candidate (null = live).
        await db.schema.alterTable('blobs').addColumn('gc_marked_at', 'bigint').execute();
        // Last pull of a manifest (retention "pulled within N days"), written in batches.
        await db.schema.alterTable('manifests').addColumn('pulled_at', 'bigint').execute();
        await db.schema
          .createTable('project_quotas')
          .addColumn('project_id', 'bigint', (c: any) => c.primaryKey().references('projects.id').onDelete('cascade'))
          /** bytes, -1 = unlimited */
          .addColumn('hard_bytes', 'bigint', (c: any) => c.notNull())
          .addColumn('created_at', 'bigint', (c: any) => c.notNull())
          .addColumn('updated_at', 'bigint', (c: any) => c.notNull())
          .execute();
        await id(db.schema.createTable('immutable_rules'))
          .addColumn('project_id', 'bigint', (c: any) => c.notNull().references('projects.id').onDelete('cascade'))
          .addColumn('disabled', 'integer', (c: any) => c.notNull().defaultTo(0))
          .addColumn('priority', 'integer', (c: any) => c.notNull().defaultTo(0))
          /** JSON: Harbor's ImmutableRule (scope_selectors, tag_selectors, …) */
          .addColumn('rule', 'text', (c: any) => c.notNull())
          .addColumn('created_at', 'bigint', (c: any) => c.notNull())
          .addColumn('updated_at', 'bigint', (c: any) => c.notNull())
          .execute();
        await id(db.schema.createTable('retention_policies'))
          .addColumn('project_id', 'bigint', (c: any) => c.notNull().unique().references('projects.id').onDelete('cascade'))
          /** JSON: Harbor's RetentionPolicy (algorithm, rules, trigger, scope) */
          .addColumn('policy', 'text', (c: any) => c.notNull())
          .addColumn('created_at', 'bigint', (c: any) => c.notNull())
          .addColumn('updated_at', 'bigint', (c: any) => c.notNull())
          .execute();
      },
      async down(db: Kysely<any>) {
        for (const t of ['retention_policies', 'immutable_rules', 'project_quotas', 'job_schedules', 'job_logs', 'jobs']) await db.schema.dropTable(t).ifExists().execute();
        await db.schema.alterTable('manifests').dropColumn('pulled_at').execute();
        await db.schema.alterTable('blobs').dropColumn('gc_marked_at').execute();
      },
    },
    '0005_reference_lookup': {
      // GC re-checks "does any manifest of this repository reference digest X" per link.
      async up(db: Kysely<any>) {
        await db.schema.createIndex('manifest_references_ref_repo').on('manifest_references').columns(['ref_digest', 'repository_id']).execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.dropIndex('manifest_references_ref_repo').execute();
      },
    },
    '0006_vulndb': {
      // The scanner's vulnerability database (src/scanner/vulndb/): imported sources and their
      // advisories, one row per (source, namespace, package, advisory).
      async up(db: Kysely<any>) {
        const id = (t: any) => (dialect === 'postgres' ? t.addColumn('id', 'bigserial', (c: any) => c.primaryKey()) : t.addColumn('id', 'integer', (c: any) => c.primaryKey().autoIncrement()));
        await id(db.schema.createTable('vulndb_sources'))
          .addColumn('name', 'text', (c: any) => c.notNull().unique())
          /** osv | debian-tracker | alpine-secdb | nodejs-security-wg | mixed */
          .addColumn('format', 'text')
          /** the file, directory or http(s) URL imported last */
          .addColumn('location', 'text')
          .addColumn('url', 'text')
          .addColumn('record_count', 'integer', (c: any) => c.notNull().defaultTo(0))
          .addColumn('row_count', 'integer', (c: any) => c.notNull().defaultTo(0))
          .addColumn('skipped_count', 'integer', (c: any) => c.notNull().defaultTo(0))
          .addColumn('etag', 'text')
          .addColumn('last_modified', 'text')
          .addColumn('last_error', 'text')
          /** last successful import (content replaced) */
          .addColumn('imported_at', 'bigint')
          /** last update attempt (import, 304 or error) */
          .addColumn('checked_at', 'bigint')
          .addColumn('created_at', 'bigint', (c: any) => c.notNull())
          .execute();
        await id(db.schema.createTable('vulndb_advisories'))
          .addColumn('source_id', 'bigint', (c: any) => c.notNull().references('vulndb_sources.id').onDelete('cascade'))
          /** "npm", "PyPI", "Go", "Maven", "crates.io", "debian:bookworm", "alpine:v3.18", … */
          .addColumn('namespace', 'text', (c: any) => c.notNull())
          .addColumn('package', 'text', (c: any) => c.notNull())
          .addColumn('advisory_id', 'text', (c: any) => c.notNull())
          /** JSON array of strings */
          .addColumn('aliases', 'text', (c: any) => c.notNull())
          /** JSON: the Affected union of src/scanner/vulndb/types.ts */
          .addColumn('affected', 'text', (c: any) => c.notNull())
          .addColumn('severity', 'text', (c: any) => c.notNull())
          .addColumn('cvss_score', 'double precision')
          .addColumn('cvss_vector', 'text')
          .addColumn('summary', 'text')
          .addColumn('url', 'text')
          .addColumn('published', 'text')
          .addColumn('modified', 'text')
          .execute();
        await db.schema.createIndex('vulndb_advisories_ns_pkg').on('vulndb_advisories').columns(['namespace', 'package']).execute();
        await db.schema.createIndex('vulndb_advisories_source').on('vulndb_advisories').column('source_id').execute();
      },
      async down(db: Kysely<any>) {
        for (const t of ['vulndb_advisories', 'vulndb_sources']) await db.schema.dropTable(t).ifExists().execute();
      },
    },
    '0007_scan_reports': {
      // Scan results inside the server (src/scanner/service.ts): one row per scanned manifest digest.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('scan_reports')
          .addColumn('digest', 'text', (c: any) => c.primaryKey())
          .addColumn('report_id', 'text', (c: any) => c.notNull())
          /** the repository the last scan was requested in */
          .addColumn('repository', 'text', (c: any) => c.notNull())
          /** Pending | Running | Success | Error | Stopped (Harbor's scan_status words) */
          .addColumn('status', 'text', (c: any) => c.notNull())
          .addColumn('job_id', 'bigint')
          /** JSON ScanReport (src/scanner/report/report.ts) */
          .addColumn('report', 'text')
          .addColumn('severity', 'text')
          .addColumn('total', 'integer', (c: any) => c.notNull().defaultTo(0))
          .addColumn('fixable', 'integer', (c: any) => c.notNull().defaultTo(0))
          /** JSON {severity: count} */
          .addColumn('summary', 'text')
          .addColumn('error', 'text')
          .addColumn('created_at', 'bigint', (c: any) => c.notNull())
          .addColumn('started_at', 'bigint')
          .addColumn('ended_at', 'bigint')
          .execute();
        // the notifier (src/scanner/notifier.ts): vulnerabilities that appeared after a database update
        const id = (t: any) => (dialect === 'postgres' ? t.addColumn('id', 'bigserial', (c: any) => c.primaryKey()) : t.addColumn('id', 'integer', (c: any) => c.primaryKey().autoIncrement()));
        await id(db.schema.createTable('scan_notifications'))
          .addColumn('repository', 'text', (c: any) => c.notNull())
          .addColumn('digest', 'text', (c: any) => c.notNull())
          .addColumn('vulnerability_id', 'text', (c: any) => c.notNull())
          .addColumn('package', 'text', (c: any) => c.notNull())
          .addColumn('installed_version', 'text', (c: any) => c.notNull())
          .addColumn('fixed_version', 'text')
          .addColumn('severity', 'text', (c: any) => c.notNull())
          .addColumn('source', 'text', (c: any) => c.notNull())
          .addColumn('created_at', 'bigint', (c: any) => c.notNull())
          .execute();
        await db.schema.createIndex('scan_notifications_repository').on('scan_notifications').columns(['repository', 'id']).execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.dropTable('scan_notifications').ifExists().execute();
        await db.schema.dropTable('scan_reports').ifExists().execute();
      },
    },
    '0008_secrets': {
      // Secrets every replica must share, e.g. the token signing key (src/identity/jwt.ts): one
      // row per name, created once (insert-if-absent) by whichever replica starts first.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('secrets')
          .addColumn('name', 'text', (c: any) => c.primaryKey())
          .addColumn('value', 'text', (c: any) => c.notNull())
          .addColumn('created_at', 'bigint', (c: any) => c.notNull())
          .execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.dropTable('secrets').ifExists().execute();
      },
    },
    '0009_quota_reservations': {
      // Quota admissions (src/quota/guard.ts) held until their rows are visible: in the database,
      // so that every process and replica counts the others' (an in-memory map did not).
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('quota_reservations')
          .addColumn('project_id', 'bigint', (c: any) => c.notNull().references('projects.id').onDelete('cascade'))
          .addColumn('key', 'text', (c: any) => c.notNull())
          .addColumn('size', 'bigint', (c: any) => c.notNull())
          .addColumn('until', 'bigint', (c: any) => c.notNull())
          .addPrimaryKeyConstraint('quota_reservations_pk', ['project_id', 'key'])
          .execute();
        await db.schema.createIndex('quota_reservations_until').on('quota_reservations').column('until').execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.dropTable('quota_reservations').ifExists().execute();
      },
    },
  };
}

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) };
}

export const LATEST_MIGRATION = '0009_quota_reservations';
