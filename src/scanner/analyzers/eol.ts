// End-of-life dates of distribution releases (public facts from each project's release pages).
// The date is when the release stops getting security updates from the project itself:
//  - Debian: end of Debian LTS (security updates continue through LTS after "oldstable" ends);
//  - Ubuntu: end of standard support (ESM is a paid extension and not counted);
//  - Alpine: end of the branch's security support (two years after release);
//  - RHEL and rebuilds: end of maintenance support (ELS/ELP not counted);
//  - Fedora: about four weeks after release N+2; Amazon Linux: AWS' announced end of support.
// Where a project announced only a month, the last day of that month is used.
import type { EolInfo, OsInfo } from '../types.ts';

type Table = Record<string, string>;

export const EOL_TABLE: Record<string, Table> = {
  debian: {
    '6': '2016-02-29',
    '7': '2018-05-31',
    '8': '2020-06-30',
    '9': '2022-06-30',
    '10': '2024-06-30',
    '11': '2026-08-31',
    '12': '2028-06-30',
    '13': '2030-06-30',
  },
  ubuntu: {
    '12.04': '2017-04-28',
    '14.04': '2019-04-25',
    '16.04': '2021-04-30',
    '18.04': '2023-05-31',
    '20.04': '2025-05-31',
    '20.10': '2021-07-22',
    '21.04': '2022-01-20',
    '21.10': '2022-07-14',
    '22.04': '2027-04-30',
    '22.10': '2023-07-20',
    '23.04': '2024-01-25',
    '23.10': '2024-07-11',
    '24.04': '2029-04-30',
    '24.10': '2025-07-10',
    '25.04': '2026-01-31',
    '25.10': '2026-07-31',
  },
  alpine: {
    '3.5': '2018-11-01',
    '3.6': '2019-05-01',
    '3.7': '2019-11-01',
    '3.8': '2020-05-01',
    '3.9': '2020-11-01',
    '3.10': '2021-05-01',
    '3.11': '2021-11-01',
    '3.12': '2022-05-01',
    '3.13': '2022-11-01',
    '3.14': '2023-05-01',
    '3.15': '2023-11-01',
    '3.16': '2024-05-23',
    '3.17': '2024-11-22',
    '3.18': '2025-05-09',
    '3.19': '2025-11-01',
    '3.20': '2026-04-01',
    '3.21': '2026-11-01',
    '3.22': '2027-05-01',
  },
  rhel: { '6': '2020-11-30', '7': '2024-06-30', '8': '2029-05-31', '9': '2032-05-31', '10': '2035-05-31' },
  centos: { '6': '2020-11-30', '7': '2024-06-30', '8': '2021-12-31' },
  'centos-stream': { '8': '2024-05-31', '9': '2027-05-31', '10': '2030-01-01' },
  rocky: { '8': '2029-05-31', '9': '2032-05-31', '10': '2035-05-31' },
  almalinux: { '8': '2029-03-01', '9': '2032-05-31', '10': '2035-05-31' },
  ol: { '6': '2021-03-31', '7': '2024-12-31', '8': '2029-07-31', '9': '2032-06-30' },
  fedora: {
    '33': '2021-11-30',
    '34': '2022-06-07',
    '35': '2022-12-13',
    '36': '2023-05-16',
    '37': '2023-12-05',
    '38': '2024-05-21',
    '39': '2024-11-26',
    '40': '2025-05-13',
    '41': '2025-12-15',
    '42': '2026-05-13',
  },
  amzn: { '2018.03': '2023-12-31', '2': '2026-06-30', '2023': '2029-06-30' },
};

/** Debian codename → major release, for os-release files without VERSION_ID. */
export const DEBIAN_CODENAMES: Record<string, string> = {
  squeeze: '6',
  wheezy: '7',
  jessie: '8',
  stretch: '9',
  buster: '10',
  bullseye: '11',
  bookworm: '12',
  trixie: '13',
  forky: '14',
};

/** The release key an OS is listed under in EOL_TABLE, or undefined. */
export function eolKey(os: Pick<OsInfo, 'id' | 'versionId' | 'codename' | 'prettyName'>): { table: string; release: string } | undefined {
  const id = (os.id || '').toLowerCase();
  const v = (os.versionId || '').trim();
  const major = v.split('.')[0] ?? '';
  switch (id) {
    case 'debian': {
      if (/^\d+/.test(v)) return { table: 'debian', release: major };
      const c = os.codename && DEBIAN_CODENAMES[os.codename];
      return c ? { table: 'debian', release: c } : undefined;
    }
    case 'ubuntu':
      return { table: 'ubuntu', release: v.split('.').slice(0, 2).join('.') };
    case 'alpine':
      return { table: 'alpine', release: v.split('.').slice(0, 2).join('.') };
    case 'centos':
      return { table: /stream/i.test(os.prettyName ?? '') ? 'centos-stream' : 'centos', release: major };
    case 'rhel':
    case 'rocky':
    case 'almalinux':
    case 'ol':
    case 'fedora':
      return { table: id, release: major };
    case 'amzn':
      return { table: 'amzn', release: v === '2018.03' ? v : major };
    default:
      return undefined;
  }
}

/** The OS's end-of-life date and whether it is past on `now`; undefined when not in the table. */
export function eolOf(os: Pick<OsInfo, 'id' | 'versionId' | 'codename' | 'prettyName'>, now: Date = new Date()): EolInfo | undefined {
  const k = eolKey(os);
  if (!k) return undefined;
  const date = EOL_TABLE[k.table]?.[k.release];
  if (!date) return undefined;
  const end = Date.parse(`${date}T23:59:59Z`);
  return { date, eol: now.getTime() > end };
}
