// `wharf user add|passwd`, `wharf project create`, `wharf robot create`: against the local
// database (the default; the same config as `serve`) or, with --server, through the API of a
// running Wharf. Passwords come from --password-stdin (or WHARF_CLI_PASSWORD for --server's own
// login), never from the command line, so they stay out of shell history and `ps`.
import type { Command } from 'commander';
import { loadConfig } from '../config/config.ts';
import { openMetadata } from '../metadata/open.ts';
import { IdentityStore, ConflictError } from '../identity/store.ts';
import { hashPassword, newSecret, passwordPolicyError, sha256hex } from '../identity/secrets.ts';
import { RESOURCES, ACTIONS } from '../rbac/permissions.ts';
import { bootstrapIdentity } from '../identity/bootstrap.ts';
import { createLogger } from '../logger.ts';
import { emailFormatOk, usernameError } from '../api/users.ts';

interface Common {
  config?: string;
  server?: string;
  user?: string;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function die(msg: string, code = 1): never {
  console.error(`wharf: ${msg}`);
  process.exit(code);
}

async function withLocal<T>(o: Common, fn: (s: IdentityStore) => Promise<T>): Promise<T> {
  const cfg = loadConfig(process.env, o.config);
  const meta = await openMetadata(cfg.databaseUrl, { sqliteSynchronous: cfg.sqliteSynchronous });
  try {
    const store = new IdentityStore(meta);
    // A fresh data dir: create the admin and `library` first, exactly as `serve` would.
    await bootstrapIdentity(store, cfg.adminPassword, createLogger(cfg.logLevel));
    return await fn(store);
  } finally {
    await meta.close();
  }
}

async function api(o: Common, method: string, path: string, body?: unknown): Promise<{ status: number; json: any; headers: Headers }> {
  const pw = process.env.WHARF_CLI_PASSWORD;
  if (!o.user || pw === undefined) die('--server needs --user and the password in WHARF_CLI_PASSWORD');
  const r = await fetch(`${o.server!.replace(/\/+$/, '')}/api/v2.0${path}`, {
    method,
    headers: { Authorization: `Basic ${Buffer.from(`${o.user}:${pw}`).toString('base64')}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  if (r.status >= 400) die(`${method} ${path}: ${r.status} ${json?.errors?.[0]?.message ?? text}`);
  return { status: r.status, json, headers: r.headers };
}

const common = (c: Command) =>
  c
    .option('-c, --config <file>', 'YAML configuration file (local database mode)')
    .option('--server <url>', 'talk to a running Wharf at this URL instead of the local database')
    .option('--user <name>', 'with --server: who to log in as (password in WHARF_CLI_PASSWORD)');

export function registerAdminCommands(program: Command): void {
  const user = program.command('user').description('manage users');
  common(user.command('add <username>'))
    .description('create a user; the password is read from standard input')
    .option('--password-stdin', 'read the password from standard input (the only way; accepted for familiarity)')
    .option('--email <email>')
    .option('--realname <name>')
    .option('--admin', 'make the user a system admin')
    .action(async (username: string, o: Common & { email?: string; realname?: string; admin?: boolean }) => {
      // The same rules as POST /users, also for the local database.
      const uerr = usernameError(username);
      if (uerr) die(uerr, 2);
      if (o.email !== undefined && !emailFormatOk(o.email)) die(`invalid e-mail address ${JSON.stringify(o.email)}`, 2);
      const password = await readStdin();
      const bad = passwordPolicyError(password);
      if (bad) die(bad, 2);
      if (o.server) {
        const r = await api(o, 'POST', '/users', { username, password, email: o.email ?? `${username}@wharf.local`, realname: o.realname ?? username });
        const id = r.headers.get('location')?.split('/').pop();
        if (o.admin) await api(o, 'PUT', `/users/${id}/sysadmin`, { sysadmin_flag: true });
        console.log(`created user ${username} (id ${id})`);
        return;
      }
      await withLocal(o, async (s) => {
        try {
          const u = await s.createUser({ username, email: o.email ?? null, realname: o.realname ?? null, passwordHash: await hashPassword(password), sysadmin: !!o.admin });
          console.log(`created user ${u.username} (id ${u.id})`);
        } catch (e) {
          if (e instanceof ConflictError) die(e.message);
          throw e;
        }
      });
    });
  common(user.command('passwd <username>'))
    .description("set a user's password; the new password is read from standard input")
    .option('--password-stdin', 'read the password from standard input (the only way)')
    .action(async (username: string, o: Common) => {
      const password = await readStdin();
      const bad = passwordPolicyError(password);
      if (bad) die(bad, 2);
      if (o.server) {
        if (o.user === username) {
          // Your own password: the server wants the current one, which is the one we log in with.
          const me = await api(o, 'GET', '/users/current');
          await api(o, 'PUT', `/users/${me.json.user_id}/password`, { old_password: process.env.WHARF_CLI_PASSWORD, new_password: password });
          console.log(`password of ${username} changed`);
          return;
        }
        const found = await api(o, 'GET', `/users?q=${encodeURIComponent(`username=${username}`)}`);
        const u = (found.json as any[]).find((x) => x.username === username);
        if (!u) die(`no user ${username}`);
        await api(o, 'PUT', `/users/${u.user_id}/password`, { new_password: password });
        console.log(`password of ${username} changed`);
        return;
      }
      await withLocal(o, async (s) => {
        const u = await s.getUserByName(username);
        if (!u) die(`no user ${username}`);
        await s.updateUser(u.id, { passwordHash: await hashPassword(password) });
        await s.deleteSessionsOf(u.id);
        console.log(`password of ${username} changed (a running server notices within 30 s)`);
      });
    });

  const project = program.command('project').description('manage projects');
  common(project.command('create <name>'))
    .description('create a project')
    .option('--public', 'anyone may pull')
    .option('--owner <username>', 'project admin (local mode; default admin)')
    .action(async (name: string, o: Common & { public?: boolean; owner?: string }) => {
      if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(name) || name.length > 255) die(`invalid project name ${name}: lower-case letters, digits and . _ - between them`, 2);
      if (o.server) {
        const r = await api(o, 'POST', '/projects', { project_name: name, public: !!o.public });
        console.log(`created project ${name} (${r.headers.get('location')})`);
        return;
      }
      await withLocal(o, async (s) => {
        const owner = await s.getUserByName(o.owner ?? 'admin');
        if (!owner) die(`no user ${o.owner ?? 'admin'}`);
        try {
          const p = await s.createProject({ name, ownerId: owner.id, public: !!o.public, metadata: { public: o.public ? 'true' : 'false' } });
          console.log(`created project ${p.name} (id ${p.id})`);
        } catch (e) {
          if (e instanceof ConflictError) die(e.message);
          throw e;
        }
      });
    });

  const robot = program.command('robot').description('manage robot accounts');
  common(robot.command('create <project> <name>'))
    .description('create a project robot account and print its secret (shown once)')
    .option('--access <list>', 'comma-separated resource:action pairs, or pull/push/delete for repository', 'pull')
    .option('--duration <days>', 'days until it expires (-1 = never)', '30')
    .option('--description <text>')
    .action(async (projectName: string, name: string, o: Common & { access: string; duration: string; description?: string }) => {
      if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(name)) die(`invalid robot name ${name}`, 2);
      const duration = Number(o.duration);
      if (!Number.isInteger(duration) || (duration < 1 && duration !== -1)) die('--duration: a positive number of days or -1', 2);
      const access = o.access.split(',').map((a) => {
        const [resource, action] = a.includes(':') ? a.split(':') : ['repository', a];
        if (!(RESOURCES as readonly string[]).includes(resource) || !(ACTIONS as readonly string[]).includes(action)) die(`unknown permission ${a}`, 2);
        return { resource, action };
      });
      const permissions = [{ kind: 'project' as const, namespace: projectName, access }];
      if (o.server) {
        const r = await api(o, 'POST', '/robots', { name, level: 'project', duration, description: o.description ?? '', permissions });
        console.log(`${r.json.name}\n${r.json.secret}`);
        return;
      }
      await withLocal(o, async (s) => {
        const p = await s.getProjectByName(projectName);
        if (!p) die(`no project ${projectName}`);
        const secret = newSecret();
        try {
          const r = await s.createRobot({
            name: `robot$${projectName}+${name}`,
            description: o.description ?? null,
            level: 'project',
            projectId: p.id,
            secretHash: sha256hex(secret),
            permissions,
            disabled: false,
            duration,
            expiresAt: duration === -1 ? -1 : Date.now() + duration * 86_400_000,
            creator: 'cli',
          });
          console.log(`${r.name}\n${secret}`);
        } catch (e) {
          if (e instanceof ConflictError) die(e.message);
          throw e;
        }
      });
    });
}
