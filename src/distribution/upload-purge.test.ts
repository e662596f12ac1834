import { utimes } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger.ts';
import { openMetadata } from '../metadata/open.ts';
import { FsBlobDriver } from '../storage/fs-driver.ts';
import { RegistryService } from './registry-service.ts';
import { purgeUploads } from './upload-purge.ts';

describe('upload purge', () => {
  it('removes sessions idle longer than the limit (row, data, in-memory state) and keeps active ones', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-purge-'));
    const store = await openMetadata(`sqlite:${path.join(dir, 'db')}`);
    const driver = new FsBlobDriver(path.join(dir, 'storage'));
    const svc = new RegistryService({ store, driver });
    try {
      const old = await svc.startUpload('p/r');
      const fresh = await svc.startUpload('p/r');
      // Age the old session: its row and its data file's mtime.
      await store.db.updateTable('uploads').set({ updated_at: Date.now() - 3 * 3600_000 }).where('id', '=', old).execute();
      await store.db.updateTable('uploads').set({ updated_at: Date.now() - 3 * 3600_000 }).where('id', '=', fresh).execute();
      const past = new Date(Date.now() - 3 * 3600_000);
      await utimes(driver.localPath(`uploads/${old}`), past, past);
      const forgotten: string[] = [];
      const n = await purgeUploads(store, driver, 3600_000, createLogger('silent'), (id) => forgotten.push(id));
      expect(n).toBe(1);
      expect(forgotten).toEqual([old]);
      expect(await store.getUpload(old)).toBeNull();
      expect(await driver.stat(`uploads/${old}`)).toBeNull();
      // The fresh session's data file was written recently: it stays.
      expect(await store.getUpload(fresh)).not.toBeNull();
      expect(await svc.uploadOffset('p/r', fresh)).toBe(0);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
