// Plan: read what the registries hold and classify every edge. Reads run in parallel, bounded
// per host (one slow registry never holds back the rest) and under the per-host limiters, and
// each fact is read once: one HEAD per source digest, one tag listing per destination
// repository, and a manifest HEAD only for a destination tag that exists.
import { describeError, forEachLimitBy, type Repository } from '../../registry/index.ts';
import type { Edge, Phase, PlannedEdge, RunContext } from '../types.ts';

const repoKey = (repo: Repository) => `${repo.host}/${repo.name}`;

export const planPhase: Phase = {
  name: 'Plan',
  async run(ctx: RunContext) {
    const { client, signal } = ctx;
    const limit = ctx.options.planConcurrency;
    const opts = { signal };

    const sourceDigests = new Map<string, { repo: Repository; digest: string; present?: boolean; error?: string }>();
    const destinations = new Map<string, { repo: Repository; tags?: Set<string>; error?: string }>();
    for (const edge of ctx.edges) {
      sourceDigests.set(`${repoKey(edge.src)}@${edge.digest}`, { repo: edge.src, digest: edge.digest });
      destinations.set(repoKey(edge.dst), { repo: edge.dst });
    }
    await Promise.all([
      forEachLimitBy([...sourceDigests.values()], (e) => e.repo.host, limit, async (entry) => {
        try {
          entry.present = (await client.headManifest(entry.repo, entry.digest, opts)) !== undefined;
        } catch (error) {
          signal.throwIfAborted();
          entry.error = describeError(error);
        }
      }),
      forEachLimitBy([...destinations.values()], (e) => e.repo.host, limit, async (entry) => {
        try {
          entry.tags = new Set(await client.listTagsOrEmpty(entry.repo, opts));
        } catch (error) {
          signal.throwIfAborted();
          entry.error = describeError(error);
        }
      }),
    ]);

    // Second round: the digests behind destination tags that exist, and whether tagless digests are there.
    const tagDigests = new Map<string, string | undefined>();
    const digestPresent = new Map<string, boolean>();
    const reads: { host: string; read: () => Promise<void> }[] = [];
    const readErrors = new Map<string, string>();
    for (const edge of ctx.edges) {
      const dst = destinations.get(repoKey(edge.dst))!;
      if (!dst.tags) continue;
      for (const tag of edge.tags) {
        const key = `${repoKey(edge.dst)}:${tag}`;
        if (!dst.tags.has(tag) || tagDigests.has(key)) continue;
        tagDigests.set(key, undefined);
        reads.push({ host: edge.dst.host, read: async () => {
          try {
            tagDigests.set(key, (await client.headManifest(edge.dst, tag, opts))?.digest);
          } catch (error) {
            signal.throwIfAborted();
            readErrors.set(key, describeError(error));
          }
        } });
      }
      if (edge.tags.length === 0) {
        const key = `${repoKey(edge.dst)}@${edge.digest}`;
        if (digestPresent.has(key)) continue;
        digestPresent.set(key, false);
        reads.push({ host: edge.dst.host, read: async () => {
          try {
            digestPresent.set(key, (await client.headManifest(edge.dst, edge.digest, opts)) !== undefined);
          } catch (error) {
            signal.throwIfAborted();
            readErrors.set(key, describeError(error));
          }
        } });
      }
    }
    await forEachLimitBy(reads, (r) => r.host, limit, (r) => r.read());

    ctx.plan = refuseSharedTags(ctx.edges.map((edge) => classify(edge, sourceDigests, destinations, tagDigests, digestPresent, readErrors)));
    const count = (state: PlannedEdge['state']) => ctx.plan.filter((e) => e.state === state).length;
    const toPromote = count('promote');
    ctx.emit({ type: 'planned', edges: ctx.plan.length, toPromote });
    const parts = [`${ctx.plan.length} edges: ${toPromote} to promote, ${count('present')} already present`];
    if (count('lost')) parts.push(`${count('lost')} lost`);
    if (count('tagMove')) parts.push(`${count('tagMove')} tag moves refused`);
    if (count('failed')) parts.push(`${count('failed')} unreadable`);
    const message = parts.join(', ');
    if (toPromote === 0) return { message: `${message}; nothing to promote`, stop: 'done' };
    return { message };
  },
};

function classify(
  edge: Edge,
  sources: Map<string, { present?: boolean; error?: string }>,
  destinations: Map<string, { tags?: Set<string>; error?: string }>,
  tagDigests: Map<string, string | undefined>,
  digestPresent: Map<string, boolean>,
  readErrors: Map<string, string>,
): PlannedEdge {
  const base = { ...edge, missingTags: [] as string[], knownTags: new Map<string, string>() };
  const source = sources.get(`${repoKey(edge.src)}@${edge.digest}`)!;
  if (source.error) return { ...base, state: 'failed', reason: `reading the source failed: ${source.error}` };
  if (!source.present) return { ...base, state: 'lost', reason: `${repoKey(edge.src)}@${edge.digest} does not exist` };
  const dst = destinations.get(repoKey(edge.dst))!;
  // A failed read fails only the edges that needed it, not the whole repository.
  const readError = dst.error
    ?? edge.tags.map((tag) => readErrors.get(`${repoKey(edge.dst)}:${tag}`)).find((e) => e !== undefined)
    ?? readErrors.get(`${repoKey(edge.dst)}@${edge.digest}`);
  if (readError) return { ...base, state: 'failed', reason: `reading the destination failed: ${readError}` };
  const conflicts: { tag: string; digest: string }[] = [];
  for (const tag of edge.tags) {
    const digest = tagDigests.get(`${repoKey(edge.dst)}:${tag}`);
    if (digest === undefined) base.missingTags.push(tag);
    else {
      base.knownTags.set(tag, digest);
      if (digest !== edge.digest) conflicts.push({ tag, digest });
    }
  }
  if (conflicts.length > 0) {
    return { ...base, state: 'tagMove', conflicts, reason: conflicts.map((c) => `${repoKey(edge.dst)}:${c.tag} is ${c.digest}`).join('; ') };
  }
  const present = edge.tags.length === 0 ? digestPresent.get(`${repoKey(edge.dst)}@${edge.digest}`) === true : base.missingTags.length === 0;
  return { ...base, state: present ? 'present' : 'promote' };
}

/**
 * Two edges that would give one destination tag to two digests (two manifests in one run, or
 * registry prefixes that name the same repository) would move that tag between them: both are
 * refused, and the manifests must be fixed.
 */
function refuseSharedTags(plan: PlannedEdge[]): PlannedEdge[] {
  const digestsByTag = new Map<string, Set<string>>();
  for (const edge of plan) {
    if (edge.state !== 'promote' && edge.state !== 'present') continue;
    for (const tag of edge.tags) {
      const key = `${repoKey(edge.dst)}:${tag}`;
      digestsByTag.set(key, (digestsByTag.get(key) ?? new Set()).add(edge.digest));
    }
  }
  return plan.map((edge) => {
    if (edge.state !== 'promote') return edge;
    const shared = edge.tags.filter((tag) => digestsByTag.get(`${repoKey(edge.dst)}:${tag}`)!.size > 1);
    if (shared.length === 0) return edge;
    const reason = shared.map((tag) => {
      const key = `${repoKey(edge.dst)}:${tag}`;
      return `${key} is given to ${digestsByTag.get(key)!.size} digests in this run (${[...digestsByTag.get(key)!].map((d) => d.slice(0, 19)).join(', ')}); fix the manifests so one digest owns it`;
    }).join('; ');
    return { ...edge, state: 'tagMove' as const, reason };
  });
}
