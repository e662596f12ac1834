// The whole pipeline on an image with every package kind besides dpkg/apk (covered by
// debian-e2e and the API test): an RPM database (sqlite rpmdb made with `rpm --justdb`), Python
// distributions, a Go binary (module build info), jars (pom.properties, nested jars) — real files
// from test/fixtures/scanner — in four layers, scanned with `wharf scan` from an OCI layout
// against the real Go and PyPA advisory databases (test/fixtures/vulndata/osv).
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageBuilder, type FileSpec } from '../helpers/image-builder.ts';
import { repoRoot } from '../helpers/servers.ts';
import { run } from '../helpers/clients.ts';

const FX = path.join(repoRoot, 'test/fixtures');

async function tree(dir: string, prefix: string, out: Record<string, FileSpec> = {}): Promise<Record<string, FileSpec>> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await tree(p, `${prefix}/${e.name}`, out);
    else if (e.isFile()) out[`${prefix}/${e.name}`] = await readFile(p);
  }
  return out;
}

describe('wharf scan: RPM, Python, Go and Java content in one image', () => {
  let work: string;
  let report: any;
  let pythonDists: string[];

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'wharf-scan-lang-'));
    const site = 'usr/lib/python3.11/site-packages';
    pythonDists = (await readdir(path.join(FX, 'scanner/lang/python/site-packages'))).filter((d) => d.endsWith('.dist-info'));
    const b = new ImageBuilder(path.join(work, 'layout'));
    const img = b.image({
      user: '1000',
      layers: [
        {
          files: {
            'etc/os-release': 'NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n',
            'var/lib/rpm/rpmdb.sqlite': await readFile(path.join(FX, 'scanner/os/rpmdb.sqlite')),
          },
          createdBy: '/bin/sh -c #(nop) ADD file:rocky-9.3.tar.xz in /',
        },
        { files: await tree(path.join(FX, 'scanner/lang/python/site-packages'), site), createdBy: 'RUN pip install -r requirements.txt', compression: 'zstd' },
        { files: { 'usr/local/bin/hello': { content: gunzipSync(await readFile(path.join(FX, 'scanner/lang/go/hello-amd64.gz'))), mode: 0o755 } }, createdBy: 'COPY --from=build /out/hello /usr/local/bin/hello' },
        {
          files: {
            'opt/app/lib/commons-cli-1.5.0.jar': await readFile(path.join(FX, 'scanner/lang/java/commons-cli-1.5.0.jar')),
            'opt/app/demo-app.jar': await readFile(path.join(FX, 'scanner/lang/java/demo-app.jar')),
          },
          createdBy: 'COPY target/*.jar /opt/app/',
        },
      ],
    });
    b.tag('v1', img.descriptor);
    await b.write();
    const env = { ...process.env, WHARF_DATA_DIR: path.join(work, 'data'), WHARF_LOG_LEVEL: 'warn' };
    for (const f of ['golang-vulndb.osv.jsonl', 'pypa-advisory-database.osv.jsonl']) {
      // asynchronous: a synchronous spawn blocks the worker past vitest's 60 s RPC timeout under load
      const r = await run(process.execPath, [path.join(repoRoot, 'bin/wharf.js'), 'vuln-db', 'import', path.join(FX, 'vulndata/osv', f)], { env, timeoutMs: 300_000, allowFail: true });
      expect(r.code, r.stderr).toBe(0);
    }
    const r = await run(process.execPath, [path.join(repoRoot, 'bin/wharf.js'), 'scan', '-q', '--format', 'json', `${path.join(work, 'layout')}:v1`], { env, timeoutMs: 300_000, allowFail: true });
    expect(r.code, r.stderr).toBe(0);
    report = JSON.parse(r.stdout);
  }, 600_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('detects the OS and the RPM packages of the sqlite rpmdb in the base layer', () => {
    expect(report.os).toMatchObject({ id: 'rocky', versionId: '9.3' });
    const rpms = report.packages.filter((p: any) => p.type === 'rpm');
    expect(rpms.length).toBeGreaterThanOrEqual(1);
    for (const p of rpms) {
      expect(p.layer.index).toBe(0);
      expect(p.purl).toMatch(/^pkg:rpm\/rocky\//);
    }
  });

  it('finds every Python distribution in the pip layer', () => {
    const py = report.packages.filter((p: any) => p.type === 'pypi');
    const names = py.map((p: any) => `${p.name.toLowerCase().replace(/[-_.]+/g, '-')}-${p.version}`);
    for (const d of pythonDists) {
      const [, name, version] = /^(.+)-([^-]+)\.dist-info$/.exec(d)!;
      expect(names).toContain(`${name!.toLowerCase().replace(/[-_.]+/g, '-')}-${version}`);
    }
    for (const p of py) expect(p.layer).toMatchObject({ index: 1, createdBy: 'RUN pip install -r requirements.txt' });
    // pip 23.2.1 is affected by PYSEC-2023-228 (CVE-2023-5752), fixed in 23.3
    const pip = report.vulnerabilities.filter((v: any) => v.package === 'pip');
    expect(pip.some((v: any) => v.id === 'CVE-2023-5752' || v.aliases?.includes('PYSEC-2023-228') || v.id === 'PYSEC-2023-228')).toBe(true);
  });

  it('reads the Go module build info without running the binary, and matches the Go database', () => {
    const go = report.packages.filter((p: any) => p.type === 'golang');
    const byName = new Map(go.map((p: any) => [p.name, p]));
    expect(byName.get('stdlib')).toMatchObject({ version: '1.19.8', path: 'usr/local/bin/hello', layer: { index: 2 } });
    expect(byName.has('example.com/wharf/app')).toBe(true);
    const std = report.vulnerabilities.filter((v: any) => v.package === 'stdlib');
    expect(std.length).toBeGreaterThan(5);
    for (const v of std) {
      expect(v.installedVersion).toBe('1.19.8');
      expect(v.source).toBe('golang-vulndb');
      expect(v.layer.index).toBe(2);
    }
  });

  it('finds Maven coordinates in the jars, including nested ones, in the last layer', async () => {
    const mvn = report.packages.filter((p: any) => p.type === 'maven');
    expect(mvn.find((p: any) => p.name === 'commons-cli:commons-cli')).toMatchObject({ version: '1.5.0', layer: { index: 3 } });
    expect(mvn.some((p: any) => p.path.includes('demo-app.jar!'))).toBe(true);
    expect((await stat(path.join(work, 'layout'))).isDirectory()).toBe(true);
  });

  it('runs as a non-root user: no root finding', () => {
    expect(report.findings.some((f: any) => f.check === 'config.root-user')).toBe(false);
  });
});
