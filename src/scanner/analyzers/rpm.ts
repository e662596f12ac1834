// RPM packages from the sqlite rpmdb (RHEL 9, Fedora 33+: var/lib/rpm/rpmdb.sqlite or
// usr/lib/sysimage/rpm/rpmdb.sqlite). The database is deserialised in memory with better-sqlite3
// (never written to disk); each row of `Packages` is an RPM header blob, parsed here:
//   int32 il (index entries), int32 dl (data bytes), il × {int32 tag, type, offset, count}, data.
// All integers big-endian. The Berkeley DB (RHEL ≤ 8 `Packages`) and NDB (`Packages.db`, SUSE)
// formats are not read: they yield a ScanIssue.
import Database from 'better-sqlite3';
import type { AnalyzerOutput, FileAnalyzer, OsInfo, Package, ScanIssue } from '../types.ts';

export const RPMDB_SQLITE_PATHS = new Set(['var/lib/rpm/rpmdb.sqlite', 'usr/lib/sysimage/rpm/rpmdb.sqlite']);
export const RPMDB_LEGACY_PATHS = new Set([
  'var/lib/rpm/Packages',
  'usr/lib/sysimage/rpm/Packages',
  'var/lib/rpm/Packages.db',
  'usr/lib/sysimage/rpm/Packages.db',
]);

export const RPMTAG = {
  NAME: 1000,
  VERSION: 1001,
  RELEASE: 1002,
  EPOCH: 1003,
  LICENSE: 1014,
  ARCH: 1022,
  SOURCERPM: 1044,
} as const;

const TYPE_INT32 = 4;
const TYPE_STRING = 6;
const TYPE_STRING_ARRAY = 8;
const TYPE_I18NSTRING = 9;
/** rpm's own sanity limits (header.c: HEADER_TAGS_MAX / HEADER_DATA_MAX) */
const MAX_INDEX_ENTRIES = 0xffff;
const MAX_DATA = 256 * 1024 * 1024;

export interface RpmHeader {
  strings: Map<number, string>;
  ints: Map<number, number>;
}

/** Parses one header blob (no lead/magic, as stored in the rpmdb). Throws on a malformed header. */
export function parseRpmHeader(blob: Uint8Array, wanted: ReadonlySet<number> = new Set(Object.values(RPMTAG))): RpmHeader {
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (buf.length < 8) throw new Error('header shorter than 8 bytes');
  const il = buf.readUInt32BE(0);
  const dl = buf.readUInt32BE(4);
  if (il === 0 || il > MAX_INDEX_ENTRIES) throw new Error(`bad index entry count ${il}`);
  if (dl > MAX_DATA) throw new Error(`bad data length ${dl}`);
  const dataStart = 8 + il * 16;
  if (dataStart + dl > buf.length) throw new Error(`header needs ${dataStart + dl} bytes, has ${buf.length}`);
  const data = buf.subarray(dataStart, dataStart + dl);
  const strings = new Map<number, string>();
  const ints = new Map<number, number>();
  for (let i = 0; i < il; i++) {
    const e = 8 + i * 16;
    const tag = buf.readUInt32BE(e);
    const type = buf.readUInt32BE(e + 4);
    const offset = buf.readUInt32BE(e + 8);
    const count = buf.readUInt32BE(e + 12);
    if (!wanted.has(tag)) continue;
    if (offset >= dl) throw new Error(`tag ${tag}: offset ${offset} outside the data (${dl} bytes)`);
    if (type === TYPE_STRING || type === TYPE_STRING_ARRAY || type === TYPE_I18NSTRING) {
      const end = data.indexOf(0, offset);
      if (end < 0) throw new Error(`tag ${tag}: unterminated string`);
      strings.set(tag, data.toString('utf8', offset, end));
    } else if (type === TYPE_INT32) {
      if (count < 1 || offset % 4 !== 0 || offset + 4 > dl) throw new Error(`tag ${tag}: bad int32 entry`);
      ints.set(tag, data.readUInt32BE(offset));
    } else {
      throw new Error(`tag ${tag}: unexpected type ${type}`);
    }
  }
  return { strings, ints };
}

/** "bash-5.1.8-6.el9.src.rpm" → name, version-release */
export function parseSourceRpm(srpm: string): { name: string; version: string } | undefined {
  const base = srpm.replace(/\.(?:no)?src\.rpm$/, '');
  if (base === srpm) return undefined;
  const r = base.lastIndexOf('-');
  if (r <= 0) return undefined;
  const v = base.lastIndexOf('-', r - 1);
  if (v <= 0) return undefined;
  return { name: base.slice(0, v), version: base.slice(v + 1) };
}

const PURL_NAMESPACE: Record<string, string> = {
  rhel: 'redhat',
  centos: 'centos',
  rocky: 'rocky',
  almalinux: 'almalinux',
  fedora: 'fedora',
  amzn: 'amazon',
  ol: 'oracle',
};

const enc = (s: string) => encodeURIComponent(s);

/** pkg:rpm/<vendor>/<name>@<version>-<release>?arch=…&epoch=…&distro=<id>-<versionId> */
export function rpmPurl(p: Pick<Package, 'name' | 'version' | 'arch'>, os?: Pick<OsInfo, 'id' | 'versionId'>): string {
  const m = /^(\d+):(.*)$/.exec(p.version);
  const epoch = m ? m[1]! : undefined;
  const vr = m ? m[2]! : p.version;
  const q: string[] = [];
  if (p.arch) q.push(`arch=${enc(p.arch)}`);
  if (epoch && epoch !== '0') q.push(`epoch=${epoch}`);
  if (os?.id && os.versionId) q.push(`distro=${enc(`${os.id}-${os.versionId}`)}`);
  const ns = os?.id ? (PURL_NAMESPACE[os.id] ?? os.id) : undefined;
  return `pkg:rpm/${ns ? ns + '/' : ''}${enc(p.name)}@${enc(vr)}${q.length ? '?' + q.join('&') : ''}`;
}

/** Package from one header; undefined for gpg-pubkey pseudo-packages. */
export function packageFromHeader(h: RpmHeader, path: string): Package | undefined {
  const name = h.strings.get(RPMTAG.NAME);
  const version = h.strings.get(RPMTAG.VERSION);
  const release = h.strings.get(RPMTAG.RELEASE);
  if (!name || !version) throw new Error(`header without ${!name ? 'NAME' : 'VERSION'}`);
  if (name === 'gpg-pubkey') return undefined;
  const epoch = h.ints.get(RPMTAG.EPOCH);
  const evr = `${epoch !== undefined ? `${epoch}:` : ''}${version}${release ? `-${release}` : ''}`;
  const p: Package = { type: 'rpm', name, version: evr, path };
  const arch = h.strings.get(RPMTAG.ARCH);
  if (arch) p.arch = arch;
  const license = h.strings.get(RPMTAG.LICENSE);
  if (license) p.licenses = [license];
  const srpm = h.strings.get(RPMTAG.SOURCERPM);
  const src = srpm ? parseSourceRpm(srpm) : undefined;
  if (src) {
    if (src.name !== name) p.sourceName = src.name;
    const srcEvr = `${epoch !== undefined ? `${epoch}:` : ''}${src.version}`;
    if (srcEvr !== evr) p.sourceVersion = srcEvr;
  }
  p.purl = rpmPurl(p);
  return p;
}

/** Limits for reading an untrusted sqlite rpmdb (the file, its schema and its rows are the image's). */
export const RPMDB_LIMITS = {
  /** largest database file read (also the analyzer's maxBytes) */
  maxFileBytes: 64 * 1024 * 1024,
  /** a header blob larger than this is skipped with an issue (real headers are a few KiB to ~200 KiB) */
  maxHeaderBytes: 1024 * 1024,
  /** rows read from Packages; the rest are reported once (real databases hold a few thousand) */
  maxRows: 200_000,
  /** issues kept per database, then one summary issue */
  maxIssues: 1000,
} as const;

type RpmdbLimits = { [K in keyof typeof RPMDB_LIMITS]: number };

/**
 * Checks that `Packages` is an ordinary table with ordinary `hnum` and `blob` columns: a view (a
 * recursive CTE yields unbounded rows from a few KiB), a virtual table or generated columns would
 * run the image's SQL. Returns the problem, or undefined when the schema is acceptable.
 */
function checkSchema(db: Database.Database): string | undefined {
  const objs = db.prepare("SELECT type, sql FROM sqlite_master WHERE name = 'Packages' COLLATE NOCASE").all() as Array<{ type: unknown; sql: unknown }>;
  const table = objs.find((o) => o.type === 'table');
  if (!table) {
    return objs.length ? `Packages is a ${String(objs[0]!.type).slice(0, 20)}, not a table; refused` : 'no Packages table';
  }
  if (typeof table.sql !== 'string' || /^\s*create\s+virtual\b/i.test(table.sql)) return 'Packages is a virtual table; refused';
  const cols = db.prepare("SELECT name, hidden FROM pragma_table_xinfo('Packages')").all() as Array<{ name: unknown; hidden: unknown }>;
  for (const want of ['hnum', 'blob']) {
    const c = cols.find((x) => typeof x.name === 'string' && x.name.toLowerCase() === want);
    if (!c) return `Packages has no ${want} column`;
    if (c.hidden !== 0) return `Packages.${want} is a generated or hidden column; refused`;
  }
  return undefined;
}

export function parseRpmdbSqlite(path: string, content: Buffer, limits: Partial<RpmdbLimits> = {}): AnalyzerOutput {
  const lim: RpmdbLimits = { ...RPMDB_LIMITS, ...limits };
  if (content.length < 100 || content.subarray(0, 16).toString('latin1') !== 'SQLite format 3\0') {
    return { issues: [{ path, message: 'not an SQLite database' }] };
  }
  if (content.length > lim.maxFileBytes) {
    return { issues: [{ path, message: `sqlite rpmdb is ${content.length} bytes, over the ${lim.maxFileBytes}-byte limit; not read` }] };
  }
  // a copy; WAL mode (bytes 18/19 = 2) cannot be deserialised: read it as a rollback-journal db
  const buf = Buffer.from(content);
  if (buf[18] === 2) buf[18] = 1;
  if (buf[19] === 2) buf[19] = 1;
  const packages: Package[] = [];
  const issues: ScanIssue[] = [];
  let omitted = 0;
  const issue = (message: string) => {
    if (issues.length < lim.maxIssues) issues.push({ path, message });
    else omitted++;
  };
  let db: Database.Database | undefined;
  try {
    db = new Database(buf, { readonly: true });
    db.unsafeMode(false);
    // the schema is the image's: no functions it marks unsafe, no temp files on the host
    db.pragma('trusted_schema = OFF');
    db.pragma('temp_store = MEMORY');
    db.pragma('cell_size_check = ON');
    const bad = checkSchema(db);
    if (bad) {
      issue(`cannot read the sqlite rpmdb: ${bad}`);
    } else {
      // no ORDER BY (a sort of an attacker-sized table): rowid order, which is hnum order in rpm's
      // schema (hnum INTEGER PRIMARY KEY). typeof()/length() of a blob read only its record header,
      // so an oversized blob is never loaded.
      const stmt = db.prepare(
        `SELECT CASE WHEN typeof(hnum) = 'integer' THEN hnum END AS hnum,
                typeof(blob) AS t,
                CASE WHEN typeof(blob) = 'blob' THEN length(blob) ELSE 0 END AS len,
                CASE WHEN typeof(blob) = 'blob' AND length(blob) <= ? THEN blob END AS blob
           FROM Packages`,
      );
      let n = 0;
      for (const row of stmt.iterate(lim.maxHeaderBytes) as Iterable<{ hnum: number | null; t: string; len: number; blob: unknown }>) {
        if (++n > lim.maxRows) {
          issue(`rpmdb has more than ${lim.maxRows} packages; the rest were not read`);
          break;
        }
        const id = row.hnum ?? `#${n}`;
        if (row.t !== 'blob') {
          issue(`rpmdb package ${id}: header is not a blob; skipped`);
          continue;
        }
        if (row.len > lim.maxHeaderBytes || !(row.blob instanceof Uint8Array)) {
          issue(`rpmdb package ${id}: header of ${row.len} bytes is over the ${lim.maxHeaderBytes}-byte limit; skipped`);
          continue;
        }
        try {
          const p = packageFromHeader(parseRpmHeader(row.blob), path);
          if (p) packages.push(p);
        } catch (err) {
          issue(`rpmdb package ${id}: malformed header (${(err instanceof Error ? err.message : String(err)).slice(0, 200)}); skipped`);
        }
      }
    }
  } catch (err) {
    issue(`cannot read the sqlite rpmdb: ${(err instanceof Error ? err.message : String(err)).slice(0, 300)}`);
  } finally {
    db?.close();
  }
  if (omitted > 0) issues.push({ path, message: `… ${omitted} more issues in this rpmdb omitted` });
  const out: AnalyzerOutput = {};
  if (packages.length) out.packages = packages;
  if (issues.length) out.issues = issues;
  return out;
}

export const rpmAnalyzer: FileAnalyzer = {
  name: 'rpm',
  // 2: schema checks, row / header-size / issue limits (DoS hardening)
  version: 2,
  maxBytes: RPMDB_LIMITS.maxFileBytes,
  wants: (path) => RPMDB_SQLITE_PATHS.has(path),
  analyze: (path, content) => parseRpmdbSqlite(path, content),
};

/** Presence-only: says that an rpmdb in a format this scanner does not read was found. */
export const rpmLegacyDbAnalyzer: FileAnalyzer = {
  name: 'rpm-legacy-db',
  version: 1,
  contentless: true,
  wants: (path) => RPMDB_LEGACY_PATHS.has(path),
  analyze: (path) => ({
    issues: [
      {
        path,
        message: path.endsWith('.db')
          ? 'NDB rpmdb (Packages.db) not supported; its RPM packages were not listed'
          : 'Berkeley DB rpmdb not supported; its RPM packages were not listed',
      },
    ],
  }),
};
