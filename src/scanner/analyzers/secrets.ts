// Secrets left in image layers (issue 5). A file analyzer: it sees every layer's files, so a secret
// that a later layer deleted is still reported (the merge step sets `deletedIn`; the bytes are
// still in the image and anyone who pulls it can read them).
//
// Which files:
//  - by path (`wants`): credential files with a known name — .npmrc, .yarnrc.yml, .env*, docker /
//    podman auth files, .git-credentials, .pypirc, .netrc, .aws/credentials — wherever they are
//    (a .npmrc published inside a node_modules package is a real leak).
//  - by content (`wantsContent`): any file ≤ 1 MiB whose first 4 KiB look like text, except in
//    noisy trees where false positives abound and real secrets are rare (see `isNoisyPath`):
//    documentation (usr/share/doc, man, info, locale, …), package databases, and — inside
//    third-party trees (anything under usr/, node_modules, site-packages, dist-packages, Go module
//    cache, vendor/) — test/fixture/example/doc directories, test source files and doc-type
//    files (*.md, *.rst, *.txt, *.html …). The language runtimes' own test suites (CPython's
//    Lib/test with its keycert.pem, Go's crypto/tls testdata and *_test.go) ship real-looking
//    private keys that are public test keys; they are skipped by these path rules, not by a
//    fingerprint list (we keep no list of known test keys). An application's own test/ or
//    README.md outside those trees is still scanned.
//
// How: a cheap byte-level keyword prefilter (Buffer.indexOf per rule keyword) decides which rules
// run; a file with no keyword is never decoded. Rules are literal-prefix token formats (documented
// by each vendor) plus a few structural ones (PEM blocks with a base64 body and a matching END
// line, GCP service-account JSON, registry auth JSON). The loose "password = …" rule runs only on
// config-like files (by extension, or anything under etc/) and only reports values that look
// random (entropy, character classes) and are not placeholders.
//
// Output: one finding per (check, file) — the merge step dedupes by (check, path, layer) anyway —
// with the first line number, the count, and a redacted excerpt: the first 4 characters and "…".
// The full secret never appears in the output. AWS's documented example keys (…EXAMPLE) and
// obvious placeholders (xxxx, your-token, ${VAR}, <token>) are skipped, not reported.
import type { AnalyzerOutput, FileAnalyzer, FileInfo, Finding, Severity } from '../types.ts';
import { SEVERITIES } from '../types.ts';

/** Files larger than this are not offered by content (nor read). */
export const SECRETS_MAX_BYTES = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Path selection

const NOISY_PREFIXES = [
  'usr/share/doc/',
  'usr/share/man/',
  'usr/share/info/',
  'usr/share/locale/',
  'usr/share/i18n/',
  'usr/share/zoneinfo/',
  'usr/share/mime/',
  'usr/share/help/',
  'usr/share/gtk-doc/',
  'usr/share/X11/locale/',
  'usr/share/terminfo/',
  'usr/include/',
  'usr/local/include/',
  'var/lib/dpkg/',
  'var/lib/rpm/',
  'var/lib/apt/lists/',
  'var/cache/',
  'lib/apk/db/',
  'proc/',
  'sys/',
];

/** A directory segment of a test suite, fixture set, examples or docs. */
const TEST_SEGMENT =
  /^(?:tests?|__tests__|testing|testdata|test[-_]?data|test[-_]?fixtures|fixtures?|__fixtures__|__mocks__|spec|specs|unittests?|idle_test|examples?|samples?|docs?|benchmarks?)$/i;
/** A test source file name. */
const TEST_FILE = /(?:_test\.go|_test\.py|^test_[^/]*\.py|\.(?:test|spec)\.[cm]?[jt]sx?)$/;
/** Documentation-type extensions (skipped inside third-party trees). */
const DOC_EXT = /\.(?:md|markdown|mdx|rst|adoc|asciidoc|txt|html?|pod|tex|texi|[1-9]|po|pot)$/i;
/** Trees of third-party code: packages, language runtimes, module caches. */
const THIRD_PARTY =
  /(?:^|\/)(?:node_modules|site-packages|dist-packages|vendor|bower_components|\.pyenv|\.nvm|\.rustup|\.cargo\/registry|\.gem|\.m2|\.gradle)\/|(?:^|\/)pkg\/mod\/|(?:^|\/)lib\/(?:python|pypy)[0-9.]*\/|(?:^|\/)go\/src\//;

/** True for paths whose text is not worth scanning (see the header comment). */
export function isNoisyPath(path: string): boolean {
  for (const p of NOISY_PREFIXES) if (path.startsWith(p)) return true;
  if (!path.startsWith('usr/') && !THIRD_PARTY.test(path)) return false;
  const segs = path.split('/');
  const base = segs[segs.length - 1]!;
  if (DOC_EXT.test(base) || TEST_FILE.test(base)) return true;
  for (let i = 0; i < segs.length - 1; i++) if (TEST_SEGMENT.test(segs[i]!)) return true;
  return false;
}

type CredentialFile = 'npmrc' | 'yarnrc' | 'dotenv' | 'registry-auth' | 'git-credentials' | 'pypirc' | 'netrc' | 'aws-credentials';

/** The kind of credential file a path names, if any. */
export function credentialFileKind(path: string): CredentialFile | undefined {
  const slash = path.lastIndexOf('/');
  const base = path.slice(slash + 1);
  const dir = slash < 0 ? '' : path.slice(0, slash);
  if (base === '.npmrc' || path === 'etc/npmrc' || path.endsWith('/etc/npmrc')) return 'npmrc';
  if (base === '.yarnrc.yml') return 'yarnrc';
  if (base === '.env' || base.startsWith('.env.')) return 'dotenv';
  if (base === '.git-credentials' || (base === 'credentials' && dir.endsWith('/.config/git'))) return 'git-credentials';
  if (base === '.pypirc') return 'pypirc';
  if (base === '.netrc' || base === '_netrc') return 'netrc';
  if (base === 'credentials' && (dir === '.aws' || dir.endsWith('/.aws'))) return 'aws-credentials';
  if (base === 'config.json' && (dir === '.docker' || dir.endsWith('/.docker'))) return 'registry-auth';
  if (base === 'auth.json' && /(?:^|\/)(?:containers)(?:\/\d+)?$/.test(dir)) return 'registry-auth';
  return undefined;
}

/** The first bytes look like text: no NUL, almost no other control bytes. */
export function looksLikeText(head: Buffer): boolean {
  if (head.length === 0) return false;
  let bad = 0;
  for (let i = 0; i < head.length; i++) {
    const b = head[i]!;
    if (b === 0) return false;
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c && b !== 0x1b) bad++;
  }
  return bad * 100 <= head.length;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** The first 4 characters and "…": all the output ever shows of a secret. */
export function redact(secret: string): string {
  return secret.slice(0, 4) + '…';
}

const entropyCounts = new Uint32Array(256);

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  if (s.length === 0) return 0;
  latin1: {
    // the common case (all text here is latin1-decoded): count in a table
    const counts = entropyCounts;
    for (let i = 0; i < s.length; i++) {
      const ch = s.charCodeAt(i);
      if (ch > 255) {
        for (let j = 0; j < i; j++) counts[s.charCodeAt(j)] = 0;
        break latin1;
      }
      counts[ch]!++;
    }
    let h = 0;
    for (let i = 0; i < s.length; i++) {
      const n = counts[s.charCodeAt(i)]!;
      if (n === 0) continue;
      const p = n / s.length;
      h -= p * Math.log2(p);
      counts[s.charCodeAt(i)] = 0;
    }
    return h;
  }
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

const PLACEHOLDER_WORDS = /example|xxxx|placeholder|^your|your[-_ ]|dummy|sample|redacted|changeme|change[-_]me|^replace|replace[-_ ]?me|^insert|^fake|fake[-_]|\*\*\*|\.\.\.|<[^<>]*>|\$\{|\{\{|\$\(|%\(|<%|^\$|env\(|environ|process\.env|^(?:none|null|nil|true|false|undefined|test|secret|password|token)$/i;

/** A value that is obviously not a real secret: a template, a variable reference, a dummy. */
export function isPlaceholder(value: string): boolean {
  if (PLACEHOLDER_WORDS.test(value)) return true;
  // one repeated character, or a run like 0000000 / aaaaaaaa
  if (/^(.)\1*$/.test(value) || /(.)\1{5,}/.test(value)) return true;
  return false;
}

/**
 * Placeholders inside a token-shaped string. Narrower than isPlaceholder: a random 36–120 char
 * token may well contain "your" or "fake" by chance, but not "xxxx", "EXAMPLE" or a 6-char run.
 */
const TOKEN_PLACEHOLDER = /(.)\1{5,}|xxxx|XXXX|example|EXAMPLE|Example|placeholder|PLACEHOLDER|0123456789|abcdefgh|ABCDEFGH|\*\*\*|\.\.\./;

/** A token body that looks random enough to be a real credential. */
function looksRandom(body: string, minEntropy = 3): boolean {
  return !TOKEN_PLACEHOLDER.test(body) && entropy(body) >= minEntropy;
}

interface Hit {
  check: string;
  severity: Severity;
  title: string;
  /** byte offset of the secret in the file */
  index: number;
  /** the secret (or its first characters); only redact(secret) reaches the output */
  secret: string;
  /** extra non-secret context (variable name, registry host) */
  note?: string;
}

/**
 * The hits so far, and what they cover: the loose rules (credential files, generic assignments)
 * do not report a value again when it equals a secret already reported, or when it overlaps the
 * text of one (a token inside a longer value, a value inside a key block). Both checks are O(1)
 * per character of the value: a set of the exact secrets, and a byte map of the covered text
 * built when the first loose rule asks (content rules never do).
 */
class Collector {
  hits: Hit[] = [];
  private readonly seen = new Set<string>();
  /** covered [start, end) ranges not yet in `map` */
  private pending: number[] = [];
  private map: Uint8Array | undefined;
  constructor(private readonly size: number) {}
  /** Record a hit; its text range defaults to the secret at its index. */
  add(h: Hit, start = h.index, end = h.index + h.secret.length): void {
    this.hits.push(h);
    this.cover(h.secret, start, end);
  }
  /** Mark a secret (and the text range holding it) as reported without a hit of its own. */
  cover(secret: string, start: number, end: number): void {
    this.seen.add(secret);
    if (this.map) this.map.fill(1, Math.max(0, start), Math.min(this.size, end));
    else this.pending.push(start, end);
  }
  /** True when `value`, found at text offset `at`, is (part of) a secret already reported. */
  covered(value: string, at: number): boolean {
    if (this.seen.has(value)) return true;
    if (!this.map) {
      this.map = new Uint8Array(this.size);
      for (let i = 0; i < this.pending.length; i += 2) this.map.fill(1, Math.max(0, this.pending[i]!), Math.min(this.size, this.pending[i + 1]!));
      this.pending = [];
    }
    const end = Math.min(this.size, at + value.length);
    for (let i = Math.max(0, at); i < end; i++) if (this.map[i]) return true;
    return false;
  }
}

class Lines {
  private starts: number[] | undefined;
  constructor(private readonly text: string) {}
  private lineStarts(): number[] {
    if (!this.starts) {
      const s = [0];
      let i = -1;
      while ((i = this.text.indexOf('\n', i + 1)) >= 0) s.push(i + 1);
      this.starts = s;
    }
    return this.starts;
  }
  /** offset of the start of a 1-based line number (clamped to the first / past the last line) */
  startOf(line: number): number {
    const s = this.lineStarts();
    if (line < 1) return 0;
    return line > s.length ? this.text.length : s[line - 1]!;
  }
  /** 1-based line number of a character offset */
  lineOf(index: number): number {
    const s = this.lineStarts();
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid]! <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Rules. Each has byte keywords (any present → the rule runs) and a scan over the latin1 text.

interface Rule {
  name: string;
  keywords: string[];
  scan(text: string, c: Collector, path: string): void;
}

function eachMatch(re: RegExp, text: string, f: (m: RegExpExecArray) => void): void {
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    f(m);
    if (m[0].length === 0) re.lastIndex++;
  }
}

// --- PEM private keys -------------------------------------------------------------------------

/** A BEGIN line's END must follow within this many characters. */
const PEM_MAX_BODY = 65536;

const PEM_BEGIN = /-----BEGIN ((?:RSA |DSA |EC |OPENSSH |ENCRYPTED |ANY |PGP |SSH2 ENCRYPTED )?PRIVATE KEY(?: BLOCK)?)-----/g;

/** Inspect the body of a PEM block; undefined when it is not a real key (placeholder, code). */
function pemBody(raw: string): { b64: string; headers: string[] } | undefined {
  // keys embedded in JSON / source strings use "\n" escapes
  const lines = raw.replace(/\\r|\\n/g, '\n').split(/\r?\n/);
  const headers: string[] = [];
  let b64 = '';
  for (const line0 of lines) {
    const line = line0.trim();
    if (line === '') continue;
    if (/^[A-Za-z-]+: /.test(line)) {
      headers.push(line);
      continue;
    }
    if (line.startsWith('=') && line.length <= 6) continue; // PGP armor checksum
    if (!/^[A-Za-z0-9+/]+=*$/.test(line)) return undefined;
    b64 += line;
  }
  // (no isPlaceholder here: real DER/OpenSSH bodies have runs like "AAAAAAAA" from zero bytes)
  if (b64.length < 64 || entropy(b64) < 4) return undefined;
  return { b64, headers };
}

/** OpenSSH's own format: "openssh-key-v1\0", then the cipher name ("none" when unencrypted). */
function opensshCipher(b64: string): string | undefined {
  const buf = Buffer.from(b64.slice(0, 200), 'base64');
  const magic = 'openssh-key-v1\0';
  if (buf.length < magic.length + 4 || buf.toString('latin1', 0, magic.length) !== magic) return undefined;
  const n = buf.readUInt32BE(magic.length);
  if (n > 64 || buf.length < magic.length + 4 + n) return undefined;
  return buf.toString('latin1', magic.length + 4, magic.length + 4 + n);
}

const privateKeyRule: Rule = {
  name: 'private-key',
  keywords: ['PRIVATE KEY'],
  scan(text, c) {
    const begins: RegExpExecArray[] = [];
    eachMatch(PEM_BEGIN, text, (m) => void begins.push(m));
    // Per label, the first END line at or after the last place searched (-1: none left). BEGIN
    // lines come in text order, so each label's END search moves forward only: linear in total,
    // where one indexOf per BEGIN (a file of BEGIN lines without END) was quadratic.
    const nextEnd = new Map<string, number>();
    let skipTo = 0;
    for (let i = 0; i < begins.length; i++) {
      const m = begins[i]!;
      if (m.index < skipTo) continue;
      const label = m[1]!;
      const bodyStart = m.index + m[0].length;
      const endLine = `-----END ${label}-----`;
      let end = nextEnd.get(label);
      if (end === undefined || (end >= 0 && end < bodyStart)) nextEnd.set(label, (end = text.indexOf(endLine, bodyStart)));
      if (end < 0 || end - bodyStart > PEM_MAX_BODY) continue;
      // another BEGIN line inside the block: this one is not a key body (the inner BEGIN is tried
      // next); also keeps the bodies handed to pemBody disjoint
      if (i + 1 < begins.length && begins[i + 1]!.index < end) continue;
      const body = pemBody(text.slice(bodyStart, end));
      if (!body) continue;
      const kind = label.replace(/ ?PRIVATE KEY( BLOCK)?$/, '').trim() || 'PKCS#8';
      let encrypted = label.startsWith('ENCRYPTED') || label.startsWith('SSH2 ENCRYPTED') || body.headers.some((h) => /^Proc-Type:.*ENCRYPTED/i.test(h));
      if (kind === 'OPENSSH') {
        const cipher = opensshCipher(body.b64);
        if (cipher !== undefined && cipher !== 'none') encrypted = true;
      }
      const what = kind === 'PGP' ? 'PGP private key block' : `${kind === 'ENCRYPTED' || kind === 'SSH2 ENCRYPTED' ? 'encrypted PKCS#8' : kind} private key`;
      c.add(
        encrypted
          ? { check: 'secret.private-key-encrypted', severity: 'Medium', title: `Passphrase-protected ${what.replace(/^encrypted /, '')}`, index: m.index, secret: body.b64 }
          : { check: 'secret.private-key', severity: 'High', title: `${what[0]!.toUpperCase()}${what.slice(1)}`, index: m.index, secret: body.b64 },
        m.index,
        end + endLine.length,
      );
      skipTo = end;
    }
  },
};

// --- AWS ------------------------------------------------------------------------------------

const AWS_KEY_ID = /(?<![A-Za-z0-9/+])((?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Za-z0-9/+=])/g;
const AWS_SECRET_CTX = /(?:aws_?)?secret_?access_?key["']?\s*(?:=|:|=>)\s*["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi;
/** How far from a key id an unnamed secret key may be: lines either side, and characters. */
const AWS_PAIR_LINES = 6;
const AWS_PAIR_BYTES = 4096;
const B64_40 = /(?<![A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/g;

function awsSecretLooksReal(s: string): boolean {
  return /[a-z]/.test(s) && /[A-Z]/.test(s) && /[0-9/+]/.test(s) && !/EXAMPLE/i.test(s) && looksRandom(s, 4);
}

const awsRule: Rule = {
  name: 'aws',
  keywords: ['AKIA', 'ASIA', 'ecret_access_key', 'ecretAccessKey', 'ECRET_ACCESS_KEY', 'ecretaccesskey'],
  scan(text, c) {
    const secrets: Array<{ index: number; secret: string }> = [];
    eachMatch(AWS_SECRET_CTX, text, (m) => {
      if (awsSecretLooksReal(m[1]!)) secrets.push({ index: m.index + m[0].length - 40, secret: m[1]! });
    });
    let ids = 0;
    // start offsets (ascending) of the 40-char base64 tokens that look like a secret key: found
    // in one pass over the file when the first key id needs them
    let candidates: number[] | undefined;
    const lines = new Lines(text);
    eachMatch(AWS_KEY_ID, text, (m) => {
      const id = m[1]!;
      if (/EXAMPLE$/.test(id) || !looksRandom(id.slice(4), 2.5)) return; // AWS's documented example key
      ids++;
      // paired: a secret key named as such anywhere in the file, or a 40-char base64 token
      // (mixed case, digits or / +) within 6 lines of the key id (and 4 KiB: a window of lines on
      // a minified one-line file would be the whole file)
      let paired = secrets.length > 0;
      if (!paired) {
        if (!candidates) {
          const found: number[] = [];
          eachMatch(B64_40, text, (w) => {
            if (awsSecretLooksReal(w[1]!)) found.push(w.index);
          });
          candidates = found;
        }
        const line = lines.lineOf(m.index);
        const from = Math.max(lines.startOf(line - AWS_PAIR_LINES), m.index - AWS_PAIR_BYTES);
        const to = Math.min(lines.startOf(line + AWS_PAIR_LINES + 1), m.index + id.length + AWS_PAIR_BYTES);
        // the first candidate starting at or after `from`
        let lo = 0;
        let hi = candidates.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (candidates[mid]! < from) lo = mid + 1;
          else hi = mid;
        }
        paired = lo < candidates.length && candidates[lo]! + 40 <= to;
      }
      const temp = id.startsWith('ASIA');
      c.add({
        check: 'secret.aws-access-key',
        severity: paired ? 'Critical' : 'High',
        title: paired
          ? `AWS ${temp ? 'temporary ' : ''}access key id with its secret access key`
          : `AWS ${temp ? 'temporary (ASIA) ' : ''}access key id`,
        index: m.index,
        secret: id,
      });
    });
    if (ids === 0) for (const s of secrets) c.add({ check: 'secret.aws-secret-key', severity: 'High', title: 'AWS secret access key', index: s.index, secret: s.secret });
    else for (const s of secrets) c.cover(s.secret, s.index, s.index + s.secret.length);
  },
};

// --- GCP service account ---------------------------------------------------------------------

const gcpRule: Rule = {
  name: 'gcp-service-account',
  keywords: ['service_account'],
  scan(text, c) {
    const t = /"type"\s*:\s*"service_account"/.exec(text);
    if (!t) return;
    const k = /"private_key"\s*:\s*"(-----BEGIN (?:RSA )?PRIVATE KEY-----[^"]*)"/.exec(text);
    if (!k) return;
    const body = pemBody(k[1]!.replace(/-----(?:BEGIN|END) (?:RSA )?PRIVATE KEY-----/g, ''));
    if (!body) return;
    const id = /"private_key_id"\s*:\s*"([0-9a-f]{8,})"/.exec(text);
    const email = /"client_email"\s*:\s*"([^"@\s]+@[^"\s]+)"/.exec(text);
    c.add({
      check: 'secret.gcp-service-account',
      severity: 'Critical',
      title: 'Google Cloud service-account key (JSON with a private key)',
      index: t.index,
      secret: id ? id[1]! : body.b64,
      note: email ? `client_email ${email[1]}` : undefined,
    });
    c.cover(body.b64, k.index, k.index + k[0].length);
  },
};

// --- vendor tokens with documented prefixes ------------------------------------------------------

function tokenRule(
  name: string,
  keywords: string[],
  re: RegExp,
  classify: (m: RegExpExecArray) => { check: string; severity: Severity; title: string; secret?: string } | undefined,
): Rule {
  return {
    name,
    keywords,
    scan(text, c) {
      eachMatch(re, text, (m) => {
        const r = classify(m);
        if (r) c.add({ check: r.check, severity: r.severity, title: r.title, index: m.index, secret: r.secret ?? m[0] });
      });
    },
  };
}

const GITHUB_KINDS: Record<string, string> = {
  ghp: 'personal access token (classic)',
  gho: 'OAuth access token',
  ghu: 'GitHub App user-to-server token',
  ghs: 'GitHub App installation token',
  ghr: 'refresh token',
};

const githubRule = tokenRule(
  'github',
  ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'],
  /(?<![A-Za-z0-9_])(?:(gh[pousr])_([A-Za-z0-9]{36,251})|github_pat_([A-Za-z0-9]{22}_[A-Za-z0-9]{59,}))(?![A-Za-z0-9_])/g,
  (m) => {
    const body = m[2] ?? m[3]!;
    if (!looksRandom(body, 3.5)) return undefined;
    const kind = m[1] ? GITHUB_KINDS[m[1]]! : 'fine-grained personal access token';
    return { check: 'secret.github-token', severity: 'High', title: `GitHub ${kind}` };
  },
);

const GITLAB_KINDS: Record<string, string> = {
  glpat: 'personal/project/group access token',
  gldt: 'deploy token',
  glrt: 'runner authentication token',
  glptt: 'pipeline trigger token',
  glft: 'feed token',
  glagent: 'agent token',
  gloas: 'OAuth application secret',
  glsoat: 'SCIM token',
};

const gitlabRule = tokenRule(
  'gitlab',
  Object.keys(GITLAB_KINDS).map((k) => `${k}-`),
  /(?<![A-Za-z0-9_-])(glpat|gldt|glrt|glptt|glft|glagent|gloas|glsoat)-([A-Za-z0-9_.-]{20,})/g,
  (m) => {
    if (!looksRandom(m[2]!, 3.5)) return undefined;
    return { check: 'secret.gitlab-token', severity: 'High', title: `GitLab ${GITLAB_KINDS[m[1]!]}` };
  },
);

const slackRule = tokenRule(
  'slack',
  ['xoxb-', 'xoxp-', 'xoxa-', 'xoxo-', 'xoxr-', 'xoxs-', 'xoxe', 'xapp-'],
  /(?<![A-Za-z0-9])(?:xox[abpors]-(?:[0-9]+-){1,3}([A-Za-z0-9]{10,})|xoxe(?:\.xox[bp])?-1-([A-Za-z0-9-]{40,})|xapp-\d-[A-Z0-9]+-\d+-([a-f0-9]{32,}))(?![A-Za-z0-9])/g,
  (m) => {
    const body = m[1] ?? m[2] ?? m[3]!;
    if (!looksRandom(body, 3)) return undefined;
    const t = m[0].slice(0, 4);
    const kind = t === 'xoxb' ? 'bot token' : t === 'xoxp' ? 'user token' : t === 'xapp' ? 'app-level token' : t === 'xoxe' ? 'rotating token' : 'token';
    return { check: 'secret.slack-token', severity: 'High', title: `Slack ${kind}` };
  },
);

const slackWebhookRule = tokenRule(
  'slack-webhook',
  ['hooks.slack.com/'],
  /https?:\/\/hooks\.slack\.com\/(services|workflows|triggers)\/([A-Za-z0-9_]+\/[A-Za-z0-9_]+\/[A-Za-z0-9_]{16,})/g,
  (m) => {
    const secretPart = m[2]!.split('/').pop()!;
    if (!looksRandom(secretPart, 3)) return undefined;
    return { check: 'secret.slack-webhook', severity: 'Medium', title: 'Slack incoming-webhook URL', secret: secretPart };
  },
);

const stripeRule = tokenRule(
  'stripe',
  ['sk_live_', 'rk_live_'],
  /(?<![A-Za-z0-9_])([sr]k)_live_([A-Za-z0-9]{20,247})(?![A-Za-z0-9])/g,
  (m) => {
    if (!looksRandom(m[2]!, 3.5)) return undefined;
    return m[1] === 'sk'
      ? { check: 'secret.stripe-key', severity: 'Critical', title: 'Stripe live secret key' }
      : { check: 'secret.stripe-key', severity: 'High', title: 'Stripe live restricted key' };
  },
);

const npmTokenRule = tokenRule('npm-token', ['npm_'], /(?<![A-Za-z0-9_])npm_([A-Za-z0-9]{36})(?![A-Za-z0-9_])/g, (m) => {
  const body = m[1]!;
  if (!/[0-9]/.test(body) || !/[A-Z]/.test(body) || !/[a-z]/.test(body) || !looksRandom(body, 3.5)) return undefined;
  return { check: 'secret.npm-token', severity: 'High', title: 'npm access token' };
});

const pypiTokenRule = tokenRule(
  'pypi-token',
  ['pypi-AgE'],
  // a PyPI API token is a macaroon whose base64 starts with the location "pypi.org"
  /(?<![A-Za-z0-9_-])pypi-AgE[IN]cHlwaS5vcmc[A-Za-z0-9_-]{50,}/g,
  () => ({ check: 'secret.pypi-token', severity: 'High', title: 'PyPI API token' }),
);

// --- credential files by name --------------------------------------------------------------------

function unquote(v: string): string {
  let s = v.trim();
  if (s.length >= 2 && (s[0] === '"' || s[0] === "'") && s[s.length - 1] === s[0]) s = s.slice(1, -1);
  return s;
}

/**
 * Lines of a credential file longer than this are skipped by the line parsers (a real
 * `name = value` line is far shorter; the token rules still see the whole text). The parsers
 * are linear anyway; this only bounds the work done per value.
 */
const MAX_LINE = 16 * 1024;

/** Each line (split at \n, \r\n or a lone \r, as a /^…$/m pattern would) and its offset. */
function forEachLine(text: string, f: (line: string, offset: number) => void): void {
  let nl = text.indexOf('\n');
  let cr = text.indexOf('\r');
  for (let start = 0; start <= text.length; ) {
    if (nl >= 0 && nl < start) nl = text.indexOf('\n', start);
    if (cr >= 0 && cr < start) cr = text.indexOf('\r', start);
    const end = nl < 0 ? (cr < 0 ? text.length : cr) : cr < 0 ? nl : Math.min(nl, cr);
    if (end - start <= MAX_LINE) f(text.slice(start, end), start);
    start = end === cr && text.charCodeAt(end + 1) === 10 ? end + 2 : end + 1;
  }
}

/** Trailing spaces and tabs removed (what `(.*?)[ \t]*$` captured, without its quadratic backtracking). */
function trimSpTab(s: string): string {
  let e = s.length;
  while (e > 0 && (s.charCodeAt(e - 1) === 32 || s.charCodeAt(e - 1) === 9)) e--;
  return s.slice(0, e);
}

/**
 * `name = value` lines: `key` matches a line's start up to where the value begins; the value is
 * the rest of the line without trailing blanks, then unquoted. `f` gets the key match, the
 * value, and the value's text offset.
 */
function assignments(text: string, key: RegExp, f: (m: RegExpExecArray, value: string, at: number) => void): void {
  forEachLine(text, (line, offset) => {
    const m = key.exec(line);
    if (!m) return;
    const raw = trimSpTab(line.slice(m[0].length));
    const value = unquote(raw);
    f(m, value, offset + m[0].length + raw.indexOf(value));
  });
}

const NPMRC_KEY = /^[ \t]*([^\s#;=]*?)(_authToken|_auth|_password)[ \t]*=[ \t]*/;

function scanNpmrc(text: string, c: Collector): void {
  assignments(text, NPMRC_KEY, (m, value, at) => {
    if (value.length < 6 || isPlaceholder(value) || c.covered(value, at)) return;
    const scope = m[1]!.replace(/:$/, '');
    c.add({
      check: 'secret.npmrc',
      severity: 'High',
      title: `npm registry credential (${m[2]}) in .npmrc`,
      index: at,
      secret: value,
      note: scope ? `registry ${scope}` : undefined,
    });
  });
}

const YARNRC_KEY = /^[ \t]*(npmAuthToken|npmAuthIdent|npmPassword)[ \t]*:[ \t]*/;

function scanYarnrc(text: string, c: Collector): void {
  assignments(text, YARNRC_KEY, (m, value, at) => {
    if (value.length < 6 || isPlaceholder(value) || c.covered(value, at)) return;
    c.add({ check: 'secret.npmrc', severity: 'High', title: `npm registry credential (${m[1]}) in .yarnrc.yml`, index: at, secret: value });
  });
}

/** A variable name that holds a secret (for .env files). */
const SECRET_VAR = /(?:PASSWORD|PASSWD|PASSPHRASE|(?:^|_)PASS$|(?:^|_)PWD$|SECRET|TOKEN|API_?KEY|APIKEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?|AUTH(?:_|$)|DSN$|DATABASE_URL$|_URL$)/i;

const DOTENV_KEY = /^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=[ \t]*/;

function scanDotenv(text: string, c: Collector, path: string): void {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const template = /\.(?:example|sample|template|dist|defaults?|tmpl|tpl)$/i.test(base);
  forEachLine(text, (line, offset) => {
    const m = DOTENV_KEY.exec(line);
    if (!m) return;
    const name = m[1]!;
    if (!SECRET_VAR.test(name)) return;
    const raw = trimSpTab(line.slice(m[0].length));
    let value = raw;
    if (!/^["']/.test(value)) {
      // an unquoted value ends at a " #" comment
      const hash = value.search(/\s#/);
      if (hash >= 0) value = value.slice(0, hash);
    }
    value = unquote(value);
    const valueAt = offset + m[0].length + raw.indexOf(value);
    if (value.length < 4 || isPlaceholder(value) || c.covered(value, valueAt)) return;
    if (/_URL$|DSN$/i.test(name)) {
      // a URL is a secret only when it carries a password
      const u = /^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:([^/\s@]+)@/i.exec(value);
      if (!u || isPlaceholder(u[1]!)) return;
      value = u[1]!;
    }
    if (/^(?:[0-9]+|[a-z]+:\/\/[^@]*|\/[^\s]*)$/i.test(value) && !/PASS|PWD|SECRET|TOKEN|KEY/i.test(name)) return;
    c.add({
      check: 'secret.dotenv',
      severity: template ? 'Low' : 'Medium',
      title: template ? `Secret-looking value in an env template file (${base})` : `Secret in an env file (${base})`,
      index: offset + m[0].length + raw.lastIndexOf(value),
      secret: value,
      note: name,
    });
  });
}

function scanRegistryAuth(text: string, c: Collector): void {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return;
  }
  const auths = (doc as { auths?: unknown })?.auths;
  if (!auths || typeof auths !== 'object') return;
  // where each JSON string first occurs (by its raw text), found in one pass when first needed:
  // one indexOf over the file per credential was quadratic in a file with thousands of entries
  let where: Map<string, number> | undefined;
  const locate = (raw: string): number => {
    if (!where) {
      where = new Map();
      const re = /"([^"\\]*(?:\\[^][^"\\]*)*)"/g;
      let m: RegExpExecArray | null;
      while ((m = re.exec(text)) !== null) if (!where.has(m[1]!)) where.set(m[1]!, m.index + 1);
    }
    return where.get(raw) ?? 0;
  };
  for (const [host, entry] of Object.entries(auths as Record<string, unknown>)) {
    if (!entry || typeof entry !== 'object') continue;
    const e = entry as Record<string, unknown>;
    for (const field of ['auth', 'identitytoken', 'registrytoken', 'password']) {
      const v = e[field];
      if (typeof v !== 'string' || v.length < 4 || TOKEN_PLACEHOLDER.test(v)) continue;
      const at = locate(JSON.stringify(v).slice(1, -1));
      c.add({ check: 'secret.registry-auth', severity: 'High', title: 'Container registry credentials (docker/podman auth file)', index: at, secret: v, note: `registry ${host}, field ${field}` });
    }
  }
}

const GIT_CREDENTIAL = /^[ \t]*([a-z][a-z0-9+.-]*):\/\/([^:@/\s]*):([^@\s]+)@([^/\s:]+)/i;

function scanGitCredentials(text: string, c: Collector): void {
  forEachLine(text, (line, offset) => {
    const m = GIT_CREDENTIAL.exec(line);
    if (!m) return;
    const pw = m[3]!;
    if (isPlaceholder(decodeURIComponentSafe(pw))) return;
    c.add({ check: 'secret.git-credentials', severity: 'High', title: 'Git credentials (.git-credentials)', index: offset + m[0].indexOf(':' + pw) + 1, secret: pw, note: `host ${m[4]}` });
  });
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const PYPIRC_PASSWORD = /^\s*password\s*[=:]\s*/i;

function scanPypirc(text: string, c: Collector): void {
  let section = '';
  forEachLine(text, (line, offset) => {
    const sec = /^\s*\[([^\]]+)\]/.exec(line);
    if (sec) section = sec[1]!;
    const m = PYPIRC_PASSWORD.exec(line);
    if (!m) return;
    const raw = line.slice(m[0].length).trimEnd();
    const value = unquote(raw);
    const at = offset + m[0].length + raw.indexOf(value);
    if (value.length >= 4 && !isPlaceholder(value) && !c.covered(value, at)) {
      c.add({ check: 'secret.pypirc', severity: 'High', title: 'Package index password (.pypirc)', index: at, secret: value, note: section ? `section [${section}]` : undefined });
    }
  });
}

/**
 * .netrc, by whitespace-separated tokens: `machine NAME` (or `default`) starts an entry; a
 * `password PW` token pair belongs to the entry before it. (A `machine …[^]*? password` pattern
 * rescanned the rest of the file from every `machine` without a password: quadratic.)
 */
function scanNetrc(text: string, c: Collector): void {
  const token = /\S+/g;
  let machine: string | undefined;
  let next: 'machine' | 'password' | undefined;
  let m: RegExpExecArray | null;
  while ((m = token.exec(text)) !== null) {
    const t = m[0];
    if (next === 'machine') {
      machine = t;
      next = undefined;
    } else if (next === 'password') {
      next = undefined;
      if (machine === undefined || isPlaceholder(t) || c.covered(t, m.index)) continue;
      c.add({ check: 'secret.netrc', severity: 'High', title: 'Password in .netrc', index: m.index, secret: t, note: `machine ${machine}` });
    } else if (t === 'machine') next = 'machine';
    else if (t === 'default') machine = 'default';
    else if (t === 'password') next = 'password';
  }
}

// --- generic assignments in config-like files ------------------------------------------------------

const CONFIG_EXT = /\.(?:conf|cfg|cnf|ini|properties|ya?ml|toml|json|xml|env|tfvars|config|settings)$/i;

/** Config-like: by extension, or anything under etc/ (not in a third-party tree). */
export function isConfigLike(path: string): boolean {
  if (THIRD_PARTY.test(path)) return false;
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (/^(?:package(?:-lock)?|tsconfig|composer|bower|\.eslintrc|\.babelrc|manifest)\.json$/i.test(base)) return false;
  return CONFIG_EXT.test(base) || path.startsWith('etc/') || path.startsWith('usr/local/etc/');
}

// "name = value": a name (name characters ending in a keyword) then the value. Found from the
// keyword occurrences, then the value after the keyword (GENERIC_VALUE, sticky), then the name
// back to the start of its run of name characters (at most GENERIC_NAME_MAX before the keyword).
// A single pattern with a lazy name prefix, /(?<![A-Za-z0-9])([A-Za-z0-9_.-]*?(?:keywords))…/,
// rescanned a long run of name characters from every position: quadratic.
const GENERIC_KEYWORD = /password|passwd|passphrase|pwd|secret|api[_.-]?key|apikey|access[_.-]?key|private[_.-]?key|auth[_.-]?token|access[_.-]?token|token/gi;
const GENERIC_NAME_MAX = 64;
const GENERIC_XML = /<([A-Za-z0-9_.-]*?(?:password|passwd|secret|api[_.-]?key|apikey|token))>([^<\s]{8,200})<\/\1>/gi;
const GENERIC_HINT = /pass|pwd|secret|key|token|:\/\/[^/\s:@]+:[^/\s@]+@/i;
// A URL with a password: /\b[a-z][a-z0-9+.-]{0,20}:\/\/([^/\s:@'"]+):([^/\s@'"]{6,})@[A-Za-z0-9.-]+/i,
// found from each "://" (indexOf) and its scheme checked backwards. Unanchored, the scheme part
// was tried from every letter of a long run like "a+a+a+…": quadratic with an unbounded scheme.
const URL_CREDS = /:\/\/([^/\s:@'"]+):([^/\s@'"]{6,})@[A-Za-z0-9.-]+/y;
const URL_SCHEME_MAX = 21;

/** A value from a "password = …" line that looks like a real secret, not a reference or a word. */
export function genericValueLooksSecret(value: string): boolean {
  if (isPlaceholder(value)) return false;
  if (/^[A-Z][A-Z0-9_]*$/.test(value)) return false; // an env var / constant name
  if (/^[a-z]+(?:[._-][a-z]+)*$/i.test(value)) return false; // words, dotted identifiers
  if (/^[/~.]|:\/\//.test(value) || /\.(?:pem|key|crt|cer|p12|pfx|jks|txt|json|ya?ml|conf|properties|env|file)$/i.test(value)) return false; // paths, URLs, file names
  if (/^[0-9.:_-]+$/.test(value)) return false; // numbers, versions, durations
  if (/^(?:[a-z]+_)+(?:key|token|secret|password)$/i.test(value)) return false;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(value)).length;
  if (classes < 2) return value.length >= 24 && entropy(value) >= 3.5;
  return entropy(value) >= 3;
}

const isAlnum = (ch: number) => (ch >= 48 && ch <= 57) || ((ch | 32) >= 97 && (ch | 32) <= 122);
const isNameChar = (ch: number) => isAlnum(ch) || ch === 95 /* _ */ || ch === 46 /* . */ || ch === 45; /* - */

/** latin1 character classes for genericValue: a value character [^\s"'#;,<>], one that may follow a value [\s,;}\]] */
const VALUE_CHAR = 1;
const VALUE_END = 2;
const VALUE_CLASS = (() => {
  const t = new Uint8Array(256).fill(VALUE_CHAR);
  for (const ch of '\t\n\v\f\r \xa0,;') t[ch.charCodeAt(0)] = VALUE_END; // \s in latin1 text, , ;
  for (const ch of `"'#<>`) t[ch.charCodeAt(0)] = 0;
  for (const ch of '}]') t[ch.charCodeAt(0)] = VALUE_CHAR | VALUE_END;
  return t;
})();

/** `text[from, to)` are value characters other than } and ] (what genericValue already scanned). */
interface PlainRun {
  from: number;
  to: number;
}

/** The end of the text, or a character that may follow a value. */
function endsValue(text: string, p: number): boolean {
  return p >= text.length || (VALUE_CLASS[text.charCodeAt(p) & 0xff]! & VALUE_END) !== 0;
}

/**
 * The value after a keyword at `i`, as the pattern
 * /["']?[ \t]*(?:=|:|=>)[ \t]*(["']?)([^\s"'#;,<>]{8,200})\1(?=[\s,;}\]]|$)/y would match it,
 * without its backtracking: `at` and `length` of the value, and `end` after its closing quote.
 */
function genericValue(text: string, i: number, plain: PlainRun): { at: number; length: number; end: number } | undefined {
  const n = text.length;
  let ch = text.charCodeAt(i);
  if (ch === 34 || ch === 39) ch = text.charCodeAt(++i);
  while (ch === 32 || ch === 9) ch = text.charCodeAt(++i);
  if (ch === 61 /* = */) i += text.charCodeAt(i + 1) === 62 /* > */ ? 2 : 1;
  else if (ch === 58 /* : */) i++;
  else return undefined;
  ch = text.charCodeAt(i);
  while (ch === 32 || ch === 9) ch = text.charCodeAt(++i);
  const quote = ch === 34 || ch === 39 ? ch : 0;
  if (quote) i++;
  // the run of value characters (up to one past the longest allowed value), and the last place
  // in it (} or ]) a value of 8-200 characters could end
  // (what an earlier call saw is skipped: "pwd=pwd=pwd=…" would rescan 200 characters per keyword)
  let r = plain.from <= i && i < plain.to ? Math.min(plain.to - i, 201) : 0;
  let inner = -1;
  let stop = -1; // first } ] or non-value character seen
  for (; r <= 200 && i + r < n; r++) {
    const k = VALUE_CLASS[text.charCodeAt(i + r) & 0xff]!;
    if (k !== VALUE_CHAR && stop < 0) stop = i + r;
    if (!(k & VALUE_CHAR)) break;
    if (k & VALUE_END && r >= 8) inner = r;
  }
  if (stop < 0) stop = i + r;
  if (plain.from <= i && i <= plain.to) plain.to = Math.max(plain.to, stop);
  else (plain.from = i), (plain.to = stop);
  if (quote) {
    // quotes end the run: the value is all of it, then the quote
    return r >= 8 && r <= 200 && text.charCodeAt(i + r) === quote && endsValue(text, i + r + 1) ? { at: i, length: r, end: i + r + 1 } : undefined;
  }
  // the longest value (greedy) followed by a blank, , ; } ] or the end
  if (r >= 8 && r <= 200 && endsValue(text, i + r)) return { at: i, length: r, end: i + r };
  if (inner > 200) inner = -1;
  return inner >= 8 ? { at: i, length: inner, end: i + inner } : undefined;
}

/** The "name = value" assignments of a config file whose name ends in a secret keyword. */
function genericAssignments(text: string): Array<{ name: string; value: string; at: number }> {
  const out: Array<{ name: string; value: string; at: number }> = [];
  let lastEnd = 0; // end of the previous assignment: the next one starts after it
  let lastTried = -1; // keyword end already tried ("access_token" and its "token" end alike)
  const plain: PlainRun = { from: 0, to: 0 };
  GENERIC_KEYWORD.lastIndex = 0;
  let k: RegExpExecArray | null;
  while ((k = GENERIC_KEYWORD.exec(text)) !== null) {
    const kw = k.index;
    const kwEnd = kw + k[0].length;
    GENERIC_KEYWORD.lastIndex = kw + 1; // overlapping keywords: "secretoken" ends in "token"
    if (kw < lastEnd || kwEnd === lastTried) continue;
    lastTried = kwEnd;
    const v = genericValue(text, kwEnd, plain);
    if (!v) continue;
    // the name: back over name characters, then forward to a start not preceded by a letter or digit
    let start = kw;
    const min = Math.max(lastEnd, kw - GENERIC_NAME_MAX);
    while (start > min && isNameChar(text.charCodeAt(start - 1))) start--;
    while (start <= kw && start > 0 && isAlnum(text.charCodeAt(start - 1))) start++;
    if (start > kw) continue;
    out.push({ name: text.slice(start, kwEnd), value: text.slice(v.at, v.at + v.length), at: v.at });
    lastEnd = v.end;
  }
  return out;
}

const isLetter = (ch: number) => (ch | 32) >= 97 && (ch | 32) <= 122;
const isWordChar = (ch: number) => isAlnum(ch) || ch === 95;
const isSchemeChar = (ch: number) => isAlnum(ch) || ch === 43 /* + */ || ch === 46 /* . */ || ch === 45; /* - */

/** user:password@host in URLs: the user, the password and its offset. */
function urlPasswords(text: string): Array<{ user: string; pw: string; at: number }> {
  const out: Array<{ user: string; pw: string; at: number }> = [];
  let from = 0; // end of the previous match
  for (let p = text.indexOf('://'); p >= 0; p = text.indexOf('://', Math.max(p + 1, from))) {
    // the scheme: up to URL_SCHEME_MAX scheme characters before "://", starting with a letter at
    // a word boundary (the leftmost such start, as the pattern would find)
    let s = p;
    while (s > from && p - s < URL_SCHEME_MAX && isSchemeChar(text.charCodeAt(s - 1))) s--;
    while (s < p && !(isLetter(text.charCodeAt(s)) && (s === 0 || !isWordChar(text.charCodeAt(s - 1))))) s++;
    if (s === p) continue;
    URL_CREDS.lastIndex = p;
    const m = URL_CREDS.exec(text);
    if (!m) continue;
    out.push({ user: m[1]!, pw: m[2]!, at: p + 3 + m[1]!.length + 1 });
    from = URL_CREDS.lastIndex;
  }
  return out;
}

const genericRule: Rule = {
  name: 'generic',
  keywords: [], // run on config-like files only (see findSecrets)
  scan(text, c) {
    for (const a of genericAssignments(text)) {
      const { name, value, at } = a;
      if (!genericValueLooksSecret(value) || c.covered(value, at)) continue;
      c.add({ check: 'secret.generic', severity: 'Medium', title: `Hard-coded credential in a config file (${name})`, index: at, secret: value, note: name });
    }
    eachMatch(GENERIC_XML, text, (m) => {
      const value = m[2]!;
      if (!genericValueLooksSecret(value) || c.covered(value, m.index + m[0].indexOf(value))) return;
      c.add({ check: 'secret.generic', severity: 'Medium', title: `Hard-coded credential in a config file (${m[1]})`, index: m.index + m[0].indexOf(value), secret: value, note: m[1] });
    });
    for (const { user, pw, at } of urlPasswords(text)) {
      if (isPlaceholder(decodeURIComponentSafe(pw)) || pw.startsWith('$') || c.covered(pw, at)) continue;
      if (/^(?:pass(?:word)?|pwd|secret|\*+)$/i.test(pw)) continue;
      c.add({ check: 'secret.generic', severity: 'Medium', title: 'URL with an embedded password in a config file', index: at, secret: pw, note: `user ${user}` });
    }
  },
};

const CONTENT_RULES: Rule[] = [privateKeyRule, gcpRule, awsRule, githubRule, gitlabRule, slackRule, slackWebhookRule, stripeRule, npmTokenRule, pypiTokenRule];

const FILE_SCANNERS: Record<CredentialFile, ((text: string, c: Collector, path: string) => void) | undefined> = {
  npmrc: scanNpmrc,
  yarnrc: scanYarnrc,
  dotenv: scanDotenv,
  'registry-auth': scanRegistryAuth,
  'git-credentials': scanGitCredentials,
  pypirc: scanPypirc,
  netrc: scanNetrc,
  'aws-credentials': undefined, // the AWS content rule reads it
};

// ---------------------------------------------------------------------------------------------
// Keyword prefilter: one pass over the bytes with an Aho–Corasick automaton (a full 256-wide
// transition table, ~200 states) finds which rule keywords occur. Measured faster than one
// Buffer.indexOf per keyword (35 passes) or one alternation RegExp over the decoded text, and a
// file without any keyword is never decoded.

interface Automaton {
  table: Int32Array;
  /** per state: index of a keyword ending here (or at a suffix state), -1 for none */
  term: Int32Array;
  /** per keyword: the rule it belongs to */
  ruleOf: number[];
}

function buildAutomaton(rules: Rule[]): Automaton {
  const words: string[] = [];
  const ruleOf: number[] = [];
  rules.forEach((r, ri) => r.keywords.forEach((k) => (words.push(k), ruleOf.push(ri))));
  const edges: Array<Map<number, number>> = [new Map()];
  const ends: number[] = [-1];
  words.forEach((w, wi) => {
    let s = 0;
    for (let i = 0; i < w.length; i++) {
      const ch = w.charCodeAt(i) & 0xff;
      let n = edges[s]!.get(ch);
      if (n === undefined) {
        n = edges.length;
        edges.push(new Map());
        ends.push(-1);
        edges[s]!.set(ch, n);
      }
      s = n;
    }
    ends[s] = wi;
  });
  const n = edges.length;
  const fail = new Int32Array(n);
  const table = new Int32Array(n * 256);
  const term = new Int32Array(n).fill(-1);
  const queue: number[] = [];
  for (let ch = 0; ch < 256; ch++) {
    const to = edges[0]!.get(ch);
    if (to !== undefined) {
      table[ch] = to;
      queue.push(to);
    }
  }
  for (let q = 0; q < queue.length; q++) {
    const s = queue[q]!;
    term[s] = ends[s]! >= 0 ? ends[s]! : term[fail[s]!]!;
    for (let ch = 0; ch < 256; ch++) {
      const to = edges[s]!.get(ch);
      if (to !== undefined) {
        fail[to] = table[fail[s]! * 256 + ch]!;
        table[s * 256 + ch] = to;
        queue.push(to);
      } else table[s * 256 + ch] = table[fail[s]! * 256 + ch]!;
    }
  }
  return { table, term, ruleOf };
}

const AUTOMATON = buildAutomaton(CONTENT_RULES);

/** The content rules whose keywords occur in the bytes. */
function activeRules(content: Uint8Array): Rule[] {
  const { table, term, ruleOf } = AUTOMATON;
  let hit: Set<number> | undefined;
  let s = 0;
  for (let i = 0; i < content.length; i++) {
    s = table[(s << 8) | content[i]!]!;
    const w = term[s]!;
    if (w >= 0) (hit ??= new Set()).add(ruleOf[w]!);
  }
  return hit ? CONTENT_RULES.filter((_, i) => hit!.has(i)) : [];
}

// ---------------------------------------------------------------------------------------------

const SEVERITY_RANK = new Map<Severity, number>(SEVERITIES.map((s, i) => [s, i]));

/** Scan one file's bytes; one finding per check, with line numbers and redacted excerpts. */
export function findSecrets(path: string, content: Buffer): Finding[] {
  const fileKind = credentialFileKind(path);
  const configLike = fileKind === undefined && isConfigLike(path);
  const active = activeRules(content);
  if (active.length === 0 && !fileKind && !configLike) return [];
  const text = content.toString('latin1');
  const c = new Collector(text.length);
  for (const r of active) r.scan(text, c, path);
  if (fileKind) FILE_SCANNERS[fileKind]?.(text, c, path);
  else if (configLike && GENERIC_HINT.test(text)) genericRule.scan(text, c, path);
  if (c.hits.some((h) => h.check === 'secret.gcp-service-account')) {
    // the service-account finding covers the key inside it
    c.hits = c.hits.filter((h) => h.check !== 'secret.private-key');
  }
  if (c.hits.length === 0) return [];
  if (THIRD_PARTY.test(path)) {
    // A private key shipped inside a published package (a mock CA, a demo server key) is public
    // already — every image installing that version has the same bytes. Still listed, as Low.
    for (const h of c.hits) {
      if (h.check === 'secret.private-key' || h.check === 'secret.private-key-encrypted') {
        h.severity = 'Low';
        h.title += ' bundled in a third-party package (usually a public test or demo key)';
      }
    }
  }

  const lines = new Lines(text);
  const byCheck = new Map<string, Hit[]>();
  for (const h of c.hits) {
    const list = byCheck.get(h.check);
    if (list) list.push(h);
    else byCheck.set(h.check, [h]);
  }
  const out: Finding[] = [];
  for (const [check, hits0] of byCheck) {
    const hits = hits0.sort((a, b) => a.index - b.index);
    // the most severe occurrence gives the finding its severity and title
    let top = hits[0]!;
    for (const h of hits) if (SEVERITY_RANK.get(h.severity)! > SEVERITY_RANK.get(top.severity)!) top = h;
    const shown = hits.slice(0, 5).map((h) => `line ${lines.lineOf(h.index)}: ${redact(h.secret)}${h.note ? ` (${h.note})` : ''}`);
    const more = hits.length > 5 ? `; and ${hits.length - 5} more` : '';
    out.push({
      check,
      severity: top.severity,
      title: top.title,
      detail: `${hits.length} occurrence${hits.length === 1 ? '' : 's'} in /${path} — ${shown.join('; ')}${more}. Anyone who can pull the image can read it, even if a later layer deletes the file: rotate the credential and keep it out of the build (build secrets, multi-stage builds).`,
      path,
    });
  }
  return out;
}

export const secretsAnalyzer: FileAnalyzer = {
  name: 'secrets',
  version: 2,
  maxBytes: SECRETS_MAX_BYTES,
  wants(path: string, info: FileInfo): boolean {
    if (info.type !== 'file' || info.size > SECRETS_MAX_BYTES || info.size === 0) return false;
    const kind = credentialFileKind(path);
    if (!kind) return false;
    // credential-named files count anywhere, except .env files inside third-party test trees
    return kind !== 'dotenv' || !isNoisyPath(path);
  },
  wantsContent(path: string, info: FileInfo, head: Buffer): boolean {
    if (info.type !== 'file' || info.size > SECRETS_MAX_BYTES || info.size < 20) return false;
    return !isNoisyPath(path) && looksLikeText(head);
  },
  analyze(path: string, content: Buffer): AnalyzerOutput {
    return { findings: findSecrets(path, content) };
  },
};
