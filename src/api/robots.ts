import type { ApiRoute } from './framework.ts';

export const robotRoutes: ApiRoute[] = [];
