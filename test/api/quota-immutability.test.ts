// Project quotas, tag immutability and deletion by role, against a real Wharf process: quota
// accounting with layers shared across repositories and projects, enforcement at blob upload,
// mount and manifest PUT (Harbor's DENIED message naming project, usage and limit), a push that
// runs out of quota leaving nothing visible, usage after deletes; Harbor's /quotas and
// /projects/{p}/immutabletagrules APIs; immutable tags refused on overwrite and delete through
// /v2 and /api/v2.0; deletion of artifacts, tags and repositories by role; and skopeo copying onto
// an immutable tag.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError, Skopeo } from '../helpers/clients.ts';
import { startWharf, type RunningRegistry } from '../helpers/servers.ts';

const API = '/api/v2.0';
const MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MT_CONFIG = 'application/vnd.oci.image.config.v1+json';
const MT_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

type Auth = { username: string; password: string } | null;

interface Resp {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

let w: RunningRegistry;
let admin: { username: string; password: string };

async function call(method: string, p: string, o: { auth?: Auth; json?: unknown; body?: Buffer | string; headers?: Record<string, string> } = {}): Promise<Resp> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  const auth = o.auth === undefined ? admin : o.auth;
  if (auth) headers.Authorization = 'Basic ' + Buffer.from(`${auth.username}:${auth.password}`).toString('base64');
  let body: Uint8Array<ArrayBuffer> | undefined;
  if (o.json !== undefined) {
    body = new Uint8Array(Buffer.from(JSON.stringify(o.json)));
    headers['Content-Type'] ??= 'application/json';
  } else if (o.body !== undefined) body = new Uint8Array(Buffer.from(o.body));
  const r = await fetch(w.url + p, { method, headers, body, redirect: 'manual' });
  const text = await r.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

function expectStatus(r: Resp, status: number, code?: string): void {
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${r.text.slice(0, 500)}`);
  if (code) expect(r.json?.errors?.[0]?.code).toBe(code);
}

const errMessage = (r: Resp): string => r.json?.errors?.[0]?.message ?? '';

// ------------------------------------------------------------------------------------------------
// Users, projects, images

async function newUser(username: string): Promise<{ id: number; auth: { username: string; password: string } }> {
  const password = `Pw${randomBytes(6).toString('hex')}Xy7`;
  const r = await call('POST', `${API}/users`, { json: { username, email: `${username}@example.com`, realname: username, password } });
  expectStatus(r, 201);
  return { id: Number(/\/users\/(\d+)$/.exec(r.headers.get('location') ?? '')?.[1]), auth: { username, password } };
}

async function newProject(name: string, body: Record<string, unknown> = {}, auth?: Auth): Promise<number> {
  const r = await call('POST', `${API}/projects`, { auth, json: { project_name: name, ...body } });
  expectStatus(r, 201);
  return Number(/\/projects\/(\d+)$/.exec(r.headers.get('location') ?? '')?.[1]);
}

async function addMember(project: string, userId: number, role: number): Promise<void> {
  const r = await call('POST', `${API}/projects/${project}/members`, { json: { role_id: role, member_user: { user_id: userId } } });
  expectStatus(r, 201);
}

interface Image {
  config: Buffer;
  layers: Buffer[];
  manifest: Buffer;
  digest: string;
}

function image(seed: string, layers: Buffer[]): Image {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: [`SEED=${seed}`] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l)) } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT_MANIFEST,
      config: { mediaType: MT_CONFIG, digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: MT_LAYER, digest: sha256(l), size: l.length })),
    }),
  );
  return { config, layers, manifest, digest: sha256(manifest) };
}

const blobBytes = (img: Image) => img.config.length + img.layers.reduce((n, l) => n + l.length, 0);

const pushBlob = (repo: string, data: Buffer, auth?: Auth) =>
  call('POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { auth, body: data, headers: { 'Content-Type': 'application/octet-stream' } });

const putManifest = (repo: string, ref: string, img: Image, auth?: Auth) => call('PUT', `/v2/${repo}/manifests/${ref}`, { auth, body: img.manifest, headers: { 'Content-Type': MT_MANIFEST } });

async function pushBlobs(repo: string, img: Image, auth?: Auth): Promise<void> {
  expectStatus(await pushBlob(repo, img.config, auth), 201);
  for (const l of img.layers) expectStatus(await pushBlob(repo, l, auth), 201);
}

async function pushImage(repo: string, ref: string, img: Image, auth?: Auth): Promise<void> {
  await pushBlobs(repo, img, auth);
  expectStatus(await putManifest(repo, ref, img, auth), 201);
}

/** Harbor's used.storage of a project, through GET /quotas?reference_id= */
async function quotaOf(projectId: number): Promise<any> {
  const r = await call('GET', `${API}/quotas?reference=project&reference_id=${projectId}`);
  expectStatus(r, 200);
  expect(r.json).toHaveLength(1);
  return r.json[0];
}
const usedOf = async (projectId: number): Promise<number> => (await quotaOf(projectId)).used.storage;

async function manifestStatus(repo: string, ref: string): Promise<number> {
  return (await call('GET', `/v2/${repo}/manifests/${ref}`, { headers: { Accept: MT_MANIFEST } })).status;
}

// ------------------------------------------------------------------------------------------------

let dev: { id: number; auth: { username: string; password: string } };
let maint: { id: number; auth: { username: string; password: string } };
let guest: { id: number; auth: { username: string; password: string } };

beforeAll(async () => {
  w = await startWharf();
  admin = w.admin;
  dev = await newUser('dora');
  maint = await newUser('mario');
  guest = await newUser('gus');
});

afterAll(async () => {
  await w?.stop();
});

describe('quota accounting (Harbor semantics: a blob counts once per project)', () => {
  const shared = randomBytes(3000);
  const a = image('a', [shared, randomBytes(500)]);
  const b = image('b', [shared, randomBytes(700)]);
  let qa = 0;
  let qb = 0;

  it('POST /projects with storage_limit (system admin) creates the quota; GET /quotas shows it', async () => {
    qa = await newProject('qa', { storage_limit: 10 * 1024 * 1024 });
    qb = await newProject('qb');
    const q = await quotaOf(qa);
    expect(q).toMatchObject({ id: qa, ref: { id: qa, name: 'qa', owner_name: 'admin' }, hard: { storage: 10 * 1024 * 1024 }, used: { storage: 0 } });
    expect(q.creation_time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(q.update_time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect((await quotaOf(qb)).hard.storage).toBe(-1);
    const one = await call('GET', `${API}/quotas/${qa}`);
    expectStatus(one, 200);
    expect(one.json.ref.name).toBe('qa');
    expectStatus(await call('GET', `${API}/quotas/999999`), 404);
    // every project has a quota, listed by id
    const all = await call('GET', `${API}/quotas?page_size=100`);
    expectStatus(all, 200);
    expect((all.json as any[]).map((x) => x.ref.name)).toEqual(expect.arrayContaining(['library', 'qa', 'qb']));
    expect(Number(all.headers.get('x-total-count'))).toBe((all.json as any[]).length);
    expect(await call('GET', `${API}/quotas?reference=user`).then((r) => r.json)).toEqual([]);
  });

  it('a layer shared by two repositories of one project counts once; manifests count too', async () => {
    await pushImage('qa/one', 'v1', a);
    await pushImage('qa/two', 'v1', b);
    const expected = a.config.length + b.config.length + shared.length + a.layers[1].length + b.layers[1].length + a.manifest.length + b.manifest.length;
    expect(await usedOf(qa)).toBe(expected);
    // the same manifest in a second repository of the project adds nothing either
    await pushImage('qa/three', 'v1', a);
    expect(await usedOf(qa)).toBe(expected);
    const s = await call('GET', `${API}/projects/qa/summary`);
    expect(s.json.quota).toMatchObject({ hard: { storage: 10 * 1024 * 1024 }, used: { storage: expected } });
  });

  it('across projects the shared layer counts in each; physical figures deduplicate', async () => {
    const before = await usedOf(qa);
    await pushImage('qb/x', 'v1', b);
    expect(await usedOf(qb)).toBe(blobBytes(b) + b.manifest.length);
    expect(await usedOf(qa)).toBe(before);
    const q = await quotaOf(qa);
    // only qa links a's config and a's own layer; the shared layer and b's blobs are in qb too
    expect(q.physical.unique_storage).toBe(a.config.length + a.layers[1].length);
    expect((await quotaOf(qb)).physical.unique_storage).toBe(0);
    expect(q.physical.registry_storage).toBeGreaterThanOrEqual(blobBytes(a) + blobBytes(b) - shared.length);
    const s = await call('GET', `${API}/projects/qa/summary`);
    expect(s.json.quota.physical).toEqual({ unique_storage: q.physical.unique_storage, registry_storage: q.physical.registry_storage });
  });

  it('sorting and paging /quotas', async () => {
    const r = await call('GET', `${API}/quotas?sort=-used.storage&page_size=2`);
    expectStatus(r, 200);
    expect(r.json).toHaveLength(2);
    expect(r.json[0].used.storage).toBeGreaterThanOrEqual(r.json[1].used.storage);
    expect(r.json[0].ref.name).toBe('qa');
    expectStatus(await call('GET', `${API}/quotas?sort=bogus`), 400);
    expectStatus(await call('GET', `${API}/quotas?reference_id=x`), 400);
  });

  it('usage drops when links go: a deleted repository, an unlinked blob', async () => {
    const before = await usedOf(qa);
    // qa/three holds only content qa/one holds too: nothing changes
    expectStatus(await call('DELETE', `${API}/projects/qa/repositories/three`), 200);
    expect(await usedOf(qa)).toBe(before);
    // qa/two held b's config, its own layer and its manifest alone
    expectStatus(await call('DELETE', `${API}/projects/qa/repositories/two`), 200);
    expect(await usedOf(qa)).toBe(before - b.config.length - b.layers[1].length - b.manifest.length);
    // unlinking a blob (what GC does to unreferenced content) lowers it too
    const mid = await usedOf(qa);
    expectStatus(await call('DELETE', `/v2/qa/one/blobs/${sha256(a.layers[1])}`), 202);
    expect(await usedOf(qa)).toBe(mid - a.layers[1].length);
  });

  it('quotas are for system admins; a non-admin cannot choose storage_limit', async () => {
    for (const [m, p, json] of [
      ['GET', `${API}/quotas`, undefined],
      ['GET', `${API}/quotas/${qa}`, undefined],
      ['PUT', `${API}/quotas/${qa}`, { hard: { storage: 1 } }],
    ] as const) {
      expectStatus(await call(m, p, { auth: dev.auth, json }), 403);
      expectStatus(await call(m, p, { auth: null, json }), 401);
    }
    const id = await newProject('dora-own', { storage_limit: 1234 }, dev.auth);
    expect((await quotaOf(id)).hard.storage).toBe(-1);
    // project members read their project's quota in the summary
    const s = await call('GET', `${API}/projects/dora-own/summary`, { auth: dev.auth });
    expect(s.json.quota).toMatchObject({ hard: { storage: -1 }, used: { storage: 0 }, physical: { unique_storage: 0 } });
    expect(s.json.quota.physical.registry_storage).toBeUndefined();
  });

  it('PUT /quotas/{id} validates like Harbor', async () => {
    for (const body of [{}, { hard: {} }, { hard: { storage: 0 } }, { hard: { storage: -2 } }, { hard: { storage: 'x' } }, { hard: { storage: 1.5 } }, { hard: { count: 1 } }, { hard: [] }]) {
      const r = await call('PUT', `${API}/quotas/${qb}`, { json: body });
      if (r.status !== 400) throw new Error(`${JSON.stringify(body)} -> ${r.status} ${r.text}`);
    }
    expectStatus(await call('PUT', `${API}/quotas/999999`, { json: { hard: { storage: 5 } } }), 404);
    expectStatus(await call('PUT', `${API}/quotas/${qb}`, { json: { hard: { storage: 123456 } } }), 200);
    expect((await quotaOf(qb)).hard.storage).toBe(123456);
    expectStatus(await call('PUT', `${API}/quotas/${qb}`, { json: { hard: { storage: -1 } } }), 200);
    expect((await quotaOf(qb)).hard.storage).toBe(-1);
  });
});

describe('quota enforcement', () => {
  let qc = 0;

  it('refuses a blob upload past the limit with DENIED naming project, usage and limit', async () => {
    qc = await newProject('qc', { storage_limit: 1000 });
    expectStatus(await pushBlob('qc/app', randomBytes(600)), 201);
    const r = await pushBlob('qc/app', randomBytes(600));
    expectStatus(r, 403, 'DENIED');
    const m = errMessage(r);
    expect(m).toContain('Quota exceeded in project qc');
    expect(m).toContain('adding 600 B of storage resource, which when updated to current usage of 600 B will exceed the configured upper limit of 1000 B');
    expect(r.json.errors[0].detail).toEqual({ project: 'qc', adding: 600, used: 600, limit: 1000 });
    expect(await usedOf(qc)).toBe(600);
  });

  it('chunked uploads are refused at the final PUT, and leave no link behind', async () => {
    const data = randomBytes(500);
    const start = await call('POST', '/v2/qc/app/blobs/uploads/');
    expectStatus(start, 202);
    const loc = start.headers.get('location')!;
    const patch = await call('PATCH', loc, { body: data, headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${data.length - 1}` } });
    expectStatus(patch, 202);
    const u = new URL(patch.headers.get('location')!, w.url);
    u.searchParams.set('digest', sha256(data));
    const fin = await call('PUT', u.pathname + u.search);
    expectStatus(fin, 403, 'DENIED');
    expectStatus(await call('HEAD', `/v2/qc/app/blobs/${sha256(data)}`), 404);
    expect(await usedOf(qc)).toBe(600);
  });

  it('content the project already holds is free; a mount of new content is refused', async () => {
    const held = randomBytes(300);
    expectStatus(await pushBlob('qc/app', held), 201); // 900 of 1000
    // the same blob into another repository of the project adds nothing
    expectStatus(await pushBlob('qc/other', held), 201);
    expectStatus(await call('POST', `/v2/qc/third/blobs/uploads/?mount=${sha256(held)}&from=qc/app`), 201);
    expect(await usedOf(qc)).toBe(900);
    // a blob of another project mounted in is new here
    const elsewhere = randomBytes(200);
    expectStatus(await pushBlob('qb/src', elsewhere), 201);
    const r = await call('POST', `/v2/qc/app/blobs/uploads/?mount=${sha256(elsewhere)}&from=qb/src`);
    expectStatus(r, 403, 'DENIED');
    expect(errMessage(r)).toContain('Quota exceeded in project qc');
  });

  it('a push that runs out of quota at a layer leaves no tag or manifest visible', async () => {
    const img = image('too-big', [randomBytes(50), randomBytes(400)]);
    expectStatus(await call('PUT', `${API}/quotas/${qc}`, { json: { hard: { storage: 900 + img.config.length + 50 + 399 } } }), 200);
    expectStatus(await pushBlob('qc/big', img.config), 201);
    expectStatus(await pushBlob('qc/big', img.layers[0]), 201);
    expectStatus(await pushBlob('qc/big', img.layers[1]), 403, 'DENIED');
    // a client that goes on anyway is refused at the manifest (the layer is not there)
    const m = await putManifest('qc/big', 'v1', img);
    expect(m.status).toBeGreaterThanOrEqual(400);
    expect(await manifestStatus('qc/big', 'v1')).toBe(404);
    expect(await manifestStatus('qc/big', img.digest)).toBe(404);
    const tags = await call('GET', '/v2/qc/big/tags/list');
    expect(tags.status === 404 || (tags.json?.tags ?? []).length === 0).toBe(true);
    const arts = await call('GET', `${API}/projects/qc/repositories/big/artifacts`);
    expect(arts.status === 404 || arts.json.length === 0).toBe(true);
  });

  it('the manifest PUT is refused when its own bytes do not fit; nothing becomes visible', async () => {
    const qd = await newProject('qd', { storage_limit: 10 * 1024 * 1024 });
    const img = image('fits-but-manifest-does-not', [randomBytes(1000)]);
    expectStatus(await pushBlob('qd/app', img.config), 201);
    expectStatus(await pushBlob('qd/app', img.layers[0]), 201);
    const used = await usedOf(qd);
    expect(used).toBe(blobBytes(img));
    expectStatus(await call('PUT', `${API}/quotas/${qd}`, { json: { hard: { storage: used + img.manifest.length - 1 } } }), 200);
    const r = await putManifest('qd/app', 'v1', img);
    expectStatus(r, 403, 'DENIED');
    expect(errMessage(r)).toContain(`adding ${img.manifest.length} B of storage resource`);
    expect(await manifestStatus('qd/app', 'v1')).toBe(404);
    expect(await manifestStatus('qd/app', img.digest)).toBe(404);
    expect((await call('GET', `${API}/projects/qd/repositories/app/artifacts`)).json).toEqual([]);
    expect(await usedOf(qd)).toBe(used);
    // raising the limit lets the same push through
    expectStatus(await call('PUT', `${API}/quotas/${qd}`, { json: { hard: { storage: used + img.manifest.length } } }), 200);
    expectStatus(await putManifest('qd/app', 'v1', img), 201);
    expect(await usedOf(qd)).toBe(used + img.manifest.length);
    // exactly at the limit: a re-push of the same manifest (to another tag) adds nothing
    expectStatus(await putManifest('qd/app', 'v2', img), 201);
  });

  it('concurrent uploads racing past the limit: the usage never exceeds it', async () => {
    const qe = await newProject('qe', { storage_limit: 1000 });
    const blobs = Array.from({ length: 12 }, () => randomBytes(300));
    const rs = await Promise.all(blobs.map((b, i) => pushBlob(`qe/r${i % 3}`, b)));
    const ok = rs.filter((r) => r.status === 201).length;
    expect(rs.every((r) => r.status === 201 || r.status === 403)).toBe(true);
    expect(ok).toBe(3);
    expect(await usedOf(qe)).toBe(900);
  });
});

// ------------------------------------------------------------------------------------------------

const rule = (tag: string, repo = '**', extra: Record<string, unknown> = {}, tagDecoration = 'matches', repoDecoration = 'repoMatches') => ({
  action: 'immutable',
  template: 'immutable_template',
  disabled: false,
  tag_selectors: [{ kind: 'doublestar', decoration: tagDecoration, pattern: tag }],
  scope_selectors: { repository: [{ kind: 'doublestar', decoration: repoDecoration, pattern: repo }] },
  ...extra,
});

describe('tag immutability', () => {
  const IR = `${API}/projects/imm/immutabletagrules`;
  const a = image('imm-a', [randomBytes(200)]);
  const b = image('imm-b', [randomBytes(200)]);
  let ruleId = 0;

  beforeAll(async () => {
    await newProject('imm');
    await addMember('imm', dev.id, 2);
    await addMember('imm', maint.id, 4);
    await addMember('imm', guest.id, 3);
    await pushImage('imm/app', 'v1', a);
    await pushImage('imm/app', 'latest', a);
    await pushImage('imm/app', 'b-latest', b);
  });

  it('permissions: maintainers and project admins manage rules; developers and guests cannot', async () => {
    expectStatus(await call('POST', IR, { auth: dev.auth, json: rule('v*') }), 403);
    expectStatus(await call('POST', IR, { auth: guest.auth, json: rule('v*') }), 403);
    expectStatus(await call('GET', IR, { auth: dev.auth }), 403);
    expectStatus(await call('POST', IR, { auth: null, json: rule('v*') }), 401);
    const r = await call('POST', IR, { auth: maint.auth, json: rule('v*', 'app/**') });
    expectStatus(r, 201);
    const m = /\/immutabletagrules\/(\d+)$/.exec(r.headers.get('location') ?? '');
    expect(m).not.toBeNull();
    ruleId = Number(m![1]);
    const list = await call('GET', IR, { auth: maint.auth });
    expectStatus(list, 200);
    expect(list.headers.get('x-total-count')).toBe('1');
    expect(list.json[0]).toMatchObject({
      id: ruleId,
      disabled: false,
      action: 'immutable',
      template: 'immutable_template',
      tag_selectors: [{ kind: 'doublestar', decoration: 'matches', pattern: 'v*' }],
      scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern: 'app/**' }] },
    });
    expectStatus(await call('PUT', `${IR}/${ruleId}`, { auth: dev.auth, json: rule('v*', 'app/**') }), 403);
    expectStatus(await call('DELETE', `${IR}/${ruleId}`, { auth: dev.auth }), 403);
  });

  it('an immutable tag cannot be moved to another digest; the same digest may be pushed again', async () => {
    const r = await putManifest('imm/app', 'v1', b);
    expectStatus(r, 403, 'DENIED');
    expect(errMessage(r)).toContain('The tag imm/app:v1 is immutable, cannot be overwritten');
    expect(errMessage(r)).toContain(`rule ${ruleId}`);
    expect((await call('GET', '/v2/imm/app/manifests/v1', { headers: { Accept: MT_MANIFEST } })).headers.get('docker-content-digest')).toBe(a.digest);
    expectStatus(await putManifest('imm/app', 'v1', a), 201);
    // a new tag the rule matches may be created; a tag it does not match moves freely
    expectStatus(await putManifest('imm/app', 'v2', b), 201);
    expectStatus(await putManifest('imm/app', 'latest', b), 201);
    expectStatus(await putManifest('imm/app', 'latest', a), 201);
    // the rule's repository scope: other repositories are not protected
    await pushImage('imm/web', 'v1', a);
    await pushBlobs('imm/web', b);
    expectStatus(await putManifest('imm/web', 'v1', b), 201);
  });

  it('delete of an immutable tag, or of its manifest, is refused through /v2 and the API', async () => {
    const v2tag = await call('DELETE', '/v2/imm/app/manifests/v1');
    expectStatus(v2tag, 403, 'DENIED');
    expect(errMessage(v2tag)).toContain('The tag imm/app:v1 is immutable, cannot be deleted');
    const v2digest = await call('DELETE', `/v2/imm/app/manifests/${a.digest}`);
    expectStatus(v2digest, 403, 'DENIED');
    expect(errMessage(v2digest)).toContain('imm/app:v1');
    const A = `${API}/projects/imm/repositories/app/artifacts`;
    const art = await call('DELETE', `${A}/${a.digest}`);
    expectStatus(art, 412, 'PRECONDITION');
    expect(errMessage(art)).toContain('is immutable, cannot be deleted');
    expectStatus(await call('DELETE', `${A}/v1`), 412, 'PRECONDITION');
    expectStatus(await call('DELETE', `${A}/v1/tags/v1`), 412, 'PRECONDITION');
    expectStatus(await call('DELETE', `${API}/projects/imm/repositories/app`), 412, 'PRECONDITION');
    expect(await manifestStatus('imm/app', 'v1')).toBe(200);
    expect(await manifestStatus('imm/app', a.digest)).toBe(200);
    // a mutable tag of the same artifact can go
    expectStatus(await call('DELETE', `${A}/${a.digest}/tags/latest`), 200);
    // the artifact shows which tags are immutable
    const got = await call('GET', `${A}/${a.digest}`);
    expectStatus(got, 200);
    expect(Object.fromEntries((got.json.tags as any[]).map((t) => [t.name, t.immutable]))).toEqual({ v1: true });
    const tags = await call('GET', `${A}/${b.digest}/tags`);
    expect(Object.fromEntries((tags.json as any[]).map((t) => [t.name, t.immutable]))).toEqual({ 'b-latest': false, v2: true });
    // an untagged artifact with no immutable tag can be deleted
    await pushImage('imm/app', 'tmp', image('imm-tmp', [randomBytes(10)]));
    expectStatus(await call('DELETE', '/v2/imm/app/manifests/tmp'), 202);
  });

  it('a disabled rule protects nothing; enabling it again protects again', async () => {
    expectStatus(await call('PUT', `${IR}/${ruleId}`, { auth: maint.auth, json: { ...rule('v*', 'app/**'), id: ruleId, disabled: true } }), 200);
    expectStatus(await putManifest('imm/app', 'v2', a), 201);
    expectStatus(await putManifest('imm/app', 'v2', b), 201);
    expectStatus(await call('PUT', `${IR}/${ruleId}`, { auth: maint.auth, json: { ...rule('v*', 'app/**'), disabled: false } }), 200);
    expectStatus(await putManifest('imm/app', 'v2', a), 403, 'DENIED');
  });

  it('rule API validation: bad bodies, id mismatch, unknown ids, duplicates', async () => {
    for (const body of [{}, rule(''), rule('[x'), { ...rule('v*'), tag_selectors: [] }, rule('v*', '**', {}, 'repoMatches'), rule('v*', '**', {}, 'matches', 'matches'), { ...rule('v*'), action: 'retain' }]) {
      const r = await call('POST', IR, { json: body });
      if (r.status !== 400) throw new Error(`${JSON.stringify(body)} -> ${r.status} ${r.text}`);
    }
    expectStatus(await call('PUT', `${IR}/${ruleId}`, { json: { ...rule('v*', 'app/**'), id: ruleId + 1 } }), 400);
    expectStatus(await call('PUT', `${IR}/999999`, { json: rule('x*') }), 404);
    expectStatus(await call('DELETE', `${IR}/999999`), 404);
    expectStatus(await call('POST', IR, { json: rule('v*', 'app/**') }), 409, 'CONFLICT');
    // another project's rule id is not found through this project
    await newProject('imm-other');
    const o = await call('POST', `${API}/projects/imm-other/immutabletagrules`, { json: rule('x') });
    const otherId = Number(/(\d+)$/.exec(o.headers.get('location') ?? '')?.[1]);
    expectStatus(await call('DELETE', `${IR}/${otherId}`), 404);
    expectStatus(await call('PUT', `${IR}/${otherId}`, { json: rule('y') }), 404);
  });

  it('after the rule is deleted the tag can be overwritten and deleted', async () => {
    expectStatus(await call('DELETE', `${IR}/${ruleId}`, { auth: maint.auth }), 200);
    expect((await call('GET', IR)).json).toEqual([]);
    expectStatus(await putManifest('imm/app', 'v1', b), 201);
    expectStatus(await call('DELETE', '/v2/imm/app/manifests/v1'), 202);
  });

  it('excludes selectors', async () => {
    await newProject('imx');
    const R = `${API}/projects/imx/immutabletagrules`;
    // every tag except dev-* is immutable, in every repository except scratch/**
    expectStatus(await call('POST', R, { json: rule('dev-*', 'scratch/**', {}, 'excludes', 'repoExcludes') }), 201);
    const x = image('imx-x', [randomBytes(20)]);
    const y = image('imx-y', [randomBytes(20)]);
    await pushImage('imx/svc', 'rel', x);
    await pushImage('imx/svc', 'dev-1', x);
    await pushImage('imx/scratch/a', 'rel', x);
    await pushBlobs('imx/svc', y);
    await pushBlobs('imx/scratch/a', y);
    expectStatus(await putManifest('imx/svc', 'rel', y), 403, 'DENIED');
    expectStatus(await putManifest('imx/svc', 'dev-1', y), 201);
    expectStatus(await putManifest('imx/scratch/a', 'rel', y), 201);
    expectStatus(await call('DELETE', '/v2/imx/svc/manifests/dev-1'), 202);
    expectStatus(await call('DELETE', '/v2/imx/svc/manifests/rel'), 403, 'DENIED');
    expectStatus(await call('DELETE', '/v2/imx/scratch/a/manifests/rel'), 202);
    // {a,b} alternatives
    expectStatus(await call('POST', `${API}/projects/imm-other/immutabletagrules`, { json: rule('{stable,lts}', '{web,api}') }), 201);
    await pushImage('imm-other/web', 'lts', x);
    await pushImage('imm-other/cli', 'lts', x);
    await pushBlobs('imm-other/web', y);
    await pushBlobs('imm-other/cli', y);
    expectStatus(await putManifest('imm-other/web', 'lts', y), 403, 'DENIED');
    expectStatus(await putManifest('imm-other/cli', 'lts', y), 201);
  });

  it('at most 15 rules per project', async () => {
    await newProject('iml');
    const R = `${API}/projects/iml/immutabletagrules`;
    for (let i = 0; i < 15; i++) expectStatus(await call('POST', R, { json: rule(`t${i}-*`) }), 201);
    const r = await call('POST', R, { json: rule('t15-*') });
    expectStatus(r, 400);
    expect(errMessage(r)).toContain('at most 15');
    const list = await call('GET', `${R}?page_size=10&page=2`);
    expect(list.headers.get('x-total-count')).toBe('15');
    expect(list.json).toHaveLength(5);
  });
});

// ------------------------------------------------------------------------------------------------

describe('deletion of artifacts, tags and repositories by role', () => {
  const imgs = Array.from({ length: 6 }, (_, i) => image(`del-${i}`, [randomBytes(30)]));
  const A = `${API}/projects/del/repositories`;

  beforeAll(async () => {
    await newProject('del');
    await addMember('del', dev.id, 2);
    await addMember('del', maint.id, 4);
    await addMember('del', guest.id, 3);
    await pushImage('del/app', 't0', imgs[0]);
    await pushImage('del/app', 't1', imgs[1]);
    await pushImage('del/app', 't2', imgs[2]);
    await pushImage('del/app', 't3', imgs[3]);
    await pushImage('del/gone', 't4', imgs[4]);
  });

  it('anonymous callers are asked to log in; guests and developers are refused', async () => {
    expectStatus(await call('DELETE', '/v2/del/app/manifests/t0', { auth: null }), 401);
    expectStatus(await call('DELETE', `${A}/app/artifacts/t0`, { auth: null }), 401);
    for (const u of [guest, dev]) {
      expectStatus(await call('DELETE', '/v2/del/app/manifests/t0', { auth: u.auth }), 403, 'DENIED');
      expectStatus(await call('DELETE', `/v2/del/app/manifests/${imgs[0].digest}`, { auth: u.auth }), 403, 'DENIED');
      expectStatus(await call('DELETE', `/v2/del/app/blobs/${sha256(imgs[0].config)}`, { auth: u.auth }), 403, 'DENIED');
      expectStatus(await call('DELETE', `${A}/app/artifacts/t0`, { auth: u.auth }), 403, 'FORBIDDEN');
      expectStatus(await call('DELETE', `${A}/app/artifacts/t0/tags/t0`, { auth: u.auth }), 403, 'FORBIDDEN');
      expectStatus(await call('DELETE', `${A}/app`, { auth: u.auth }), 403, 'FORBIDDEN');
    }
    expect(await manifestStatus('del/app', 't0')).toBe(200);
    // ...while they can still read
    expectStatus(await call('GET', `${A}/app/artifacts`, { auth: guest.auth }), 200);
  });

  it('maintainers delete tags and manifests through /v2', async () => {
    expectStatus(await call('DELETE', '/v2/del/app/manifests/t0', { auth: maint.auth }), 202);
    expect(await manifestStatus('del/app', 't0')).toBe(404);
    expect(await manifestStatus('del/app', imgs[0].digest)).toBe(200); // the manifest stays
    expectStatus(await call('DELETE', `/v2/del/app/manifests/${imgs[0].digest}`, { auth: maint.auth }), 202);
    expect(await manifestStatus('del/app', imgs[0].digest)).toBe(404);
    expectStatus(await call('DELETE', `/v2/del/app/manifests/${imgs[0].digest}`, { auth: maint.auth }), 404, 'MANIFEST_UNKNOWN');
  });

  it('maintainers delete tags, artifacts and repositories through the API', async () => {
    expectStatus(await call('DELETE', `${A}/app/artifacts/t1/tags/t1`, { auth: maint.auth }), 200);
    expect(await manifestStatus('del/app', 't1')).toBe(404);
    expect(await manifestStatus('del/app', imgs[1].digest)).toBe(200);
    expectStatus(await call('DELETE', `${A}/app/artifacts/${imgs[1].digest}`, { auth: maint.auth }), 200);
    expectStatus(await call('DELETE', `${A}/app/artifacts/t2`, { auth: maint.auth }), 200);
    expect(await manifestStatus('del/app', imgs[2].digest)).toBe(404);
    expectStatus(await call('DELETE', `${A}/gone`, { auth: maint.auth }), 200);
    expect(await manifestStatus('del/gone', 't4')).toBe(404);
    expectStatus(await call('GET', `${A}/gone`), 404);
    // the project admin (here the system admin) too
    expectStatus(await call('DELETE', `${A}/app`), 200);
    expectStatus(await call('GET', '/v2/del/app/tags/list'), 404);
  });
});

// ------------------------------------------------------------------------------------------------

describe('real client', () => {
  let sk: Skopeo;

  beforeAll(async () => {
    sk = await Skopeo.create();
    await sk.login(w.host, admin);
  });

  afterAll(async () => {
    await sk?.cleanup();
  });

  it('skopeo copy onto an immutable tag fails with the message; onto a new tag it works', async () => {
    await newProject('sko');
    const one = image('sko-1', [randomBytes(100)]);
    const two = image('sko-2', [randomBytes(100)]);
    await pushImage('sko/app', 'v1', one);
    await pushImage('sko/src', 'other', two);
    expectStatus(await call('POST', `${API}/projects/sko/immutabletagrules`, { json: rule('v*', 'app') }), 201);
    const src = `docker://${w.host}/sko/src:other`;
    let failure: ClientError | undefined;
    try {
      await sk.copy(src, `docker://${w.host}/sko/app:v1`);
    } catch (e) {
      failure = e as ClientError;
    }
    expect(failure).toBeInstanceOf(ClientError);
    expect(failure!.result.stderr).toContain('The tag sko/app:v1 is immutable, cannot be overwritten');
    expect((await call('GET', '/v2/sko/app/manifests/v1', { headers: { Accept: MT_MANIFEST } })).headers.get('docker-content-digest')).toBe(one.digest);
    // the same image again is a no-op, and a fresh tag is fine
    await sk.copy(`docker://${w.host}/sko/app:v1`, `docker://${w.host}/sko/app:v1`);
    await sk.copy(src, `docker://${w.host}/sko/app:v2`);
    expect((await call('GET', '/v2/sko/app/manifests/v2', { headers: { Accept: MT_MANIFEST } })).headers.get('docker-content-digest')).toBe(two.digest);
  });
});
