// skopeo against the registry under test: copy round trips (OCI layout -> registry -> OCI layout),
// inspect, list-tags, delete, sync (registry <-> dir, registry -> registry) and multi-arch
// indexes with --all. Images are built offline (test/helpers/images.ts).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Skopeo } from '../helpers/clients.ts';
import { dumpOnFailure, login, startAll, startE2E, type E2E } from '../helpers/e2e.ts';
import { MT, buildLargeImage, layerFiles, openLayout, sha256, type BuiltImage } from '../helpers/images.ts';

let e: E2E;
let sk: Skopeo;

beforeAll(async () => {
  // every repository below lives in one of these projects ('no' stays missing on purpose)
  const projects = ['team', 'other', 'a', 'race', 'sync'];
  [e, sk] = await startAll<[E2E, Skopeo]>(startE2E({ seed: 'skopeo', projects }), Skopeo.create());
  await login(e, sk);
});

afterAll(async () => {
  await sk?.cleanup();
  await e?.stop();
});

dumpOnFailure(() => e);

const docker = (ref: string) => `docker://${e.host}/${ref}`;

/** every blob of a manifest, checked byte for byte against what we built */
async function expectBlobsServed(name: string, img: BuiltImage): Promise<void> {
  const c = await e.http.blob(name, img.config.digest);
  expect(c.status, `GET config blob ${img.config.digest}`).toBe(200);
  expect(sha256(c.body)).toBe(img.config.digest);
  for (const l of img.layers) {
    const r = await e.http.blob(name, l.descriptor.digest);
    expect(r.status, `GET layer blob ${l.descriptor.digest}`).toBe(200);
    expect(r.body.length).toBe(l.descriptor.size);
    expect(r.body.equals(l.blob)).toBe(true);
    const h = await e.http.blob(name, l.descriptor.digest, 'HEAD');
    expect(h.status).toBe(200);
    expect(Number(h.headers.get('content-length'))).toBe(l.descriptor.size);
  }
}

describe('skopeo copy', () => {
  test('oci layout -> registry -> oci layout keeps every digest and byte (3-component name)', async () => {
    const img = e.images.single;
    const name = 'team/app/api';
    const pushed = await sk.copyDigest(e.images.ref('single'), docker(`${name}:v1`), ['--preserve-digests']);
    expect(pushed).toBe(img.descriptor.digest);

    // what the registry serves
    const byTag = await e.http.manifest(name, 'v1');
    expect(byTag.status).toBe(200);
    expect(byTag.headers.get('docker-content-digest')).toBe(img.descriptor.digest);
    expect(byTag.headers.get('content-type')).toBe(MT.ociManifest);
    expect(byTag.body.equals(img.manifestBytes)).toBe(true);
    const byDigest = await e.http.manifest(name, img.descriptor.digest);
    expect(byDigest.status).toBe(200);
    expect(byDigest.body.equals(img.manifestBytes)).toBe(true);
    await expectBlobsServed(name, img);

    // skopeo's own view of the raw manifest and config
    expect((await sk.inspectRaw(docker(`${name}:v1`))).equals(img.manifestBytes)).toBe(true);
    expect((await sk.inspectRaw(docker(`${name}:v1`), { config: true })).equals(img.configBytes)).toBe(true);

    // and back into a fresh OCI layout
    const out = path.join(e.tmp, 'roundtrip');
    await sk.copy(docker(`${name}:v1`), `oci:${out}:back`, ['--preserve-digests']);
    const lay = await openLayout(out);
    const m = lay.manifestFor('back');
    expect(m.digest).toBe(img.descriptor.digest);
    expect((await lay.blob(m.digest)).equals(img.manifestBytes)).toBe(true);
    expect((await lay.blob(img.config.digest)).equals(img.configBytes)).toBe(true);
    for (const l of img.layers) {
      const b = await lay.blob(l.descriptor.digest);
      expect(sha256(b)).toBe(l.descriptor.digest);
      expect(layerFiles(b)).toEqual(l.files);
    }
  });

  test('copy by digest, and registry -> registry into another repository', async () => {
    const img = e.images.single;
    await sk.copy(e.images.ref('single'), docker('team/app/bydigest:tmp'), ['--preserve-digests']);
    const out = path.join(e.tmp, 'bydigest');
    await sk.copy(docker(`team/app/bydigest@${img.descriptor.digest}`), `oci:${out}:x`, ['--preserve-digests']);
    expect((await openLayout(out)).manifestFor('x').digest).toBe(img.descriptor.digest);

    const d = await sk.copyDigest(docker('team/app/bydigest:tmp'), docker('other/place/copied:c1'), ['--preserve-digests']);
    expect(d).toBe(img.descriptor.digest);
    const r = await e.http.manifest('other/place/copied', 'c1');
    expect(r.status).toBe(200);
    expect(r.body.equals(img.manifestBytes)).toBe(true);
    await expectBlobsServed('other/place/copied', img);
  });

  test('an image sharing layers with one already in the repository skips the shared blobs', async () => {
    const name = 'team/app/shared';
    await sk.copy(e.images.ref('single'), docker(`${name}:one`), ['--preserve-digests']);
    // --debug (a global flag) logs the HEAD checks and the skip decisions
    const r = await sk.run(['--debug', 'copy', '--dest-tls-verify=false', '--preserve-digests', e.images.ref('derived'), docker(`${name}:two`)]);
    const log = r.stdout + r.stderr;
    const [base, mid, extra] = e.images.derived.layers;
    expect(log).toContain(`Skipping blob ${base!.descriptor.digest} (already present)`);
    expect(log).toContain(`Skipping blob ${mid!.descriptor.digest} (already present)`);
    expect(log).not.toContain(`Skipping blob ${extra!.descriptor.digest}`);
    const m = await e.http.manifest(name, 'two');
    expect(m.headers.get('docker-content-digest')).toBe(e.images.derived.descriptor.digest);
    await expectBlobsServed(name, e.images.derived);
  });

  test('deep repository names with separators (a/b.c/d_e/f-g/h) work', async () => {
    const name = 'a/b.c/d_e/f-g/h';
    const d = await sk.copyDigest(e.images.ref('single'), docker(`${name}:t.1_x-y`), ['--preserve-digests']);
    expect(d).toBe(e.images.single.descriptor.digest);
    expect(await sk.listTags(docker(name))).toEqual(['t.1_x-y']);
    const info = await sk.inspect(docker(`${name}:t.1_x-y`));
    expect(info.Digest).toBe(e.images.single.descriptor.digest);
  });
});

describe('skopeo inspect / list-tags', () => {
  test('inspect reports digest, platform, layers, labels and the repo tags', async () => {
    const img = e.images.single;
    const name = 'team/app/inspect';
    for (const t of ['v1', 'v2', 'latest']) await sk.copy(e.images.ref('single'), docker(`${name}:${t}`), ['--preserve-digests']);
    const info = await sk.inspect(docker(`${name}:v2`));
    expect(info.Digest).toBe(img.descriptor.digest);
    expect(info.Architecture).toBe('amd64');
    expect(info.Os).toBe('linux');
    expect(info.Layers).toEqual(img.layers.map((l) => l.descriptor.digest));
    expect(info.Labels).toEqual(img.configJson.config.Labels);
    expect(info.Env).toEqual(img.configJson.config.Env);
    expect([...info.RepoTags].sort()).toEqual(['latest', 'v1', 'v2']);
    expect(info.Name).toBe(`${e.host}/${name}`);
  });

  test('list-tags lists every tag pushed, and nothing for other repositories', async () => {
    const name = 'team/app/tags';
    const tags = ['1.0.0', '1.0', '1', 'latest', 'sha-abc123', 'UPPER_lower'];
    for (const t of tags) await sk.copy(e.images.ref('single'), docker(`${name}:${t}`), ['--preserve-digests']);
    expect((await sk.listTags(docker(name))).sort()).toEqual([...tags].sort());
    expect((await e.http.tags(name)).sort()).toEqual([...tags].sort());
    // a sibling whose name is a prefix does not see them
    await sk.copy(e.images.ref('single'), docker(`team/app/tags-sibling:only`), ['--preserve-digests']);
    expect(await sk.listTags(docker('team/app/tags-sibling'))).toEqual(['only']);
  });

  test('inspect and list-tags of things that do not exist fail', async () => {
    const a = await sk.run(['inspect', '--tls-verify=false', docker('team/app/inspect:no-such-tag')], { allowFail: true });
    expect(a.code).not.toBe(0);
    expect(a.stderr).toMatch(/manifest unknown|not found/i);
    const b = await sk.run(['list-tags', '--tls-verify=false', docker('no/such/repository')], { allowFail: true });
    expect(b.code).not.toBe(0);
    expect(b.stderr).toMatch(/name unknown|not found|repository name not known/i);
  });
});

describe('skopeo under load', () => {
  test('concurrent copies of images sharing layers into the same and other repositories', async () => {
    const jobs: Array<[string, string, string[], string]> = [
      [e.images.ref('single'), 'race/one:s', [], e.images.single.descriptor.digest],
      [e.images.ref('derived'), 'race/one:d', [], e.images.derived.descriptor.digest],
      [e.images.ref('multi'), 'race/one:m', ['--all'], e.images.multi.descriptor.digest],
      [e.images.ref('single'), 'race/two:s', [], e.images.single.descriptor.digest],
      [e.images.ref('derived'), 'race/two:d', [], e.images.derived.descriptor.digest],
      [e.images.ref('single'), 'race/one:s2', [], e.images.single.descriptor.digest],
    ];
    const digests = await Promise.all(jobs.map(([src, dst, flags]) => sk.copyDigest(src, docker(dst), ['--preserve-digests', ...flags])));
    expect(digests).toEqual(jobs.map((j) => j[3]));
    for (const [, dst, , want] of jobs) {
      const [name, tag] = dst.split(':') as [string, string];
      const r = await e.http.manifest(name, tag);
      expect(r.headers.get('docker-content-digest'), dst).toBe(want);
    }
    await expectBlobsServed('race/one', e.images.single);
    await expectBlobsServed('race/one', e.images.derived);
    for (const child of e.images.multi.images) await expectBlobsServed('race/one', child);
    await expectBlobsServed('race/two', e.images.derived);
    expect((await sk.listTags(docker('race/one'))).sort()).toEqual(['d', 'm', 's', 's2']);
  });

  test('list-tags returns all of 300 tags (following pagination if the registry pages)', async () => {
    const name = 'team/app/manytags';
    const img = e.images.single;
    await sk.copy(e.images.ref('single'), docker(`${name}:t000`), ['--preserve-digests']);
    const want = Array.from({ length: 300 }, (_, i) => `t${String(i).padStart(3, '0')}`);
    // tag the same manifest 299 more times straight over HTTP (much faster than 299 client runs)
    for (let i = 1; i < want.length; i += 25) {
      await Promise.all(
        want.slice(i, i + 25).map(async (t) => {
          const r = await e.http.request('PUT', `/v2/${name}/manifests/${t}`, { 'Content-Type': MT.ociManifest }, img.manifestBytes);
          expect(r.status, `PUT tag ${t}: ${r.text()}`).toBe(201);
        }),
      );
    }
    expect((await sk.listTags(docker(name))).sort()).toEqual(want);
  });
});

describe('skopeo delete', () => {
  test('delete removes the manifest (GET by digest and by tag 404) and leaves other repositories alone', async () => {
    const img = e.images.single;
    const name = 'team/app/del';
    await sk.copy(e.images.ref('single'), docker(`${name}:gone`), ['--preserve-digests']);
    await sk.copy(e.images.ref('single'), docker('team/app/keep:kept'), ['--preserve-digests']);
    expect((await e.http.manifest(name, img.descriptor.digest)).status).toBe(200);

    await sk.delete(docker(`${name}:gone`));

    const byDigest = await e.http.manifest(name, img.descriptor.digest);
    expect(byDigest.status).toBe(404);
    expect(byDigest.json().errors?.[0]?.code).toBe('MANIFEST_UNKNOWN');
    expect((await e.http.manifest(name, 'gone')).status).toBe(404);
    expect((await e.http.manifest(name, img.descriptor.digest, { method: 'HEAD' })).status).toBe(404);
    const insp = await sk.run(['inspect', '--tls-verify=false', docker(`${name}:gone`)], { allowFail: true });
    expect(insp.code).not.toBe(0);

    // the same manifest in another repository is untouched
    const kept = await e.http.manifest('team/app/keep', 'kept');
    expect(kept.status).toBe(200);
    expect(kept.headers.get('docker-content-digest')).toBe(img.descriptor.digest);
    await expectBlobsServed('team/app/keep', img);

    // and the same manifest can be pushed to the emptied repository again
    const again = await sk.copyDigest(e.images.ref('single'), docker(`${name}:back`), ['--preserve-digests']);
    expect(again).toBe(img.descriptor.digest);
    const r = await e.http.manifest(name, 'back');
    expect(r.status).toBe(200);
    expect(r.body.equals(img.manifestBytes)).toBe(true);
    expect(await sk.listTags(docker(name))).toEqual(['back']);
  });
});

describe('skopeo with a large layer', () => {
  test('a 24 MiB incompressible layer round trips intact', async () => {
    const big = await buildLargeImage(path.join(e.tmp, 'large'), 'skopeo', 24 * 1024 * 1024);
    const name = 'team/app/large';
    const d = await sk.copyDigest(big.ref, docker(`${name}:1`), ['--preserve-digests']);
    expect(d).toBe(big.image.descriptor.digest);
    const layer = big.image.layers[1]!;
    const h = await e.http.blob(name, layer.descriptor.digest, 'HEAD');
    expect(Number(h.headers.get('content-length'))).toBe(layer.descriptor.size);
    const out = path.join(e.tmp, 'large-back');
    await sk.copy(docker(`${name}:1`), `oci:${out}:x`, ['--preserve-digests']);
    const b = await (await openLayout(out)).blob(layer.descriptor.digest);
    expect(sha256(b)).toBe(layer.descriptor.digest);
    expect(layerFiles(b)['big/blob.bin']!.equals(layer.files['big/blob.bin']!)).toBe(true);
  });
});

describe('skopeo with a multi-arch index', () => {
  test('copy --all pushes the index and every child, each pullable by digest', async () => {
    const idx = e.images.multi;
    const name = 'team/app/multi';
    const d = await sk.copyDigest(e.images.ref('multi'), docker(`${name}:1`), ['--all', '--preserve-digests']);
    expect(d).toBe(idx.descriptor.digest);

    const r = await e.http.manifest(name, '1');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe(MT.ociIndex);
    expect(r.headers.get('docker-content-digest')).toBe(idx.descriptor.digest);
    expect(r.body.equals(idx.indexBytes)).toBe(true);
    expect((await sk.inspectRaw(docker(`${name}:1`))).equals(idx.indexBytes)).toBe(true);

    for (const child of idx.images) {
      const m = await e.http.manifest(name, child.descriptor.digest);
      expect(m.status, `child ${child.platform.architecture}`).toBe(200);
      expect(m.headers.get('content-type')).toBe(MT.ociManifest);
      expect(m.body.equals(child.manifestBytes)).toBe(true);
      await expectBlobsServed(name, child);
      const info = await sk.inspect(docker(`${name}@${child.descriptor.digest}`));
      expect(info.Architecture).toBe(child.platform.architecture);
      expect(info.Digest).toBe(child.descriptor.digest);
      const out = path.join(e.tmp, `child-${child.platform.architecture}`);
      await sk.copy(docker(`${name}@${child.descriptor.digest}`), `oci:${out}:c`, ['--preserve-digests']);
      const lay = await openLayout(out);
      expect(lay.manifestFor('c').digest).toBe(child.descriptor.digest);
      for (const l of child.layers) expect(layerFiles(await lay.blob(l.descriptor.digest))).toEqual(l.files);
    }

    // platform selection through the index
    // (inspect reports the digest of the index itself, and the rest from the chosen child)
    for (const [i, flags] of [
      [0, ['--override-arch', 'amd64', '--override-os', 'linux']],
      [1, ['--override-arch', 'arm64', '--override-variant', 'v8', '--override-os', 'linux']],
    ] as const) {
      const child = idx.images[i]!;
      const info = JSON.parse((await sk.run([...flags, 'inspect', '--tls-verify=false', docker(`${name}:1`)])).stdout);
      expect(info.Digest).toBe(idx.descriptor.digest);
      expect(info.Architecture).toBe(child.platform.architecture);
      expect(info.Layers).toEqual(child.layers.map((l) => l.descriptor.digest));
    }
  });

  test('copy --all back into an OCI layout reproduces the index', async () => {
    const idx = e.images.multi;
    const name = 'team/app/multi-back';
    await sk.copy(e.images.ref('multi'), docker(`${name}:1`), ['--all', '--preserve-digests']);
    const out = path.join(e.tmp, 'multi-back');
    await sk.copy(docker(`${name}:1`), `oci:${out}:all`, ['--all', '--preserve-digests']);
    const lay = await openLayout(out);
    expect(lay.manifestFor('all').digest).toBe(idx.descriptor.digest);
    expect((await lay.blob(idx.descriptor.digest)).equals(idx.indexBytes)).toBe(true);
    for (const child of idx.images) {
      expect((await lay.blob(child.descriptor.digest)).equals(child.manifestBytes)).toBe(true);
      for (const l of child.layers) expect((await lay.blob(l.descriptor.digest)).equals(l.blob)).toBe(true);
    }
  });

  test('copy without --all stores only the amd64 image under the tag', async () => {
    const amd = e.images.multi.images[0]!;
    const f = path.join(e.tmp, 'multi-one.digest');
    // --override-arch/--override-os are global flags (before the subcommand)
    await sk.run([
      '--override-arch', 'amd64', '--override-os', 'linux',
      'copy', '--dest-tls-verify=false', '--preserve-digests', '--digestfile', f,
      e.images.ref('multi'), docker('team/app/multi-one:amd'),
    ]);
    expect((await readFile(f, 'utf8')).trim()).toBe(amd.descriptor.digest);
    const r = await e.http.manifest('team/app/multi-one', 'amd');
    expect(r.headers.get('content-type')).toBe(MT.ociManifest);
    expect(r.body.equals(amd.manifestBytes)).toBe(true);
  });
});

describe('skopeo sync', () => {
  test('registry -> dir -> registry and registry -> registry keep tags and digests', async () => {
    const src = 'sync/src/app';
    const img = e.images.single;
    const idx = e.images.multi;
    await sk.copy(e.images.ref('single'), docker(`${src}:a`), ['--preserve-digests']);
    await sk.copy(e.images.ref('derived'), docker(`${src}:b`), ['--preserve-digests']);
    await sk.copy(e.images.ref('multi'), docker(`${src}:m`), ['--all', '--preserve-digests']);

    // registry -> directory: one dir-transport image per tag, named <last component>:<tag>
    const dir = path.join(e.tmp, 'sync-dir');
    await sk.sync(['--src', 'docker', '--dest', 'dir', '--all', '--preserve-digests', `${e.host}/${src}`, dir]);
    const manA = await readFile(path.join(dir, 'app:a', 'manifest.json'));
    expect(sha256(manA)).toBe(img.descriptor.digest);
    const manM = await readFile(path.join(dir, 'app:m', 'manifest.json'));
    expect(sha256(manM)).toBe(idx.descriptor.digest);
    for (const l of img.layers) {
      const b = await readFile(path.join(dir, 'app:a', l.descriptor.digest.slice(7)));
      expect(layerFiles(b)).toEqual(l.files);
    }

    // directory -> registry
    await sk.sync(['--src', 'dir', '--dest', 'docker', '--all', '--preserve-digests', dir, `${e.host}/sync/fromdir`]);
    expect((await e.http.tags('sync/fromdir/app')).sort()).toEqual(['a', 'b', 'm']);
    expect((await e.http.manifest('sync/fromdir/app', 'a')).headers.get('docker-content-digest')).toBe(img.descriptor.digest);
    expect((await e.http.manifest('sync/fromdir/app', 'b')).headers.get('docker-content-digest')).toBe(
      e.images.derived.descriptor.digest,
    );
    expect((await e.http.manifest('sync/fromdir/app', 'm')).headers.get('docker-content-digest')).toBe(idx.descriptor.digest);
    for (const child of idx.images) expect((await e.http.manifest('sync/fromdir/app', child.descriptor.digest)).status).toBe(200);

    // registry -> registry (whole repository, all tags)
    await sk.sync(['--src', 'docker', '--dest', 'docker', '--all', '--preserve-digests', `${e.host}/${src}`, `${e.host}/sync/mirror`]);
    expect(await sk.listTags(docker('sync/mirror/app')).then((t) => t.sort())).toEqual(['a', 'b', 'm']);
    for (const [t, want] of [
      ['a', img.descriptor.digest],
      ['b', e.images.derived.descriptor.digest],
      ['m', idx.descriptor.digest],
    ] as const) {
      const r = await e.http.manifest('sync/mirror/app', t);
      expect(r.headers.get('docker-content-digest'), `sync/mirror/app:${t}`).toBe(want);
    }
    await expectBlobsServed('sync/mirror/app', e.images.derived);
    for (const child of idx.images) await expectBlobsServed('sync/mirror/app', child);
  });
});
