import { describe, expect, it } from 'vitest';
import { cacheOf, cachesAnalyzer } from './caches.ts';
import type { FileInfo, Finding } from '../types.ts';

const info = (path: string, size = 1234): FileInfo => ({ path, size, mode: 0o644, type: 'file' });

function run(path: string): Finding[] {
  if (!cachesAnalyzer.wants(path, info(path))) return [];
  const out = cachesAnalyzer.analyze(path, Buffer.alloc(0), info(path));
  if (out instanceof Promise) throw new Error('caches analyzer must be synchronous');
  return out.findings ?? [];
}

describe('caches analyzer', () => {
  it('is presence-only', () => {
    expect(cachesAnalyzer.contentless).toBe(true);
    expect(cachesAnalyzer.wantsContent).toBeUndefined();
  });

  it.each([
    ['var/cache/apt/archives/curl_7.88.1-10+deb12u5_amd64.deb', 'cache.apt', 'var/cache/apt', 'apt-get clean'],
    ['var/cache/apt/pkgcache.bin', 'cache.apt', 'var/cache/apt', 'apt-get clean'],
    ['var/cache/apt/srcpkgcache.bin', 'cache.apt', 'var/cache/apt', 'apt-get clean'],
    ['var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4', 'cache.apt', 'var/lib/apt/lists', 'rm -rf /var/lib/apt/lists/*'],
    ['var/lib/apt/lists/archive.ubuntu.com_ubuntu_dists_jammy_InRelease', 'cache.apt', 'var/lib/apt/lists', 'rm -rf /var/lib/apt/lists/*'],
    ['var/cache/apk/APKINDEX.5022a8a2.tar.gz', 'cache.apk', 'var/cache/apk', 'apk add --no-cache'],
    ['etc/apk/cache/curl-8.5.0-r0.1a2b3c4d.apk', 'cache.apk', 'etc/apk/cache', 'apk add --no-cache'],
    ['var/cache/yum/x86_64/7/base/packages/curl-7.29.0-59.el7.x86_64.rpm', 'cache.yum', 'var/cache/yum', 'yum clean all'],
    ['var/cache/dnf/baseos-0123456789abcdef/repodata/primary.xml.gz', 'cache.dnf', 'var/cache/dnf', 'dnf clean all'],
    ['var/cache/dnf/appstream.solv', 'cache.dnf', 'var/cache/dnf', 'dnf clean all'],
    ['var/cache/tdnf/photon/rpms/x86_64/curl-8.1.2-1.ph5.x86_64.rpm', 'cache.tdnf', 'var/cache/tdnf', 'tdnf clean all'],
    ['var/cache/zypp/raw/repo-oss/repodata/repomd.xml', 'cache.zypper', 'var/cache/zypp', 'zypper clean'],
    ['root/.npm/_cacache/content-v2/sha512/ab/cd/0123', 'cache.npm', 'root/.npm/_cacache', 'npm cache clean --force'],
    ['home/node/.npm/_cacache/index-v5/12/34/5678', 'cache.npm', 'home/node/.npm/_cacache', 'npm cache clean --force'],
    ['usr/local/share/.cache/yarn/v6/npm-lodash-4.17.21/node_modules/lodash/package.json', 'cache.yarn', 'usr/local/share/.cache/yarn', 'yarn cache clean'],
    ['root/.cache/yarn/v6/.tmp/x', 'cache.yarn', 'root/.cache/yarn', 'yarn cache clean'],
    ['home/app/.yarn/berry/cache/lodash-npm-4.17.21-6382451519-eb835a2e51.zip', 'cache.yarn', 'home/app/.yarn/berry/cache', 'yarn'],
    ['root/.local/share/pnpm/store/v3/files/00/abcdef', 'cache.pnpm', 'root/.local/share/pnpm/store', 'pnpm store prune'],
    ['root/.cache/pip/http-v2/a/b/c/d/e/0123456789', 'cache.pip', 'root/.cache/pip', '--no-cache-dir'],
    ['home/app/.cache/pip/wheels/ab/cd/numpy-1.26.4-cp312-linux_x86_64.whl', 'cache.pip', 'home/app/.cache/pip', '--no-cache-dir'],
    ['root/.cache/pypoetry/artifacts/ab/cd/requests-2.31.0.tar.gz', 'cache.poetry', 'root/.cache/pypoetry', '--no-cache'],
    ['root/.cache/uv/wheels-v1/pypi/requests/x.whl', 'cache.uv', 'root/.cache/uv', 'UV_NO_CACHE'],
    ['root/.cache/go-build/ab/abcdef0123-d', 'cache.go', 'root/.cache/go-build', 'go clean -cache'],
    ['go/pkg/mod/cache/download/golang.org/x/net/@v/v0.20.0.zip', 'cache.go', 'go/pkg/mod/cache/download', 'go clean -modcache'],
    ['root/go/pkg/mod/cache/download/github.com/x/y/@v/list', 'cache.go', 'root/go/pkg/mod/cache/download', 'go clean -modcache'],
    ['root/.composer/cache/files/monolog/monolog/abc.zip', 'cache.composer', 'root/.composer/cache', 'composer'],
  ])('%s → %s at %s', (path, check, dir, hint) => {
    const f = run(path);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ check, severity: 'Low', path: dir });
    expect(f[0]!.detail).toContain(hint);
    expect(f[0]!.detail!.startsWith(`/${dir}: `)).toBe(true);
    expect(f[0]!.layer).toBeUndefined(); // the merge step sets it
  });

  it('every file of one cache directory yields an identical finding (merge dedupes them)', () => {
    const a = run('var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease');
    const b = run('var/lib/apt/lists/deb.debian.org_debian_dists_bookworm-updates_InRelease');
    expect(a).toEqual(b);
    const c = run('root/.npm/_cacache/content-v2/sha512/00/11/aa');
    const d = run('root/.npm/_cacache/index-v5/ff/ee/bb');
    expect(c).toEqual(d);
  });

  it.each([
    'var/lib/apt/lists/lock',
    'var/lib/apt/lists/partial/deb.debian.org_debian_dists_bookworm_InRelease',
    'var/lib/apt/lists/auxfiles/x',
    'var/cache/apt/archives/lock',
    'var/cache/apt/archives/partial/curl.deb',
    'var/cache/debconf/config.dat',
    'var/cache/ldconfig/aux-cache',
    'var/cache/dnf/expired_repos.json',
    'var/cache/dnf/last_makecache',
    'var/lib/dpkg/status',
    'root/.m2/repository/org/slf4j/slf4j-api/2.0.9/slf4j-api-2.0.9.jar',
    'root/.gradle/caches/modules-2/files-2.1/x.jar',
    'go/pkg/mod/golang.org/x/net@v0.20.0/go.mod',
    'usr/local/lib/ruby/gems/3.2.0/cache/rake-13.0.6.gem',
    'app/node_modules/.cache/babel-loader/x.json',
    'root/.npmrc',
    'home/a/b/.npm/_cacache/x', // not a home directory
  ])('%s is not a cache', (path) => {
    expect(cacheOf(path)).toBeUndefined();
    expect(run(path)).toEqual([]);
  });

  it('empty files and non-regular entries are ignored', () => {
    const p = 'var/cache/apk/APKINDEX.5022a8a2.tar.gz';
    expect(cachesAnalyzer.wants(p, info(p, 0))).toBe(false);
    expect(cachesAnalyzer.wants(p, { ...info(p), type: 'symlink', linkname: 'x' })).toBe(false);
    expect(cachesAnalyzer.wants(p, info(p))).toBe(true);
  });
});
