import { describe, expect, it } from 'vitest';
import {
  ACTIONS,
  RESOURCES,
  ROLES,
  ROLE_IDS,
  decide,
  grantedActions,
  publicAllows,
  roleAllows,
  roleFromId,
  rolePermissions,
  type Action,
  type Principal,
  type Resource,
  type Role,
} from './permissions.ts';

// The expected table, written out independently of the implementation: one line per
// (role, resource) that has any grant, listing the allowed actions. Everything not
// listed must be denied. Transcribed from Harbor's rbac_role.go, role by role.
const ALL_RESOURCES = [
  'project', 'member', 'metadata', 'log', 'label', 'quota', 'repository', 'tag-retention',
  'immutable-tag', 'helm-chart', 'helm-chart-version', 'helm-chart-version-label', 'configuration',
  'robot', 'notification-policy', 'scan', 'scanner', 'artifact', 'artifact-addition', 'tag',
  'accessory', 'artifact-label', 'preheat-policy',
];
const ALL_ACTIONS = ['create', 'read', 'update', 'delete', 'list', 'pull', 'push', 'operate', 'stop'];

const EXPECTED: Record<Role, string> = {
  projectAdmin: `
    project: read update delete
    member: create read update delete list
    metadata: create read update delete
    log: list
    label: create read update delete list
    quota: read
    repository: create read update delete list pull push
    tag-retention: create read update delete list operate
    immutable-tag: create update delete list
    helm-chart: create read delete list
    helm-chart-version: create read delete list
    helm-chart-version-label: create delete list
    configuration: read update
    robot: create read update delete list
    notification-policy: create update delete list read
    scan: create read stop
    scanner: read create
    artifact: create read delete list
    artifact-addition: read
    tag: list create delete
    accessory: list
    artifact-label: create delete
    preheat-policy: create read update delete list
  `,
  maintainer: `
    project: read
    member: read list
    metadata: create read update delete
    log: list
    quota: read
    label: create read update delete list
    repository: create read update delete list push pull
    tag-retention: create read update delete list operate
    accessory: list
    immutable-tag: create update delete list
    helm-chart: create read delete list
    helm-chart-version: create read delete list
    helm-chart-version-label: create delete list
    configuration: read
    robot: read list
    notification-policy: list
    scan: create read stop
    scanner: read
    artifact: create read delete list
    artifact-addition: read
    tag: list create delete
    artifact-label: create delete
  `,
  developer: `
    project: read
    member: read list
    log: list
    label: read list
    quota: read
    repository: create read update list push pull
    tag-retention: create read update delete list operate
    helm-chart: create read list
    helm-chart-version: create read list
    helm-chart-version-label: create delete list
    configuration: read
    robot: read list
    scan: read
    scanner: read
    artifact: create read list
    artifact-addition: read
    tag: list create
    accessory: list
    artifact-label: create delete
  `,
  guest: `
    project: read
    member: read list
    log: list
    label: read list
    quota: read
    repository: read list pull
    helm-chart: read list
    helm-chart-version: read list
    configuration: read
    robot: read list
    scan: read
    scanner: read
    tag: list
    accessory: list
    artifact: read list
    artifact-addition: read
  `,
  limitedGuest: `
    project: read
    quota: read
    repository: list pull
    helm-chart: read list
    helm-chart-version: read list
    configuration: read
    scan: read
    scanner: read
    tag: list
    accessory: list
    artifact: read list
    artifact-addition: read
  `,
};

// Harbor's publicProjectPolicies (rbac_util.go).
const EXPECTED_PUBLIC = `
  project: read
  label: read list
  repository: list pull
  helm-chart: read list
  helm-chart-version: read list
  scan: read
  scanner: read
  tag: list
  artifact: read list
  artifact-addition: read
  accessory: list
`;

function parse(listing: string): Set<string> {
  const out = new Set<string>();
  for (const raw of listing.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const [resource, actions] = line.split(':');
    expect(ALL_RESOURCES).toContain(resource);
    for (const action of actions!.trim().split(/\s+/)) {
      expect(ALL_ACTIONS).toContain(action);
      const key = `${resource}:${action}`;
      expect(out.has(key), `duplicate ${key}`).toBe(false);
      out.add(key);
    }
  }
  return out;
}

const expectedByRole = Object.fromEntries(
  Object.entries(EXPECTED).map(([role, listing]) => [role, parse(listing)]),
) as Record<Role, Set<string>>;
const expectedPublic = parse(EXPECTED_PUBLIC);

const ALL_ROLES: Role[] = ['projectAdmin', 'maintainer', 'developer', 'guest', 'limitedGuest'];

describe('vocabulary', () => {
  it('has exactly Harbor’s project resources, actions and roles', () => {
    expect([...RESOURCES].sort()).toEqual([...ALL_RESOURCES].sort());
    expect([...ACTIONS].sort()).toEqual([...ALL_ACTIONS].sort());
    expect([...ROLES].sort()).toEqual([...ALL_ROLES].sort());
  });

  it('uses Harbor’s role numbering', () => {
    expect(ROLE_IDS).toEqual({ projectAdmin: 1, developer: 2, guest: 3, maintainer: 4, limitedGuest: 5 });
    expect(roleFromId(1)).toBe('projectAdmin');
    expect(roleFromId(2)).toBe('developer');
    expect(roleFromId(3)).toBe('guest');
    expect(roleFromId(4)).toBe('maintainer');
    expect(roleFromId(5)).toBe('limitedGuest');
    expect(roleFromId(0)).toBeNull();
    expect(roleFromId(6)).toBeNull();
  });

  it('grant counts per role', () => {
    expect(Object.fromEntries(ALL_ROLES.map((r) => [r, rolePermissions(r).length]))).toEqual({
      projectAdmin: 80,
      maintainer: 61,
      developer: 42,
      guest: 24,
      limitedGuest: 16,
    });
  });
});

describe('roleAllows: every role × resource × action', () => {
  const cases: [Role, string, string, boolean][] = [];
  for (const role of ALL_ROLES) {
    for (const resource of ALL_RESOURCES) {
      for (const action of ALL_ACTIONS) {
        cases.push([role, resource, action, expectedByRole[role].has(`${resource}:${action}`)]);
      }
    }
  }

  it('covers the whole cube', () => {
    expect(cases.length).toBe(5 * 23 * 9);
  });

  it.each(cases)('%s %s:%s → %s', (role, resource, action, allowed) => {
    expect(roleAllows(role, resource as Resource, action as Action)).toBe(allowed);
  });

  it('rolePermissions lists exactly the expected set', () => {
    for (const role of ALL_ROLES) {
      const got = new Set(rolePermissions(role).map((p) => `${p.resource}:${p.action}`));
      expect(got).toEqual(expectedByRole[role]);
    }
  });

  it('roles nest: limitedGuest ⊆ guest ⊆ developer ⊆ maintainer ⊆ projectAdmin', () => {
    const sub = (a: Set<string>, b: Set<string>) => [...a].filter((k) => !b.has(k));
    expect(sub(expectedByRole.limitedGuest, expectedByRole.guest)).toEqual([]);
    expect(sub(expectedByRole.guest, expectedByRole.developer)).toEqual([]);
    expect(sub(expectedByRole.developer, expectedByRole.maintainer)).toEqual([]);
    expect(sub(expectedByRole.maintainer, expectedByRole.projectAdmin)).toEqual([]);
  });

  it('denies unknown roles, resources and actions', () => {
    expect(roleAllows('owner' as Role, 'repository', 'pull')).toBe(false);
    expect(roleAllows('projectAdmin', 'catalog' as Resource, 'read')).toBe(false);
    expect(roleAllows('projectAdmin', 'repository', '*' as Action)).toBe(false);
    expect(roleAllows('projectAdmin', 'toString' as Resource, 'read')).toBe(false);
    expect(roleAllows('__proto__' as Role, 'repository', 'pull')).toBe(false);
  });
});

describe('decide', () => {
  const PUBLIC = { public: true };
  const PRIVATE = { public: false };
  const anonymous: Principal = { kind: 'anonymous' };
  const nonMember: Principal = { kind: 'user', sysadmin: false, projectRole: null };
  const admin: Principal = { kind: 'user', sysadmin: true, projectRole: null };

  it('anonymous and non-members: exactly the public set in public projects, nothing in private ones', () => {
    for (const who of [anonymous, nonMember]) {
      for (const resource of ALL_RESOURCES) {
        for (const action of ALL_ACTIONS) {
          const r = resource as Resource;
          const a = action as Action;
          expect(decide(who, PUBLIC, r, a), `${who.kind} public ${resource}:${action}`).toBe(
            expectedPublic.has(`${resource}:${action}`),
          );
          expect(decide(who, PRIVATE, r, a), `${who.kind} private ${resource}:${action}`).toBe(false);
          expect(publicAllows(r, a)).toBe(expectedPublic.has(`${resource}:${action}`));
        }
      }
    }
  });

  it('anonymous can pull from a public project but not push, and nothing from a private one', () => {
    expect(decide(anonymous, PUBLIC, 'repository', 'pull')).toBe(true);
    expect(decide(anonymous, PUBLIC, 'artifact', 'read')).toBe(true);
    expect(decide(anonymous, PUBLIC, 'tag', 'list')).toBe(true);
    expect(decide(anonymous, PUBLIC, 'repository', 'push')).toBe(false);
    expect(decide(anonymous, PUBLIC, 'repository', 'delete')).toBe(false);
    expect(decide(anonymous, PRIVATE, 'repository', 'pull')).toBe(false);
  });

  it('sysadmin may do everything, public or private, member or not', () => {
    const admins: Principal[] = [admin, { kind: 'user', sysadmin: true, projectRole: 'limitedGuest' }];
    for (const who of admins) {
      for (const ctx of [PUBLIC, PRIVATE]) {
        for (const resource of ALL_RESOURCES) {
          for (const action of ALL_ACTIONS) {
            expect(decide(who, ctx, resource as Resource, action as Action)).toBe(true);
          }
        }
      }
    }
  });

  it('members: role grants in private projects, role ∪ public set in public ones', () => {
    for (const role of ALL_ROLES) {
      const who: Principal = { kind: 'user', sysadmin: false, projectRole: role };
      for (const resource of ALL_RESOURCES) {
        for (const action of ALL_ACTIONS) {
          const key = `${resource}:${action}`;
          const r = resource as Resource;
          const a = action as Action;
          expect(decide(who, PRIVATE, r, a), `${role} private ${key}`).toBe(expectedByRole[role].has(key));
          expect(decide(who, PUBLIC, r, a), `${role} public ${key}`).toBe(
            expectedByRole[role].has(key) || expectedPublic.has(key),
          );
        }
      }
    }
    // A limited guest does not see labels on its own, but does in a public project.
    const lg: Principal = { kind: 'user', sysadmin: false, projectRole: 'limitedGuest' };
    expect(decide(lg, PRIVATE, 'label', 'list')).toBe(false);
    expect(decide(lg, PUBLIC, 'label', 'list')).toBe(true);
  });

  it('robots get exactly their grants in private projects, plus the public set in public ones', () => {
    const robot: Principal = {
      kind: 'robot',
      permissions: [
        { resource: 'repository', action: 'push' },
        { resource: 'artifact', action: 'delete' },
      ],
    };
    for (const ctx of [PUBLIC, PRIVATE]) {
      for (const resource of ALL_RESOURCES) {
        for (const action of ALL_ACTIONS) {
          const granted =
            (resource === 'repository' && action === 'push') || (resource === 'artifact' && action === 'delete') || (ctx.public && publicAllows(resource as Resource, action as Action));
          expect(decide(robot, ctx, resource as Resource, action as Action), `${resource}:${action}`).toBe(granted);
        }
      }
    }
    const nothing: Principal = { kind: 'robot', permissions: [] };
    expect(decide(nothing, PUBLIC, 'repository', 'pull')).toBe(true);
    expect(decide(nothing, PUBLIC, 'repository', 'push')).toBe(false);
    expect(decide(nothing, PRIVATE, 'repository', 'pull')).toBe(false);
  });
});

describe('grantedActions (docker token repository scope)', () => {
  const PUBLIC = { public: true };
  const PRIVATE = { public: false };
  const member = (role: Role): Principal => ({ kind: 'user', sysadmin: false, projectRole: role });
  const robot = (...actions: Action[]): Principal => ({
    kind: 'robot',
    permissions: actions.map((action) => ({ resource: 'repository' as const, action })),
  });

  it('filters pull/push/delete by repository permission, per role', () => {
    const req = ['pull', 'push', 'delete'];
    expect(grantedActions(member('projectAdmin'), PRIVATE, req)).toEqual(['pull', 'push', 'delete']);
    expect(grantedActions(member('maintainer'), PRIVATE, req)).toEqual(['pull', 'push', 'delete']);
    expect(grantedActions(member('developer'), PRIVATE, req)).toEqual(['pull', 'push']);
    expect(grantedActions(member('guest'), PRIVATE, req)).toEqual(['pull']);
    expect(grantedActions(member('limitedGuest'), PRIVATE, req)).toEqual(['pull']);
  });

  it('only grants what was requested', () => {
    expect(grantedActions(member('projectAdmin'), PRIVATE, ['pull'])).toEqual(['pull']);
    expect(grantedActions(member('developer'), PRIVATE, ['push'])).toEqual(['push']);
    expect(grantedActions(member('developer'), PRIVATE, [])).toEqual([]);
  });

  it('anonymous and non-members: pull only, and only in public projects', () => {
    const nonMember: Principal = { kind: 'user', sysadmin: false, projectRole: null };
    for (const who of [{ kind: 'anonymous' } as Principal, nonMember]) {
      expect(grantedActions(who, PUBLIC, ['pull', 'push'])).toEqual(['pull']);
      expect(grantedActions(who, PRIVATE, ['pull', 'push'])).toEqual([]);
      expect(grantedActions(who, PUBLIC, ['*'])).toEqual(['pull']);
    }
  });

  it('"*" is granted only with pull, push and delete all allowed, and expands to the allowed ones', () => {
    const admin: Principal = { kind: 'user', sysadmin: true, projectRole: null };
    expect(grantedActions(admin, PRIVATE, ['*'])).toEqual(['pull', 'push', 'delete', '*']);
    expect(grantedActions(member('maintainer'), PRIVATE, ['*'])).toEqual(['pull', 'push', 'delete', '*']);
    expect(grantedActions(member('developer'), PRIVATE, ['*'])).toEqual(['pull', 'push']);
    expect(grantedActions(member('guest'), PRIVATE, ['*'])).toEqual(['pull']);
  });

  it('push does not imply pull (each checked on its own, as Harbor does)', () => {
    expect(grantedActions(robot('push'), PRIVATE, ['pull', 'push'])).toEqual(['push']);
    expect(grantedActions(robot('pull'), PRIVATE, ['pull', 'push'])).toEqual(['pull']);
    expect(grantedActions(robot('pull', 'push', 'delete'), PRIVATE, ['*'])).toEqual(['pull', 'push', 'delete', '*']);
  });

  it('robots in public projects get their grants plus pull', () => {
    expect(grantedActions(robot(), PUBLIC, ['pull', 'push'])).toEqual(['pull']);
    expect(grantedActions(robot(), PRIVATE, ['pull'])).toEqual([]);
  });

  it('drops unknown actions and duplicates, keeps canonical order', () => {
    expect(grantedActions(member('projectAdmin'), PRIVATE, ['delete', 'bogus', 'pull', 'pull', 'scanner-pull'])).toEqual([
      'pull',
      'delete',
    ]);
  });
});
