// Helpers for the GC tests against a real Wharf process: an admin HTTP client that pushes images
// (retrying the errors a concurrent GC may cause, as real clients do), the GC API, and direct
// looks at the data dir (blob files, SQLite rows) to check what GC left behind.
import { createHash, randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { req } from '../helpers/raw-http.ts';
import type { RunningRegistry } from '../helpers/servers.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Image {
  config: Buffer;
  layers: Buffer[];
  manifest: Buffer;
  digest: string;
  blobs: { digest: string; data: Buffer }[];
}

export function makeImage(layers: Buffer[], label: string): Image {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l)) }, config: { Labels: { l: label } } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: sha256(l), size: l.length })),
    }),
  );
  return { config, layers, manifest, digest: sha256(manifest), blobs: [...layers, config].map((data) => ({ digest: sha256(data), data })) };
}

export interface PushStats {
  /** blob commits refused with "garbage-collected during the upload; retry" */
  gcRetries: number;
  /** manifest PUTs refused with MANIFEST_BLOB_UNKNOWN (a link removed by GC with time_window 0) */
  manifestRetries: number;
  mounts: number;
}

export class Client {
  readonly stats: PushStats = { gcRetries: 0, manifestRetries: 0, mounts: 0 };
  constructor(readonly reg: Pick<RunningRegistry, 'url' | 'admin'>) {}

  r(method: string, p: string, headers: Record<string, string | number> = {}, body?: Buffer | string) {
    return req({ url: this.reg.url, admin: this.reg.admin }, method, p, headers, body);
  }

  /** Monolithic upload (POST ?digest=), retried when GC deleted the bytes before the commit. */
  async pushBlob(repo: string, data: Buffer, from?: string): Promise<string> {
    const d = sha256(data);
    if (from) {
      const m = await this.r('POST', `/v2/${repo}/blobs/uploads/?mount=${d}&from=${from}`);
      if (m.status === 201) {
        this.stats.mounts++;
        return d;
      }
    }
    for (let attempt = 0; ; attempt++) {
      const r = await this.r('POST', `/v2/${repo}/blobs/uploads/?digest=${d}`, { 'Content-Type': 'application/octet-stream' }, data);
      if (r.status === 201) return d;
      const text = r.body.toString();
      if (r.status === 400 && text.includes('garbage-collected') && attempt < 50) {
        this.stats.gcRetries++;
        continue;
      }
      throw new Error(`push blob ${repo}@${d}: ${r.status} ${text}`);
    }
  }

  /** Blobs (in parallel), then the manifest; a MANIFEST_BLOB_UNKNOWN (GC removed a link meanwhile) re-pushes the blobs. */
  async pushImage(repo: string, tag: string, img: Image, from?: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      await Promise.all(img.blobs.map((b) => this.pushBlob(repo, b.data, from)));
      const r = await this.r('PUT', `/v2/${repo}/manifests/${tag}`, { 'Content-Type': OCI_MANIFEST }, img.manifest);
      if (r.status === 201) return;
      const text = r.body.toString();
      if (r.status === 400 && text.includes('MANIFEST_BLOB_UNKNOWN') && attempt < 50) {
        this.stats.manifestRetries++;
        from = undefined;
        continue;
      }
      throw new Error(`push manifest ${repo}:${tag}: ${r.status} ${text}`);
    }
  }

  async deleteManifest(repo: string, digest: string): Promise<void> {
    const r = await this.r('DELETE', `/v2/${repo}/manifests/${digest}`);
    if (r.status !== 202) throw new Error(`DELETE ${repo}@${digest}: ${r.status} ${r.body.toString()}`);
  }

  /** Every tag of every repository resolves, and every blob it names downloads and hashes to its digest. */
  async verifyAllPullable(prefix = ''): Promise<{ tags: number; blobs: number; problems: string[] }> {
    const problems: string[] = [];
    let tags = 0;
    let blobs = 0;
    const repos = (await this.r('GET', '/v2/_catalog?n=10000')).json().repositories as string[];
    for (const repo of repos.filter((r) => r.startsWith(prefix))) {
      const tl = await this.r('GET', `/v2/${repo}/tags/list`);
      if (tl.status !== 200) continue;
      for (const tag of (tl.json().tags ?? []) as string[]) {
        tags++;
        const m = await this.r('GET', `/v2/${repo}/manifests/${tag}`, { Accept: OCI_MANIFEST });
        if (m.status !== 200) {
          problems.push(`${repo}:${tag} manifest ${m.status}`);
          continue;
        }
        const doc = JSON.parse(m.body.toString());
        for (const b of [doc.config, ...doc.layers]) {
          const g = await this.r('GET', `/v2/${repo}/blobs/${b.digest}`);
          blobs++;
          if (g.status !== 200) problems.push(`${repo}:${tag} blob ${b.digest} ${g.status} ${g.body.toString().slice(0, 200)}`);
          else if (sha256(g.body) !== b.digest || g.body.length !== b.size) problems.push(`${repo}:${tag} blob ${b.digest} content differs`);
        }
      }
    }
    return { tags, blobs, problems };
  }

  // ---- the GC API ----

  /** POST /system/gc/schedule {type: Manual}: the new GC's id (waits while another one runs). */
  async startGc(parameters: Record<string, unknown>): Promise<number> {
    for (let i = 0; ; i++) {
      const r = await this.r('POST', '/api/v2.0/system/gc/schedule', { 'Content-Type': 'application/json' }, JSON.stringify({ schedule: { type: 'Manual' }, parameters }));
      if (r.status === 201) {
        const m = /\/api\/v2\.0\/system\/gc\/(\d+)$/.exec(String(r.headers.location));
        if (!m) throw new Error(`POST gc: Location ${r.headers.location}`);
        return Number(m[1]);
      }
      if (r.status === 409 && i < 600) {
        await sleep(100);
        continue;
      }
      throw new Error(`POST /system/gc/schedule: ${r.status} ${r.body.toString()}`);
    }
  }

  async gc(id: number): Promise<any> {
    const r = await this.r('GET', `/api/v2.0/system/gc/${id}`);
    if (r.status !== 200) throw new Error(`GET gc ${id}: ${r.status} ${r.body.toString()}`);
    return r.json();
  }

  async gcLog(id: number): Promise<string> {
    const r = await this.r('GET', `/api/v2.0/system/gc/${id}/log`);
    if (r.status !== 200) throw new Error(`GET gc ${id} log: ${r.status} ${r.body.toString()}`);
    return r.body.toString();
  }

  async waitGc(id: number, timeoutMs = 120_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const g = await this.gc(id);
      if (['Success', 'Error', 'Stopped'].includes(g.job_status)) return g;
      if (Date.now() > deadline) throw new Error(`GC ${id} still ${g.job_status} after ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** Run a GC to the end; its history entry and log. */
  async runGc(parameters: Record<string, unknown>): Promise<{ id: number; gc: any; log: string }> {
    const id = await this.startGc(parameters);
    const gc = await this.waitGc(id);
    if (gc.job_status !== 'Success') throw new Error(`GC ${id}: ${gc.job_status} ${gc.error ?? ''}\n${await this.gcLog(id)}`);
    return { id, gc, log: await this.gcLog(id) };
  }
}

/** The per-item lines of a GC log, without timestamps and verbs (what a dry run and a real run must agree on). */
export function deletedItems(log: string): string[] {
  return log
    .split('\n')
    .map((l) => l.replace(/^\S+ \[\w+\] /, ''))
    .filter((l) => /^(would delete|deleted) (manifest|link|blob|orphan) /.test(l))
    .map((l) => l.replace(/^(would delete|deleted) /, ''))
    .sort();
}

/** Digests of the blob files in a data dir. */
export async function blobFiles(dataDir: string): Promise<Set<string>> {
  const out = new Set<string>();
  const root = path.join(dataDir, 'storage', 'blobs');
  for (const alg of await readdir(root).catch(() => [] as string[])) {
    for (const pre of await readdir(path.join(root, alg)).catch(() => [] as string[])) {
      for (const f of await readdir(path.join(root, alg, pre)).catch(() => [] as string[])) if (!f.startsWith('.')) out.add(`${alg}:${f}`);
    }
  }
  return out;
}

export async function fileExists(dataDir: string, digest: string): Promise<boolean> {
  const [alg, hex] = digest.split(':');
  return stat(path.join(dataDir, 'storage', 'blobs', alg, hex.slice(0, 2), hex)).then(
    () => true,
    () => false,
  );
}

/** The SQLite database of a data dir (read/write; WAL makes it safe next to the server). */
export function openDb(dataDir: string): Database.Database {
  const db = new Database(path.join(dataDir, 'wharf.db'));
  db.pragma('busy_timeout = 10000');
  return db;
}

export function blobRows(db: Database.Database): Set<string> {
  return new Set((db.prepare('select digest from blobs').all() as { digest: string }[]).map((r) => r.digest));
}

/** Blobs rows nothing links or references (what a GC with time_window 0 must remove). */
export function unreferencedRows(db: Database.Database): string[] {
  return (
    db
      .prepare(
        'select digest from blobs b where not exists (select 1 from repository_blobs l where l.digest = b.digest) and not exists (select 1 from manifest_references x where x.ref_digest = b.digest)',
      )
      .all() as { digest: string }[]
  ).map((r) => r.digest);
}

/** Insert `n` old, unreferenced blob rows directly (a big GC workload without pushing). */
export function insertGarbageRows(db: Database.Database, n: number, ageMs = 3 * 3600_000): string[] {
  const t = Date.now() - ageMs;
  const ins = db.prepare('insert into blobs (digest, size, created_at) values (?, ?, ?)');
  const out: string[] = [];
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const d = `sha256:${randomBytes(32).toString('hex')}`;
      ins.run(d, 1000 + i, t);
      out.push(d);
    }
  })();
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Blob rows as the database sees them, for a data dir's SQLite or a PostgreSQL schema. */
export interface DbView {
  rows(): Promise<Set<string>>;
  unreferenced(): Promise<string[]>;
  close(): Promise<void>;
}

const UNREFERENCED =
  'select digest from blobs b where not exists (select 1 from repository_blobs l where l.digest = b.digest) and not exists (select 1 from manifest_references x where x.ref_digest = b.digest)';

export function sqliteView(dataDir: string): DbView {
  const db = openDb(dataDir);
  return {
    rows: async () => blobRows(db),
    unreferenced: async () => unreferencedRows(db),
    close: async () => void db.close(),
  };
}

export async function pgView(url: string, schema: string): Promise<DbView> {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await c.connect();
  return {
    rows: async () => new Set((await c.query('select digest from blobs')).rows.map((r: { digest: string }) => r.digest)),
    unreferenced: async () => (await c.query(UNREFERENCED)).rows.map((r: { digest: string }) => r.digest),
    close: async () => c.end(),
  };
}

export async function dropPgSchema(url: string, schema: string): Promise<void> {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
}
