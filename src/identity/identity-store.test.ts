import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describeIdentityStore } from './identity-store.suite.ts';
import { openMetadata } from '../metadata/open.ts';

describeIdentityStore('sqlite', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-ident-'));
  const store = await openMetadata(`sqlite:${path.join(dir, 'wharf.db')}`);
  return { store, cleanup: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
});
