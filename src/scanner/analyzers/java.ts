// Java archives (.jar .war .ear .jpi .hpi): Maven coordinates, read with our own ZIP reader.
//
// Evidence, strongest first — the Package `path` names the evidence, so the confidence is visible:
//   1. META-INF/maven/<groupId>/<artifactId>/pom.properties (groupId, artifactId, version), every
//      one in the archive (shaded/fat jars carry many): path "app.jar!META-INF/maven/g/a/pom.properties"
//   2. only when an archive has no pom.properties: META-INF/MANIFEST.MF main section —
//      Implementation-Title/-Version (group from Implementation-Vendor-Id when present, which
//      maven-archiver sets to the groupId), else Bundle-SymbolicName/Bundle-Version (OSGi):
//      path "x.jar!META-INF/MANIFEST.MF"
//   3. else the file name "name-1.2.3.jar": path "x.jar" (the archive itself)
// Without a known groupId, Package.name is the bare artifactId (no ':'), so that a matcher keyed by
// "groupId:artifactId" cannot produce a false match from a guess.
// Nested archives (BOOT-INF/lib/*.jar, WEB-INF/lib/*.jar, lib/*.jar, or any *.jar/*.war inside an
// .ear) are opened recursively up to depth 4 and named "outer.jar!BOOT-INF/lib/inner.jar".
// Limits (zip.ts) are shared across the nesting: one budget of 512 MiB inflated bytes per file, of
// which every nested archive opened costs at least NESTED_VISIT_COST; at most MAX_NESTED_ARCHIVES
// nested archives, MAX_PACKAGES packages and MAX_ISSUES issues (+ one summary) per analyzed file.
import type { AnalyzerOutput, FileAnalyzer, FileInfo, Package, ScanIssue } from '../types.ts';
import { purlOf } from '../purl.ts';
import { DEFAULT_ZIP_LIMITS, readZipDirectory, readZipEntry, ZipError, type InflateBudget, type ZipEntry } from './zip.ts';

const ARCHIVE_RE = /\.(?:jar|war|ear|jpi|hpi)$/i;
const POM_RE = /^META-INF\/maven\/([^/]+)\/([^/]+)\/pom\.properties$/;
const MAX_DEPTH = 4;
const TOTAL_INFLATE_BUDGET = 512 * 1024 * 1024;
const SMALL_FILE_LIMIT = 1024 * 1024; // pom.properties / MANIFEST.MF
export const JAVA_LIMITS = {
  /** packages reported for one analyzed file (a real fat jar has hundreds) */
  maxPackages: 50_000,
  /** issues kept for one analyzed file; further ones are counted in one summary issue */
  maxIssues: 1000,
  /** nested archives opened for one analyzed file, at any depth */
  maxNestedArchives: 10_000,
  /** charged to the inflate budget for every nested archive opened, whatever its size */
  nestedVisitCost: 16 * 1024,
} as const;

/** Thrown to stop walking once a per-file cap is reached (reported as one issue). */
class StopWalk extends Error {}

/** java.util.Properties, the subset pom.properties uses (plus escapes and continuations). */
export function parseProperties(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i].replace(/^[ \t\f]+/, '');
    if (!line || line[0] === '#' || line[0] === '!') continue;
    while (/(?:^|[^\\])(?:\\\\)*\\$/.test(line) && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i].replace(/^[ \t\f]+/, '');
    const m = /^((?:\\.|[^=:\s\\])*)\s*[=:\s]\s*(.*)$/.exec(line);
    const unesc = (s: string) => s.replace(/\\u([0-9a-fA-F]{4})|\\(.)/g, (_, hex, c) => (hex ? String.fromCharCode(parseInt(hex, 16)) : c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : c));
    if (m) out.set(unesc(m[1]), unesc(m[2]).trim());
    else out.set(unesc(line), '');
  }
  return out;
}

/** MANIFEST.MF main section: "Key: value", continuation lines start with one space. */
export function parseManifest(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') break; // end of the main section
    if (line.startsWith(' ')) {
      if (last) out.set(last, out.get(last)! + line.slice(1));
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) {
      last = undefined;
      continue;
    }
    last = line.slice(0, i).trim();
    out.set(last, line.slice(i + 1).trim());
  }
  return out;
}

/** "commons-lang3-3.12.0.jar" → {artifactId: commons-lang3, version: 3.12.0}. */
export function parseJarFileName(file: string): { artifactId: string; version: string } | undefined {
  const base = file.slice(file.lastIndexOf('/') + 1).replace(ARCHIVE_RE, '');
  const m = /^(.+?)-(\d[\w.+-]*)$/.exec(base);
  if (!m) return undefined;
  return { artifactId: m[1], version: m[2] };
}

const unresolved = (s: string | undefined) => !s || s.includes('${');

interface Ctx {
  budget: InflateBudget;
  issues: ScanIssue[];
  omittedIssues: number;
  packages: Package[];
  seen: Set<string>;
  nested: number;
}

function issue(ctx: Ctx, path: string, message: string): void {
  if (ctx.issues.length < JAVA_LIMITS.maxIssues) ctx.issues.push({ path, message: message.length > 500 ? message.slice(0, 500) + '…' : message });
  else ctx.omittedIssues++;
}

function add(ctx: Ctx, groupId: string | undefined, artifactId: string, version: string, path: string): void {
  const name = groupId ? `${groupId}:${artifactId}` : artifactId;
  const key = `${name}\0${version}\0${path}`;
  if (ctx.seen.has(key)) return;
  if (ctx.packages.length >= JAVA_LIMITS.maxPackages) {
    throw new StopWalk(`java: more than ${JAVA_LIMITS.maxPackages} packages in one archive; stopped reading it`);
  }
  ctx.seen.add(key);
  const p: Package = { type: 'maven', name, version, path };
  p.purl = purlOf(p);
  ctx.packages.push(p);
}

function small(buf: Buffer, e: ZipEntry, ctx: Ctx, where: string): string | undefined {
  if (e.uncompressedSize > SMALL_FILE_LIMIT) {
    issue(ctx, where, `java: ${e.name} is ${e.uncompressedSize} bytes, skipped`);
    return undefined;
  }
  try {
    return readZipEntry(buf, e, ctx.budget).toString('utf8');
  } catch (err) {
    issue(ctx, where, `java: ${(err as Error).message}`);
    return undefined;
  }
}

function isNestedArchive(name: string): boolean {
  return /\.(?:jar|war)$/i.test(name) && !name.endsWith('/');
}

function walkArchive(buf: Buffer, path: string, depth: number, ctx: Ctx): void {
  let entries: ZipEntry[];
  try {
    entries = readZipDirectory(buf, DEFAULT_ZIP_LIMITS);
  } catch (e) {
    issue(ctx, path, `java: ${(e as Error).message}`);
    return;
  }
  let poms = 0;
  for (const e of entries) {
    const m = POM_RE.exec(e.name);
    if (!m) continue;
    const text = small(buf, e, ctx, path);
    if (text === undefined) continue;
    const props = parseProperties(text);
    const g = props.get('groupId') || m[1];
    const a = props.get('artifactId') || m[2];
    const v = props.get('version');
    if (unresolved(v) || unresolved(g) || unresolved(a)) continue;
    add(ctx, g, a, v!, `${path}!${e.name}`);
    poms++;
  }
  if (poms === 0) {
    let found = false;
    const mf = entries.find((e) => e.name === 'META-INF/MANIFEST.MF');
    const text = mf && small(buf, mf, ctx, path);
    if (text) {
      const h = parseManifest(text);
      const title = h.get('Implementation-Title');
      const iver = h.get('Implementation-Version');
      const bsn = h.get('Bundle-SymbolicName')?.split(';')[0].trim();
      const bver = h.get('Bundle-Version');
      const vendorId = h.get('Implementation-Vendor-Id');
      const fromName = parseJarFileName(path.slice(path.lastIndexOf('!') + 1));
      if (!unresolved(iver) && (fromName || (title && !/\s/.test(title)))) {
        // the artifactId is the file name's when it carries the same version, else the title
        const artifactId = fromName && fromName.version === iver ? fromName.artifactId : title && !/\s/.test(title) ? title : fromName!.artifactId;
        add(ctx, vendorId && !/\s/.test(vendorId) ? vendorId : undefined, artifactId, iver!, `${path}!META-INF/MANIFEST.MF`);
        found = true;
      } else if (bsn && !unresolved(bver)) {
        add(ctx, undefined, bsn, bver!, `${path}!META-INF/MANIFEST.MF`);
        found = true;
      }
    }
    if (!found) {
      const fn = parseJarFileName(path.slice(path.lastIndexOf('!') + 1));
      if (fn) add(ctx, undefined, fn.artifactId, fn.version, path);
    }
  }
  for (const e of entries) {
    if (!isNestedArchive(e.name)) continue;
    const inner = `${path}!${e.name}`;
    if (depth + 1 > MAX_DEPTH) {
      issue(ctx, inner, `java: nested archive deeper than ${MAX_DEPTH} levels, skipped`);
      continue;
    }
    if (++ctx.nested > JAVA_LIMITS.maxNestedArchives) {
      throw new StopWalk(`java: more than ${JAVA_LIMITS.maxNestedArchives} nested archives in one archive; stopped reading it`);
    }
    // every visit costs something, even of a tiny stored jar (no copy is made of those)
    if (ctx.budget.remaining < JAVA_LIMITS.nestedVisitCost) {
      issue(ctx, inner, `java: ${e.name}: inflated-size budget for this file exhausted`);
      continue;
    }
    ctx.budget.remaining -= JAVA_LIMITS.nestedVisitCost;
    let data: Buffer;
    try {
      data = readZipEntry(buf, e, ctx.budget);
    } catch (err) {
      issue(ctx, inner, `java: ${(err as Error).message}`);
      continue;
    }
    walkArchive(data, inner, depth + 1, ctx);
  }
}

export function analyzeJavaArchive(path: string, content: Buffer): AnalyzerOutput {
  const ctx: Ctx = { budget: { remaining: TOTAL_INFLATE_BUDGET }, issues: [], omittedIssues: 0, packages: [], seen: new Set(), nested: 0 };
  try {
    walkArchive(content, path, 1, ctx);
  } catch (e) {
    if (e instanceof StopWalk) ctx.issues.push({ path, message: e.message });
    else if (e instanceof ZipError || e instanceof RangeError) issue(ctx, path, `java: ${e.message}`);
    else throw e;
  }
  if (ctx.omittedIssues > 0) ctx.issues.push({ path, message: `java: … ${ctx.omittedIssues} more issues in this archive omitted` });
  const out: AnalyzerOutput = {};
  if (ctx.packages.length) out.packages = ctx.packages;
  if (ctx.issues.length) out.issues = ctx.issues;
  return out;
}

export const javaAnalyzer: FileAnalyzer = {
  name: 'java',
  // 2: overlapping-entry zip bombs refused; package / issue / nested-archive caps
  version: 2,
  // fat jars / wars of large services reach 100+ MB
  maxBytes: 128 * 1024 * 1024,
  wants(path: string, _info: FileInfo): boolean {
    return ARCHIVE_RE.test(path);
  },
  analyze(path: string, content: Buffer): AnalyzerOutput {
    try {
      return analyzeJavaArchive(path, content);
    } catch (e) {
      return { issues: [{ path, message: `java: ${(e as Error).message}` }] };
    }
  },
};
