// The GC store suite on SQLite and on the machine's PostgreSQL (127.0.0.1:5432, db test, a private
// schema dropped afterwards; WHARF_TEST_PG_URL overrides the server).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openMetadata } from '../../src/metadata/open.ts';
import { openPgTestStore } from '../../src/metadata/pg-test-store.ts';
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

describeGcStore('postgres', () => openPgTestStore('wharf_gc'));
