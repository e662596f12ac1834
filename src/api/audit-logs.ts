// Audit logs: GET /audit-logs (system admin) and GET /projects/{p}/logs (project log:list), in
// Harbor's AuditLog shape. Also Harbor's `q` query syntax, shared with the users and robots lists.
import type { AuditEntry, AuditQuery } from '../identity/store.ts';
import { badRequest, project, system, type ApiCtx, type ApiRoute } from './framework.ts';

// ------------------------------------------------------------------------------------- q syntax

/** One `key=value` term of Harbor's `q`: `k=v` exact, `k=~v` fuzzy, `k=[min~max]` range. */
export type QTerm = { kind: 'exact'; value: string } | { kind: 'fuzzy'; value: string } | { kind: 'range'; min: string | null; max: string | null };

/**
 * Harbor's `q` (lib/q): terms joined by commas; a key may appear once. Unions (`{a b}`) and
 * intersections (`(a b)`) are not supported here and are refused, as is anything malformed.
 */
export function parseQuery(q: string | null): Map<string, QTerm> {
  const out = new Map<string, QTerm>();
  if (q === null || q === '') return out;
  if (q.length > 2048) throw badRequest('the query string q is too long');
  let text = q;
  try {
    // Harbor unescapes `q` once more (clients often encode it twice)
    text = decodeURIComponent(q);
  } catch {
    throw badRequest('the query string q is not properly escaped');
  }
  for (const param of text.split(',')) {
    const i = param.indexOf('=');
    const key = i < 0 ? '' : param.slice(0, i).trim();
    const raw = i < 0 ? '' : param.slice(i + 1);
    if (!key || !raw) throw badRequest('the query string must contain "=" and the key/value cannot be empty');
    if (out.has(key)) throw badRequest(`the query key ${key} is given more than once`);
    let term: QTerm;
    if (raw.startsWith('~')) {
      if (raw.length === 1) throw badRequest(`the fuzzy value of ${key} is empty`);
      term = { kind: 'fuzzy', value: raw.slice(1) };
    } else if (raw.startsWith('[') && raw.endsWith(']')) {
      const inner = raw.slice(1, -1);
      const j = inner.indexOf('~');
      if (j < 0) throw badRequest(`the range of ${key} must look like [min~max]`);
      const min = inner.slice(0, j).trim();
      const max = inner.slice(j + 1).trim();
      if (!min && !max) throw badRequest(`the range of ${key} is empty`);
      term = { kind: 'range', min: min || null, max: max || null };
    } else if (/^[{(].*[})]$/.test(raw)) {
      throw badRequest(`lists in q (${key}=${raw}) are not supported`);
    } else {
      term = { kind: 'exact', value: raw };
    }
    out.set(key, term);
  }
  return out;
}

/** Refuse keys the endpoint does not filter on. */
export function onlyKeys(terms: Map<string, QTerm>, allowed: readonly string[]): void {
  for (const k of terms.keys()) if (!allowed.includes(k)) throw badRequest(`unsupported query key ${k} (supported: ${allowed.join(', ')})`);
}

/** `2024-01-31 23:59:59` (UTC), `2024-01-31`, ISO 8601, or epoch seconds → epoch ms. */
export function parseTime(s: string, key: string): number {
  let ms: number;
  if (/^\d{1,12}$/.test(s)) ms = Number(s) * 1000;
  else if (/^\d{4}-\d{2}-\d{2}$/.test(s)) ms = Date.parse(`${s}T00:00:00Z`);
  else if (/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?$/.test(s)) ms = Date.parse(`${s.replace(' ', 'T')}Z`);
  else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s)) ms = Date.parse(s);
  else ms = NaN;
  if (!Number.isFinite(ms)) throw badRequest(`${key}: cannot read the time ${JSON.stringify(s)} (use "YYYY-MM-DD HH:MM:SS")`);
  return ms;
}

// ------------------------------------------------------------------------------------ audit logs

export function auditLogJson(e: AuditEntry & { id: number }) {
  return { id: e.id, username: e.username, resource: e.resource, resource_type: e.resourceType, operation: e.operation, op_time: new Date(e.opTime).toISOString() };
}

const AUDIT_KEYS = ['operation', 'resource_type', 'resource', 'username', 'op_time'] as const;

function exactOnly(t: QTerm, key: string): string {
  if (t.kind !== 'exact') throw badRequest(`${key} supports only exact matches (${key}=value)`);
  return t.value;
}

/** Build the store query from `q` and `sort` (page applied by the caller). */
export function auditQueryFrom(c: ApiCtx): Omit<AuditQuery, 'offset' | 'limit'> {
  const terms = parseQuery(c.query.get('q'));
  onlyKeys(terms, AUDIT_KEYS);
  const out: Omit<AuditQuery, 'offset' | 'limit'> = {};
  for (const [key, t] of terms) {
    switch (key) {
      case 'operation':
        out.operation = exactOnly(t, key);
        break;
      case 'resource_type':
        out.resourceType = exactOnly(t, key);
        break;
      case 'username':
        if (t.kind === 'range') throw badRequest('username takes username=value or username=~value');
        if (t.kind === 'fuzzy') out.usernameLike = t.value;
        else out.username = t.value;
        break;
      case 'resource':
        if (t.kind === 'range') throw badRequest('resource takes resource=value or resource=~value');
        if (t.kind === 'fuzzy') out.resource = t.value;
        else out.resourceExact = t.value;
        break;
      case 'op_time': {
        if (t.kind !== 'range') throw badRequest('op_time takes a range: op_time=[YYYY-MM-DD HH:MM:SS~YYYY-MM-DD HH:MM:SS]');
        if (t.min !== null) out.from = parseTime(t.min, key);
        if (t.max !== null) out.to = parseTime(t.max, key);
        if (out.from !== undefined && out.to !== undefined && out.from > out.to) throw badRequest('op_time: the range ends before it begins');
        break;
      }
    }
  }
  const sort = c.query.get('sort');
  if (sort !== null && sort !== '') {
    if (sort === 'op_time') out.order = 'asc';
    else if (sort === '-op_time') out.order = 'desc';
    else throw badRequest('sort supports only op_time and -op_time');
  }
  return out;
}

async function listAudit(c: ApiCtx, projectId?: number): Promise<void> {
  const filter = auditQueryFrom(c);
  const pg = c.page();
  // Make this process's buffered entries visible first (the writer batches them).
  await c.svc.audit.flush();
  const { items, total } = await c.identity.store.queryAudit({ ...filter, ...(projectId !== undefined ? { projectId } : {}), offset: pg.offset, limit: pg.pageSize });
  c.paged(items.map(auditLogJson), total, pg);
}

export const auditRoutes: ApiRoute[] = [
  {
    method: 'GET',
    path: '/audit-logs',
    tag: 'auditlog',
    summary: 'List audit logs (newest first); q filters operation, resource_type, resource, username, op_time',
    perm: system('audit-log', 'list'),
    handler: (c) => listAudit(c),
  },
  {
    method: 'GET',
    path: '/projects/{project_name_or_id}/logs',
    tag: 'project',
    summary: "List a project's audit logs (newest first); same filters as /audit-logs",
    perm: project('log', 'list'),
    handler: (c) => listAudit(c, c.project!.id),
  },
];
