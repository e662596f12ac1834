// /ping, /health, /systeminfo and the OpenAPI document.
import { sql } from 'kysely';
import { anyone, badRequest, type ApiRoute } from './framework.ts';

export const VERSION = '0.3.0';

export function systemRoutes(openapi: () => unknown): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: '/ping',
      tag: 'ping',
      summary: 'Ping the server',
      perm: anyone,
      handler: async (c) => {
        c.res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 4 });
        c.res.end(c.req.method === 'HEAD' ? undefined : 'Pong');
      },
    },
    {
      method: 'GET',
      path: '/health',
      tag: 'health',
      summary: 'Overall health and per-component status',
      perm: anyone,
      handler: async (c) => {
        let db = 'healthy';
        try {
          // a round trip to the database (SQLite or PostgreSQL)
          await sql`select 1`.execute(c.svc.store.db);
        } catch {
          db = 'unhealthy';
        }
        const components: { name: string; status: string; error?: string }[] = [
          { name: 'core', status: 'healthy' },
          { name: 'database', status: db },
          { name: 'registry', status: 'healthy' },
        ];
        const redis = c.svc.redis?.();
        if (redis) {
          components.push(
            redis.healthy
              ? { name: 'redis', status: 'healthy' }
              : { name: 'redis', status: 'unhealthy', error: `degraded: publisher ${redis.publisher}, subscriber ${redis.subscriber}; credential caches bypassed, login limits per replica` },
          );
        }
        // Overall status as Harbor's: unhealthy when any component is. The HTTP status follows the
        // database alone: a replica without Redis still serves correctly (degraded), so a load
        // balancer must keep it.
        const overall = components.every((x) => x.status === 'healthy') ? 'healthy' : 'unhealthy';
        c.json(db === 'healthy' ? 200 : 503, { status: overall, components });
      },
    },
    {
      method: 'GET',
      path: '/systeminfo',
      tag: 'systeminfo',
      summary: 'General system information',
      perm: anyone,
      handler: async (c) => {
        const cfg = c.svc.config;
        let external = cfg.externalUrl;
        let registryHost: string;
        try {
          external ||= `http://${c.req.headers.host ?? 'localhost'}`;
          registryHost = new URL(external).host;
        } catch {
          throw badRequest('invalid Host header');
        }
        const info: Record<string, unknown> = {
          auth_mode: 'db_auth',
          primary_auth_mode: false,
          self_registration: false,
          harbor_version: `wharf-${VERSION}`,
          registry_url: registryHost,
          external_url: external,
          project_creation_restriction: cfg.projectCreation,
          has_ca_root: false,
          read_only: false,
          with_chartmuseum: false,
          notification_enable: false,
          banner_message: '',
        };
        // Harbor shows the details below only to logged-in users.
        if (c.subject.kind === 'anonymous') {
          for (const k of ['external_url', 'project_creation_restriction', 'has_ca_root', 'read_only', 'with_chartmuseum', 'notification_enable']) delete info[k];
        }
        c.json(200, info);
      },
    },
    {
      method: 'GET',
      path: '/openapi.json',
      tag: 'openapi',
      summary: 'This API as an OpenAPI 3 document',
      perm: anyone,
      handler: async (c) => c.json(200, openapi()),
    },
  ];
}
