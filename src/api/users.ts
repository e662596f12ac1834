import type { ApiRoute } from './framework.ts';

export const userRoutes: ApiRoute[] = [];
