import type { ApiRoute } from './framework.ts';

export const artifactRoutes: ApiRoute[] = [];
