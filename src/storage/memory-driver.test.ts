import { describeBlobDriver } from './driver.suite.ts';
import { MemoryBlobDriver } from './memory-driver.ts';

describeBlobDriver('memory', async () => ({ driver: new MemoryBlobDriver(), cleanup: async () => {} }));
