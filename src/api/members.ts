import type { ApiRoute } from './framework.ts';

export const memberRoutes: ApiRoute[] = [];
