// The job system on the machine's PostgreSQL (127.0.0.1:5432, db test), in a private schema that
// is dropped afterwards; every Jobs instance gets its own connection pool, like separate
// processes. WHARF_TEST_PG_URL overrides the server.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openMetadata } from '../metadata/open.ts';
import type { MetadataStore } from '../metadata/store.ts';
import { describeJobs } from './jobs.suite.ts';

const base = process.env.WHARF_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

describeJobs('postgres', async () => {
  const schema = `wharf_t_${randomBytes(6).toString('hex')}`;
  const stores: MetadataStore[] = [];
  return {
    open: async () => {
      const s = await openMetadata(`${base}?schema=${schema}`, { poolSize: 4 });
      stores.push(s);
      return s;
    },
    cleanup: async () => {
      await Promise.allSettled(stores.map((s) => s.close()));
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
});
