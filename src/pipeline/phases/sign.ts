// Sign: every digest this run promoted, or found in place with something due (Plan decides from
// the tag lists and the inventory, see attachments.ts), gets a cosign-compatible signature by our
// signer in those destination repositories (an index and each of its images). One signature per
// digest is made and copied where it is missing; a digest that already has a valid one of ours
// is not signed again, so a rerun after a crash repairs without duplicates. Staging's own
// signatures and attestations are copied along first. Destinations with nothing due cost no
// request here.
import { formatRepository, type Repository } from '../../api/reference.ts';
import { describeError, forEachLimit, isIndex, parseManifest, type Descriptor } from '../../registry/index.ts';
import { ensureSigned } from '../../signing/image.ts';
import { KeyedSerial } from '../../signing/serial.ts';
import { copyAttachments, readAttachments, type Attachments } from '../../signing/travel.ts';
import { artifactSigner, signatureFormats } from '../../signing/trust-material.ts';
import { destinationsDue } from '../attachments.ts';
import type { DigestTarget, Phase, RunContext } from '../types.ts';

/** The digest's descriptor and, for an index, its images' descriptors, read from `repo`; an index's images go to the inventory. */
async function subjects(ctx: RunContext, target: DigestTarget, repo: Repository): Promise<Descriptor[]> {
  const manifest = await ctx.client.getManifest(repo, target.digest, { signal: ctx.signal });
  const top: Descriptor = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size };
  if (!isIndex(manifest.mediaType)) return [top];
  const children = parseManifest(manifest.bytes, manifest.mediaType).manifests.map((m) => ({ mediaType: m.mediaType, digest: m.digest, size: m.size }));
  ctx.client.inventory.setChildren(target.digest, children.map((c) => c.digest));
  return [top, ...children];
}

const where = (repo: Repository, digest: string) => `${formatRepository(repo)}@${digest}`;

export const signPhase: Phase = {
  name: 'Sign',
  failure: 'SigningFailed',
  async run(ctx: RunContext) {
    const targets = ctx.inProduction.map((target) => ({ target, ...destinationsDue(ctx, target) })).filter((t) => t.due.length > 0);
    const problems: string[] = [];
    let travelled = 0;
    // Staging's signatures go along whether or not we sign ourselves; staging is read once per digest.
    const staged = new Map<DigestTarget, Promise<Attachments>>();
    const attachmentsOf = (t: DigestTarget) => {
      let read = staged.get(t);
      if (!read) staged.set(t, read = readAttachments(ctx.client, t.src, t.digest, ctx.signal));
      return read;
    };
    await forEachLimit(targets.flatMap(({ target, due }) => due.map((repo) => ({ target, repo }))), ctx.options.concurrency, async ({ target, repo }) => {
      try {
        const moved = await copyAttachments(ctx.client, ctx.copier, await attachmentsOf(target), repo, ctx.signal);
        travelled += moved.referrers + moved.legacyLayers;
      } catch (error) {
        ctx.signal.throwIfAborted();
        ctx.unfinished.add(where(repo, target.digest));
        problems.push(`copying staging signatures of ${target.digest} to ${formatRepository(repo)}: ${describeError(error)}`);
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
    let copied = 0;
    // One image under two indexes of this run is one subject: its signing takes turns, so the
    // second turn finds (and copies) the first one's signature instead of making another.
    const bySubject = new KeyedSerial();
    await forEachLimit(targets, ctx.options.concurrency, async ({ target, due, done }) => {
      try {
        // A destination already complete holds our signature: ensureSigned copies it rather than signing anew.
        const repos = done ? [...due, done] : due;
        for (const subject of await subjects(ctx, target, due[0]!)) {
          const outcome = await bySubject.run(subject.digest, () => ensureSigned(ctx.client, signer, subject, repos, { formats: signatureFormats(trust), signal: ctx.signal }));
          if (outcome.signed) signed += 1;
          else if (outcome.written.length === 0) already += 1;
          else copied += 1;
        }
      } catch (error) {
        ctx.signal.throwIfAborted();
        for (const repo of due) ctx.unfinished.add(where(repo, target.digest));
        problems.push(`signing ${target.digest}: ${describeError(error)}`);
      }
    });
    const skipped = ctx.inProduction.length - targets.length;
    const message = `${signed} digests signed by ${signer.identity}, ${already} already signed, in ${targets.reduce((n, t) => n + t.due.length, 0)} destinations` +
      `${copied ? `; ${copied} digests' signatures copied from another destination` : ''}` +
      `${skipped ? `; ${skipped} digests complete everywhere, not read` : ''}${carried}`;
    if (problems.length === 0) return { message };
    return { message: `${message}; ${problems.length} failed: ${problems.slice(0, 3).join('; ')}`, stop: 'failed', reason: 'SigningFailed', keepGoing: true };
  },
};
