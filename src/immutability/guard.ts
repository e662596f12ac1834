// Enforcement of tag immutability on the registry's write paths (a RegistryGuard): a manifest PUT
// that would move an existing immutable tag to another digest, the deletion of an immutable tag,
// and the deletion (by digest) of a manifest that carries one are refused with DENIED (403).
// The management API runs the same checks through RegistryService.check* before its deletes.
//
// Re-pushing the digest an immutable tag already points at is allowed (nothing changes; retried
// CI pushes and `skopeo copy` of the same image stay idempotent). Harbor's middleware refuses
// any push to an existing immutable tag, even of the same digest; Wharf does not, since the tag
// does not move. A tag that does not exist yet may be created even when a rule
// matches it: rules protect existing tags (as in Harbor).
import { OciError } from '../errors/oci-errors.ts';
import type { MetadataStore } from '../metadata/store.ts';
import type { RegistryGuard } from '../distribution/registry-service.ts';
import { describeRule, type ImmutableRule, type ImmutableRuleStore } from './rules.ts';

export type ProjectLookup = (repo: string) => Promise<{ id: number; name: string } | null>;

export class ImmutabilityGuard implements RegistryGuard {
  constructor(
    private readonly meta: MetadataStore,
    private readonly rules: ImmutableRuleStore,
    private readonly projectOf: ProjectLookup,
  ) {}

  /** The rule that makes `repo:tag` immutable, or null (no project, no matching enabled rule). */
  async ruleFor(repo: string, tag: string): Promise<{ rule: ImmutableRule; project: string } | null> {
    const p = await this.projectOf(repo);
    if (!p) return null;
    const rule = await this.rules.immutableBy(p.id, p.name, repo, tag);
    return rule ? { rule, project: p.name } : null;
  }

  async beforeManifestPut(e: { repo: string; digest: string; tag?: string }): Promise<void> {
    if (e.tag === undefined) return;
    const hit = await this.ruleFor(e.repo, e.tag);
    if (!hit) return;
    const r = await this.meta.getRepository(e.repo);
    const current = r ? await this.meta.tagDigest(r.id, e.tag) : null;
    if (current === null || current === e.digest) return;
    throw refusal(e.repo, e.tag, hit, 'overwritten', { current, pushed: e.digest });
  }

  async beforeTagDelete(e: { repo: string; tag: string }): Promise<void> {
    const hit = await this.ruleFor(e.repo, e.tag);
    if (!hit) return;
    const r = await this.meta.getRepository(e.repo);
    if (!r || (await this.meta.tagDigest(r.id, e.tag)) === null) return; // nothing to protect: the caller answers 404
    throw refusal(e.repo, e.tag, hit, 'deleted');
  }

  async beforeManifestDelete(e: { repo: string; digest: string }): Promise<void> {
    const p = await this.projectOf(e.repo);
    if (!p || !(await this.rules.rulesOf(p.id)).some((x) => !x.disabled)) return;
    const r = await this.meta.getRepository(e.repo);
    if (!r) return;
    for (const t of await this.meta.tagsOf(r.id, [e.digest])) {
      const rule = await this.rules.immutableBy(p.id, p.name, e.repo, t.name);
      if (rule) throw refusal(e.repo, t.name, { rule, project: p.name }, 'deleted', { digest: e.digest });
    }
  }
}

function refusal(repo: string, tag: string, hit: { rule: ImmutableRule; project: string }, what: 'overwritten' | 'deleted', extra: Record<string, string> = {}): OciError {
  return new OciError('DENIED', `The tag ${repo}:${tag} is immutable, cannot be ${what} (configured as immutable by ${describeRule(hit.rule)} of project ${hit.project})`, {
    status: 403,
    detail: { repository: repo, tag, rule_id: hit.rule.id, ...extra },
  });
}
