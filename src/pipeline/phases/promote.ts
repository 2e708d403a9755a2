// Promote: copy every edge the plan marked, digests preserved. Edges of one digest bound for
// one registry host form a group: the first copies from the source, the rest mount from that
// first copy, so each digest's blobs cross the network once per destination registry. At the
// end it lists the digests now in production, for Sign and Attest.
import { formatReference, formatRepository, type Repository } from '../../api/reference.ts';
import { forEachLimit, RegistryError } from '../../registry/index.ts';
import type { DigestTarget, EdgeOutcome, Phase, RunContext } from '../types.ts';

/** Pending edges by digest and destination host, in plan order. */
export function copyGroups(outcomes: readonly EdgeOutcome[]): EdgeOutcome[][] {
  const groups = new Map<string, EdgeOutcome[]>();
  for (const outcome of outcomes) {
    if (outcome.state !== 'promote') continue;
    const key = `${outcome.edge.digest} ${outcome.edge.dst.host}`;
    let group = groups.get(key);
    if (!group) groups.set(key, group = []);
    group.push(outcome);
  }
  return [...groups.values()];
}

/** Digests in production after Promote (promoted by this run or present before it), each with its destinations. */
export function digestsInProduction(outcomes: readonly EdgeOutcome[]): DigestTarget[] {
  const targets = new Map<string, DigestTarget & { byRepo: Map<string, { repo: Repository; tags: string[] }> }>();
  for (const { state, edge } of outcomes) {
    if (state !== 'promoted' && state !== 'present') continue;
    let target = targets.get(edge.digest);
    if (!target) targets.set(edge.digest, target = { digest: edge.digest, src: edge.src, destinations: [], byRepo: new Map() });
    const key = formatRepository(edge.dst);
    const existing = target.byRepo.get(key);
    if (existing) existing.tags = [...new Set([...existing.tags, ...edge.tags])];
    else {
      const destination = { repo: edge.dst, tags: [...edge.tags] };
      target.byRepo.set(key, destination);
      target.destinations.push(destination);
    }
  }
  return [...targets.values()].map(({ digest, src, destinations }) => ({ digest, src, destinations }));
}

async function copyEdge(ctx: RunContext, outcome: EdgeOutcome, from: Repository): Promise<boolean> {
  const { dst, digest, tags } = outcome.edge;
  // Plan refused the edges with a tag it saw on another digest; a tag it saw on this one is in place.
  const inPlace = ctx.destinationTags.get(formatRepository(dst));
  try {
    const copy = await ctx.copier.copy({ src: from, dst, digest, tags: tags.filter((t) => !inPlace?.has(t)), signal: ctx.signal });
    if (copy.tagConflicts.length > 0) {
      // A tag appeared on another digest between Plan and now: still never moved.
      const detail = copy.tagConflicts.map((c) => `${formatReference({ ...dst, tag: c.tag })} is ${c.digest}`).join('; ');
      outcome.end('tagMove', 'TagMoveRefused', detail, copy.tagConflicts);
    } else {
      outcome.state = 'promoted';
      outcome.copied = { blobs: copy.blobsCopied, mounted: copy.blobsMounted, bytes: copy.bytesCopied };
      // What is there now, so the next run need not read it (its tag list must still show it).
      const repository = formatRepository(dst);
      for (const tag of tags) ctx.client.inventory.setTag(repository, tag, digest);
      if (tags.length === 0) ctx.client.inventory.setSeen(repository, digest);
    }
    return true;
  } catch (error) {
    ctx.signal.throwIfAborted();
    outcome.end('failed', error instanceof RegistryError ? error.reason : 'CopyFailed', (error as Error).message);
    return false;
  }
}

export const promotePhase: Phase = {
  name: 'Promote',
  failure: 'PromoteFailed',
  async run(ctx: RunContext) {
    const groups = copyGroups(ctx.outcomes);
    const total = groups.reduce((n, g) => n + g.length, 0);
    if (total > 0 && ctx.options.beforePromote) {
      try {
        await ctx.options.beforePromote();
      } catch (error) {
        ctx.signal.throwIfAborted();
        // Copying without the record would leave a crash's copies unaccounted for.
        return { message: `nothing copied: the record of what this run copies could not be written first: ${(error as Error).message}`, stop: 'failed', reason: 'ProgressNotRecorded' };
      }
    }
    let done = 0;
    const copy = async (outcome: EdgeOutcome, from: Repository) => {
      const copied = await copyEdge(ctx, outcome, from);
      ctx.emit({ type: 'edgeFinished', edge: outcome, done: ++done, total });
      return copied;
    };
    await forEachLimit(groups, ctx.options.concurrency, async ([first, ...rest]) => {
      const seeded = await copy(first!, first!.edge.src);
      // Inside one registry a mount needs no bytes; without a seed, each copies from the source.
      await Promise.all(rest.map((o) => copy(o, seeded && first!.edge.dst.name !== o.edge.dst.name ? first!.edge.dst : o.edge.src)));
    });
    ctx.inProduction = digestsInProduction(ctx.outcomes);
    const attempted = groups.flat();
    const failed = attempted.filter((o) => o.state === 'failed').length;
    const promoted = attempted.filter((o) => o.state === 'promoted').length;
    const message = `${promoted} of ${total} edges promoted${failed ? `, ${failed} failed` : ''}`;
    // Even when every copy failed, Sign and Attest still run: they repair what is already there.
    return failed === total && total > 0 ? { message, stop: 'failed', reason: 'PromoteFailed', keepGoing: true } : { message };
  },
};
