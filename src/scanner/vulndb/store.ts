// The vulnerability database in the metadata database (tables vulndb_sources, vulndb_advisories;
// migration 0006_vulndb), on SQLite and PostgreSQL alike. Importing a source replaces all of its
// rows in one transaction: an import that fails or is aborted half-way changes nothing.
import type { MetadataStore } from '../../metadata/store.ts';
import type { Severity } from '../types.ts';
import type { AdvisoryRecord, Affected } from './types.ts';

export interface VulnSource {
  id: number;
  name: string;
  /** the detected format, "mixed" for a directory of several; null before a first import */
  format: string | null;
  /** the file, directory or URL imported last */
  location: string | null;
  /** http(s) URL `update` refreshes; null for a file source */
  url: string | null;
  /** input advisories of the last import */
  records: number;
  /** rows (advisory × package × namespace) stored */
  rows: number;
  /** malformed input records skipped by the last import */
  skipped: number;
  etag: string | null;
  lastModified: string | null;
  lastError: string | null;
  /** last successful import (epoch ms) */
  importedAt: number | null;
  /** last update attempt, successful or not, including 304 Not Modified */
  checkedAt: number | null;
  createdAt: number;
}

/** An advisory row read back, with the name of its source. */
export interface StoredAdvisory extends AdvisoryRecord {
  source: string;
}

export interface ReplaceInfo {
  format: string;
  location: string;
  url?: string | null;
  etag?: string | null;
  lastModified?: string | null;
}

/** The query API the matcher needs (VulnDb implements it; tests may stub it). */
export interface AdvisoryQuery {
  /** every advisory of `namespace` for any of `packages` (package keys as stored), all sources */
  advisoriesFor(namespace: string, packages: string[]): Promise<StoredAdvisory[]>;
}

const INSERT_BATCH = 400;
const QUERY_BATCH = 500;

export class VulnDb implements AdvisoryQuery {
  constructor(readonly meta: MetadataStore) {}

  private get db() {
    return this.meta.db;
  }

  private static toSource(r: any): VulnSource {
    const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    return {
      id: Number(r.id),
      name: r.name,
      format: r.format ?? null,
      location: r.location ?? null,
      url: r.url ?? null,
      records: Number(r.record_count ?? 0),
      rows: Number(r.row_count ?? 0),
      skipped: Number(r.skipped_count ?? 0),
      etag: r.etag ?? null,
      lastModified: r.last_modified ?? null,
      lastError: r.last_error ?? null,
      importedAt: n(r.imported_at),
      checkedAt: n(r.checked_at),
      createdAt: Number(r.created_at),
    };
  }

  async listSources(): Promise<VulnSource[]> {
    const rows = await this.db.selectFrom('vulndb_sources').selectAll().orderBy('name').execute();
    return rows.map(VulnDb.toSource);
  }

  async getSource(name: string): Promise<VulnSource | null> {
    const r = await this.db.selectFrom('vulndb_sources').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? VulnDb.toSource(r) : null;
  }

  /** Register a URL source (no rows yet) or change its URL; returns it. */
  async ensureUrlSource(name: string, url: string): Promise<VulnSource> {
    await this.meta.writeTx(async (trx) => {
      const r = await trx.selectFrom('vulndb_sources').select(['id', 'url']).where('name', '=', name).executeTakeFirst();
      if (!r) await trx.insertInto('vulndb_sources').values({ name, url, location: url, format: null, etag: null, last_modified: null, last_error: null, imported_at: null, checked_at: null, created_at: Date.now() }).execute();
      else if (r.url !== url) await trx.updateTable('vulndb_sources').set({ url, location: url, etag: null, last_modified: null }).where('id', '=', r.id).execute();
    });
    return (await this.getSource(name))!;
  }

  /** Delete a source and its advisories; false if there was none. */
  async removeSource(name: string): Promise<boolean> {
    const r = await this.meta.writeTx(async (trx) => {
      const s = await trx.selectFrom('vulndb_sources').select('id').where('name', '=', name).executeTakeFirst();
      if (!s) return false;
      await trx.deleteFrom('vulndb_advisories').where('source_id', '=', s.id).execute();
      await trx.deleteFrom('vulndb_sources').where('id', '=', s.id).execute();
      return true;
    });
    return r;
  }

  /** Record an update attempt that did not replace the rows (304, or an error). */
  async noteCheck(name: string, note: { error?: string | null; etag?: string | null; lastModified?: string | null }): Promise<void> {
    const set: Record<string, unknown> = { checked_at: Date.now(), last_error: note.error ?? null };
    if (note.etag !== undefined) set.etag = note.etag;
    if (note.lastModified !== undefined) set.last_modified = note.lastModified;
    await this.db.updateTable('vulndb_sources').set(set).where('name', '=', name).execute();
  }

  /**
   * Replace every row of source `name` (created when new) with `records`, in ONE transaction.
   * `records` is consumed inside the transaction: when it throws (a parse error, `signal`
   * aborted) the transaction rolls back and the database is as before. `counts` is read at the
   * end for the source's record/skipped figures.
   */
  async replaceSource(
    name: string,
    info: ReplaceInfo,
    records: AsyncIterable<AdvisoryRecord> | Iterable<AdvisoryRecord>,
    opts: { signal?: AbortSignal; counts?: () => { records: number; skipped: number } } = {},
  ): Promise<VulnSource> {
    const now = Date.now();
    await this.meta.writeTx(async (trx) => {
      let src = await trx.selectFrom('vulndb_sources').select('id').where('name', '=', name).executeTakeFirst();
      if (!src) {
        src = await trx
          .insertInto('vulndb_sources')
          .values({ name, url: info.url ?? null, location: info.location, format: info.format, etag: null, last_modified: null, last_error: null, imported_at: null, checked_at: null, created_at: now })
          .returning('id')
          .executeTakeFirstOrThrow();
      }
      const sourceId = Number(src.id);
      await trx.deleteFrom('vulndb_advisories').where('source_id', '=', sourceId).execute();
      let batch: any[] = [];
      let rows = 0;
      const flush = async () => {
        if (batch.length === 0) return;
        opts.signal?.throwIfAborted();
        await trx.insertInto('vulndb_advisories').values(batch).execute();
        rows += batch.length;
        batch = [];
      };
      for await (const r of records as AsyncIterable<AdvisoryRecord>) {
        batch.push({
          source_id: sourceId,
          namespace: r.namespace,
          package: r.package,
          advisory_id: r.advisoryId,
          aliases: JSON.stringify(r.aliases),
          affected: JSON.stringify(r.affected),
          severity: r.severity,
          cvss_score: r.cvssScore ?? null,
          cvss_vector: r.cvssVector ?? null,
          summary: r.summary ?? null,
          url: r.url ?? null,
          published: r.published ?? null,
          modified: r.modified ?? null,
        });
        if (batch.length >= INSERT_BATCH) await flush();
      }
      await flush();
      opts.signal?.throwIfAborted();
      const c = opts.counts?.() ?? { records: rows, skipped: 0 };
      await trx
        .updateTable('vulndb_sources')
        .set({
          format: info.format,
          location: info.location,
          ...(info.url !== undefined ? { url: info.url } : {}),
          record_count: c.records,
          row_count: rows,
          skipped_count: c.skipped,
          etag: info.etag ?? null,
          last_modified: info.lastModified ?? null,
          last_error: null,
          imported_at: now,
          checked_at: now,
        })
        .where('id', '=', sourceId)
        .execute();
    });
    return (await this.getSource(name))!;
  }

  async advisoriesFor(namespace: string, packages: string[]): Promise<StoredAdvisory[]> {
    const names = [...new Set(packages)];
    const out: StoredAdvisory[] = [];
    for (let i = 0; i < names.length; i += QUERY_BATCH) {
      const chunk = names.slice(i, i + QUERY_BATCH);
      const rows = await this.db
        .selectFrom('vulndb_advisories as a')
        .innerJoin('vulndb_sources as s', 's.id', 'a.source_id')
        .select(['s.name as source', 'a.namespace', 'a.package', 'a.advisory_id', 'a.aliases', 'a.affected', 'a.severity', 'a.cvss_score', 'a.cvss_vector', 'a.summary', 'a.url', 'a.published', 'a.modified'])
        .where('a.namespace', '=', namespace)
        .where('a.package', 'in', chunk)
        .orderBy('s.name')
        .orderBy('a.id')
        .execute();
      for (const r of rows) {
        out.push({
          source: r.source,
          namespace: r.namespace,
          package: r.package,
          advisoryId: r.advisory_id,
          aliases: JSON.parse(r.aliases) as string[],
          affected: JSON.parse(r.affected) as Affected,
          severity: r.severity as Severity,
          ...(r.cvss_score !== null && r.cvss_score !== undefined ? { cvssScore: Number(r.cvss_score) } : {}),
          ...(r.cvss_vector ? { cvssVector: r.cvss_vector } : {}),
          ...(r.summary ? { summary: r.summary } : {}),
          ...(r.url ? { url: r.url } : {}),
          ...(r.published ? { published: r.published } : {}),
          ...(r.modified ? { modified: r.modified } : {}),
        });
      }
    }
    return out;
  }

  /** Row counts per namespace (status output, tests). */
  async namespaces(): Promise<{ source: string; namespace: string; rows: number }[]> {
    const rows = await this.db
      .selectFrom('vulndb_advisories as a')
      .innerJoin('vulndb_sources as s', 's.id', 'a.source_id')
      .select(['s.name as source', 'a.namespace', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy(['s.name', 'a.namespace'])
      .orderBy('s.name')
      .orderBy('a.namespace')
      .execute();
    return rows.map((r) => ({ source: r.source, namespace: r.namespace, rows: Number(r.n) }));
  }
}
