// The shared BlobDriver suite and S3-specific cases against s3rver (a local S3 in a child process, on a temp dir).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3rver, type RunningS3rver } from '../../test/scale/s3rver.ts';
import { describeBlobDriver } from './driver.suite.ts';
import { PathNotFoundError, type BlobDriver } from './driver.ts';
import { MIN_PART, planParts, S3BlobDriver } from './s3-driver.ts';

const MiB = 1024 * 1024;
const BUCKET = 'wharf-test';
let s3: RunningS3rver;
let endpoint: string;

beforeAll(async () => {
  s3 = await startS3rver([BUCKET]);
  endpoint = s3.endpoint;
});

afterAll(async () => {
  await s3?.stop();
});

function driver(prefix: string): S3BlobDriver {
  return new S3BlobDriver({ bucket: BUCKET, prefix, endpoint, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', forcePathStyle: true });
}

async function readAll(d: BlobDriver, p: string, range?: { start: number; end: number }): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of await d.reader(p, range)) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Record the commands a driver sends (name + body size where known). */
function spy(d: S3BlobDriver): { name: string; len?: number; part?: number }[] {
  const log: { name: string; len?: number; part?: number }[] = [];
  const send = d.client.send.bind(d.client);
  (d.client as { send: unknown }).send = (cmd: { constructor: { name: string }; input: { ContentLength?: number; CopySourceRange?: string; PartNumber?: number } }, ...rest: unknown[]) => {
    let len = cmd.input.ContentLength;
    const m = cmd.input.CopySourceRange?.match(/bytes=(\d+)-(\d+)/);
    if (m) len = Number(m[2]) - Number(m[1]) + 1;
    // only what succeeded (a refused UploadPartCopy is retried as an UploadPart)
    return (send as (...a: unknown[]) => Promise<unknown>)(cmd, ...rest).then((r) => {
      log.push({ name: cmd.constructor.name, len, part: cmd.input.PartNumber });
      return r;
    });
  };
  return log;
}

describeBlobDriver('s3 (s3rver)', async () => {
  const prefix = `suite-${randomUUID()}`;
  return { driver: driver(prefix), cleanup: async () => {} };
});

describe('S3BlobDriver specifics', () => {
  it('appends from two driver instances ("replicas") continue each other; stat sums the parts', async () => {
    const prefix = `rep-${randomUUID()}`;
    const a = driver(prefix);
    const b = driver(prefix);
    const chunks = [randomBytes(1000), randomBytes(300_000), randomBytes(9 * MiB + 5), randomBytes(1)];
    // a session starts as an empty plain object (like RegistryService.startUpload)
    const w0 = await a.writer('uploads/x');
    await w0.commit({ sync: false });
    for (let i = 0; i < chunks.length; i++) {
      const d = i % 2 === 0 ? a : b;
      const w = await d.writer('uploads/x', { append: true });
      expect(w.size).toBe(chunks.slice(0, i).reduce((n, c) => n + c.length, 0));
      await w.write(chunks[i]);
      await w.commit({ sync: false });
    }
    const all = Buffer.concat(chunks);
    expect((await b.stat('uploads/x'))?.size).toBe(all.length);
    expect((await readAll(a, 'uploads/x')).equals(all)).toBe(true);
    // the part objects are hidden from list
    expect(await a.list('uploads')).toEqual(['x']);
    // a cancelled append from the other replica rolls back
    const w = await b.writer('uploads/x', { append: true });
    await w.write(randomBytes(9 * MiB));
    await w.cancel();
    expect((await a.stat('uploads/x'))?.size).toBe(all.length);
    await a.delete('uploads');
    expect(await a.list('')).toEqual([]);
  });

  it('ranged reads spanning parts', async () => {
    const d = driver(`rng-${randomUUID()}`);
    const chunks = [randomBytes(100), randomBytes(5000), randomBytes(7), randomBytes(70_000)];
    for (const c of chunks) {
      const w = await d.writer('f', { append: true });
      await w.write(c);
      await w.commit();
    }
    const all = Buffer.concat(chunks);
    for (const [s, e] of [
      [0, all.length - 1],
      [50, 150],
      [99, 100],
      [100, 5099],
      [5099, 5107],
      [3, all.length - 3],
      [all.length - 1, all.length - 1],
      [5100, 5106],
    ]) {
      expect((await readAll(d, 'f', { start: s, end: e })).equals(all.subarray(s, e + 1)), `${s}-${e}`).toBe(true);
    }
    await d.delete('f');
  });

  it('move of a many-part file (parts < 5 MiB and larger) into one object: bytes and digest, every part but the last ≥ 5 MiB', async () => {
    const d = driver(`mv-${randomUUID()}`);
    const sizes = [0, 64 * 1024, 3 * MiB, 1 * MiB, 6 * MiB, 100, 2 * MiB + 3, 12 * MiB + 1, 4 * MiB, 17];
    const chunks = sizes.map((n) => randomBytes(n));
    await (await d.writer('uploads/u')).commit();
    for (const c of chunks) {
      const w = await d.writer('uploads/u', { append: true });
      await w.write(c);
      await w.commit({ sync: false });
    }
    const all = Buffer.concat(chunks);
    const digest = createHash('sha256').update(all).digest('hex');
    const log = spy(d);
    await d.move('uploads/u', `blobs/sha256/${digest.slice(0, 2)}/${digest}`);
    // parts are sent concurrently: the log is in completion order, the object in part-number order
    const parts = log.filter((c) => c.name === 'UploadPartCommand' || c.name === 'UploadPartCopyCommand').sort((a, b) => a.part! - b.part!);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.map((p) => p.part)).toEqual(parts.map((_, i) => i + 1));
    for (const p of parts.slice(0, -1)) expect(p.len).toBeGreaterThanOrEqual(MIN_PART);
    expect(parts.reduce((n, p) => n + (p.len ?? 0), 0)).toBe(all.length);
    expect(await d.stat('uploads/u')).toBeNull();
    const got = await readAll(d, `blobs/sha256/${digest.slice(0, 2)}/${digest}`);
    expect(got.length).toBe(all.length);
    expect(createHash('sha256').update(got).digest('hex')).toBe(digest);
    expect(await d.list('uploads')).toEqual([]);
    await d.delete('blobs');
  });

  it('planParts: copies big segments server-side, coalesces small ones, every part but the last ≥ 5 MiB', () => {
    const mk = (sizes: number[]) => {
      let o = 0;
      return sizes.map((size, i) => {
        const s = { key: `k${i}`, offset: o, size };
        o += size;
        return s;
      });
    };
    for (const sizes of [
      [1, 2, 3],
      [6 * MiB, 1, 6 * MiB],
      [MiB, MiB, MiB, MiB, MiB, MiB, MiB],
      [4 * MiB, 20 * MiB, 4 * MiB],
      [4 * MiB, 7 * MiB, 2 * MiB],
      [100, 6 * 1024 * MiB],
    ]) {
      const segs = mk(sizes);
      const total = sizes.reduce((a, b) => a + b, 0);
      const plan = planParts(segs, total);
      const lens = plan.map((p) => (p.kind === 'copy' ? p.end - p.start + 1 : p.pieces.reduce((n, x) => n + x.end - x.start + 1, 0)));
      expect(lens.reduce((a, b) => a + b, 0)).toBe(total);
      for (const l of lens.slice(0, -1)) expect(l).toBeGreaterThanOrEqual(MIN_PART);
      for (const p of plan) if (p.kind === 'copy') expect(p.end - p.start + 1).toBeLessThanOrEqual(5 * 1024 * MiB);
      for (const p of plan) if (p.kind === 'upload') expect(lens[plan.indexOf(p)]).toBeLessThan(2 * MIN_PART + 1);
    }
    // a 20 MiB segment after a 4 MiB one: 1 MiB of it is re-uploaded with the 4 MiB, the rest copied
    const plan = planParts(mk([4 * MiB, 20 * MiB, 4 * MiB]), 28 * MiB);
    expect(plan.map((p) => p.kind)).toEqual(['upload', 'copy', 'copy']);
  });

  it('a 40 MiB file through a multipart upload, read back and moved', async () => {
    const d = driver(`big-${randomUUID()}`);
    const data = randomBytes(40 * MiB + 123);
    const log = spy(d);
    const t0 = performance.now();
    const w = await d.writer('tmp/big');
    for (let i = 0; i < data.length; i += 256 * 1024) await w.write(data.subarray(i, i + 256 * 1024));
    await w.commit();
    const t1 = performance.now();
    expect(log.filter((c) => c.name === 'UploadPartCommand').length).toBe(6);
    expect(log.some((c) => c.name === 'CompleteMultipartUploadCommand')).toBe(true);
    expect((await d.stat('tmp/big'))?.size).toBe(data.length);
    const got = await readAll(d, 'tmp/big');
    const t2 = performance.now();
    expect(got.equals(data)).toBe(true);
    await d.move('tmp/big', 'blobs/big');
    expect((await readAll(d, 'blobs/big', { start: 20 * MiB, end: 20 * MiB + 99 })).equals(data.subarray(20 * MiB, 20 * MiB + 100))).toBe(true);
    console.log(`s3rver: write 40 MiB ${(40 / ((t1 - t0) / 1000)).toFixed(0)} MiB/s, read ${(40 / ((t2 - t1) / 1000)).toFixed(0)} MiB/s`);
    await d.delete('blobs');
    expect(await d.list('')).toEqual([]);
  });

  it('list and delete of a subtree with > 1000 keys (pages, DeleteObjects batches)', async () => {
    const d = driver(`del-${randomUUID()}`);
    const n = 1234;
    const keys = Array.from({ length: n }, (_, i) => `tree/${i < 1100 ? 'a' : 'b'}/k${String(i).padStart(4, '0')}`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => d.putContent(k, Buffer.from(k))));
    await d.putContent('keep/x', Buffer.from('x'));
    // listings page (> 1000 children)
    expect(await d.list('tree')).toEqual(['a', 'b']);
    expect(await d.list('tree/a')).toEqual(keys.slice(0, 1100).map((k) => k.slice('tree/a/'.length)));
    const log = spy(d);
    await d.delete('tree');
    expect(log.filter((c) => c.name === 'DeleteObjectsCommand').length).toBe(2);
    expect(await d.list('tree')).toEqual([]);
    expect(await d.list('')).toEqual(['keep']);
    await d.delete('keep');
  }, 60_000);

  it('presigned GET works with a plain fetch', async () => {
    const d = driver(`pre-${randomUUID()}`);
    const data = randomBytes(100_000);
    await d.putContent('blobs/p', data);
    const url = await d.presignedUrl('blobs/p', 60);
    const r = await fetch(url);
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).equals(data)).toBe(true);
    await d.delete('blobs');
  });

  it('errors: missing keys are PathNotFoundError; move of an appendable file onto an existing key overwrites', async () => {
    const d = driver(`err-${randomUUID()}`);
    await expect(d.getContent('nope')).rejects.toBeInstanceOf(PathNotFoundError);
    await expect(d.sync('nope')).rejects.toBeInstanceOf(PathNotFoundError);
    await expect(d.move('nope', 'x')).rejects.toBeInstanceOf(PathNotFoundError);
    await d.putContent('dst', Buffer.from('old'));
    for (const s of ['ab', 'cd']) {
      const w = await d.writer('src', { append: true });
      await w.write(Buffer.from(s));
      await w.commit();
    }
    await d.move('src', 'dst');
    expect((await d.getContent('dst')).toString()).toBe('abcd');
    // the destination is a plain object now: appending to it starts from its bytes
    const w = await d.writer('dst', { append: true });
    expect(w.size).toBe(4);
    await w.write(Buffer.from('e'));
    await w.commit();
    expect((await d.getContent('dst')).toString()).toBe('abcde');
    // putContent over an appendable file replaces all of it
    await d.putContent('dst', Buffer.from('z'));
    expect((await d.getContent('dst')).toString()).toBe('z');
    const w2 = await d.writer('dst', { append: true });
    expect(w2.size).toBe(1);
    await w2.cancel();
    await d.delete('dst');
    expect(await d.list('')).toEqual([]);
  });
});

describe('S3BlobDriver.deleteOlderThan (start-up cleanup of tmp/ on shared storage)', () => {
  it('keeps fresh objects, deletes old ones', async () => {
    const d = driver(`old-${randomUUID()}`);
    await d.putContent('tmp/a', Buffer.from('a'));
    await d.putContent('tmp/b/c', Buffer.from('c'));
    await d.putContent('keep', Buffer.from('k'));
    expect(await d.deleteOlderThan('tmp', 3_600_000)).toBe(0);
    expect(await d.list('tmp')).toEqual(['a', 'b']);
    expect(await d.deleteOlderThan('tmp', -5000)).toBe(2);
    expect(await d.list('')).toEqual(['keep']);
    await d.delete('keep');
  });
});

describe('storage selection (WHARF_STORAGE, openBlobDriver)', () => {
  it('defaults to files under the data dir; file:// and s3:// URLs; clear errors otherwise', async () => {
    const { loadConfig, ConfigError, CONFIG_FIELDS } = await import('../config/config.ts');
    const { openBlobDriver } = await import('./open.ts');
    const { FsBlobDriver } = await import('./fs-driver.ts');
    const fsd = await openBlobDriver(loadConfig({ WHARF_DATA_DIR: '/tmp/wharf-x' }));
    expect(fsd).toBeInstanceOf(FsBlobDriver);
    expect((fsd as InstanceType<typeof FsBlobDriver>).root).toBe('/tmp/wharf-x/storage');
    expect(((await openBlobDriver(loadConfig({ WHARF_STORAGE: 'file:///srv/blobs' }))) as InstanceType<typeof FsBlobDriver>).root).toBe('/srv/blobs');
    const cfg = loadConfig({ WHARF_STORAGE: `s3://${BUCKET}/cfg-${randomUUID()}/`, WHARF_S3_ENDPOINT: endpoint, WHARF_S3_ACCESS_KEY_ID: 'S3RVER', WHARF_S3_SECRET_ACCESS_KEY: 'S3RVER' });
    expect(cfg.s3ForcePathStyle).toBe(true);
    expect(cfg.s3Region).toBe('us-east-1');
    const s3d = await openBlobDriver(cfg);
    expect(s3d).toBeInstanceOf(S3BlobDriver);
    await s3d.putContent('a/b', Buffer.from('via config'));
    expect((await s3d.getContent('a/b')).toString()).toBe('via config');
    await s3d.delete('a');
    expect(loadConfig({}).s3ForcePathStyle).toBe(false);
    expect(loadConfig({ WHARF_S3_ENDPOINT: endpoint, WHARF_S3_FORCE_PATH_STYLE: 'false' }).s3ForcePathStyle).toBe(false);
    for (const [env, msg] of [
      [{ WHARF_STORAGE: 'gs://bucket' }, /WHARF_STORAGE: expected file:\/\/\/path or s3:\/\/bucket/],
      [{ WHARF_STORAGE: 's3://' }, /WHARF_STORAGE/],
      [{ WHARF_STORAGE: 'file://relative' }, /WHARF_STORAGE/],
      [{ WHARF_S3_FORCE_PATH_STYLE: 'yes' }, /WHARF_S3_FORCE_PATH_STYLE/],
      [{ WHARF_S3_ENDPOINT: 'minio:9000' }, /WHARF_S3_ENDPOINT/],
      [{ WHARF_S3_ACCESS_KEY_ID: 'only-id' }, /set both or neither/],
    ] as const) {
      expect(() => loadConfig(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(msg);
    }
    expect(CONFIG_FIELDS.find((f) => f.env === 'WHARF_S3_SECRET_ACCESS_KEY')?.secret).toBe(true);
  });
});
