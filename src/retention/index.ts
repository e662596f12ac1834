// Tag retention wired up: the job handler registered with the JobService, the pull-time tracker
// and the API routes, from their dependencies.
import type { RegistryService } from '../distribution/registry-service.ts';
import type { JobService } from '../jobs/types.ts';
import type { Logger } from '../logger.ts';
import type { MetadataStore } from '../metadata/store.ts';
import { retentionRoutes } from '../api/retention.ts';
import type { ApiRoute } from '../api/framework.ts';
import { retentionJob, type RetentionJobDeps } from './job.ts';
import { PullTracker } from './pull-tracker.ts';

export interface RetentionDeps {
  store: MetadataStore;
  registry: Pick<RegistryService, 'checkManifestDelete' | 'checkTagDelete'>;
  jobs: JobService;
  /** project lookup by id (the IdentityStore) */
  projects: RetentionJobDeps['projects'];
  audit?: RetentionJobDeps['audit'];
  logger?: Logger;
}

export interface Retention {
  /** call record(repo, digest) for every manifest GET */
  pulls: PullTracker;
  /** the /api/v2.0/retentions routes */
  routes: ApiRoute[];
  /** flush pending pull times */
  close(): Promise<void>;
}

/** Register the 'retention' job handler with `jobs` and build the rest. */
export function createRetention(deps: RetentionDeps): Retention {
  deps.jobs.register(retentionJob({ store: deps.store, registry: deps.registry, projects: deps.projects, audit: deps.audit }));
  const pulls = new PullTracker(deps.store, deps.logger);
  return { pulls, routes: retentionRoutes({ jobs: deps.jobs }), close: () => pulls.close() };
}
