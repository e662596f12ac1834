// Image sources against real registries: a Wharf server (images pushed with skopeo, read back from
// its storage directly and over HTTP with and without credentials, including a private project)
// and the Go reference registry (no auth), with OCI indexes and a Docker manifest list.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ImageSourceError, openImageSource, type LocalStorage, type ResolvedImageSource } from '../../src/scanner/source/index.ts';
import { Skopeo } from '../helpers/clients.ts';
import { ImageBuilder, MEDIA, buildImageLayout, pushRaw, type BuiltImage, type BuiltIndex } from '../helpers/image-builder.ts';
import { createProject, startReference, startWharf, type RunningRegistry } from '../helpers/servers.ts';

let tmp: string;
let layout: string;
let refs: Record<string, BuiltImage | BuiltIndex>;
let sk: Skopeo;

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function failure(p: Promise<unknown>): Promise<ImageSourceError> {
  const e = await p.then(
    () => {
      throw new Error('expected a failure');
    },
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ImageSourceError);
  return e as ImageSourceError;
}

/** every layer and the config as built, byte for byte, through openBlob */
async function expectImage(src: ResolvedImageSource, img: BuiltImage): Promise<void> {
  expect(src.manifestDigest).toBe(img.descriptor.digest);
  expect(src.configDescriptor.digest).toBe(img.config.digest);
  expect(src.layers.map((l) => l.digest)).toEqual(img.layers.map((l) => l.descriptor.digest));
  for (const l of img.layers) expect((await readAll(await src.openBlob(l.descriptor.digest))).equals(l.blob)).toBe(true);
  expect((await readAll(await src.openBlob(img.config.digest))).equals(img.configBytes)).toBe(true);
}

const base = { files: { 'etc/os-release': 'ID=alpine\nVERSION_ID=3.19.1\n', 'lib/apk/db/installed': 'P:musl\nV:1.2.4-r2\n\n' } };

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'wharf-source-reg-'));
  layout = path.join(tmp, 'layout');
  ({ refs } = await buildImageLayout(layout, {
    v1: {
      user: 'nobody',
      layers: [base, { files: { 'app/a.txt': 'a' }, compression: 'zstd' }, { whiteouts: ['app/a.txt'], compression: 'none' }],
    },
    multi: {
      platforms: [
        { platform: 'linux/amd64', layers: [base] },
        { platform: 'linux/arm64/v8', layers: [base, { files: { 'arm/only': 'x' } }] },
      ],
    },
  }));
  sk = await Skopeo.create();
});

afterAll(async () => {
  await sk?.cleanup();
  await rm(tmp, { recursive: true, force: true });
});

describe('Wharf', () => {
  let reg: RunningRegistry;
  let local: LocalStorage;
  const creds = () => ({ username: reg.admin.username, password: reg.admin.password });

  beforeAll(async () => {
    reg = await startWharf();
    await createProject(reg, 'priv');
    const destCreds = ['--preserve-digests', '--dest-creds', `${reg.admin.username}:${reg.admin.password}`];
    await sk.copy(`oci:${layout}:v1`, `docker://${reg.host}/library/x:v1`, destCreds);
    await sk.copy(`oci:${layout}:v1`, `docker://${reg.host}/priv/x:v1`, destCreds);
    await sk.copy(`oci:${layout}:multi`, `docker://${reg.host}/library/multi:v1`, ['--all', ...destCreds]);
    local = { config: { dataDir: reg.dataDir, databaseUrl: `sqlite:${path.join(reg.dataDir, 'wharf.db')}` } };
  });

  afterAll(async () => {
    await reg?.stop();
  });

  test('local storage: wharf:// and plain project/repo refs, by tag and by digest, blobs from the blob store', async () => {
    const img = refs.v1 as BuiltImage;
    const src = await openImageSource('wharf://library/x:v1', { local });
    try {
      expect(src.kind).toBe('wharf');
      expect(src.repository).toBe('library/x');
      expect(src.tag).toBe('v1');
      expect(src.config.config?.User).toBe('nobody');
      expect(src.layers.map((l) => l.mediaType)).toEqual([MEDIA.ociLayerGzip, MEDIA.ociLayerZstd, MEDIA.ociLayer]);
      await expectImage(src, img);
    } finally {
      await src.close!();
    }
    const byDigest = await openImageSource(`priv/x@${img.descriptor.digest}`, { local });
    expect(byDigest.kind).toBe('wharf');
    expect(byDigest.manifestDigest).toBe(img.descriptor.digest);
    await byDigest.close!();
  });

  test('local storage: an index picks the platform; unknown tag and repository are clear errors', async () => {
    const idx = refs.multi as BuiltIndex;
    const amd = await openImageSource('library/multi:v1', { local });
    expect(amd.indexDigest).toBe(idx.descriptor.digest);
    expect(amd.manifestDigest).toBe(idx.images[0].descriptor.digest);
    await amd.close!();
    const arm = await openImageSource('library/multi:v1', { local, platform: 'linux/arm64' });
    await expectImage(arm, idx.images[1]);
    await arm.close!();
    const e1 = await failure(openImageSource('library/x:nope', { local }));
    expect(e1.code).toBe('MANIFEST_UNKNOWN');
    expect(e1.message).toBe('manifest unknown: library/x:nope');
    const e2 = await failure(openImageSource('wharf://nope/x:v1', { local }));
    expect(e2.code).toBe('NOT_FOUND');
    expect(e2.message).toMatch(/repository nope\/x not found/);
    const e3 = await failure(openImageSource('wharf://library/x:v1'));
    expect(e3.message).toMatch(/needs its configuration/);
  });

  test('over HTTP: a public project anonymously, blobs verified while streaming', async () => {
    const src = await openImageSource(`${reg.host}/library/x:v1`);
    expect(src.kind).toBe('registry');
    expect(src.registry).toBe(reg.host);
    await expectImage(src, refs.v1 as BuiltImage);
    const arm = await openImageSource(`${reg.host}/library/multi:v1`, { platform: 'linux/arm64/v8' });
    expect(arm.manifestDigest).toBe((refs.multi as BuiltIndex).images[1].descriptor.digest);
  });

  test('over HTTP: a private project needs credentials; wrong ones are refused clearly', async () => {
    const anon = await failure(openImageSource(`${reg.host}/priv/x:v1`));
    expect(anon.code).toBe('UNAUTHORIZED');
    expect(anon.message).toMatch(/^unauthorized: /);
    expect(anon.message).toMatch(/no credentials given/);
    const src = await openImageSource(`${reg.host}/priv/x:v1`, creds());
    await expectImage(src, refs.v1 as BuiltImage);
    const bad = await failure(openImageSource(`${reg.host}/priv/x:v1`, { username: 'admin', password: 'Not-The-Password-1' }));
    expect(bad.code).toBe('UNAUTHORIZED');
    expect(bad.message).toMatch(/refused the credentials of admin/);
    expect(bad.message).not.toContain('Not-The-Password-1');
  });

  test('over HTTP: unknown tag → manifest unknown', async () => {
    const e = await failure(openImageSource(`${reg.host}/library/x:nope`));
    expect(e.code).toBe('MANIFEST_UNKNOWN');
    expect(e.message).toMatch(/^manifest unknown: /);
  });
});

describe('Go reference registry', () => {
  let reg: RunningRegistry;
  let docker: { list: BuiltIndex; builder: ImageBuilder };

  beforeAll(async () => {
    reg = await startReference();
    await sk.copy(`oci:${layout}:v1`, `docker://${reg.host}/team/x:v1`, ['--preserve-digests']);
    await sk.copy(`oci:${layout}:multi`, `docker://${reg.host}/team/multi:v1`, ['--all', '--preserve-digests']);
    // a Docker manifest list (Docker v2 schema 2 images), pushed by hand
    const builder = new ImageBuilder(path.join(tmp, 'docker-list'));
    const a = builder.image({ format: 'docker', platform: 'linux/amd64', layers: [base] });
    const b = builder.image({ format: 'docker', platform: 'linux/arm/v7', layers: [base, { files: { 'arm/v7': '1' } }] });
    const list = builder.index([a, b], { format: 'docker' });
    const manifests = [a, b].map((i) => ({ ref: i.descriptor.digest, bytes: i.manifestBytes, mediaType: MEDIA.dockerManifest }));
    const blobs = [...builder.allBlobs()].filter(([d]) => ![a, b, list].some((x) => x.descriptor.digest === d));
    await pushRaw(reg.url, 'team/dl', blobs, [...manifests, { ref: 'v1', bytes: list.indexBytes, mediaType: MEDIA.dockerList }]);
    docker = { list, builder };
  });

  afterAll(async () => {
    await reg?.stop();
  });

  test('an OCI image and an OCI index', async () => {
    await expectImage(await openImageSource(`${reg.host}/team/x:v1`), refs.v1 as BuiltImage);
    const idx = refs.multi as BuiltIndex;
    const amd = await openImageSource(`${reg.host}/team/multi:v1`);
    expect(amd.manifestDigest).toBe(idx.images[0].descriptor.digest);
    await expectImage(await openImageSource(`${reg.host}/team/multi:v1`, { platform: 'linux/arm64' }), idx.images[1]);
  });

  test('a Docker manifest list: platform selection, Docker media types', async () => {
    const src = await openImageSource(`${reg.host}/team/dl:v1`, { platform: 'linux/arm/v7' });
    expect(src.indexDigest).toBe(docker.list.descriptor.digest);
    expect(src.manifestMediaType).toBe(MEDIA.dockerManifest);
    expect(src.layers.every((l) => l.mediaType === MEDIA.dockerLayerGzip)).toBe(true);
    await expectImage(src, docker.list.images[1]);
    expect((await openImageSource(`${reg.host}/team/dl:v1`)).manifestDigest).toBe(docker.list.images[0].descriptor.digest);
    const e = await failure(openImageSource(`${reg.host}/team/dl:v1`, { platform: 'windows/amd64' }));
    expect(e.code).toBe('PLATFORM_NOT_FOUND');
    expect(e.message).toMatch(/available: linux\/amd64, linux\/arm\/v7/);
  });

  test('404s: unknown tag and unknown repository', async () => {
    const e1 = await failure(openImageSource(`${reg.host}/team/x:nope`));
    expect(e1.code).toBe('MANIFEST_UNKNOWN');
    expect(e1.message).toMatch(/^manifest unknown: manifest team\/x:nope not found/);
    const e2 = await failure(openImageSource(`${reg.host}/nobody/here:v1`));
    expect(e2.code).toBe('MANIFEST_UNKNOWN');
  });
});
