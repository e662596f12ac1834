// podman (isolated --root/--runroot, vfs) against the registry under test: push/pull round trips
// in OCI and docker v2s2 formats, zstd layers, platform selection from a multi-arch index,
// `podman manifest` lists pushed with their children, and `podman search --list-tags`.
// (`podman run` does not work on these machines; pull and push do.)
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Podman, Skopeo } from '../helpers/clients.ts';
import { dumpOnFailure, login, startAll, startE2E, type E2E } from '../helpers/e2e.ts';
import { MT, buildTestImages, sha256, type BuiltImage } from '../helpers/images.ts';

let e: E2E;
let pm: Podman;
let sk: Skopeo;

beforeAll(async () => {
  [e, pm, sk] = await startAll<[E2E, Podman, Skopeo]>(startE2E({ seed: 'podman', projects: ['team', 'deep'] }), Podman.create(), Skopeo.create());
  await login(e, pm, sk);
});

afterAll(async () => {
  await pm?.cleanup();
  await sk?.cleanup();
  await e?.stop();
});

dumpOnFailure(() => e);

async function expectLocal(ref: string, img: BuiltImage): Promise<any> {
  const info = await pm.inspect(ref);
  expect(info.Id).toBe(img.imageId.slice(7));
  expect(info.RootFS.Layers).toEqual(img.layers.map((l) => l.diffId));
  expect(info.Architecture).toBe(img.platform.architecture);
  expect(info.Labels).toEqual(img.configJson.config.Labels);
  return info;
}

/** fetch a manifest from the registry and check the digest header against the body */
async function registryManifest(name: string, ref: string): Promise<{ digest: string; type: string | null; json: any }> {
  const r = await e.http.manifest(name, ref);
  expect(r.status, `GET /v2/${name}/manifests/${ref}: ${r.text().slice(0, 300)}`).toBe(200);
  const digest = r.headers.get('docker-content-digest') ?? '';
  expect(sha256(r.body)).toBe(digest);
  return { digest, type: r.headers.get('content-type'), json: r.json() };
}

async function expectBlobsPresent(name: string, manifest: any): Promise<void> {
  for (const d of [manifest.config, ...manifest.layers]) {
    const h = await e.http.blob(name, d.digest, 'HEAD');
    expect(h.status, `HEAD /v2/${name}/blobs/${d.digest}`).toBe(200);
    expect(Number(h.headers.get('content-length'))).toBe(d.size);
  }
}

describe('podman', () => {
  // zstd uses images of their own: podman 4.3 reuses blobs it knows are in the registry (through
  // the blob info cache) whatever --compression-format says, so gzip and zstd copies of the same
  // layers would get mixed (and a later v2s2 push would refuse the zstd ones).
  test('zstd-compressed layers push and pull', async () => {
    const img = (await buildTestImages(path.join(e.tmp, 'zstd-images'), 'podman-zstd')).single;
    await pm.pull(`oci:${path.join(e.tmp, 'zstd-images')}:single`);
    const ref = `${e.host}/team/app/zstd:1`;
    const digest = await pm.push(img.imageId, `docker://${ref}`, ['--format', 'oci', '--compression-format', 'zstd']);
    const m = await registryManifest('team/app/zstd', '1');
    expect(m.digest).toBe(digest);
    expect(m.json.layers.every((l: any) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+zstd')).toBe(true);
    await expectBlobsPresent('team/app/zstd', m.json);
    // zstd frames start with 28 b5 2f fd
    const first = await e.http.blob('team/app/zstd', m.json.layers[0].digest);
    expect(first.body.subarray(0, 4).toString('hex')).toBe('28b52ffd');
    await pm.run(['rmi', '--all', '--force']);
    await pm.pull(ref);
    const info = await pm.inspect(ref);
    expect(info.RootFS.Layers).toEqual(img.layers.map((l) => l.diffId));
  });

  test('push (OCI) then rmi and pull back: same image ID, diff IDs and manifest digest', async () => {
    const img = e.images.single;
    await pm.pull(e.images.ref('single'));
    await expectLocal(img.imageId, img);
    const ref = `${e.host}/team/app/api:podman`;
    await pm.run(['tag', img.imageId, ref]);
    const digest = await pm.push(ref, `docker://${ref}`);

    const m = await registryManifest('team/app/api', 'podman');
    expect(m.digest).toBe(digest);
    expect(m.type).toBe(MT.ociManifest);
    expect(m.json.config.digest).toBe(img.imageId);
    expect(m.json.layers).toHaveLength(img.layers.length);
    await expectBlobsPresent('team/app/api', m.json);
    const cfg = await e.http.blob('team/app/api', img.imageId);
    expect(cfg.body.equals(img.configBytes)).toBe(true);

    await pm.run(['rmi', '--all', '--force']);
    expect((await pm.run(['image', 'exists', ref], { allowFail: true })).code).not.toBe(0);
    await pm.pull(ref);
    const info = await expectLocal(ref, img);
    expect(info.Digest).toBe(digest);
    // and by digest
    await pm.run(['rmi', '--all', '--force']);
    await pm.pull(`${e.host}/team/app/api@${digest}`);
    await expectLocal(`${e.host}/team/app/api@${digest}`, img);
  });

  test('push as docker v2s2 stores a schema2 manifest that pulls back to the same image', async () => {
    const img = e.images.single;
    await pm.pull(e.images.ref('single'));
    const ref = `${e.host}/team/app/v2s2:1`;
    const digest = await pm.push(img.imageId, `docker://${ref}`, ['--format', 'v2s2']);
    const m = await registryManifest('team/app/v2s2', '1');
    expect(m.digest).toBe(digest);
    expect(m.type).toBe(MT.dockerManifest);
    expect(m.json.mediaType).toBe(MT.dockerManifest);
    expect(m.json.config.mediaType).toBe(MT.dockerConfig);
    expect(m.json.layers.every((l: any) => l.mediaType === MT.dockerLayerGzip)).toBe(true);
    await expectBlobsPresent('team/app/v2s2', m.json);
    await pm.run(['rmi', '--all', '--force']);
    await pm.pull(ref);
    const info = await pm.inspect(ref);
    expect(info.RootFS.Layers).toEqual(img.layers.map((l) => l.diffId));
    expect(info.Digest).toBe(digest);
  });

  test('pull --arch picks the right child of a multi-arch index', async () => {
    const idx = e.images.multi;
    const ref = `${e.host}/team/app/multi:1`;
    await sk.copy(e.images.ref('multi'), `docker://${ref}`, ['--all', '--preserve-digests']);
    await pm.run(['rmi', '--all', '--force']);
    await pm.pull(ref, ['--arch', 'arm64', '--variant', 'v8']);
    await expectLocal(ref, idx.images[1]!);
    await pm.pull(ref, ['--arch', 'amd64']);
    await expectLocal(ref, idx.images[0]!);
  });

  test('podman manifest create/add/push --all writes an index whose children are in the repository', async () => {
    const idx = e.images.multi;
    const src = `${e.host}/team/app/multi`;
    await sk.copy(e.images.ref('multi'), `docker://${src}:1`, ['--all', '--preserve-digests']);
    const list = 'localhost/wharf-test-list:1';
    await pm.run(['manifest', 'create', list]);
    for (const child of idx.images) await pm.run(['manifest', 'add', '--tls-verify=false', list, `docker://${src}@${child.descriptor.digest}`]);
    const dest = `${e.host}/team/app/podman-list:1`;
    const digest = (
      await pm.run(['manifest', 'push', '--tls-verify=false', '--all', '--format', 'oci', list, `docker://${dest}`])
    ).stdout;
    void digest;
    const m = await registryManifest('team/app/podman-list', '1');
    expect(m.type).toBe(MT.ociIndex);
    const children = m.json.manifests.map((d: any) => [d.digest, d.platform.architecture]);
    expect(children).toEqual(
      expect.arrayContaining(idx.images.map((im) => [im.descriptor.digest, im.platform.architecture])),
    );
    for (const child of idx.images) {
      const c = await registryManifest('team/app/podman-list', child.descriptor.digest);
      expect(c.digest).toBe(child.descriptor.digest);
      await expectBlobsPresent('team/app/podman-list', c.json);
    }
  });

  test('podman search --list-tags lists the tags of a deep repository', async () => {
    await pm.pull(e.images.ref('single'));
    const repo = `${e.host}/deep/er/name/space`;
    for (const t of ['a', 'b', 'c']) await pm.push(e.images.single.imageId, `docker://${repo}:${t}`);
    const r = await pm.run(['search', '--tls-verify=false', '--list-tags', '--format', 'json', repo]);
    const out = JSON.parse(r.stdout);
    const tags: string[] = out[0]?.Tags ?? [];
    expect(tags.sort()).toEqual(['a', 'b', 'c']);
  });
});
