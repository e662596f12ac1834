import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FileInfo, Package } from '../types.ts';
import { JAVA_LIMITS, javaAnalyzer, parseJarFileName, parseManifest, parseProperties } from './java.ts';
import { makeZip, overlapping } from '../../../test/fixtures/scanner/lang/make-zip.ts';

const FIX = join(import.meta.dirname, '../../../test/fixtures/scanner/lang/java');
const info = (path: string): FileInfo => ({ path, size: 0, mode: 0o644, type: 'file' });
type Out = { packages?: Package[]; issues?: Array<{ path?: string; message: string }> };
const analyze = (path: string, buf: Buffer) => javaAnalyzer.analyze(path, buf, info(path)) as Out;
const fix = (name: string) => readFileSync(join(FIX, name));
const rows = (o: Out) => (o.packages ?? []).map((p) => `${p.name}@${p.version} ${p.path}`);

describe('java analyzer: wants', () => {
  it('java archives by extension', () => {
    for (const p of ['app/app.jar', 'opt/x.WAR', 'a.ear', 'var/jenkins_home/plugins/git.jpi', 'p/x.hpi']) expect(javaAnalyzer.wants(p, info(p))).toBe(true);
    for (const p of ['a.zip', 'a.jar.sha1', 'jar', 'a.class']) expect(javaAnalyzer.wants(p, info(p))).toBe(false);
  });
});

describe('java analyzer: real jars', () => {
  it('pom.properties (commons-cli 1.5.0 from Debian)', () => {
    const out = analyze('usr/share/java/commons-cli-1.5.0.jar', fix('commons-cli-1.5.0.jar'));
    expect(out.issues).toBeUndefined();
    expect(out.packages).toEqual([
      {
        type: 'maven',
        name: 'commons-cli:commons-cli',
        version: '1.5.0',
        path: 'usr/share/java/commons-cli-1.5.0.jar!META-INF/maven/commons-cli/commons-cli/pom.properties',
        purl: 'pkg:maven/commons-cli/commons-cli@1.5.0',
      },
    ]);
  });
  it('maven-dependency-tree 2.1 from ~/.m2', () => {
    expect(rows(analyze('m2/x.jar', fix('maven-dependency-tree-2.1.jar')))).toEqual([
      'org.apache.maven.shared:maven-dependency-tree@2.1 m2/x.jar!META-INF/maven/org.apache.maven.shared/maven-dependency-tree/pom.properties',
    ]);
  });
  it('shaded jar with 9 pom.properties (appengine-remote-api from the Cloud SDK)', () => {
    const out = analyze('lib/appengine-remote-api.jar', fix('appengine-remote-api.jar'));
    expect(out.packages!.map((p) => `${p.name}@${p.version}`).sort()).toEqual([
      'com.google.api-client:google-api-client-appengine@2.7.2',
      'com.google.api-client:google-api-client@2.7.2',
      'com.google.appengine:appengine-remote-api@2.0.36-SNAPSHOT',
      'com.google.http-client:google-http-client-apache-v2@1.45.2',
      'com.google.http-client:google-http-client-appengine@1.47.0',
      'com.google.http-client:google-http-client-gson@1.43.3',
      'com.google.http-client:google-http-client-jackson@1.29.2',
      'com.google.http-client:google-http-client@1.47.0',
      'com.google.oauth-client:google-oauth-client@1.39.0',
    ]);
  });
  it('no pom.properties, manifest without a version: the file name (aopalliance 1.0, Debian)', () => {
    expect(rows(analyze('usr/share/java/aopalliance-1.0.jar', fix('aopalliance-1.0.jar')))).toEqual(['aopalliance@1.0 usr/share/java/aopalliance-1.0.jar']);
    expect(analyze('usr/share/java/aopalliance.jar', fix('aopalliance-1.0.jar'))).toEqual({});
  });
  it('Spring Boot style fat jar built with `jar --no-compress`: app + BOOT-INF/lib/*', () => {
    expect(rows(analyze('app/demo-app.jar', fix('demo-app.jar'))).sort()).toEqual([
      'aopalliance@1.0 app/demo-app.jar!BOOT-INF/lib/aopalliance-1.0.jar',
      'com.example:demo-app@0.0.1-SNAPSHOT app/demo-app.jar!META-INF/maven/com.example/demo-app/pom.properties',
      'commons-cli:commons-cli@1.5.0 app/demo-app.jar!BOOT-INF/lib/commons-cli-1.5.0.jar!META-INF/maven/commons-cli/commons-cli/pom.properties',
      'org.apache.maven.shared:maven-dependency-tree@2.1 app/demo-app.jar!BOOT-INF/lib/maven-dependency-tree-2.1.jar!META-INF/maven/org.apache.maven.shared/maven-dependency-tree/pom.properties',
    ]);
  });
  it('the same fat jar behind a launch script (fully executable jar)', () => {
    const exec = Buffer.concat([Buffer.from('#!/bin/bash\n# launch script\nexec java -jar "$0" "$@"\n'), fix('demo-app.jar')]);
    expect(analyze('app.jar', exec).packages).toHaveLength(4);
  });
  it('.ear → .war → WEB-INF/lib/*.jar (deflated, built with `jar`)', () => {
    expect(rows(analyze('opt/enterprise.ear', fix('enterprise.ear')))).toEqual([
      'commons-cli:commons-cli@1.5.0 opt/enterprise.ear!webapp.war!WEB-INF/lib/commons-cli-1.5.0.jar!META-INF/maven/commons-cli/commons-cli/pom.properties',
    ]);
  });
  const big = '/usr/lib/google-cloud-sdk/platform/pubsub-emulator/lib/cloud-pubsub-emulator-0.8.20-all.jar';
  it.skipIf(!existsSync(big))('a 70 MB shaded jar on this machine', () => {
    const buf = readFileSync(big);
    const t0 = performance.now();
    const out = analyze('x.jar', buf);
    console.log(`${big}: ${buf.length} bytes, ${out.packages?.length} packages, ${(performance.now() - t0).toFixed(0)} ms`);
    expect(out.packages!.length).toBeGreaterThan(40);
    expect(out.issues).toBeUndefined();
  });
});

describe('java analyzer: synthetic archives', () => {
  const pom = (g: string, a: string, v: string) => ({ name: `META-INF/maven/${g}/${a}/pom.properties`, data: Buffer.from(`#Generated\ngroupId=${g}\nartifactId=${a}\nversion=${v}\n`) });
  it('manifest fallbacks: Implementation-* with Vendor-Id, Bundle-*', () => {
    const impl = makeZip([{ name: 'META-INF/MANIFEST.MF', data: Buffer.from('Manifest-Version: 1.0\r\nImplementation-Title: Some Lib\r\nImplementation-Version: 2.3.4\r\nImplementation-Vendor-Id: org.some\r\n\r\nName: x\r\nImplementation-Version: 9\r\n') }]);
    expect(rows(analyze('lib/some-lib-2.3.4.jar', impl))).toEqual(['org.some:some-lib@2.3.4 lib/some-lib-2.3.4.jar!META-INF/MANIFEST.MF']);
    const osgi = makeZip([{ name: 'META-INF/MANIFEST.MF', data: Buffer.from('Manifest-Version: 1.0\nBundle-SymbolicName: org.foo.bar;singleton:=true\nBundle-Version: 1.0.0.v2020\n') }]);
    expect(rows(analyze('plugins/bar.jar', osgi))).toEqual(['org.foo.bar@1.0.0.v2020 plugins/bar.jar!META-INF/MANIFEST.MF']);
  });
  it('nesting depth limit 4', () => {
    let inner = makeZip([pom('g', 'level5', '5')]);
    for (let i = 4; i >= 1; i--) inner = makeZip([pom('g', `level${i}`, String(i)), { name: `lib/l${i + 1}.jar`, data: inner, method: 0 }]);
    const out = analyze('top.jar', inner);
    expect(out.packages!.map((p) => p.name)).toEqual(['g:level1', 'g:level2', 'g:level3', 'g:level4']);
    expect(out.issues![0]).toMatchObject({ path: 'top.jar!lib/l2.jar!lib/l3.jar!lib/l4.jar!lib/l5.jar', message: expect.stringMatching(/deeper than 4/) });
  });
  it('a nested zip bomb is an issue; the rest of the archive is still read', () => {
    const z = makeZip([pom('g', 'ok', '1'), { name: 'BOOT-INF/lib/bomb.jar', data: Buffer.alloc(50 * 1024 * 1024) }]);
    const out = analyze('app.jar', z);
    expect(rows(out)).toEqual(['g:ok@1 app.jar!META-INF/maven/g/ok/pom.properties']);
    expect(out.issues![0].message).toMatch(/compression ratio/);
  });
  it('unresolved ${…} and properties syntax', () => {
    const z = makeZip([pom('g', 'a', '${project.version}'), { name: 'META-INF/maven/g/b/pom.properties', data: Buffer.from('version : 1.0\\\n  .1\nartifactId\tb\n') }]);
    expect(rows(analyze('x.jar', z))).toEqual(['g:b@1.0.1 x.jar!META-INF/maven/g/b/pom.properties']);
  });
  it('not a zip / truncated: issue, never throws', () => {
    expect(analyze('x.jar', Buffer.from('not a zip at all, not at all')).issues![0].message).toMatch(/not a ZIP/);
    const real = fix('demo-app.jar');
    for (const frac of [0.1, 0.5, 0.9, 0.999]) expect(() => analyze('x.jar', real.subarray(0, Math.floor(real.length * frac)))).not.toThrow();
    const cut = real.subarray(0, real.length - 10);
    expect(analyze('x.jar', cut).issues?.length).toBe(1);
  });
  it('helpers', () => {
    expect(parseJarFileName('lib/guava-31.1-jre.jar')).toEqual({ artifactId: 'guava', version: '31.1-jre' });
    expect(parseJarFileName('spring-core-5.3.20.RELEASE.jar')).toEqual({ artifactId: 'spring-core', version: '5.3.20.RELEASE' });
    expect(parseJarFileName('log4j-1.2-api-2.17.1.jar')).toEqual({ artifactId: 'log4j', version: '1.2-api-2.17.1' }); // known limit of name parsing
    expect(parseJarFileName('app.jar')).toBeUndefined();
    expect(parseManifest('A: 1\n B\nC: x\n\nD: y').get('A')).toBe('1B');
    expect(parseProperties('a=b\\u0041\n# c=d\n!e=f\ng:h').get('a')).toBe('bA');
  });
});

describe('java analyzer: denial-of-service hardening', () => {
  const pom = (g: string, a: string, v: string) => ({ name: `META-INF/maven/${g}/${a}/pom.properties`, data: Buffer.from(`groupId=${g}\nartifactId=${a}\nversion=${v}\n`) });
  it('overlapping central-directory entries → one stored inner jar: refused, not visited thousands of times', () => {
    const inner = makeZip(Array.from({ length: 50 }, (_, i) => pom('g', `lib${i}`, '1')));
    const z = makeZip([pom('g', 'app', '1'), { name: 'BOOT-INF/lib/inner.jar', data: inner, method: 0 }]);
    const bomb = overlapping(z, 'BOOT-INF/lib/inner.jar', 2000, (i) => `BOOT-INF/lib/i${i}.jar`); // 2000 × 50 packages unchecked
    expect(bomb.length).toBeLessThan(200 * 1024);
    const t0 = performance.now();
    const out = analyze('app.jar', bomb);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(out.packages).toBeUndefined();
    expect(out.issues).toEqual([{ path: 'app.jar', message: 'java: overlapping entries (zip bomb)' }]);
    expect(analyze('app.jar', z).packages).toHaveLength(51); // without the extra records: read normally
  });
  it('at most maxNestedArchives nested archives per file, each charged a minimum cost', () => {
    const empty = makeZip([]);
    const n = JAVA_LIMITS.maxNestedArchives + 5;
    const z = makeZip(Array.from({ length: n }, (_, i) => ({ name: `lib/a${i}-1.0.jar`, data: empty, method: 0 as const })));
    const out = analyze('big.war', z);
    expect(out.packages).toHaveLength(JAVA_LIMITS.maxNestedArchives); // one per nested jar, from its file name
    expect(out.issues).toEqual([{ path: 'big.war', message: `java: more than ${JAVA_LIMITS.maxNestedArchives} nested archives in one archive; stopped reading it` }]);
  });
  it('at most maxPackages packages and maxIssues issues per file', () => {
    const n = JAVA_LIMITS.maxPackages + 10;
    const z = makeZip(Array.from({ length: n }, (_, i) => ({ ...pom('g', `a${i}`, '1'), method: 0 as const })));
    const out = analyze('shaded.jar', z);
    expect(out.packages).toHaveLength(JAVA_LIMITS.maxPackages);
    expect(out.issues).toEqual([{ path: 'shaded.jar', message: `java: more than ${JAVA_LIMITS.maxPackages} packages in one archive; stopped reading it` }]);
    // 1500 broken nested jars: 1000 issues + a summary
    const broken = makeZip(Array.from({ length: 1500 }, (_, i) => ({ name: `lib/b${i}.jar`, data: Buffer.from('not a zip'), method: 0 as const })));
    const bo = analyze('broken.jar', broken);
    expect(bo.issues).toHaveLength(JAVA_LIMITS.maxIssues + 1);
    expect(bo.issues!.at(-1)!.message).toBe('java: … 500 more issues in this archive omitted');
  });
});

