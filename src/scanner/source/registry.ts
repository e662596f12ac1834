// A pull-only client of the OCI distribution API, enough to scan an image in any registry.
//
// - Scheme: https, except for localhost / 127.x / ::1 (plain http, as docker does) or an explicit
//   http:// / https:// prefix on the reference or `plainHttp`. `insecure` skips TLS certificate
//   verification and, when the TLS handshake fails, retries over plain http (docker's
//   "insecure-registries").
// - Auth: every request goes anonymously first. On 401 the WWW-Authenticate challenge decides:
//   Bearer → a token from the realm (GET realm?service=&scope=, with Basic credentials when given,
//   anonymous otherwise), Basic → the credentials; the request is retried once. Tokens are cached
//   per repository. Credentials are never logged or put in error messages.
// - Token realm policy (the realm is chosen by the registry, so a hostile one must not turn the
//   scanner into a proxy for credentials or requests; see checkTokenRealm):
//   * a registry reached over https must have an https realm (no downgrade to plain http);
//   * a realm on a loopback (127/8, ::1, localhost), link-local (169.254/16, fe80::/10) or private
//     (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) address is refused unless the registry is
//     such a host too (loopback: only a loopback registry; link-local: only a link-local one;
//     private: a private or loopback one). Host names are resolved once to classify them (a DNS
//     answer that changes between this check and the request is not caught);
//   * Basic credentials go to a plain-http realm only on the registry's own host name (docker
//     sends them anywhere; that is all a plain-http registry can offer anyway) or on loopback;
//     to a realm on another host only over https.
// - `insecure` fallback to http after a TLS failure: whatever Authorization was prepared for https
//   (cached tokens, Basic) is dropped, and credentials are never sent over that plain-http
//   connection; only anonymous access works there. Use an http:// reference or `plainHttp` to
//   send credentials to a plain-http registry.
// - Redirects (blob downloads from S3-style storage) are followed, at most 5; the Authorization
//   header is dropped when a redirect leaves the registry's origin.
// - Timeouts: `timeoutMs` (default 60 s) of inactivity on a connection, while waiting for headers
//   or for body bytes.
import { lookup } from 'node:dns/promises';
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import {
  ImageSourceError,
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  blobsOf,
  digestBytes,
  isNonDistributable,
  nonDistributableError,
  notInImage,
  resolveManifest,
  splitDigest,
  verifyBytes,
  verifyingStream,
  type ContentFetcher,
  type ResolvedImageSource,
} from './common.ts';
import { isLoopbackHost, parseRegistryReference, type RegistryReference } from './reference.ts';

export interface RegistryClientOptions {
  username?: string;
  password?: string;
  /** skip TLS verification; fall back to http when the TLS handshake fails */
  insecure?: boolean;
  /** force plain http */
  plainHttp?: boolean;
  /** force https, also for loopback hosts */
  forceHttps?: boolean;
  /** inactivity timeout per request (ms, default 60 000) */
  timeoutMs?: number;
  userAgent?: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse a WWW-Authenticate header: the first challenge's scheme and its auth-params. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)/y;
  re.lastIndex = m[0].length;
  for (let p = re.exec(header); p; p = re.exec(header)) {
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
    if (re.lastIndex >= header.length) break;
  }
  return { scheme: m[1].toLowerCase(), params };
}

function basic(username: string, password: string): string {
  return 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64');
}

async function readBody(res: IncomingMessage, max: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > max) {
      res.destroy();
      throw new ImageSourceError('UNSUPPORTED', `${what} is larger than ${max} bytes`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

function drain(res: IncomingMessage): void {
  res.resume();
  res.on('error', () => undefined);
}

/** The registry's own message from an OCI error body, if there is one. */
async function errorMessage(res: IncomingMessage): Promise<string> {
  try {
    const body = (await readBody(res, 64 * 1024, 'error body')).toString('utf8');
    const j = JSON.parse(body) as { errors?: { code?: string; message?: string }[]; details?: string; error?: string };
    const e = j.errors?.[0];
    if (e) return [e.code, e.message].filter(Boolean).join(': ');
    return j.details ?? j.error ?? '';
  } catch {
    return '';
  }
}

export type AddressClass = 'loopback' | 'link-local' | 'private';

/** The class of an IP address literal that a remote party must not point us at; null: public. */
export function classifyAddress(ip: string): AddressClass | null {
  let a = ip.toLowerCase().replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) a = mapped[1];
  if (isIP(a) === 4) {
    const [o1, o2] = a.split('.').map(Number);
    if (o1 === 127 || o1 === 0) return 'loopback';
    if (o1 === 169 && o2 === 254) return 'link-local';
    if (o1 === 10 || (o1 === 172 && o2 >= 16 && o2 <= 31) || (o1 === 192 && o2 === 168) || (o1 === 100 && o2 >= 64 && o2 <= 127)) return 'private';
    return null;
  }
  if (isIP(a) === 6) {
    if (a === '::1' || a === '::') return 'loopback';
    const first = parseInt(a.split(':')[0] || '0', 16);
    if ((first & 0xffc0) === 0xfe80) return 'link-local';
    if ((first & 0xfe00) === 0xfc00) return 'private';
    return null;
  }
  return null;
}

const CLASS_RANK: Record<AddressClass, number> = { private: 1, loopback: 2, 'link-local': 3 };

/** A host name's class: the literal's, localhost's, or the most sensitive of its DNS addresses. */
export async function classifyHost(hostname: string): Promise<AddressClass | null> {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (isIP(h)) return classifyAddress(h);
  if (h === 'localhost' || h.endsWith('.localhost')) return 'loopback';
  let addrs: { address: string }[];
  try {
    addrs = await lookup(h, { all: true });
  } catch {
    return null; // the request itself will fail with the resolver's error
  }
  let worst: AddressClass | null = null;
  for (const { address } of addrs) {
    const c = classifyAddress(address);
    if (c && (!worst || CLASS_RANK[c] > CLASS_RANK[worst])) worst = c;
  }
  return worst;
}

export interface RealmCheck {
  /** credentials are given (Basic to the realm) */
  haveCreds: boolean;
  realmClass: AddressClass | null;
  registryClass: AddressClass | null;
  /** the registry is spoken to over http after an `insecure` TLS failure (not asked for) */
  downgraded: boolean;
}

/** Why a token realm must not be used (a message after "unauthorized: "), or undefined when it may. */
export function checkTokenRealm(realm: URL, registry: URL, c: RealmCheck): string | undefined {
  if (registry.protocol === 'https:' && realm.protocol !== 'https:') {
    return `refusing the token service ${realm.origin}: ${registry.host} was reached over https and must not send us to plain http`;
  }
  const rc = c.realmClass;
  if (rc) {
    const g = c.registryClass;
    const allowed = rc === g || (rc === 'private' && g === 'loopback');
    if (!allowed) return `refusing the token service ${realm.origin}: a ${rc} address, and the registry ${registry.host} is not${g ? ` (it is ${g})` : ''}`;
  }
  if (c.haveCreds && realm.protocol !== 'https:') {
    if (c.downgraded) return `refusing to send credentials to ${realm.origin} over plain http: ${registry.host} fell back from https after a TLS failure (--insecure); use an http:// reference or --plain-http to allow it`;
    if (realm.hostname !== registry.hostname && rc !== 'loopback') {
      return `refusing to send credentials to the token service ${realm.origin} on another host over plain http`;
    }
  }
  return undefined;
}

const TLS_FAILURE = new Set(['EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ECONNRESET']);

export class RegistryClient {
  private scheme: 'http' | 'https';
  /** over http after an `insecure` TLS failure, not at the user's request: no credentials go there */
  private downgraded = false;
  /** the registry host's address class (for the token realm policy), looked up once */
  private registryClass?: Promise<AddressClass | null>;
  private readonly tokens = new Map<string, string>();
  /** the Authorization header that worked for a repository (Basic challenge) */
  private readonly basicFor = new Set<string>();
  private readonly timeoutMs: number;

  constructor(
    /** host[:port] of the API */
    readonly host: string,
    private readonly opts: RegistryClientOptions = {},
    scheme?: 'http' | 'https',
  ) {
    this.scheme = scheme ?? (opts.plainHttp ? 'http' : opts.forceHttps ? 'https' : isLoopbackHost(host) ? 'http' : 'https');
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  get baseUrl(): string {
    return `${this.scheme}://${this.host}`;
  }

  private send(url: URL, headers: OutgoingHttpHeaders, method = 'GET'): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(url, {
        method,
        headers: { 'User-Agent': this.opts.userAgent ?? 'wharf-scanner', ...headers },
        ...(url.protocol === 'https:' && this.opts.insecure ? { rejectUnauthorized: false } : {}),
      });
      // Inactivity timeouts: waiting for the response headers, then between body bytes (time the
      // consumer holds the stream paused, e.g. the indexer busy with a file, does not count).
      const t = this.timeoutMs;
      let timer = setTimeout(() => req.destroy(new ImageSourceError('NETWORK', `${method} ${url.origin}${url.pathname}: no response for ${t} ms`)), t);
      req.on('response', (res) => {
        clearTimeout(timer);
        const socket = res.socket;
        const check = () => {
          if (res.destroyed || res.complete) return;
          if (res.isPaused() || res.readableLength >= res.readableHighWaterMark) return arm();
          res.destroy(new ImageSourceError('NETWORK', `${url.origin}${url.pathname}: the download stalled for ${t} ms`));
        };
        const arm = () => {
          timer = setTimeout(check, t);
        };
        const onData = () => {
          clearTimeout(timer);
          arm();
        };
        const done = () => {
          clearTimeout(timer);
          socket?.off('data', onData);
        };
        socket?.on('data', onData);
        res.once('end', done);
        res.once('close', done);
        arm();
        resolve(res);
      });
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.end();
    });
  }

  /** send, following redirects; Authorization only to the first URL's origin; `checkHop` vets each redirect target */
  private async sendFollowing(url: URL, headers: OutgoingHttpHeaders, method: string, checkHop?: (u: URL) => Promise<void>): Promise<IncomingMessage> {
    const origin = url.origin;
    let cur = url;
    for (let hops = 0; ; hops++) {
      const h = { ...headers };
      if (cur.origin !== origin) delete h.Authorization;
      let res: IncomingMessage;
      try {
        res = await this.send(cur, h, method);
      } catch (e) {
        if (e instanceof ImageSourceError) throw e;
        const code = (e as NodeJS.ErrnoException).code ?? '';
        if (this.opts.insecure && cur.protocol === 'https:' && cur.origin === origin && cur.host === this.host && this.scheme === 'https' && (TLS_FAILURE.has(code) || /SSL|TLS/i.test(String(e)))) {
          this.scheme = 'http'; // an insecure registry without TLS
          this.downgraded = true;
          // nothing prepared for https goes over plain http: not this Authorization, not a cached
          // token, not Basic credentials (request() answers the next challenge anonymously)
          this.tokens.clear();
          this.basicFor.clear();
          const u = new URL(cur.href);
          u.protocol = 'http:';
          const { Authorization: _dropped, ...rest } = headers;
          return this.sendFollowing(u, rest, method);
        }
        throw new ImageSourceError('NETWORK', `${method} ${cur.origin}${cur.pathname}: ${(e as Error).message}${code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO' ? ' (a plain-http registry? use an http:// reference or --insecure)' : ''}`);
      }
      const status = res.statusCode ?? 0;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
        drain(res);
        if (hops >= 5) throw new ImageSourceError('NETWORK', `${method} ${url.origin}${url.pathname}: too many redirects`);
        cur = new URL(res.headers.location, cur);
        if (cur.protocol !== 'http:' && cur.protocol !== 'https:') throw new ImageSourceError('NETWORK', `redirect to unsupported URL scheme ${cur.protocol}`);
        if (checkHop) await checkHop(cur);
        continue;
      }
      return res;
    }
  }

  private scopeKey(repo: string): string {
    return `repository:${repo}:pull`;
  }

  private authFor(repo: string): string | undefined {
    const t = this.tokens.get(repo);
    if (t) return `Bearer ${t}`;
    if (this.basicFor.has(repo) && this.opts.username !== undefined) return basic(this.opts.username, this.opts.password ?? '');
    return undefined;
  }

  /** A request to /v2/<repo>/…, anonymous first, then answering the challenge once. */
  async request(repo: string, pathAfterName: string, headers: OutgoingHttpHeaders = {}, method = 'GET'): Promise<IncomingMessage> {
    let url = new URL(`${this.baseUrl}/v2/${repo}/${pathAfterName}`);
    const auth = this.authFor(repo);
    let res = await this.sendFollowing(url, auth ? { ...headers, Authorization: auth } : headers, method);
    if (res.statusCode !== 401) return res;
    url = new URL(`${this.baseUrl}/v2/${repo}/${pathAfterName}`); // http after an insecure fallback
    const challenge = parseChallenge(res.headers['www-authenticate'] as string | undefined);
    const registryMsg = await errorMessage(res);
    if (!challenge || (challenge.scheme !== 'bearer' && challenge.scheme !== 'basic')) {
      throw new ImageSourceError('UNAUTHORIZED', `unauthorized: ${this.host} requires authentication with an unsupported challenge${registryMsg ? ` (${registryMsg})` : ''}`, 401);
    }
    if (challenge.scheme === 'basic') {
      if (this.opts.username === undefined) throw new ImageSourceError('UNAUTHORIZED', `unauthorized: ${this.host} requires credentials for ${repo} (none given)${registryMsg ? ` (${registryMsg})` : ''}`, 401);
      if (this.downgraded && url.protocol === 'http:') {
        throw new ImageSourceError('UNAUTHORIZED', `unauthorized: refusing to send credentials to ${this.host} over plain http: it fell back from https after a TLS failure (--insecure); use an http:// reference or --plain-http to allow it`, 401);
      }
      this.basicFor.add(repo);
    } else {
      this.tokens.set(repo, await this.fetchToken(challenge, repo, url));
    }
    const retryAuth = this.authFor(repo)!;
    res = await this.sendFollowing(url, { ...headers, Authorization: retryAuth }, method);
    return res;
  }

  private async fetchToken(ch: Challenge, repo: string, requestUrl: URL): Promise<string> {
    const realm = ch.params.realm;
    if (!realm) throw new ImageSourceError('UNAUTHORIZED', `unauthorized: ${this.host} sent a Bearer challenge without a realm`, 401);
    let u: URL;
    try {
      u = new URL(realm, requestUrl);
    } catch {
      throw new ImageSourceError('UNAUTHORIZED', `unauthorized: invalid token realm ${JSON.stringify(realm)}`, 401);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new ImageSourceError('UNAUTHORIZED', `unauthorized: unsupported token realm scheme ${u.protocol}`, 401);
    if (ch.params.service) u.searchParams.set('service', ch.params.service);
    const scopes = (ch.params.scope ?? this.scopeKey(repo)).split(' ').filter(Boolean);
    for (const s of scopes) u.searchParams.append('scope', s);
    const headers: OutgoingHttpHeaders = { Accept: 'application/json' };
    const haveCreds = this.opts.username !== undefined;
    this.registryClass ??= classifyHost(requestUrl.hostname);
    const [registryClass, realmClass] = await Promise.all([this.registryClass, classifyHost(u.hostname)]);
    const problem = checkTokenRealm(u, requestUrl, { haveCreds, realmClass, registryClass, downgraded: this.downgraded });
    if (problem) throw new ImageSourceError('UNAUTHORIZED', `unauthorized: ${problem}`, 401);
    if (haveCreds) headers.Authorization = basic(this.opts.username!, this.opts.password ?? '');
    // a redirect of the token service is held to the same policy (Authorization only goes to the realm's origin)
    const checkHop = async (to: URL) => {
      const p = checkTokenRealm(to, requestUrl, { haveCreds: haveCreds && to.origin === u.origin, realmClass: await classifyHost(to.hostname), registryClass, downgraded: this.downgraded });
      if (p) throw new ImageSourceError('UNAUTHORIZED', `unauthorized: the token service redirected: ${p}`, 401);
    };
    const res = await this.sendFollowing(u, headers, 'GET', checkHop);
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const msg = await errorMessage(res);
      if (status === 401 || status === 403) {
        throw new ImageSourceError('UNAUTHORIZED', `unauthorized: the token service ${u.origin} refused ${haveCreds ? `the credentials of ${this.opts.username}` : 'anonymous access'}${msg ? ` (${msg})` : ''}`, status);
      }
      throw new ImageSourceError('REGISTRY_ERROR', `token service ${u.origin}${u.pathname}: HTTP ${status}${msg ? ` (${msg})` : ''}`, status);
    }
    let j: { token?: string; access_token?: string };
    try {
      j = JSON.parse((await readBody(res, 1024 * 1024, 'token response')).toString('utf8'));
    } catch {
      throw new ImageSourceError('REGISTRY_ERROR', `token service ${u.origin}${u.pathname}: the response is not JSON`);
    }
    const token = j.token ?? j.access_token;
    if (!token || typeof token !== 'string') throw new ImageSourceError('REGISTRY_ERROR', `token service ${u.origin}${u.pathname}: no token in the response`);
    return token;
  }

  private async failure(res: IncomingMessage, what: string, repo: string): Promise<never> {
    const status = res.statusCode ?? 0;
    const msg = await errorMessage(res);
    const detail = msg ? ` (${msg})` : '';
    if (status === 401 || status === 403) {
      const who = this.opts.username !== undefined ? `user ${this.opts.username}` : 'anonymous access (no credentials given)';
      throw new ImageSourceError('UNAUTHORIZED', `unauthorized: ${this.host} denied ${who} to pull ${repo}${detail}`, status);
    }
    if (status === 404) {
      const unknown = what.startsWith('manifest') ? 'manifest unknown' : 'blob unknown';
      throw new ImageSourceError(what.startsWith('manifest') ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN', `${unknown}: ${what} not found on ${this.host}${detail}`, 404);
    }
    if (status === 429) throw new ImageSourceError('REGISTRY_ERROR', `${this.host}: too many requests (rate limited) while fetching ${what}${detail}`, status);
    throw new ImageSourceError('REGISTRY_ERROR', `${this.host}: HTTP ${status} fetching ${what}${detail}`, status);
  }

  /** GET a manifest by tag or digest (bytes as served; a digest reference is verified). */
  async getManifest(repo: string, reference: string): Promise<{ bytes: Buffer; contentType?: string; digest: string }> {
    const res = await this.request(repo, `manifests/${reference}`, { Accept: MANIFEST_ACCEPT });
    if (res.statusCode !== 200) return this.failure(res, `manifest ${repo}${reference.includes(':') ? '@' : ':'}${reference}`, repo);
    const len = Number(res.headers['content-length']);
    if (len > MAX_MANIFEST_BYTES) {
      drain(res);
      throw new ImageSourceError('UNSUPPORTED', `manifest ${repo}:${reference} is larger than ${MAX_MANIFEST_BYTES} bytes`);
    }
    const bytes = await readBody(res, MAX_MANIFEST_BYTES, `manifest ${repo}:${reference}`);
    const contentType = res.headers['content-type'];
    let digest: string;
    if (reference.includes(':')) {
      verifyBytes(bytes, { digest: reference }, `manifest ${repo}@${reference}`);
      digest = reference;
    } else {
      // by tag: the registry's Docker-Content-Digest, checked against the bytes; else sha256 of them
      const header = res.headers['docker-content-digest'] as string | undefined;
      if (header) {
        try {
          splitDigest(header);
          verifyBytes(bytes, { digest: header }, `manifest ${repo}:${reference} (Docker-Content-Digest)`);
          digest = header;
        } catch (e) {
          if (e instanceof ImageSourceError && e.code === 'DIGEST_MISMATCH') throw e;
          digest = digestBytes(bytes);
        }
      } else digest = digestBytes(bytes);
    }
    return { bytes, contentType, digest };
  }

  /** GET a blob: the response stream (unverified), following redirects. */
  async openBlob(repo: string, digest: string): Promise<IncomingMessage> {
    const res = await this.request(repo, `blobs/${digest}`);
    if (res.statusCode !== 200) return this.failure(res, `blob ${digest} in ${repo}`, repo);
    return res;
  }

  async getBlob(repo: string, digest: string, maxBytes: number): Promise<Buffer> {
    const res = await this.openBlob(repo, digest);
    return readBody(res, maxBytes, `blob ${digest}`);
  }
}

export interface RegistryImageOptions extends RegistryClientOptions {
  platform?: string;
  /** what openBlob verifies while streaming: the digest (default) or only the size */
  verify?: 'digest' | 'size';
  name?: string;
}

/** Open an image in a registry by reference (`host[:port]/repo[:tag|@digest]`, Docker Hub names too). */
export async function openRegistryImage(ref: string | RegistryReference, opts: RegistryImageOptions = {}): Promise<ResolvedImageSource> {
  const r = typeof ref === 'string' ? parseRegistryReference(ref) : ref;
  const name = opts.name ?? (typeof ref === 'string' ? ref : `${r.registry}/${r.repository}${r.digest ? `@${r.digest}` : `:${r.tag}`}`);
  const client = new RegistryClient(r.apiHost, opts, r.scheme);
  const repo = r.repository;
  const root = await client.getManifest(repo, r.digest ?? r.tag ?? 'latest');
  const fetcher: ContentFetcher = {
    async manifest(d) {
      const m = await client.getManifest(repo, d.digest);
      return { bytes: m.bytes, contentType: m.contentType ?? d.mediaType };
    },
    blob: (d, max) => client.getBlob(repo, d.digest, max),
  };
  const res = await resolveManifest(root, fetcher, { platform: opts.platform, what: name });
  const blobs = blobsOf(res);
  return {
    kind: 'registry',
    name,
    ...res,
    registry: r.registry,
    repository: repo,
    tag: r.digest ? undefined : r.tag,
    async openBlob(digest: string): Promise<Readable> {
      const d = blobs.get(digest);
      if (!d) throw notInImage(digest, name);
      let s: IncomingMessage;
      try {
        s = await client.openBlob(repo, digest);
      } catch (e) {
        if (e instanceof ImageSourceError && e.code === 'BLOB_UNKNOWN' && isNonDistributable(d.mediaType)) throw nonDistributableError(d, `${r.registry}/${repo}`);
        throw e;
      }
      const len = s.headers['content-length'];
      if (len !== undefined && Number(len) !== d.size) {
        drain(s);
        throw new ImageSourceError('SIZE_MISMATCH', `blob ${digest} from ${r.registry}: Content-Length ${len} does not match the manifest's ${d.size}`);
      }
      return verifyingStream(s, d, `blob from ${r.registry}/${repo}`, opts.verify);
    },
  };
}
