// Debian packages: var/lib/dpkg/status (deb822 paragraphs; only installed ones count) and
// var/lib/dpkg/status.d/<name> as written by distroless images (one paragraph per file, often
// without a Status field).
import type { AnalyzerOutput, FileAnalyzer, OsInfo, Package, ScanIssue } from '../types.ts';

export const DPKG_STATUS = 'var/lib/dpkg/status';
export const DPKG_STATUS_D = 'var/lib/dpkg/status.d/';

/** deb822 paragraphs → field maps (field names as written; continuation lines joined with "\n"). */
export function parseDeb822(text: string): Array<Record<string, string>> {
  const paras: Array<Record<string, string>> = [];
  let cur: Record<string, string> = {};
  let last: string | undefined;
  let any = false;
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') {
      if (any) paras.push(cur);
      cur = {};
      last = undefined;
      any = false;
      continue;
    }
    if (line.startsWith('#')) continue;
    if ((line[0] === ' ' || line[0] === '\t') && last) {
      cur[last] += '\n' + line.trim();
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) continue;
    last = line.slice(0, i).trim();
    cur[last] = line.slice(i + 1).trim();
    any = true;
  }
  if (any) paras.push(cur);
  return paras;
}

/** "Status: install ok installed" (also "hold ok installed": held packages are installed). */
export function isInstalled(status: string | undefined): boolean {
  if (status === undefined) return true; // distroless status.d entries carry no Status
  const [want, flag, state] = status.trim().split(/\s+/);
  return (want === 'install' || want === 'hold') && flag === 'ok' && state === 'installed';
}

const enc = (s: string) => encodeURIComponent(s);

/** pkg:deb/<debian|ubuntu>/<name>@<version>?arch=…&distro=… (distro = codename, or id-version). */
export function debPurl(p: Pick<Package, 'name' | 'version' | 'arch'>, os?: Pick<OsInfo, 'id' | 'versionId' | 'codename'>): string {
  const ns = os?.id === 'ubuntu' ? 'ubuntu' : 'debian';
  const q: string[] = [];
  if (p.arch) q.push(`arch=${enc(p.arch)}`);
  if (os) {
    const distro = os.codename || (os.versionId ? `${os.id}-${os.versionId}` : '');
    if (distro) q.push(`distro=${enc(distro)}`);
  }
  return `pkg:deb/${ns}/${enc(p.name)}@${enc(p.version)}${q.length ? '?' + q.join('&') : ''}`;
}

export function parseDpkgStatus(path: string, text: string): AnalyzerOutput {
  const packages: Package[] = [];
  const issues: ScanIssue[] = [];
  for (const f of parseDeb822(text)) {
    const name = f.Package;
    if (!isInstalled(f.Status)) continue;
    const version = f.Version;
    if (!name || !version) {
      issues.push({ path, message: `dpkg entry without ${!name ? 'Package' : 'Version'}${name ? ` (${name})` : ''}; skipped` });
      continue;
    }
    if (/\s/.test(name) || /\s/.test(version)) {
      issues.push({ path, message: `dpkg entry "${name}" has a malformed name or version; skipped` });
      continue;
    }
    const p: Package = { type: 'deb', name, version, path };
    if (f.Architecture) p.arch = f.Architecture;
    if (f.Source) {
      const m = /^(\S+)(?:\s*\(([^)]+)\))?/.exec(f.Source);
      if (m) {
        if (m[1] !== name) p.sourceName = m[1];
        if (m[2] && m[2].trim() !== version) p.sourceVersion = m[2].trim();
      }
    }
    p.purl = debPurl(p);
    packages.push(p);
  }
  const out: AnalyzerOutput = {};
  if (packages.length) out.packages = packages;
  if (issues.length) out.issues = issues;
  return out;
}

export const dpkgAnalyzer: FileAnalyzer = {
  name: 'dpkg',
  version: 1,
  maxBytes: 32 * 1024 * 1024,
  wants: (path) =>
    path === DPKG_STATUS ||
    (path.startsWith(DPKG_STATUS_D) && !path.slice(DPKG_STATUS_D.length).includes('/') && !path.endsWith('.md5sums')),
  analyze: (path, content) => parseDpkgStatus(path, content.toString('utf8')),
};
