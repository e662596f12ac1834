// A real Wharf process on S3 storage (WHARF_STORAGE=s3://bucket/prefix, s3rver as the store):
// skopeo pushes an image and pulls it back digest-identical, a chunked upload (raw PATCHes) is
// committed and served, and the bytes live in the bucket, not in the data dir.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Skopeo } from '../helpers/clients.ts';
import { buildLargeImage, openLayout, seededBytes, sha256, type BuiltImage } from '../helpers/images.ts';
import { req } from '../helpers/raw-http.ts';
import { createProject, startWharf, type RunningRegistry } from '../helpers/servers.ts';
import { S3BlobDriver } from '../../src/storage/s3-driver.ts';
import { startS3rver, type RunningS3rver } from './s3rver.ts';

const MiB = 1024 * 1024;
const BUCKET = 'wharf';
const PREFIX = 'reg/one';
const LAYER_BYTES = 24 * MiB;

let s3: RunningS3rver;
let wharf: RunningRegistry;
let sk: Skopeo;
let tmp: string;
let large: { dir: string; ref: string; image: BuiltImage };

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'wharf-s3srv-'));
  [s3, sk, large] = await Promise.all([startS3rver([BUCKET]), Skopeo.create(), buildLargeImage(path.join(tmp, 'src'), 's3', LAYER_BYTES)]);
  wharf = await startWharf({
    env: {
      WHARF_STORAGE: `s3://${BUCKET}/${PREFIX}`,
      WHARF_S3_ENDPOINT: s3.endpoint,
      WHARF_S3_ACCESS_KEY_ID: s3.accessKeyId,
      WHARF_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    },
  });
  await createProject(wharf, 'team');
}, 120_000);

afterAll(async () => {
  await wharf?.stop();
  await sk?.cleanup();
  await s3?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function bucketDriver(): S3BlobDriver {
  return new S3BlobDriver({ bucket: BUCKET, prefix: PREFIX, endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
}

describe('Wharf on S3 storage', () => {
  it('skopeo push and pull round trip, digest-identical; the blobs are in the bucket', async () => {
    const creds = `${wharf.admin.username}:${wharf.admin.password}`;
    const dest = `docker://${wharf.host}/team/big:v1`;
    const t0 = performance.now();
    const pushed = await sk.copyDigest(large.ref, dest, ['--preserve-digests', '--dest-creds', creds]);
    const t1 = performance.now();
    expect(pushed).toBe(large.image.descriptor.digest);
    const out = path.join(tmp, 'back');
    await sk.copy(dest, `oci:${out}:back`, ['--preserve-digests', '--src-creds', creds]);
    const t2 = performance.now();
    const lay = await openLayout(out);
    const m = lay.manifestFor('back');
    expect(m.digest).toBe(large.image.descriptor.digest);
    expect((await lay.blob(m.digest)).equals(large.image.manifestBytes)).toBe(true);
    expect((await lay.blob(large.image.config.digest)).equals(large.image.configBytes)).toBe(true);
    for (const l of large.image.layers) {
      const b = await lay.blob(l.descriptor.digest);
      expect(b.length).toBe(l.descriptor.size);
      expect(sha256(b)).toBe(l.descriptor.digest);
    }
    const bytes = large.image.layers.reduce((n, l) => n + l.descriptor.size, 0) / MiB;
    console.log(`wharf on s3rver: push ${bytes.toFixed(1)} MiB in ${((t1 - t0) / 1000).toFixed(2)} s (${(bytes / ((t1 - t0) / 1000)).toFixed(0)} MiB/s), pull ${((t2 - t1) / 1000).toFixed(2)} s (${(bytes / ((t2 - t1) / 1000)).toFixed(0)} MiB/s)`);

    // the bytes live in the bucket under the prefix; nothing under the data dir's storage
    const d = bucketDriver();
    for (const l of large.image.layers) {
      const hex = l.descriptor.digest.slice('sha256:'.length);
      expect((await d.stat(`blobs/sha256/${hex.slice(0, 2)}/${hex}`))?.size).toBe(l.descriptor.size);
    }
    expect(existsSync(path.join(wharf.dataDir, 'storage', 'blobs'))).toBe(false);
  }, 180_000);

  it('a chunked upload (PATCH chunks, status, final PUT) commits and is served whole and ranged', async () => {
    const name = 'team/chunked';
    const blob = seededBytes('s3-chunked', 11 * MiB + 12345);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const base = { url: wharf.url, admin: wharf.admin };
    const post = await req(base, 'POST', `/v2/${name}/blobs/uploads/`, { 'Content-Length': 0 });
    expect(post.status, post.body.toString()).toBe(202);
    let loc = String(post.headers.location);
    // chunks smaller and larger than S3's 5 MiB minimum part size
    const cuts = [0, 1 * MiB, 1 * MiB + 7, 7 * MiB, 9 * MiB, blob.length - 100];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const chunk = blob.subarray(cuts[i], cuts[i + 1]);
      const r = await req(base, 'PATCH', new URL(loc, wharf.url).pathname + new URL(loc, wharf.url).search, { 'Content-Type': 'application/octet-stream', 'Content-Range': `${cuts[i]}-${cuts[i + 1] - 1}`, 'Content-Length': chunk.length }, chunk);
      expect(r.status, r.body.toString()).toBe(202);
      expect(r.headers.range).toBe(`0-${cuts[i + 1] - 1}`);
      loc = String(r.headers.location);
    }
    const u = new URL(loc, wharf.url);
    const st = await req(base, 'GET', u.pathname + u.search);
    expect(st.status).toBe(204);
    expect(st.headers.range).toBe(`0-${cuts.at(-1)! - 1}`);
    // the last 100 bytes go with the PUT
    const last = blob.subarray(cuts.at(-1)!);
    const sep = u.search ? '&' : '?';
    const put = await req(base, 'PUT', `${u.pathname}${u.search}${sep}digest=${digest}`, { 'Content-Type': 'application/octet-stream', 'Content-Length': last.length }, last);
    expect(put.status, put.body.toString()).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(digest);

    const got = await req(base, 'GET', `/v2/${name}/blobs/${digest}`);
    expect(got.status).toBe(200);
    expect(got.body.length).toBe(blob.length);
    expect(sha256(got.body)).toBe(digest);
    const rg = await req(base, 'GET', `/v2/${name}/blobs/${digest}`, { Range: `bytes=${5 * MiB - 10}-${8 * MiB + 9}` });
    expect(rg.status).toBe(206);
    expect(rg.body.equals(blob.subarray(5 * MiB - 10, 8 * MiB + 10))).toBe(true);

    // the session's part objects are gone; the blob is one object
    const d = bucketDriver();
    expect(await d.list('uploads')).toEqual([]);
    const hex = digest.slice('sha256:'.length);
    expect((await d.stat(`blobs/sha256/${hex.slice(0, 2)}/${hex}`))?.size).toBe(blob.length);
  }, 120_000);
});

describe('Wharf on S3 storage with blob redirects (WHARF_S3_REDIRECT_SECONDS)', () => {
  let redir: RunningRegistry;
  beforeAll(async () => {
    redir = await startWharf({
      env: {
        WHARF_STORAGE: `s3://${BUCKET}/redirect`,
        WHARF_S3_ENDPOINT: s3.endpoint,
        WHARF_S3_ACCESS_KEY_ID: s3.accessKeyId,
        WHARF_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        WHARF_S3_REDIRECT_SECONDS: '300',
      },
    });
    await createProject(redir, 'team');
  }, 120_000);
  afterAll(async () => {
    await redir?.stop();
  });

  it('blob GETs answer 307 to a pre-signed URL after the access check; skopeo pulls through it', async () => {
    const creds = `${redir.admin.username}:${redir.admin.password}`;
    const dest = `docker://${redir.host}/team/redir:v1`;
    await sk.copy(large.ref, dest, ['--preserve-digests', '--dest-creds', creds]);
    const layer = large.image.layers[0]!.descriptor;
    const r = await req(redir, 'GET', `/v2/team/redir/blobs/${layer.digest}`);
    expect(r.status).toBe(307);
    const loc = String(r.headers.location);
    expect(loc.startsWith(s3.endpoint)).toBe(true);
    expect(loc).toMatch(/X-Amz-Signature=/);
    const body = Buffer.from(await (await fetch(loc)).arrayBuffer());
    expect(sha256(body)).toBe(layer.digest);
    // HEAD is answered by Wharf; no access, no redirect
    expect((await req(redir, 'HEAD', `/v2/team/redir/blobs/${layer.digest}`)).status).toBe(200);
    expect((await req(redir.url, 'GET', `/v2/team/redir/blobs/${layer.digest}`)).status).toBe(401);
    expect((await req(redir, 'GET', `/v2/team/other/blobs/${layer.digest}`)).status).toBe(404);
    const out = path.join(tmp, 'redir-back');
    await sk.copy(dest, `oci:${out}:back`, ['--preserve-digests', '--src-creds', creds]);
    const lay = await openLayout(out);
    for (const l of large.image.layers) expect(sha256(await lay.blob(l.descriptor.digest))).toBe(l.descriptor.digest);
  }, 180_000);
});
