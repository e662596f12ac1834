// For tests: a MetadataStore on the machine's PostgreSQL (127.0.0.1:5432, db test; WHARF_TEST_PG_URL
// overrides) in a private schema that cleanup() drops.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openMetadata } from './open.ts';
import type { MetadataStore } from './store.ts';

export const PG_TEST_URL = process.env.WHARF_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function openPgTestStore(prefix = 'wharf_t'): Promise<{ store: MetadataStore; cleanup: () => Promise<void> }> {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  const store = await openMetadata(`${PG_TEST_URL}?schema=${schema}`);
  return {
    store,
    cleanup: async () => {
      await store.close();
      const c = new pg.Client({ connectionString: PG_TEST_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}

/** Whether a PostgreSQL server answers at `url` (tests that need one skip otherwise). */
export async function pgReachable(url = PG_TEST_URL): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}
