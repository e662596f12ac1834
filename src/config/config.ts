// Typed configuration: defaults, then a YAML file (WHARF_CONFIG or --config), then WHARF_* env.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { LogLevel } from '../logger.ts';

export interface Config {
  /** host:port to listen on */
  addr: string;
  /** where embedded state lives: blobs, uploads, the SQLite database */
  dataDir: string;
  /** sqlite:<path> (default <dataDir>/wharf.db) or postgres://… */
  databaseUrl: string;
  /** SQLite synchronous pragma: FULL (default) or NORMAL */
  sqliteSynchronous: 'FULL' | 'NORMAL';
  logLevel: LogLevel;
  /** Node worker processes serving HTTP (1 = single process) */
  workers: number;
  /** abandoned upload sessions older than this are purged (hours) */
  uploadPurgeAfterHours: number;
}

export interface ConfigField {
  key: keyof Config;
  env: string;
  yaml: string;
  type: 'string' | 'number' | 'enum';
  values?: string[];
  description: string;
}

export const CONFIG_FIELDS: ConfigField[] = [
  { key: 'addr', env: 'WHARF_ADDR', yaml: 'addr', type: 'string', description: 'listen address host:port (default 0.0.0.0:5000)' },
  { key: 'dataDir', env: 'WHARF_DATA_DIR', yaml: 'dataDir', type: 'string', description: 'data directory (default ./data)' },
  { key: 'databaseUrl', env: 'WHARF_DATABASE_URL', yaml: 'databaseUrl', type: 'string', description: 'sqlite:<path> (default <dataDir>/wharf.db) or postgres://user@host:port/db' },
  { key: 'sqliteSynchronous', env: 'WHARF_SQLITE_SYNCHRONOUS', yaml: 'sqliteSynchronous', type: 'enum', values: ['FULL', 'NORMAL'], description: 'SQLite durability: FULL survives power loss, NORMAL only process crashes' },
  { key: 'logLevel', env: 'WHARF_LOG_LEVEL', yaml: 'logLevel', type: 'enum', values: ['debug', 'info', 'warn', 'error', 'silent'], description: 'log level (default info)' },
  { key: 'workers', env: 'WHARF_WORKERS', yaml: 'workers', type: 'number', description: 'HTTP worker processes (default 1)' },
  { key: 'uploadPurgeAfterHours', env: 'WHARF_UPLOAD_PURGE_AFTER_HOURS', yaml: 'uploadPurgeAfterHours', type: 'number', description: 'purge abandoned uploads after this many hours (default 168)' },
];

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, file?: string): Config {
  const raw: Record<string, unknown> = {};
  const cfgFile = file ?? env.WHARF_CONFIG;
  if (cfgFile) {
    let doc: unknown;
    try {
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
  const cfg: Config = {
    addr: String(raw.addr ?? '0.0.0.0:5000'),
    dataDir,
    databaseUrl: String(raw.databaseUrl ?? `sqlite:${path.join(dataDir, 'wharf.db')}`),
    sqliteSynchronous: String(raw.sqliteSynchronous ?? 'FULL').toUpperCase() as Config['sqliteSynchronous'],
    logLevel: String(raw.logLevel ?? 'info') as LogLevel,
    workers: Number(raw.workers ?? 1),
    uploadPurgeAfterHours: Number(raw.uploadPurgeAfterHours ?? 168),
  };
  for (const f of CONFIG_FIELDS) {
    const v = cfg[f.key];
    if (f.type === 'number' && (!Number.isFinite(v as number) || (v as number) < 0)) throw new ConfigError(`${f.env}: expected a non-negative number, got ${raw[f.key]}`);
    if (f.type === 'enum' && !f.values!.includes(String(v))) throw new ConfigError(`${f.env}: expected one of ${f.values!.join(', ')}, got ${v}`);
  }
  if (!/^[^\s]*:\d{1,5}$/.test(cfg.addr)) throw new ConfigError(`WHARF_ADDR: expected host:port, got ${cfg.addr}`);
  return cfg;
}

export function parseAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  let host = addr.slice(0, i) || '0.0.0.0';
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(addr.slice(i + 1)) };
}
