// Sign: every digest this run promoted, or found already promoted, gets a cosign-compatible
// signature by our signer in every destination repository (an index and each of its images).
// One signature per digest is made and copied where it is missing; a digest that already has a
// valid one of ours is not signed again, so a rerun after a crash repairs without duplicates.
// Staging's own signatures and attestations are copied along first.
import { formatRepository } from '../../api/reference.ts';
import { describeError, forEachLimit, isIndex, parseManifest, type Descriptor } from '../../registry/index.ts';
import { ensureSigned } from '../../signing/image.ts';
import { copyAttachments, readAttachments, type Attachments } from '../../signing/travel.ts';
import { artifactSigner, signatureFormats } from '../../signing/trust-material.ts';
import type { DigestTarget, Phase, RunContext } from '../types.ts';

/** The digest's descriptor and, for an index, its images' descriptors, read from the first destination. */
async function subjects(ctx: RunContext, target: DigestTarget): Promise<Descriptor[]> {
  const repo = target.destinations[0]!.repo;
  const manifest = await ctx.client.getManifest(repo, target.digest, { signal: ctx.signal });
  const top: Descriptor = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size };
  if (!isIndex(manifest.mediaType)) return [top];
  return [top, ...parseManifest(manifest.bytes, manifest.mediaType).manifests.map((m) => ({ mediaType: m.mediaType, digest: m.digest, size: m.size }))];
}

export const signPhase: Phase = {
  name: 'Sign',
  failure: 'SigningFailed',
  async run(ctx: RunContext) {
    const targets = ctx.inProduction;
    const problems: string[] = [];
    let travelled = 0;
    // Staging's signatures go along whether or not we sign ourselves; staging is read once per digest.
    const staged = new Map<DigestTarget, Promise<Attachments>>();
    const attachmentsOf = (t: DigestTarget) => {
      let read = staged.get(t);
      if (!read) staged.set(t, read = readAttachments(ctx.client, t.src, t.digest, ctx.signal));
      return read;
    };
    await forEachLimit(targets.flatMap((t) => t.destinations.map((d) => ({ t, d }))), ctx.options.concurrency, async ({ t, d }) => {
      try {
        const moved = await copyAttachments(ctx.client, ctx.copier, await attachmentsOf(t), d.repo, ctx.signal);
        travelled += moved.referrers + moved.legacyLayers;
      } catch (error) {
        ctx.signal.throwIfAborted();
        problems.push(`copying staging signatures of ${t.digest} to ${formatRepository(d.repo)}: ${describeError(error)}`);
      }
    });
    const carried = travelled ? `; ${travelled} staging signatures/attestations copied` : '';
    const trust = ctx.options.trust;
    const signer = trust && await artifactSigner(trust);
    if (!signer) {
      const message = `signing: not configured (spec.signing absent)${carried}${problems.length ? `; ${problems.join('; ')}` : ''}`;
      return { message, skipped: true };
    }
    let signed = 0;
    let already = 0;
    await forEachLimit(targets, ctx.options.concurrency, async (target) => {
      try {
        const repos = target.destinations.map((d) => d.repo);
        for (const subject of await subjects(ctx, target)) {
          const outcome = await ensureSigned(ctx.client, signer, subject, repos, { formats: signatureFormats(trust), signal: ctx.signal });
          if (outcome.signed) signed += 1;
          else if (outcome.written.length === 0) already += 1;
        }
      } catch (error) {
        ctx.signal.throwIfAborted();
        problems.push(`signing ${target.digest}: ${describeError(error)}`);
      }
    });
    const message = `${signed} digests signed by ${signer.identity}, ${already} already signed, in ${targets.reduce((n, t) => n + t.destinations.length, 0)} destinations${carried}`;
    if (problems.length === 0) return { message };
    return { message: `${message}; ${problems.length} failed: ${problems.slice(0, 3).join('; ')}`, stop: 'failed', reason: 'SigningFailed', keepGoing: true };
  },
};
