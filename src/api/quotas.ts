// Project quotas (Harbor's /quotas API, system admins): list, read and set the storage limit of
// every project. Shapes follow Harbor's swagger definitions Quota and QuotaUpdateReq; Wharf keeps
// one quota per project and uses the project id as the quota id. Beyond Harbor, each quota carries
// `physical`: the bytes of blob storage only this project references (`unique_storage`) and the
// registry's whole deduplicated blob store (`registry_storage`).
import { QuotaStore, UNLIMITED, type QuotaRecord } from '../quota/store.ts';
import { badRequest, idParam, notFound, system, type ApiCtx, type ApiRoute } from './framework.ts';
import { iso } from './projects.ts';

export interface QuotaFigures {
  used: number;
  unique: number;
  registry: number;
}

export function quotaJson(q: QuotaRecord, f: QuotaFigures) {
  return {
    id: q.id,
    ref: { id: q.projectId, name: q.projectName, owner_name: q.ownerName ?? '' },
    hard: { storage: q.hard },
    used: { storage: f.used },
    physical: { unique_storage: f.unique, registry_storage: f.registry },
    creation_time: iso(q.createdAt),
    update_time: iso(q.updatedAt),
  };
}

/** A storage limit from a request: -1 (unlimited) or a positive number of bytes, as Harbor validates it. */
export function validStorageLimit(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && (v === UNLIMITED || v > 0);
}

const SORTS: Record<string, (a: { q: QuotaRecord; used: number }) => number> = {
  'hard.storage': (a) => (a.q.hard === UNLIMITED ? Number.MAX_SAFE_INTEGER : a.q.hard),
  'used.storage': (a) => a.used,
  creation_time: (a) => a.q.createdAt,
  update_time: (a) => a.q.updatedAt,
  id: (a) => a.q.id,
};

export const quotaRoutes: ApiRoute[] = [
  {
    method: 'GET',
    path: '/quotas',
    tag: 'quota',
    summary: 'Quotas of all projects (?reference=project&reference_id=<project id>, sort by hard.storage, used.storage, creation_time, update_time; "-" for descending)',
    perm: system('quota', 'list'),
    handler: async (c) => {
      const pg = c.page();
      const qs = new QuotaStore(c.svc.store);
      const reference = c.query.get('reference');
      const refId = c.query.get('reference_id');
      if (refId !== null && refId !== '' && !/^\d{1,15}$/.test(refId)) throw badRequest('reference_id must be a project id');
      let sort: { key: string; desc: boolean } | undefined;
      const s = c.query.get('sort');
      if (s) {
        const desc = s.startsWith('-');
        const key = desc ? s.slice(1) : s;
        if (!SORTS[key]) throw badRequest(`unsupported sort ${s} (supported: ${Object.keys(SORTS).join(', ')}, optionally prefixed with -)`);
        sort = { key, desc };
      }
      // Wharf has project quotas only: another reference matches nothing.
      const all = reference && reference !== 'project' ? [] : await qs.list(refId ? { projectId: Number(refId) } : {});
      let rows: { q: QuotaRecord; used: number | null }[] = all.map((q) => ({ q, used: null }));
      if (sort) {
        if (sort.key === 'used.storage') {
          const usage = await qs.usageAll();
          rows = rows.map((r) => ({ ...r, used: usage.get(r.q.projectName) ?? 0 }));
        }
        const f = SORTS[sort.key];
        const dir = sort.desc ? -1 : 1;
        rows.sort((a, b) => (f({ q: a.q, used: a.used ?? 0 }) - f({ q: b.q, used: b.used ?? 0 })) * dir || a.q.id - b.q.id);
      }
      const page = rows.slice(pg.offset, pg.offset + pg.pageSize);
      const registry = await qs.registryBlobBytes();
      const out = [];
      for (const r of page) {
        const used = r.used ?? (await qs.usage(r.q.projectName)).used;
        out.push(quotaJson(r.q, { used, unique: await qs.uniqueBytes(r.q.projectName), registry }));
      }
      c.paged(out, rows.length, pg);
    },
  },
  {
    method: 'GET',
    path: '/quotas/{id}',
    tag: 'quota',
    summary: 'One quota (the id is the project id)',
    perm: system('quota', 'read'),
    handler: async (c) => {
      const qs = new QuotaStore(c.svc.store);
      const q = await qs.get(idParam(c, 'id'));
      if (!q) throw notFound(`quota ${c.params.id} not found`);
      c.json(200, quotaJson(q, { used: (await qs.usage(q.projectName)).used, unique: await qs.uniqueBytes(q.projectName), registry: await qs.registryBlobBytes() }));
    },
  },
  {
    method: 'PUT',
    path: '/quotas/{id}',
    tag: 'quota',
    summary: 'Set the storage limit ({hard: {storage: bytes}}, -1 = unlimited)',
    perm: system('quota', 'update'),
    handler: async (c) => {
      const b = await c.body();
      const hard = b.hard as Record<string, unknown> | undefined;
      if (hard === undefined || hard === null || typeof hard !== 'object' || Array.isArray(hard) || Object.keys(hard).length === 0) throw badRequest('hard required in body');
      for (const k of Object.keys(hard)) if (k !== 'storage') throw badRequest(`resource ${k} not support`);
      if (!validStorageLimit(hard.storage)) throw badRequest('hard.storage must be -1 (unlimited) or a positive number of bytes');
      const qs = new QuotaStore(c.svc.store);
      const q = await qs.get(idParam(c, 'id'));
      if (!q) throw notFound(`quota ${c.params.id} not found`);
      await qs.setHard(q.projectId, hard.storage);
      c.audit('update', 'quota', q.projectName, q.projectId);
      c.empty(200);
    },
  },
];
