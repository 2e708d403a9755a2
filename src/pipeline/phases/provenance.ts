// Provenance: staging digests must carry SLSA provenance (v1 or v0.2, in a DSSE in-toto
// statement) signed by a signer spec.verification.signatures accepts, naming an accepted
// builder id and, when the policy lists them, an accepted source repository.
import { checkAttestations } from '../../provenance/attestations.ts';
import { provenanceFacts, provenanceMismatch, slsaPredicateTypes } from '../../provenance/slsa.ts';
import { signerPolicy } from '../../signing/trust-material.ts';
import type { Phase, RunContext } from '../types.ts';
import { applyVerdicts, checkDigests, verifiable } from '../verification.ts';

export const provenancePhase: Phase = {
  name: 'Provenance',
  failure: 'ProvenanceFailed',
  async run(ctx: RunContext) {
    const trust = ctx.options.trust;
    const spec = trust?.verification?.provenance;
    if (!trust || !spec) return { message: 'provenance verification: no policy in spec.verification.provenance, not verified', skipped: true };
    const mode = spec.mode ?? 'Enforce';
    if (mode === 'Off') return { message: 'provenance verification: policy Off, not verified', skipped: true };
    const policy = await signerPolicy(trust);
    if (policy.keys.length === 0 && policy.identities.length === 0) {
      return {
        message: 'provenance verification needs to know who may sign provenance: add keys or identities to spec.verification.signatures',
        stop: 'failed', reason: 'ProvenanceSignerUnknown',
      };
    }
    const wanted = { builderIds: spec.builderIds ?? [], ...(spec.sourceRepositories && { sourceRepositories: spec.sourceRepositories }) };
    const edges = verifiable(ctx);
    const verdicts = await checkDigests(ctx, edges, async (src, digest) => {
      const check = await checkAttestations(ctx.client, src, digest, slsaPredicateTypes, policy, ctx.signal);
      const reasons = [...check.problems];
      for (const { statement } of check.verified) {
        const facts = provenanceFacts(statement.predicateType, statement.predicate);
        const mismatch = facts ? provenanceMismatch(facts, wanted) : `unreadable ${statement.predicateType} predicate`;
        if (!mismatch) return undefined;
        reasons.push(mismatch);
      }
      return reasons.join('; ') || 'no provenance found';
    });
    return applyVerdicts(edges, verdicts, mode, 'provenance', 'ProvenanceNotVerified');
  },
};
