import type { ApiRoute } from './framework.ts';

export const auditRoutes: ApiRoute[] = [];
