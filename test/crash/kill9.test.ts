// Crash safety: kill -9 the server at random moments while many clients push (monolithic and
// chunked blobs, manifests, indexes). After each restart every tag must resolve to a manifest
// whose blobs and children are all present and hash to their digests, and every blob a
// repository shows must be complete. The clients push as the admin (Basic credentials on every
// request) into the project `crash`.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { req, type Base } from '../helpers/raw-http.ts';
import { createProject, startWharf, type RunningRegistry } from '../helpers/servers.ts';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

let w: RunningRegistry | undefined;
afterAll(async () => {
  await w?.stop();
});

async function pushBlobChunked(base: Base, repo: string, data: Buffer): Promise<string> {
  const d = sha256(data);
  const s = await req(base, 'POST', `/v2/${repo}/blobs/uploads/`);
  if (s.status !== 202) throw new Error(`POST ${s.status}`);
  let loc = s.headers.location!;
  const step = 256 * 1024;
  for (let o = 0; o < data.length; o += step) {
    const chunk = data.subarray(o, o + step);
    const r = await req(base, 'PATCH', loc, { 'Content-Range': `${o}-${o + chunk.length - 1}`, 'Content-Type': 'application/octet-stream' }, chunk);
    if (r.status !== 202) throw new Error(`PATCH ${r.status}`);
    loc = r.headers.location!;
  }
  const p = await req(base, 'PUT', `${loc}${loc.includes('?') ? '&' : '?'}digest=${d}`);
  if (p.status !== 201) throw new Error(`PUT ${p.status}`);
  return d;
}

async function pushBlobMono(base: Base, repo: string, data: Buffer): Promise<string> {
  const d = sha256(data);
  const r = await req(base, 'POST', `/v2/${repo}/blobs/uploads/?digest=${d}`, { 'Content-Type': 'application/octet-stream' }, data);
  if (r.status !== 201) throw new Error(`POST ${r.status}`);
  return d;
}

/** One client: pushes images with a shared base layer until the server dies. */
async function pusher(base: Base, id: number, shared: Buffer): Promise<number> {
  let n = 0;
  try {
    for (;;) {
      const repo = `crash/c${id % 4}`;
      const sd = await pushBlobMono(base, repo, shared);
      const layer = randomBytes(200_000 + Math.floor(Math.random() * 1_500_000));
      const ld = n % 2 ? await pushBlobChunked(base, repo, layer) : await pushBlobMono(base, repo, layer);
      const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, id, n }));
      const cd = await pushBlobMono(base, repo, cfg);
      const m = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: cfg.length },
          layers: [
            { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sd, size: shared.length },
            { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: ld, size: layer.length },
          ],
        }),
      );
      const pm = await req(base, 'PUT', `/v2/${repo}/manifests/t${id}-${n}`, { 'Content-Type': OCI_MANIFEST }, m);
      if (pm.status !== 201) throw new Error(`manifest ${pm.status}`);
      const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256(m), size: m.length, platform: { architecture: 'amd64', os: 'linux' } }] }));
      const pi = await req(base, 'PUT', `/v2/${repo}/manifests/i${id}-${n}`, { 'Content-Type': OCI_INDEX }, idx);
      if (pi.status !== 201) throw new Error(`index ${pi.status}`);
      n++;
    }
  } catch {
    return n; // the server was killed
  }
}

async function verifyAll(base: Base): Promise<{ tags: number; blobs: number }> {
  const repos = (await req(base, 'GET', '/v2/_catalog')).json().repositories as string[];
  let tags = 0;
  let blobs = 0;
  const checked = new Set<string>();
  const checkBlob = async (repo: string, digest: string, size: number) => {
    const key = `${repo}@${digest}`;
    if (checked.has(key)) return;
    const r = await req(base, 'GET', `/v2/${repo}/blobs/${digest}`);
    expect(r.status, `${key}`).toBe(200);
    expect(r.body.length).toBe(size);
    expect(sha256(r.body)).toBe(digest);
    checked.add(key);
    blobs++;
  };
  for (const repo of repos) {
    const list = (await req(base, 'GET', `/v2/${repo}/tags/list`)).json().tags as string[];
    for (const tag of list) {
      const m = await req(base, 'GET', `/v2/${repo}/manifests/${tag}`, { Accept: `${OCI_MANIFEST}, ${OCI_INDEX}` });
      expect(m.status, `${repo}:${tag}`).toBe(200);
      expect(sha256(m.body)).toBe(m.headers['docker-content-digest']);
      const doc = JSON.parse(m.body.toString());
      if (doc.manifests) {
        for (const c of doc.manifests) {
          const cm = await req(base, 'GET', `/v2/${repo}/manifests/${c.digest}`, { Accept: OCI_MANIFEST });
          expect(cm.status).toBe(200);
          expect(sha256(cm.body)).toBe(c.digest);
        }
      } else {
        for (const d of [doc.config, ...doc.layers]) await checkBlob(repo, d.digest, d.size);
      }
      tags++;
    }
  }
  return { tags, blobs };
}

describe('kill -9 during pushes', () => {
  it('leaves no partial blob readable, no manifest naming a missing blob, and restarts cleanly', async () => {
    w = await startWharf();
    await createProject(w, 'crash');
    const shared = randomBytes(300_000);
    let totalPushed = 0;
    for (let round = 0; round < 4; round++) {
      const clients = Array.from({ length: 6 }, (_, i) => pusher({ url: w!.url, admin: w!.admin }, round * 10 + i, shared));
      await new Promise((r) => setTimeout(r, 400 + Math.random() * 1200));
      await w.kill();
      totalPushed += (await Promise.all(clients)).reduce((a, b) => a + b, 0);
      w = await startWharf({ dataDir: w.dataDir, port: w.port });
      const v = await verifyAll(w);
      // Every push that was acknowledged (both its manifest and its index got 201) survived.
      expect(v.tags).toBeGreaterThanOrEqual(totalPushed * 2);
    }
    const final = await verifyAll(w);
    // The test is only meaningful if pushes completed between kills.
    expect(totalPushed).toBeGreaterThan(0);
    expect(final.tags).toBeGreaterThanOrEqual(totalPushed * 2);
  });
});
