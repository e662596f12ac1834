import type { ApiRoute } from './framework.ts';

export const repositoryRoutes: ApiRoute[] = [];
