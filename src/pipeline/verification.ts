// What Provenance and Validate share: which edges are checked, one check per distinct staging
// digest, and how failed checks refuse edges (Enforce) or only warn (Warn).
import type { Reason } from '../api/reasons.ts';
import { formatReference, type Repository } from '../api/reference.ts';
import { forEachLimit } from '../registry/index.ts';
import type { EdgeOutcome, PhaseOutcome, RunContext } from './types.ts';

export type PolicyMode = 'Enforce' | 'Warn' | 'Off';

/**
 * Edges whose staging digest is checked: what will be promoted, and what Sign and Attest will
 * repair (Plan's attachmentsDue). A digest in place with nothing due is not looked at again.
 */
export const verifiable = (ctx: RunContext): EdgeOutcome[] => ctx.outcomes.filter((e) => e.state === 'promote' || (e.state === 'present' && ctx.attachmentsDue.has(e)));

const stagingKey = (e: EdgeOutcome) => formatReference({ ...e.edge.src, digest: e.edge.digest });

/** Checks each distinct staging digest once; keyed `host/repo@digest`, the value says why it failed (undefined: passed). */
export async function checkDigests(
  ctx: RunContext, edges: EdgeOutcome[], check: (src: Repository, digest: string) => Promise<string | undefined>,
): Promise<Map<string, string | undefined>> {
  const unique = new Map(edges.map((e) => [stagingKey(e), e.edge]));
  const verdicts = new Map<string, string | undefined>();
  await forEachLimit([...unique.entries()], ctx.options.planConcurrency, async ([key, edge]) => {
    try {
      verdicts.set(key, await check(edge.src, edge.digest));
    } catch (error) {
      ctx.signal.throwIfAborted();
      verdicts.set(key, `verification failed: ${(error as Error).message}`);
    }
  });
  return verdicts;
}

/**
 * Applies per-digest verdicts to the edges under a policy mode: Enforce refuses the edges of a
 * digest that failed (state unverified, with the reason), Warn records a warning and lets them go.
 */
export function applyVerdicts(
  edges: EdgeOutcome[], verdicts: Map<string, string | undefined>, mode: PolicyMode, what: string, reason: Reason,
): PhaseOutcome {
  const failedDigests = new Map<string, string>();
  const digests = new Set<string>();
  for (const edge of edges) {
    const key = stagingKey(edge);
    digests.add(key);
    const why = verdicts.get(key);
    if (why === undefined) continue;
    failedDigests.set(key, why);
    if (mode === 'Enforce') edge.end('unverified', reason, why);
    else (edge.warnings ??= []).push(`${reason}: ${why}`);
  }
  const total = digests.size;
  const passed = total - failedDigests.size;
  if (failedDigests.size === 0) return { message: `${what}: ${passed} of ${total} staging digests verified` };
  const examples = [...failedDigests.entries()].slice(0, 3).map(([ref, why]) => `${ref}: ${why}`).join('; ');
  const verb = mode === 'Enforce' ? 'refused' : 'not verified (Warn: promoted anyway)';
  return { message: `${what}: ${passed} of ${total} staging digests verified, ${failedDigests.size} ${verb} (${reason}): ${examples}` };
}
