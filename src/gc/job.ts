// The 'gc' job (exclusive in scope 'system'): Harbor's parameters, validated and normalised, and a
// handler that runs src/gc/gc.ts with the job's stop signal, log and progress. A run that dies
// with its process is simply run again by the job system (the lease expires): GC is idempotent.
import type { MetadataStore } from '../metadata/store.ts';
import type { BlobDriver } from '../storage/driver.ts';
import type { JobHandler, JobService } from '../jobs/types.ts';
import { GC_DEFAULTS, runGc, type GcParams } from './gc.ts';

export const GC_JOB = 'gc';
export const GC_SCOPE = 'system';

/** The job's parameters, under Harbor's names. */
export interface GcJobParams {
  delete_untagged: boolean;
  dry_run: boolean;
  /** hours; 0 = no protection window */
  time_window: number;
  /** 1–5 */
  workers: number;
}

const KEYS = ['delete_untagged', 'dry_run', 'time_window', 'workers'];

/** Validate Harbor's GC parameters (missing ones take the defaults); throws Error with a clear message. */
export function validateGcParams(raw: Record<string, unknown> | null | undefined): GcJobParams {
  const p = raw ?? {};
  if (typeof p !== 'object' || Array.isArray(p)) throw new Error('GC parameters must be an object');
  for (const k of Object.keys(p)) if (!KEYS.includes(k)) throw new Error(`unknown GC parameter ${k} (supported: ${KEYS.join(', ')})`);
  const bool = (k: string, d: boolean): boolean => {
    const v = p[k];
    if (v === undefined || v === null) return d;
    if (typeof v !== 'boolean') throw new Error(`${k} must be true or false`);
    return v;
  };
  let time = GC_DEFAULTS.timeWindowHours;
  if (p.time_window !== undefined && p.time_window !== null) {
    const v = p.time_window;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 87_600) throw new Error('time_window must be a number of hours from 0 (no protection) to 87600');
    time = v;
  }
  let workers = GC_DEFAULTS.workers;
  if (p.workers !== undefined && p.workers !== null) {
    const v = p.workers;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 5) throw new Error('workers must be an integer from 1 to 5');
    workers = v;
  }
  return { delete_untagged: bool('delete_untagged', GC_DEFAULTS.deleteUntagged), dry_run: bool('dry_run', GC_DEFAULTS.dryRun), time_window: time, workers };
}

export function toGcParams(p: GcJobParams): GcParams {
  return { deleteUntagged: p.delete_untagged, dryRun: p.dry_run, timeWindowHours: p.time_window, workers: p.workers };
}

export interface GcJobDeps {
  store: MetadataStore;
  driver: BlobDriver;
}

export function gcJobHandler(deps: GcJobDeps): JobHandler<GcJobParams> {
  return {
    kind: GC_JOB,
    exclusive: true,
    maxAttempts: 3,
    validate: (params) => validateGcParams(params),
    async run(ctx) {
      const r = await runGc(deps.store, deps.driver, toGcParams(validateGcParams(ctx.params as unknown as Record<string, unknown>)), {
        signal: ctx.signal,
        // the job log keeps 10,000 lines per attempt: list up to 2,000 items of each kind, so the
        // phase summaries and the final line always fit
        listLimit: 2000,
        log: (m, level) => ctx.log(m, level),
        progress: (p) => ctx.progress({ ...p }),
      });
      return { ...r };
    },
  };
}

/** Register the 'gc' handler with a process's job service (main.ts; the API reaches it as ApiServices.jobs). */
export function registerGcJob(jobs: JobService, deps: GcJobDeps): void {
  jobs.register(gcJobHandler(deps));
}
