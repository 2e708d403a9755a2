// Attest: every digest this run promoted, or found in place with something due, gets a
// promotion record (in-toto Statement v1, predicate https://k8s.io/promo-tools/promotion/v1)
// signed by our signer as a DSSE bundle and attached as a referrer in each of those destination
// repositories that has none of ours yet. The references go into ctx.attestations for the
// resource's status (for destinations with nothing due, from the inventory's marks). Last of
// the phases, it marks every destination Sign and Attest finished (attachments.ts).
import { formatReference, formatRepository } from '../../api/reference.ts';
import { describeError, forEachLimit } from '../../registry/index.ts';
import { attachAttestation, checkAttestations, legacyAttestation } from '../../provenance/attestations.ts';
import { PROMOTION_PREDICATE, promotionStatement } from '../../provenance/promotion.ts';
import { IN_TOTO_PAYLOAD_TYPE } from '../../provenance/statement.ts';
import { artifactSigner, signatureFormats } from '../../signing/trust-material.ts';
import { attestationsFromMarks, destinationsDue, markFinished } from '../attachments.ts';
import type { Phase, RunContext } from '../types.ts';

export const attestPhase: Phase = {
  name: 'Attest',
  failure: 'AttestationFailed',
  async run(ctx: RunContext) {
    const trust = ctx.options.trust;
    const written = new Map<string, string>();
    if (trust?.attestation?.enabled === false) {
      markFinished(ctx, written);
      return { message: 'promotion attestation: disabled in spec.attestation', skipped: true };
    }
    const signer = trust && await artifactSigner(trust);
    if (!signer) {
      markFinished(ctx, written);
      return { message: 'promotion attestation: not written, spec.signing names no signer', skipped: true };
    }
    const policy = await signer.policy();
    const targets = ctx.inProduction.map((target) => ({ target, due: destinationsDue(ctx, target).due })).filter((t) => t.due.length > 0);
    const problems: string[] = [];
    let writes = 0;
    let already = 0;
    await forEachLimit(targets, ctx.options.concurrency, async ({ target, due }) => {
      try {
        const opts = { signal: ctx.signal };
        const head = await ctx.client.headManifest(due[0]!, target.digest, opts);
        if (!head) throw new Error(`${target.digest} is not in ${formatRepository(due[0]!)}`);
        const subject = { mediaType: head.mediaType, digest: head.digest, size: head.size };
        let bundle: Buffer | undefined;
        let legacy: Awaited<ReturnType<typeof legacyAttestation>> | undefined;
        for (const repo of due) {
          const check = await checkAttestations(ctx.client, repo, target.digest, [PROMOTION_PREDICATE], policy, ctx.signal);
          const ours = check.verified.find((v) => v.found.kind === 'bundle');
          let manifestDigest: string;
          if (ours && ours.found.kind === 'bundle') {
            manifestDigest = ours.found.manifestDigest;
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
            manifestDigest = await attachAttestation(ctx.client, repo, subject, bundle, PROMOTION_PREDICATE, ctx.signal, legacy);
            writes += 1;
          }
          written.set(`${formatRepository(repo)}@${target.digest}`, manifestDigest);
          ctx.attestations.push({ digest: target.digest, ref: formatReference({ ...repo, digest: manifestDigest }), predicateType: PROMOTION_PREDICATE });
        }
      } catch (error) {
        ctx.signal.throwIfAborted();
        for (const repo of due) ctx.unfinished.add(`${formatRepository(repo)}@${target.digest}`);
        problems.push(`attesting ${target.digest}: ${describeError(error)}`);
      }
    });
    attestationsFromMarks(ctx);
    markFinished(ctx, written);
    const message = `${writes} promotion attestations written, ${already} already there, for ${targets.length} digests`;
    if (problems.length === 0) return { message };
    return { message: `${message}; ${problems.length} failed: ${problems.slice(0, 3).join('; ')}`, stop: 'failed', reason: 'AttestationFailed', keepGoing: true };
  },
};
