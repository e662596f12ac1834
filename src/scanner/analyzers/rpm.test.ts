import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, test } from 'vitest';
import { parseRpmHeader, parseRpmdbSqlite, parseSourceRpm, rpmAnalyzer, rpmLegacyDbAnalyzer, rpmPurl, RPMDB_LIMITS, RPMTAG } from './rpm.ts';

const db = readFileSync(new URL('../../../test/fixtures/scanner/os/rpmdb.sqlite', import.meta.url));

/** Builds a header blob: entries (tag, type, value) with the data store laid out like rpm does. */
function header(entries: Array<[number, number, string | number]>): Buffer {
  const data: Buffer[] = [];
  let len = 0;
  const idx: Buffer[] = [];
  for (const [tag, type, v] of entries) {
    if (type === 4) {
      const pad = (4 - (len % 4)) % 4;
      data.push(Buffer.alloc(pad));
      len += pad;
    }
    const b = type === 4 ? Buffer.alloc(4) : Buffer.from(String(v) + '\0');
    if (type === 4) b.writeUInt32BE(Number(v));
    const e = Buffer.alloc(16);
    e.writeUInt32BE(tag, 0);
    e.writeUInt32BE(type, 4);
    e.writeUInt32BE(len, 8);
    e.writeUInt32BE(1, 12);
    idx.push(e);
    data.push(b);
    len += b.length;
  }
  const head = Buffer.alloc(8);
  head.writeUInt32BE(entries.length, 0);
  head.writeUInt32BE(len, 4);
  return Buffer.concat([head, ...idx, ...data]);
}

describe('rpm sqlite rpmdb', () => {
  test('the fixture made from fake.spec: 4 packages; names agree with the rpmdb Name index', () => {
    const out = parseRpmdbSqlite('var/lib/rpm/rpmdb.sqlite', db);
    expect(out.issues).toBeUndefined();
    const got = out.packages!.map((p) => `${p.name} ${p.version} ${p.arch} ${p.licenses}`).sort();
    expect(got).toEqual([
      'bash 0:5.1.8-9.el9 noarch MIT', // fake.spec: BuildArch noarch, License MIT
      'curl 0:7.76.1-29.el9_4 noarch MIT',
      'glibc 0:2.34-100.el9_4.2 noarch MIT',
      'openssl-libs 1:3.0.7-27.el9 noarch MIT',
    ]);
    // independent cross-check: rpm's own Name index table
    const b = Buffer.from(db);
    b[18] = 1;
    b[19] = 1;
    const names = (new Database(b, { readonly: true }).prepare('SELECT key FROM Name').all() as Array<{ key: string }>).map((r) => r.key).sort();
    expect(out.packages!.map((p) => p.name).sort()).toEqual(names);
    expect(out.packages!.find((p) => p.name === 'openssl-libs')!.purl).toBe('pkg:rpm/openssl-libs@3.0.7-27.el9?arch=noarch&epoch=1');
  });
  test('header parser: source rpm, epoch, gpg-pubkey skipped; malformed → issue per package', () => {
    const good = header([
      [RPMTAG.NAME, 6, 'bash'],
      [RPMTAG.VERSION, 6, '5.1.8'],
      [RPMTAG.RELEASE, 6, '6.el9'],
      [RPMTAG.ARCH, 6, 'x86_64'],
      [RPMTAG.LICENSE, 6, 'GPLv3+'],
      [RPMTAG.SOURCERPM, 6, 'bash-5.1.8-6.el9.src.rpm'],
      [RPMTAG.EPOCH, 4, 2],
    ]);
    const h = parseRpmHeader(good);
    expect(h.strings.get(RPMTAG.NAME)).toBe('bash');
    expect(h.ints.get(RPMTAG.EPOCH)).toBe(2);
    expect(() => parseRpmHeader(good.subarray(0, good.length - 3))).toThrow(/needs/);
    const bad = Buffer.from(good);
    bad.writeUInt32BE(0xfffffff0, 8 + 8); // first entry's offset
    expect(() => parseRpmHeader(bad)).toThrow(/outside/);
    expect(() => parseRpmHeader(Buffer.alloc(4))).toThrow();
    expect(parseSourceRpm('openssl-3.0.7-27.el9.src.rpm')).toEqual({ name: 'openssl', version: '3.0.7-27.el9' });
    expect(parseSourceRpm('garbage')).toBeUndefined();

    // a database with one good, one gpg-pubkey, one truncated and one non-blob row
    const mem = new Database(':memory:');
    mem.exec('CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)');
    const ins = mem.prepare('INSERT INTO Packages (blob) VALUES (?)');
    ins.run(good);
    ins.run(header([[RPMTAG.NAME, 6, 'gpg-pubkey'], [RPMTAG.VERSION, 6, 'fd431d51'], [RPMTAG.RELEASE, 6, '4ae0493b']]));
    ins.run(good.subarray(0, 20));
    ins.run('text, not a blob');
    const out = parseRpmdbSqlite('usr/lib/sysimage/rpm/rpmdb.sqlite', mem.serialize());
    expect(out.packages).toEqual([
      expect.objectContaining({ name: 'bash', version: '2:5.1.8-6.el9', arch: 'x86_64', licenses: ['GPLv3+'] }),
    ]);
    expect(out.packages![0]!.sourceName).toBeUndefined(); // same as name; the source version equals the binary's
    expect(out.packages![0]!.sourceVersion).toBeUndefined();
    expect(out.issues!.map((i) => i.message)).toEqual([
      expect.stringMatching(/package 3: malformed header/),
      expect.stringMatching(/package 4: header is not a blob/),
    ]);
    expect(rpmPurl(out.packages![0]!, { id: 'rhel', versionId: '9.3' })).toBe('pkg:rpm/redhat/bash@5.1.8-6.el9?arch=x86_64&epoch=2&distro=rhel-9.3');
  });
  test('not sqlite / no Packages table → issue, never a throw', () => {
    expect(parseRpmdbSqlite('p', Buffer.from('hello')).issues![0]!.message).toMatch(/not an SQLite/);
    const junk = Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(5000, 7)]);
    expect(parseRpmdbSqlite('p', junk).issues![0]!.message).toMatch(/cannot read/);
    expect(parseRpmdbSqlite('p', new Database(':memory:').serialize()).issues![0]!.message).toMatch(/cannot read/);
  });
  test('Berkeley DB rpmdb → a clear issue', async () => {
    const info = { path: 'var/lib/rpm/Packages', size: 1 << 30, mode: 0o644, type: 'file' as const };
    expect(rpmLegacyDbAnalyzer.wants('var/lib/rpm/Packages', info)).toBe(true);
    expect(rpmAnalyzer.wants('var/lib/rpm/Packages', info)).toBe(false);
    const out = await rpmLegacyDbAnalyzer.analyze('var/lib/rpm/Packages', Buffer.alloc(0), info);
    expect(out.issues![0]!.message).toBe('Berkeley DB rpmdb not supported; its RPM packages were not listed');
  });
});

describe('rpm sqlite rpmdb: hostile databases (DoS hardening)', () => {
  const messages = (o: { issues?: Array<{ message: string }> }) => (o.issues ?? []).map((i) => i.message);

  test('Packages as a VIEW over a recursive CTE (a few KiB → unbounded rows) is refused without reading it', () => {
    const mem = new Database(':memory:');
    mem.exec(`CREATE VIEW Packages AS WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 300000)
              SELECT n AS hnum, x'0000' AS blob FROM c`);
    const file = mem.serialize();
    expect(file.length).toBeLessThan(16 * 1024);
    const t0 = performance.now();
    const out = parseRpmdbSqlite('var/lib/rpm/rpmdb.sqlite', file);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(out.packages).toBeUndefined();
    expect(messages(out)).toEqual([expect.stringMatching(/Packages is a view, not a table; refused/)]);
  });

  test('zeroblob() view rows, virtual tables and generated columns are refused too', () => {
    const view = new Database(':memory:');
    view.exec('CREATE VIEW Packages AS SELECT 1 AS hnum, zeroblob(200000000) AS blob');
    expect(messages(parseRpmdbSqlite('p', view.serialize()))).toEqual([expect.stringMatching(/view, not a table/)]);
    const vt = new Database(':memory:');
    vt.exec('CREATE VIRTUAL TABLE Packages USING fts5(hnum, blob)');
    expect(messages(parseRpmdbSqlite('p', vt.serialize()))[0]).toMatch(/virtual table; refused/);
    const gen = new Database(':memory:');
    gen.exec('CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, seed INTEGER, blob BLOB AS (zeroblob(seed)))');
    gen.prepare('INSERT INTO Packages (seed) VALUES (?)').run(100_000_000);
    expect(messages(parseRpmdbSqlite('p', gen.serialize()))).toEqual([expect.stringMatching(/Packages.blob is a generated or hidden column; refused/)]);
  });

  test('a header blob over 1 MiB is skipped without being parsed', () => {
    const good = header([[RPMTAG.NAME, 6, 'bash'], [RPMTAG.VERSION, 6, '5.1.8']]);
    const mem = new Database(':memory:');
    mem.exec('CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)');
    const ins = mem.prepare('INSERT INTO Packages (blob) VALUES (?)');
    ins.run(Buffer.concat([good, Buffer.alloc(RPMDB_LIMITS.maxHeaderBytes)])); // parses, but is oversized
    ins.run(good);
    const out = parseRpmdbSqlite('p', mem.serialize());
    expect(out.packages!.map((p) => p.name)).toEqual(['bash']);
    expect(messages(out)).toEqual([`rpmdb package 1: header of ${good.length + RPMDB_LIMITS.maxHeaderBytes} bytes is over the 1048576-byte limit; skipped`]);
  });

  test('row limit and issue cap: a table of many bad rows yields bounded output', () => {
    const mem = new Database(':memory:');
    mem.exec(`CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);
              WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3000) INSERT INTO Packages (blob) SELECT x'00000000' FROM c;`);
    const out = parseRpmdbSqlite('p', mem.serialize(), { maxRows: 2000, maxIssues: 50 });
    const m = messages(out);
    expect(m).toHaveLength(51);
    expect(m[0]).toMatch(/package 1: malformed header/);
    expect(m[50]).toBe('… 1951 more issues in this rpmdb omitted'); // 2000 malformed + the row-limit issue
    // the default caps: 1000 issues
    const dflt = messages(parseRpmdbSqlite('p', mem.serialize()));
    expect(dflt).toHaveLength(RPMDB_LIMITS.maxIssues + 1);
    expect(dflt.at(-1)).toBe('… 2000 more issues in this rpmdb omitted');
  });

  test('the analyzer never reads a database over its size limit', () => {
    expect(rpmAnalyzer.maxBytes).toBe(RPMDB_LIMITS.maxFileBytes);
    const big = Buffer.concat([db, Buffer.alloc(1024)]);
    expect(messages(parseRpmdbSqlite('p', big, { maxFileBytes: db.length }))[0]).toMatch(/over the \d+-byte limit; not read/);
  });
});
