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

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

const PLACEHOLDER_WORDS = /example|xxxx|placeholder|^your|your[-_ ]|dummy|sample|redacted|changeme|change[-_]me|^replace|replace[-_ ]?me|^insert|^fake|fake[-_]|\*\*\*|\.\.\.|<[^>]*>|\$\{|\{\{|\$\(|%\(|<%|^\$|env\(|environ|process\.env|^(?:none|null|nil|true|false|undefined|test|secret|password|token)$/i;

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

class Collector {
  readonly hits: Hit[] = [];
  /** secrets already reported by a specific rule: the loose rules do not report them again */
  readonly seen = new Set<string>();
  add(h: Hit): void {
    this.hits.push(h);
    this.seen.add(h.secret);
  }
  covered(value: string): boolean {
    for (const s of this.seen) if (value.includes(s) || s.includes(value)) return true;
    return false;
  }
}

class Lines {
  private starts: number[] | undefined;
  constructor(private readonly text: string) {}
  /** 1-based line number of a character offset */
  lineOf(index: number): number {
    if (!this.starts) {
      const s = [0];
      let i = -1;
      while ((i = this.text.indexOf('\n', i + 1)) >= 0) s.push(i + 1);
      this.starts = s;
    }
    const s = this.starts;
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
    eachMatch(PEM_BEGIN, text, (m) => {
      const label = m[1]!;
      const bodyStart = m.index + m[0].length;
      const end = text.indexOf(`-----END ${label}-----`, bodyStart);
      if (end < 0 || end - bodyStart > 65536) return;
      const body = pemBody(text.slice(bodyStart, end));
      if (!body) return;
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
      );
      PEM_BEGIN.lastIndex = end;
    });
  },
};

// --- AWS ------------------------------------------------------------------------------------

const AWS_KEY_ID = /(?<![A-Za-z0-9/+])((?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Za-z0-9/+=])/g;
const AWS_SECRET_CTX = /(?:aws_?)?secret_?access_?key["']?\s*(?:=|:|=>)\s*["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi;
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
    eachMatch(AWS_KEY_ID, text, (m) => {
      const id = m[1]!;
      if (/EXAMPLE$/.test(id) || !looksRandom(id.slice(4), 2.5)) return; // AWS's documented example key
      ids++;
      // paired: a secret key named as such anywhere in the file, or a 40-char base64 token
      // (mixed case, digits or / +) within 5 lines of the key id
      let paired = secrets.length > 0;
      if (!paired) {
        let from = m.index;
        let to = m.index + id.length;
        for (let i = 0; i < 6 && from > 0; i++) from = text.lastIndexOf('\n', from - 1);
        for (let i = 0; i < 6 && to >= 0 && to < text.length; i++) to = text.indexOf('\n', to + 1);
        const win = text.slice(Math.max(0, from), to < 0 ? text.length : to);
        eachMatch(B64_40, win, (w) => {
          if (!paired && awsSecretLooksReal(w[1]!)) paired = true;
        });
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
    else for (const s of secrets) c.seen.add(s.secret);
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
    c.seen.add(body.b64);
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

function lineMatches(text: string, re: RegExp, f: (m: RegExpExecArray) => void): void {
  eachMatch(re, text, f);
}

function scanNpmrc(text: string, c: Collector): void {
  lineMatches(text, /^[ \t]*([^\s#;=]*?)(_authToken|_auth|_password)[ \t]*=[ \t]*(.*?)[ \t]*\r?$/gm, (m) => {
    const value = unquote(m[3]!);
    if (value.length < 6 || isPlaceholder(value) || c.covered(value)) return;
    const scope = m[1]!.replace(/:$/, '');
    c.add({
      check: 'secret.npmrc',
      severity: 'High',
      title: `npm registry credential (${m[2]}) in .npmrc`,
      index: m.index + m[0].indexOf(m[3]!),
      secret: value,
      note: scope ? `registry ${scope}` : undefined,
    });
  });
}

function scanYarnrc(text: string, c: Collector): void {
  lineMatches(text, /^[ \t]*(npmAuthToken|npmAuthIdent|npmPassword)[ \t]*:[ \t]*(.*?)[ \t]*\r?$/gm, (m) => {
    const value = unquote(m[2]!);
    if (value.length < 6 || isPlaceholder(value) || c.covered(value)) return;
    c.add({ check: 'secret.npmrc', severity: 'High', title: `npm registry credential (${m[1]}) in .yarnrc.yml`, index: m.index + m[0].indexOf(m[2]!), secret: value });
  });
}

/** A variable name that holds a secret (for .env files). */
const SECRET_VAR = /(?:PASSWORD|PASSWD|PASSPHRASE|(?:^|_)PASS$|(?:^|_)PWD$|SECRET|TOKEN|API_?KEY|APIKEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?|AUTH(?:_|$)|DSN$|DATABASE_URL$|_URL$)/i;

function scanDotenv(text: string, c: Collector, path: string): void {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const template = /\.(?:example|sample|template|dist|defaults?|tmpl|tpl)$/i.test(base);
  lineMatches(text, /^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=[ \t]*(.*?)[ \t]*\r?$/gm, (m) => {
    const name = m[1]!;
    if (!SECRET_VAR.test(name)) return;
    let value = m[2]!;
    if (!/^["']/.test(value)) value = value.replace(/\s+#.*$/, '');
    value = unquote(value);
    if (value.length < 4 || isPlaceholder(value) || c.covered(value)) return;
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
      index: m.index + m[0].lastIndexOf(value),
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
  for (const [host, entry] of Object.entries(auths as Record<string, unknown>)) {
    if (!entry || typeof entry !== 'object') continue;
    const e = entry as Record<string, unknown>;
    for (const field of ['auth', 'identitytoken', 'registrytoken', 'password']) {
      const v = e[field];
      if (typeof v !== 'string' || v.length < 4 || TOKEN_PLACEHOLDER.test(v)) continue;
      const at = text.indexOf(JSON.stringify(v).slice(1, -1));
      c.add({ check: 'secret.registry-auth', severity: 'High', title: 'Container registry credentials (docker/podman auth file)', index: Math.max(0, at), secret: v, note: `registry ${host}, field ${field}` });
    }
  }
}

function scanGitCredentials(text: string, c: Collector): void {
  lineMatches(text, /^[ \t]*([a-z][a-z0-9+.-]*):\/\/([^:@/\s]*):([^@\s]+)@([^/\s:]+)/gim, (m) => {
    const pw = m[3]!;
    if (isPlaceholder(decodeURIComponentSafe(pw))) return;
    c.add({ check: 'secret.git-credentials', severity: 'High', title: 'Git credentials (.git-credentials)', index: m.index + m[0].indexOf(':' + pw) + 1, secret: pw, note: `host ${m[4]}` });
  });
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function scanPypirc(text: string, c: Collector): void {
  let section = '';
  const lines = text.split('\n');
  let offset = 0;
  for (const line of lines) {
    const sec = /^\s*\[([^\]]+)\]/.exec(line);
    if (sec) section = sec[1]!;
    const m = /^\s*password\s*[=:]\s*(.*?)\s*\r?$/i.exec(line);
    if (m) {
      const value = unquote(m[1]!);
      if (value.length >= 4 && !isPlaceholder(value) && !c.covered(value)) {
        c.add({ check: 'secret.pypirc', severity: 'High', title: 'Package index password (.pypirc)', index: offset + line.indexOf(m[1]!), secret: value, note: section ? `section [${section}]` : undefined });
      }
    }
    offset += line.length + 1;
  }
}

function scanNetrc(text: string, c: Collector): void {
  lineMatches(text, /(?:^|\s)machine\s+(\S+)[^]*?\spassword\s+(\S+)/g, (m) => {
    const pw = m[2]!;
    if (isPlaceholder(pw) || c.covered(pw)) return;
    c.add({ check: 'secret.netrc', severity: 'High', title: 'Password in .netrc', index: m.index + m[0].lastIndexOf(pw), secret: pw, note: `machine ${m[1]}` });
  });
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

const GENERIC_ASSIGN =
  /(?<![A-Za-z0-9])([A-Za-z0-9_.-]*?(?:password|passwd|passphrase|pwd|secret|api[_.-]?key|apikey|access[_.-]?key|private[_.-]?key|auth[_.-]?token|access[_.-]?token|token))["']?[ \t]*(?:=|:|=>)[ \t]*(["']?)([^\s"'#;,<>]{8,200})\2(?=[\s,;}\]]|$)/gi;
const GENERIC_XML = /<([A-Za-z0-9_.-]*?(?:password|passwd|secret|api[_.-]?key|apikey|token))>([^<\s]{8,200})<\/\1>/gi;
const GENERIC_HINT = /pass|pwd|secret|key|token|:\/\/[^/\s:@]+:[^/\s@]+@/i;
const URL_PASSWORD = /\b[a-z][a-z0-9+.-]*:\/\/([^/\s:@'"]+):([^/\s@'"]{6,})@[A-Za-z0-9.-]+/gi;

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

const genericRule: Rule = {
  name: 'generic',
  keywords: [], // run on config-like files only (see findSecrets)
  scan(text, c) {
    eachMatch(GENERIC_ASSIGN, text, (m) => {
      const value = m[3]!;
      if (!genericValueLooksSecret(value) || c.covered(value)) return;
      c.add({ check: 'secret.generic', severity: 'Medium', title: `Hard-coded credential in a config file (${m[1]})`, index: m.index + m[0].lastIndexOf(value), secret: value, note: m[1] });
    });
    eachMatch(GENERIC_XML, text, (m) => {
      const value = m[2]!;
      if (!genericValueLooksSecret(value) || c.covered(value)) return;
      c.add({ check: 'secret.generic', severity: 'Medium', title: `Hard-coded credential in a config file (${m[1]})`, index: m.index + m[0].indexOf(value), secret: value, note: m[1] });
    });
    eachMatch(URL_PASSWORD, text, (m) => {
      const pw = m[2]!;
      if (isPlaceholder(decodeURIComponentSafe(pw)) || pw.startsWith('$') || c.covered(pw)) return;
      if (/^(?:pass(?:word)?|pwd|secret|\*+)$/i.test(pw)) return;
      c.add({ check: 'secret.generic', severity: 'Medium', title: 'URL with an embedded password in a config file', index: m.index + m[0].indexOf(':' + pw + '@') + 1, secret: pw, note: `user ${m[1]}` });
    });
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
  const c = new Collector();
  for (const r of active) r.scan(text, c, path);
  if (fileKind) FILE_SCANNERS[fileKind]?.(text, c, path);
  else if (configLike && GENERIC_HINT.test(text)) genericRule.scan(text, c, path);
  if (c.hits.some((h) => h.check === 'secret.gcp-service-account')) {
    // the service-account finding covers the key inside it
    for (let i = c.hits.length - 1; i >= 0; i--) if (c.hits[i]!.check === 'secret.private-key') c.hits.splice(i, 1);
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
  version: 1,
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
