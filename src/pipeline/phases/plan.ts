// Plan: read what the registries hold and classify every edge. Reads run in parallel, bounded
// per host (one slow registry never holds back the rest) and under the per-host limiters, and
// each fact is read once: one HEAD per source digest, one tag listing per destination
// repository, and a manifest HEAD only for a destination tag that exists.
import { formatReference, formatRepository, type Repository } from '../../api/reference.ts';
import type { Reason } from '../../api/reasons.ts';
import { forEachLimitBy, RegistryError } from '../../registry/index.ts';
import { describeFailureGroups, failureGroups } from '../outcome.ts';
import { EdgeOutcome, type Phase, type RunContext, type TagConflict } from '../types.ts';

/** Why a read failed: the registry's own reason (Unauthorized, PaginationLoop, ...) when it gave one. */
export interface ReadFailure { reason: Reason; message: string }

/** What Plan read, keyed by formatReference-style text so equal repositories meet. */
export interface PlanFacts {
  /** `host/repo@digest` of each source digest: true present, false absent, or why reading failed. */
  sources: Map<string, boolean | ReadFailure>;
  /** `host/repo` of each destination repository whose tags could not be listed: why. */
  unlisted: Map<string, ReadFailure>;
  /** `host/repo` -> tag -> digest, for the destination tags the edges name that exist. */
  tags: Map<string, Map<string, string>>;
  /** `host/repo:tag` or `host/repo@digest` whose read failed: why. */
  readErrors: Map<string, ReadFailure>;
  /** `host/repo@digest` of untagged edges' digests already in their destination. */
  presentDigests: Set<string>;
}

const at = (repo: Repository, digest: string) => formatReference({ ...repo, digest });
const tagged = (repo: Repository, tag: string) => formatReference({ ...repo, tag });

interface Read { host: string; read: () => Promise<void> }

/** Runs reads bounded per host. */
async function readAll(ctx: RunContext, reads: Read[]): Promise<void> {
  await forEachLimitBy(reads, (r) => r.host, ctx.options.planConcurrency, (r) => r.read());
}

/** A read whose failure is recorded by `onError` rather than thrown (unless the run is aborted). */
function guarded(ctx: RunContext, read: () => Promise<void>, onError: (why: ReadFailure) => void): () => Promise<void> {
  return async () => {
    try {
      await read();
    } catch (error) {
      ctx.signal.throwIfAborted();
      onError(error instanceof RegistryError ? { reason: error.reason, message: error.message } : { reason: 'PlanFailed', message: (error as Error).message });
    }
  };
}

/** Round one: every source digest, and the tag listing of every destination repository. */
async function readSourcesAndListings(ctx: RunContext, facts: PlanFacts): Promise<Map<string, Set<string>>> {
  const opts = { signal: ctx.signal };
  const listings = new Map<string, Set<string>>();
  const reads = new Map<string, Read>();
  for (const { src, dst, digest } of ctx.edges) {
    const source = at(src, digest);
    if (!reads.has(source)) {
      reads.set(source, { host: src.host, read: guarded(ctx, async () => {
        facts.sources.set(source, (await ctx.client.headManifest(src, digest, opts)) !== undefined);
      }, (why) => facts.sources.set(source, why)) });
    }
    const repo = formatRepository(dst);
    if (!reads.has(repo)) {
      reads.set(repo, { host: dst.host, read: guarded(ctx, async () => {
        listings.set(repo, new Set(await ctx.client.listTagsOrEmpty(dst, opts)));
      }, (why) => facts.unlisted.set(repo, why)) });
    }
  }
  await readAll(ctx, [...reads.values()]);
  return listings;
}

/** Round two: the digests behind destination tags that exist, and whether untagged digests are there. */
async function readDestinations(ctx: RunContext, facts: PlanFacts, listings: Map<string, Set<string>>): Promise<void> {
  const opts = { signal: ctx.signal };
  const reads = new Map<string, Read>();
  for (const { dst, digest, tags } of ctx.edges) {
    const repo = formatRepository(dst);
    const listed = listings.get(repo);
    if (!listed) continue;
    for (const tag of tags) {
      const key = tagged(dst, tag);
      if (!listed.has(tag) || reads.has(key)) continue;
      reads.set(key, { host: dst.host, read: guarded(ctx, async () => {
        const found = (await ctx.client.headManifest(dst, tag, opts))?.digest;
        if (found === undefined) return;
        let known = facts.tags.get(repo);
        if (!known) facts.tags.set(repo, known = new Map());
        known.set(tag, found);
      }, (why) => facts.readErrors.set(key, why)) });
    }
    const key = at(dst, digest);
    if (tags.length > 0 || reads.has(key)) continue;
    reads.set(key, { host: dst.host, read: guarded(ctx, async () => {
      if ((await ctx.client.headManifest(dst, digest, opts)) !== undefined) facts.presentDigests.add(key);
    }, (why) => facts.readErrors.set(key, why)) });
  }
  await readAll(ctx, [...reads.values()]);
}

/** Sets the edge's state from what Plan read. */
export function classify(outcome: EdgeOutcome, facts: PlanFacts): void {
  const { src, dst, digest, tags } = outcome.edge;
  const source = facts.sources.get(at(src, digest));
  if (typeof source === 'object') return outcome.end('failed', source.reason, `reading the source failed: ${source.message}`);
  if (source !== true) return outcome.end('lost', 'DigestNotFound', `${at(src, digest)} does not exist`);
  const repo = formatRepository(dst);
  // A failed read fails only the edges that needed it, not the whole repository.
  const readError = facts.unlisted.get(repo)
    ?? tags.map((tag) => facts.readErrors.get(tagged(dst, tag))).find((e) => e !== undefined)
    ?? (tags.length === 0 ? facts.readErrors.get(at(dst, digest)) : undefined);
  if (readError !== undefined) return outcome.end('failed', readError.reason, `reading the destination failed: ${readError.message}`);
  const known = facts.tags.get(repo);
  const conflicts: TagConflict[] = [];
  let missing = 0;
  for (const tag of tags) {
    const current = known?.get(tag);
    if (current === undefined) missing += 1;
    else if (current !== digest) conflicts.push({ tag, digest: current });
  }
  if (conflicts.length > 0) {
    return outcome.end('tagMove', 'TagMoveRefused', conflicts.map((c) => `${tagged(dst, c.tag)} is ${c.digest}`).join('; '), conflicts);
  }
  const present = tags.length === 0 ? facts.presentDigests.has(at(dst, digest)) : missing === 0;
  outcome.state = present ? 'present' : 'promote';
}

/**
 * Two edges that would give one destination tag to two digests (two manifests in one run, or
 * registry prefixes that name the same repository) would move that tag between them: both are
 * refused, and the manifests must be fixed.
 */
export function refuseSharedTags(outcomes: readonly EdgeOutcome[]): void {
  const digestsByTag = new Map<string, Set<string>>();
  for (const { state, edge } of outcomes) {
    if (state !== 'promote' && state !== 'present') continue;
    for (const tag of edge.tags) {
      const key = tagged(edge.dst, tag);
      let digests = digestsByTag.get(key);
      if (!digests) digestsByTag.set(key, digests = new Set());
      digests.add(edge.digest);
    }
  }
  for (const outcome of outcomes) {
    if (outcome.state !== 'promote') continue;
    const shared = outcome.edge.tags.map((tag) => tagged(outcome.edge.dst, tag)).filter((key) => digestsByTag.get(key)!.size > 1);
    if (shared.length === 0) continue;
    const detail = shared.map((key) => {
      const digests = [...digestsByTag.get(key)!];
      return `${key} is given to ${digests.length} digests in this run (${digests.map((d) => d.slice(0, 19)).join(', ')}); fix the manifests so one digest owns it`;
    }).join('; ');
    outcome.end('tagMove', 'TagMoveRefused', detail);
  }
}

function planMessage(ctx: RunContext): { message: string; toPromote: number } {
  const counts = new Map<string, number>();
  for (const { state } of ctx.outcomes) counts.set(state, (counts.get(state) ?? 0) + 1);
  const count = (state: string) => counts.get(state) ?? 0;
  const parts = [`${ctx.outcomes.length} edges: ${count('promote')} to promote, ${count('present')} already present`];
  if (count('lost')) parts.push(`${count('lost')} lost`);
  if (count('tagMove')) parts.push(`${count('tagMove')} tag moves refused`);
  if (count('failed')) parts.push(`${count('failed')} unreadable`);
  return { message: parts.join(', '), toPromote: count('promote') };
}

export const planPhase: Phase = {
  name: 'Plan',
  failure: 'PlanFailed',
  async run(ctx: RunContext) {
    const facts: PlanFacts = { sources: new Map(), unlisted: new Map(), tags: new Map(), readErrors: new Map(), presentDigests: new Set() };
    await readDestinations(ctx, facts, await readSourcesAndListings(ctx, facts));
    ctx.destinationTags = facts.tags;
    ctx.outcomes = ctx.edges.map((edge) => new EdgeOutcome(edge));
    for (const outcome of ctx.outcomes) classify(outcome, facts);
    refuseSharedTags(ctx.outcomes);
    const { message, toPromote } = planMessage(ctx);
    ctx.emit({ type: 'planned', edges: ctx.outcomes.length, toPromote, outcomes: ctx.outcomes });
    // Every read failed: the phase did not succeed, whatever it classified.
    if (ctx.outcomes.length > 0 && ctx.outcomes.every((o) => o.state === 'failed')) {
      return { message: `no edge could be read: ${describeFailureGroups(failureGroups(ctx.outcomes))}`, stop: 'failed', reason: 'PlanFailed' };
    }
    if (toPromote === 0) return { message: `${message}; nothing to promote`, stop: 'done' };
    return { message };
  },
};
