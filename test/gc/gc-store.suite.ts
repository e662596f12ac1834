// GC at the store level (mark, rescue, sweep, re-checks), one suite for SQLite and PostgreSQL.
// Files live in a real temp dir (FsBlobDriver); rows are made through MetadataStore as the
// registry would, then aged by SQL where a test needs "older than the window".
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { digestOf, parseDigest } from '../../src/oci/digest.ts';
import { BlobGarbageCollectedError, MissingReferencesError, type MetadataStore } from '../../src/metadata/store.ts';
import { FsBlobDriver } from '../../src/storage/fs-driver.ts';
import { pathFor } from '../../src/storage/paths.ts';
import { runGc, type GcParams, type GcResult } from '../../src/gc/gc.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const HOUR = 3600_000;

export interface GcEnv {
  store: MetadataStore;
  cleanup(): Promise<void>;
}

export function describeGcStore(name: string, make: () => Promise<GcEnv>) {
  describe(`GC store: ${name}`, () => {
    let s: MetadataStore;
    let cleanup: () => Promise<void>;
    let dir: string;
    let driver: FsBlobDriver;
    let n = 0;

    beforeAll(async () => {
      ({ store: s, cleanup } = await make());
      dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-gc-store-'));
      driver = new FsBlobDriver(dir);
      s.blobExists = async (d) => (await driver.stat(pathFor({ kind: 'blob', digest: parseDigest(d) }))) !== null;
    });
    afterAll(async () => {
      await cleanup();
      await rm(dir, { recursive: true, force: true });
    });

    const fileOf = (d: string) => pathFor({ kind: 'blob', digest: parseDigest(d) });
    const hasFile = async (d: string) => (await driver.stat(fileOf(d))) !== null;
    const hasRow = async (d: string) => (await s.getBlob(d)) !== null;
    const linked = async (repo: string, d: string) => (await s.getLinkedBlob(repo, d)) !== null;
    /** bytes into storage, then the commit (as RegistryService does) */
    const push = async (repoId: number, data: string) => {
      const d = digestOf(data);
      await driver.putContent(fileOf(d), Buffer.from(data));
      await s.commitBlob(repoId, d, data.length);
      return d;
    };
    const uniq = (p: string) => `${p}-${name}-${++n}-${Math.random()}`;
    /** make rows older than the window */
    const age = async (hours = 3) => {
      const t = Date.now() - hours * HOUR;
      await sql`update blobs set created_at = ${t}`.execute(s.db);
      await sql`update repository_blobs set created_at = ${t}`.execute(s.db);
      await sql`update manifests set created_at = ${t}`.execute(s.db);
    };
    const image = (config: string, layers: string[], extra: Record<string, unknown> = {}) => {
      const m = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 1 },
          layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l, size: 1 })),
          ...extra,
        }),
      );
      return { content: m, digest: digestOf(m) };
    };
    const putImage = async (repo: string, img: { content: Buffer; digest: string }, config: string, layers: string[], tag?: string, subject?: string) =>
      s.putManifest({
        repository: repo,
        digest: img.digest,
        mediaType: OCI_MANIFEST,
        artifactType: null,
        subjectDigest: subject ?? null,
        annotations: null,
        content: img.content,
        refs: [{ digest: config, kind: 'config', size: 1 }, ...layers.map((l) => ({ digest: l, kind: 'layer' as const, size: 1 })), ...(subject ? [{ digest: subject, kind: 'subject' as const, size: 1 }] : [])],
        tag,
      });
    const gc = (p: Partial<GcParams> = {}, extra: Parameters<typeof runGc>[3] = {}): Promise<GcResult & { lines: string[] }> => {
      const lines: string[] = [];
      return runGc(s, driver, { deleteUntagged: false, dryRun: false, timeWindowHours: 2, workers: 2, ...p }, { log: (m) => lines.push(m), ...extra }).then((r) => ({ ...r, lines }));
    };
    /** the per-item lines of a run, without the verb */
    const items = (r: { lines: string[] }) =>
      r.lines
        .filter((l) => /^(would delete|deleted) (manifest|link|blob|orphan) /.test(l))
        .map((l) => l.replace(/^(would delete|deleted) /, ''))
        .sort();

    it('collects exactly the unreferenced, unlinked, old content; a dry run reports the same first', async () => {
      const repo = await s.ensureRepository(uniq('gc/a'));
      const kept = await push(repo.id, uniq('layer'));
      const cfg = await push(repo.id, uniq('config'));
      const unusedUpload = await push(repo.id, uniq('unused'));
      const unlinked = await push(repo.id, uniq('unlinked'));
      await s.unlinkBlob(repo.id, unlinked);
      const img = image(cfg, [kept]);
      await putImage(repo.name, img, cfg, [kept], 'v1');
      // an orphan file (crash leftover), old, and one that is recent
      const orphan = digestOf(uniq('orphan'));
      await driver.putContent(fileOf(orphan), Buffer.from('orphan'));
      const old = new Date(Date.now() - 3 * HOUR);
      await utimes(path.join(dir, fileOf(orphan)), old, old);
      const freshOrphan = digestOf(uniq('fresh-orphan'));
      await driver.putContent(fileOf(freshOrphan), Buffer.from('fresh'));
      await age();
      // a recent upload is protected by the window
      const recent = await push(repo.id, uniq('recent'));

      const dry = await gc({ dryRun: true });
      expect(dry.dryRun).toBe(true);
      expect(dry.blobsDeleted).toBe(2);
      expect(dry.linksDeleted).toBe(1);
      expect(dry.orphanFiles).toBe(1);
      for (const d of [kept, cfg, unusedUpload, unlinked, recent, orphan, freshOrphan]) expect(await hasFile(d)).toBe(true);
      expect(await linked(repo.name, unusedUpload)).toBe(true);

      const real = await gc();
      expect(items(real)).toEqual(items(dry));
      expect({ ...real, ms: 0, lines: 0, dryRun: 0 }).toEqual({ ...dry, ms: 0, lines: 0, dryRun: 0 });
      for (const d of [unusedUpload, unlinked, orphan]) {
        expect(await hasFile(d), d).toBe(false);
        expect(await hasRow(d), d).toBe(false);
      }
      for (const d of [kept, cfg, recent]) {
        expect(await hasFile(d)).toBe(true);
        expect(await linked(repo.name, d)).toBe(true);
      }
      expect(await hasFile(freshOrphan)).toBe(true);
      // nothing is left marked
      expect(Number((await sql<{ n: number }>`select count(*) as n from blobs where gc_marked_at is not null`.execute(s.db)).rows[0].n)).toBe(0);
      const again = await gc();
      expect(again.blobsDeleted + again.linksDeleted + again.orphanFiles).toBe(0);
      await driver.delete(fileOf(freshOrphan));
    });

    it('a new reference during the run rescues a marked blob (commit, link/mount, manifest)', async () => {
      const a = await s.ensureRepository(uniq('gc/rescue-a'));
      const b = await s.ensureRepository(uniq('gc/rescue-b'));
      const viaCommit = await push(a.id, uniq('c'));
      const viaLink = await push(a.id, uniq('l'));
      const viaManifest = await push(a.id, uniq('m'));
      const cfg = await push(a.id, uniq('cfg'));
      // unlinked, so all of them are candidates; keep cfg linked by a tagged image later
      for (const d of [viaCommit, viaLink, viaManifest]) await s.unlinkBlob(a.id, d);
      await age();
      let rescued = false;
      const r = await gc(
        { timeWindowHours: 0 },
        {
          beforeSweep: async (digests) => {
            if (rescued) return;
            const marked = (await sql<{ digest: string }>`select digest from blobs where gc_marked_at is not null`.execute(s.db)).rows.map((x) => x.digest);
            expect(marked).toEqual(expect.arrayContaining([viaCommit, viaLink, viaManifest]));
            expect(digests).toEqual(expect.arrayContaining([viaCommit, viaLink, viaManifest]));
            rescued = true;
            await s.commitBlob(b.id, viaCommit, 1); // a push of the same bytes (its file is there)
            expect(await s.linkBlob(b.id, viaLink)).toBe(true); // a mount
            // a manifest: needs links in its repository, made while the blob is marked
            await s.linkBlob(b.id, viaManifest);
            await s.linkBlob(b.id, cfg);
            await putImage(b.name, image(cfg, [viaManifest]), cfg, [viaManifest], 'v1');
          },
        },
      );
      expect(rescued).toBe(true);
      for (const d of [viaCommit, viaLink, viaManifest, cfg]) {
        expect(await hasFile(d), d).toBe(true);
        expect(await linked(b.name, d), d).toBe(true);
      }
      expect(r.lines.join('\n')).not.toContain(viaCommit);
      const marks = (await sql<{ n: number }>`select count(*) as n from blobs where gc_marked_at is not null`.execute(s.db)).rows[0];
      expect(Number(marks.n)).toBe(0);
    });

    it('a commit whose bytes GC deleted fails alone with a retryable error; the retry succeeds', async () => {
      const repo = await s.ensureRepository(uniq('gc/race'));
      const victim = await push(repo.id, uniq('victim'));
      await s.unlinkBlob(repo.id, victim);
      await age();
      // The upload renamed the same bytes into place just before the GC deleted them …
      await driver.putContent(fileOf(victim), Buffer.from('x'));
      const r = await gc({ timeWindowHours: 0 });
      expect(r.blobsDeleted).toBeGreaterThanOrEqual(1);
      expect(await hasFile(victim)).toBe(false);
      // … so its commit (in a group with an unrelated one) must fail, the other must not.
      const other = digestOf(uniq('other'));
      await driver.putContent(fileOf(other), Buffer.from('o'));
      const [v, o] = await Promise.allSettled([s.commitBlob(repo.id, victim, 1), s.commitBlob(repo.id, other, 1)]);
      expect(v.status).toBe('rejected');
      expect((v as PromiseRejectedResult).reason).toBeInstanceOf(BlobGarbageCollectedError);
      expect(String((v as PromiseRejectedResult).reason.message)).toContain('garbage-collected');
      expect(o.status).toBe('fulfilled');
      expect(await hasRow(victim)).toBe(false);
      expect(await linked(repo.name, other)).toBe(true);
      // the client retries: uploads again, commits
      await driver.putContent(fileOf(victim), Buffer.from('x'));
      await s.commitBlob(repo.id, victim, 1);
      expect(await linked(repo.name, victim)).toBe(true);
    });

    it('a marked row whose file is gone (a run died mid-sweep) cannot be mounted, and the next run removes it', async () => {
      const repo = await s.ensureRepository(uniq('gc/zombie'));
      const other = await s.ensureRepository(uniq('gc/zombie-b'));
      const z = await push(repo.id, uniq('z'));
      await s.unlinkBlob(repo.id, z);
      await sql`update blobs set gc_marked_at = ${Date.now() - 1000} where digest = ${z}`.execute(s.db);
      await driver.delete(fileOf(z));
      expect(await s.linkBlob(other.id, z)).toBe(false);
      expect(await linked(other.name, z)).toBe(false);
      await age();
      const r = await gc();
      expect(r.lines.join('\n')).toContain(z);
      expect(await hasRow(z)).toBe(false);
    });

    it('delete_untagged: untagged images and indexes go (children with them), tagged ones, their children and referrers stay', async () => {
      const repo = await s.ensureRepository(uniq('gc/untagged'));
      const cfg = await push(repo.id, uniq('cfg'));
      const shared = await push(repo.id, uniq('shared'));
      const onlyUntagged = await push(repo.id, uniq('only-untagged'));
      const childLayer = await push(repo.id, uniq('child'));
      const tagged = image(cfg, [shared]);
      await putImage(repo.name, tagged, cfg, [shared], 'latest');
      const untagged = image(cfg, [shared, onlyUntagged]);
      await putImage(repo.name, untagged, cfg, [shared, onlyUntagged]);
      // an untagged index whose child is only referenced by it
      const child = image(cfg, [childLayer], { annotations: { c: '1' } });
      await putImage(repo.name, child, cfg, [childLayer]);
      const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: child.digest, size: child.content.length }] }));
      await s.putManifest({ repository: repo.name, digest: digestOf(idx), mediaType: OCI_INDEX, artifactType: null, subjectDigest: null, annotations: null, content: idx, refs: [{ digest: child.digest, kind: 'manifest', size: 1 }] });
      // a referrer (signature) of the tagged image: untagged, but its subject is alive
      const sig = image(cfg, [shared], { subject: { mediaType: OCI_MANIFEST, digest: tagged.digest, size: 1 } });
      await putImage(repo.name, sig, cfg, [shared], undefined, tagged.digest);
      await age();

      const dry = await gc({ deleteUntagged: true, dryRun: true });
      const real = await gc({ deleteUntagged: true });
      expect(items(real)).toEqual(items(dry));
      expect(real.manifestsDeleted).toBe(3);
      expect(real.blobsDeleted).toBe(2);
      expect(items(real)).toEqual(
        expect.arrayContaining([`manifest ${repo.name}@${untagged.digest}`, `manifest ${repo.name}@${digestOf(idx)}`, `manifest ${repo.name}@${child.digest}`]),
      );
      expect(await s.getManifestByDigest(repo.name, tagged.digest)).not.toBeNull();
      expect(await s.getManifestByDigest(repo.name, sig.digest)).not.toBeNull();
      expect(await s.getManifestByDigest(repo.name, untagged.digest)).toBeNull();
      for (const d of [onlyUntagged, childLayer]) {
        expect(await hasFile(d)).toBe(false);
        expect(await hasRow(d)).toBe(false);
      }
      for (const d of [cfg, shared]) expect(await linked(repo.name, d)).toBe(true);
    });

    it('links: small repositories grouped, a big one in digest ranges; dry run and real run agree', async () => {
      const big = await s.ensureRepository(uniq('gc/big'));
      const smalls = await Promise.all([0, 1, 2].map((i) => s.ensureRepository(uniq(`gc/small${i}`))));
      const cfg = await push(big.id, uniq('cfg'));
      const used: string[] = [];
      for (let i = 0; i < 20; i++) used.push(await push(big.id, uniq('used')));
      const unused: string[] = [];
      for (let i = 0; i < 15; i++) unused.push(await push(big.id, uniq('unused')));
      await putImage(big.name, image(cfg, used), cfg, used, 'v1');
      for (const r of smalls) {
        const c2 = await push(r.id, uniq('cfg'));
        const l = await push(r.id, uniq('l'));
        await push(r.id, uniq('unused-small'));
        await s.linkBlob(r.id, used[0]); // a layer the repository links but does not use
        await putImage(r.name, image(c2, [l]), c2, [l], 'v1');
      }
      await age();
      const dry = await gc({ timeWindowHours: 1, dryRun: true }, { linkGroup: 7 });
      const real = await gc({ timeWindowHours: 1 }, { linkGroup: 7 });
      expect(items(real)).toEqual(items(dry));
      expect(real.linksDeleted).toBe(15 + 3 * 2);
      expect(real.blobsDeleted).toBe(15 + 3);
      for (const d of unused) expect(await hasRow(d)).toBe(false);
      for (const d of [cfg, ...used]) expect(await linked(big.name, d)).toBe(true);
      for (const r of smalls) expect(await linked(r.name, used[0])).toBe(false);
    });

    it.runIf(name === 'postgres')('PostgreSQL: a link GC wants to delete waits for a manifest that is being stored with it, then is kept', async () => {
      const repo = await s.ensureRepository(uniq('gc/pg-link'));
      const cfg = await push(repo.id, uniq('cfg'));
      const layer = await push(repo.id, uniq('layer'));
      const other = image(cfg, [], { annotations: { other: '1' } });
      await putImage(repo.name, other, cfg, [], 't');
      await age();
      let gcRun: Promise<unknown> | undefined;
      let stored: Promise<unknown> | undefined;
      // Hold the tag row, so the manifest's transaction stops at its tag upsert: after it has
      // share-locked its links and inserted its references, before it commits.
      await s.db.connection().execute(async (conn) => {
        await sql`begin`.execute(conn);
        await sql`select * from tags where repository_id = ${repo.id} and name = 't' for update`.execute(conn);
        stored = putImage(repo.name, image(cfg, [layer]), cfg, [layer], 't');
        await new Promise((r) => setTimeout(r, 300));
        gcRun = gc({ timeWindowHours: 0 }); // its link deletion must wait for the manifest
        await new Promise((r) => setTimeout(r, 500));
        await sql`commit`.execute(conn);
      });
      await stored;
      await gcRun;
      expect(await linked(repo.name, layer)).toBe(true);
      expect(await hasFile(layer)).toBe(true);
      expect((await s.getManifestByTag(repo.name, 't'))?.digest).toBe(image(cfg, [layer]).digest);
    });

    it('a stop request ends the run between batches', async () => {
      const repo = await s.ensureRepository(uniq('gc/stop'));
      for (let i = 0; i < 30; i++) await s.unlinkBlob(repo.id, await push(repo.id, uniq('s')));
      await age();
      const ac = new AbortController();
      let batches = 0;
      const r = await gc(
        { timeWindowHours: 0 },
        {
          markBatch: 5,
          sweepBatch: 5,
          beforeSweep: () => {
            if (++batches === 2) ac.abort();
          },
          signal: ac.signal,
        },
      );
      expect(r.stopped).toBe(true);
      expect(r.blobsDeleted).toBeLessThan(30);
      const rest = await gc({ timeWindowHours: 0 });
      expect(rest.stopped).toBe(false);
    });

    it('concurrent commits, mounts and manifests during repeated GC runs never leave a visible row without its file', async () => {
      const repos = await Promise.all([0, 1, 2].map((i) => s.ensureRepository(uniq(`gc/conc${i}`))));
      const pool = Array.from({ length: 40 }, (_, i) => uniq(`p${i}`));
      const imagePool = Array.from({ length: 12 }, (_, i) => uniq(`i${i}`));
      let stop = false;
      let retries = 0;
      let done = 0;
      const client = async (k: number) => {
        for (let i = 0; !stop; i++) {
          const repo = repos[(k + i) % repos.length];
          const data = pool[(k * 7 + i) % pool.length];
          const d = digestOf(data);
          for (let attempt = 0; ; attempt++) {
            try {
              if (i % 3 === 0 && (await s.linkBlob(repo.id, d))) break; // mount
              await driver.putContent(fileOf(d), Buffer.from(data));
              await s.commitBlob(repo.id, d, data.length);
              break;
            } catch (e) {
              if (!(e instanceof BlobGarbageCollectedError) || attempt > 20) throw e;
              retries++;
            }
          }
          if (i % 5 === 0) await s.unlinkBlob(repo.id, d); // make garbage
          done++;
        }
      };
      /** bytes in, then commit, retrying when GC deleted them meanwhile (as RegistryService and a client do) */
      const upload = async (repoId: number, data: string) => {
        for (let attempt = 0; ; attempt++) {
          try {
            await driver.putContent(fileOf(digestOf(data)), Buffer.from(data));
            await s.commitBlob(repoId, digestOf(data), data.length);
            return digestOf(data);
          } catch (e) {
            if (!(e instanceof BlobGarbageCollectedError) || attempt > 20) throw e;
            retries++;
          }
        }
      };
      let manifestRetries = 0;
      let untagged = 0;
      /** images: push, untag, re-tag the same manifest (racing GC's delete_untagged), push again */
      const imager = async (k: number) => {
        for (let i = 0; !stop; i++) {
          const repo = repos[(k + i) % repos.length];
          // their own blobs: the other clients unlink theirs (a user's blob DELETE, not GC)
          const cfg = imagePool[(k + i) % imagePool.length];
          const layers = [imagePool[(k + 2 * i + 1) % imagePool.length], imagePool[(k + 3 * i + 2) % imagePool.length]];
          const img = image(digestOf(cfg), layers.map((l) => digestOf(l)));
          for (let attempt = 0; ; attempt++) {
            const ds = [await upload(repo.id, cfg), ...(await Promise.all(layers.map((l) => upload(repo.id, l))))];
            try {
              await putImage(repo.name, img, ds[0], ds.slice(1), `t${k}`);
              if (i % 2 === 0) {
                await s.deleteTag(repo.id, `t${k}`);
                untagged++;
                await new Promise((r) => setTimeout(r, Math.random() * 20));
                await putImage(repo.name, img, ds[0], ds.slice(1), `t${k}`);
              }
              break;
            } catch (e) {
              if (!(e instanceof MissingReferencesError) || attempt > 20) throw e;
              manifestRetries++;
            }
          }
          done++;
        }
      };
      const clients = [...Array.from({ length: 4 }, (_, k) => client(k)), ...Array.from({ length: 3 }, (_, k) => imager(k))];
      let runs = 0;
      const t0 = Date.now();
      while (Date.now() - t0 < 4000 || runs < 10) {
        const run = () => gc({ timeWindowHours: 0, workers: 1 + (runs % 3), deleteUntagged: runs % 2 === 1 }, { markBatch: 7, sweepBatch: 3, linkGroup: 5 });
        // sometimes two runs at once (a server's and `wharf gc`)
        await (runs % 4 === 3 ? Promise.all([run(), run()]) : run());
        runs++;
      }
      stop = true;
      await Promise.all(clients);
      expect(done).toBeGreaterThan(50);
      // every linked blob has its file
      const rows = (await sql<{ digest: string }>`select distinct digest from repository_blobs`.execute(s.db)).rows;
      for (const r of rows) expect(await hasFile(r.digest), r.digest).toBe(true);
      // every manifest's config and layers are linked in its repository (so pullable), and every tag's manifest exists
      const broken = (
        await sql<{ repository_id: number; ref_digest: string }>`
          select x.repository_id, x.ref_digest from manifest_references x where x.ref_kind in ('config', 'layer')
            and not exists (select 1 from repository_blobs l where l.repository_id = x.repository_id and l.digest = x.ref_digest)`.execute(s.db)
      ).rows;
      expect(broken).toEqual([]);
      for (const r of repos) for (let k = 0; k < 3; k++) if (await s.tagDigest(r.id, `t${k}`)) expect(await s.getManifestByTag(r.name, `t${k}`)).not.toBeNull();
      // and a final run leaves only linked (or referenced) blobs
      await gc({ timeWindowHours: 0 });
      const left = (await sql<{ digest: string }>`select digest from blobs b where not exists (select 1 from repository_blobs l where l.digest = b.digest) and not exists (select 1 from manifest_references x where x.ref_digest = b.digest)`.execute(s.db)).rows;
      expect(left).toEqual([]);
      expect(runs).toBeGreaterThanOrEqual(10);
      console.log(`${name}: ${runs} GC runs, ${done} client ops (${untagged} untag/re-tag), ${retries} retryable commit failures, ${manifestRetries} manifest retries`);
    });
  });
}
