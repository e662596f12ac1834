// Small helpers for the identity and access tests (issue 3, docs/identity.md): an HTTP client that
// carries one of the credential kinds Wharf accepts, management-API calls made as the admin, the
// token service, and a tiny OCI image (config + one layer + manifest) built in memory.
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { RunningRegistry } from '../helpers/servers.ts';

export const ADMIN_PASSWORD = 'Wharf-Test-Admin-1';
export const SERVICE = 'wharf-registry';
export const API = '/api/v2.0';

export const MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MT_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MT_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

export function sha256(b: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Credentials

export type Auth =
  | { kind: 'none' }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'bearer'; token: string };

export const NONE: Auth = { kind: 'none' };
export const basic = (username: string, password: string): Auth => ({ kind: 'basic', username, password });
export const bearer = (token: string): Auth => ({ kind: 'bearer', token });

export function authHeader(a: Auth): string | undefined {
  if (a.kind === 'basic') return 'Basic ' + Buffer.from(`${a.username}:${a.password}`).toString('base64');
  if (a.kind === 'bearer') return `Bearer ${a.token}`;
  return undefined;
}

/** A strong password satisfying Harbor's policy (8–128, upper, lower, digit). */
export function newPassword(): string {
  return `Pw${randomBytes(9).toString('hex')}Xy7`;
}

// ---------------------------------------------------------------------------------------------
// HTTP

export interface Resp {
  /** "METHOD path" for messages */
  req: string;
  status: number;
  headers: Headers;
  body: Buffer;
  text: string;
  json(): any;
}

export interface ReqOpts {
  auth?: Auth;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** JSON body (sets Content-Type) */
  json?: unknown;
}

export class Http {
  /** every request made, for a failure dump */
  constructor(readonly url: string) {}

  async req(method: string, p: string, o: ReqOpts = {}): Promise<Resp> {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const a = authHeader(o.auth ?? NONE);
    if (a) headers.Authorization = a;
    let body: Buffer | undefined;
    if (o.json !== undefined) {
      body = Buffer.from(JSON.stringify(o.json));
      headers['Content-Type'] ??= 'application/json';
    } else if (o.body !== undefined) {
      body = Buffer.isBuffer(o.body) ? o.body : Buffer.from(o.body);
    }
    let r: Response | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        r = await fetch(this.url + p, { method, headers, body: body ? new Uint8Array(body) : undefined, redirect: 'manual' });
        break;
      } catch (e) {
        // a keep-alive socket closed under us: retry once
        if (attempt >= 1) throw new Error(`${method} ${p}: ${(e as Error).message}`);
      }
    }
    const buf = Buffer.from(await r.arrayBuffer());
    const text = buf.toString('utf8');
    return {
      req: `${method} ${p}`,
      status: r.status,
      headers: r.headers,
      body: buf,
      text,
      json: () => {
        try {
          return JSON.parse(text);
        } catch {
          throw new Error(`${method} ${p} -> ${r!.status}: not JSON: ${text.slice(0, 300)}`);
        }
      },
    };
  }
}

export function describeResp(r: Resp): string {
  const www = r.headers.get('www-authenticate');
  return `${r.req} -> ${r.status}${www ? ` [WWW-Authenticate: ${www}]` : ''} ${r.text.slice(0, 300).replace(/\s+/g, ' ')}`;
}

/** throw unless the status is one of `ok` */
export function must(r: Resp, ...ok: number[]): Resp {
  if (!ok.includes(r.status)) throw new Error(`expected ${ok.join('|')}: ${describeResp(r)}`);
  return r;
}

/** first error code of a distribution or Harbor error body */
export function errorCode(r: Resp): string | undefined {
  try {
    return JSON.parse(r.text)?.errors?.[0]?.code;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// A tiny image

export interface TinyImage {
  config: Buffer;
  configDigest: string;
  layer: Buffer;
  layerDigest: string;
  manifest: Buffer;
  digest: string;
}

/** config + one gzipped layer + an OCI image manifest; different seeds share no blob */
export function tinyImage(seed: string): TinyImage {
  const layer = gzipSync(Buffer.concat([Buffer.from(`wharf auth test layer ${seed}\n`), randomBytes(64)]));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { seed } },
      rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT_MANIFEST,
      config: { mediaType: MT_CONFIG, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MT_LAYER, digest: sha256(layer), size: layer.length }],
    }),
  );
  return { config, configDigest: sha256(config), layer, layerDigest: sha256(layer), manifest, digest: sha256(manifest) };
}

/** a manifest (no subject) referring to `subject`, for referrers */
export function referrerManifest(img: TinyImage, subject: TinyImage, artifactType = 'application/vnd.wharf.test'): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT_MANIFEST,
      artifactType,
      config: { mediaType: MT_CONFIG, digest: img.configDigest, size: img.config.length },
      layers: [{ mediaType: MT_LAYER, digest: img.layerDigest, size: img.layer.length }],
      subject: { mediaType: MT_MANIFEST, digest: subject.digest, size: subject.manifest.length },
    }),
  );
}

/** monolithic blob upload (POST …/blobs/uploads/?digest=) */
export function pushBlob(h: Http, auth: Auth, repo: string, data: Buffer): Promise<Resp> {
  return h.req('POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, {
    auth,
    body: data,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
}

export async function pushImage(h: Http, auth: Auth, repo: string, ref: string, img: TinyImage): Promise<void> {
  must(await pushBlob(h, auth, repo, img.config), 201);
  must(await pushBlob(h, auth, repo, img.layer), 201);
  must(await h.req('PUT', `/v2/${repo}/manifests/${ref}`, { auth, body: img.manifest, headers: { 'Content-Type': MT_MANIFEST } }), 201);
}

// ---------------------------------------------------------------------------------------------
// Token service

export async function getToken(h: Http, auth: Auth, scopes: string[]): Promise<Resp> {
  const q = new URLSearchParams({ service: SERVICE });
  for (const s of scopes) q.append('scope', s);
  return h.req('GET', `/service/token?${q}`, { auth });
}

export async function token(h: Http, auth: Auth, scopes: string[]): Promise<string> {
  const r = must(await getToken(h, auth, scopes), 200);
  const j = r.json();
  const t = j.token ?? j.access_token;
  if (typeof t !== 'string' || !t) throw new Error(`no token in ${describeResp(r)}`);
  return t;
}

/** the `access` claim of a JWT (undefined when the token is not a JWT) */
export function tokenAccess(t: string): { type: string; name: string; actions: string[] }[] | undefined {
  const parts = t.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    return Array.isArray(payload.access) ? payload.access : [];
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Management API as the admin

export class Admin {
  readonly auth: Auth;
  constructor(
    readonly h: Http,
    password = ADMIN_PASSWORD,
  ) {
    this.auth = basic('admin', password);
  }

  req(method: string, p: string, o: Omit<ReqOpts, 'auth'> = {}): Promise<Resp> {
    return this.h.req(method, p, { ...o, auth: this.auth });
  }

  async createUser(username: string, password: string): Promise<number> {
    const r = must(
      await this.req('POST', `${API}/users`, {
        json: { username, email: `${username}@example.test`, realname: username, password, comment: 'auth test' },
      }),
      201,
    );
    return idFromLocation(r);
  }

  async createProject(name: string, isPublic: boolean): Promise<number> {
    const r = must(await this.req('POST', `${API}/projects`, { json: { project_name: name, metadata: { public: String(isPublic) } } }), 201);
    return idFromLocation(r);
  }

  /** add a user as a member; returns the member id */
  async addMember(project: string, username: string, roleId: number): Promise<number> {
    const r = must(await this.req('POST', `${API}/projects/${project}/members`, { json: { role_id: roleId, member_user: { username } } }), 201);
    const loc = r.headers.get('location');
    if (loc) return idFromLocation(r);
    // fall back to the list
    const list = must(await this.req('GET', `${API}/projects/${project}/members?page_size=100`), 200).json() as any[];
    const m = list.find((x) => x.entity_name === username);
    if (!m) throw new Error(`member ${username} not found in ${project}`);
    return m.id;
  }

  async createRobot(
    project: string,
    name: string,
    access: { resource: string; action: string }[],
    opts: { level?: 'project' | 'system'; namespace?: string } = {},
  ): Promise<{ id: number; name: string; secret: string; body: any }> {
    const r = must(await this.req('POST', `${API}/robots`, { json: robotBody(project, name, access, opts) }), 201);
    const j = r.json();
    return { id: j.id, name: j.name, secret: j.secret, body: j };
  }

  async pushImage(repo: string, ref: string, img: TinyImage): Promise<void> {
    await pushImage(this.h, this.auth, repo, ref, img);
  }
}

export function robotBody(
  project: string,
  name: string,
  access: { resource: string; action: string }[],
  opts: { level?: 'project' | 'system'; namespace?: string; disable?: boolean } = {},
): Record<string, unknown> {
  return {
    name,
    description: 'auth test',
    duration: -1,
    level: opts.level ?? 'project',
    disable: opts.disable ?? false,
    permissions: [{ kind: 'project', namespace: opts.namespace ?? project, access }],
  };
}

export function idFromLocation(r: Resp): number {
  const loc = r.headers.get('location') ?? '';
  const m = /\/(\d+)\/?$/.exec(loc);
  if (m) return Number(m[1]);
  try {
    const j = JSON.parse(r.text);
    if (typeof j?.id === 'number') return j.id;
  } catch {
    /* no body */
  }
  throw new Error(`no id in Location of ${describeResp(r)} (Location: ${loc})`);
}

/** create a personal access token as `user` (Basic with its password) */
export async function createPat(
  h: Http,
  username: string,
  password: string,
  name: string,
  scopes: string[],
): Promise<{ id: number; token: string; body: any }> {
  const r = must(await h.req('POST', `${API}/users/current/tokens`, { auth: basic(username, password), json: { name, scopes, duration: -1 } }), 201);
  const j = r.json();
  return { id: j.id, token: j.token, body: j };
}

// ---------------------------------------------------------------------------------------------
// Server

/** Has the identity server landed? (GET /api/v2.0/ping answers 200 "Pong") */
export async function serverHasIdentity(reg: Pick<RunningRegistry, 'url'>): Promise<boolean> {
  try {
    const r = await fetch(`${reg.url}${API}/ping`);
    const t = await r.text();
    return r.status === 200 && /pong/i.test(t);
  } catch {
    return false;
  }
}

/** Capture everything a server process writes from now on (RunningRegistry.output() keeps only a tail). */
export function captureOutput(reg: RunningRegistry): () => string {
  const chunks: Buffer[] = [];
  reg.proc.stdout?.on('data', (d: Buffer) => chunks.push(d));
  reg.proc.stderr?.on('data', (d: Buffer) => chunks.push(d));
  return () => Buffer.concat(chunks).toString('utf8');
}

/** run `fn` over items with at most `n` in flight */
export async function pool<T, R>(items: T[], n: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(n, items.length) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return out;
}
