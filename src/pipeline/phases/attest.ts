// Attest: every digest this run promoted, or found in place with something due, gets a
// promotion record (in-toto Statement v1, predicate https://k8s.io/promo-tools/promotion/v1)
// signed by our signer as a DSSE bundle and attached as a referrer, and as a `.att` layer when the
// legacy format is written, in each of those destination repositories that lacks ours in that
// format (attestTarget). The references go into ctx.attestations for the
// resource's status (for destinations with nothing due, from the inventory's marks). Last of
// the phases, it marks every destination Sign and Attest finished (attachments.ts).
import { formatReference, formatRepository, type Repository } from '../../api/reference.ts';
import { describeError, forEachLimit } from '../../registry/index.ts';
import { attachLegacyAttestation, checkAttestations, legacyAttestation } from '../../provenance/attestations.ts';
import { PROMOTION_PREDICATE, promotionStatement } from '../../provenance/promotion.ts';
import { IN_TOTO_PAYLOAD_TYPE } from '../../provenance/statement.ts';
import { attachReferrer, existingReferrer } from '../../signing/attach.ts';
import type { Found } from '../../signing/discover.ts';
import { bundleManifest } from '../../signing/formats.ts';
import type { ArtifactSigner } from '../../signing/signer.ts';
import { artifactSigner, signatureFormats } from '../../signing/trust-material.ts';
import { attestationsFromMarks, destinationsDue, markFinished } from '../attachments.ts';
import type { DigestTarget, Phase, RunContext } from '../types.ts';

type Bundled = Extract<Found, { kind: 'bundle' }>;
type Enveloped = Extract<Found, { kind: 'envelope' }>;

/**
 * One digest in the destinations due: each format checked on its own, as Sign does, so a
 * destination that has our referrer but lost its `.att` layer (or the reverse) gets only what it
 * lacks. At most one promotion record is signed per digest; an existing one of ours (its
 * referrer manifest, its `.att` layer) is copied where it is missing, so every destination holds
 * the same bytes.
 */
async function attestTarget(ctx: RunContext, signer: ArtifactSigner, target: DigestTarget, due: Repository[], legacyFormat: boolean) {
  const opts = { signal: ctx.signal };
  const head = await ctx.client.headManifest(due[0]!, target.digest, opts);
  if (!head) throw new Error(`${target.digest} is not in ${formatRepository(due[0]!)}`);
  const subject = { mediaType: head.mediaType, digest: head.digest, size: head.size };
  const recognise = (kind: Found['kind']) => signer.recognise(kind);
  const checks = await Promise.all(due.map((repo) => checkAttestations(ctx.client, repo, target.digest, [PROMOTION_PREDICATE], recognise, ctx.signal)));
  const ours = checks.flatMap((c) => c.verified.map((v) => v.found));
  const found = { bundle: ours.find((f): f is Bundled => f.kind === 'bundle'), envelope: ours.find((f): f is Enveloped => f.kind === 'envelope') };
  let bundle = found.bundle?.bundleBytes;
  let referrer = found.bundle && existingReferrer(found.bundle, PROMOTION_PREDICATE);
  let layer = found.envelope?.envelopeBytes && { data: found.envelope.envelopeBytes, annotations: found.envelope.annotations ?? {} };
  const signBundle = async () => {
    bundle ??= await signer.signDsse(IN_TOTO_PAYLOAD_TYPE, promotionStatement({
      digest: target.digest,
      source: formatRepository(target.src),
      destinations: target.destinations.map((d) => ({ ref: formatRepository(d.repo), tags: d.tags })),
      timestamp: new Date(),
      ...(ctx.options.trust?.source && { manifest: ctx.options.trust.source }),
    }));
    return bundle;
  };
  const result = { writes: 0, already: 0, references: [] as [Repository, string][] };
  for (const [i, repo] of due.entries()) {
    const has = checks[i]!.verified.map((v) => v.found);
    let manifestDigest = has.find((f): f is Bundled => f.kind === 'bundle')?.manifestDigest;
    let wrote = false;
    if (!manifestDigest) {
      referrer ??= bundleManifest(await signBundle(), subject, PROMOTION_PREDICATE, new Date());
      manifestDigest = await attachReferrer(ctx.client, repo, target.digest, referrer, ctx.signal);
      wrote = true;
    }
    if (legacyFormat && !has.some((f) => f.kind === 'envelope')) {
      layer ??= await legacyAttestation(signer, await signBundle(), PROMOTION_PREDICATE);
      await attachLegacyAttestation(ctx.client, repo, target.digest, layer, ctx.signal);
      wrote = true;
    }
    if (wrote) result.writes += 1;
    else result.already += 1;
    result.references.push([repo, manifestDigest]);
  }
  return result;
}

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
    const targets = ctx.inProduction.map((target) => ({ target, due: destinationsDue(ctx, target).due })).filter((t) => t.due.length > 0);
    const legacyFormat = signatureFormats(trust).includes('legacy');
    const problems: string[] = [];
    let writes = 0;
    let already = 0;
    await forEachLimit(targets, ctx.options.concurrency, async ({ target, due }) => {
      try {
        const result = await attestTarget(ctx, signer, target, due, legacyFormat);
        writes += result.writes;
        already += result.already;
        for (const [repo, manifestDigest] of result.references) {
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
