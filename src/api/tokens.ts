import type { ApiRoute } from './framework.ts';

export const tokenRoutes: ApiRoute[] = [];
