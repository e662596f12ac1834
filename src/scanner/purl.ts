// Package URLs (https://github.com/package-url/purl-spec, ECMA-427):
//   pkg:type/namespace/name@version?qualifiers#subpath
// Encoding: every component is UTF-8 and percent-encoded except the alphanumerics, the
// punctuation `.-_~` and the colon `:` (the spec forbids encoding ':' anywhere). So the npm scope's
// '@' becomes %40, a '+' in a version becomes %2B, a space %20. Namespace segments are encoded one
// by one and joined with '/'. Qualifiers are sorted by key, keys lowercase, empty values dropped.
// Type rules used here:
//   npm     namespace = "@scope" (lowercased, '@' encoded), name lowercased
//   pypi    no namespace; name lowercased, runs of [-_.] → "-" (PEP 503)
//   golang  module path: namespace = all but the last segment, name = last segment; both
//           lowercased as the golang type definition says (Package.name keeps the real case)
//   maven   namespace = groupId, name = artifactId (Package.name is "groupId:artifactId"),
//           case kept
//   deb     namespace = vendor (os id, default "debian"), qualifiers arch, distro=<id>-<versionId>
//   apk     namespace = vendor (os id, default "alpine"), name lowercased, same qualifiers
//   rpm     namespace = vendor (os id; none when unknown), version = version-release without the
//           epoch, epoch qualifier when the version carries "N:"
import type { OsInfo, Package } from './types.ts';

const UNRESERVED = /[A-Za-z0-9._~:-]/;

/** Percent-encode one purl component (namespace segment, name, version, qualifier value). */
export function purlEncode(s: string): string {
  let out = '';
  for (const ch of s) {
    if (ch.length === 1 && UNRESERVED.test(ch)) {
      out += ch;
      continue;
    }
    for (const b of Buffer.from(ch, 'utf8')) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** PEP 503 normalised Python project name. */
export function normalizePypiName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

export interface PurlParts {
  type: string;
  namespace?: string;
  name: string;
  version?: string;
  qualifiers?: Record<string, string | undefined>;
  subpath?: string;
}

/** Serialise already type-normalised components. */
export function buildPurl(p: PurlParts): string {
  let s = 'pkg:' + p.type.toLowerCase() + '/';
  const ns = (p.namespace ?? '').split('/').filter((x) => x !== '' && x !== '.' && x !== '..');
  if (ns.length) s += ns.map(purlEncode).join('/') + '/';
  s += purlEncode(p.name.replace(/^\/+|\/+$/g, ''));
  if (p.version) s += '@' + purlEncode(p.version);
  const q = Object.entries(p.qualifiers ?? {})
    .filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== '')
    .map(([k, v]) => [k.toLowerCase(), v] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  if (q.length) s += '?' + q.map(([k, v]) => `${k}=${purlEncode(v)}`).join('&');
  if (p.subpath) {
    const segs = p.subpath.split('/').filter((x) => x !== '' && x !== '.' && x !== '..');
    if (segs.length) s += '#' + segs.map(purlEncode).join('/');
  }
  return s;
}

function distro(os?: OsInfo): string | undefined {
  if (!os || !os.id) return undefined;
  return os.versionId ? `${os.id.toLowerCase()}-${os.versionId}` : os.id.toLowerCase();
}

/** Split a Go module path into purl namespace and name. */
function splitLast(path: string): { namespace?: string; name: string } {
  const clean = path.replace(/^\/+|\/+$/g, '');
  const i = clean.lastIndexOf('/');
  return i < 0 ? { name: clean } : { namespace: clean.slice(0, i), name: clean.slice(i + 1) };
}

export function purlOf(pkg: Package, os?: OsInfo): string {
  switch (pkg.type) {
    case 'npm': {
      const lower = pkg.name.toLowerCase();
      if (lower.startsWith('@') && lower.includes('/')) {
        const i = lower.indexOf('/');
        return buildPurl({ type: 'npm', namespace: lower.slice(0, i), name: lower.slice(i + 1), version: pkg.version });
      }
      return buildPurl({ type: 'npm', name: lower, version: pkg.version });
    }
    case 'pypi':
      return buildPurl({ type: 'pypi', name: normalizePypiName(pkg.name), version: pkg.version });
    case 'golang': {
      const { namespace, name } = splitLast(pkg.name.toLowerCase());
      return buildPurl({ type: 'golang', namespace, name, version: pkg.version });
    }
    case 'maven': {
      const i = pkg.name.indexOf(':');
      if (i < 0) return buildPurl({ type: 'maven', name: pkg.name, version: pkg.version });
      return buildPurl({ type: 'maven', namespace: pkg.name.slice(0, i), name: pkg.name.slice(i + 1), version: pkg.version });
    }
    case 'deb':
      return buildPurl({
        type: 'deb',
        namespace: os?.id?.toLowerCase() || 'debian',
        name: pkg.name.toLowerCase(),
        version: pkg.version,
        qualifiers: { arch: pkg.arch, distro: distro(os) },
      });
    case 'apk':
      return buildPurl({
        type: 'apk',
        namespace: os?.id?.toLowerCase() || 'alpine',
        name: pkg.name.toLowerCase(),
        version: pkg.version,
        qualifiers: { arch: pkg.arch, distro: distro(os) },
      });
    case 'rpm': {
      const m = /^(\d+):(.*)$/.exec(pkg.version);
      return buildPurl({
        type: 'rpm',
        namespace: os?.id?.toLowerCase(),
        name: pkg.name,
        version: m ? m[2] : pkg.version,
        qualifiers: { arch: pkg.arch, distro: distro(os), epoch: m && m[1] !== '0' ? m[1] : undefined },
      });
    }
    default: {
      const t: string = (pkg as Package).type;
      return buildPurl({ type: t, name: (pkg as Package).name, version: (pkg as Package).version });
    }
  }
}
