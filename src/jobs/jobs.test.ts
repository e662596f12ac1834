// The job system on SQLite: the shared suite (one file database), real processes sharing the
// file, and the purge_uploads job.
import { spawn } from 'node:child_process';
import { readFile, mkdtemp, rm, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RegistryService } from '../distribution/registry-service.ts';
import { createLogger } from '../logger.ts';
import { openMetadata } from '../metadata/open.ts';
import { FsBlobDriver } from '../storage/fs-driver.ts';
import { FAST, describeJobs } from './jobs.suite.ts';
import { PURGE_UPLOADS, purgeUploadsHandler } from './purge-uploads.ts';
import { Jobs } from './service.ts';

describeJobs('sqlite', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-jobs-'));
  const store = await openMetadata(`sqlite:${path.join(dir, 'wharf.db')}`);
  return {
    open: async () => store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'jobs.fixture.ts');

function runProcess(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', fixture, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`job process exited with ${code}`))));
  });
}

describe('jobs: sqlite, several processes on one file', () => {
  it('three processes run 120 jobs, each exactly once', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-jobs-mp-'));
    const db = path.join(dir, 'wharf.db');
    const out = path.join(dir, 'runs.txt');
    try {
      const store = await openMetadata(`sqlite:${db}`);
      const jobs = new Jobs(store, FAST);
      jobs.register({ kind: 'proc', async run() {} });
      const ids: number[] = [];
      for (let i = 0; i < 120; i++) ids.push((await jobs.enqueue('proc', { i })).id);
      await store.close();
      await Promise.all([runProcess([db, out]), runProcess([db, out]), runProcess([db, out])]);
      const runs = (await readFile(out, 'utf8')).trim().split('\n').map((l) => l.split(' '));
      expect(runs).toHaveLength(120);
      expect(new Set(runs.map((r) => r[0])).size).toBe(120);
      expect(new Set(runs.map((r) => r[1])).size).toBeGreaterThan(1); // shared between processes
      const check = await openMetadata(`sqlite:${db}`);
      const rows = await check.db.selectFrom('jobs').select(['status', 'attempts']).where('kind', '=', 'proc').execute();
      expect(rows).toHaveLength(120);
      expect(rows.every((r) => r.status === 'success' && Number(r.attempts) === 1)).toBe(true);
      await check.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('jobs: purge_uploads', () => {
  it('purges abandoned upload sessions as a job and reports the count', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-jobs-purge-'));
    const store = await openMetadata(`sqlite:${path.join(dir, 'db')}`);
    const driver = new FsBlobDriver(path.join(dir, 'storage'));
    const svc = new RegistryService({ store, driver });
    const jobs = new Jobs(store, FAST);
    try {
      const forgotten: string[] = [];
      jobs.register(purgeUploadsHandler({ store, driver, maxAgeMs: 3600_000, logger: createLogger('silent'), onPurged: (id) => forgotten.push(id) }));
      jobs.start();
      const old = await svc.startUpload('p/r');
      const fresh = await svc.startUpload('p/r');
      await store.db.updateTable('uploads').set({ updated_at: Date.now() - 3 * 3600_000 }).execute();
      const past = new Date(Date.now() - 3 * 3600_000);
      await utimes(driver.localPath(`uploads/${old}`), past, past);
      const j = await jobs.wait((await jobs.enqueue(PURGE_UPLOADS, {})).id, 10_000);
      expect(j).toMatchObject({ status: 'success', result: { purged: 1 }, progress: { purged: 1 } });
      expect(forgotten).toEqual([old]);
      expect(await store.getUpload(old)).toBeNull();
      expect(await store.getUpload(fresh)).not.toBeNull();
      expect((await jobs.logs(j.id)).map((l) => l.message)).toContain('purged 1 upload session');
      // maxAgeHours overrides the configured age: the fresh one is 3 h old in the database but its data file is new
      const k = await jobs.wait((await jobs.enqueue(PURGE_UPLOADS, { maxAgeHours: 0 })).id, 10_000);
      expect(k.result).toEqual({ purged: 1 });
      await expect(jobs.enqueue(PURGE_UPLOADS, { maxAgeHours: -1 })).rejects.toThrow('maxAgeHours');
      await expect(jobs.enqueue(PURGE_UPLOADS, { bogus: 1 })).rejects.toThrow('unknown parameter bogus');
    } finally {
      await jobs.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
