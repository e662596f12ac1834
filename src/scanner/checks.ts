// Best-practice checks run on the merged image (issue 5), after the indexer and the merge step:
//  - config.root-user  the image's default user is root;
//  - os.eol            the distribution release is past its end of life (os.eol-soon: within 90 days);
//  - tls.outdated      an outdated TLS library package is installed (OpenSSL before 3, GnuTLS before
//                      3.6, LibreSSL before 4.0).
// Secrets and package caches are per-file findings from the analyzers (analyzers/secrets.ts,
// analyzers/caches.ts); they reach the report through ImageIndex.findings, not through here.
// Every finding names its layer and that layer's build instruction (LayerRef.createdBy).
import type { Finding, ImageConfig, ImageIndex, LayerRef, Package, Severity, VersionScheme } from './types.ts';
import { compareVersions } from './version/index.ts';

export interface ChecksInput {
  index: ImageIndex;
  config: ImageConfig;
  /** the scan date (EOL decisions); default now */
  now?: Date;
}

/** Days before an EOL date from which `os.eol-soon` is reported. */
export const EOL_SOON_DAYS = 90;

export function runChecks(input: ChecksInput): Finding[] {
  const now = input.now ?? new Date();
  const out: Finding[] = [];
  const root = rootUserFinding(input.index, input.config);
  if (root) out.push(root);
  const eol = eolFinding(input.index, now);
  if (eol) out.push(eol);
  out.push(...tlsFindings(input.index.packages));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Layers

/** A build instruction as people write it: "RUN apt-get …", "USER app". */
export function instructionText(createdBy: string): string {
  let s = createdBy.trim();
  const nop = /^\/bin\/sh -c #\(nop\)\s+/.exec(s);
  if (nop) s = s.slice(nop[0].length);
  else if (s.startsWith('/bin/sh -c ')) s = `RUN ${s.slice('/bin/sh -c '.length)}`;
  else {
    // BuildKit: "RUN |2 ARG=… /bin/sh -c …"
    const bk = /^RUN (?:\|\d+ (?:\S+=\S* )*)?\/bin\/sh -c /.exec(s);
    if (bk) s = `RUN ${s.slice(bk[0].length)}`;
  }
  s = s.replace(/\s+/g, ' ');
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}

/** "layer 3 (sha256:0123456789ab, RUN apt-get install …)" */
export function describeLayer(layer: LayerRef | undefined): string {
  if (!layer) return 'an unknown layer';
  const digest = layer.digest ? layer.digest.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]*$/, '$1') : '';
  const parts = [digest, layer.createdBy ? `built by \`${instructionText(layer.createdBy)}\`` : 'no build instruction recorded'].filter(Boolean);
  return `layer ${layer.index} (${parts.join(', ')})`;
}

// ---------------------------------------------------------------------------------------------
// Root user

/** True when a config User value means uid 0: "", "root", "0", "root:…", "0:…", ":…". */
export function isRootUser(user: string | undefined): boolean {
  const u = (user ?? '').trim();
  const name = u.split(':')[0]!;
  return name === '' || name === 'root' || /^0+$/.test(name);
}

/** The last USER instruction in the build history, if any. */
export function lastUserInstruction(config: ImageConfig): { step: number; of: number; instruction: string; user: string } | undefined {
  const history = config.history ?? [];
  for (let i = history.length - 1; i >= 0; i--) {
    const cb = history[i]?.created_by;
    if (!cb) continue;
    const m = /(?:^|#\(nop\)\s+)USER\s+\[?([^\]\s]+)\]?\s*$/.exec(cb.trim());
    if (m) return { step: i + 1, of: history.length, instruction: instructionText(cb), user: m[1]! };
  }
  return undefined;
}

/**
 * The config's User is root (or unset). Attributed to the image's last layer — the user is a
 * property of the whole image config, not of a layer's files — and the detail names the last
 * USER instruction of the history when there is one (it may come from the base image).
 */
function rootUserFinding(index: ImageIndex, config: ImageConfig): Finding | undefined {
  const user = config.config?.User;
  if (!isRootUser(user)) return undefined;
  const u = (user ?? '').trim();
  const last = index.layers.length ? index.layers[index.layers.length - 1] : undefined;
  const instr = lastUserInstruction(config);
  const why = instr
    ? `The last USER instruction in the build history is \`${instr.instruction}\` (history step ${instr.step} of ${instr.of}).`
    : 'The build history has no USER instruction, so containers run as root by default.';
  return {
    check: 'config.root-user',
    severity: 'Medium',
    title: u === '' ? 'Image runs as root (no USER set)' : `Image runs as root (USER ${u})`,
    detail: `${why} A process that escapes or is compromised has root inside the container. Add a non-root user and \`USER <name or uid>\` at the end of the Dockerfile (a numeric uid lets Kubernetes' runAsNonRoot verify it). Image config; top ${describeLayer(last)}.`,
    layer: last,
  };
}

// ---------------------------------------------------------------------------------------------
// End of life

function eolFinding(index: ImageIndex, now: Date): Finding | undefined {
  const os = index.os;
  if (!os?.eol) return undefined;
  const name = os.prettyName?.trim() || `${os.id} ${os.versionId}`;
  const end = Date.parse(`${os.eol.date}T00:00:00Z`);
  const base = index.layers[0];
  const where = `Release read from /${os.path}; base ${describeLayer(base)}.`;
  if (os.eol.eol || (!Number.isNaN(end) && end <= now.getTime())) {
    return {
      check: 'os.eol',
      severity: 'High',
      title: `${name} reached end of life on ${os.eol.date}`,
      detail: `The distribution no longer publishes security updates for this release: vulnerabilities found since ${os.eol.date} stay unfixed and may not be listed by the vulnerability database. Rebase the image on a supported release. ${where}`,
      path: os.path,
      layer: base,
    };
  }
  if (Number.isNaN(end)) return undefined;
  const days = Math.ceil((end - now.getTime()) / 86_400_000);
  if (days > EOL_SOON_DAYS) return undefined;
  return {
    check: 'os.eol-soon',
    severity: 'Low',
    title: `${name} reaches end of life on ${os.eol.date} (in ${days} day${days === 1 ? '' : 's'})`,
    detail: `Plan the move to a supported release before security updates stop. ${where}`,
    path: os.path,
    layer: base,
  };
}

// ---------------------------------------------------------------------------------------------
// Outdated TLS libraries

type TlsFamily = 'OpenSSL' | 'GnuTLS' | 'LibreSSL';

interface TlsBranch {
  severity: Severity;
  label: string;
  why: string;
}

/** The upstream part of a package version: no epoch, no Debian revision / rpm release / apk -rN. */
export function upstreamVersion(type: Package['type'], version: string): string {
  let v = version.trim().replace(/^\d+:/, '');
  if (type === 'apk') v = v.replace(/-r\d+$/, '');
  else if (type === 'deb' || type === 'rpm') {
    const dash = v.lastIndexOf('-');
    if (dash > 0) v = v.slice(0, dash);
  }
  return v;
}

const SCHEME: Partial<Record<Package['type'], VersionScheme>> = { deb: 'dpkg', rpm: 'rpm', apk: 'apk' };

/** major.minor.patch numbers of a version string, for the fallback comparison. */
function numericParts(v: string): number[] {
  const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(v);
  if (!m) return [];
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

/**
 * upstream < threshold with the ecosystem's comparator; when the scheme is not registered (apk
 * before its comparator lands) or cannot parse the version, a numeric major.minor.patch compare.
 */
export function versionBelow(type: Package['type'], upstream: string, threshold: string): boolean {
  const scheme = SCHEME[type];
  if (scheme) {
    try {
      return compareVersions(scheme, upstream, threshold) < 0;
    } catch {
      // unknown version scheme, or a version the comparator rejects: fall through
    }
  }
  const a = numericParts(upstream);
  const b = numericParts(threshold);
  if (a.length === 0) return false;
  for (let i = 0; i < 3; i++) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]!;
  }
  return false;
}

/** The TLS library family a package is, by its distribution's naming; undefined for others. */
export function tlsFamilyOf(p: Package, all: ReadonlySet<string>): TlsFamily | undefined {
  const n = p.name;
  switch (p.type) {
    case 'deb':
      // libssl0.9.8, libssl1.0.0, libssl1.0.2, libssl1.1, libssl3, libssl3t64 (the openssl CLI
      // package depends on one of these, so it is not reported separately)
      if (/^libssl\d+(?:\.\d+)*(?:t64)?$/.test(n)) return 'OpenSSL';
      if (/^libgnutls(?:\d+|-deb0-28)(?:t64)?$/.test(n)) return 'GnuTLS';
      return undefined;
    case 'rpm':
      // openssl-libs (EL7+), openssl (EL6 and older: the library itself, unless openssl-libs is
      // there), openssl10 / openssl11 (+ -libs), compat-openssl10/11, openssl1.1 (Fedora)
      if (/^(?:compat-)?openssl(?:10|11|1\.0|1\.1)?-libs$/.test(n)) return 'OpenSSL';
      if (/^(?:compat-)?openssl(?:10|11|1\.0|1\.1)?$/.test(n)) return all.has(`${n}-libs`) ? undefined : 'OpenSSL';
      if (n === 'gnutls') return 'GnuTLS';
      if (n === 'libressl' || n === 'libressl-libs') return 'LibreSSL';
      return undefined;
    case 'apk':
      // libssl1.0, libssl1.1, libssl3 (the openssl CLI package depends on one); old Alpine
      // shipped LibreSSL as libressl2.x-libssl
      if (/^libssl\d+(?:\.\d+)*$/.test(n)) return 'OpenSSL';
      if (/^libressl(?:\d+(?:\.\d+)*)?-libssl$/.test(n)) return 'LibreSSL';
      if (n === 'gnutls') return 'GnuTLS';
      return undefined;
    default:
      // language-bundled TLS (Python wheels' vendored OpenSSL, Node's built-in) is not covered
      return undefined;
  }
}

/** Which outdated branch a TLS library version is in; undefined when it is current. */
export function outdatedTlsBranch(family: TlsFamily, type: Package['type'], version: string): TlsBranch | undefined {
  const up = upstreamVersion(type, version);
  if (family === 'OpenSSL') {
    if (versionBelow(type, up, '1.1')) {
      return {
        severity: 'High',
        label: `OpenSSL ${up} (1.0.x or older)`,
        why: 'OpenSSL 1.0.2 reached upstream end of life on 2019-12-31 (1.0.1 and 0.9.8 earlier); it lacks TLS 1.3 and modern defaults.',
      };
    }
    if (versionBelow(type, up, '3.0')) {
      return {
        severity: 'Medium',
        label: `OpenSSL ${up} (1.1.x)`,
        why: 'OpenSSL 1.1.1 reached upstream end of life on 2023-09-11 (1.1.0 on 2019-09-11). Some distributions still backport fixes for their release (e.g. Debian 11 LTS, RHEL 8), but new upstream fixes are no longer published: move to OpenSSL 3.',
      };
    }
    return undefined;
  }
  if (family === 'GnuTLS') {
    if (versionBelow(type, up, '3.6')) {
      return {
        severity: 'Medium',
        label: `GnuTLS ${up}`,
        why: 'GnuTLS before 3.6 is no longer maintained upstream and has no TLS 1.3 support.',
      };
    }
    return undefined;
  }
  if (versionBelow(type, up, '4.0')) {
    return {
      severity: 'Medium',
      label: `LibreSSL ${up}`,
      why: 'Each LibreSSL branch is supported only with the two most recent OpenBSD releases; branches before 4.0 no longer get fixes (Alpine 3.5–3.8 shipped LibreSSL 2.x).',
    };
  }
  return undefined;
}

function tlsFindings(packages: Package[]): Finding[] {
  const byDb = new Map<string, Set<string>>();
  for (const p of packages) {
    let s = byDb.get(p.path);
    if (!s) byDb.set(p.path, (s = new Set()));
    s.add(p.name);
  }
  const out: Finding[] = [];
  for (const p of packages) {
    const family = tlsFamilyOf(p, byDb.get(p.path)!);
    if (!family) continue;
    const branch = outdatedTlsBranch(family, p.type, p.version);
    if (!branch) continue;
    out.push({
      check: 'tls.outdated',
      severity: branch.severity,
      title: `Outdated TLS library ${p.name} ${p.version}: ${branch.label}`,
      detail: `${branch.why} Installed by ${describeLayer(p.layer)}; package database /${p.path}.`,
      path: p.path,
      layer: p.layer,
    });
  }
  return out;
}
