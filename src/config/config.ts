// Typed configuration: defaults, then a YAML file (WHARF_CONFIG or --config), then WHARF_* env.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseCron } from '../jobs/cron.ts';
import type { LogLevel } from '../logger.ts';
import { parseStorageUrl } from '../storage/open.ts';

export interface Config {
  /** host:port to listen on */
  addr: string;
  /** where embedded state lives: blobs, uploads, the SQLite database */
  dataDir: string;
  /** blob storage: '' (= file storage in <dataDir>/storage), file:///path or s3://bucket[/prefix] */
  storage: string;
  /** S3 endpoint URL for S3-compatible stores ('' = AWS) */
  s3Endpoint: string;
  s3Region: string;
  /** static S3 credentials ('' = the AWS SDK's default chain: env, profile, instance role) */
  s3AccessKeyId: string;
  s3SecretAccessKey: string;
  /** path-style URLs (http://host/bucket/key); default true when an endpoint is set */
  s3ForcePathStyle: boolean;
  /** sqlite:<path> (default <dataDir>/wharf.db) or postgres://… */
  databaseUrl: string;
  /** apply pending schema migrations on start (default: true on SQLite, false on PostgreSQL: run `wharf migrate`) */
  autoMigrate: boolean;
  /** SQLite synchronous pragma: FULL (default) or NORMAL */
  sqliteSynchronous: 'FULL' | 'NORMAL';
  logLevel: LogLevel;
  /** Node worker processes serving HTTP (1 = single process) */
  workers: number;
  /** abandoned upload sessions older than this are purged (hours) */
  uploadPurgeAfterHours: number;
  /** the admin's password on first start (generated and printed once when empty) */
  adminPassword: string;
  /** the URL clients reach Wharf at (token realm); derived from the Host header when empty */
  externalUrl: string;
  /** the token service's `service` name */
  tokenService: string;
  tokenTtlSeconds: number;
  /** who may create projects: everyone (logged in) or adminonly */
  projectCreation: 'everyone' | 'adminonly';
  /** audit log entries older than this are deleted (days; 0 = keep forever) */
  auditRetentionDays: number;
  /** comma-separated audit operations not recorded (e.g. `pull`) */
  auditSkip: string;
  sessionTtlMinutes: number;
  /** failed logins for one user name within 5 minutes that lock it for loginLockoutSeconds */
  loginMaxFailures: number;
  loginLockoutSeconds: number;
  /** cron of the vulnerability-database update job (URL sources), 'off' for none */
  vulnDbUpdateCron: string;
  /** a server-side scan's worker heap limit (MiB) and wall-clock limit (minutes) */
  scanMaxMemoryMb: number;
  scanTimeoutMinutes: number;
  /** failed logins from one client address within 5 minutes that lock it (0 = no address lock) */
  loginMaxFailuresPerIp: number;
  /** redis:// or rediss:// URL for cross-replica coordination (cache invalidation, login limits, locks); '' = none (single node) */
  redisUrl: string;
  /** S3 storage: blob GETs redirect to pre-signed URLs valid this many seconds (0 = off) */
  s3RedirectSeconds: number;
}

export interface ConfigField {
  key: keyof Config;
  env: string;
  yaml: string;
  type: 'string' | 'number' | 'enum';
  /** never printed */
  secret?: boolean;
  values?: string[];
  description: string;
}

export const CONFIG_FIELDS: ConfigField[] = [
  { key: 'addr', env: 'WHARF_ADDR', yaml: 'addr', type: 'string', description: 'listen address host:port (default 0.0.0.0:5000)' },
  { key: 'dataDir', env: 'WHARF_DATA_DIR', yaml: 'dataDir', type: 'string', description: 'data directory (default ./data)' },
  { key: 'storage', env: 'WHARF_STORAGE', yaml: 'storage', type: 'string', description: 'blob storage: file:///path or s3://bucket[/prefix] (default: files in <dataDir>/storage); every replica of a scaled-out Wharf needs the same S3 storage' },
  { key: 's3Endpoint', env: 'WHARF_S3_ENDPOINT', yaml: 's3Endpoint', type: 'string', description: 'S3 endpoint URL for S3-compatible stores, e.g. http://minio:9000 (default: AWS)' },
  { key: 's3Region', env: 'WHARF_S3_REGION', yaml: 's3Region', type: 'string', description: 'S3 region (default us-east-1)' },
  { key: 's3AccessKeyId', env: 'WHARF_S3_ACCESS_KEY_ID', yaml: 's3AccessKeyId', type: 'string', description: "S3 access key id (default: the AWS SDK's credential chain)" },
  { key: 's3SecretAccessKey', env: 'WHARF_S3_SECRET_ACCESS_KEY', yaml: 's3SecretAccessKey', type: 'string', secret: true, description: 'S3 secret access key' },
  { key: 's3ForcePathStyle', env: 'WHARF_S3_FORCE_PATH_STYLE', yaml: 's3ForcePathStyle', type: 'enum', values: ['true', 'false'], description: 'path-style S3 URLs (default true when WHARF_S3_ENDPOINT is set, else false)' },
  { key: 'databaseUrl', env: 'WHARF_DATABASE_URL', yaml: 'databaseUrl', type: 'string', description: 'sqlite:<path> (default <dataDir>/wharf.db) or postgres://user@host:port/db' },
  { key: 'autoMigrate', env: 'WHARF_AUTO_MIGRATE', yaml: 'autoMigrate', type: 'enum', values: ['true', 'false'], description: 'apply pending database migrations on start (default true with SQLite, false with PostgreSQL: run `wharf migrate` once before starting replicas)' },
  { key: 'sqliteSynchronous', env: 'WHARF_SQLITE_SYNCHRONOUS', yaml: 'sqliteSynchronous', type: 'enum', values: ['FULL', 'NORMAL'], description: 'SQLite durability: FULL survives power loss, NORMAL only process crashes' },
  { key: 'logLevel', env: 'WHARF_LOG_LEVEL', yaml: 'logLevel', type: 'enum', values: ['debug', 'info', 'warn', 'error', 'silent'], description: 'log level (default info)' },
  { key: 'workers', env: 'WHARF_WORKERS', yaml: 'workers', type: 'number', description: 'HTTP worker processes (default 1)' },
  { key: 'uploadPurgeAfterHours', env: 'WHARF_UPLOAD_PURGE_AFTER_HOURS', yaml: 'uploadPurgeAfterHours', type: 'number', description: 'purge abandoned uploads after this many hours (default 168)' },
  { key: 'adminPassword', env: 'WHARF_ADMIN_PASSWORD', yaml: 'adminPassword', type: 'string', secret: true, description: "admin's password on first start (default: generated, printed once)" },
  { key: 'externalUrl', env: 'WHARF_EXTERNAL_URL', yaml: 'externalUrl', type: 'string', description: 'URL clients use to reach Wharf, e.g. https://registry.example.com (default: from the Host header)' },
  { key: 'tokenService', env: 'WHARF_TOKEN_SERVICE', yaml: 'tokenService', type: 'string', description: 'token service name (default wharf-registry)' },
  { key: 'tokenTtlSeconds', env: 'WHARF_TOKEN_TTL_SECONDS', yaml: 'tokenTtlSeconds', type: 'number', description: 'lifetime of registry tokens (default 1800)' },
  { key: 'projectCreation', env: 'WHARF_PROJECT_CREATION', yaml: 'projectCreation', type: 'enum', values: ['everyone', 'adminonly'], description: 'who may create projects (default everyone)' },
  { key: 'auditRetentionDays', env: 'WHARF_AUDIT_RETENTION_DAYS', yaml: 'auditRetentionDays', type: 'number', description: 'delete audit log entries older than this many days (default 0 = keep)' },
  { key: 'auditSkip', env: 'WHARF_AUDIT_SKIP', yaml: 'auditSkip', type: 'string', description: 'comma-separated audit operations not to record, e.g. pull (default: none)' },
  { key: 'sessionTtlMinutes', env: 'WHARF_SESSION_TTL_MINUTES', yaml: 'sessionTtlMinutes', type: 'number', description: 'portal session lifetime (default 60)' },
  { key: 'loginMaxFailures', env: 'WHARF_LOGIN_MAX_FAILURES', yaml: 'loginMaxFailures', type: 'number', description: 'failed logins of one user name within 5 min before it is locked (default 5)' },
  { key: 'loginMaxFailuresPerIp', env: 'WHARF_LOGIN_MAX_FAILURES_PER_IP', yaml: 'loginMaxFailuresPerIp', type: 'number', description: 'failed logins from one address within 5 min before it may not verify new credentials (default 50; 0 = off)' },
  { key: 'loginLockoutSeconds', env: 'WHARF_LOGIN_LOCKOUT_SECONDS', yaml: 'loginLockoutSeconds', type: 'number', description: 'how long a locked user name stays locked (default 300)' },
  { key: 'scanMaxMemoryMb', env: 'WHARF_SCAN_MAX_MEMORY_MB', yaml: 'scanMaxMemoryMb', type: 'number', description: "heap limit of a server-side scan's worker thread, MiB (default 2048)" },
  { key: 'scanTimeoutMinutes', env: 'WHARF_SCAN_TIMEOUT_MINUTES', yaml: 'scanTimeoutMinutes', type: 'number', description: 'a server-side scan taking longer fails (default 30)' },
  { key: 's3RedirectSeconds', env: 'WHARF_S3_REDIRECT_SECONDS', yaml: 's3RedirectSeconds', type: 'number', description: 'on S3 storage, answer blob GETs with a redirect to a pre-signed URL valid this long (default 0 = serve through Wharf)' },
  { key: 'redisUrl', env: 'WHARF_REDIS_URL', yaml: 'redisUrl', type: 'string', secret: true, description: 'redis://[user:password@]host:port[/db] or rediss://… shared by all replicas for cache invalidation, login limits and locks (default: none = single node)' },
  { key: 'vulnDbUpdateCron', env: 'WHARF_VULNDB_UPDATE_CRON', yaml: 'vulnDbUpdateCron', type: 'string', description: "when the vulnerability database's URL sources are refreshed, cron (default '17 */6 * * *'; 'off' = never); applied when no schedule exists yet" },
];

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, file?: string): Config {
  const raw: Record<string, unknown> = {};
  const cfgFile = file ?? env.WHARF_CONFIG;
  if (cfgFile) {
    let doc: unknown;
    try {
      // loaded only when a file is given (~35 ms of every command's start otherwise)
      const YAML = createRequire(import.meta.url)('yaml') as typeof import('yaml');
      doc = YAML.parse(readFileSync(cfgFile, 'utf8'));
    } catch (e) {
      throw new ConfigError(`cannot read config file ${cfgFile}: ${(e as Error).message}`);
    }
    if (doc && typeof doc === 'object') {
      for (const f of CONFIG_FIELDS) if ((doc as Record<string, unknown>)[f.yaml] !== undefined) raw[f.key] = (doc as Record<string, unknown>)[f.yaml];
      const known = new Set(CONFIG_FIELDS.map((f) => f.yaml));
      for (const k of Object.keys(doc)) if (!known.has(k)) throw new ConfigError(`unknown key ${k} in ${cfgFile}`);
    }
  }
  for (const f of CONFIG_FIELDS) if (env[f.env] !== undefined && env[f.env] !== '') raw[f.key] = env[f.env];
  const dataDir = path.resolve(String(raw.dataDir ?? './data'));
  const databaseUrl = String(raw.databaseUrl ?? `sqlite:${path.join(dataDir, 'wharf.db')}`);
  const autoMigrate = raw.autoMigrate === undefined ? databaseUrl.startsWith('sqlite:') : String(raw.autoMigrate).trim().toLowerCase();
  const cfg: Config = {
    addr: String(raw.addr ?? '0.0.0.0:5000'),
    dataDir,
    storage: String(raw.storage ?? '').trim(),
    s3Endpoint: String(raw.s3Endpoint ?? '').trim(),
    s3Region: String(raw.s3Region ?? 'us-east-1').trim(),
    s3AccessKeyId: String(raw.s3AccessKeyId ?? ''),
    s3SecretAccessKey: String(raw.s3SecretAccessKey ?? ''),
    // a string other than true/false fails the enum check below
    s3ForcePathStyle: (raw.s3ForcePathStyle === undefined
      ? Boolean(String(raw.s3Endpoint ?? '').trim())
      : ((v) => (v === 'true' ? true : v === 'false' ? false : v))(String(raw.s3ForcePathStyle).trim().toLowerCase())) as boolean,
    databaseUrl,
    // a string other than true/false fails the enum check below
    autoMigrate: (autoMigrate === 'true' ? true : autoMigrate === 'false' ? false : autoMigrate) as boolean,
    sqliteSynchronous: String(raw.sqliteSynchronous ?? 'FULL').toUpperCase() as Config['sqliteSynchronous'],
    logLevel: String(raw.logLevel ?? 'info') as LogLevel,
    workers: Number(raw.workers ?? 1),
    uploadPurgeAfterHours: Number(raw.uploadPurgeAfterHours ?? 168),
    adminPassword: String(raw.adminPassword ?? ''),
    externalUrl: String(raw.externalUrl ?? ''),
    tokenService: String(raw.tokenService ?? 'wharf-registry'),
    tokenTtlSeconds: Number(raw.tokenTtlSeconds ?? 1800),
    projectCreation: String(raw.projectCreation ?? 'everyone') as Config['projectCreation'],
    auditRetentionDays: Number(raw.auditRetentionDays ?? 0),
    auditSkip: String(raw.auditSkip ?? ''),
    sessionTtlMinutes: Number(raw.sessionTtlMinutes ?? 60),
    loginMaxFailures: Number(raw.loginMaxFailures ?? 5),
    loginLockoutSeconds: Number(raw.loginLockoutSeconds ?? 300),
    loginMaxFailuresPerIp: Number(raw.loginMaxFailuresPerIp ?? 50),
    vulnDbUpdateCron: String(raw.vulnDbUpdateCron ?? '17 */6 * * *').trim(),
    scanMaxMemoryMb: Number(raw.scanMaxMemoryMb ?? 2048),
    scanTimeoutMinutes: Number(raw.scanTimeoutMinutes ?? 30),
    redisUrl: String(raw.redisUrl ?? '').trim(),
    s3RedirectSeconds: Number(raw.s3RedirectSeconds ?? 0),
  };
  for (const f of CONFIG_FIELDS) {
    const v = cfg[f.key];
    if (f.type === 'number' && (!Number.isFinite(v as number) || (v as number) < 0)) throw new ConfigError(`${f.env}: expected a non-negative number, got ${raw[f.key]}`);
    if (f.type === 'enum' && !f.values!.includes(String(v))) throw new ConfigError(`${f.env}: expected one of ${f.values!.join(', ')}, got ${v}`);
  }
  if (cfg.externalUrl && !/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(cfg.externalUrl)) throw new ConfigError(`WHARF_EXTERNAL_URL: expected http(s)://host[:port], got ${cfg.externalUrl}`);
  for (const op of cfg.auditSkip.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!['pull', 'create', 'delete', 'update', 'login', 'login_failed'].includes(op)) throw new ConfigError(`WHARF_AUDIT_SKIP: unknown operation ${op} (pull, create, delete, update, login, login_failed)`);
  }
  if (cfg.vulnDbUpdateCron !== 'off') {
    try {
      parseCron(cfg.vulnDbUpdateCron);
    } catch (e) {
      throw new ConfigError(`WHARF_VULNDB_UPDATE_CRON: ${(e as Error).message}`);
    }
  }
  if (cfg.scanMaxMemoryMb < 64) throw new ConfigError('WHARF_SCAN_MAX_MEMORY_MB: at least 64');
  if (cfg.scanTimeoutMinutes <= 0) throw new ConfigError('WHARF_SCAN_TIMEOUT_MINUTES: more than 0');
  if (cfg.tokenTtlSeconds < 30) throw new ConfigError('WHARF_TOKEN_TTL_SECONDS: at least 30');
  if (cfg.loginMaxFailures < 1) throw new ConfigError('WHARF_LOGIN_MAX_FAILURES: at least 1');
  if (cfg.s3RedirectSeconds > 7 * 86400) throw new ConfigError('WHARF_S3_REDIRECT_SECONDS: at most 604800 (S3 pre-signed URLs last at most 7 days)');
  if (cfg.redisUrl) {
    let u: URL | undefined;
    try {
      u = new URL(cfg.redisUrl);
    } catch {
      /* reported below */
    }
    // the message shows the URL without its password
    if (!u || !['redis:', 'rediss:'].includes(u.protocol) || !u.hostname) throw new ConfigError(`WHARF_REDIS_URL: expected redis://[user:password@]host[:port][/db] or rediss://…, got ${maskUrl(cfg.redisUrl)}`);
  }
  try {
    parseStorageUrl(cfg.storage, cfg.dataDir);
  } catch (e) {
    throw new ConfigError(`WHARF_STORAGE: ${(e as Error).message}`);
  }
  if (cfg.s3Endpoint && !/^https?:\/\/[^\s/]+\/?$/.test(cfg.s3Endpoint)) throw new ConfigError(`WHARF_S3_ENDPOINT: expected http(s)://host[:port], got ${cfg.s3Endpoint}`);
  if (!/^[a-z0-9-]+$/.test(cfg.s3Region)) throw new ConfigError(`WHARF_S3_REGION: expected a region name like us-east-1, got ${cfg.s3Region}`);
  if (Boolean(cfg.s3AccessKeyId) !== Boolean(cfg.s3SecretAccessKey)) throw new ConfigError('WHARF_S3_ACCESS_KEY_ID and WHARF_S3_SECRET_ACCESS_KEY: set both or neither');
  if (!/^[^\s]*:\d{1,5}$/.test(cfg.addr)) throw new ConfigError(`WHARF_ADDR: expected host:port, got ${cfg.addr}`);
  return cfg;
}

/** A URL with its password (if any) replaced by ***, for logs and messages. */
export function maskUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i, (_m, scheme: string, auth: string) => `${scheme}${auth.includes(':') ? `${auth.slice(0, auth.indexOf(':'))}:***` : '***'}@`);
}

export function parseAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  let host = addr.slice(0, i) || '0.0.0.0';
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(addr.slice(i + 1)) };
}
