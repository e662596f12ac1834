// Static checks of deploy/ (issue 6). Docker images can't be pulled here and Helm isn't installed,
// so: every YAML parses; compose has the cluster's services wired together; every WHARF_* variable
// in compose/Helm is a configuration key (or an env the code reads); the chart's templates only
// reference values that exist in values.yaml, and both modes have their resources. Where
// docker-compose is installed, `docker-compose config` validates the compose file too.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { CONFIG_FIELDS } from '../../src/config/config.ts';

const root = path.resolve(import.meta.dirname, '../..');
const deploy = path.join(root, 'deploy');
const chart = path.join(deploy, 'helm/wharf');
const read = (p: string) => readFileSync(path.join(root, p), 'utf8');

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** WHARF_* names the code reads outside CONFIG_FIELDS (process.env.WHARF_X) */
function envReadBySource(): Set<string> {
  const names = new Set<string>();
  for (const f of walk(path.join(root, 'src')).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/\bWHARF_[A-Z0-9_]+/g)) names.add(m[0]);
  }
  return names;
}

// Settings not (yet) in CONFIG_FIELDS that deploy files may use anyway: none.
const PENDING_CONFIG = new Set<string>();

function checkWharfEnv(names: Iterable<string>, where: string) {
  const known = new Set([...CONFIG_FIELDS.map((f) => f.env), ...envReadBySource()]);
  const unknown = [...names].filter((n) => !known.has(n) && !PENDING_CONFIG.has(n));
  expect(unknown, `${where}: WHARF_* variables that are no configuration key`).toEqual([]);
}

describe('compose (local cluster)', () => {
  const text = read('deploy/compose.yaml');
  const doc = YAML.parse(text, { merge: true }) as { services: Record<string, any>; volumes?: Record<string, unknown> };

  it('parses and has postgres, redis, an S3 store, a one-shot migrate, two replicas and nginx', () => {
    const s = doc.services;
    for (const name of ['postgres', 'redis', 'minio', 'migrate', 'wharf-1', 'wharf-2', 'nginx']) expect(s, name).toHaveProperty(name);
    expect(s.migrate.command).toEqual(['migrate']);
    expect(s.migrate.restart).toBe('no');
    expect(s.migrate.depends_on.postgres.condition).toBe('service_healthy');
    for (const r of ['wharf-1', 'wharf-2']) {
      expect(s[r].depends_on.migrate.condition).toBe('service_completed_successfully');
      expect(s[r].build.dockerfile).toBe('deploy/Dockerfile');
      const env = s[r].environment as Record<string, string>;
      expect(env.WHARF_DATABASE_URL).toMatch(/^postgres:\/\/[^@]+@postgres:5432\//);
      expect(env.WHARF_REDIS_URL).toMatch(/^redis:\/\/redis:6379/);
      expect(env.WHARF_STORAGE).toMatch(/^s3:\/\/[a-z0-9.-]+(\/|$)/);
      expect(env.WHARF_S3_ENDPOINT).toBe('http://minio:9000');
      // never auto-migrate a shared database from a replica
      expect(env.WHARF_AUTO_MIGRATE).toBeUndefined();
    }
    expect(s.migrate.environment).toEqual(s['wharf-1'].environment);
    expect(s.nginx.volumes).toContain('./nginx.conf:/etc/nginx/nginx.conf:ro');
    for (const v of Object.values(s).flatMap((x: any) => (x.volumes ?? []) as string[])) {
      const named = v.split(':')[0]!;
      if (!named.startsWith('.') && !named.startsWith('/')) expect(doc.volumes, `volume ${named}`).toHaveProperty(named);
    }
  });

  it('uses only known WHARF_* settings', () => {
    checkWharfEnv(new Set(text.match(/\bWHARF_[A-Z0-9_]+/g) ?? []), 'compose.yaml');
  });

  it('nginx: no body limit, no request buffering, both replicas', () => {
    const conf = read('deploy/nginx.conf');
    expect(conf).toMatch(/client_max_body_size 0;/);
    expect(conf).toMatch(/proxy_request_buffering off;/);
    expect(conf).toMatch(/server wharf-1:5000/);
    expect(conf).toMatch(/server wharf-2:5000/);
    // braces balance (a cheap syntax check; nginx -t isn't available here)
    const open = (conf.replace(/#.*$/gm, '').match(/{/g) ?? []).length;
    const close = (conf.replace(/#.*$/gm, '').match(/}/g) ?? []).length;
    expect(open).toBe(close);
  });

  const dc = spawnSync('docker-compose', ['version'], { encoding: 'utf8' });
  it.skipIf(dc.status !== 0)('docker-compose config validates it', () => {
    const r = spawnSync('docker-compose', ['-f', path.join(deploy, 'compose.yaml'), 'config', '-q'], { encoding: 'utf8', cwd: deploy });
    expect(r.status, r.stderr).toBe(0);
  });
});

describe('Dockerfile and .dockerignore', () => {
  const df = read('deploy/Dockerfile');
  it('node:20-slim, production deps, non-root, /data volume, port 5000, health check on /health', () => {
    expect(df).toMatch(/^FROM node:20-slim\b/m);
    expect(df).toMatch(/npm ci --omit=dev/);
    expect(df).toMatch(/^USER (?!root|0\b)\S+/m);
    expect(df).toMatch(/^VOLUME \/data$/m);
    expect(df).toMatch(/^EXPOSE 5000$/m);
    expect(df).toMatch(/^HEALTHCHECK [\s\S]*\/health/m);
    expect(df).toMatch(/^ENTRYPOINT \["node", "\/app\/bin\/wharf\.js"\]$/m);
    // tsx runs the sources at runtime: it must be a production dependency
    const pkg = JSON.parse(read('package.json'));
    expect(pkg.dependencies).toHaveProperty('tsx');
    // …and the bundle is built in the image, next to the sources it is stamped with (scripts/build.js)
    expect(pkg.dependencies).toHaveProperty('esbuild');
    expect(df).toMatch(/^RUN node scripts\/build\.js\b/m);
    // every COPY source exists in the build context and isn't ignored
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const m of df.matchAll(/^COPY (?!--from)(.+)$/gm)) {
      const srcs = m[1]!.trim().split(/\s+/).slice(0, -1);
      for (const s of srcs) {
        expect(existsSync(path.join(root, s)), `COPY ${s}`).toBe(true);
        expect(ignored, `COPY ${s} is in .dockerignore`).not.toContain(s);
      }
    }
    expect(ignored).toContain('node_modules');
  });
  it('the health endpoint the checks use exists', () => {
    expect(read('src/app.ts')).toMatch(/pathname === '\/health'/);
  });
});

describe('Helm chart (static: helm is not installed here)', () => {
  const chartYaml = YAML.parse(readFileSync(path.join(chart, 'Chart.yaml'), 'utf8'));
  const values = YAML.parse(readFileSync(path.join(chart, 'values.yaml'), 'utf8'));
  const templates = readdirSync(path.join(chart, 'templates')).map((f) => ({ name: f, text: readFileSync(path.join(chart, 'templates', f), 'utf8') }));
  const all = templates.map((t) => t.text).join('\n');

  it('Chart.yaml has the required fields', () => {
    expect(chartYaml.apiVersion).toBe('v2');
    expect(chartYaml.name).toBe('wharf');
    expect(chartYaml.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(chartYaml.appVersion).toBe(JSON.parse(read('package.json')).version);
    expect(chartYaml.type).toBe('application');
  });

  it('values.yaml selects embedded or scaleout', () => {
    expect(values.mode).toBe('embedded');
    expect(all).toMatch(/has \.Values\.mode \(list "embedded" "scaleout"\)/);
    expect(values.scaleout).toHaveProperty('database');
    expect(values.scaleout).toHaveProperty('redis');
    expect(values.scaleout).toHaveProperty('s3');
    expect(values.embedded.persistence).toHaveProperty('size');
  });

  it('every .Values path a template uses exists in values.yaml', () => {
    const missing: string[] = [];
    for (const t of templates) {
      for (const m of t.text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
        let v: any = values;
        for (const k of m[1]!.slice(1).split('.')) {
          if (v === null || typeof v !== 'object' || !(k in v)) {
            missing.push(`${t.name}: .Values${m[1]}`);
            break;
          }
          v = v[k];
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('templates are balanced, define what they include, and cover both modes', () => {
    for (const t of templates) {
      expect((t.text.match(/{{/g) ?? []).length, t.name).toBe((t.text.match(/}}/g) ?? []).length);
      const opens = (t.text.match(/{{-?\s*(if|range|with|define)\b/g) ?? []).length;
      const ends = (t.text.match(/{{-?\s*end\b/g) ?? []).length;
      expect(ends, `${t.name}: if/range/with/define vs end`).toBe(opens);
    }
    const defined = new Set([...all.matchAll(/{{-?\s*define "([^"]+)"/g)].map((m) => m[1]));
    for (const m of all.matchAll(/(?:include|template) "([^"]+)"/g)) expect(defined, `include ${m[1]}`).toContain(m[1]);
    const byName = Object.fromEntries(templates.map((t) => [t.name, t.text]));
    // embedded: one StatefulSet pod with a claim
    expect(byName['statefulset.yaml']).toMatch(/if eq \.Values\.mode "embedded"/);
    expect(byName['statefulset.yaml']).toMatch(/replicas: 1\b/);
    expect(byName['statefulset.yaml']).toMatch(/volumeClaimTemplates:/);
    // scaleout: N replicas and a migration hook Job before install/upgrade
    expect(byName['deployment.yaml']).toMatch(/if eq \.Values\.mode "scaleout"/);
    expect(byName['deployment.yaml']).toMatch(/replicas: {{ \.Values\.replicas }}/);
    expect(byName['migrate-job.yaml']).toMatch(/helm\.sh\/hook: pre-install,pre-upgrade/);
    expect(byName['migrate-job.yaml']).toMatch(/args: \["migrate"\]/);
    expect(byName['secret.yaml']).toMatch(/kind: Secret/);
    expect(byName['ingress.yaml']).toMatch(/if \.Values\.ingress\.enabled/);
    expect(byName['service.yaml']).toMatch(/kind: Service/);
    // probes on /health; replicas don't auto-migrate on the shared database
    expect(byName['_helpers.tpl']).toMatch(/livenessProbe:\s+httpGet:\s+path: \/health/);
    expect(byName['_helpers.tpl']).toMatch(/readinessProbe:\s+httpGet:\s+path: \/health/);
    expect(byName['_helpers.tpl']).toMatch(/name: WHARF_AUTO_MIGRATE\s+value: "false"/);
  });

  it('uses only known WHARF_* settings', () => {
    checkWharfEnv(new Set([...all.matchAll(/\bWHARF_[A-Z0-9_]+/g)].map((m) => m[0])), 'helm chart');
  });

  it('every YAML in deploy/ without template directives parses', () => {
    const yamls = walk(deploy).filter((f) => /\.ya?ml$/.test(f) && !f.includes(`${path.sep}templates${path.sep}`));
    expect(yamls.length).toBeGreaterThanOrEqual(3);
    for (const f of yamls) expect(() => YAML.parse(readFileSync(f, 'utf8'), { merge: true }), f).not.toThrow();
  });
});
