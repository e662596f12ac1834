// Artifacts and their tags (Harbor's /projects/{p}/repositories/{r}/artifacts API). An artifact is
// a manifest of the repository; `{reference}` is its digest or one of its tags. Shapes follow
// Harbor's Artifact, Reference, Platform and Tag definitions. Wharf keeps no artifact or tag ids,
// so those are left out.
import type { ArtifactRecord, RepositoryRow, TagRecord } from '../metadata/store.ts';
import { isDigest } from '../oci/digest.ts';
import { MANIFEST_KINDS, MT } from '../oci/media-types.ts';
import { isValidTag } from '../oci/names.ts';
import { badRequest, conflict, notFound, preconditionFailed, project, type ApiCtx, type ApiRoute } from './framework.ts';
import { boolParam, iso, NEVER, parseQ, projectOf } from './projects.ts';
import { repositoryOf, requireRegistryScope } from './repositories.ts';
import { apiGuard, immutableTagsOf } from './immutable.ts';
import { overviewJson, VULN_REPORT_MIME, type ScanRecord } from '../scanner/service.ts';

const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const IMAGE_CONFIGS: readonly string[] = [MT.OCI_CONFIG, DOCKER_CONFIG];
/** config blobs larger than this are not read for extra_attrs */
const MAX_CONFIG_BYTES = 1 << 20;

interface Descriptor {
  mediaType?: string;
  digest?: string;
  size?: number;
  platform?: unknown;
  annotations?: Record<string, string>;
  urls?: string[];
}

function parseDoc(a: ArtifactRecord): Record<string, unknown> {
  try {
    const v = JSON.parse(a.content.toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

const sizeOf = (d: unknown): number => (d && typeof d === 'object' && typeof (d as Descriptor).size === 'number' ? (d as Descriptor).size! : 0);

async function readConfig(c: ApiCtx, repo: string, d: Descriptor): Promise<Record<string, unknown> | null> {
  if (typeof d.digest !== 'string' || !isDigest(d.digest) || typeof d.size !== 'number' || d.size > MAX_CONFIG_BYTES) return null;
  try {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const chunk of await c.svc.registry.openBlob(repo, d.digest)) {
      n += (chunk as Buffer).length;
      if (n > MAX_CONFIG_BYTES) return null;
      chunks.push(chunk as Buffer);
    }
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

function tagJson(repositoryId: number, t: TagRecord, immutable = false) {
  return { repository_id: repositoryId, name: t.name, push_time: iso(t.updatedAt), pull_time: NEVER, immutable, signed: false };
}

async function artifactJson(c: ApiCtx, repo: RepositoryRow, a: ArtifactRecord, tags: TagRecord[] | null, scan?: Map<string, ScanRecord>) {
  const doc = parseDoc(a);
  const kind = MANIFEST_KINDS[a.mediaType];
  const out: Record<string, unknown> = {
    type: 'UNKNOWN',
    media_type: a.mediaType,
    manifest_media_type: a.mediaType,
    project_id: projectOf(c).id,
    repository_id: repo.id,
    repository_name: repo.name,
    digest: a.digest,
    size: a.size,
    push_time: iso(a.createdAt),
    pull_time: NEVER,
    extra_attrs: {},
    annotations: a.annotations ?? {},
  };
  if (kind === 'image') {
    const config = (doc.config ?? {}) as Descriptor;
    const layers = Array.isArray(doc.layers) ? doc.layers : [];
    out.size = a.size + sizeOf(config) + layers.reduce((s: number, l) => s + sizeOf(l), 0);
    if (typeof config.mediaType === 'string') out.media_type = config.mediaType;
    if (typeof config.mediaType === 'string' && IMAGE_CONFIGS.includes(config.mediaType)) {
      out.type = 'IMAGE';
      const cfg = await readConfig(c, repo.name, config);
      if (cfg) {
        const extra: Record<string, unknown> = {};
        for (const k of ['architecture', 'os', 'created', 'author', 'config']) if (cfg[k] !== undefined) extra[k] = cfg[k];
        out.extra_attrs = extra;
      }
    }
  } else if (kind === 'index') {
    const children = (Array.isArray(doc.manifests) ? doc.manifests : []) as Descriptor[];
    out.size = a.size + children.reduce((s: number, d) => s + sizeOf(d), 0);
    if (a.artifactType === null || IMAGE_CONFIGS.includes(a.artifactType)) out.type = 'IMAGE';
    out.references = children.map((d) => {
      const r: Record<string, unknown> = { child_digest: d.digest };
      if (d.platform !== undefined) r.platform = d.platform;
      if (d.annotations !== undefined) r.annotations = d.annotations;
      if (d.urls !== undefined) r.urls = d.urls;
      return r;
    });
  }
  if (scan !== undefined) {
    const rec = scan.get(a.digest);
    out.scan_overview = rec ? { [VULN_REPORT_MIME]: overviewJson(rec) } : {};
  }
  if (tags) {
    const immutable = await immutableTagsOf(c, repo.name, tags.map((t) => t.name));
    out.tags = tags.map((t) => tagJson(repo.id, t, immutable.has(t.name)));
  }
  return out;
}

/** The repository and the artifact `{reference}` (a digest or a tag) names; 400 malformed, 404 unknown. */
export async function artifactOf(c: ApiCtx): Promise<{ repo: RepositoryRow; art: ArtifactRecord }> {
  const repo = await repositoryOf(c);
  const ref = c.params.reference;
  let digest: string | null;
  if (ref.includes(':')) {
    if (!isDigest(ref)) throw badRequest(`invalid digest ${JSON.stringify(ref)}`);
    digest = ref;
  } else {
    if (!isValidTag(ref)) throw badRequest(`invalid tag ${JSON.stringify(ref)}`);
    digest = await c.svc.store.tagDigest(repo.id, ref);
  }
  const art = digest ? await c.svc.store.getArtifact(repo.id, digest) : null;
  if (!art) throw notFound(`artifact ${repo.name}${ref.includes(':') ? '@' : ':'}${ref} not found`);
  return { repo, art };
}

/** Harbor's optional with_* flags Wharf has nothing for: validated, then ignored. */
function ignoredFlags(c: ApiCtx, names: string[]): void {
  for (const n of names) boolParam(c, n);
}

export const PA = '/projects/{project_name_or_id}/repositories/{repository_name}/artifacts';

export const artifactRoutes: ApiRoute[] = [
  {
    method: 'GET',
    path: PA,
    tag: 'artifact',
    summary: 'Artifacts of a repository, newest first (index children and accessories are shown through their parent)',
    perm: project('artifact', 'list'),
    handler: async (c) => {
      requireRegistryScope(c, 'pull');
      const pg = c.page();
      parseQ(c, []);
      const withTag = boolParam(c, 'with_tag', true);
      const withScan = boolParam(c, 'with_scan_overview', false);
      ignoredFlags(c, ['with_label', 'with_signature', 'with_immutable_status', 'with_accessory', 'with_sbom_overview']);
      const repo = await repositoryOf(c);
      const { items, total } = await c.svc.store.listArtifacts(repo.id, { offset: pg.offset, limit: pg.pageSize });
      const tags = withTag ? await c.svc.store.tagsOf(repo.id, items.map((a) => a.digest)) : null;
      const scans = withScan && c.svc.scans ? await c.svc.scans.getMany(items.map((a) => a.digest)) : undefined;
      const out = await Promise.all(items.map((a) => artifactJson(c, repo, a, tags ? tags.filter((t) => t.digest === a.digest) : null, scans)));
      c.paged(out, total, pg);
    },
  },
  {
    method: 'GET',
    path: `${PA}/{reference}`,
    tag: 'artifact',
    summary: 'One artifact by digest or tag',
    perm: project('artifact', 'read'),
    handler: async (c) => {
      requireRegistryScope(c, 'pull');
      const withTag = boolParam(c, 'with_tag', true);
      const withScan = boolParam(c, 'with_scan_overview', false);
      ignoredFlags(c, ['with_label', 'with_signature', 'with_immutable_status', 'with_accessory', 'with_sbom_overview']);
      const { repo, art } = await artifactOf(c);
      const tags = withTag ? await c.svc.store.tagsOf(repo.id, [art.digest]) : null;
      const scans = withScan && c.svc.scans ? await c.svc.scans.getMany([art.digest]) : undefined;
      c.json(200, await artifactJson(c, repo, art, tags, scans));
    },
  },
  {
    method: 'DELETE',
    path: `${PA}/{reference}`,
    tag: 'artifact',
    summary: 'Delete an artifact with its tags (and the untagged children of an index, and its accessories)',
    perm: project('artifact', 'delete'),
    handler: async (c) => {
      requireRegistryScope(c, 'delete');
      const { repo, art } = await artifactOf(c);
      await apiGuard(() => c.svc.registry.checkManifestDelete({ repo: repo.name, digest: art.digest }));
      const r = await c.svc.store.deleteArtifact(repo.id, art.digest);
      if (r.result === 'not-found') throw notFound(`artifact ${repo.name}@${art.digest} not found`);
      if (r.result === 'referenced') throw preconditionFailed(`artifact ${repo.name}@${art.digest} is referenced by an index; delete that first`);
      for (const d of r.deleted) c.audit('delete', 'artifact', `${repo.name}@${d}`, projectOf(c).id);
      c.empty(200);
    },
  },
  {
    method: 'GET',
    path: `${PA}/{reference}/tags`,
    tag: 'artifact',
    summary: 'Tags of an artifact',
    perm: project('tag', 'list'),
    handler: async (c) => {
      requireRegistryScope(c, 'pull');
      const pg = c.page();
      ignoredFlags(c, ['with_signature', 'with_immutable_status']);
      const { repo, art } = await artifactOf(c);
      const tags = await c.svc.store.tagsOf(repo.id, [art.digest]);
      const shown = tags.slice(pg.offset, pg.offset + pg.pageSize);
      const immutable = await immutableTagsOf(c, repo.name, shown.map((t) => t.name));
      c.paged(
        shown.map((t) => tagJson(repo.id, t, immutable.has(t.name))),
        tags.length,
        pg,
      );
    },
  },
  {
    method: 'POST',
    path: `${PA}/{reference}/tags`,
    tag: 'artifact',
    summary: 'Tag an artifact ({name}); 409 if the tag exists in the repository',
    perm: project('tag', 'create'),
    handler: async (c) => {
      requireRegistryScope(c, 'push');
      const b = await c.body();
      if (typeof b.name !== 'string' || !isValidTag(b.name)) throw badRequest('name must be a tag: up to 128 characters of letters, digits, "_", "." and "-", not starting with "." or "-"');
      const name = b.name;
      const { repo, art } = await artifactOf(c);
      const r = await c.svc.store.createTag(repo.id, name, art.digest);
      if (r === 'exists') throw conflict(`tag ${name} already exists in ${repo.name}`);
      if (r === 'no-manifest') throw notFound(`artifact ${repo.name}@${art.digest} not found`);
      const p = projectOf(c);
      c.audit('create', 'tag', `${repo.name}:${name}`, p.id);
      const inside = repo.name.slice(p.name.length + 1);
      c.created(`/projects/${p.name}/repositories/${encodeURIComponent(encodeURIComponent(inside))}/artifacts/${art.digest}/tags/${name}`);
    },
  },
  {
    method: 'DELETE',
    path: `${PA}/{reference}/tags/{tag_name}`,
    tag: 'artifact',
    summary: 'Remove a tag from an artifact',
    perm: project('tag', 'delete'),
    handler: async (c) => {
      requireRegistryScope(c, 'delete');
      const tag = c.params.tag_name;
      if (!isValidTag(tag)) throw badRequest(`invalid tag ${JSON.stringify(tag)}`);
      const { repo, art } = await artifactOf(c);
      if ((await c.svc.store.tagDigest(repo.id, tag)) === art.digest) await apiGuard(() => c.svc.registry.checkTagDelete({ repo: repo.name, tag }));
      if (!(await c.svc.store.deleteTagOf(repo.id, tag, art.digest))) throw notFound(`tag ${tag} not found on ${repo.name}@${art.digest}`);
      c.audit('delete', 'tag', `${repo.name}:${tag}`, projectOf(c).id);
      c.empty(200);
    },
  },
];
