import { describe, expect, test } from 'vitest';
import { TokenSigner } from './jwt.ts';
import { hashPassword, passwordPolicyError, sha256hex, verifyPassword } from './secrets.ts';
import { LoginLimiter } from './limiter.ts';
import { Identity, parseScope, tokenAllows } from './identity.ts';
import { IdentityStore } from './store.ts';
import { openMetadata } from '../metadata/open.ts';
import { createLogger } from '../logger.ts';

describe('passwords', () => {
  test('hash and verify; wrong password and unknown user fail', async () => {
    const h = await hashPassword('Secret123');
    expect(h).toMatch(/^scrypt\$15\$8\$1\$/);
    expect(h).not.toContain('Secret123');
    expect(await verifyPassword('Secret123', h)).toBe(true);
    expect(await verifyPassword('Secret124', h)).toBe(false);
    expect(await verifyPassword('Secret123', null)).toBe(false);
    expect(await verifyPassword('x', 'garbage')).toBe(false);
  });
  test("Harbor's policy", () => {
    expect(passwordPolicyError('Abcdefg1')).toBeNull();
    expect(passwordPolicyError('abcdefg1')).toMatch(/upper/);
    expect(passwordPolicyError('ABCDEFG1')).toMatch(/lower|upper/);
    expect(passwordPolicyError('Abcdefgh')).toMatch(/digit/);
    expect(passwordPolicyError('Ab1')).toMatch(/8 to 128/);
    expect(passwordPolicyError('A1' + 'a'.repeat(127))).toMatch(/8 to 128/);
    expect(passwordPolicyError(42)).toMatch(/required/);
  });
});

describe('token signer', () => {
  const claims = { iss: 'wharf', sub: 'alice', aud: 'svc', exp: Math.floor(Date.now() / 1000) + 60, access: [{ type: 'repository', name: 'p/r', actions: ['pull'] }], wharf: { k: 'u' as const, id: 7 } };
  test('round trip', () => {
    const s = TokenSigner.ephemeral();
    const c = s.verify(s.sign(claims), 'svc');
    expect(c?.sub).toBe('alice');
    expect(tokenAllows(c!, 'p/r', 'pull')).toBe(true);
    expect(tokenAllows(c!, 'p/r', 'push')).toBe(false);
    expect(tokenAllows(c!, 'q/r', 'pull')).toBe(false);
  });
  test('wrong audience, expiry, tampering and another key are refused', () => {
    const s = TokenSigner.ephemeral();
    const t = s.sign(claims);
    expect(s.verify(t, 'other')).toBeNull();
    expect(s.verify(s.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 1 }), 'svc')).toBeNull();
    const [h, b, sig] = t.split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(b, 'base64url').toString()), access: [{ type: 'repository', name: 'p/r', actions: ['push'] }] })).toString('base64url');
    expect(s.verify(`${h}.${forged}.${sig}`, 'svc')).toBeNull();
    expect(TokenSigner.ephemeral().verify(t, 'svc')).toBeNull();
    expect(s.verify('a.b', 'svc')).toBeNull();
    const none = Buffer.from(JSON.stringify({ alg: 'none', kid: s.kid })).toString('base64url');
    expect(s.verify(`${none}.${b}.`, 'svc')).toBeNull();
  });
});

describe('login limiter', () => {
  test('locks a name after N failures, whether or not it exists, then unlocks', () => {
    const l = new LoginLimiter({ maxFailures: 3, maxFailuresPerIp: 100, windowMs: 1000, lockMs: 5000 });
    for (let i = 0; i < 2; i++) l.fail('alice', '1.1.1.1', 0);
    expect(l.locked('alice', '1.1.1.1', 1)).toBe(false);
    l.fail('ALICE', '1.1.1.1', 2);
    expect(l.locked('alice', '2.2.2.2', 3)).toBe(true);
    expect(l.locked('bob', '1.1.1.1', 3)).toBe(false);
    expect(l.locked('alice', undefined, 5003)).toBe(false);
  });
  test('locks an address after its own threshold', () => {
    const l = new LoginLimiter({ maxFailures: 100, maxFailuresPerIp: 3, windowMs: 1000, lockMs: 5000 });
    for (const u of ['a', 'b', 'c']) l.fail(u, '9.9.9.9', 0);
    expect(l.locked('zed', '9.9.9.9', 1)).toBe(true);
    expect(l.locked('zed', '8.8.8.8', 1)).toBe(false);
  });
});

test('parseScope', () => {
  expect(parseScope('repository:p/r:pull,push')).toEqual({ type: 'repository', name: 'p/r', actions: ['pull', 'push'] });
  expect(parseScope('repository:localhost:5000/p/r:pull')).toEqual({ type: 'repository', name: 'localhost:5000/p/r', actions: ['pull'] });
  expect(parseScope('repository(plugin):p/r:*')).toEqual({ type: 'repository', name: 'p/r', actions: ['*'] });
  expect(parseScope('registry:catalog:*')).toEqual({ type: 'registry', name: 'catalog', actions: ['*'] });
  expect(parseScope('nonsense')).toBeNull();
  expect(parseScope('repository::pull')).toBeNull();
});

describe('Identity', async () => {
  const meta = await openMetadata('sqlite::memory:');
  const store = new IdentityStore(meta);
  const identity = new Identity(store, { signer: TokenSigner.ephemeral(), service: 'svc', tokenTtlSec: 300, limiter: new LoginLimiter({ maxFailures: 3, maxFailuresPerIp: 1000, windowMs: 60_000, lockMs: 60_000 }), logger: createLogger('silent') });
  const alice = await store.createUser({ username: 'alice', passwordHash: await hashPassword('Alice1234') });
  const admin = await store.createUser({ username: 'root', passwordHash: await hashPassword('Root12345'), sysadmin: true });
  const priv = await store.createProject({ name: 'priv', ownerId: admin.id, public: false, metadata: {} });
  const pub = await store.createProject({ name: 'pub', ownerId: admin.id, public: true, metadata: {} });

  test('a verified credential is cached: the second login does not hash again', async () => {
    let calls = 0;
    const orig = store.getUserByName.bind(store);
    store.getUserByName = async (n: string) => (calls++, orig(n));
    expect((await identity.login('alice', 'Alice1234'))?.kind).toBe('user');
    expect((await identity.login('alice', 'Alice1234'))?.kind).toBe('user');
    expect(calls).toBe(1);
    store.getUserByName = orig;
    expect(await identity.login('alice', 'wrong')).toBeNull();
  });

  test('changed() forgets cached credentials: a deleted user stops at once', async () => {
    const bob = await store.createUser({ username: 'bob', passwordHash: await hashPassword('Bob123456') });
    expect(await identity.login('bob', 'Bob123456')).not.toBeNull();
    await store.deleteUser(bob.id);
    identity.changed();
    expect(await identity.login('bob', 'Bob123456')).toBeNull();
  });

  test('token scopes follow the role table and the project', async () => {
    const s = (await identity.login('alice', 'Alice1234'))!;
    expect(await identity.repositoryActions(s, 'priv/app', ['pull', 'push'])).toEqual([]);
    expect(await identity.repositoryActions(s, 'pub/app', ['pull', 'push'])).toEqual(['pull']);
    await store.addMember(priv.id, alice.id, 2); // developer
    identity.changed();
    expect(await identity.repositoryActions(s, 'priv/app', ['pull', 'push', 'delete'])).toEqual(['pull', 'push']);
    expect(await identity.repositoryActions(s, 'nosuch/app', ['pull'])).toEqual([]);
    const root = (await identity.login('root', 'Root12345'))!;
    expect(await identity.repositoryActions(root, 'nosuch/app', ['pull', 'push'])).toEqual(['pull', 'push']);
    expect(pub.public).toBe(true);
  });

  test('personal access tokens are limited to their scopes and die with their user', async () => {
    const t = await store.createToken({ userId: alice.id, name: 'ci', tokenHash: 'x', scopes: ['pull'], expiresAt: -1 });
    const secret = `wpat_${t.id}_${'A'.repeat(30)}`;
    await meta.db.updateTable('access_tokens').set({ token_hash: sha256hex(secret) }).where('id', '=', t.id).execute();
    const s = (await identity.login('alice', secret))!;
    expect(s.kind === 'user' && s.tokenId).toBe(t.id);
    expect(await identity.repositoryActions(s, 'priv/app', ['pull', 'push'])).toEqual(['pull']);
    expect(await identity.login('root', secret)).toBeNull(); // someone else's token
    const issued = await identity.issueToken(s, ['repository:priv/app:pull,push']);
    const b = await identity.bearer(issued.token);
    expect(b?.claims.access).toEqual([{ type: 'repository', name: 'priv/app', actions: ['pull'] }]);
    await store.deleteToken(alice.id, t.id);
    identity.changed();
    expect(await identity.bearer(issued.token)).toBeNull();
    expect(await identity.login('alice', secret)).toBeNull();
  });

  test('lock-out answers like a wrong password, for real and unknown names alike', async () => {
    for (let i = 0; i < 3; i++) {
      expect(await identity.login('carol-does-not-exist', `bad${i}`)).toBeNull();
      expect(await identity.login('root', `bad${i}`)).toBeNull();
    }
    identity.changed();
    expect(await identity.login('root', 'Root12345')).toBeNull(); // locked although correct
  });
});

test('the audit log batches entries and skips configured operations', async () => {
  const meta = await openMetadata('sqlite::memory:');
  const store = new IdentityStore(meta);
  const { AuditLog } = await import('./audit.ts');
  const audit = new AuditLog(store, createLogger('silent'), ['pull']);
  for (let i = 0; i < 1203; i++) audit.record({ username: 'u', operation: i % 2 ? 'pull' : 'create', resourceType: 'artifact', resource: `p/r:${i}`, projectId: null, clientIp: null });
  await audit.flush();
  const all = await store.queryAudit({ offset: 0, limit: 10_000 });
  expect(all.total).toBe(602);
  expect(all.items.every((e) => e.operation === 'create')).toBe(true);
  await meta.close();
});
