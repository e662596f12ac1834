// Image references (distribution/reference grammar, as docker reads them):
//   [scheme://][host[:port]/]path[:tag][@digest]
// The first component is a host when it contains "." or ":" or is "localhost"; without a host the
// image is on Docker Hub (docker.io, whose API is at registry-1.docker.io) and a one-component
// path gets "library/". Without tag or digest the tag is "latest".
import { isValidName, isValidTag } from '../../oci/names.ts';
import { ImageSourceError, splitDigest } from './common.ts';

export interface RepoReference {
  repository: string;
  tag?: string;
  digest?: string;
}

export interface RegistryReference extends RepoReference {
  /** the registry as named ("127.0.0.1:5000", "ghcr.io", "docker.io") */
  registry: string;
  /** host[:port] the API is reached at (docker.io → registry-1.docker.io) */
  apiHost: string;
  /** an explicit scheme from an http:// or https:// prefix */
  scheme?: 'http' | 'https';
}

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';

/** `repo[:tag][@digest]` (no host). */
export function parseRepoReference(s: string): RepoReference {
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    splitDigest(digest);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) throw new ImageSourceError('INVALID_REFERENCE', `invalid tag ${JSON.stringify(tag)} in ${JSON.stringify(s)}`);
  }
  if (!isValidName(rest)) throw new ImageSourceError('INVALID_REFERENCE', `invalid repository name ${JSON.stringify(rest)} in ${JSON.stringify(s)}`);
  return { repository: rest, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** Does the first path component name a registry host? */
export function looksLikeHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component.startsWith('[');
}

/** `[scheme://][host[:port]/]path[:tag][@digest]`; `docker://` is accepted and ignored. */
export function parseRegistryReference(input: string): RegistryReference {
  let s = input.trim();
  let scheme: 'http' | 'https' | undefined;
  const m = /^([a-z]+):\/\//.exec(s);
  if (m) {
    if (m[1] === 'http' || m[1] === 'https') scheme = m[1];
    else if (m[1] !== 'docker') throw new ImageSourceError('INVALID_REFERENCE', `unsupported reference scheme ${m[1]}:// in ${JSON.stringify(input)}`);
    s = s.slice(m[0].length);
  }
  const slash = s.indexOf('/');
  let registry = DOCKER_HUB;
  let path = s;
  if (slash > 0 && looksLikeHost(s.slice(0, slash))) {
    registry = s.slice(0, slash).toLowerCase();
    path = s.slice(slash + 1);
  } else if (scheme) {
    throw new ImageSourceError('INVALID_REFERENCE', `${JSON.stringify(input)}: a reference with ${scheme}:// must name a host`);
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  const r = parseRepoReference(path);
  if (registry === DOCKER_HUB && !r.repository.includes('/')) r.repository = `library/${r.repository}`;
  if (!r.tag && !r.digest) r.tag = 'latest';
  return { ...r, registry, apiHost: registry === DOCKER_HUB ? DOCKER_HUB_API : registry, ...(scheme ? { scheme } : {}) };
}

/** Hosts reached over plain HTTP by default (as docker treats them): localhost and loopback addresses. */
export function isLoopbackHost(hostPort: string): boolean {
  const host = hostPort.startsWith('[') ? hostPort.slice(1, hostPort.indexOf(']')) : hostPort.replace(/:\d+$/, '');
  return host === 'localhost' || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1';
}
