// Repositories of a project (Harbor's /projects/{p}/repositories API). `{repository_name}` is the
// name inside the project; a name with `/` arrives percent-encoded twice (`a%252Fb`), as in
// Harbor: the router decodes once, we decode the rest.
import type { RepositoryRow } from '../metadata/store.ts';
import { isValidName } from '../oci/names.ts';
import { Identity } from '../identity/identity.ts';
import { badRequest, forbidden, notFound, project, type ApiCtx, type ApiRoute } from './framework.ts';
import { iso, parseQ, projectOf } from './projects.ts';
import { apiGuard } from './immutable.ts';

/**
 * A personal access token reaches image content through the API only with the registry scope the
 * same act needs on /v2: reading artifacts `pull`, tagging `push`, deleting `delete` (on top of the
 * api:read / api:write the router checks). Other callers pass.
 */
export function requireRegistryScope(c: ApiCtx, scope: 'pull' | 'push' | 'delete'): void {
  if (!Identity.scopeAllows(c.subject, scope)) throw forbidden(`the access token lacks the ${scope} scope for this request`);
}

/** The full repository name (`<project>/<path>`) named by `{repository_name}`; 400 if malformed. */
export function repositoryNameOf(c: ApiCtx): string {
  const raw = c.params.repository_name;
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw badRequest('malformed repository name');
  }
  const full = `${projectOf(c).name}/${path}`;
  if (!path || !isValidName(full)) throw badRequest(`invalid repository name ${JSON.stringify(path)}`);
  return full;
}

/** The repository named by `{repository_name}`, or 404. */
export async function repositoryOf(c: ApiCtx): Promise<RepositoryRow> {
  const name = repositoryNameOf(c);
  const r = await c.svc.store.getRepository(name);
  if (!r) throw notFound(`repository ${name} not found`);
  return r;
}

function repositoryJson(projectId: number, r: { id: number; name: string; description: string | null; createdAt: number; artifactCount: number; updatedAt: number }) {
  return {
    id: r.id,
    project_id: projectId,
    name: r.name,
    description: r.description ?? '',
    artifact_count: r.artifactCount,
    pull_count: 0,
    creation_time: iso(r.createdAt),
    update_time: iso(r.updatedAt),
  };
}

const PR = '/projects/{project_name_or_id}/repositories';

export const repositoryRoutes: ApiRoute[] = [
  {
    method: 'GET',
    path: PR,
    tag: 'repository',
    summary: 'Repositories of a project (?q=name=~part)',
    perm: project('repository', 'list'),
    handler: async (c) => {
      const p = projectOf(c);
      const pg = c.page();
      const q = parseQ(c, ['name']).get('name');
      if (q && !q.fuzzy) {
        // exact: the full name, or the name inside the project
        const full = q.value.startsWith(`${p.name}/`) ? q.value : `${p.name}/${q.value}`;
        const r = await c.identity.store.getRepositorySummary(full);
        const items = r && pg.offset === 0 ? [repositoryJson(p.id, r)] : [];
        return c.paged(items, r ? 1 : 0, pg);
      }
      const { items, total } = await c.identity.store.listRepositories(p.name, { q: q?.value || undefined, offset: pg.offset, limit: pg.pageSize });
      c.paged(
        items.map((r) => repositoryJson(p.id, r)),
        total,
        pg,
      );
    },
  },
  {
    method: 'GET',
    path: `${PR}/{repository_name}`,
    tag: 'repository',
    summary: 'One repository',
    perm: project('repository', 'read'),
    handler: async (c) => {
      const name = repositoryNameOf(c);
      const r = await c.identity.store.getRepositorySummary(name);
      if (!r) throw notFound(`repository ${name} not found`);
      c.json(200, repositoryJson(projectOf(c).id, r));
    },
  },
  {
    method: 'PUT',
    path: `${PR}/{repository_name}`,
    tag: 'repository',
    summary: 'Update a repository ({description})',
    perm: project('repository', 'update'),
    handler: async (c) => {
      const b = await c.body();
      if (b.description !== undefined && b.description !== null && typeof b.description !== 'string') throw badRequest('description must be a string');
      if (typeof b.description === 'string' && b.description.length > 4096) throw badRequest('description is longer than 4096 characters');
      const r = await repositoryOf(c);
      if (b.description !== undefined) await c.identity.store.setRepositoryDescription(r.id, (b.description as string | null) ?? null);
      c.audit('update', 'repository', r.name, projectOf(c).id);
      c.empty(200);
    },
  },
  {
    method: 'DELETE',
    path: `${PR}/{repository_name}`,
    tag: 'repository',
    summary: 'Delete a repository with its artifacts and tags (blobs are left for garbage collection)',
    perm: project('repository', 'delete'),
    handler: async (c) => {
      requireRegistryScope(c, 'delete');
      const p = projectOf(c);
      const r = await repositoryOf(c);
      // Refused when any of its tags may not be deleted (tag immutability), as in Harbor.
      for (let last: string | undefined; ; ) {
        const tags = await c.svc.store.listTags(r.id, 1000, last);
        for (const tag of tags) await apiGuard(() => c.svc.registry.checkTagDelete({ repo: r.name, tag }));
        if (tags.length < 1000) break;
        last = tags[tags.length - 1];
      }
      // End open upload sessions first, so their data files go with them.
      for (const id of await c.svc.store.uploadsOf(r.id)) {
        await c.svc.registry.cancelUpload(r.name, id).catch(() => {});
      }
      if (!(await c.svc.store.deleteRepository(r.name))) throw notFound(`repository ${r.name} not found`);
      c.audit('delete', 'repository', r.name, p.id);
      c.empty(200);
    },
  },
];
