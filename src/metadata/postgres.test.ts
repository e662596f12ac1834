// Runs the shared metadata suite against the machine's PostgreSQL in a private schema.
import { describeMetadata } from './metadata.suite.ts';
import { openPgTestStore } from './pg-test-store.ts';

describeMetadata('postgres', () => openPgTestStore());
