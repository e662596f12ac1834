// Installed Python distributions: core metadata files (RFC 822 style headers, Core Metadata spec):
//   <site>/<name>-<ver>.dist-info/METADATA       wheels / pip
//   <site>/<name>.egg-info/PKG-INFO                setuptools "develop"/legacy installs, Debian
//   <site>/<name>-<ver>.egg-info                   distutils: a single file in PKG-INFO format
//   <site>/<name>-<ver>.egg/EGG-INFO/PKG-INFO      eggs
// Only the header block is read (up to the first blank line; the body is the long description).
// Package.name keeps the project's spelling ("PyYAML"); the purl uses the PEP 503 normalised name,
// and so should the matcher (normalizePypiName in ../purl.ts).
// Licenses: License-Expression (PEP 639) when present; else the License field when it is a short
// one-line value (many projects paste the whole license text there: then only the
// "License :: …" trove classifiers are used), plus the classifiers' last segment
// ("License :: OSI Approved :: MIT License" → "MIT License").
import type { AnalyzerOutput, FileAnalyzer, FileInfo, ScanIssue } from '../types.ts';
import { purlOf } from '../purl.ts';
import type { Package } from '../types.ts';

const WANT_RE = /(?:^|\/)(?:[^/]+\.dist-info\/METADATA|[^/]+\.egg-info\/PKG-INFO|[^/]+\.egg-info|[^/]+\.egg\/EGG-INFO\/PKG-INFO)$/;

/** Parse the header block: multi-valued, continuation lines (leading whitespace) appended. */
export function parseCoreMetadata(text: string): Map<string, string[]> {
  const headers = new Map<string, string[]>();
  let lastKey: string | undefined;
  const lines = text.split(/\r?\n/);
  for (const line of lines) {
    if (line === '') break;
    if (/^[ \t]/.test(line)) {
      if (lastKey) {
        const vals = headers.get(lastKey)!;
        vals[vals.length - 1] += '\n' + line.replace(/^(?: {7}\||[ \t]+)/, '');
      }
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) {
      lastKey = undefined;
      continue;
    }
    const key = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    lastKey = key;
    const vals = headers.get(key);
    if (vals) vals.push(value);
    else headers.set(key, [value]);
  }
  return headers;
}

export function pythonLicenses(h: Map<string, string[]>): string[] | undefined {
  const expr = h.get('license-expression')?.[0]?.trim();
  if (expr) return [expr];
  const out: string[] = [];
  const lic = h.get('license')?.[0]?.trim();
  const usable = (s: string | undefined): s is string => !!s && !/^unknown$/i.test(s) && !s.includes('\n') && s.length <= 100;
  if (usable(lic)) out.push(lic);
  for (const c of h.get('classifier') ?? []) {
    const parts = c.split('::').map((s) => s.trim());
    if (parts[0] !== 'License' || parts.length < 2) continue;
    const last = parts[parts.length - 1];
    if (parts.length === 2 && last === 'OSI Approved') continue;
    out.push(last);
  }
  if (!out.length && lic && !/^unknown$/i.test(lic)) {
    const first = lic.split('\n')[0].trim();
    if (first && first.length <= 100) out.push(first);
  }
  const uniq = [...new Set(out)];
  return uniq.length ? uniq : undefined;
}

export function analyzePythonMetadata(path: string, content: Buffer): AnalyzerOutput {
  if (content.includes(0)) return { issues: [{ path, message: 'python: metadata file contains NUL bytes, not text' }] };
  let text = content.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const h = parseCoreMetadata(text);
  const name = h.get('name')?.[0]?.trim();
  const version = h.get('version')?.[0]?.trim();
  if (!name || !version) {
    const issues: ScanIssue[] = [{ path, message: `python: metadata without ${!name ? 'Name' : 'Version'}` }];
    return { issues };
  }
  const pkg: Package = { type: 'pypi', name, version, path };
  const licenses = pythonLicenses(h);
  if (licenses) pkg.licenses = licenses;
  pkg.purl = purlOf(pkg);
  return { packages: [pkg] };
}

export const pythonAnalyzer: FileAnalyzer = {
  name: 'python',
  version: 1,
  // METADATA carries the long description; a few hundred KiB at most in practice
  maxBytes: 8 * 1024 * 1024,
  wants(path: string, _info: FileInfo): boolean {
    return WANT_RE.test(path);
  },
  analyze(path: string, content: Buffer): AnalyzerOutput {
    try {
      return analyzePythonMetadata(path, content);
    } catch (e) {
      return { issues: [{ path, message: `python: ${(e as Error).message}` }] };
    }
  },
};
