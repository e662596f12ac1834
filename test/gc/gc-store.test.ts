// The GC store suite on SQLite and on the machine's PostgreSQL (127.0.0.1:5432, db test, a private
// schema dropped afterwards; WHARF_TEST_PG_URL overrides the server).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openMetadata } from '../../src/metadata/open.ts';
import { describeGcStore } from './gc-store.suite.ts';

describeGcStore('sqlite', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-gc-meta-'));
  const store = await openMetadata(`sqlite:${path.join(dir, 'wharf.db')}`);
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

const base = process.env.WHARF_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

describeGcStore('postgres', async () => {
  const schema = `wharf_gc_${randomBytes(6).toString('hex')}`;
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
