// npm packages: installed package.json files under node_modules, and package-lock.json files.
//
// Decisions:
// - A package.json is a dependency only when it is a package root inside a node_modules
//   directory: `…/node_modules/<name>/package.json` or `…/node_modules/@scope/<name>/package.json`.
//   An application's own package.json (e.g. `app/package.json`, `usr/src/app/package.json`) is the
//   thing being scanned, not a dependency, and is not reported; nor are the extra package.json
//   files many packages ship below their root (`node_modules/x/esm/package.json` = {"type":"module"}).
//   Globally installed tools are inside node_modules too (`usr/lib/node_modules/npm/package.json`),
//   so npm itself is reported.
// - package-lock.json (and npm-shrinkwrap.json) is read anywhere except inside node_modules
//   (packages ship their own lockfiles, which describe their development, not the image; and
//   npm ≥7 writes `node_modules/.package-lock.json`, which duplicates the package.json files).
//   v1: the nested `dependencies` tree. v2/v3: the `packages` map (v2 also has `dependencies`,
//   ignored); key "" and workspace folders (keys outside node_modules) are the project itself;
//   `link: true` entries are symlinks to such folders and are skipped; names come from the entry's
//   `name` (aliases) or the last `node_modules/<name>` of the key.
//   Versions that are not registry versions (file:, link:, git…, http…) are skipped.
//   Dev dependencies are reported (a lockfile alone does not say whether `--omit=dev` was used)
//   and carry `dev: true` as extra information (NpmPackage).
// - Both sources may describe the same package; the merge step sees two Package entries with
//   different `path`s.
import type { AnalyzerOutput, FileAnalyzer, FileInfo, Package, ScanIssue } from '../types.ts';
import { purlOf } from '../purl.ts';

export interface NpmPackage extends Package {
  /** lockfile entries marked dev (or devOptional): only installed without --omit=dev */
  dev?: boolean;
}

const PKG_JSON_RE = /(?:^|\/)node_modules\/(?:@[^/]+\/)?[^/@][^/]*\/package\.json$/;
const LOCK_RE = /(?:^|\/)(?:package-lock|npm-shrinkwrap)\.json$/;

export function isNodeModulesPackageJson(path: string): boolean {
  return PKG_JSON_RE.test(path);
}

export function isLockfile(path: string): boolean {
  return LOCK_RE.test(path) && !/(?:^|\/)node_modules\//.test(path);
}

/** npm's license field: "MIT", {type:"MIT"}, ["MIT", …], or the legacy `licenses: [{type}]`. */
export function npmLicenses(license: unknown, licenses?: unknown): string[] | undefined {
  const out: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === 'string' && v.trim()) out.push(v.trim());
    else if (v && typeof v === 'object' && !Array.isArray(v)) {
      const t = (v as Record<string, unknown>).type;
      if (typeof t === 'string' && t.trim()) out.push(t.trim());
    }
  };
  for (const src of [license, licenses]) {
    if (Array.isArray(src)) src.forEach(add);
    else add(src);
  }
  const uniq = [...new Set(out)];
  return uniq.length ? uniq : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Registry version or undefined for file:/git/url specs; resolves `npm:real@1.2.3` aliases. */
function registryVersion(name: string, version: unknown): { name: string; version: string } | undefined {
  if (typeof version !== 'string' || !version.trim()) return undefined;
  let v = version.trim();
  let n = name;
  if (v.startsWith('npm:')) {
    const spec = v.slice(4);
    const at = spec.lastIndexOf('@');
    if (at <= 0) return undefined;
    n = spec.slice(0, at);
    v = spec.slice(at + 1);
  }
  if (/^(?:file|link|git|git\+[a-z]+|https?|github|gitlab|bitbucket):/i.test(v) || v.includes('/')) return undefined;
  return { name: n, version: v };
}

function mk(name: string, version: string, path: string, licenses?: string[], dev?: boolean): NpmPackage {
  const p: NpmPackage = { type: 'npm', name, version, path };
  if (licenses) p.licenses = licenses;
  if (dev) p.dev = true;
  p.purl = purlOf(p);
  return p;
}

function parseJson(path: string, content: Buffer, issues: ScanIssue[]): unknown {
  let text = content.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (e) {
    issues.push({ path, message: `npm: invalid JSON: ${(e as Error).message}` });
    return undefined;
  }
}

export function analyzePackageJson(path: string, content: Buffer): AnalyzerOutput {
  const issues: ScanIssue[] = [];
  const j = parseJson(path, content, issues);
  if (j === undefined) return { issues };
  if (!isRecord(j)) return { issues: [{ path, message: 'npm: package.json is not an object' }] };
  const { name, version } = j;
  // npm treats name+version as required for a package; without them it is not a dependency
  if (typeof name !== 'string' || !name || typeof version !== 'string' || !version) return {};
  return { packages: [mk(name, version, path, npmLicenses(j.license, j.licenses))] };
}

export function analyzeLockfile(path: string, content: Buffer): AnalyzerOutput {
  const issues: ScanIssue[] = [];
  const j = parseJson(path, content, issues);
  if (j === undefined) return { issues };
  if (!isRecord(j)) return { issues: [{ path, message: 'npm: lockfile is not an object' }] };
  const packages: NpmPackage[] = [];
  const seen = new Set<string>();
  const push = (p: NpmPackage, key: string) => {
    const k = `${key}\0${p.name}\0${p.version}`;
    if (!seen.has(k)) {
      seen.add(k);
      packages.push(p);
    }
  };
  const lv = typeof j.lockfileVersion === 'number' ? j.lockfileVersion : 1;
  if (lv >= 2 && isRecord(j.packages)) {
    for (const [key, raw] of Object.entries(j.packages)) {
      if (key === '' || !isRecord(raw)) continue;
      const idx = key.lastIndexOf('node_modules/');
      if (idx < 0) continue; // workspace / project folder: the application itself
      if (raw.link === true) continue; // symlink to a workspace folder
      const keyName = key.slice(idx + 'node_modules/'.length);
      if (!keyName) continue;
      const name = typeof raw.name === 'string' && raw.name ? raw.name : keyName;
      const rv = registryVersion(name, raw.version);
      if (!rv) continue;
      const dev = raw.dev === true || raw.devOptional === true;
      push(mk(rv.name, rv.version, path, npmLicenses(raw.license, raw.licenses), dev), key);
    }
  } else if (isRecord(j.dependencies)) {
    // v1: { name: { version, dev, dependencies: { … nested … } } }
    const stack: Array<[string, Record<string, unknown>, number]> = [['', j.dependencies, 0]];
    let visited = 0;
    while (stack.length) {
      const [prefix, deps, depth] = stack.pop()!;
      if (depth > 64) {
        issues.push({ path, message: 'npm: lockfile dependency tree deeper than 64 levels, truncated' });
        continue;
      }
      for (const [name, raw] of Object.entries(deps)) {
        if (!isRecord(raw)) continue;
        if (++visited > 500_000) {
          issues.push({ path, message: 'npm: more than 500000 lockfile entries, truncated' });
          return { packages, issues };
        }
        const key = `${prefix}node_modules/${name}`;
        const rv = registryVersion(name, raw.version);
        if (rv) push(mk(rv.name, rv.version, path, undefined, raw.dev === true), key);
        if (isRecord(raw.dependencies)) stack.push([key + '/', raw.dependencies, depth + 1]);
      }
    }
  } else if (lv >= 2) {
    issues.push({ path, message: `npm: lockfileVersion ${lv} without a packages map` });
  }
  return issues.length ? { packages, issues } : { packages };
}

export const npmAnalyzer: FileAnalyzer = {
  name: 'npm',
  version: 1,
  // lockfiles of large monorepos exceed the default 8 MiB
  maxBytes: 64 * 1024 * 1024,
  wants(path: string, _info: FileInfo): boolean {
    return isNodeModulesPackageJson(path) || isLockfile(path);
  },
  analyze(path: string, content: Buffer): AnalyzerOutput {
    try {
      return isLockfile(path) ? analyzeLockfile(path, content) : analyzePackageJson(path, content);
    } catch (e) {
      return { issues: [{ path, message: `npm: ${(e as Error).message}` }] };
    }
  },
};
