import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describeBlobDriver } from './driver.suite.ts';
import { FsBlobDriver } from './fs-driver.ts';

describeBlobDriver('fs', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-fsdriver-'));
  return { driver: new FsBlobDriver(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});
