// Composition root: the only place that constructs concrete classes.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { buildApp, type App } from './app.ts';
import { parseAddr, type Config } from './config/config.ts';
import { RegistryService } from './distribution/registry-service.ts';
import { createLogger, type Logger } from './logger.ts';
import { openMetadata } from './metadata/open.ts';
import type { MetadataStore } from './metadata/store.ts';
import { FsBlobDriver } from './storage/fs-driver.ts';
import { purgeUploads } from './distribution/upload-purge.ts';

export interface Wharf {
  app: App;
  store: MetadataStore;
  logger: Logger;
  listen(): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

export interface CreateOptions {
  /**
   * Remove leftovers of monolithic writes interrupted by a crash (never visible). Only the
   * process that owns the data dir alone may do it: a cluster worker must not, or it would delete
   * other workers' writes in progress (the primary does it once before forking).
   */
  cleanTmp?: boolean;
}

export async function createWharf(cfg: Config, logger: Logger = createLogger(cfg.logLevel), opts: CreateOptions = {}): Promise<Wharf> {
  mkdirSync(cfg.dataDir, { recursive: true });
  const driver = new FsBlobDriver(path.join(cfg.dataDir, 'storage'));
  const store = await openMetadata(cfg.databaseUrl, { sqliteSynchronous: cfg.sqliteSynchronous });
  const registry = new RegistryService({ store, driver });
  const app = buildApp({ registry, logger });
  const purgeTimer = setInterval(() => {
    purgeUploads(store, driver, cfg.uploadPurgeAfterHours * 3600_000, logger, (id) => registry.forgetUpload(id)).catch((e) => logger.warn('upload purge failed', { error: String(e) }));
  }, 3600_000);
  purgeTimer.unref();
  if (opts.cleanTmp !== false) await cleanTmp(cfg);
  return {
    app,
    store,
    logger,
    async listen() {
      const { host, port } = parseAddr(cfg.addr);
      await new Promise<void>((resolve, reject) => {
        app.server.once('error', reject);
        app.server.listen(port, host, () => resolve());
      });
      const a = app.server.address();
      return { host, port: typeof a === 'object' && a ? a.port : port };
    },
    async close() {
      clearInterval(purgeTimer);
      await new Promise<void>((r) => {
        app.server.close(() => r());
        app.server.closeIdleConnections();
        setTimeout(() => app.server.closeAllConnections(), 5000).unref();
      });
      await store.close();
    },
  };
}

/** Remove temp files of monolithic writes interrupted by a crash. */
export async function cleanTmp(cfg: Config): Promise<void> {
  await new FsBlobDriver(path.join(cfg.dataDir, 'storage')).delete('tmp');
}
