// Setup: check the options and that there is something to work on, and load the trust material
// (keys, Secrets), before any registry is read.
import { formatRepository } from '../../api/reference.ts';
import { artifactSigner, keylessTrustedRootProblem, signerPolicy } from '../../signing/trust-material.ts';
import type { Phase, RunContext } from '../types.ts';

export const setupPhase: Phase = {
  name: 'Setup',
  failure: 'SetupFailed',
  async run(ctx: RunContext) {
    const { concurrency, planConcurrency } = ctx.options;
    for (const [name, value] of Object.entries({ concurrency, planConcurrency })) {
      if (!(Number.isInteger(value) && value >= 1)) {
        return { message: `${name} must be a whole number of at least 1, got ${value}`, stop: 'failed', reason: 'InvalidOptions' };
      }
    }
    if (ctx.edges.length === 0) return { message: 'the manifests name no images to promote', stop: 'done' };
    const trust = ctx.options.trust;
    // A wrong key password or a missing Secret stops the run here, before anything is copied,
    // rather than leaving promoted images unsigned. Loaded material is cached per run.
    if (trust?.signing && ctx.options.mode === 'Promote') {
      // Keyless without a trusted root would never recognise its own earlier signatures and
      // sign and attest every digest again on every run.
      const noRoot = keylessTrustedRootProblem(trust);
      if (noRoot) return { message: noRoot, stop: 'failed', reason: 'KeylessNeedsTrustedRoot' };
      await artifactSigner(trust);
    }
    if (trust?.verification?.signatures && trust.verification.signatures.mode !== 'Off') await signerPolicy(trust);
    const sources = new Set(ctx.edges.map((e) => formatRepository(e.src))).size;
    const destinations = new Set(ctx.edges.map((e) => formatRepository(e.dst))).size;
    return { message: `${ctx.edges.length} edges from ${sources} source to ${destinations} destination repositories` };
  },
};
