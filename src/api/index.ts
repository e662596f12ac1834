// The management API under /api/v2.0: every resource module's routes in one table.
import { ApiRouter, type ApiRoute, type ApiServices } from './framework.ts';
import { systemRoutes, VERSION } from './system.ts';
import { userRoutes } from './users.ts';
import { robotRoutes } from './robots.ts';
import { tokenRoutes } from './tokens.ts';
import { auditRoutes } from './audit-logs.ts';
import { projectRoutes } from './projects.ts';
import { memberRoutes } from './members.ts';
import { repositoryRoutes } from './repositories.ts';
import { artifactRoutes } from './artifacts.ts';
import { gcRoutes } from './gc.ts';
import { quotaRoutes } from './quotas.ts';
import { immutableRoutes } from './immutable.ts';
import { retentionRoutes } from './retention.ts';
import { scanRoutes } from './scan.ts';

export function buildApi(svc: ApiServices): ApiRouter {
  let router: ApiRouter;
  const routes: ApiRoute[] = [
    ...systemRoutes(() => router.openapi(VERSION)),
    ...userRoutes,
    ...tokenRoutes,
    ...robotRoutes,
    ...auditRoutes,
    ...projectRoutes,
    ...memberRoutes,
    ...repositoryRoutes,
    ...artifactRoutes,
    ...gcRoutes,
    ...quotaRoutes,
    ...immutableRoutes,
    ...retentionRoutes(),
    ...scanRoutes,
  ];
  router = new ApiRouter(routes, svc);
  return router;
}
