// Runs the shared identity-store suite against the machine's PostgreSQL (127.0.0.1:5432, db test),
// in a private schema that is dropped afterwards. WHARF_TEST_PG_URL overrides the server.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describeIdentityStore } from './identity-store.suite.ts';
import { openMetadata } from '../metadata/open.ts';

const base = process.env.WHARF_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

describeIdentityStore('postgres', async () => {
  const schema = `wharf_t_${randomBytes(6).toString('hex')}`;
  const store = await openMetadata(`${base}?schema=${schema}`);
  return {
    store,
    cleanup: async () => {
      await store.close();
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
});
