// The tag retention job (kind 'retention', one at a time per project: scope 'project:<id>'):
// load the policy, walk the project's repositories, evaluate each (src/retention/evaluate.ts)
// and — unless it is a dry run — delete the artifacts no rule retains.
//
// Deletion is Harbor's: the whole artifact (all its tags, the untagged children of an index,
// its accessories) through MetadataStore.deleteArtifact; blobs are left to garbage collection.
// Every deletion first runs the registry's policy checks (RegistryService.checkManifestDelete:
// tag immutability); a refused one is skipped and logged, like Harbor's "immutable" result. An
// artifact tagged with something new since it was evaluated is skipped too. An artifact that is
// also a child of an index (tagged, so it was a candidate) cannot go without its index: its tags
// are removed (each through checkTagDelete) and the manifest stays with the index.
//
// Every decision is logged, one line each, prefixed with the repository (the per-repository
// "tasks" of the API filter on that prefix). Progress: {repositories, repositoriesTotal,
// examined, retained, deleted, skipped, dryRun}; the result adds `untouched` and `tasks` (per
// evaluated repository: total, retained, deleted, skipped, start and end). In a dry run
// `deleted` counts what a real run would delete. A stop request ends the run between two
// deletions; what was done stays done (re-running is safe: the evaluation starts over).
import type { JobContext, JobHandler } from '../jobs/types.ts';
import type { MetadataStore } from '../metadata/store.ts';
import type { RegistryService } from '../distribution/registry-service.ts';
import { applicableRules, describeRule, evaluateRepository, repositoryPath, type Candidate, type RetentionPolicy } from './evaluate.ts';
import { RetentionPolicies } from './policies.ts';

export const RETENTION_JOB = 'retention';

export interface RetentionJobParams {
  policyId: number;
  dryRun: boolean;
}

export interface RetentionJobDeps {
  store: MetadataStore;
  registry: Pick<RegistryService, 'checkManifestDelete' | 'checkTagDelete'>;
  /** project lookup by id (IdentityStore) */
  projects: { getProject(id: number): Promise<{ id: number; name: string } | null> };
  /** optional: deleted artifacts are recorded as user `retention` */
  audit?: { record(e: { username: string; operation: string; resourceType: string; resource: string; projectId: number | null; clientIp: string | null }): void };
  /** the clock (tests) */
  now?: () => number;
}

export interface RetentionTaskResult {
  repository: string;
  total: number;
  retained: number;
  deleted: number;
  skipped: number;
  status: 'Success' | 'Stopped';
  startedAt: number;
  finishedAt: number;
}

export const projectScope = (projectId: number) => `project:${projectId}`;

const iso = (ms: number | null) => (ms === null ? 'never' : new Date(ms).toISOString());

function candidateLine(c: Candidate): string {
  return `${c.digest} tags ${c.tags.length ? c.tags.join(',') : '(untagged)'} pushed ${iso(c.pushedAt)} pulled ${iso(c.pulledAt)}`;
}

export function validateRetentionParams(p: Record<string, unknown>): RetentionJobParams {
  const policyId = p.policyId;
  if (typeof policyId !== 'number' || !Number.isSafeInteger(policyId) || policyId <= 0) throw new Error('policyId must be a positive integer');
  if (p.dryRun !== undefined && typeof p.dryRun !== 'boolean') throw new Error('dryRun must be a boolean');
  return { policyId, dryRun: p.dryRun === true };
}

/** The JobHandler; register it with the JobService. */
export function retentionJob(deps: RetentionJobDeps): JobHandler<RetentionJobParams> {
  return {
    kind: RETENTION_JOB,
    exclusive: true,
    maxAttempts: 3,
    validate: validateRetentionParams,
    run: (ctx) => runRetention(deps, ctx),
  };
}

export async function runRetention(deps: RetentionJobDeps, ctx: JobContext<RetentionJobParams>): Promise<Record<string, unknown>> {
  const { store, registry } = deps;
  const { policyId, dryRun } = ctx.params;
  const now = (deps.now ?? Date.now)();
  const counts = { repositories: 0, repositoriesTotal: 0, examined: 0, retained: 0, deleted: 0, skipped: 0, dryRun };
  const tasks: RetentionTaskResult[] = [];
  const untouched: string[] = [];
  const result = () => ({ ...counts, untouched: untouched.length, tasks });

  const stored = await new RetentionPolicies(store).get(policyId);
  if (!stored) {
    ctx.log(`retention policy ${policyId} no longer exists; nothing to do`, 'warn');
    return result();
  }
  const policy: RetentionPolicy = stored.policy;
  if (ctx.job.scope !== projectScope(stored.projectId)) ctx.log(`job scope ${ctx.job.scope} is not the policy's project (${projectScope(stored.projectId)}); running the policy's`, 'warn');
  const project = await deps.projects.getProject(stored.projectId);
  if (!project) {
    ctx.log(`project ${stored.projectId} of retention policy ${policyId} no longer exists; nothing to do`, 'warn');
    return result();
  }
  const enabled = policy.rules.filter((r) => !r.disabled).length;
  ctx.log(`retention policy ${policyId} of project ${project.name} (id ${project.id}): algorithm ${policy.algorithm}, ${policy.rules.length} rules (${enabled} enabled)${dryRun ? ', DRY RUN: nothing is deleted' : ''}`);
  policy.rules.forEach((_r, i) => ctx.log(`${describeRule(policy, i)}${policy.rules[i].disabled ? ' (disabled)' : ''}`));
  if (enabled === 0) {
    ctx.log('no enabled rules: nothing to do');
    return result();
  }

  const repos = await store.repositoriesOfProject(project.name);
  counts.repositoriesTotal = repos.length;
  ctx.log(`${repos.length} repositories in project ${project.name}`);
  ctx.progress({ ...counts });
  const stopped = () => {
    if (!ctx.signal.aborted) return false;
    ctx.log(`stop requested: ${counts.repositoriesTotal - counts.repositories} repositories not processed`, 'warn');
    return true;
  };

  for (const repo of repos) {
    if (stopped()) return result();
    const startedAt = Date.now();
    if (applicableRules(policy, repo.name).length === 0) {
      untouched.push(repo.name);
      counts.repositories++;
      continue;
    }
    const rows = await store.retentionCandidates(repo.id);
    const candidates: Candidate[] = rows.map((r) => ({
      repository: repo.name,
      digest: r.digest,
      tags: r.tags.map((t) => t.name),
      pushedAt: Math.max(r.createdAt, ...r.tags.map((t) => t.updatedAt)),
      pulledAt: r.pulledAt,
    }));
    const d = evaluateRepository(policy, repo.name, candidates, now);
    if (!d) {
      untouched.push(repo.name);
      counts.repositories++;
      continue;
    }
    const p = `${repositoryPath(repo.name)}:`;
    const task: RetentionTaskResult = { repository: repo.name, total: candidates.length, retained: d.retained.length, deleted: 0, skipped: 0, status: 'Success', startedAt, finishedAt: startedAt };
    tasks.push(task);
    counts.examined += candidates.length;
    counts.retained += d.retained.length;
    ctx.log(`${p} ${candidates.length} artifacts; rules ${d.rules.map((i) => i + 1).join(', ')} apply; ${d.retained.length} retained, ${d.deleted.length} to delete`);
    for (const r of d.retained) ctx.log(`${p} RETAIN ${candidateLine(r.artifact)} (by ${r.rules.map((i) => `rule ${i + 1} ${policy.rules[i].template}`).join(', ')})`);

    for (const c of d.deleted) {
      if (dryRun) {
        ctx.log(`${p} DEL (dry run) ${candidateLine(c)}`);
        task.deleted++;
        counts.deleted++;
        continue;
      }
      if (ctx.signal.aborted) {
        task.status = 'Stopped';
        task.finishedAt = Date.now();
        stopped();
        return result();
      }
      const outcome = await deleteCandidate(deps, repo, c, project.id);
      if (outcome.deleted) {
        task.deleted++;
        counts.deleted++;
      } else {
        task.skipped++;
        counts.skipped++;
      }
      ctx.log(`${p} ${outcome.deleted ? 'DEL' : 'SKIP'} ${candidateLine(c)}${outcome.note ? ` — ${outcome.note}` : ''}`, outcome.deleted ? 'info' : 'warn');
      if ((counts.deleted + counts.skipped) % 100 === 0) ctx.progress({ ...counts });
    }
    task.finishedAt = Date.now();
    counts.repositories++;
    ctx.progress({ ...counts });
  }
  if (untouched.length) {
    const shown = untouched.slice(0, 20).map(repositoryPath).join(', ');
    ctx.log(`${untouched.length} repositories untouched (no enabled rule applies): ${shown}${untouched.length > 20 ? ', …' : ''}`);
  }
  ctx.log(`done: ${counts.repositories} repositories, ${counts.examined} artifacts examined, ${counts.retained} retained, ${counts.deleted} ${dryRun ? 'would be deleted' : 'deleted'}, ${counts.skipped} skipped`);
  ctx.progress({ ...counts });
  return result();
}

/** Delete one artifact as retention does; never throws for a refusal (only for database errors). */
async function deleteCandidate(deps: RetentionJobDeps, repo: { id: number; name: string }, c: Candidate, projectId: number): Promise<{ deleted: boolean; note?: string }> {
  const { store, registry } = deps;
  const current = await store.tagsOf(repo.id, [c.digest]);
  const added = current.map((t) => t.name).filter((t) => !c.tags.includes(t));
  if (added.length) return { deleted: false, note: `tagged since it was evaluated (${added.join(',')}); kept` };
  try {
    await registry.checkManifestDelete({ repo: repo.name, digest: c.digest });
  } catch (e) {
    return { deleted: false, note: `refused: ${(e as Error).message}` };
  }
  const r = await store.deleteArtifact(repo.id, c.digest);
  if (r.result === 'not-found') return { deleted: false, note: 'already gone' };
  if (r.result === 'referenced') {
    // A tagged child of an index: untag it; the manifest stays as part of its index.
    const removed: string[] = [];
    for (const t of current) {
      try {
        await registry.checkTagDelete({ repo: repo.name, tag: t.name });
      } catch (e) {
        return { deleted: false, note: `part of an index; removing tag ${t.name} refused: ${(e as Error).message}${removed.length ? ` (removed ${removed.join(',')})` : ''}` };
      }
      if (await store.deleteTagOf(repo.id, t.name, c.digest)) {
        removed.push(t.name);
        deps.audit?.record({ username: 'retention', operation: 'delete', resourceType: 'tag', resource: `${repo.name}:${t.name}`, projectId, clientIp: null });
      }
    }
    return { deleted: true, note: `part of an index: tags ${removed.join(',') || '(none)'} removed, the manifest stays with its index` };
  }
  for (const d of r.deleted) deps.audit?.record({ username: 'retention', operation: 'delete', resourceType: 'artifact', resource: `${repo.name}@${d}`, projectId, clientIp: null });
  return { deleted: true, note: r.deleted.length > 1 ? `with ${r.deleted.length - 1} index children / accessories` : undefined };
}
