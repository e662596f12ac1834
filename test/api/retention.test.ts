// Tag retention against a real Wharf process: images pushed and pulled over /v2, the policy and
// its executions through /api/v2.0/retentions, tag immutability respected by real runs.
//
// AWAITS WIRING: this needs (1) `retentionRoutes` in src/api/index.ts, (2) the 'retention' job
// handler registered in src/main.ts and (3) the PullTracker called from the /v2 manifest GET.
// Until (1) is there (GET /api/v2.0/retentions/metadatas answers 404), every test here is
// SKIPPED, not passed. With (1) and (2) but not (3), the pull-time test fails by design. The
// same routes and job are covered in-process (composed by the test) in src/retention/*.test.ts.
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWharf, type RunningRegistry } from '../helpers/servers.ts';

const API = '/api/v2.0';
const MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MT_CONFIG = 'application/vnd.oci.image.config.v1+json';
const MT_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let w: RunningRegistry;
let projectId = 0;

async function call(method: string, p: string, o: { json?: unknown; body?: Buffer; headers?: Record<string, string>; anonymous?: boolean } = {}) {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (!o.anonymous) headers.Authorization = 'Basic ' + Buffer.from(`${w.admin.username}:${w.admin.password}`).toString('base64');
  let body: Uint8Array<ArrayBuffer> | undefined;
  if (o.json !== undefined) {
    body = new Uint8Array(Buffer.from(JSON.stringify(o.json)));
    headers['Content-Type'] = 'application/json';
  } else if (o.body) body = new Uint8Array(o.body);
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

async function pushImage(repo: string, tag: string): Promise<string> {
  const layer = Buffer.concat([Buffer.from(`layer ${repo}:${tag}\n`), randomBytes(64)]);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  for (const blob of [config, layer]) {
    const r = await call('POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { body: blob, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(r.status, r.text).toBe(201);
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT_MANIFEST,
      config: { mediaType: MT_CONFIG, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MT_LAYER, digest: sha256(layer), size: layer.length }],
    }),
  );
  const r = await call('PUT', `/v2/${repo}/manifests/${tag}`, { body: manifest, headers: { 'Content-Type': MT_MANIFEST } });
  expect(r.status, r.text).toBe(201);
  return sha256(manifest);
}

const pullStatus = async (repo: string, ref: string) => (await call('GET', `/v2/${repo}/manifests/${ref}`, { headers: { Accept: MT_MANIFEST } })).status;

function pulledAt(repo: string): Map<string, number | null> {
  const db = new Database(path.join(w.dataDir, 'wharf.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('select m.digest as d, m.pulled_at as p from manifests m join repositories r on r.id = m.repository_id where r.name = ?').all(repo) as { d: string; p: number | null }[];
    return new Map(rows.map((r) => [r.d, r.p]));
  } finally {
    db.close();
  }
}

async function waitExecution(policyId: number, eid: number): Promise<any> {
  const end = Date.now() + 30_000;
  for (;;) {
    const r = await call('GET', `${API}/retentions/${policyId}/executions/${eid}`);
    expect(r.status, r.text).toBe(200);
    if (['Success', 'Error', 'Stopped'].includes(r.json.status)) return r.json;
    if (Date.now() > end) throw new Error(`execution ${eid} did not finish: ${r.text}`);
    await sleep(100);
  }
}

async function execute(policyId: number, dryRun: boolean): Promise<{ execution: any; log: string }> {
  const r = await call('POST', `${API}/retentions/${policyId}/executions`, { json: { dry_run: dryRun } });
  expect(r.status, r.text).toBe(201);
  const eid = Number(r.headers.get('location')!.split('/').pop());
  const execution = await waitExecution(policyId, eid);
  const tasks = await call('GET', `${API}/retentions/${policyId}/executions/${eid}/tasks`);
  expect(tasks.status).toBe(200);
  let log = '';
  for (const t of tasks.json) log += (await call('GET', `${API}/retentions/${policyId}/executions/${eid}/tasks/${t.id}`)).text;
  return { execution, log };
}

const sel = (pattern: string, decoration: string) => ({ kind: 'doublestar', decoration, pattern, extras: '{"untagged":false}' });

beforeAll(async () => {
  w = await startWharf();
  const p = await call('POST', `${API}/projects`, { json: { project_name: 'ret', metadata: { public: 'false' } } });
  expect(p.status, p.text).toBe(201);
  projectId = (await call('GET', `${API}/projects/ret`, { headers: { 'X-Is-Resource-Name': 'true' } })).json.project_id;
  const probe = await call('GET', `${API}/retentions/metadatas`);
  expect(probe.status, probe.text).toBe(200);
}, 90_000);

afterAll(async () => {
  await w?.stop();
});

describe('tag retention on a real server', () => {
  const digests: Record<string, string> = {};
  let policyId = 0;

  it('pulls over /v2 record pull times (PullTracker wired into the manifest GET)', async (ctx) => {
    for (const t of ['v1', 'v2', 'v3', 'v4']) digests[t] = await pushImage('ret/app', t);
    digests.web = await pushImage('ret/web', 'w1');
    expect(await pullStatus('ret/app', 'v1')).toBe(200); // by tag
    expect(await pullStatus('ret/app', digests.v2)).toBe(200); // by digest
    expect((await call('HEAD', `/v2/ret/app/manifests/v3`, { headers: { Accept: MT_MANIFEST } })).status).toBe(200); // HEAD is no pull
    const end = Date.now() + 5000;
    let m = pulledAt('ret/app');
    while ((m.get(digests.v1) == null || m.get(digests.v2) == null) && Date.now() < end) {
      await sleep(200);
      m = pulledAt('ret/app');
    }
    expect(m.get(digests.v1), 'pull time of a pull by tag').toBeTypeOf('number');
    expect(m.get(digests.v2), 'pull time of a pull by digest').toBeTypeOf('number');
    expect(m.get(digests.v3)).toBeNull();
    expect(m.get(digests.v4)).toBeNull();
  });

  it('creates the policy: keep the 2 most recently pulled in app', async (ctx) => {
    const r = await call('POST', `${API}/retentions`, {
      json: {
        algorithm: 'or',
        rules: [{ disabled: false, action: 'retain', template: 'latestPulledN', params: { latestPulledN: 2 }, tag_selectors: [sel('**', 'matches')], scope_selectors: { repository: [sel('app', 'repoMatches')] } }],
        trigger: { kind: 'Schedule', settings: { cron: '' }, references: {} },
        scope: { level: 'project', ref: projectId },
      },
    });
    expect(r.status, r.text).toBe(201);
    policyId = Number(r.headers.get('location')!.split('/').pop());
    const proj = await call('GET', `${API}/projects/${projectId}`);
    expect(proj.json.metadata.retention_id).toBe(String(policyId));
  });

  it('a dry run deletes nothing and names what a real run deletes; immutable tags are skipped', async (ctx) => {
    const dry = await execute(policyId, true);
    expect(dry.execution).toMatchObject({ status: 'Success', dry_run: true });
    const wouldGo = [...dry.log.matchAll(/app: DEL \(dry run\) (sha256:[0-9a-f]{64})/g)].map((m) => m[1]).sort();
    expect(wouldGo).toEqual([digests.v3, digests.v4].sort());
    for (const t of ['v1', 'v2', 'v3', 'v4']) expect(await pullStatus('ret/app', t)).toBe(200);

    // v4 becomes immutable: the real run keeps it (and says so)
    const imm = await call('POST', `${API}/projects/ret/immutabletagrules`, {
      headers: { 'X-Is-Resource-Name': 'true' },
      json: { disabled: false, action: 'immutable', template: 'immutable_template', tag_selectors: [{ kind: 'doublestar', decoration: 'matches', pattern: 'v4' }], scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern: '**' }] } },
    });
    expect(imm.status, imm.text).toBe(201);

    const real = await execute(policyId, false);
    expect(real.execution).toMatchObject({ status: 'Success', dry_run: false });
    expect(real.log).toContain(`app: DEL ${digests.v3}`);
    expect(real.log).toMatch(new RegExp(`app: SKIP ${digests.v4}.*refused`));
    expect(await pullStatus('ret/app', 'v3')).toBe(404);
    expect(await pullStatus('ret/app', 'v4')).toBe(200);
    expect(await pullStatus('ret/app', 'v1')).toBe(200);
    expect(await pullStatus('ret/app', 'v2')).toBe(200);
    expect(await pullStatus('ret/web', 'w1')).toBe(200); // not in the policy's scope
    expect(real.execution.progress).toMatchObject({ deleted: 1, skipped: 1, retained: 2 });
  });

  it('history, permissions and deletion of the policy', async (ctx) => {
    const list = await call('GET', `${API}/retentions/${policyId}/executions`);
    expect(list.status).toBe(200);
    expect(list.headers.get('x-total-count')).toBe('2');
    expect((await call('GET', `${API}/retentions/${policyId}`, { anonymous: true })).status).toBe(401);
    expect((await call('DELETE', `${API}/retentions/${policyId}`)).status).toBe(200);
    expect((await call('GET', `${API}/retentions/${policyId}`)).status).toBe(404);
  });
});
