// Edge cases and bad input on /v2, against a real Wharf process: each bad request gets its
// spec error as JSON and leaves storage and metadata exactly as they were. Every request carries
// the admin's Basic credentials (req/rawSend with the registry as base), and the repositories
// live in the project `edge`, created first.
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProject, startWharf, type RunningRegistry } from '../helpers/servers.ts';
import { rawSend, req } from '../helpers/raw-http.ts';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sha512 = (b: Buffer | string) => `sha512:${createHash('sha512').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

let w: RunningRegistry;

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string) {
    let ents;
    try {
      ents = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(path.relative(dir, p));
    }
  }
  await walk(dir);
  return out.sort();
}

function counts(dataDir: string): Record<string, number> {
  const db = new Database(path.join(dataDir, 'wharf.db'), { readonly: true, fileMustExist: true });
  try {
    const out: Record<string, number> = {};
    for (const t of ['repositories', 'blobs', 'repository_blobs', 'manifests', 'manifest_references', 'tags', 'uploads']) {
      out[t] = (db.prepare(`select count(*) n from ${t}`).get() as { n: number }).n;
    }
    return out;
  } finally {
    db.close();
  }
}

/** Snapshot of committed state: blob files, temp files, and row counts. */
async function snapshot() {
  return { blobs: await files(path.join(w.dataDir, 'storage/blobs')), tmp: await files(path.join(w.dataDir, 'storage/tmp')), rows: counts(w.dataDir) };
}

async function expectUnchanged(fn: () => Promise<void>) {
  const before = await snapshot();
  await fn();
  expect(await snapshot()).toEqual(before);
}

function expectError(r: { status: number; json(): any }, status: number, code: string) {
  expect(r.status).toBe(status);
  const body = r.json();
  expect(Array.isArray(body.errors)).toBe(true);
  expect(body.errors[0].code).toBe(code);
}

async function pushBlob(repo: string, data: Buffer, digest = sha256(data)) {
  const r = await req(w, 'POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { 'Content-Type': 'application/octet-stream' }, data);
  expect(r.status).toBe(201);
  return digest;
}

async function pushImage(repo: string, tag: string) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, n: randomBytes(4).toString('hex') }));
  const layer = randomBytes(1000);
  const cd = await pushBlob(repo, config);
  const ld = await pushBlob(repo, layer);
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: config.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: ld, size: layer.length }] }),
  );
  const r = await req(w, 'PUT', `/v2/${repo}/manifests/${tag}`, { 'Content-Type': OCI_MANIFEST }, manifest);
  expect(r.status).toBe(201);
  return { manifest, digest: sha256(manifest), config, layer, cd, ld };
}

beforeAll(async () => {
  w = await startWharf();
  await createProject(w, 'edge');
  await pushImage('edge/base', 'v1');
});
afterAll(async () => {
  if (process.env.DUMP_LOG) console.log(w?.output());
  await w?.stop();
});

describe('blob uploads: bad input changes nothing', () => {
  it('monolithic POST with the wrong digest → 400 DIGEST_INVALID', async () => {
    await expectUnchanged(async () => {
      const data = randomBytes(5000);
      const r = await req(w, 'POST', `/v2/edge/base/blobs/uploads/?digest=${sha256('other')}`, {}, data);
      expectError(r, 400, 'DIGEST_INVALID');
      expect((await req(w, 'HEAD', `/v2/edge/base/blobs/${sha256(data)}`)).status).toBe(404);
    });
  });

  it('malformed digests are 400 DIGEST_INVALID, never 500', async () => {
    await expectUnchanged(async () => {
      for (const bad of ['sha256:xyz', 'sha256:' + 'A'.repeat(64), 'md5:abc', 'nocolon', 'sha256:' + 'a'.repeat(63), 'sha512:' + 'a'.repeat(64)]) {
        expectError(await req(w, 'GET', `/v2/edge/base/blobs/${encodeURIComponent(bad)}`), 400, 'DIGEST_INVALID');
        expectError(await req(w, 'POST', `/v2/edge/base/blobs/uploads/?digest=${encodeURIComponent(bad)}`, {}, 'x'), 400, 'DIGEST_INVALID');
        if (bad.includes(':')) expectError(await req(w, 'GET', `/v2/edge/base/manifests/${encodeURIComponent(bad)}`), 400, 'DIGEST_INVALID');
        expectError(await req(w, 'GET', `/v2/edge/base/referrers/${encodeURIComponent(bad)}`), 400, 'DIGEST_INVALID');
      }
    });
  });

  it('a body shorter than Content-Length stores nothing', async () => {
    await expectUnchanged(async () => {
      const data = randomBytes(100);
      const d = sha256(data);
      await rawSend(w, `POST /v2/edge/base/blobs/uploads/?digest=${d} HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n` + data.toString('latin1'), { endAfter: true, waitMs: 500 });
      await new Promise((r) => setTimeout(r, 300));
      expect((await req(w, 'HEAD', `/v2/edge/base/blobs/${d}`)).status).toBe(404);
    });
  });

  it('PATCH: Content-Length disagreeing with Content-Range → 400 SIZE_INVALID and the offset is unchanged', async () => {
    const start = await req(w, 'POST', '/v2/edge/base/blobs/uploads/');
    expect(start.status).toBe(202);
    const loc = start.headers.location!;
    const a = randomBytes(10);
    expect((await req(w, 'PATCH', loc, { 'Content-Range': '0-9', 'Content-Type': 'application/octet-stream' }, a)).status).toBe(202);
    const r = await req(w, 'PATCH', loc, { 'Content-Range': '10-29', 'Content-Type': 'application/octet-stream' }, randomBytes(10));
    expectError(r, 400, 'SIZE_INVALID');
    const st = await req(w, 'GET', loc);
    expect(st.status).toBe(204);
    expect(st.headers.range).toBe('0-9');
    await req(w, 'DELETE', loc);
  });

  it('bad, out-of-order and overlapping Content-Range → 416 with the current Range', async () => {
    const start = await req(w, 'POST', '/v2/edge/base/blobs/uploads/');
    const loc = start.headers.location!;
    expect((await req(w, 'PATCH', loc, { 'Content-Range': '0-99' }, randomBytes(100))).status).toBe(202);
    expect((await req(w, 'PATCH', loc, { 'Content-Range': 'garbage' }, randomBytes(10))).status).toBe(416);
    const gap = await req(w, 'PATCH', loc, { 'Content-Range': '200-209' }, randomBytes(10));
    expect(gap.status).toBe(416);
    expect(gap.headers.range).toBe('0-99');
    expect((await req(w, 'PATCH', loc, { 'Content-Range': '50-59' }, randomBytes(10))).status).toBe(416);
    expect((await req(w, 'PATCH', loc, { 'Content-Range': '9-0' }, randomBytes(10))).status).toBe(416);
    expect((await req(w, 'GET', loc)).headers.range).toBe('0-99');
    expect((await req(w, 'DELETE', loc)).status).toBe(204);
    expectError(await req(w, 'GET', loc), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('unknown or malformed upload ids → 404 BLOB_UPLOAD_UNKNOWN', async () => {
    await expectUnchanged(async () => {
      for (const id of ['00000000-0000-0000-0000-000000000000', 'not-a-uuid', '..%2f..%2fetc']) {
        expectError(await req(w, 'GET', `/v2/edge/base/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
        expectError(await req(w, 'PATCH', `/v2/edge/base/blobs/uploads/${id}`, {}, 'abc'), 404, 'BLOB_UPLOAD_UNKNOWN');
        expectError(await req(w, 'PUT', `/v2/edge/base/blobs/uploads/${id}?digest=${sha256('abc')}`, {}, 'abc'), 404, 'BLOB_UPLOAD_UNKNOWN');
        expectError(await req(w, 'DELETE', `/v2/edge/base/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
      }
    });
  });

  it('an upload session belongs to its repository', async () => {
    const start = await req(w, 'POST', '/v2/edge/base/blobs/uploads/');
    const id = start.headers['docker-upload-uuid'];
    expectError(await req(w, 'PATCH', `/v2/edge/other/blobs/uploads/${id}`, {}, 'abc'), 404, 'BLOB_UPLOAD_UNKNOWN');
    await req(w, 'DELETE', start.headers.location!);
  });

  it('PUT with the wrong digest → 400 DIGEST_INVALID and the session ends (as in the Go reference); a new one succeeds', async () => {
    const data = randomBytes(3000);
    const start = await req(w, 'POST', '/v2/edge/base/blobs/uploads/');
    const loc = start.headers.location!;
    await req(w, 'PATCH', loc, {}, data.subarray(0, 1000));
    // A wrong final chunk: the session's bytes are now wrong, so it must not linger half-appended.
    expectError(await req(w, 'PUT', `${loc}?digest=${sha256(data)}`, {}, randomBytes(2000)), 400, 'DIGEST_INVALID');
    expect((await req(w, 'HEAD', `/v2/edge/base/blobs/${sha256(data)}`)).status).toBe(404);
    expectError(await req(w, 'GET', loc), 404, 'BLOB_UPLOAD_UNKNOWN');
    const again = await req(w, 'POST', '/v2/edge/base/blobs/uploads/');
    await req(w, 'PATCH', again.headers.location!, {}, data.subarray(0, 1000));
    const ok = await req(w, 'PUT', `${again.headers.location!}?digest=${sha256(data)}`, {}, data.subarray(1000));
    expect(ok.status).toBe(201);
    expect(ok.headers['docker-content-digest']).toBe(sha256(data));
  });
});

describe('names and headers', () => {
  it('path traversal and invalid names → 400 NAME_INVALID', async () => {
    await expectUnchanged(async () => {
      for (const p of ['/v2/%2e%2e/x/tags/list', '/v2/a/%2e%2e/b/manifests/latest', '/v2/../etc/tags/list', '/v2/UPPER/tags/list', '/v2/a//b/tags/list', '/v2/a/-b/blobs/uploads/', '/v2/' + 'a'.repeat(300) + '/tags/list']) {
        const r = await rawSend(w, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        expect(r.startsWith('HTTP/1.1 400'), `${p}: ${r.slice(0, 200)}`).toBe(true);
        expect(r).toContain('NAME_INVALID');
      }
    });
  });

  it('huge headers → 431 with a JSON error body', async () => {
    const r = await rawSend(w, `GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    expect(r.startsWith('HTTP/1.1 431')).toBe(true);
    expect(r).toContain('"errors"');
  });

  it('unsupported methods → 405 UNSUPPORTED', async () => {
    expectError(await req(w, 'POST', '/v2/edge/base/manifests/v1', {}, '{}'), 405, 'UNSUPPORTED');
    expectError(await req(w, 'PUT', '/v2/edge/base/tags/list', {}, '{}'), 405, 'UNSUPPORTED');
  });
});

describe('manifests: bad input changes nothing', () => {
  it('a manifest naming missing blobs → 400 MANIFEST_BLOB_UNKNOWN, no tag', async () => {
    await expectUnchanged(async () => {
      const m = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('missing-config'), size: 14 }, layers: [] });
      expectError(await req(w, 'PUT', '/v2/edge/base/manifests/broken', { 'Content-Type': OCI_MANIFEST }, m), 400, 'MANIFEST_BLOB_UNKNOWN');
      expectError(await req(w, 'GET', '/v2/edge/base/manifests/broken'), 404, 'MANIFEST_UNKNOWN');
    });
  });

  it('a blob linked in another repository does not satisfy a manifest here', async () => {
    const other = await pushImage('edge/elsewhere', 'x');
    await expectUnchanged(async () => {
      expectError(await req(w, 'PUT', '/v2/edge/fresh/manifests/x', { 'Content-Type': OCI_MANIFEST }, other.manifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    });
  });

  it('an index naming a missing child → 400 MANIFEST_BLOB_UNKNOWN', async () => {
    await expectUnchanged(async () => {
      const idx = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('no-child'), size: 10 }] });
      expectError(await req(w, 'PUT', '/v2/edge/base/manifests/idx', { 'Content-Type': OCI_INDEX }, idx), 400, 'MANIFEST_BLOB_UNKNOWN');
    });
  });

  it('invalid JSON, wrong shapes, schema 1, mismatched media type → 400 MANIFEST_INVALID', async () => {
    await expectUnchanged(async () => {
      const bodies: [string, string][] = [
        ['{not json', OCI_MANIFEST],
        ['[]', OCI_MANIFEST],
        ['{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}', OCI_MANIFEST],
        ['{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1},"layers":[]}', OCI_MANIFEST],
        ['{"schemaVersion":2,"config":{"mediaType":"x","digest":"' + sha256('a') + '","size":-1},"layers":[]}', OCI_MANIFEST],
        ['{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}', 'application/vnd.docker.distribution.manifest.v1+prettyjws'],
        ['{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}', OCI_MANIFEST],
        ['{"schemaVersion":2,"manifests":[]}', 'application/vnd.unknown+json'],
      ];
      for (const [b, ct] of bodies) expectError(await req(w, 'PUT', '/v2/edge/base/manifests/bad', { 'Content-Type': ct }, b), 400, 'MANIFEST_INVALID');
    });
  });

  it('PUT by digest that does not match the body → 400 DIGEST_INVALID', async () => {
    const img = await pushImage('edge/digest', 'a');
    await expectUnchanged(async () => {
      expectError(await req(w, 'PUT', `/v2/edge/digest/manifests/${sha256('other')}`, { 'Content-Type': OCI_MANIFEST }, img.manifest), 400, 'DIGEST_INVALID');
    });
  });

  it('a manifest over 4 MiB → 413', async () => {
    await expectUnchanged(async () => {
      const big = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, annotations: { x: 'a'.repeat(4 * 1024 * 1024) }, config: {}, layers: [] });
      const r = await req(w, 'PUT', '/v2/edge/base/manifests/big', { 'Content-Type': OCI_MANIFEST }, big);
      expect(r.status).toBe(413);
      expect(r.json().errors[0].code).toBe('SIZE_INVALID');
    });
  });

  it('invalid tags are refused', async () => {
    const img = await pushImage('edge/tags', 'ok');
    await expectUnchanged(async () => {
      const r = await req(w, 'PUT', `/v2/edge/tags/manifests/${'t'.repeat(129)}`, { 'Content-Type': OCI_MANIFEST }, img.manifest);
      expect(r.status).toBe(400);
      const r2 = await req(w, 'PUT', `/v2/edge/tags/manifests/.dot`, { 'Content-Type': OCI_MANIFEST }, img.manifest);
      expect(r2.status).toBe(400);
    });
  });
});

describe('features', () => {
  it('ranged blob reads → 206 with Content-Range; unsatisfiable → 416', async () => {
    const data = randomBytes(10_000);
    const d = await pushBlob('edge/range', data);
    const r = await req(w, 'GET', `/v2/edge/range/blobs/${d}`, { Range: 'bytes=100-199' });
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe('bytes 100-199/10000');
    expect(r.body.equals(data.subarray(100, 200))).toBe(true);
    const tail = await req(w, 'GET', `/v2/edge/range/blobs/${d}`, { Range: 'bytes=-10' });
    expect(tail.body.equals(data.subarray(9990))).toBe(true);
    expect((await req(w, 'GET', `/v2/edge/range/blobs/${d}`, { Range: 'bytes=20000-' })).status).toBe(416);
    // HEAD ignores Range
    const head = await req(w, 'HEAD', `/v2/edge/range/blobs/${d}`, { Range: 'bytes=20000-' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('10000');
    const full = await req(w, 'GET', `/v2/edge/range/blobs/${d}`);
    expect(full.headers['content-length']).toBe('10000');
    expect(full.headers['docker-content-digest']).toBe(d);
  });

  it('sha512 blobs and manifests', async () => {
    const data = randomBytes(2048);
    const d = sha512(data);
    expect((await req(w, 'POST', `/v2/edge/sha512/blobs/uploads/?digest=${d}`, {}, data)).status).toBe(201);
    const got = await req(w, 'GET', `/v2/edge/sha512/blobs/${d}`);
    expect(got.body.equals(data)).toBe(true);
    expect(got.headers['docker-content-digest']).toBe(d);
    const cfg = Buffer.from('{}');
    const cd = await pushBlob('edge/sha512', cfg);
    const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: cd, size: 2 }, layers: [{ mediaType: 'application/octet-stream', digest: d, size: data.length }] }));
    const put = await req(w, 'PUT', `/v2/edge/sha512/manifests/${sha512(m)}`, { 'Content-Type': OCI_MANIFEST }, m);
    expect(put.status).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(sha512(m));
    const back = await req(w, 'GET', `/v2/edge/sha512/manifests/${sha512(m)}`);
    expect(back.body.equals(m)).toBe(true);
  });

  it('Docker schema 2 manifest list and the digest returned is the digest stored', async () => {
    const a = await pushImage('edge/list', 'amd64');
    const list = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json', manifests: [{ mediaType: OCI_MANIFEST, digest: a.digest, size: a.manifest.length, platform: { architecture: 'amd64', os: 'linux' } }] }, null, 3),
    );
    const put = await req(w, 'PUT', '/v2/edge/list/manifests/multi', { 'Content-Type': 'application/vnd.docker.distribution.manifest.list.v2+json' }, list);
    expect(put.status).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(sha256(list));
    const got = await req(w, 'GET', '/v2/edge/list/manifests/multi');
    expect(got.headers['content-type']).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
    expect(got.body.equals(list)).toBe(true);
  });

  it('tags list is sorted and paginates with a Link header', async () => {
    const img = await pushImage('edge/page', 't0');
    for (const t of ['b', 'a', 'd', 'c']) expect((await req(w, 'PUT', `/v2/edge/page/manifests/${t}`, { 'Content-Type': OCI_MANIFEST }, img.manifest)).status).toBe(201);
    const all = await req(w, 'GET', '/v2/edge/page/tags/list');
    expect(all.json().tags).toEqual(['a', 'b', 'c', 'd', 't0']);
    const p1 = await req(w, 'GET', '/v2/edge/page/tags/list?n=2');
    expect(p1.json().tags).toEqual(['a', 'b']);
    expect(p1.headers.link).toBe('</v2/edge/page/tags/list?n=2&last=b>; rel="next"');
    const p3 = await req(w, 'GET', '/v2/edge/page/tags/list?n=2&last=c');
    expect(p3.json().tags).toEqual(['d', 't0']);
    expect(p3.headers.link).toBeUndefined();
    expectError(await req(w, 'GET', '/v2/edge/page/tags/list?n=abc'), 400, 'PAGINATION_NUMBER_INVALID');
    expectError(await req(w, 'GET', '/v2/edge/nothing-here/tags/list'), 404, 'NAME_UNKNOWN');
  });

  it('catalog paginates', async () => {
    const all = (await req(w, 'GET', '/v2/_catalog')).json().repositories as string[];
    expect(all).toEqual([...all].sort());
    expect(all).toContain('edge/base');
    const p = await req(w, 'GET', '/v2/_catalog?n=1');
    expect(p.json().repositories).toEqual([all[0]]);
    expect(p.headers.link).toBe(`</v2/_catalog?n=1&last=${encodeURIComponent(all[0])}>; rel="next"`);
  });

  it('an upload session survives a server restart', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const start = await req(w, 'POST', '/v2/edge/restart/blobs/uploads/');
    const loc = start.headers.location!;
    expect((await req(w, 'PATCH', loc, { 'Content-Range': `0-${1024 * 1024 - 1}` }, data.subarray(0, 1024 * 1024))).status).toBe(202);
    if (process.env.DUMP_LOG) console.log(w.output());
    await w.stop({ keepData: true });
    w = await startWharf({ dataDir: w.dataDir, port: w.port });
    const st = await req(w, 'GET', loc);
    expect(st.status).toBe(204);
    expect(st.headers.range).toBe(`0-${1024 * 1024 - 1}`);
    expect((await req(w, 'PATCH', loc, { 'Content-Range': `${1024 * 1024}-${data.length - 1}` }, data.subarray(1024 * 1024))).status).toBe(202);
    const put = await req(w, 'PUT', `${loc}?digest=${sha256(data)}`);
    expect(put.status).toBe(201);
    expect((await req(w, 'GET', `/v2/edge/restart/blobs/${sha256(data)}`)).body.equals(data)).toBe(true);
  });
});
