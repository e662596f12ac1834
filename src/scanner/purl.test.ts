import { describe, expect, it } from 'vitest';
import { buildPurl, normalizePypiName, purlEncode, purlOf } from './purl.ts';
import type { OsInfo, Package } from './types.ts';

const pkg = (p: Partial<Package> & Pick<Package, 'type' | 'name' | 'version'>): Package => ({ path: 'x', ...p });

describe('purl', () => {
  it('encodes per the spec: only alnum, .-_~ and : stay literal', () => {
    expect(purlEncode('a.b-c_d~e:f')).toBe('a.b-c_d~e:f');
    expect(purlEncode('@x/y z+1#?&=%')).toBe('%40x%2Fy%20z%2B1%23%3F%26%3D%25');
    expect(purlEncode('é')).toBe('%C3%A9');
  });

  it('npm: plain and @scope (scope @ encoded, lowercased)', () => {
    expect(purlOf(pkg({ type: 'npm', name: 'lodash', version: '4.17.20' }))).toBe('pkg:npm/lodash@4.17.20');
    expect(purlOf(pkg({ type: 'npm', name: '@Angular/animation', version: '12.3.1' }))).toBe(
      'pkg:npm/%40angular/animation@12.3.1',
    );
    expect(purlOf(pkg({ type: 'npm', name: 'x', version: '1.0.0-beta+build.5' }))).toBe('pkg:npm/x@1.0.0-beta%2Bbuild.5');
  });

  it('pypi: PEP 503 name', () => {
    expect(normalizePypiName('Foo__Bar..baz-_-qux')).toBe('foo-bar-baz-qux');
    expect(purlOf(pkg({ type: 'pypi', name: 'Django_Allauth', version: '12.23' }))).toBe('pkg:pypi/django-allauth@12.23');
  });

  it('golang: module path split into namespace/name, lowercased', () => {
    expect(purlOf(pkg({ type: 'golang', name: 'github.com/Azure/go-autorest/autorest', version: 'v0.11.29' }))).toBe(
      'pkg:golang/github.com/azure/go-autorest/autorest@v0.11.29',
    );
    expect(purlOf(pkg({ type: 'golang', name: 'stdlib', version: '1.21.5' }))).toBe('pkg:golang/stdlib@1.21.5');
    expect(purlOf(pkg({ type: 'golang', name: 'golang.org/x/net', version: 'v0.0.0-20230101000000-abcdef+incompatible' }))).toBe(
      'pkg:golang/golang.org/x/net@v0.0.0-20230101000000-abcdef%2Bincompatible',
    );
  });

  it('maven: groupId namespace, artifactId name, case kept', () => {
    expect(purlOf(pkg({ type: 'maven', name: 'org.apache.logging.log4j:log4j-core', version: '2.14.1' }))).toBe(
      'pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1',
    );
    expect(purlOf(pkg({ type: 'maven', name: 'com.Foo:Bar', version: '1' }))).toBe('pkg:maven/com.Foo/Bar@1');
  });

  it('deb/apk/rpm: vendor namespace, arch and distro qualifiers sorted', () => {
    const deb: OsInfo = { id: 'debian', versionId: '12', path: 'etc/os-release' };
    expect(purlOf(pkg({ type: 'deb', name: 'libc6', version: '2.36-9+deb12u4', arch: 'amd64' }), deb)).toBe(
      'pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12',
    );
    expect(purlOf(pkg({ type: 'deb', name: 'attr', version: '1:2.4.47-2' }))).toBe('pkg:deb/debian/attr@1:2.4.47-2');
    const alp: OsInfo = { id: 'alpine', versionId: '3.19.1', path: 'etc/os-release' };
    expect(purlOf(pkg({ type: 'apk', name: 'musl', version: '1.2.4_git20230717-r4', arch: 'x86_64' }), alp)).toBe(
      'pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1',
    );
    const fed: OsInfo = { id: 'fedora', versionId: '25', path: 'etc/os-release' };
    expect(purlOf(pkg({ type: 'rpm', name: 'curl', version: '7.50.3-1.fc25', arch: 'i386' }), fed)).toBe(
      'pkg:rpm/fedora/curl@7.50.3-1.fc25?arch=i386&distro=fedora-25',
    );
    expect(purlOf(pkg({ type: 'rpm', name: 'centerim', version: '1:4.22.10-1.el6', arch: 'i686' }), fed)).toBe(
      'pkg:rpm/fedora/centerim@4.22.10-1.el6?arch=i686&distro=fedora-25&epoch=1',
    );
    expect(purlOf(pkg({ type: 'rpm', name: 'x', version: '1-1' }))).toBe('pkg:rpm/x@1-1');
  });

  it('buildPurl drops empty qualifiers and encodes subpath segments', () => {
    expect(buildPurl({ type: 'golang', namespace: 'google.golang.org', name: 'genproto', subpath: '/googleapis/api/' , qualifiers: { a: '' } })).toBe(
      'pkg:golang/google.golang.org/genproto#googleapis/api',
    );
  });
});
