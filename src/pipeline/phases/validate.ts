// Validate: staging digests must carry a signature by a signer spec.verification.signatures
// accepts (cosign v3 bundles among the referrers, or legacy `.sig` tags). Under Enforce an
// edge whose digest fails is refused and the others go on; under Warn it is recorded and goes on.
import { forEachLimit, type Repository } from '../../registry/index.ts';
import { checkSignatures } from '../../signing/image.ts';
import { signerPolicy } from '../../signing/trust-material.ts';
import type { Phase, PhaseOutcome, PlannedEdge, RunContext } from '../types.ts';

type Mode = 'Enforce' | 'Warn' | 'Off';

/** Edges whose staging digest is checked: what will be promoted, and what Sign/Attest may repair. */
export const verifiable = (ctx: RunContext) => ctx.plan.filter((e) => e.state === 'promote' || e.state === 'present');

/** Checks each distinct staging digest once; keyed `host/repo@digest`, the value says why it failed (undefined: passed). */
export async function checkDigests(
  ctx: RunContext, edges: PlannedEdge[], check: (src: Repository, digest: string) => Promise<string | undefined>,
): Promise<Map<string, string | undefined>> {
  const keyOf = (e: PlannedEdge) => `${e.src.host}/${e.src.name}@${e.digest}`;
  const unique = new Map(edges.map((e) => [keyOf(e), e]));
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

/** Applies per-digest verdicts to the edges under a policy mode and says what happened. */
export function applyVerdicts(
  edges: PlannedEdge[], verdicts: Map<string, string | undefined>, mode: Mode, what: string, reason: string,
): PhaseOutcome {
  const failedDigests = new Map<string, string>();
  for (const edge of edges) {
    const why = verdicts.get(`${edge.src.host}/${edge.src.name}@${edge.digest}`);
    if (why === undefined) continue;
    failedDigests.set(`${edge.src.host}/${edge.src.name}@${edge.digest}`, why);
    if (mode === 'Enforce') {
      edge.state = 'unverified';
      edge.reason = `${reason}: ${why}`;
    } else {
      edge.warnings = [...(edge.warnings ?? []), `${reason}: ${why}`];
    }
  }
  const total = new Set(edges.map((e) => `${e.src.host}/${e.src.name}@${e.digest}`)).size;
  const passed = total - failedDigests.size;
  if (failedDigests.size === 0) return { message: `${what}: ${passed} of ${total} staging digests verified` };
  const examples = [...failedDigests.entries()].slice(0, 3).map(([ref, why]) => `${ref}: ${why}`).join('; ');
  const verb = mode === 'Enforce' ? 'refused' : 'not verified (Warn: promoted anyway)';
  return { message: `${what}: ${passed} of ${total} staging digests verified, ${failedDigests.size} ${verb} (${reason}): ${examples}` };
}

export const validatePhase: Phase = {
  name: 'Validate',
  async run(ctx: RunContext) {
    const trust = ctx.options.trust;
    const spec = trust?.verification?.signatures;
    if (!trust || !spec) return { message: 'signature verification: no policy in spec.verification.signatures, not verified', skipped: true };
    const mode: Mode = spec.mode ?? 'Enforce';
    if (mode === 'Off') return { message: 'signature verification: policy Off, not verified', skipped: true };
    const policy = await signerPolicy(trust);
    const edges = verifiable(ctx);
    const verdicts = await checkDigests(ctx, edges, async (src, digest) => {
      const check = await checkSignatures(ctx.client, src, digest, policy, ctx.signal);
      return check.valid.length > 0 ? undefined : check.problems.join('; ');
    });
    return applyVerdicts(edges, verdicts, mode, 'signatures', 'SignatureNotVerified');
  },
};
