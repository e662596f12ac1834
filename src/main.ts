// Composition root: the only place that constructs concrete classes.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { buildApp, type App } from './app.ts';
import { parseAddr, type Config } from './config/config.ts';
import { RegistryService } from './distribution/registry-service.ts';
import { createLogger, type Logger } from './logger.ts';
import { openMetadata } from './metadata/open.ts';
import type { MetadataStore } from './metadata/store.ts';
import { openBlobDriver } from './storage/open.ts';
import { Jobs } from './jobs/service.ts';
import { retentionJob } from './retention/job.ts';
import { PullTracker } from './retention/pull-tracker.ts';
import { PURGE_UPLOADS, PURGE_UPLOADS_CRON, purgeUploadsHandler } from './jobs/purge-uploads.ts';
import { registerGcJob } from './gc/job.ts';
import { ScanService } from './scanner/service.ts';
import { registerVulnDbJobs } from './scanner/vulndb/updater.ts';
import { rematchStoredReports } from './scanner/notifier.ts';
import { VulnDb } from './scanner/vulndb/store.ts';
import cluster from 'node:cluster';
import { buildApi } from './api/index.ts';
import { AuditLog } from './identity/audit.ts';
import { bootstrapIdentity } from './identity/bootstrap.ts';
import { Identity, localBus, type InvalidationBus } from './identity/identity.ts';
import { TokenSigner } from './identity/jwt.ts';
import { LoginLimiter } from './identity/limiter.ts';
import { createCoordination } from './cluster/index.ts';
import { IdentityStore } from './identity/store.ts';
import { QuotaGuard } from './quota/guard.ts';
import { QuotaStore } from './quota/store.ts';
import { ImmutabilityGuard } from './immutability/guard.ts';
import { immutableRules } from './immutability/rules.ts';

export interface Wharf {
  app: App;
  store: MetadataStore;
  identity: Identity;
  logger: Logger;
  /** durable jobs: modules register their handlers (jobs.register) in createWharf, before jobs.start() */
  jobs: Jobs;
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
  /** create the admin and `library` on first start (default true; cluster workers leave it to the primary) */
  bootstrap?: boolean;
}

/** Identity caches are per process; in a cluster the primary relays "something changed" to every worker. */
export const CLUSTER_AUTH_MESSAGE = 'wharf:auth-changed';

function clusterBus(): InvalidationBus {
  if (!cluster.isWorker || !process.send) return localBus();
  const subs: (() => void)[] = [];
  process.on('message', (m: unknown) => {
    if ((m as { type?: string })?.type === CLUSTER_AUTH_MESSAGE) subs.forEach((f) => f());
  });
  return {
    publish: () => process.send?.({ type: CLUSTER_AUTH_MESSAGE }),
    subscribe: (f) => void subs.push(f),
  };
}

export async function createWharf(cfg: Config, logger: Logger = createLogger(cfg.logLevel), opts: CreateOptions = {}): Promise<Wharf> {
  mkdirSync(cfg.dataDir, { recursive: true });
  const driver = await openBlobDriver(cfg);
  const store = await openMetadata(cfg.databaseUrl, { sqliteSynchronous: cfg.sqliteSynchronous });
  const registry = new RegistryService({ store, driver, redirectTtlSeconds: cfg.s3RedirectSeconds });
  // Durable jobs (upload purging, GC, retention…): handlers are registered here; the runner starts below.
  const jobs = new Jobs(store, { logger });
  jobs.register(purgeUploadsHandler({ store, driver, maxAgeMs: cfg.uploadPurgeAfterHours * 3600_000, logger, onPurged: (id) => registry.forgetUpload(id) }));
  // Online garbage collection (kind 'gc', exclusive; API /system/gc): src/gc.
  registerGcJob(jobs, { store, driver });
  const identityStore = new IdentityStore(store);
  if (opts.bootstrap !== false) await bootstrapIdentity(identityStore, cfg.adminPassword, logger);
  const audit = new AuditLog(identityStore, logger, cfg.auditSkip.split(',').map((x) => x.trim()).filter(Boolean));
  // Scale-out (src/cluster): with WHARF_REDIS_URL, cache invalidation and login limits span replicas.
  const coordination = cfg.redisUrl ? createCoordination(cfg.redisUrl, logger) : null;
  const limiterOpts = { maxFailures: cfg.loginMaxFailures, maxFailuresPerIp: cfg.loginMaxFailuresPerIp, windowMs: 300_000, lockMs: cfg.loginLockoutSeconds * 1000 };
  const newIdentity = new Identity(identityStore, {
    signer: await TokenSigner.loadShared(store.db, path.join(cfg.dataDir, 'keys'), logger),
    service: cfg.tokenService,
    tokenTtlSec: cfg.tokenTtlSeconds,
    limiter: coordination ? coordination.limiter(limiterOpts) : new LoginLimiter(limiterOpts),
    bus: coordination ? coordination.authBus(clusterBus()) : clusterBus(),
    logger,
    onLogin: (username, ok, ip) => {
      audit.record({ username, operation: ok ? 'login' : 'login_failed', resourceType: 'user', resource: username, projectId: null, clientIp: ip ?? null, success: ok });
      if (!ok) logger.info('failed login', { username, ip });
    },
  });
  const identity = coordination ? coordination.guardIdentity(newIdentity) : newIdentity;
  // Policy checks on pushes and deletes (the management API runs them before its own deletes).
  registry.addGuard(new ImmutabilityGuard(store, immutableRules(store), (repo) => identity.projectOfRepository(repo)));
  registry.addGuard(new QuotaGuard(new QuotaStore(store)));
  jobs.register(retentionJob({ store, registry, projects: identityStore, audit }));
  const pulls = new PullTracker(store, logger);
  // Scanning (src/scanner): scan jobs, stored reports, vulnerability-database updates, scan on push.
  const scans = new ScanService({ store, driver, jobs, dataDir: cfg.dataDir, databaseUrl: cfg.databaseUrl, logger, maxMemoryMb: cfg.scanMaxMemoryMb, timeoutMinutes: cfg.scanTimeoutMinutes });
  jobs.register(scans.handler());
  await registerVulnDbJobs(jobs, store, {
    cron: cfg.vulnDbUpdateCron === 'off' ? null : cfg.vulnDbUpdateCron,
    afterUpdate: async (log, signal) => ({ ...(await rematchStoredReports(store, new VulnDb(store), { log, signal })) }),
  });
  const onManifestPush = (repo: string, digest: string, project: { id: number } | null) => {
    if (!project) return;
    void (async () => {
      const p = await identityStore.getProject(project.id);
      if (p?.metadata.auto_scan === 'true') await scans.request(repo, digest, `project:${p.id}`);
    })().catch((e) => logger.warn('scan on push failed to start', { repo, digest, error: String(e) }));
  };
  const api = buildApi({ identity, audit, logger, store, registry, config: cfg, jobs, scans, redis: coordination ? () => coordination.status() : undefined });
  const app = buildApp({ registry, logger, identity, audit, api, externalUrl: cfg.externalUrl || undefined, sessionTtlMs: cfg.sessionTtlMinutes * 60_000, onManifestPull: (repo, digest) => pulls.record(repo, digest), onManifestPush });
  const housekeeping = setInterval(() => {
    identityStore.purgeSessions().catch((e) => logger.warn('session purge failed', { error: String(e) }));
    if (cfg.auditRetentionDays > 0) identityStore.purgeAudit(Date.now() - cfg.auditRetentionDays * 86_400_000).catch((e) => logger.warn('audit purge failed', { error: String(e) }));
  }, 3600_000);
  housekeeping.unref();
  await jobs.ensureSchedule(PURGE_UPLOADS, 'system', PURGE_UPLOADS_CRON);
  if (opts.cleanTmp !== false) await cleanTmp(cfg);
  jobs.start();
  return {
    app,
    store,
    identity,
    logger,
    jobs,
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
      await jobs.close();
      clearInterval(housekeeping);
      await new Promise<void>((r) => {
        app.server.close(() => r());
        app.server.closeIdleConnections();
        setTimeout(() => app.server.closeAllConnections(), 5000).unref();
      });
      await audit.flush();
      await pulls.close();
      await coordination?.close();
      await store.close();
    },
  };
}

/** Remove temp files of monolithic writes interrupted by a crash. */
export async function cleanTmp(cfg: Config): Promise<void> {
  const driver = await openBlobDriver(cfg);
  // Shared storage (S3): other replicas may be writing tmp/ right now, so only what is an hour old goes.
  if ('deleteOlderThan' in driver) await (driver as { deleteOlderThan(p: string, ageMs: number): Promise<number> }).deleteOlderThan('tmp', 3_600_000);
  else await driver.delete('tmp');
}
