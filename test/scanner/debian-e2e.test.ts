// End to end: a real `debootstrap --variant=minbase bookworm` root filesystem (built once by
// scripts/debian-fixture.sh and cached) plus two layers of our own (a private key, a .npmrc token,
// apt lists, lodash 4.17.20; then a layer deleting the key) is pushed to a real Wharf with skopeo;
// the Debian advisories fixture and the npm GHSA exemplars are imported with `wharf vuln-db import`;
// then `wharf scan` runs against the registry (with credentials), Wharf's own storage (--local) and
// the OCI layout on disk. The expected vulnerabilities are computed independently here with the
// distro's own tools: `dpkg-query` on the image's status file and `dpkg --compare-versions`.
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageBuilder, MEDIA } from '../helpers/image-builder.ts';
import { repoRoot, startWharf, type RunningRegistry } from '../helpers/servers.ts';
import { Skopeo, run } from '../helpers/clients.ts';

const WHARF = path.join(repoRoot, 'bin/wharf.js');
const FIXTURES = path.join(repoRoot, 'test/fixtures/vulndata');

// Child processes run asynchronously: a synchronous spawn blocks the test worker, and vitest's
// worker RPC times out after 60 s of that (the first debootstrap on a fresh machine takes longer).
async function wharf(args: string[], env: Record<string, string>, input?: string) {
  const r = await run(process.execPath, [WHARF, ...args], { env: { ...process.env, ...env }, input, timeoutMs: 300_000, allowFail: true });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** gzip a file to `out`, returning sha256 of both sides and sizes */
async function gzipFile(src: string, out: string) {
  const raw = createHash('sha256');
  const gz = createHash('sha256');
  let size = 0;
  await pipeline(
    createReadStream(src),
    new Transform({ transform(c, _e, cb) { raw.update(c); cb(null, c); } }),
    createGzip({ level: 1 }),
    new Transform({ transform(c, _e, cb) { gz.update(c); size += c.length; cb(null, c); } }),
    createWriteStream(out),
  );
  return { diffId: `sha256:${raw.digest('hex')}`, digest: `sha256:${gz.digest('hex')}`, size };
}

interface Expected {
  /** binary package → [source, source version, version] */
  installed: Map<string, { source: string; sourceVersion: string; version: string }>;
  /** "CVE|binary" */
  vulns: Set<string>;
}

/** The expectation, from dpkg's own tools on the image's status file and the advisories fixture. */
async function expectedFromDpkg(rootfsTar: string, work: string): Promise<Expected> {
  const admin = path.join(work, 'dpkg-admin');
  await mkdir(admin, { recursive: true });
  const st = spawnSync('tar', ['-xOf', rootfsTar, './var/lib/dpkg/status'], { maxBuffer: 64 << 20 });
  expect(st.status).toBe(0);
  await writeFile(path.join(admin, 'status'), st.stdout);
  const q = spawnSync('dpkg-query', [`--admindir=${admin}`, '-W', '-f', '${db:Status-Abbrev}\t${binary:Package}\t${Version}\t${source:Package}\t${source:Version}\n'], { encoding: 'utf8' });
  expect(q.status).toBe(0);
  const installed = new Map<string, { source: string; sourceVersion: string; version: string }>();
  for (const line of q.stdout.trim().split('\n')) {
    const [abbrev, bin, version, source, sourceVersion] = line.split('\t');
    if (!abbrev!.startsWith('ii')) continue;
    installed.set(bin!.replace(/:.*$/, ''), { source: source!, sourceVersion: sourceVersion!, version: version! });
  }
  const adv = JSON.parse(await readFile(path.join(FIXTURES, 'debian/bookworm-minbase/advisories.changelog-derived.json'), 'utf8')) as Record<string, Record<string, { releases: Record<string, { status: string; fixed_version?: string }> }>>;
  const vulns = new Set<string>();
  for (const [bin, p] of installed) {
    for (const [cve, a] of Object.entries(adv[p.source] ?? {})) {
      const r = a.releases.bookworm;
      if (!r) continue;
      let affected: boolean;
      if (r.status === 'open') affected = true;
      else if (!r.fixed_version || r.fixed_version === '0') affected = false;
      else affected = spawnSync('dpkg', ['--compare-versions', p.sourceVersion, 'lt', r.fixed_version]).status === 0;
      if (affected) vulns.add(`${cve}|${bin}`);
    }
  }
  return { installed, vulns };
}

describe('wharf scan: Debian bookworm minbase image end to end', () => {
  let reg: RunningRegistry;
  let work: string;
  let layout: string;
  let rootfs: string;
  let expected: Expected;
  let env: Record<string, string>;
  const reports: Record<string, any> = {};
  let privateKeyPem: string;
  let npmToken: string;

  beforeAll(async () => {
    const fx = await run('bash', [path.join(repoRoot, 'scripts/debian-fixture.sh')], { timeoutMs: 900_000, allowFail: true });
    if (fx.code !== 0) throw new Error(`debian fixture: ${fx.stderr}`);
    rootfs = fx.stdout.trim();
    work = await mkdtemp(path.join(os.tmpdir(), 'wharf-scan-e2e-'));
    layout = path.join(work, 'layout');

    // layers 1 and 2 built by the image builder; layer 0 is the debootstrap tar, gzipped here
    privateKeyPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    npmToken = `npm_${randomBytes(27).toString('base64url').replace(/[-_]/g, 'x').slice(0, 36)}`;
    const b = new ImageBuilder(layout);
    const l1 = b.layer({
      files: {
        'root/.ssh/id_rsa': { content: privateKeyPem, mode: 0o600 },
        'app/.npmrc': `//registry.npmjs.org/:_authToken=${npmToken}\n`,
        'app/node_modules/lodash/package.json': JSON.stringify({ name: 'lodash', version: '4.17.20', license: 'MIT' }),
        'var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease': 'Origin: Debian\n',
      },
      createdBy: '/bin/sh -c apt-get update && cp id_rsa /root/.ssh/ && npm install lodash@4.17.20',
      compression: 'zstd',
    });
    const l2 = b.layer({ whiteouts: ['root/.ssh/id_rsa'], createdBy: '/bin/sh -c rm /root/.ssh/id_rsa' });
    await mkdir(path.join(layout, 'blobs/sha256'), { recursive: true });
    const tmpGz = path.join(work, 'l0.tar.gz');
    const l0 = await gzipFile(rootfs, tmpGz);
    await rm(path.join(layout, 'blobs/sha256', l0.digest.slice(7)), { force: true });
    await writeFile(path.join(layout, 'blobs/sha256', l0.digest.slice(7)), await readFile(tmpGz));
    const config = {
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['bash'] },
      rootfs: { type: 'layers', diff_ids: [l0.diffId, l1.diffId, l2.diffId] },
      history: [
        { created: '2026-11-30T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:bookworm-minbase.tar in / ' },
        { created: '2026-11-30T00:00:00Z', created_by: l1.createdBy },
        { created: '2026-11-30T00:00:00Z', created_by: l2.createdBy },
        { created: '2026-11-30T00:00:00Z', created_by: '/bin/sh -c #(nop)  CMD ["bash"]', empty_layer: true },
      ],
    };
    const configDesc = b.blob(Buffer.from(JSON.stringify(config)), MEDIA.ociConfig);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.ociManifest,
        config: configDesc,
        layers: [{ mediaType: MEDIA.ociLayerGzip, digest: l0.digest, size: l0.size }, l1.descriptor, l2.descriptor],
      }),
    );
    const mDesc = b.blob(manifest, MEDIA.ociManifest);
    b.tag('bookworm', mDesc);
    await b.write();

    expected = await expectedFromDpkg(rootfs, work);
    reg = await startWharf();
    env = { WHARF_DATA_DIR: reg.dataDir, WHARF_LOG_LEVEL: 'warn' };
    const skopeo = await Skopeo.create();
    await skopeo.copy(`oci:${layout}:bookworm`, `docker://${reg.host}/library/debian:bookworm`, ['--dest-creds', `${reg.admin.username}:${reg.admin.password}`]);

    for (const f of ['debian/bookworm-minbase/advisories.changelog-derived.json', 'npm/ghsa-osv-exemplars']) {
      const r = await wharf(['vuln-db', 'import', path.join(FIXTURES, f)], env);
      if (r.code !== 0) throw new Error(`vuln-db import ${f}: ${r.stderr}`);
    }
    const scanEnv = { ...env, WHARF_SCAN_PASSWORD: reg.admin.password };
    const runs: Record<string, string[]> = {
      registry: ['scan', '-q', '--format', 'json', '-u', 'admin', `${reg.host}/library/debian:bookworm`],
      local: ['scan', '-q', '--format', 'json', '--local', 'library/debian:bookworm'],
      layout: ['scan', '-q', '--format', 'json', `${layout}:bookworm`],
    };
    for (const [k, args] of Object.entries(runs)) {
      const r = await wharf(args, scanEnv);
      if (r.code !== 0) throw new Error(`wharf ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      reports[k] = JSON.parse(r.stdout);
    }
  }, 1_200_000);

  afterAll(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('finds the OS and every installed dpkg package, attributed to the base layer', () => {
    const r = reports.registry;
    expect(r.os).toMatchObject({ id: 'debian', versionId: '12', codename: 'bookworm' });
    const debs = r.packages.filter((p: any) => p.type === 'deb');
    expect(debs.length).toBe(expected.installed.size);
    for (const p of debs) {
      const want = expected.installed.get(p.name);
      expect(want, p.name).toBeDefined();
      expect(p.version).toBe(want!.version);
      expect(p.sourceName ?? p.name).toBe(want!.source);
      expect(p.layer.index).toBe(0);
    }
  });

  it('reports exactly the CVEs dpkg --compare-versions says are unfixed in the installed versions', () => {
    const got = new Set<string>(reports.registry.vulnerabilities.filter((v: any) => v.packageType === 'deb').map((v: any) => `${v.id}|${v.package}`));
    expect(expected.vulns.size).toBeGreaterThan(20);
    const missing = [...expected.vulns].filter((x) => !got.has(x));
    const extra = [...got].filter((x) => !expected.vulns.has(x));
    expect({ missing, extra }).toEqual({ missing: [], extra: [] });
    for (const v of reports.registry.vulnerabilities.filter((v: any) => v.packageType === 'deb')) {
      expect(v.fixedVersion).toBeTruthy();
      expect(v.source).toBeTruthy();
      expect(v.layer.index).toBe(0);
      expect(v.layer.createdBy).toContain('ADD file:bookworm-minbase.tar');
    }
  });

  it('finds lodash 4.17.20 in the second layer and its GHSA advisory', () => {
    const lodash = reports.registry.packages.find((p: any) => p.type === 'npm' && p.name === 'lodash');
    expect(lodash).toMatchObject({ version: '4.17.20', layer: { index: 1 } });
    const v = reports.registry.vulnerabilities.filter((x: any) => x.package === 'lodash');
    expect(v.map((x: any) => x.fixedVersion)).toContain('4.17.21');
  });

  it('reports the deleted private key, the npm token, apt lists and the root user with their layers', () => {
    const f = reports.registry.findings;
    const key = f.find((x: any) => x.check.startsWith('secret.') && x.path === 'root/.ssh/id_rsa');
    expect(key).toMatchObject({ layer: { index: 1 }, deletedIn: { index: 2 } });
    expect(f.find((x: any) => x.check.startsWith('secret.') && x.path === 'app/.npmrc')).toMatchObject({ layer: { index: 1 } });
    // debootstrap leaves apt lists in the base layer too; ours adds some in layer 1
    expect(f.filter((x: any) => x.check === 'cache.apt').map((x: any) => x.layer.index)).toContain(1);
    expect(f.find((x: any) => x.check === 'config.root-user')).toBeDefined();
    const all = JSON.stringify(reports);
    expect(all).not.toContain(npmToken);
    expect(all).not.toContain(privateKeyPem.split('\n')[1]);
  });

  it('gives the same result from the registry, from Wharf storage and from the OCI layout', () => {
    const key = (r: any) => ({
      digest: r.artifact.digest,
      vulns: r.vulnerabilities.map((v: any) => `${v.id}|${v.package}|${v.installedVersion}|${v.fixedVersion}|${v.layer?.index}`).sort(),
      findings: r.findings.map((f: any) => `${f.check}|${f.path}|${f.layer?.index}|${f.deletedIn?.index}`).sort(),
      packages: r.packages.length,
    });
    expect(key(reports.local)).toEqual(key(reports.registry));
    expect(key(reports.layout)).toEqual(key(reports.registry));
  });

  it('writes SARIF and a CycloneDX SBOM consistent with the JSON report, and exits by --severity', async () => {
    const scanEnv = { ...env, WHARF_SCAN_PASSWORD: reg.admin.password };
    const sarif = await wharf(['scan', '-q', '--format', 'sarif', '--local', 'library/debian:bookworm'], scanEnv);
    expect(sarif.code).toBe(0);
    const s = JSON.parse(sarif.stdout);
    expect(s.version).toBe('2.1.0');
    expect(s.runs[0].results.length).toBe(reports.local.vulnerabilities.length + reports.local.findings.length);
    const cdx = await wharf(['scan', '-q', '--format', 'cyclonedx', '--local', 'library/debian:bookworm'], scanEnv);
    expect(cdx.code).toBe(0);
    const c = JSON.parse(cdx.stdout);
    expect(c.bomFormat).toBe('CycloneDX');
    expect(c.components.filter((x: any) => x.type === 'library').length).toBe(reports.local.packages.length);
    const refs = new Set(c.components.map((x: any) => x['bom-ref']));
    for (const v of c.vulnerabilities) for (const a of v.affects) expect(refs.has(a.ref)).toBe(true);
    expect(c.components.find((x: any) => x.name === 'libc6')?.purl).toMatch(/^pkg:deb\/debian\/libc6@/);

    // the private key is High or Critical: a High threshold fails the scan, a table is printed
    const fail = await wharf(['scan', '-q', '--severity', 'high', '--local', 'library/debian:bookworm'], scanEnv);
    expect(fail.code).toBe(1);
    expect(fail.stdout).toContain('root/.ssh/id_rsa');
    const bad = await wharf(['scan', '-q', '--severity', 'extreme', '--local', 'library/debian:bookworm'], scanEnv);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown severity');
  });

  it('refuses anonymous access to a private project and names the problem', async () => {
    const r = await wharf(['scan', '-q', `${reg.host}/library/nope:latest`], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/manifest unknown|not found|unauthorized/i);
  });
});
