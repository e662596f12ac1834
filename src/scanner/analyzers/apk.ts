// Alpine packages: lib/apk/db/installed — one "X:value" line per field, entries separated by a
// blank line (P name, V version, A arch, o origin, L license). A malformed entry is reported and
// skipped; the rest are kept.
import type { AnalyzerOutput, FileAnalyzer, OsInfo, Package, ScanIssue } from '../types.ts';

export const APK_INSTALLED = 'lib/apk/db/installed';

const enc = (s: string) => encodeURIComponent(s);

/** pkg:apk/alpine/<name>@<version>?arch=…&distro=<VERSION_ID> */
export function apkPurl(p: Pick<Package, 'name' | 'version' | 'arch'>, os?: Pick<OsInfo, 'id' | 'versionId'>): string {
  const q: string[] = [];
  if (p.arch) q.push(`arch=${enc(p.arch)}`);
  if (os?.versionId) q.push(`distro=${enc(os.versionId)}`);
  const ns = os && os.id !== 'alpine' && os.id ? os.id : 'alpine';
  return `pkg:apk/${ns}/${enc(p.name)}@${enc(p.version)}${q.length ? '?' + q.join('&') : ''}`;
}

export function parseApkInstalled(path: string, text: string): AnalyzerOutput {
  const packages: Package[] = [];
  const issues: ScanIssue[] = [];
  let entry: Record<string, string> = {};
  let lines = 0;
  let startLine = 1;
  let lineNo = 0;
  const finish = () => {
    if (lines === 0) return;
    const name = entry.P;
    const version = entry.V;
    if (!name || !version) {
      issues.push({
        path,
        message: `apk entry at line ${startLine} has no ${!name ? 'P: (name)' : 'V: (version)'}${name ? ` (${name})` : ''}; skipped`,
      });
    } else if (/\s/.test(name) || /\s/.test(version)) {
      issues.push({ path, message: `apk entry at line ${startLine} ("${name}") has a malformed name or version; skipped` });
    } else {
      const p: Package = { type: 'apk', name, version, path };
      if (entry.A) p.arch = entry.A;
      if (entry.o && entry.o !== name) p.sourceName = entry.o;
      if (entry.L) p.licenses = [entry.L];
      p.purl = apkPurl(p);
      packages.push(p);
    }
    entry = {};
    lines = 0;
  };
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') {
      finish();
      continue;
    }
    if (lines === 0) startLine = lineNo;
    lines++;
    if (line.length < 2 || line[1] !== ':') continue; // unknown line shapes are ignored
    const key = line[0]!;
    // the first occurrence of the package fields counts (files and their metadata repeat R:/a:/Z:)
    if (!(key in entry)) entry[key] = line.slice(2);
  }
  finish();
  const out: AnalyzerOutput = {};
  if (packages.length) out.packages = packages;
  if (issues.length) out.issues = issues;
  return out;
}

export const apkAnalyzer: FileAnalyzer = {
  name: 'apk',
  version: 1,
  maxBytes: 32 * 1024 * 1024,
  wants: (path) => path === APK_INSTALLED,
  analyze: (path, content) => parseApkInstalled(path, content.toString('utf8')),
};
