// Validate: staging digests must carry a signature by a signer spec.verification.signatures
// accepts (cosign v3 bundles among the referrers, or legacy `.sig` tags). Under Enforce an
// edge whose digest fails is refused and the others go on; under Warn it is recorded and goes on.
import { checkSignatures } from '../../signing/image.ts';
import { signerPolicy } from '../../signing/trust-material.ts';
import type { Phase, RunContext } from '../types.ts';
import { applyVerdicts, checkDigests, verifiable, type PolicyMode } from '../verification.ts';

export const validatePhase: Phase = {
  name: 'Validate',
  failure: 'ValidateFailed',
  async run(ctx: RunContext) {
    const trust = ctx.options.trust;
    const spec = trust?.verification?.signatures;
    if (!trust || !spec) return { message: 'signature verification: no policy in spec.verification.signatures, not verified', skipped: true };
    const mode: PolicyMode = spec.mode ?? 'Enforce';
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
