import type { ApiRoute } from './framework.ts';

export const projectRoutes: ApiRoute[] = [];
