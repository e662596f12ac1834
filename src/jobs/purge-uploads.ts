// Job kind 'purge_uploads': remove upload sessions abandoned for longer than a maximum age (and
// their data). Scheduled hourly in scope 'system' by main.ts; can also be enqueued by hand with
// {maxAgeHours} to override the configured age. Idempotent: a rerun purges what is left.
import { purgeUploads } from '../distribution/upload-purge.ts';
import type { Logger } from '../logger.ts';
import type { MetadataStore } from '../metadata/store.ts';
import type { BlobDriver } from '../storage/driver.ts';
import type { JobHandler } from './types.ts';

export const PURGE_UPLOADS = 'purge_uploads';
/** Every hour, on the hour (UTC). */
export const PURGE_UPLOADS_CRON = '0 * * * *';

export interface PurgeUploadsParams {
  /** override of the configured age, in hours */
  maxAgeHours?: number;
}

export interface PurgeUploadsDeps {
  store: MetadataStore;
  driver: BlobDriver;
  /** sessions untouched for longer than this are purged (unless the job's maxAgeHours says otherwise) */
  maxAgeMs: number;
  logger: Logger;
  /** called for each purged session (the registry forgets its in-memory state) */
  onPurged?: (id: string) => void;
}

export function purgeUploadsHandler(deps: PurgeUploadsDeps): JobHandler<PurgeUploadsParams> {
  return {
    kind: PURGE_UPLOADS,
    exclusive: true,
    maxAttempts: 3,
    validate(params) {
      const out: PurgeUploadsParams = {};
      for (const k of Object.keys(params)) if (k !== 'maxAgeHours') throw new Error(`unknown parameter ${k} (purge_uploads takes maxAgeHours)`);
      if (params.maxAgeHours !== undefined) {
        const h = params.maxAgeHours;
        if (typeof h !== 'number' || !Number.isFinite(h) || h < 0) throw new Error('maxAgeHours must be a number of hours >= 0');
        out.maxAgeHours = h;
      }
      return out;
    },
    async run(ctx) {
      const maxAgeMs = ctx.params.maxAgeHours !== undefined ? ctx.params.maxAgeHours * 3600_000 : deps.maxAgeMs;
      ctx.log(`purging upload sessions untouched for ${Math.round((maxAgeMs / 3600_000) * 100) / 100} h`);
      let purged = 0;
      const n = await purgeUploads(
        deps.store,
        deps.driver,
        maxAgeMs,
        deps.logger,
        (id) => {
          purged++;
          deps.onPurged?.(id);
          ctx.progress({ purged });
        },
        ctx.signal,
      );
      ctx.log(`purged ${n} upload session${n === 1 ? '' : 's'}`);
      return { purged: n };
    },
  };
}
