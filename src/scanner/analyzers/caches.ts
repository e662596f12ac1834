// Package-manager caches left in image layers (issue 5). A presence-only analyzer: the file is not
// read. Every file under a cache directory yields the same finding (check, path = the cache
// directory), so after the merge step's (check, path, layer) dedupe there is one finding per cache
// directory per layer. A cache removed by a later layer is still reported (merge sets
// `deletedIn`): the bytes stay in the earlier layer, which is the point of the check — clean the
// cache in the same RUN that filled it.
//
// Covered: apt (downloaded .deb files and pkgcache.bin, and the package lists), apk, yum, dnf,
// tdnf, zypper, npm (_cacache), yarn (v1 cache, berry global cache), pnpm store, pip, Poetry, uv,
// Go (build cache and module download cache), Composer. Empty files are ignored (an apt lists
// `lock`, a stamp file: they cost nothing).
//
// Deliberately not covered: Maven's ~/.m2/repository and Gradle's ~/.gradle/caches. They are
// caches, but also the local dependency store that offline builds read (`mvn -o`,
// `dependency:go-offline` in a builder stage is a common, deliberate pattern), so flagging them
// would mostly be noise; a runtime image normally carries only the application's jars. Ruby
// gems' cache/*.gem and the Go module *source* tree (go/pkg/mod/<module>@<version>) are not
// flagged for the same reason.
import type { AnalyzerOutput, FileAnalyzer, FileInfo, Finding } from '../types.ts';

interface CacheRule {
  check: string;
  /** group 1 = the cache directory */
  re: RegExp;
  /** file base names that are bookkeeping, not cache content */
  ignore?: RegExp;
  title: string;
  detail: string;
}

const HOME = '(?:root|home/[^/]+)';

const RULES: CacheRule[] = [
  {
    check: 'cache.apt',
    re: /^(var\/cache\/apt)\/(?:archives\/[^/]+\.deb|[^/]+\.bin)$/,
    title: 'apt package cache left in the image',
    detail:
      'Downloaded .deb files / apt package caches under /var/cache/apt. Clean them in the same RUN that installs: `apt-get install -y --no-install-recommends … && apt-get clean` (Debian/Ubuntu base images also ship /etc/apt/apt.conf.d/docker-clean).',
  },
  {
    check: 'cache.apt',
    re: /^(var\/lib\/apt\/lists)\/[^/]+$/,
    ignore: /^lock$/,
    title: 'apt package lists left in the image',
    detail:
      'apt package index files under /var/lib/apt/lists (tens of MB). Remove them in the same RUN as `apt-get update`: `apt-get update && apt-get install -y … && rm -rf /var/lib/apt/lists/*`. Deleting them in a later layer does not make the image smaller.',
  },
  {
    check: 'cache.apk',
    re: /^(var\/cache\/apk|etc\/apk\/cache)\/[^/]+$/,
    title: 'apk package cache left in the image',
    detail: 'APKINDEX / .apk files in the apk cache. Use `apk add --no-cache …` (or `rm -rf /var/cache/apk/*` in the same RUN).',
  },
  {
    check: 'cache.yum',
    re: /^(var\/cache\/yum)\/.+$/,
    title: 'yum cache left in the image',
    detail: 'Repository metadata and packages under /var/cache/yum. End the installing RUN with `yum clean all && rm -rf /var/cache/yum`.',
  },
  {
    check: 'cache.dnf',
    re: /^(var\/cache\/dnf)\/.+$/,
    ignore: /^(?:expired_repos\.json|last_makecache|tempfiles\.json|[^/]*\.lock)$/,
    title: 'dnf cache left in the image',
    detail:
      'Repository metadata and packages under /var/cache/dnf. End the installing RUN with `dnf clean all` (or `microdnf clean all`), or install with `--setopt=keepcache=0`.',
  },
  {
    check: 'cache.tdnf',
    re: /^(var\/cache\/tdnf)\/.+$/,
    title: 'tdnf cache left in the image',
    detail: 'Repository metadata and packages under /var/cache/tdnf. End the installing RUN with `tdnf clean all`.',
  },
  {
    check: 'cache.zypper',
    re: /^(var\/cache\/zypp)\/(?:packages|raw|solv)\/.+$/,
    title: 'zypper cache left in the image',
    detail: 'Repository metadata and packages under /var/cache/zypp. End the installing RUN with `zypper clean --all`.',
  },
  {
    check: 'cache.npm',
    re: new RegExp(`^(${HOME}/\\.npm/_cacache)/.+$`),
    title: 'npm cache left in the image',
    detail: 'The npm content cache (~/.npm/_cacache). Run `npm ci` and `npm cache clean --force` in the same RUN, use a BuildKit cache mount (`--mount=type=cache,target=/root/.npm`), or build in a separate stage.',
  },
  {
    check: 'cache.yarn',
    re: new RegExp(`^(${HOME}/\\.cache/yarn|usr/local/share/\\.cache/yarn|${HOME}/\\.yarn/berry/cache)/.+$`),
    title: 'yarn cache left in the image',
    detail: 'The yarn package cache. Run `yarn cache clean` in the same RUN as the install (yarn v1), set `enableGlobalCache: false` / clean `~/.yarn/berry/cache` (yarn berry), or use a BuildKit cache mount.',
  },
  {
    check: 'cache.pnpm',
    re: new RegExp(`^(${HOME}/\\.local/share/pnpm/store|${HOME}/\\.pnpm-store)/.+$`),
    title: 'pnpm store left in the image',
    detail: 'The pnpm content-addressable store. Build in a separate stage and copy only node_modules, run `pnpm store prune`, or use a BuildKit cache mount for the store.',
  },
  {
    check: 'cache.pip',
    re: new RegExp(`^(${HOME}/\\.cache/pip)/.+$`),
    title: 'pip cache left in the image',
    detail: 'The pip wheel/HTTP cache (~/.cache/pip). Install with `pip install --no-cache-dir …` or set `PIP_NO_CACHE_DIR=1`.',
  },
  {
    check: 'cache.poetry',
    re: new RegExp(`^(${HOME}/\\.cache/pypoetry)/(?:cache|artifacts)/.+$`),
    title: 'Poetry cache left in the image',
    detail: 'The Poetry cache (~/.cache/pypoetry). Run `poetry install --no-cache` or `rm -rf ~/.cache/pypoetry` in the same RUN.',
  },
  {
    check: 'cache.uv',
    re: new RegExp(`^(${HOME}/\\.cache/uv)/.+$`),
    title: 'uv cache left in the image',
    detail: 'The uv cache (~/.cache/uv). Use `uv pip install --no-cache` / `UV_NO_CACHE=1`, or a BuildKit cache mount.',
  },
  {
    check: 'cache.go',
    re: new RegExp(`^(${HOME}/\\.cache/go-build)/.+$`),
    title: 'Go build cache left in the image',
    detail: 'The Go build cache (GOCACHE). Build in a separate stage and copy only the binary, run `go clean -cache`, or use a BuildKit cache mount.',
  },
  {
    check: 'cache.go',
    re: new RegExp(`^((?:${HOME}/)?go/pkg/mod/cache/download)/.+$`),
    title: 'Go module download cache left in the image',
    detail: 'Downloaded module zips (GOMODCACHE/cache/download). Build in a separate stage and copy only the binary, or run `go clean -modcache` in the same RUN.',
  },
  {
    check: 'cache.composer',
    re: new RegExp(`^(${HOME}/\\.composer/cache|${HOME}/\\.cache/composer)/.+$`),
    title: 'Composer cache left in the image',
    detail: 'The Composer package cache. Run `composer install --no-cache` or `composer clear-cache` in the same RUN.',
  },
];

/** The cache rule and cache directory a file belongs to, if any. */
export function cacheOf(path: string): { rule: CacheRule; dir: string } | undefined {
  // every rule path starts with var/, etc/, root/, home/, usr/ or go/
  const c = path.charCodeAt(0);
  if (c !== 0x76 && c !== 0x65 && c !== 0x72 && c !== 0x68 && c !== 0x75 && c !== 0x67) return undefined;
  for (const rule of RULES) {
    const m = rule.re.exec(path);
    if (!m) continue;
    if (rule.ignore && rule.ignore.test(path.slice(path.lastIndexOf('/') + 1))) return undefined;
    return { rule, dir: m[1]! };
  }
  return undefined;
}

export const cachesAnalyzer: FileAnalyzer = {
  name: 'caches',
  version: 1,
  contentless: true,
  wants(path: string, info: FileInfo): boolean {
    return info.type === 'file' && info.size > 0 && cacheOf(path) !== undefined;
  },
  analyze(path: string): AnalyzerOutput {
    const hit = cacheOf(path);
    if (!hit) return {};
    const finding: Finding = {
      check: hit.rule.check,
      severity: 'Low',
      title: hit.rule.title,
      detail: `/${hit.dir}: ${hit.rule.detail}`,
      path: hit.dir,
    };
    return { findings: [finding] };
  },
};
