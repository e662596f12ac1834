// Every secret here is generated at test time: random characters in the vendor's documented token
// shape, or a fresh key pair. Nothing real (or reusable) is committed.
import { generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { entropy, findSecrets, isNoisyPath, looksLikeText, redact, secretsAnalyzer } from './secrets.ts';
import type { FileInfo, Finding } from '../types.ts';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const B64 = ALNUM + '/+';
function rand(n: number, alphabet = ALNUM): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[randomInt(alphabet.length)];
  return s;
}
/** random, but with every character class the detectors look for */
function randMixed(n: number, alphabet = ALNUM): string {
  for (;;) {
    const s = rand(n, alphabet);
    if (/[a-z]/.test(s) && /[A-Z]/.test(s) && /[0-9]/.test(s) && !/(.)\1{5,}/.test(s)) return s;
  }
}
const digits = (n: number) => rand(n, '0123456789');

const info = (path: string, size = 100): FileInfo => ({ path, size, mode: 0o600, type: 'file' });

function scan(path: string, text: string): Finding[] {
  const out = secretsAnalyzer.analyze(path, Buffer.from(text), info(path, text.length));
  if (out instanceof Promise) throw new Error('secrets analyzer must be synchronous');
  return out.findings ?? [];
}

/** The full secret, and any 8-character run of it past the shown prefix, is absent from the output. */
function expectRedacted(findings: Finding[], secret: string): void {
  const json = JSON.stringify(findings);
  expect(json).not.toContain(secret);
  for (let i = 4; i + 8 <= secret.length; i += 4) expect(json).not.toContain(secret.slice(i, i + 8));
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');

function pemBody(pem: string): string {
  return pem
    .split('\n')
    .filter((l) => l && !l.startsWith('-----') && !l.includes(':'))
    .join('');
}

/** An OpenSSH-format private key ("openssh-key-v1") with the given cipher; random key material. */
function opensshKey(cipher: string): string {
  const str = (b: Buffer | string) => {
    const buf = typeof b === 'string' ? Buffer.from(b) : b;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(buf.length);
    return Buffer.concat([len, buf]);
  };
  const one = Buffer.from([0, 0, 0, 1]);
  const pub = Buffer.concat([str('ssh-ed25519'), str(randomBytes(32))]);
  const blob = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    str(cipher),
    str(cipher === 'none' ? 'none' : 'bcrypt'),
    str(cipher === 'none' ? Buffer.alloc(0) : randomBytes(24)),
    one,
    str(pub),
    str(randomBytes(160)),
  ]);
  const b64 = blob.toString('base64').replace(/(.{70})/g, '$1\n');
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

describe('private keys', () => {
  const cases: Array<[string, string, string, string]> = [
    ['RSA PKCS#1', rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string, 'secret.private-key', 'RSA private key'],
    ['RSA PKCS#8', rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'secret.private-key', 'PKCS#8 private key'],
    ['EC SEC1', ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string, 'secret.private-key', 'EC private key'],
    ['Ed25519 PKCS#8', ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'secret.private-key', 'PKCS#8 private key'],
    ['OpenSSH', opensshKey('none'), 'secret.private-key', 'OPENSSH private key'],
    [
      'encrypted PKCS#8',
      rsa.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'not-a-secret' }) as string,
      'secret.private-key-encrypted',
      'Passphrase-protected PKCS#8 private key',
    ],
    [
      'encrypted PKCS#1 (Proc-Type header)',
      rsa.privateKey.export({ type: 'pkcs1', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'not-a-secret' }) as string,
      'secret.private-key-encrypted',
      'Passphrase-protected RSA private key',
    ],
    ['encrypted OpenSSH', opensshKey('aes256-ctr'), 'secret.private-key-encrypted', 'Passphrase-protected OPENSSH private key'],
  ];
  it.each(cases)('%s', (_name, pem, check, title) => {
    const f = scan('app/keys/server.key', `# deploy key\n\n${pem}`);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ check, title, severity: check === 'secret.private-key' ? 'High' : 'Medium', path: 'app/keys/server.key' });
    expect(f[0]!.detail).toContain('line 3: ');
    expectRedacted(f, pemBody(pem));
  });

  it('a DSA-labelled block and a key inside a JSON string with \\n escapes', () => {
    const body = pemBody(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const dsa = `-----BEGIN DSA PRIVATE KEY-----\n${body.replace(/(.{64})/g, '$1\n')}\n-----END DSA PRIVATE KEY-----\n`;
    expect(scan('etc/x/dsa.pem', dsa)[0]!.title).toBe('DSA private key');
    const json = JSON.stringify({ key: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) });
    const f = scan('srv/app/config/key.json', json);
    expect(f.map((x) => x.check)).toEqual(['secret.private-key']);
    expectRedacted(f, body);
  });

  it('two keys in one file: one finding, two occurrences', () => {
    const pem = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
    const pem2 = ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string;
    const f = scan('root/keys.pem', pem + pem2);
    expect(f).toHaveLength(1);
    expect(f[0]!.detail).toMatch(/^2 occurrences/);
    expect(f[0]!.severity).toBe('High');
  });

  it('a key bundled in a third-party package is Low', () => {
    const pem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const [f] = scan('usr/lib/python3/dist-packages/mockserver/ca.key', pem);
    expect(f).toMatchObject({ check: 'secret.private-key', severity: 'Low' });
    expect(f!.title).toContain('third-party package');
  });

  it.each([
    ['public key', rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string],
    ['PKCS#1 public key', rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string],
    ['certificate-shaped block', `-----BEGIN CERTIFICATE-----\n${pemBody(rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string)}\n-----END CERTIFICATE-----\n`],
    ['ssh public key', `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${rand(43, B64)} user@host\n`],
    ['PEM parser source', "if (line === '-----BEGIN RSA PRIVATE KEY-----') {\n  inKey = true;\n} else if (line === '-----END RSA PRIVATE KEY-----') {}\n"],
    ['a truncated example in docs', '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA...\n-----END RSA PRIVATE KEY-----\n'],
    ['a key built by string concatenation', "const k = '-----BEGIN PRIVATE KEY-----\\n' + body + '\\n-----END PRIVATE KEY-----';\n"],
    ['BEGIN without END', `-----BEGIN RSA PRIVATE KEY-----\n${rand(64 * 10, B64)}\n`],
  ])('no finding: %s', (_name, text) => {
    expect(scan('app/src/file.js', text)).toEqual([]);
  });
});

describe('cloud credentials', () => {
  const keyId = () => 'AKIA' + rand(16, UPPER_DIGITS);
  const awsSecret = () => randMixed(40, B64);

  it('AWS access key id alone: High', () => {
    const id = keyId();
    const f = scan('app/settings.js', `module.exports = {\n  accessKeyId: "${id}",\n};\n`);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ check: 'secret.aws-access-key', severity: 'High', title: 'AWS access key id' });
    expect(f[0]!.detail).toContain('line 2: AKIA…');
    expectRedacted(f, id);
  });

  it('AWS key id + secret in ~/.aws/credentials: Critical, the secret never shown', () => {
    const id = keyId();
    const secret = awsSecret();
    const f = scan('root/.aws/credentials', `[default]\naws_access_key_id = ${id}\naws_secret_access_key = ${secret}\nregion = eu-west-1\n`);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ check: 'secret.aws-access-key', severity: 'Critical', title: 'AWS access key id with its secret access key', path: 'root/.aws/credentials' });
    expectRedacted(f, id);
    expectRedacted(f, secret);
  });

  it('AWS key id with an unnamed 40-char secret nearby (env style): Critical; temporary ASIA key', () => {
    const id = 'ASIA' + rand(16, UPPER_DIGITS);
    const secret = awsSecret();
    const f = scan('app/deploy.sh', `#!/bin/sh\nexport K=${id}\nexport S=${secret}\n`);
    expect(f[0]).toMatchObject({ check: 'secret.aws-access-key', severity: 'Critical' });
    expect(f[0]!.title).toContain('temporary');
  });

  it('a named AWS secret key without a key id', () => {
    const secret = awsSecret();
    const f = scan('app/config.py', `AWS_SECRET_ACCESS_KEY = "${secret}"\n`);
    expect(f).toEqual([expect.objectContaining({ check: 'secret.aws-secret-key', severity: 'High' })]);
    expectRedacted(f, secret);
  });

  it("AWS's documented example keys are skipped", () => {
    const text = 'aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n';
    expect(scan('root/.aws/credentials', text)).toEqual([]);
  });

  it('AKIA inside base64 data or a longer word is not a key id', () => {
    expect(scan('app/data.txt', `blob: ${rand(30, B64)}AKIA${rand(16, UPPER_DIGITS)}x${rand(20, B64)}\n`)).toEqual([]);
    expect(scan('app/data.txt', `XAKIA${rand(16, UPPER_DIGITS)}\n`)).toEqual([]);
  });

  it('GCP service-account JSON: Critical, one finding (the embedded key is not reported twice)', () => {
    const keyId = randomBytes(20).toString('hex');
    const pem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const json = JSON.stringify(
      {
        type: 'service_account',
        project_id: 'demo-project',
        private_key_id: keyId,
        private_key: pem,
        client_email: 'builder@demo-project.iam.gserviceaccount.com',
        client_id: digits(21),
        token_uri: 'https://oauth2.googleapis.com/token',
      },
      null,
      2,
    );
    const f = scan('app/gcp-key.json', json);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ check: 'secret.gcp-service-account', severity: 'Critical' });
    expect(f[0]!.detail).toContain('builder@demo-project.iam.gserviceaccount.com');
    expect(f[0]!.detail).toContain('line 2:');
    expectRedacted(f, keyId);
    expectRedacted(f, pemBody(pem));
  });

  it('a service-account JSON without a private key is not a credential', () => {
    expect(scan('app/sa.json', JSON.stringify({ type: 'service_account', client_email: 'a@b.iam.gserviceaccount.com' }))).toEqual([]);
  });
});

describe('vendor tokens', () => {
  const tokens: Array<[string, () => string, string, string, string]> = [
    ['GitHub classic PAT', () => 'ghp_' + randMixed(36), 'secret.github-token', 'High', 'GitHub personal access token (classic)'],
    ['GitHub OAuth', () => 'gho_' + randMixed(36), 'secret.github-token', 'High', 'GitHub OAuth access token'],
    ['GitHub user-to-server', () => 'ghu_' + randMixed(36), 'secret.github-token', 'High', 'GitHub GitHub App user-to-server token'],
    ['GitHub installation', () => 'ghs_' + randMixed(36), 'secret.github-token', 'High', 'GitHub GitHub App installation token'],
    ['GitHub refresh', () => 'ghr_' + randMixed(36), 'secret.github-token', 'High', 'GitHub refresh token'],
    ['GitHub fine-grained', () => `github_pat_${randMixed(22)}_${randMixed(59)}`, 'secret.github-token', 'High', 'GitHub fine-grained personal access token'],
    ['GitLab PAT', () => 'glpat-' + randMixed(20, ALNUM + '_-'), 'secret.gitlab-token', 'High', 'GitLab personal/project/group access token'],
    ['GitLab runner', () => 'glrt-' + randMixed(20, ALNUM + '_-'), 'secret.gitlab-token', 'High', 'GitLab runner authentication token'],
    ['Slack bot', () => `xoxb-${digits(12)}-${digits(13)}-${randMixed(24)}`, 'secret.slack-token', 'High', 'Slack bot token'],
    ['Slack user', () => `xoxp-${digits(12)}-${digits(12)}-${digits(13)}-${rand(32, '0123456789abcdef')}`, 'secret.slack-token', 'High', 'Slack user token'],
    ['Stripe live secret', () => 'sk_live_' + randMixed(99), 'secret.stripe-key', 'Critical', 'Stripe live secret key'],
    ['Stripe restricted', () => 'rk_live_' + randMixed(24), 'secret.stripe-key', 'High', 'Stripe live restricted key'],
    ['npm token', () => 'npm_' + randMixed(36), 'secret.npm-token', 'High', 'npm access token'],
    ['PyPI token', () => 'pypi-AgEIcHlwaS5vcmc' + randMixed(120, ALNUM + '_-'), 'secret.pypi-token', 'High', 'PyPI API token'],
  ];
  it.each(tokens)('%s', (_n, make, check, severity, title) => {
    const token = make();
    const text = `# generated\nconst client = new Client({\n  token: "${token}",\n});\n`;
    const f = scan('app/src/client.js', text);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ check, severity, title, path: 'app/src/client.js' });
    expect(f[0]!.detail).toContain(`line 3: ${redact(token)}`);
    expectRedacted(f, token);
  });

  it('Slack webhook URL: Medium, the secret path part redacted', () => {
    const secret = randMixed(24);
    const url = `https://hooks.slack.com/services/T${rand(10, UPPER_DIGITS)}/B${rand(10, UPPER_DIGITS)}/${secret}`;
    const f = scan('app/notify.py', `WEBHOOK = "${url}"\n`);
    expect(f).toEqual([expect.objectContaining({ check: 'secret.slack-webhook', severity: 'Medium' })]);
    expectRedacted(f, secret);
  });

  it.each([
    ['placeholder GitHub token', `token: ghp_${'x'.repeat(36)}`],
    ['GitHub prefix inside an identifier', `my_ghp_${randMixed(36)}`],
    ['short GitLab token', 'glpat-abc123'],
    ['Stripe publishable key (public by design)', `pk_live_${randMixed(24)}`],
    ['Stripe test key', `sk_test_${randMixed(24)}`],
    ['npm env variable names', 'process.env.npm_config_registry; npm_package_version; npm_lifecycle_event'],
    ['npm token all lowercase', `npm_${rand(36, 'abcdefghijklmnopqrstuvwxyz')}`],
    ['Slack doc example', 'xoxb-your-token-here'],
  ])('no finding: %s', (_n, text) => {
    expect(scan('app/src/x.js', text + '\n')).toEqual([]);
  });
});

describe('credential files', () => {
  it('.npmrc with _authToken, _auth and _password', () => {
    const uuid = `${rand(8, '0123456789abcdef')}-${rand(4, '0123456789abcdef')}-4${rand(3, '0123456789abcdef')}-a${rand(3, '0123456789abcdef')}-${rand(12, '0123456789abcdef')}`;
    const auth = Buffer.from(`ci:${randMixed(16)}`).toString('base64');
    const pw = Buffer.from(randMixed(16)).toString('base64');
    const text = `registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=${uuid}\n//npm.example.com/:_auth="${auth}"\n//npm.example.com/:_password=${pw}\nalways-auth=true\n`;
    const f = scan('root/.npmrc', text);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ check: 'secret.npmrc', severity: 'High', path: 'root/.npmrc' });
    expect(f[0]!.detail).toMatch(/^3 occurrences/);
    expect(f[0]!.detail).toContain('line 2: ');
    expect(f[0]!.detail).toContain('registry //registry.npmjs.org/');
    for (const s of [uuid, auth, pw]) expectRedacted(f, s);
  });

  it('.npmrc with an npm_ token reports the token once (as npm-token)', () => {
    const token = 'npm_' + randMixed(36);
    const f = scan('home/node/.npmrc', `//registry.npmjs.org/:_authToken=${token}\n`);
    expect(f.map((x) => x.check)).toEqual(['secret.npm-token']);
  });

  it('.npmrc reading the token from the environment is fine', () => {
    expect(scan('app/.npmrc', '//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n')).toEqual([]);
  });

  it('.npmrc inside a published package is still wanted', () => {
    expect(secretsAnalyzer.wants('app/node_modules/left-pad/.npmrc', info('x'))).toBe(true);
  });

  it('.env: secret-looking assignments, names listed, values redacted', () => {
    const pw = randMixed(14);
    const key = randMixed(32);
    const dbpw = randMixed(12);
    const text = [
      '# app settings',
      'NODE_ENV=production',
      'PORT=3000',
      `DB_PASSWORD=${pw}`,
      `export STRIPE_API_KEY='${key}'`,
      'SESSION_SECRET=',
      'GITHUB_TOKEN=${GITHUB_TOKEN}',
      'JWT_SECRET=changeme',
      `DATABASE_URL=postgres://app:${dbpw}@db:5432/app`,
      'REDIS_URL=redis://cache:6379/0',
      'PASSWORD_MIN_LENGTH=12',
    ].join('\n');
    const f = scan('srv/app/.env', text);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ check: 'secret.dotenv', severity: 'Medium', title: 'Secret in an env file (.env)' });
    expect(f[0]!.detail).toMatch(/^3 occurrences/);
    expect(f[0]!.detail).toContain('line 4: ');
    expect(f[0]!.detail).toContain('(DB_PASSWORD)');
    expect(f[0]!.detail).toContain('(STRIPE_API_KEY)');
    expect(f[0]!.detail).toContain('(DATABASE_URL)');
    expect(f[0]!.detail).not.toContain('PASSWORD_MIN_LENGTH');
    for (const s of [pw, key, dbpw]) expectRedacted(f, s);
  });

  it('.env.example values are Low', () => {
    const f = scan('app/.env.example', `API_KEY=${randMixed(20)}\n`);
    expect(f[0]).toMatchObject({ check: 'secret.dotenv', severity: 'Low' });
  });

  it('docker config.json with auths: registry hosts named, auth redacted; credential helpers are fine', () => {
    const auth = Buffer.from(`robot:${randMixed(32)}`).toString('base64');
    const cfg = JSON.stringify({ auths: { 'registry.example.com': { auth }, 'https://index.docker.io/v1/': {} }, credHelpers: { 'gcr.io': 'gcloud' } }, null, '\t');
    const f = scan('root/.docker/config.json', cfg);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ check: 'secret.registry-auth', severity: 'High' });
    expect(f[0]!.detail).toContain('registry registry.example.com, field auth');
    expectRedacted(f, auth);
    expect(scan('root/.docker/config.json', JSON.stringify({ credsStore: 'desktop', auths: { 'ghcr.io': {} } }))).toEqual([]);
    expect(secretsAnalyzer.wants('kaniko/.docker/config.json', info('x'))).toBe(true);
    expect(secretsAnalyzer.wants('run/containers/0/auth.json', info('x'))).toBe(true);
  });

  it('.git-credentials', () => {
    const pw = 'ghp_' + randMixed(36);
    const pw2 = randMixed(20);
    const f = scan('root/.git-credentials', `https://ci-bot:${pw}@github.com\nhttps://deploy:${pw2}@gitlab.example.com\n`);
    const gc = f.find((x) => x.check === 'secret.git-credentials')!;
    expect(gc).toMatchObject({ severity: 'High' });
    expect(gc.detail).toContain('host gitlab.example.com');
    expect(f.map((x) => x.check).sort()).toEqual(['secret.git-credentials', 'secret.github-token']);
    expectRedacted(f, pw);
    expectRedacted(f, pw2);
  });

  it('.pypirc password', () => {
    const pw = randMixed(18);
    const f = scan('root/.pypirc', `[distutils]\nindex-servers = internal\n\n[internal]\nrepository = https://pypi.example.com\nusername = ci\npassword = ${pw}\n`);
    expect(f).toEqual([expect.objectContaining({ check: 'secret.pypirc', severity: 'High' })]);
    expect(f[0]!.detail).toContain('line 7: ');
    expect(f[0]!.detail).toContain('section [internal]');
    expectRedacted(f, pw);
  });

  it('.netrc password', () => {
    const pw = randMixed(18);
    const f = scan('root/.netrc', `machine api.example.com\n  login ci\n  password ${pw}\n`);
    expect(f).toEqual([expect.objectContaining({ check: 'secret.netrc', severity: 'High' })]);
    expect(f[0]!.detail).toContain('machine api.example.com');
    expectRedacted(f, pw);
  });
});

describe('generic assignments in config files', () => {
  it('reports random-looking values in config-like files', () => {
    const pw = randMixed(16) + '!';
    const key = randMixed(32);
    const xml = randMixed(20);
    const yaml = `database:\n  host: db\n  password: "${pw}"\nservice:\n  api_key: ${key}\n`;
    const f = scan('etc/myapp/config.yaml', yaml);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ check: 'secret.generic', severity: 'Medium' });
    expect(f[0]!.detail).toMatch(/^2 occurrences/);
    expect(f[0]!.detail).toContain('line 3: ');
    expectRedacted(f, pw);
    expectRedacted(f, key);
    const fx = scan('opt/app/conf/server.xml', `<config>\n  <dbPassword>${xml}</dbPassword>\n</config>\n`);
    expect(fx[0]).toMatchObject({ check: 'secret.generic' });
    expectRedacted(fx, xml);
  });

  it('URL with a password in a config file', () => {
    const pw = randMixed(14);
    const f = scan('app/config/database.yml', `production:\n  url: postgres://app:${pw}@db.internal:5432/app\n`);
    expect(f[0]).toMatchObject({ check: 'secret.generic', title: 'URL with an embedded password in a config file' });
    expectRedacted(f, pw);
  });

  it.each([
    ['placeholders and references', 'password: ${DB_PASSWORD}\napi_key: <your-api-key>\nsecret: "{{ .Values.secret }}"\ntoken: changeme\npassword: %(pw)s\n'],
    ['words, file names, env names, numbers', 'password_file: /run/secrets/db\nsecret: db-credentials\napi_key: API_KEY_FROM_ENV\nprivate_key: /etc/ssl/private/server.key\ntoken_ttl: 3600\naccess_token: refresh_token_value\n'],
    ['key names that only contain the word', 'secretName: my-tls-secret\npasswordAuthentication: disabled\ntokenizer: whitespace-splitter\nPasswordMinLength: 12\n'],
    ['a URL with a placeholder password', 'url: postgres://user:password@localhost/db\nurl2: mysql://root:${MYSQL_ROOT_PASSWORD}@db/app\n'],
  ])('no finding: %s', (_n, text) => {
    expect(scan('etc/myapp/config.yaml', text)).toEqual([]);
  });

  it('source code is not config-like: loose assignments are not reported there', () => {
    expect(scan('app/src/db.py', `password = "${randMixed(16)}"\n`)).toEqual([]);
  });
});

describe('file selection', () => {
  it.each([
    ['usr/share/doc/openssl/README.md', true],
    ['usr/share/man/man1/ssh.1.gz', true],
    ['usr/share/locale/de/LC_MESSAGES/x.mo', true],
    ['usr/lib/python3.11/test/keycert.pem', true],
    ['usr/local/lib/python3.12/test/certdata/keycert.pem', true],
    ['root/.pyenv/versions/3.9.18/lib/python3.9/test/keycert.pem', true],
    ['usr/local/go/src/crypto/tls/testdata/example-key.pem', true],
    ['usr/local/go/src/crypto/tls/handshake_test.go', true],
    ['app/node_modules/jsonwebtoken/test/priv.pem', true],
    ['app/node_modules/some-lib/README.md', true],
    ['app/node_modules/some-lib/lib/index.spec.js', true],
    ['usr/lib/python3/dist-packages/requests/docs/x.txt', true],
    ['usr/lib/python3/dist-packages/foo/tests/data/key.pem', true],
    ['var/lib/dpkg/info/openssl.list', true],
    ['app/test/fixtures/key.pem', false],
    ['app/README.md', false],
    ['etc/ssl/private/ssl-cert-snakeoil.key', false],
    ['app/node_modules/some-lib/lib/index.js', false],
    ['root/.ssh/id_ed25519', false],
  ])('isNoisyPath(%s) = %s', (path, noisy) => expect(isNoisyPath(path)).toBe(noisy));

  it('wantsContent: text heads under 1 MiB only', () => {
    const text = Buffer.from('key: value\n'.repeat(100));
    expect(secretsAnalyzer.wantsContent!('app/x.conf', info('app/x.conf', 1100), text)).toBe(true);
    expect(secretsAnalyzer.wantsContent!('app/x.conf', info('app/x.conf', 2 * 1024 * 1024), text)).toBe(false);
    expect(secretsAnalyzer.wantsContent!('usr/bin/ls', info('usr/bin/ls', 5000), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0]))).toBe(false);
    expect(secretsAnalyzer.wantsContent!('usr/share/doc/x/copyright', info('x', 1100), text)).toBe(false);
    expect(looksLikeText(Buffer.from('héllo wörld\n\tok'))).toBe(true);
    expect(looksLikeText(randomBytes(256))).toBe(false);
  });

  it('wants: credential file names by path; .env in a package test tree is not', () => {
    for (const p of ['root/.npmrc', 'app/.env', 'app/.env.production', 'root/.git-credentials', 'root/.pypirc', 'root/.netrc', 'home/ci/.aws/credentials', 'root/.docker/config.json', 'app/.yarnrc.yml']) {
      expect(secretsAnalyzer.wants(p, info(p))).toBe(true);
    }
    for (const p of ['app/node_modules/dotenv/tests/.env', 'app/config.json', 'root/.docker/daemon.json', 'app/.environment']) {
      expect(secretsAnalyzer.wants(p, info(p))).toBe(false);
    }
    expect(secretsAnalyzer.wants('root/.npmrc', info('root/.npmrc', 0))).toBe(false);
  });
});

describe('helpers', () => {
  it('redact shows four characters', () => {
    expect(redact('ghp_abcdef')).toBe('ghp_…');
    expect(redact('ab')).toBe('ab…');
  });
  it('entropy', () => {
    expect(entropy('aaaa')).toBe(0);
    expect(entropy('abcd')).toBe(2);
    expect(entropy(randMixed(40, B64))).toBeGreaterThan(4);
  });
  it('a file without any keyword is cheap and empty', () => {
    expect(scan('app/src/big.js', 'const x = 1;\n'.repeat(50_000))).toEqual([]);
  });
  it('analyzer metadata', () => {
    expect(secretsAnalyzer).toMatchObject({ name: 'secrets', version: 2, maxBytes: 1024 * 1024 });
  });
});
