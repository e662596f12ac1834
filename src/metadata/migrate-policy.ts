// What opening the metadata database does about schema migrations. Kept free of database imports
// so the CLI can set the policy (and recognise the error) before loading any database code.
//
// - autoMigrate on: pending migrations are applied on open (embedded SQLite default).
// - autoMigrate off: pending migrations refuse the open; `wharf migrate` applies them (the default
//   on PostgreSQL, so N replicas starting together don't race to migrate).
// - Either way, a schema newer than this build (an applied migration it does not know) refuses.

export class SchemaMismatchError extends Error {
  override readonly name = 'SchemaMismatchError';
  constructor(
    readonly kind: 'pending' | 'newer',
    message: string,
  ) {
    super(message);
  }
}

export function isSchemaMismatch(e: unknown): e is SchemaMismatchError {
  return e instanceof Error && e.name === 'SchemaMismatchError';
}

/** exit code of commands that refuse to run against a mismatched schema (also `wharf migrate --status` when pending) */
export const SCHEMA_PENDING_EXIT = 3;
/** exit code when the database schema is newer than this build */
export const SCHEMA_NEWER_EXIT = 4;

let autoMigrateDefault = true;

/** openMetadata's autoMigrate when the caller passes none: true unless the CLI set it from the configuration. */
export function setAutoMigrateDefault(v: boolean): void {
  autoMigrateDefault = v;
}

export function getAutoMigrateDefault(): boolean {
  return autoMigrateDefault;
}
