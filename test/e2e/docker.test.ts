// docker (a private dockerd, vfs storage, started once for this file) against the registry under
// test: push, rmi, pull with the image ID preserved; a second tag whose layers already exist;
// cross-repository mounts of shared layers; pull by digest; multi-arch index platform selection.
// Images are built offline and loaded with `docker load` from a skopeo-made docker-archive.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DockerDaemon, Skopeo } from '../helpers/clients.ts';
import { dumpOnFailure, login, startAll, startE2E, type E2E } from '../helpers/e2e.ts';
import { MT, buildLargeImage, sha256, type BuiltImage } from '../helpers/images.ts';

let e: E2E;
let sk: Skopeo;
let dk: DockerDaemon;

beforeAll(async () => {
  // every repository below lives in one of these projects ('no' stays missing on purpose)
  const projects = ['team', 'org-1'];
  [e, sk, dk] = await startAll<[E2E, Skopeo, DockerDaemon]>(startE2E({ seed: 'docker', projects }), Skopeo.create(), DockerDaemon.start());
  await login(e, sk, dk);
});

afterAll(async () => {
  await dk?.stop();
  await sk?.cleanup();
  await e?.stop();
});

dumpOnFailure(() => e);

/** docker load an image built offline, via skopeo oci: -> docker-archive: */
async function load(which: 'single' | 'derived', tag: string): Promise<void> {
  const archive = path.join(e.tmp, `${which}-${tag.replace(/[/:]/g, '_')}.tar`);
  await sk.copy(e.images.ref(which), `docker-archive:${archive}:${tag}`);
  const r = await dk.docker(['load', '-i', archive]);
  expect(r.stdout).toContain(`Loaded image: ${tag}`);
}

/** the digest docker push prints ("<tag>: digest: sha256:… size: N") */
function pushedDigest(out: string): string {
  const m = /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(out);
  if (!m) throw new Error(`no digest in docker push output:\n${out}`);
  return m[1]!;
}

/** layer lines of docker push output: short id -> status */
function pushStatus(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const x = /^([0-9a-f]{12}): (.+)$/.exec(line.trim());
    if (x && !/^(Preparing|Waiting)$/.test(x[2]!)) m.set(x[1]!, x[2]!);
  }
  return m;
}

const short = (digest: string) => digest.slice(7, 19);

async function expectImage(ref: string, img: BuiltImage): Promise<void> {
  const info = await dk.inspect(ref);
  expect(info.Id).toBe(img.imageId);
  expect(info.RootFS.Layers).toEqual(img.layers.map((l) => l.diffId));
  expect(info.Architecture).toBe(img.platform.architecture);
  expect(info.Config.Labels).toEqual(img.configJson.config.Labels);
}

describe('docker', () => {
  let v1Digest = '';

  test('docker load of the offline image keeps its image ID (the config digest)', async () => {
    await load('single', 'wharf-test/single:latest');
    await expectImage('wharf-test/single:latest', e.images.single);
  });

  test('push, rmi, pull: image ID and layer diff IDs survive the round trip', async () => {
    const img = e.images.single;
    const ref = `${e.host}/team/app/api:v1`;
    await dk.docker(['tag', 'wharf-test/single:latest', ref]);
    const push = await dk.docker(['push', ref]);
    v1Digest = pushedDigest(push.stdout);

    // what the registry holds: a schema2 manifest whose config is our config, byte for byte
    const m = await e.http.manifest('team/app/api', 'v1');
    expect(m.status).toBe(200);
    expect(m.headers.get('docker-content-digest')).toBe(v1Digest);
    expect(sha256(m.body)).toBe(v1Digest);
    expect(m.headers.get('content-type')).toBe(MT.dockerManifest);
    const man = m.json();
    expect(man.config.digest).toBe(img.imageId);
    expect(man.layers).toHaveLength(img.layers.length);
    const cfg = await e.http.blob('team/app/api', img.imageId);
    expect(cfg.status).toBe(200);
    expect(cfg.body.equals(img.configBytes)).toBe(true);
    for (const l of man.layers) {
      const b = await e.http.blob('team/app/api', l.digest, 'HEAD');
      expect(b.status, `HEAD ${l.digest}`).toBe(200);
      expect(Number(b.headers.get('content-length'))).toBe(l.size);
    }

    await dk.docker(['rmi', ref, 'wharf-test/single:latest']);
    const gone = await dk.docker(['image', 'inspect', ref], { allowFail: true });
    expect(gone.code).not.toBe(0);

    const pull = await dk.docker(['pull', ref]);
    expect(pull.stdout).toContain(`Digest: ${v1Digest}`);
    // every layer came over the wire (nothing was left locally)
    expect(pull.stdout).not.toContain('Already exists');
    await expectImage(ref, img);
    const info = await dk.inspect(ref);
    expect(info.RepoDigests).toContain(`${e.host}/team/app/api@${v1Digest}`);
  });

  test('a second tag in the same repository: every layer already exists, same digest', async () => {
    const ref = `${e.host}/team/app/api:v2`;
    await dk.docker(['tag', `${e.host}/team/app/api:v1`, ref]);
    const push = await dk.docker(['push', ref]);
    expect(pushedDigest(push.stdout)).toBe(v1Digest);
    const st = pushStatus(push.stdout);
    expect(st.size).toBe(e.images.single.layers.length);
    for (const [id, s] of st) expect(s, `layer ${id}`).toBe('Layer already exists');
    expect((await e.http.tags('team/app/api')).sort()).toEqual(['v1', 'v2']);
  });

  test('an image sharing layers pushed to another repository mounts the shared ones', async () => {
    const img = e.images.derived;
    await load('derived', 'wharf-test/derived:latest');
    await expectImage('wharf-test/derived:latest', img);
    const ref = `${e.host}/team/app/worker:1`;
    await dk.docker(['tag', 'wharf-test/derived:latest', ref]);
    const push = await dk.docker(['push', ref]);
    const digest = pushedDigest(push.stdout);
    const st = pushStatus(push.stdout);
    const [base, mid, extra] = img.layers;
    // docker names layers by diff ID in push output
    expect(st.get(short(base!.diffId))).toBe('Mounted from team/app/api');
    expect(st.get(short(mid!.diffId))).toBe('Mounted from team/app/api');
    expect(st.get(short(extra!.diffId))).toBe('Pushed');

    const m = await e.http.manifest('team/app/worker', '1');
    expect(m.headers.get('docker-content-digest')).toBe(digest);
    for (const l of m.json().layers) expect((await e.http.blob('team/app/worker', l.digest, 'HEAD')).status).toBe(200);

    await dk.docker(['rmi', ref, 'wharf-test/derived:latest']);
    await dk.docker(['pull', ref]);
    await expectImage(ref, img);
  });

  test('pull by digest', async () => {
    const ref = `${e.host}/team/app/api@${v1Digest}`;
    await dk.docker(['rmi', '-f', e.images.single.imageId]);
    const pull = await dk.docker(['pull', ref]);
    expect(pull.stdout).toContain(`Digest: ${v1Digest}`);
    await expectImage(ref, e.images.single);
  });

  test('pull of a multi-arch OCI index picks the requested platform', async () => {
    const idx = e.images.multi;
    const name = 'team/app/multi';
    await sk.copy(e.images.ref('multi'), `docker://${e.host}/${name}:1`, ['--all', '--preserve-digests']);
    const ref = `${e.host}/${name}:1`;
    const amd = await dk.docker(['pull', ref]);
    expect(amd.stdout).toContain(`Digest: ${idx.descriptor.digest}`);
    await expectImage(ref, idx.images[0]!);
    const arm = await dk.docker(['pull', '--platform', 'linux/arm64', ref]);
    expect(arm.stdout).toContain(`Digest: ${idx.descriptor.digest}`);
    await expectImage(ref, idx.images[1]!);
  });

  test('docker manifest inspect/create/push: a docker manifest list over the index children', async () => {
    const idx = e.images.multi;
    const src = `${e.host}/team/app/multi`;
    // (pushed by the previous test)
    const insp = JSON.parse((await dk.docker(['manifest', 'inspect', '--insecure', `${src}:1`])).stdout);
    expect(insp.mediaType).toBe(MT.ociIndex);
    expect(insp.manifests.map((m: any) => m.digest)).toEqual(idx.images.map((i) => i.descriptor.digest));

    const list = `${e.host}/team/app/docker-list:1`;
    await dk.docker(['manifest', 'create', '--insecure', list, ...idx.images.map((i) => `${src}@${i.descriptor.digest}`)]);
    const pushed = await dk.docker(['manifest', 'push', '--insecure', list]);
    // it prints one line per child it pushed (or mounted) and then the list's digest
    const digest = pushed.stdout.match(/sha256:[0-9a-f]{64}/g)?.pop();
    const r = await e.http.manifest('team/app/docker-list', '1');
    expect(r.status).toBe(200);
    expect(r.headers.get('docker-content-digest')).toBe(digest);
    const body = r.json();
    expect([MT.dockerList, MT.ociIndex]).toContain(r.headers.get('content-type'));
    // (docker orders the list as it likes)
    expect(body.manifests.map((m: any) => `${m.platform.architecture} ${m.digest}`).sort()).toEqual(
      idx.images.map((i) => `${i.platform.architecture} ${i.descriptor.digest}`).sort(),
    );
    for (const i of idx.images) {
      const c = await e.http.manifest('team/app/docker-list', i.descriptor.digest);
      expect(c.status, `child ${i.platform.architecture} in team/app/docker-list`).toBe(200);
      for (const l of i.layers) expect((await e.http.blob('team/app/docker-list', l.descriptor.digest, 'HEAD')).status).toBe(200);
    }
  });

  test('pull of a single OCI manifest (pushed by skopeo) gives the OCI config as the image', async () => {
    const img = e.images.derived;
    const ref = `${e.host}/team/app/oci-single:1`;
    await sk.copy(e.images.ref('derived'), `docker://${ref}`, ['--preserve-digests']);
    const pull = await dk.docker(['pull', ref]);
    expect(pull.stdout).toContain(`Digest: ${img.descriptor.digest}`);
    await expectImage(ref, img);
  });

  test('a 24 MiB layer pushes (chunked PATCH) and pulls back intact', async () => {
    const big = await buildLargeImage(path.join(e.tmp, 'large'), 'docker', 24 * 1024 * 1024);
    const archive = path.join(e.tmp, 'large.tar');
    await sk.copy(big.ref, `docker-archive:${archive}:wharf-test/large:1`);
    await dk.docker(['load', '-i', archive]);
    const ref = `${e.host}/team/app/large:1`;
    await dk.docker(['tag', 'wharf-test/large:1', ref]);
    const digest = pushedDigest((await dk.docker(['push', ref])).stdout);
    const m = (await e.http.manifest('team/app/large', '1')).json();
    const bigLayer = m.layers.reduce((a: any, l: any) => (l.size > a.size ? l : a));
    expect(bigLayer.size).toBeGreaterThan(24 * 1024 * 1024);
    const blob = await e.http.blob('team/app/large', bigLayer.digest);
    expect(sha256(blob.body)).toBe(bigLayer.digest);
    await dk.docker(['rmi', ref, 'wharf-test/large:1']);
    const pull = await dk.docker(['pull', ref]);
    expect(pull.stdout).toContain(`Digest: ${digest}`);
    await expectImage(ref, big.image);
  });

  test('push to a deep repository name, and a pull of a missing tag fails with manifest unknown', async () => {
    const ref = `${e.host}/org-1/team.two/sub_three/app:1.0`;
    await dk.docker(['tag', e.images.single.imageId, ref]);
    const push = await dk.docker(['push', ref]);
    expect(pushedDigest(push.stdout)).toBe(v1Digest);
    expect(await e.http.tags('org-1/team.two/sub_three/app')).toEqual(['1.0']);

    const miss = await dk.docker(['pull', `${e.host}/team/app/api:no-such-tag`], { allowFail: true });
    expect(miss.code).not.toBe(0);
    expect(miss.stderr).toMatch(/manifest unknown|not found/i);
    const missRepo = await dk.docker(['pull', `${e.host}/no/such/repo:latest`], { allowFail: true });
    expect(missRepo.code).not.toBe(0);
    expect(missRepo.stderr).toMatch(/manifest unknown|not found|repository does not exist/i);
  });
});
