// Scanning through Harbor's API on a real server: scan on push (project metadata auto_scan), a
// manual scan (POST …/scan → 202), scan_overview in artifact listings, the vulnerability report
// (additions/vulnerabilities), the SBOM and full report additions, the scan log, permissions.
// The image is an Alpine 3.11 userland built offline (real-format apk database from the fixtures),
// pushed with skopeo; the Alpine secdb fixture is imported with `wharf vuln-db import`.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageBuilder } from '../helpers/image-builder.ts';
import { adminAuth, basicAuth, createProject, createUser, repoRoot, startWharf, type RunningRegistry } from '../helpers/servers.ts';
import { Skopeo, run } from '../helpers/clients.ts';
import { compare as apkCompare } from '../../src/scanner/version/apk.ts';

const MIME = 'application/vnd.security.vulnerability.report; version=1.1';

describe('scan API (Harbor shapes) on a real server', () => {
  let reg: RunningRegistry;
  let work: string;
  let skopeo: Skopeo;
  const GUEST = { username: 'scan-guest', password: 'Guest-Passw0rd' };

  const api = async (method: string, p: string, body?: unknown, auth: string | null = adminAuth(reg)) => {
    const headers: Record<string, string> = {};
    if (auth) headers.Authorization = auth;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(`${reg.url}/api/v2.0${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      /* text */
    }
    return { status: r.status, json, text };
  };
  const art = (project: string, repo: string, ref: string) => `/projects/${project}/repositories/${encodeURIComponent(encodeURIComponent(repo))}/artifacts/${ref}`;

  async function waitScan(project: string, repo: string, ref: string): Promise<any> {
    for (let i = 0; i < 300; i++) {
      const r = await api('GET', `${art(project, repo, ref)}?with_scan_overview=true`);
      const o = r.json?.scan_overview?.[MIME];
      if (o && ['Success', 'Error', 'Stopped'].includes(o.scan_status)) return o;
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error('scan did not finish');
  }

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'wharf-scan-api-'));
    const installed = await readFile(path.join(repoRoot, 'test/fixtures/vulndata/alpine/installed'));
    const b = new ImageBuilder(path.join(work, 'layout'));
    const img = b.image({
      layers: [
        {
          files: {
            'etc/os-release': 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.11.6\nPRETTY_NAME="Alpine Linux v3.11"\n',
            'etc/alpine-release': '3.11.6\n',
            'lib/apk/db/installed': installed,
          },
          createdBy: '/bin/sh -c #(nop) ADD file:alpine-minirootfs.tar.gz in /',
        },
      ],
      user: 'nobody',
    });
    b.tag('v1', img.descriptor);
    // the "manual" project gets different content: reports are kept per manifest digest, shared by
    // every repository holding the same image
    const img2 = b.image({ layers: [{ files: { 'etc/os-release': 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.11.6\nPRETTY_NAME="Alpine Linux v3.11"\n', 'etc/alpine-release': '3.11.6\n', 'lib/apk/db/installed': installed, 'etc/motd': 'manual\n' } }], user: 'nobody' });
    b.tag('v2', img2.descriptor);
    await b.write();

    reg = await startWharf();
    const env = { ...process.env, WHARF_DATA_DIR: reg.dataDir, WHARF_LOG_LEVEL: 'warn' };
    const imp = await run(process.execPath, [path.join(repoRoot, 'bin/wharf.js'), 'vuln-db', 'import', '--name', 'alpine-secdb', path.join(repoRoot, 'test/fixtures/vulndata/alpine/v3.11')], { env, timeoutMs: 300_000, allowFail: true });
    expect(imp.code, imp.stderr).toBe(0);

    // "autoscan" scans on push; "manual" only when asked
    let r = await api('POST', '/projects', { project_name: 'autoscan', public: false, metadata: { auto_scan: 'true' } });
    expect(r.status).toBe(201);
    await createProject(reg, 'manual');
    const guestId = await createUser(reg, GUEST.username, GUEST.password);
    r = await api('POST', '/projects/manual/members', { role_id: 3, member_user: { username: GUEST.username } });
    expect(r.status, r.text).toBe(201);
    expect(guestId).toBeGreaterThan(0);

    skopeo = await Skopeo.create();
    for (const [p, t] of [['autoscan', 'v1'], ['manual', 'v2']]) {
      await skopeo.copy(`oci:${path.join(work, 'layout')}:${t}`, `docker://${reg.host}/${p}/alpine:3.11`, ['--dest-creds', `${reg.admin.username}:${reg.admin.password}`]);
    }
  }, 180_000);

  afterAll(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('scans on push in a project with auto_scan, and the overview matches the report', async () => {
    const o = await waitScan('autoscan', 'alpine', '3.11');
    expect(o.scan_status).toBe('Success');
    expect(o.scanner.name).toBe('Wharf');
    const rep = await api('GET', `${art('autoscan', 'alpine', '3.11')}/additions/vulnerabilities`);
    expect(rep.status).toBe(200);
    const report = rep.json[MIME];
    expect(report.artifact.repository).toBe('autoscan/alpine');
    expect(report.vulnerabilities.length).toBe(o.summary.total);
    expect(o.summary.fixable).toBe(report.vulnerabilities.filter((v: any) => v.fix_version).length);

    // expectation from the secdb itself: each CVE of an installed origin package fixed in a later version
    const secdb = JSON.parse(await readFile(path.join(repoRoot, 'test/fixtures/vulndata/alpine/v3.11/main.json'), 'utf8'));
    const installedText = await readFile(path.join(repoRoot, 'test/fixtures/vulndata/alpine/installed'), 'utf8');
    const pkgs = installedText.split(/\n\n+/).map((blk) => Object.fromEntries(blk.split('\n').filter((l) => /^[A-Za-z]:/.test(l)).map((l) => [l[0], l.slice(2)]))).filter((p: any) => p.P && p.V);
    const want = new Set<string>();
    for (const p of pkgs as any[]) {
      const origin = p.o ?? p.P;
      for (const e of secdb.packages) {
        if (e.pkg.name !== origin) continue;
        for (const [fixed, cves] of Object.entries(e.pkg.secfixes ?? {}) as [string, string[]][]) {
          if (fixed === '0') continue;
          let lt = false;
          try {
            lt = apkCompare(p.V, fixed) < 0;
          } catch {
            continue;
          }
          if (lt) for (const c of cves) for (const id of c.split(/\s+/)) if (id) want.add(`${id}|${p.P}`);
        }
      }
    }
    const got = new Set<string>(report.vulnerabilities.map((v: any) => `${v.id}|${v.package}`));
    expect(want.size).toBeGreaterThan(5);
    for (const w of want) expect(got.has(w), w).toBe(true);
  });

  it('scans on request only, with a log, SBOM and the full report', async () => {
    let r = await api('GET', `${art('manual', 'alpine', '3.11')}?with_scan_overview=true`);
    expect(r.json.scan_overview).toEqual({});
    expect((await api('GET', `${art('manual', 'alpine', '3.11')}/additions/vulnerabilities`)).json).toEqual({});
    expect((await api('GET', `${art('manual', 'alpine', '3.11')}/additions/sbom`)).status).toBe(404);

    r = await api('POST', `${art('manual', 'alpine', '3.11')}/scan`, { scan_type: 'bogus' });
    expect(r.status).toBe(400);
    r = await api('POST', `${art('manual', 'alpine', '3.11')}/scan`);
    expect(r.status).toBe(202);
    const o = await waitScan('manual', 'alpine', '3.11');
    expect(o.scan_status).toBe('Success');
    const log = await api('GET', `${art('manual', 'alpine', '3.11')}/scan/${o.report_id}/log`);
    expect(log.status).toBe(200);
    expect(log.text).toMatch(/done: 15 packages/);
    expect((await api('GET', `${art('manual', 'alpine', '3.11')}/scan/not-a-report/log`)).status).toBe(404);

    const sbom = await api('GET', `${art('manual', 'alpine', '3.11')}/additions/sbom`);
    expect(sbom.status).toBe(200);
    expect(sbom.json.bomFormat).toBe('CycloneDX');
    expect(sbom.json.components.find((c: any) => c.name === 'musl')?.purl).toMatch(/^pkg:apk\/alpine\/musl@1\.1\.14-r10/);
    const full = await api('GET', `${art('manual', 'alpine', '3.11')}/additions/wharf-report`);
    expect(full.json.os).toMatchObject({ id: 'alpine', versionId: '3.11.6' });
    expect(full.json.issues.some((i: any) => /installed/.test(i.path ?? ''))).toBe(true);
    // Alpine 3.11 reached end of life on 2021-11-01
    expect(full.json.findings.some((f: any) => f.check === 'os.eol')).toBe(true);

    // listing shows the overview for every artifact
    const list = await api('GET', `/projects/manual/repositories/alpine/artifacts?with_scan_overview=true`);
    expect(list.json[0].scan_overview[MIME].scan_status).toBe('Success');
  });

  it('lets a guest read reports but not start scans; anonymous gets 401; unknown artifacts 404', async () => {
    const guest = basicAuth(GUEST.username, GUEST.password);
    expect((await api('POST', `${art('manual', 'alpine', '3.11')}/scan`, undefined, guest)).status).toBe(403);
    expect((await api('GET', `${art('manual', 'alpine', '3.11')}/additions/vulnerabilities`, undefined, guest)).status).toBe(200);
    expect((await api('POST', `${art('manual', 'alpine', '3.11')}/scan`, undefined, null)).status).toBe(401);
    expect((await api('POST', `${art('manual', 'alpine', 'nope')}/scan`)).status).toBe(404);
    expect((await api('POST', `${art('manual', 'alpine', '3.11')}/scan/stop`)).status).toBe(400);
  });

  it('notifies when a database update makes a scanned image vulnerable, without rescanning', async () => {
    const before = await waitScan('autoscan', 'alpine', '3.11');
    // a synthetic advisory in the real OSV distro format (not real data: the id says so)
    const osv = path.join(work, 'new-advisory.json');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(osv, JSON.stringify({ id: 'WHARF-TEST-2026-0001', summary: 'synthetic advisory for the notifier test', modified: '2026-11-30T00:00:00Z', affected: [{ package: { ecosystem: 'Alpine:v3.11', name: 'musl' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.1.24-r99' }] }] }] }));
    const env = { ...process.env, WHARF_DATA_DIR: reg.dataDir, WHARF_LOG_LEVEL: 'warn' };
    const imp = await run(process.execPath, [path.join(repoRoot, 'bin/wharf.js'), 'vuln-db', 'import', '--name', 'new-feed', osv], { env, timeoutMs: 300_000, allowFail: true });
    expect(imp.code, imp.stderr).toBe(0);
    // musl's advisories hit every binary package built from it (origin musl)
    const installedText = await readFile(path.join(repoRoot, 'test/fixtures/vulndata/alpine/installed'), 'utf8');
    const fromMusl = installedText.split(/\n\n+/).filter((b) => /^o:musl$/m.test(b)).map((b) => /^P:(.*)$/m.exec(b)![1]!).sort();
    expect(fromMusl.length).toBeGreaterThanOrEqual(1);
    // both projects' images (two digests) have them
    expect(imp.stdout).toContain(`new vulnerabilities: ${2 * fromMusl.length},`);
    expect(imp.stdout).toContain(`notifications: ${2 * fromMusl.length}`);

    const n = await api('GET', '/projects/autoscan/scan-notifications');
    expect(n.status).toBe(200);
    expect(n.json.map((x: any) => x.package).sort()).toEqual(fromMusl);
    for (const x of n.json) expect(x).toMatchObject({ repository_name: 'autoscan/alpine', vulnerability_id: 'WHARF-TEST-2026-0001', fix_version: '1.1.24-r99', source: 'new-feed' });
    const after = await waitScan('autoscan', 'alpine', '3.11');
    expect(after.summary.total).toBe(before.summary.total + fromMusl.length);
    expect(after.report_id).toBe(before.report_id);
    const rep = await api('GET', `${art('autoscan', 'alpine', '3.11')}/additions/vulnerabilities`);
    expect(rep.json[MIME].vulnerabilities.map((v: any) => v.id)).toContain('WHARF-TEST-2026-0001');

    // the same import again changes nothing; other projects see only their own notifications
    const again = await run(process.execPath, [path.join(repoRoot, 'bin/wharf.js'), 'vuln-db', 'import', '--name', 'new-feed', osv], { env, timeoutMs: 300_000, allowFail: true });
    expect(again.code).toBe(0);
    expect((await api('GET', '/projects/autoscan/scan-notifications')).json).toHaveLength(fromMusl.length);
    const guest = basicAuth(GUEST.username, GUEST.password);
    const m = await api('GET', '/projects/manual/scan-notifications', undefined, guest);
    expect(m.status).toBe(200);
    expect(new Set(m.json.map((x: any) => x.repository_name))).toEqual(new Set(['manual/alpine']));
    expect((await api('GET', '/projects/autoscan/scan-notifications', undefined, guest)).status).toBe(403);
  });

  it('shares a report between repositories holding the same image, without leaking the other project', async () => {
    await skopeo.copy(`oci:${path.join(work, 'layout')}:v1`, `docker://${reg.host}/manual/same:1`, ['--dest-creds', `${reg.admin.username}:${reg.admin.password}`]);
    const theirs = await waitScan('autoscan', 'alpine', '3.11');
    const mine = await waitScan('manual', 'same', '1');
    expect(mine.report_id).toBe(theirs.report_id);
    const guest = basicAuth(GUEST.username, GUEST.password);
    // the scan was requested in "autoscan": its log is not readable through "manual"
    expect((await api('GET', `${art('manual', 'same', '1')}/scan/${mine.report_id}/log`, undefined, guest)).status).toBe(404);
    expect((await api('GET', `${art('autoscan', 'alpine', '3.11')}/scan/${theirs.report_id}/log`)).status).toBe(200);
    const full = await api('GET', `${art('manual', 'same', '1')}/additions/wharf-report`, undefined, guest);
    expect(full.json.artifact.name).toMatch(/^manual\/same@sha256:/);
    const sbom = await api('GET', `${art('manual', 'same', '1')}/additions/sbom`, undefined, guest);
    expect(JSON.stringify(sbom.json)).not.toContain('autoscan');
    expect(JSON.stringify(full.json)).not.toContain('autoscan');
  });
});

describe('scan isolation: a scan runs in a worker with a time limit', () => {
  it('a scan over its time limit fails on its own; the server keeps serving', async () => {
    const reg = await startWharf({ env: { WHARF_SCAN_TIMEOUT_MINUTES: '0.0005' } });
    const work = await mkdtemp(path.join(os.tmpdir(), 'wharf-scan-timeout-'));
    try {
      const b = new ImageBuilder(path.join(work, 'layout'));
      const img = b.image({ layers: [{ files: { 'etc/os-release': 'ID=alpine\nVERSION_ID=3.19.1\n' } }] });
      b.tag('v1', img.descriptor);
      await b.write();
      const skopeo = await Skopeo.create();
      await skopeo.copy(`oci:${path.join(work, 'layout')}:v1`, `docker://${reg.host}/library/t:1`, ['--dest-creds', `${reg.admin.username}:${reg.admin.password}`]);
      const auth = adminAuth(reg);
      const r = await fetch(`${reg.url}/api/v2.0/projects/library/repositories/t/artifacts/1/scan`, { method: 'POST', headers: { Authorization: auth } });
      expect(r.status).toBe(202);
      let o: any;
      for (let i = 0; i < 300; i++) {
        const a = await (await fetch(`${reg.url}/api/v2.0/projects/library/repositories/t/artifacts/1?with_scan_overview=true`, { headers: { Authorization: auth } })).json();
        o = a.scan_overview?.[MIME];
        if (o && o.scan_status === 'Error') break;
        await new Promise((res) => setTimeout(res, 200));
      }
      expect(o.scan_status).toBe('Error');
      const log = await (await fetch(`${reg.url}/api/v2.0/projects/library/repositories/t/artifacts/1/scan/${o.report_id}/log`, { headers: { Authorization: auth } })).text();
      expect(log).toMatch(/timed out/);
      expect((await fetch(`${reg.url}/v2/`, { headers: { Authorization: auth } })).status).toBe(200);
    } finally {
      await reg.stop();
      await rm(work, { recursive: true, force: true });
    }
  }, 120_000);
});
