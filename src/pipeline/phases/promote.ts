// Promote: copy every edge the plan marked, digests preserved. Edges of one digest bound for
// one registry host form a group: the first copies from the source, the rest mount from that
// first copy, so each digest's blobs cross the network once per destination registry.
import { forEachLimit, RegistryError, type Repository } from '../../registry/index.ts';
import type { EdgeResult, Phase, PlannedEdge, RunContext } from '../types.ts';

const failure = (error: unknown) => ({
  reason: error instanceof RegistryError ? error.reason : 'CopyFailed',
  message: (error as Error).message,
});

export const promotePhase: Phase = {
  name: 'Promote',
  async run(ctx: RunContext) {
    const pending = ctx.plan.filter((e) => e.state === 'promote');
    const groups = new Map<string, PlannedEdge[]>();
    for (const edge of pending) {
      const key = `${edge.digest} ${edge.dst.host}`;
      groups.set(key, [...(groups.get(key) ?? []), edge]);
    }
    let done = 0;
    const finish = (result: EdgeResult) => {
      ctx.results.push(result);
      done += 1;
      ctx.emit({ type: 'edgeFinished', result, done, total: pending.length });
    };
    const copyEdge = async (edge: PlannedEdge, from: Repository): Promise<boolean> => {
      try {
        const copy = await ctx.copier.copy({ src: from, dst: edge.dst, digest: edge.digest, tags: edge.missingTags, knownTags: edge.knownTags, signal: ctx.signal });
        if (copy.tagConflicts.length > 0) {
          // A tag appeared on another digest between Plan and now: still never moved.
          finish({ edge, outcome: 'refused', copy, error: { reason: 'TagMove', message: copy.tagConflicts.map((c) => `${edge.dst.host}/${edge.dst.name}:${c.tag} is ${c.digest}`).join('; ') } });
          return true;
        }
        finish({ edge, outcome: 'promoted', copy });
        return true;
      } catch (error) {
        ctx.signal.throwIfAborted();
        finish({ edge, outcome: 'failed', error: failure(error) });
        return false;
      }
    };
    await forEachLimit([...groups.values()], ctx.options.concurrency, async ([first, ...rest]) => {
      const seeded = await copyEdge(first!, first!.src);
      // Inside one registry a mount needs no bytes; without a seed, each copies from the source.
      await Promise.all(rest.map((edge) => copyEdge(edge, seeded && first!.dst.name !== edge.dst.name ? first!.dst : edge.src)));
    });
    const failed = ctx.results.filter((r) => r.outcome === 'failed').length;
    const promoted = ctx.results.filter((r) => r.outcome === 'promoted').length;
    const message = `${promoted} of ${pending.length} edges promoted${failed ? `, ${failed} failed` : ''}`;
    // Even when every copy failed, Sign and Attest still run: they repair what is already there.
    return failed === pending.length && pending.length > 0 ? { message, stop: 'failed', reason: 'PromoteFailed', keepGoing: true } : { message };
  },
};
