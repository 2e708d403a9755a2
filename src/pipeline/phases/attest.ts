// Attest: every digest in production after this run gets a promotion record (in-toto Statement
// v1, predicate https://k8s.io/promo-tools/promotion/v1) signed by our signer as a DSSE bundle
// and attached as a referrer in each destination repository that has none of ours yet. The
// references go into ctx.attestations for the resource's status.
import { formatReference, formatRepository } from '../../api/reference.ts';
import { describeError, forEachLimit } from '../../registry/index.ts';
import { attachAttestation, checkAttestations, legacyAttestation } from '../../provenance/attestations.ts';
import { PROMOTION_PREDICATE, promotionStatement } from '../../provenance/promotion.ts';
import { IN_TOTO_PAYLOAD_TYPE } from '../../provenance/statement.ts';
import { artifactSigner, signatureFormats } from '../../signing/trust-material.ts';
import type { Phase, RunContext } from '../types.ts';

export const attestPhase: Phase = {
  name: 'Attest',
  failure: 'AttestationFailed',
  async run(ctx: RunContext) {
    const trust = ctx.options.trust;
    if (trust?.attestation?.enabled === false) return { message: 'promotion attestation: disabled in spec.attestation', skipped: true };
    const signer = trust && await artifactSigner(trust);
    if (!signer) return { message: 'promotion attestation: not written, spec.signing names no signer', skipped: true };
    const policy = await signer.policy();
    const targets = ctx.inProduction;
    const problems: string[] = [];
    let written = 0;
    let already = 0;
    await forEachLimit(targets, ctx.options.concurrency, async (target) => {
      try {
        const opts = { signal: ctx.signal };
        const head = await ctx.client.headManifest(target.destinations[0]!.repo, target.digest, opts);
        if (!head) throw new Error(`${target.digest} is not in ${formatRepository(target.destinations[0]!.repo)}`);
        const subject = { mediaType: head.mediaType, digest: head.digest, size: head.size };
        let bundle: Buffer | undefined;
        let legacy: Awaited<ReturnType<typeof legacyAttestation>> | undefined;
        for (const { repo } of target.destinations) {
          const check = await checkAttestations(ctx.client, repo, target.digest, [PROMOTION_PREDICATE], policy, ctx.signal);
          const ours = check.verified.find((v) => v.found.kind === 'bundle');
          let ref: string;
          if (ours && ours.found.kind === 'bundle') {
            ref = formatReference({ ...repo, digest: ours.found.manifestDigest });
            already += 1;
          } else {
            bundle ??= await signer.signDsse(IN_TOTO_PAYLOAD_TYPE, promotionStatement({
              digest: target.digest,
              source: formatRepository(target.src),
              destinations: target.destinations.map((d) => ({ ref: formatRepository(d.repo), tags: d.tags })),
              timestamp: new Date(),
              ...(trust.source && { manifest: trust.source }),
            }));
            if (!legacy && signatureFormats(trust).includes('legacy')) legacy = await legacyAttestation(signer, bundle, PROMOTION_PREDICATE);
            ref = formatReference({ ...repo, digest: await attachAttestation(ctx.client, repo, subject, bundle, PROMOTION_PREDICATE, ctx.signal, legacy) });
            written += 1;
          }
          ctx.attestations.push({ digest: target.digest, ref, predicateType: PROMOTION_PREDICATE });
        }
      } catch (error) {
        ctx.signal.throwIfAborted();
        problems.push(`attesting ${target.digest}: ${describeError(error)}`);
      }
    });
    const message = `${written} promotion attestations written, ${already} already there, for ${targets.length} digests`;
    if (problems.length === 0) return { message };
    return { message: `${message}; ${problems.length} failed: ${problems.slice(0, 3).join('; ')}`, stop: 'failed', reason: 'AttestationFailed', keepGoing: true };
  },
};
