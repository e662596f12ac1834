// Worker-thread entry for server-side scans: registers tsx (as bin/wharf.js does) and loads the
// TypeScript worker body.
import { register } from 'tsx/esm/api';
register();
await import('./scan-worker.ts');
