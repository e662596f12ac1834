// First start: the system admin `admin` and the public project `library`. Idempotent, so every
// start (and every process of a node) may run it; only the first creates anything.
import type { Logger } from '../logger.ts';
import { hashPassword, newSecret } from './secrets.ts';
import { ConflictError, type IdentityStore } from './store.ts';

export async function bootstrapIdentity(store: IdentityStore, adminPassword: string, logger: Logger): Promise<void> {
  if (!(await store.getUserByName('admin'))) {
    const generated = adminPassword === '';
    const password = generated ? newSecret(18) : adminPassword;
    try {
      await store.createUser({ username: 'admin', email: 'admin@wharf.local', realname: 'system admin', comment: 'created on first start', passwordHash: await hashPassword(password), sysadmin: true });
      if (generated) {
        // Printed once, on the console only: it is stored hashed and never shown again.
        process.stderr.write(`\n  Wharf created the system admin.\n    user:     admin\n    password: ${password}\n  Change it with \`wharf user passwd admin\` or the API. It will not be shown again.\n\n`);
      } else logger.info('created the system admin user admin (password from WHARF_ADMIN_PASSWORD)');
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
    }
  }
  if (!(await store.getProjectByName('library'))) {
    const admin = await store.getUserByName('admin');
    try {
      await store.createProject({ name: 'library', ownerId: admin?.id ?? null, public: true, metadata: { public: 'true' } });
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
    }
  }
}
