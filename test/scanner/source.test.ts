// Image sources without a real registry: OCI layouts (ref and platform selection, Docker media
// types, corruption), tar archives (oci-archive, legacy docker save), references, and the
// registry client against a scripted HTTP server (token auth, Basic, redirects to another
// origin, schema 1, 404, digest mismatch while streaming, timeouts).
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { createGzip, gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ImageSourceError, openImageArchive, openImageSource, openRegistryImage, parseChallenge, parsePlatform, parseRegistryReference, selectPlatform } from '../../src/scanner/source/index.ts';
import { checkTokenRealm, classifyAddress } from '../../src/scanner/source/registry.ts';
import { ImageBuilder, MEDIA, buildImageLayout, readTar, sha256, zstdStoredFrame, type BuiltImage, type BuiltIndex } from '../helpers/image-builder.ts';

let tmp: string;
let layout: string;
let refs: Record<string, BuiltImage | BuiltIndex>;

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function expectCode(p: Promise<unknown>, code: string, msg?: RegExp): Promise<ImageSourceError> {
  const e = await p.then(
    () => {
      throw new Error('expected a failure');
    },
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ImageSourceError);
  expect((e as ImageSourceError).code).toBe(code);
  if (msg) expect((e as Error).message).toMatch(msg);
  return e as ImageSourceError;
}

const base = {
  files: { 'etc/os-release': 'ID=debian\nVERSION_ID="12"\n', 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n', 'bin/sh': { content: '#!fake', mode: 0o755 }, 'bin/ash': { symlink: 'sh' } },
  createdBy: 'ADD rootfs.tar /',
};

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'wharf-source-'));
  layout = path.join(tmp, 'layout');
  ({ refs } = await buildImageLayout(layout, {
    v1: {
      user: 'app',
      layers: [
        base,
        { files: { 'app/secret.pem': '-----BEGIN PRIVATE KEY-----\n' }, compression: 'zstd', createdBy: 'COPY secret.pem /app/' },
        { whiteouts: ['app/secret.pem'], opaque: ['var/cache/apt'], compression: 'none', createdBy: 'RUN rm /app/secret.pem' },
      ],
      history: [{ created_by: 'USER app', empty_layer: true }],
    },
    multi: {
      platforms: [
        { platform: 'linux/amd64', layers: [base] },
        { platform: 'linux/arm64/v8', layers: [{ files: { 'etc/os-release': 'ID=alpine\n' } }] },
      ],
    },
    docker: { format: 'docker', layers: [base, { files: { 'x/y': 'z' }, compression: 'none' }] },
    dockerlist: { format: 'docker', platforms: [{ platform: 'linux/arm/v7', layers: [base] }] },
    artifact: { layers: [{ files: { a: 'b' } }], manifestExtra: { artifactType: 'application/vnd.example.thing' } },
    foreign: { format: 'docker', layers: [{ files: { 'c:/windows': 'x' }, mediaType: MEDIA.dockerForeignLayer, omitBlob: true, urls: ['https://example.invalid/layer'] }, { files: { a: 'b' } }] },
  }));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('image builder', () => {
  test('layers hold the files, whiteouts and opaque markers; zstd and plain tar as asked', () => {
    const img = refs.v1 as BuiltImage;
    expect(img.layers.map((l) => l.descriptor.mediaType)).toEqual([MEDIA.ociLayerGzip, MEDIA.ociLayerZstd, MEDIA.ociLayer]);
    const names = (tar: Buffer) => readTar(tar).map((e) => `${e.type}:${e.path}`);
    expect(names(gunzipSync(img.layers[0].blob))).toEqual(['dir:etc', 'file:etc/os-release', 'file:etc/passwd', 'dir:bin', 'file:bin/sh', 'symlink:bin/ash']);
    expect(Buffer.from(zstdDecompress(img.layers[1].blob)).equals(img.layers[1].tar)).toBe(true);
    expect(names(img.layers[2].blob)).toEqual(['dir:app', 'file:app/.wh.secret.pem', 'dir:var', 'dir:var/cache', 'dir:var/cache/apt', 'file:var/cache/apt/.wh..wh..opq']);
    expect(img.configJson.config.User).toBe('app');
    expect(img.configJson.history.map((h: { created_by: string }) => h.created_by)).toEqual(['ADD rootfs.tar /', 'COPY secret.pem /app/', 'RUN rm /app/secret.pem', 'USER app']);
    expect(img.configJson.rootfs.diff_ids).toEqual(img.layers.map((l) => sha256(l.tar)));
  });

  test('the stored-block zstd frame decodes', () => {
    const data = Buffer.alloc(300_000, 7);
    expect(Buffer.from(zstdDecompress(zstdStoredFrame(data))).equals(data)).toBe(true);
    expect(Buffer.from(zstdDecompress(zstdStoredFrame(Buffer.alloc(0)))).length).toBe(0);
  });
});

describe('OCI layout source', () => {
  test('dir:tag selects by ref name; config, layers and blobs as built', async () => {
    const img = refs.v1 as BuiltImage;
    const src = await openImageSource(`${layout}:v1`);
    expect(src.kind).toBe('oci-layout');
    expect(src.name).toBe(`${layout}:v1`);
    expect(src.manifestDigest).toBe(img.descriptor.digest);
    expect(src.config.config?.User).toBe('app');
    expect(src.config.rootfs?.diff_ids).toHaveLength(3);
    expect(src.layers.map((l) => l.digest)).toEqual(img.layers.map((l) => l.descriptor.digest));
    expect(src.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    for (const l of img.layers) expect((await readAll(await src.openBlob(l.descriptor.digest))).equals(l.blob)).toBe(true);
    await expectCode(src.openBlob('sha256:' + '0'.repeat(64)), 'BLOB_UNKNOWN', /not a layer or the config/);
    // --ref and oci: prefix work the same
    expect((await openImageSource(layout, { ref: 'v1' })).manifestDigest).toBe(img.descriptor.digest);
    expect((await openImageSource(`oci:${layout}:v1`)).manifestDigest).toBe(img.descriptor.digest);
  });

  test('several images and no ref: a clear error listing the refs; an unknown ref too', async () => {
    await expectCode(openImageSource(layout), 'INVALID_REFERENCE', /holds \d+ images; choose one .*available: v1, multi, docker/);
    await expectCode(openImageSource(`${layout}:nope`), 'MANIFEST_UNKNOWN', /no image named "nope".*available: v1, multi/);
  });

  test('an index: linux/amd64 by default, --platform picks, a missing platform lists what there is', async () => {
    const idx = refs.multi as BuiltIndex;
    const amd = await openImageSource(`${layout}:multi`);
    expect(amd.manifestDigest).toBe(idx.images[0].descriptor.digest);
    expect(amd.indexDigest).toBe(idx.descriptor.digest);
    expect(amd.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    const arm = await openImageSource(`${layout}:multi`, { platform: 'linux/arm64' });
    expect(arm.manifestDigest).toBe(idx.images[1].descriptor.digest);
    expect(arm.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect((await openImageSource(`${layout}:multi`, { platform: 'linux/aarch64/v8' })).manifestDigest).toBe(idx.images[1].descriptor.digest);
    await expectCode(openImageSource(`${layout}:multi`, { platform: 'linux/s390x' }), 'PLATFORM_NOT_FOUND', /no image for platform linux\/s390x; available: linux\/amd64, linux\/arm64\/v8/);
    await expectCode(openImageSource(`${layout}:multi`, { platform: 'linux/arm64/v7' }), 'PLATFORM_NOT_FOUND');
    await expectCode(openImageSource(`${layout}:multi`, { platform: 'linux' }), 'INVALID_REFERENCE', /invalid platform/);
  });

  test('a Docker manifest list with one entry: the only platform is taken without --platform', async () => {
    const idx = refs.dockerlist as BuiltIndex;
    const src = await openImageSource(`${layout}:dockerlist`);
    expect(src.manifestDigest).toBe(idx.images[0].descriptor.digest);
    expect(src.manifestMediaType).toBe(MEDIA.dockerManifest);
    expect(src.platform).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    await expectCode(openImageSource(`${layout}:dockerlist`, { platform: 'linux/amd64' }), 'PLATFORM_NOT_FOUND', /available: linux\/arm\/v7/);
  });

  test('Docker v2 schema 2 media types', async () => {
    const img = refs.docker as BuiltImage;
    const src = await openImageSource(`${layout}:docker`);
    expect(src.manifestMediaType).toBe(MEDIA.dockerManifest);
    expect(src.configDescriptor.mediaType).toBe(MEDIA.dockerConfig);
    expect(src.layers.map((l) => l.mediaType)).toEqual([MEDIA.dockerLayerGzip, MEDIA.dockerLayer]);
    expect((await readAll(await src.openBlob(img.layers[1].descriptor.digest))).equals(img.layers[1].tar)).toBe(true);
  });

  test('an artifact is not an image; a foreign layer is listed and fails clearly when opened', async () => {
    await expectCode(openImageSource(`${layout}:artifact`), 'NOT_AN_IMAGE', /artifact of type application\/vnd.example.thing/);
    const img = refs.foreign as BuiltImage;
    const src = await openImageSource(`${layout}:foreign`);
    expect(src.layers.map((l) => l.mediaType)).toEqual([MEDIA.dockerForeignLayer, MEDIA.dockerLayerGzip]);
    await expectCode(src.openBlob(img.layers[0].descriptor.digest), 'NON_DISTRIBUTABLE', /non-distributable.*example.invalid/);
    expect((await readAll(await src.openBlob(img.layers[1].descriptor.digest))).length).toBe(img.layers[1].descriptor.size);
  });

  test('index.json entries with platforms and no ref names are chosen from by platform', async () => {
    const dir = path.join(tmp, 'plat-entries');
    const b = new ImageBuilder(dir);
    const a = b.image({ platform: 'linux/amd64', layers: [base] });
    const r = b.image({ platform: 'linux/riscv64', layers: [base] });
    b.addIndexEntry(a.descriptor);
    b.addIndexEntry(r.descriptor);
    await b.write();
    expect((await openImageSource(dir)).manifestDigest).toBe(a.descriptor.digest);
    expect((await openImageSource(dir, { platform: 'linux/riscv64' })).manifestDigest).toBe(r.descriptor.digest);
  });

  test('corruption: a changed layer fails at the end of its stream, a short one at open, a changed config or manifest at open', async () => {
    const dir = path.join(tmp, 'corrupt');
    const { refs: r } = await buildImageLayout(dir, { t: { layers: [base, { files: { 'big/file': Buffer.alloc(200_000, 1) } }] } });
    const img = r.t as BuiltImage;
    const blobFile = (d: string) => path.join(dir, 'blobs', 'sha256', d.slice(7));
    // same size, one byte changed
    const layer = img.layers[1].descriptor;
    const bytes = await readFile(blobFile(layer.digest));
    bytes[bytes.length - 5] ^= 0xff;
    await writeFile(blobFile(layer.digest), bytes);
    const src = await openImageSource(`${dir}:t`);
    await expectCode(readAll(await src.openBlob(layer.digest)), 'DIGEST_MISMATCH', new RegExp(`does not match ${layer.digest}`));
    // size-only verification lets it through
    const lax = await openImageSource(`${dir}:t`, { verify: 'size' });
    expect((await readAll(await lax.openBlob(layer.digest))).length).toBe(layer.size);
    // truncated
    await writeFile(blobFile(layer.digest), bytes.subarray(0, 100));
    await expectCode(src.openBlob(layer.digest), 'SIZE_MISMATCH', /size 100 does not match the manifest's/);
    // config changed
    const cfg = (await readFile(blobFile(img.config.digest))).toString();
    await writeFile(blobFile(img.config.digest), cfg.replace('"Cmd":["/bin/sh"]', '"Cmd":["/bin/ls"]'));
    await expectCode(openImageSource(`${dir}:t`), 'DIGEST_MISMATCH', /config: content digest/);
    // manifest changed
    await writeFile(blobFile(img.descriptor.digest), Buffer.from(img.manifestBytes.toString().replace('"schemaVersion":2', '"schemaVersion": 2')));
    await expectCode(openImageSource(`${dir}:t`), 'SIZE_MISMATCH');
  });

  test('schema 1 in a layout is refused clearly; sha512 digests are verified', async () => {
    const dir = path.join(tmp, 'schema1');
    const b = new ImageBuilder(dir);
    const s1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [], history: [] }));
    b.tag('old', b.blob(s1, 'application/vnd.docker.distribution.manifest.v1+prettyjws'));
    await b.write();
    await expectCode(openImageSource(`${dir}:old`), 'UNSUPPORTED', /schema 1 is deprecated and not supported/);

    const d512 = path.join(tmp, 'sha512');
    const b2 = new ImageBuilder(d512);
    const img = b2.image({ layers: [base] });
    await b2.write();
    // re-address the manifest by sha512
    const { createHash } = await import('node:crypto');
    const hex = createHash('sha512').update(img.manifestBytes).digest('hex');
    await mkdir(path.join(d512, 'blobs', 'sha512'), { recursive: true });
    await writeFile(path.join(d512, 'blobs', 'sha512', hex), img.manifestBytes);
    await writeFile(path.join(d512, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MEDIA.ociManifest, digest: `sha512:${hex}`, size: img.manifestBytes.length }] }));
    expect((await openImageSource(d512)).manifestDigest).toBe(`sha512:${hex}`);
    await writeFile(path.join(d512, 'blobs', 'sha512', hex), Buffer.from(img.manifestBytes.toString().replace('"schemaVersion":2', '"schemaVersion":3')));
    await expectCode(openImageSource(d512), 'DIGEST_MISMATCH');
  });

  test('paths that do not exist and directories that are not layouts', async () => {
    await expectCode(openImageSource(path.join(tmp, 'missing')), 'NOT_FOUND', /no such file or directory/);
    await expectCode(openImageSource(tmp), 'NOT_FOUND', /not an OCI image layout/);
  });
});

describe('archives', () => {
  test('an OCI layout in a tar (oci-archive), gzip-compressed too', async () => {
    const tarFile = path.join(tmp, 'img.tar');
    execFileSync('tar', ['-cf', tarFile, '-C', layout, '.']);
    const src = await openImageSource(`${tarFile}:v1`);
    expect(src.kind).toBe('archive');
    expect(src.manifestDigest).toBe((refs.v1 as BuiltImage).descriptor.digest);
    const l = (refs.v1 as BuiltImage).layers[1];
    expect((await readAll(await src.openBlob(l.descriptor.digest))).equals(l.blob)).toBe(true);
    await src.close!();
    const tgz = path.join(tmp, 'img.tar.gz');
    execFileSync('tar', ['-czf', tgz, '-C', layout, '.']);
    const src2 = await openImageSource(tgz, { ref: 'multi', platform: 'linux/arm64' });
    expect(src2.manifestDigest).toBe((refs.multi as BuiltIndex).images[1].descriptor.digest);
    await src2.close!();
  });

  test('a legacy docker save archive (shared layer as a symlink)', async () => {
    const img = refs.docker as BuiltImage;
    const dir = path.join(tmp, 'dsave');
    await mkdir(path.join(dir, 'l0'), { recursive: true });
    await mkdir(path.join(dir, 'l1'), { recursive: true });
    await writeFile(path.join(dir, 'l0', 'layer.tar'), img.layers[0].tar);
    execFileSync('ln', ['-s', '../l0/layer.tar', path.join(dir, 'l1', 'layer.tar')]);
    await writeFile(path.join(dir, 'cfg.json'), img.configBytes);
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: 'cfg.json', RepoTags: ['example.com/app:1.0'], Layers: ['l0/layer.tar', 'l1/layer.tar'] }]));
    const tarFile = path.join(tmp, 'dsave.tar');
    execFileSync('tar', ['-cf', tarFile, '-C', dir, '.']);
    const src = await openImageSource(tarFile);
    expect(src.config.config?.Cmd).toEqual(['/bin/sh']);
    expect(src.configDescriptor.digest).toBe(img.config.digest);
    expect(src.layers).toHaveLength(2);
    expect(src.layers[0].digest).toBe(sha256(img.layers[0].tar));
    expect(src.layers[0].mediaType).toBe(MEDIA.dockerLayer);
    expect((await readAll(await src.openBlob(src.layers[1].digest))).equals(img.layers[0].tar)).toBe(true);
    await src.close!();
    await expectCode(openImageSource(`${tarFile}:2.0`), 'MANIFEST_UNKNOWN', /example.com\/app:1.0/);
  });

  /** a tar (gzip-compressed when asked) of the given files; a number is that many zero bytes */
  async function makeTar(file: string, files: Record<string, string | number>, gzip: boolean): Promise<void> {
    const pack = tar.pack();
    for (const [name, content] of Object.entries(files)) pack.entry({ name }, typeof content === 'number' ? Buffer.alloc(content) : content);
    pack.finalize();
    if (gzip) await pipeline(pack, createGzip(), createWriteStream(file));
    else await pipeline(pack, createWriteStream(file));
  }

  /** run f with a private TMPDIR; returns what was left in it */
  async function leftInTmp(f: () => Promise<unknown>): Promise<string[]> {
    const priv = await mkdtemp(path.join(tmp, 'tmpdir-'));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = priv;
    try {
      await f();
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    return readdir(priv);
  }

  test('a gzip bomb and an archive of too many entries are refused before they fill the disk; the temp dir is removed', async () => {
    const bomb = path.join(tmp, 'bomb.tar.gz');
    await makeTar(bomb, { 'manifest.json': '[]', 'blobs/zero': 16 * 1024 * 1024 }, true);
    expect((await stat(bomb)).size).toBeLessThan(1024 * 1024);
    let left = await leftInTmp(() => expectCode(openImageArchive(bomb, { maxUnpackedBytes: 4 * 1024 * 1024 }), 'UNSUPPORTED', /bomb\.tar\.gz: the archive unpacks to more than 4194304 bytes/));
    expect(left).toEqual([]);
    const many = path.join(tmp, 'many.tar');
    await makeTar(many, Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f/${i}`, 'x'])), false);
    left = await leftInTmp(() => expectCode(openImageArchive(many, { maxEntries: 20 }), 'UNSUPPORTED', /more than 20 entries/));
    expect(left).toEqual([]);
    // under the limits the same archive is only not an image
    await expectCode(openImageArchive(many, { maxEntries: 50 }), 'UNSUPPORTED', /neither an OCI archive/);
  });

  test('a docker save manifest.json of the wrong shape is a clear error, not a TypeError', async () => {
    const cases: [unknown, RegExp][] = [
      [{ Config: 'c.json' }, /not a JSON array/],
      [[], /no images/],
      [['x'], /image 1 is not an object/],
      [[{ Config: 'c.json', Layers: 'l.tar' }], /image 1: Layers is not a list of file names/],
      [[{ Config: 'c.json', Layers: [1] }], /Layers is not a list of file names/],
      [[{ Config: 5, Layers: [] }], /image 1: Config is not a file name/],
      [[{ Config: 'c.json', Layers: [], RepoTags: 'a:b' }], /RepoTags is not a list of strings/],
    ];
    for (const [i, [manifest, msg]] of cases.entries()) {
      const f = path.join(tmp, `badmanifest-${i}.tar`);
      await makeTar(f, { 'manifest.json': JSON.stringify(manifest), 'c.json': '{}', 'l.tar': 'x' }, false);
      const e = await expectCode(openImageArchive(f), 'UNSUPPORTED', /invalid manifest\.json: /);
      expect(e.message).toMatch(msg);
    }
  });
});

describe('references and platforms', () => {
  test('registry references as docker reads them', () => {
    expect(parseRegistryReference('alpine')).toMatchObject({ registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/alpine', tag: 'latest' });
    expect(parseRegistryReference('127.0.0.1:5000/library/x:v1')).toMatchObject({ registry: '127.0.0.1:5000', repository: 'library/x', tag: 'v1' });
    const d = 'sha256:' + 'a'.repeat(64);
    expect(parseRegistryReference(`ghcr.io/o/r@${d}`)).toMatchObject({ registry: 'ghcr.io', repository: 'o/r', digest: d });
    expect(parseRegistryReference('localhost/x')).toMatchObject({ registry: 'localhost', repository: 'x', tag: 'latest' });
    expect(parseRegistryReference('https://localhost:5000/x:1')).toMatchObject({ scheme: 'https', apiHost: 'localhost:5000' });
    expect(() => parseRegistryReference('Foo/Bar')).toThrow(/invalid repository name/);
    expect(() => parseRegistryReference('x@sha256:abc')).toThrow(/invalid digest/);
    expect(() => parseRegistryReference('x@blake3:' + 'a'.repeat(64))).toThrow(/unsupported digest algorithm blake3/);
  });

  test('WWW-Authenticate parsing (quoted commas in the scope)', () => {
    expect(parseChallenge('Bearer realm="https://a.example/token",service="reg",scope="repository:a/b:pull,push"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://a.example/token', service: 'reg', scope: 'repository:a/b:pull,push' },
    });
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic', params: { realm: 'Registry Realm' } });
    expect(parseChallenge(undefined)).toBeUndefined();
  });

  test('platform selection skips attestation manifests', () => {
    const e = (platform: string, extra: object = {}) => ({ mediaType: MEDIA.ociManifest, digest: sha256(platform), size: 1, platform: parsePlatform(platform), ...extra });
    const att = e('unknown/unknown', { annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } });
    expect(selectPlatform([e('linux/arm64'), att], undefined, 'x').platform?.architecture).toBe('arm64');
  });
});

// ---------------------------------------------------------------------------------------------
// The registry client against a scripted server

interface Fake {
  url: string;
  host: string;
  requests: { url: string; auth?: string }[];
  close(): Promise<void>;
}

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

describe('registry client (scripted server)', () => {
  let reg: Fake;
  let cdn: Fake;
  const img = () => refs.v1 as BuiltImage;
  const USER = 'scanner';
  const PASS = 'S3cret-pass!';
  let corrupt = false;

  beforeAll(async () => {
    const cdnReqs: Fake['requests'] = [];
    const c = await listen((req, res) => {
      cdnReqs.push({ url: req.url!, auth: req.headers.authorization });
      const digest = decodeURIComponent(new URL(req.url!, 'http://x').pathname.split('/').pop()!);
      const blob = img().layers.find((l) => l.descriptor.digest === digest)?.blob;
      if (!blob) return void res.writeHead(404).end();
      const body = Buffer.from(blob);
      if (corrupt) body[body.length - 1] ^= 1;
      res.writeHead(200, { 'Content-Length': body.length }).end(body);
    });
    cdn = { url: `http://127.0.0.1:${c.port}`, host: `127.0.0.1:${c.port}`, requests: cdnReqs, close: () => new Promise((r) => c.server.close(() => r())) };

    const reqs: Fake['requests'] = [];
    const s = await listen((req, res) => {
      const u = new URL(req.url!, 'http://x');
      reqs.push({ url: req.url!, auth: req.headers.authorization });
      const origin = `http://${req.headers.host}`;
      const json = (status: number, v: unknown, h: Record<string, string> = {}) => res.writeHead(status, { 'Content-Type': 'application/json', ...h }).end(JSON.stringify(v));
      if (u.pathname === '/token') {
        const scope = u.searchParams.get('scope') ?? '';
        if (req.headers.authorization === 'Basic ' + Buffer.from(`${USER}:${PASS}`).toString('base64')) return json(200, { token: `user-token ${scope}` });
        if (req.headers.authorization) return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid credentials' }] });
        return json(200, { token: `anon-token ${scope}` });
      }
      const m = /^\/v2\/(.+)\/(manifests|blobs)\/(.+)$/.exec(u.pathname);
      if (!m) return json(404, {});
      const [, repo, kind, ref] = m;
      // auth: "private/*" needs the user's token; "basic/*" needs Basic; the rest takes any token
      const auth = req.headers.authorization ?? '';
      if (repo.startsWith('basic/')) {
        if (auth !== 'Basic ' + Buffer.from(`${USER}:${PASS}`).toString('base64')) return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'login please' }] }, { 'WWW-Authenticate': 'Basic realm="fake"' });
      } else {
        // hostile realms: the cloud metadata address, a private host over plain http
        const realm = repo.startsWith('ssrf/') ? 'http://169.254.169.254/latest/meta-data' : repo.startsWith('faraway/') ? 'http://10.1.2.3/token' : `${origin}/token`;
        const challenge = `Bearer realm="${realm}",service="fake",scope="repository:${repo}:pull"`;
        if (!auth.startsWith('Bearer ')) return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, { 'WWW-Authenticate': challenge });
        if (repo.startsWith('private/') && !auth.startsWith('Bearer user-token')) return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, { 'WWW-Authenticate': challenge });
      }
      if (repo.endsWith('/slow')) return; // never answers
      if (kind === 'manifests') {
        if (repo.endsWith('/schema1')) return json(200, { schemaVersion: 1, name: repo, tag: ref, fsLayers: [] }, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' });
        if (ref === 'v1' || ref === img().descriptor.digest) {
          return res.writeHead(200, { 'Content-Type': MEDIA.ociManifest, 'Docker-Content-Digest': img().descriptor.digest }).end(img().manifestBytes);
        }
        if (ref === 'lying') return res.writeHead(200, { 'Content-Type': MEDIA.ociManifest, 'Docker-Content-Digest': 'sha256:' + 'b'.repeat(64) }).end(img().manifestBytes);
        return json(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
      }
      if (ref === img().config.digest) return res.writeHead(200, { 'Content-Length': img().configBytes.length }).end(img().configBytes);
      // layers: redirected to the "CDN" (another origin)
      return res.writeHead(307, { Location: `${cdn.url}/store/${encodeURIComponent(ref)}?sig=1` }).end();
    });
    reg = { url: `http://127.0.0.1:${s.port}`, host: `127.0.0.1:${s.port}`, requests: reqs, close: () => new Promise((r) => { s.server.closeAllConnections(); s.server.close(() => r()); }) };
  });

  afterAll(async () => {
    await reg?.close();
    await cdn?.close();
  });

  test('anonymous token flow; layers follow a redirect to another origin without the Authorization header', async () => {
    const src = await openImageSource(`${reg.host}/public/app:v1`);
    expect(src.kind).toBe('registry');
    expect(src.manifestDigest).toBe(img().descriptor.digest);
    expect(src.config.config?.User).toBe('app');
    for (const l of img().layers) expect((await readAll(await src.openBlob(l.descriptor.digest))).equals(l.blob)).toBe(true);
    expect(cdn.requests.length).toBeGreaterThanOrEqual(3);
    expect(cdn.requests.every((r) => r.auth === undefined)).toBe(true);
    const tokenReq = reg.requests.find((r) => r.url.startsWith('/token'))!;
    expect(tokenReq.auth).toBeUndefined();
    expect(new URL(tokenReq.url, 'http://x').searchParams.get('scope')).toBe('repository:public/app:pull');
    expect(new URL(tokenReq.url, 'http://x').searchParams.get('service')).toBe('fake');
  });

  test('private repository: anonymous fails clearly, credentials go to the token service, wrong ones fail clearly', async () => {
    const e = await expectCode(openImageSource(`${reg.host}/private/app:v1`), 'UNAUTHORIZED', /^unauthorized: .*denied anonymous access \(no credentials given\) to pull private\/app/);
    expect(e.status).toBe(401);
    const src = await openImageSource(`${reg.host}/private/app:v1`, { username: USER, password: PASS });
    expect(src.manifestDigest).toBe(img().descriptor.digest);
    const bad = await expectCode(openImageSource(`${reg.host}/private/app:v1`, { username: USER, password: 'wrong' }), 'UNAUTHORIZED', /token service .* refused the credentials of scanner \(UNAUTHORIZED: invalid credentials\)/);
    expect(bad.message).not.toContain('wrong');
    expect(bad.message).not.toContain(PASS);
  });

  test('Basic challenge', async () => {
    await expectCode(openImageSource(`${reg.host}/basic/app:v1`), 'UNAUTHORIZED', /requires credentials for basic\/app/);
    const src = await openImageSource(`${reg.host}/basic/app:v1`, { username: USER, password: PASS });
    expect(src.manifestDigest).toBe(img().descriptor.digest);
  });

  test('404, schema 1, a lying Docker-Content-Digest, by-digest references', async () => {
    await expectCode(openImageSource(`${reg.host}/public/app:nope`), 'MANIFEST_UNKNOWN', /^manifest unknown: manifest public\/app:nope not found/);
    await expectCode(openImageSource(`${reg.host}/public/schema1:v1`), 'UNSUPPORTED', /schema 1 is deprecated/);
    await expectCode(openImageSource(`${reg.host}/public/app:lying`), 'DIGEST_MISMATCH');
    const src = await openImageSource(`${reg.host}/public/app@${img().descriptor.digest}`);
    expect(src.manifestDigest).toBe(img().descriptor.digest);
    expect(src.tag).toBeUndefined();
  });

  test('a layer whose bytes do not match its digest fails at the end of the stream', async () => {
    const src = await openImageSource(`${reg.host}/public/app:v1`);
    corrupt = true;
    try {
      await expectCode(readAll(await src.openBlob(img().layers[0].descriptor.digest)), 'DIGEST_MISMATCH');
    } finally {
      corrupt = false;
    }
  });

  test('a registry that does not answer times out', async () => {
    const t0 = Date.now();
    await expectCode(openImageSource(`${reg.host}/public/slow:v1`, { timeoutMs: 300 }), 'NETWORK', /no response for 300 ms/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  test('nothing listening: a network error naming the host', async () => {
    await expectCode(openImageSource('127.0.0.1:1/x/y:z'), 'NETWORK', /127\.0\.0\.1:1/);
  });

  test('a token realm on a link-local address (cloud metadata) is refused without a request; credentials go to a private host only over https', async () => {
    const before = reg.requests.length;
    await expectCode(openImageSource(`${reg.host}/ssrf/app:v1`), 'UNAUTHORIZED', /refusing the token service http:\/\/169\.254\.169\.254: a link-local address, and the registry 127\.0\.0\.1:\d+ is not \(it is loopback\)/);
    await expectCode(openImageSource(`${reg.host}/faraway/app:v1`, { username: USER, password: PASS }), 'UNAUTHORIZED', /refusing to send credentials to the token service http:\/\/10\.1\.2\.3 on another host over plain http/);
    expect(reg.requests.length - before).toBe(2); // the two manifest requests, nothing else
  });

  test('--insecure falling back from https to http sends no credentials over plain http; anonymous access still works', async () => {
    const before = reg.requests.length;
    const anon = await openRegistryImage(`${reg.host}/public/app:v1`, { forceHttps: true, insecure: true });
    expect(anon.manifestDigest).toBe(img().descriptor.digest);
    await expectCode(openRegistryImage(`${reg.host}/private/app:v1`, { forceHttps: true, insecure: true, username: USER, password: PASS }), 'UNAUTHORIZED', /refusing to send credentials to http:\/\/127\.0\.0\.1:\d+ over plain http: .*fell back from https/);
    await expectCode(openRegistryImage(`${reg.host}/basic/app:v1`, { forceHttps: true, insecure: true, username: USER, password: PASS }), 'UNAUTHORIZED', /refusing to send credentials to .* over plain http/);
    const basicCreds = 'Basic ' + Buffer.from(`${USER}:${PASS}`).toString('base64');
    expect(reg.requests.slice(before).some((r) => r.auth === basicCreds || r.auth?.startsWith('Bearer user-token'))).toBe(false);
    // asked for plain http: credentials are sent
    const asked = await openRegistryImage(`http://${reg.host}/private/app:v1`, { forceHttps: true, insecure: true, username: USER, password: PASS });
    expect(asked.manifestDigest).toBe(img().descriptor.digest);
  });
});

describe('token realm policy', () => {
  test('address classes', () => {
    expect(['127.0.0.1', '127.9.9.9', '::1', '[::1]', '0.0.0.0', '::ffff:127.0.0.1'].map(classifyAddress)).toEqual(Array(6).fill('loopback'));
    expect(['169.254.169.254', 'fe80::1', 'FE80::abcd%eth0', '::ffff:169.254.1.1'].map(classifyAddress)).toEqual(Array(4).fill('link-local'));
    expect(['10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', 'fd00::1', 'fc00::2'].map(classifyAddress)).toEqual(Array(7).fill('private'));
    expect(['8.8.8.8', '172.32.0.1', '192.169.0.1', '2001:db8::1', 'fec0::1', 'registry.example.com'].map(classifyAddress)).toEqual(Array(6).fill(null));
  });

  test('downgrades, internal realms and credentials over plain http', () => {
    const u = (s: string) => new URL(s);
    const none = { haveCreds: false, realmClass: null, registryClass: null, downgraded: false } as const;
    const creds = { ...none, haveCreds: true };
    // (a) https registry → http realm, even on the same host, with or without credentials
    expect(checkTokenRealm(u('http://reg.example.com/token'), u('https://reg.example.com/v2/'), none)).toMatch(/was reached over https/);
    expect(checkTokenRealm(u('https://auth.example.com/token'), u('https://reg.example.com/v2/'), creds)).toBeUndefined();
    // (b) Basic credentials to another host only over https; the registry's own host over http is docker's behaviour
    expect(checkTokenRealm(u('http://auth.example.com/token'), u('http://reg.example.com/v2/'), creds)).toMatch(/on another host over plain http/);
    expect(checkTokenRealm(u('http://auth.example.com/token'), u('http://reg.example.com/v2/'), none)).toBeUndefined();
    expect(checkTokenRealm(u('http://reg.example.com:5001/token'), u('http://reg.example.com:5000/v2/'), creds)).toBeUndefined();
    // (c) internal realms only for an internal registry of the same kind (private also for loopback)
    expect(checkTokenRealm(u('https://169.254.169.254/x'), u('https://reg.example.com/v2/'), { ...none, realmClass: 'link-local' })).toMatch(/link-local address/);
    expect(checkTokenRealm(u('https://[fe80::1]/x'), u('https://127.0.0.1:5000/v2/'), { ...none, realmClass: 'link-local', registryClass: 'loopback' })).toMatch(/link-local address/);
    expect(checkTokenRealm(u('http://127.0.0.1:80/x'), u('http://10.0.0.5/v2/'), { ...none, realmClass: 'loopback', registryClass: 'private' })).toMatch(/a loopback address/);
    expect(checkTokenRealm(u('https://10.0.0.6/token'), u('https://reg.example.com/v2/'), { ...creds, realmClass: 'private' })).toMatch(/a private address/);
    expect(checkTokenRealm(u('https://10.0.0.6/token'), u('https://10.0.0.5/v2/'), { ...creds, realmClass: 'private', registryClass: 'private' })).toBeUndefined();
    expect(checkTokenRealm(u('http://172.18.0.2:5001/token'), u('http://localhost:5000/v2/'), { ...none, realmClass: 'private', registryClass: 'loopback' })).toBeUndefined();
    expect(checkTokenRealm(u('http://127.0.0.1:5001/token'), u('http://localhost:5000/v2/'), { ...creds, realmClass: 'loopback', registryClass: 'loopback' })).toBeUndefined();
    // (d) after an insecure fallback no credentials over http
    expect(checkTokenRealm(u('http://reg.example.com/token'), u('http://reg.example.com/v2/'), { ...creds, downgraded: true })).toMatch(/fell back from https/);
    expect(checkTokenRealm(u('http://reg.example.com/token'), u('http://reg.example.com/v2/'), { ...none, downgraded: true })).toBeUndefined();
  });
});

describe('registry client over https (self-signed, --insecure)', () => {
  let dir: string;
  let server: https.Server;
  let host: string;
  let plain: { server: http.Server; port: number };
  const tokenReqs: { url: string; auth?: string }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'wharf-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    // a plain-http token service on loopback (what a hostile https registry would point at)
    plain = await listen((req, res) => {
      tokenReqs.push({ url: req.url!, auth: req.headers.authorization });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: 'plain' }));
    });
    const img = refs.v1 as BuiltImage;
    server = https.createServer({ key: await readFile(path.join(dir, 'k.pem')), cert: await readFile(path.join(dir, 'c.pem')) }, (req, res) => {
      const u = new URL(req.url!, 'https://x');
      if (u.pathname === '/token') {
        tokenReqs.push({ url: req.url!, auth: req.headers.authorization });
        return res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: 'tls' }));
      }
      const realm = u.pathname.startsWith('/v2/down/') ? `http://127.0.0.1:${plain.port}/token` : `https://${req.headers.host}/token`;
      if (req.headers.authorization !== 'Bearer tls') return res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${realm}",service="tls"` }).end();
      if (u.pathname.includes('/manifests/')) return res.writeHead(200, { 'Content-Type': MEDIA.ociManifest }).end(img.manifestBytes);
      if (u.pathname.endsWith(img.config.digest)) return res.writeHead(200).end(img.configBytes);
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await new Promise((r) => plain?.server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  test('an https realm on the same host gets the credentials; an http realm is refused (downgrade) before any request', async () => {
    const src = await openRegistryImage(`https://${host}/ok/app:v1`, { insecure: true, username: 'u', password: 'p' });
    expect(src.manifestDigest).toBe((refs.v1 as BuiltImage).descriptor.digest);
    expect(tokenReqs.at(-1)!.auth).toBe('Basic ' + Buffer.from('u:p').toString('base64'));
    const n = tokenReqs.length;
    await expectCode(openRegistryImage(`https://${host}/down/app:v1`, { insecure: true, username: 'u', password: 'p' }), 'UNAUTHORIZED', /refusing the token service http:\/\/127\.0\.0\.1:\d+: 127\.0\.0\.1:\d+ was reached over https/);
    await expectCode(openRegistryImage(`https://${host}/down/app:v1`, { insecure: true }), 'UNAUTHORIZED', /was reached over https/);
    expect(tokenReqs.length).toBe(n);
  });
});
