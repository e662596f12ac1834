// buildah (isolated --root/--runroot, vfs) against the registry under test: an image built from
// scratch (`buildah from scratch` + `buildah copy` + `buildah commit`) pushed in OCI and docker
// formats, its files read back from the registry; and an image built on top of a pulled one,
// pushed to another repository, reusing the base layer's blob.
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Buildah, Skopeo } from '../helpers/clients.ts';
import { dumpOnFailure, login, startAll, startE2E, type E2E } from '../helpers/e2e.ts';
import { MT, openLayout, readLayer, seededBytes, sha256 } from '../helpers/images.ts';

let e: E2E;
let bh: Buildah;
let sk: Skopeo;
let ctxDir: string;
let ctxFiles: Record<string, Buffer>;

beforeAll(async () => {
  [e, bh, sk] = await startAll<[E2E, Buildah, Skopeo]>(startE2E({ seed: 'buildah', projects: ['team'] }), Buildah.create(), Skopeo.create());
  await login(e, bh, sk);
  // a build context of seeded files, a nested dir and a symlink
  ctxDir = path.join(e.tmp, 'context');
  ctxFiles = {
    'hello.txt': Buffer.from('hello from wharf e2e\n'),
    'bin/data.bin': seededBytes('buildah-ctx-1', 150_000),
    'deep/nested/dir/small.bin': seededBytes('buildah-ctx-2', 333),
  };
  for (const [p, c] of Object.entries(ctxFiles)) {
    await mkdir(path.dirname(path.join(ctxDir, p)), { recursive: true });
    await writeFile(path.join(ctxDir, p), c);
  }
  await symlink('hello.txt', path.join(ctxDir, 'hello-link'));
});

afterAll(async () => {
  await bh?.cleanup();
  await sk?.cleanup();
  await e?.stop();
});

dumpOnFailure(() => e);

/** build from scratch: copy the context to /app, set cmd and a label, commit */
async function buildScratch(image: string, format: 'oci' | 'docker', label: string): Promise<string> {
  const ctr = (await bh.run(['from', 'scratch'])).stdout.trim();
  await bh.run(['copy', ctr, ctxDir, '/app']);
  await bh.run(['config', '--cmd', '/app/hello.txt', '--label', `wharf.test=${label}`, '--env', 'WHARF=1', ctr]);
  const id = (await bh.run(['commit', '--format', format, ctr, image])).stdout.trim().split('\n').pop()!;
  await bh.run(['rm', ctr]);
  return id;
}

/** copy an image out of the registry into an OCI layout and return its files by path */
async function filesInRegistry(ref: string): Promise<{ files: Record<string, Buffer>; symlinks: Record<string, string>; config: any }> {
  const out = path.join(e.tmp, `out-${sha256(ref).slice(7, 19)}`);
  await sk.copy(`docker://${ref}`, `oci:${out}:x`);
  const lay = await openLayout(out);
  const man = JSON.parse((await lay.blob(lay.manifestFor('x').digest)).toString());
  const files: Record<string, Buffer> = {};
  const symlinks: Record<string, string> = {};
  for (const l of man.layers) {
    for (const en of readLayer(await lay.blob(l.digest))) {
      if (en.type === 'file') files[en.path] = en.content!;
      if (en.type === 'symlink') symlinks[en.path] = en.target!;
    }
  }
  return { files, symlinks, config: JSON.parse((await lay.blob(man.config.digest)).toString()) };
}

describe('buildah', () => {
  let scratchDigest = '';

  test('from scratch + copy + commit, pushed as OCI: the registry serves the files we copied', async () => {
    const id = await buildScratch('localhost/wharf-scratch:1', 'oci', 'scratch');
    const ref = `${e.host}/team/app/built:1`;
    scratchDigest = await bh.push('localhost/wharf-scratch:1', `docker://${ref}`);

    const m = await e.http.manifest('team/app/built', '1');
    expect(m.status).toBe(200);
    expect(m.headers.get('docker-content-digest')).toBe(scratchDigest);
    expect(m.headers.get('content-type')).toBe(MT.ociManifest);
    const man = m.json();
    expect(man.config.digest).toBe(`sha256:${id}`);
    for (const d of [man.config, ...man.layers]) expect((await e.http.blob('team/app/built', d.digest, 'HEAD')).status).toBe(200);

    const got = await filesInRegistry(ref);
    for (const [p, c] of Object.entries(ctxFiles)) expect(got.files[`app/${p}`]?.equals(c), `app/${p}`).toBe(true);
    expect(got.symlinks['app/hello-link']).toBe('hello.txt');
    expect(got.config.config.Labels['wharf.test']).toBe('scratch');
    expect(got.config.config.Env).toContain('WHARF=1');
    expect(got.config.architecture).toBeTruthy();
  });

  test('committed as docker format, pushed: a schema2 manifest with the same files', async () => {
    await buildScratch('localhost/wharf-scratch-docker:1', 'docker', 'docker');
    const ref = `${e.host}/team/app/built-docker:1`;
    const digest = await bh.push('localhost/wharf-scratch-docker:1', `docker://${ref}`);
    const m = await e.http.manifest('team/app/built-docker', '1');
    expect(m.status).toBe(200);
    expect(m.headers.get('docker-content-digest')).toBe(digest);
    expect(m.headers.get('content-type')).toBe(MT.dockerManifest);
    const got = await filesInRegistry(ref);
    for (const [p, c] of Object.entries(ctxFiles)) expect(got.files[`app/${p}`]?.equals(c), `app/${p}`).toBe(true);
  });

  test('pull, build on top, push elsewhere: the base layer blob is reused, the new file is there', async () => {
    const src = `${e.host}/team/app/built:1`;
    await bh.run(['rmi', '--all', '--force']);
    await bh.run(['pull', '--tls-verify=false', src]);
    const ctr = (await bh.run(['from', '--tls-verify=false', src])).stdout.trim();
    const extra = path.join(e.tmp, 'extra.txt');
    await writeFile(extra, 'second layer\n');
    await bh.run(['copy', ctr, extra, '/app/extra.txt']);
    await bh.run(['commit', '--format', 'oci', ctr, 'localhost/wharf-on-top:1']);
    await bh.run(['rm', ctr]);
    const ref = `${e.host}/team/other/on-top:2`;
    const digest = await bh.push('localhost/wharf-on-top:1', `docker://${ref}`);

    const base = (await e.http.manifest('team/app/built', scratchDigest)).json();
    const top = await e.http.manifest('team/other/on-top', '2');
    expect(top.status).toBe(200);
    expect(top.headers.get('docker-content-digest')).toBe(digest);
    const man = top.json();
    expect(man.layers).toHaveLength(base.layers.length + 1);
    expect(man.layers[0].digest).toBe(base.layers[0].digest);
    for (const d of [man.config, ...man.layers]) expect((await e.http.blob('team/other/on-top', d.digest, 'HEAD')).status).toBe(200);
    const got = await filesInRegistry(ref);
    expect(got.files['app/extra.txt']?.toString()).toBe('second layer\n');
    expect(got.files['app/hello.txt']?.equals(ctxFiles['hello.txt']!)).toBe(true);
  });

  test('buildah push of an image pulled from an OCI layout keeps its config and file contents', async () => {
    const img = e.images.single;
    await bh.run(['pull', e.images.ref('single')]);
    // buildah recompresses layers from its store, so compare what survives: config and diff IDs
    const ref = `${e.host}/team/app/from-oci:1`;
    const digest = await bh.push(img.imageId, `docker://${ref}`);
    const m = await e.http.manifest('team/app/from-oci', '1');
    expect(m.headers.get('docker-content-digest')).toBe(digest);
    expect(m.json().config.digest).toBe(img.imageId);
    const cfg = await e.http.blob('team/app/from-oci', img.imageId);
    expect(JSON.parse(cfg.body.toString()).rootfs.diff_ids).toEqual(img.layers.map((l) => l.diffId));
    const got = await filesInRegistry(ref);
    for (const l of img.layers) for (const [p, c] of Object.entries(l.files)) expect(got.files[p]?.equals(c), p).toBe(true);
  });
});
