import { describe, expect, test } from 'vitest';
import { osReleaseAnalyzer, parseOsFile, parseOsReleaseVars } from './os-release.ts';
import { eolOf } from './eol.ts';

const os = (path: string, text: string) => parseOsFile(path, Buffer.from(text)).os;

describe('os-release', () => {
  test('debian bookworm (real usr/lib/os-release text)', () => {
    const text = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL="https://www.debian.org/"\n`;
    expect(os('usr/lib/os-release', text)).toEqual({
      id: 'debian',
      versionId: '12',
      codename: 'bookworm',
      prettyName: 'Debian GNU/Linux 12 (bookworm)',
      path: 'usr/lib/os-release',
    });
  });
  test('debian without VERSION_CODENAME: from VERSION, else from VERSION_ID', () => {
    expect(os('etc/os-release', 'ID=debian\nVERSION_ID="9"\nVERSION="9 (stretch)"\n')!.codename).toBe('stretch');
    expect(os('etc/os-release', 'ID=debian\nVERSION_ID="10"\n')!.codename).toBe('buster');
    expect(os('etc/os-release', 'ID=debian\nPRETTY_NAME="Debian GNU/Linux trixie/sid"\n')).toMatchObject({ codename: 'trixie', versionId: '' });
  });
  test('alpine, ubuntu, quoting', () => {
    expect(os('etc/os-release', "NAME='Alpine Linux'\nID=alpine\nVERSION_ID=3.11.6\n")).toMatchObject({ id: 'alpine', versionId: '3.11.6' });
    expect(os('etc/os-release', 'ID=ubuntu\nVERSION_ID="22.04"\nVERSION_CODENAME=jammy\n')).toMatchObject({ id: 'ubuntu', versionId: '22.04', codename: 'jammy' });
    expect(parseOsReleaseVars('A="x \\"y\\" z"\n# c\nB=\'q\'\nbad line\n')).toEqual({ A: 'x "y" z', B: 'q' });
  });
  test('fallback release files', () => {
    expect(os('etc/alpine-release', '3.18.4\n')).toMatchObject({ id: 'alpine', versionId: '3.18.4' });
    expect(os('etc/redhat-release', 'Rocky Linux release 9.3 (Blue Onyx)\n')).toMatchObject({ id: 'rocky', versionId: '9.3', codename: 'Blue Onyx' });
    expect(os('etc/redhat-release', 'CentOS Linux release 7.9.2009 (Core)\n')).toMatchObject({ id: 'centos', versionId: '7.9.2009' });
    expect(os('etc/redhat-release', 'Red Hat Enterprise Linux release 8.9 (Ootpa)')).toMatchObject({ id: 'rhel', versionId: '8.9' });
    expect(os('etc/system-release', 'Amazon Linux release 2 (Karoo)')).toMatchObject({ id: 'amzn', versionId: '2' });
    expect(os('etc/debian_version', '12.4\n')).toMatchObject({ id: 'debian', versionId: '12', codename: 'bookworm' });
    expect(os('etc/debian_version', 'bookworm/sid\n')).toMatchObject({ id: 'debian', codename: 'bookworm' });
    expect(parseOsFile('etc/redhat-release', Buffer.from('\0\x01garbage')).issues).toHaveLength(1);
    expect(parseOsFile('etc/os-release', Buffer.alloc(0)).issues).toHaveLength(1);
  });
  test('wants', () => {
    const info = { path: '', size: 1, mode: 0, type: 'file' as const };
    expect(osReleaseAnalyzer.wants('etc/os-release', info)).toBe(true);
    expect(osReleaseAnalyzer.wants('usr/lib/os-release', info)).toBe(true);
    expect(osReleaseAnalyzer.wants('opt/etc/os-release', info)).toBe(false);
  });
});

describe('eol', () => {
  const at = new Date('2026-12-01T00:00:00Z');
  test('table lookups by release', () => {
    expect(eolOf({ id: 'debian', versionId: '12' }, at)).toEqual({ date: '2028-06-30', eol: false });
    expect(eolOf({ id: 'debian', versionId: '10' }, at)).toEqual({ date: '2024-06-30', eol: true });
    expect(eolOf({ id: 'debian', versionId: '', codename: 'bullseye' }, at)).toEqual({ date: '2026-08-31', eol: true });
    expect(eolOf({ id: 'alpine', versionId: '3.11.6' }, at)).toEqual({ date: '2021-11-01', eol: true });
    expect(eolOf({ id: 'ubuntu', versionId: '22.04' }, at)?.eol).toBe(false);
    expect(eolOf({ id: 'centos', versionId: '7.9.2009' }, at)).toEqual({ date: '2024-06-30', eol: true });
    expect(eolOf({ id: 'centos', versionId: '9', prettyName: 'CentOS Stream 9' }, at)).toEqual({ date: '2027-05-31', eol: false });
    expect(eolOf({ id: 'rhel', versionId: '9.3' }, at)?.date).toBe('2032-05-31');
    expect(eolOf({ id: 'amzn', versionId: '2' }, at)?.date).toBe('2026-06-30');
    expect(eolOf({ id: 'amzn', versionId: '2018.03' }, at)?.eol).toBe(true);
    expect(eolOf({ id: 'fedora', versionId: '39' }, at)?.eol).toBe(true);
  });
  test('the end date itself is not past; unknown releases → undefined', () => {
    expect(eolOf({ id: 'debian', versionId: '12' }, new Date('2028-06-30T12:00:00Z'))!.eol).toBe(false);
    expect(eolOf({ id: 'debian', versionId: '12' }, new Date('2028-07-01T00:00:01Z'))!.eol).toBe(true);
    expect(eolOf({ id: 'debian', versionId: '99' }, at)).toBeUndefined();
    expect(eolOf({ id: 'plan9', versionId: '4' }, at)).toBeUndefined();
  });
});
