// OS detection: os-release (etc/ and usr/lib/), then the distributions' own release files.
// Which one wins when several are present is decided at merge time (OS_FILE_PREFERENCE).
import type { AnalyzerOutput, FileAnalyzer, OsInfo } from '../types.ts';
import { DEBIAN_CODENAMES } from './eol.ts';

export const OS_RELEASE_PATHS = new Set([
  'etc/os-release',
  'usr/lib/os-release',
  'etc/alpine-release',
  'etc/redhat-release',
  'etc/centos-release',
  'etc/fedora-release',
  'etc/system-release',
  'etc/debian_version',
]);

/** Parses the os-release format: KEY=value, value optionally quoted ('…' or "…" with \ escapes). */
export function parseOsReleaseVars(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!.trim();
    if (v.startsWith('"')) {
      const end = v.lastIndexOf('"');
      v = v.slice(1, end > 0 ? end : undefined).replace(/\\(["\\$`])/g, '$1');
    } else if (v.startsWith("'")) {
      const end = v.lastIndexOf("'");
      v = v.slice(1, end > 0 ? end : undefined);
    }
    out[m[1]!] = v;
  }
  return out;
}

const DEBIAN_MAJOR_TO_CODENAME = Object.fromEntries(Object.entries(DEBIAN_CODENAMES).map(([c, v]) => [v, c]));

export function parseOsRelease(text: string, path: string): OsInfo | undefined {
  const vars = parseOsReleaseVars(text);
  const id = (vars.ID ?? '').toLowerCase();
  if (!id) return undefined;
  let versionId = vars.VERSION_ID ?? '';
  let codename = vars.VERSION_CODENAME || undefined;
  if (!codename && vars.VERSION) {
    const m = /\(([a-z]+)\)/i.exec(vars.VERSION) ?? /^\d[\d.]*\s*,?\s*([a-z]+)$/i.exec(vars.VERSION);
    if (m && id === 'debian') codename = m[1]!.toLowerCase();
  }
  if (id === 'debian') {
    if (!codename && versionId) codename = DEBIAN_MAJOR_TO_CODENAME[versionId.split('.')[0]!];
    if (!versionId && codename && DEBIAN_CODENAMES[codename]) versionId = DEBIAN_CODENAMES[codename]!;
    if (!codename && !versionId) {
      // testing / sid: PRETTY_NAME="Debian GNU/Linux trixie/sid"
      const m = /\b([a-z]+)\/sid\b/.exec(vars.PRETTY_NAME ?? '');
      if (m) codename = m[1];
    }
  }
  const os: OsInfo = { id, versionId, path };
  if (codename) os.codename = codename;
  if (vars.PRETTY_NAME) os.prettyName = vars.PRETTY_NAME;
  return os;
}

const REDHAT_LIKE: Array<[RegExp, string]> = [
  [/^Red Hat Enterprise Linux/i, 'rhel'],
  [/^CentOS Stream/i, 'centos'],
  [/^CentOS/i, 'centos'],
  [/^Rocky Linux/i, 'rocky'],
  [/^AlmaLinux/i, 'almalinux'],
  [/^Fedora/i, 'fedora'],
  [/^Amazon Linux/i, 'amzn'],
  [/^Oracle Linux/i, 'ol'],
];

/** "Rocky Linux release 9.3 (Blue Onyx)" and friends. */
export function parseRedhatRelease(text: string, path: string): OsInfo | undefined {
  const line = text.split(/\r?\n/)[0]?.trim() ?? '';
  const hit = REDHAT_LIKE.find(([re]) => re.test(line));
  const m = /release\s+([0-9][0-9.]*)/i.exec(line);
  if (!hit || !m) return undefined;
  const os: OsInfo = { id: hit[1], versionId: m[1]!, path, prettyName: line };
  const c = /\(([^)]+)\)\s*$/.exec(line);
  if (c) os.codename = c[1];
  return os;
}

export function parseOsFile(path: string, content: Buffer): AnalyzerOutput {
  const text = content.toString('utf8');
  let os: OsInfo | undefined;
  if (path.endsWith('os-release')) os = parseOsRelease(text, path);
  else if (path === 'etc/alpine-release') {
    const v = text.trim().split(/\s+/)[0] ?? '';
    if (/^\d+\.\d+/.test(v)) os = { id: 'alpine', versionId: v, path };
  } else if (path === 'etc/debian_version') {
    const v = text.trim();
    if (/^\d+(\.\d+)*$/.test(v)) {
      const major = v.split('.')[0]!;
      os = { id: 'debian', versionId: major, path };
      if (DEBIAN_MAJOR_TO_CODENAME[major]) os.codename = DEBIAN_MAJOR_TO_CODENAME[major];
    } else {
      const m = /^([a-z]+)\/sid$/.exec(v);
      if (m) os = { id: 'debian', versionId: DEBIAN_CODENAMES[m[1]!] ?? '', codename: m[1], path };
    }
  } else os = parseRedhatRelease(text, path);
  if (!os) return { issues: [{ path, message: 'unrecognised OS release file' }] };
  return { os };
}

export const osReleaseAnalyzer: FileAnalyzer = {
  name: 'os-release',
  version: 1,
  maxBytes: 64 * 1024,
  wants: (path) => OS_RELEASE_PATHS.has(path),
  analyze: (path, content) => parseOsFile(path, content),
};
