// Runs the shared identity-store suite against the machine's PostgreSQL in a private schema.
import { describeIdentityStore } from './identity-store.suite.ts';
import { openPgTestStore } from '../metadata/pg-test-store.ts';

describeIdentityStore('postgres', () => openPgTestStore());
