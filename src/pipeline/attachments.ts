// Whether a digest already present in a destination has everything Sign and Attest add there
// (staging's signatures, ours, our promotion attestation), decided from the tag list Plan read
// rather than by reading the signatures: issue 18's "presence from listings, not probes".
//
// A list can prove something missing: with bundles on a registry without the referrers API,
// the `sha256-<hex>` tag of the digest (and of each image of an index) must be listed; with
// legacy signatures its `.sig` tag, with legacy attestations its `.att`. It cannot prove who
// signed what it shows (staging's travelled signatures make the same tags), and on a registry
// with the referrers API it shows nothing at all. So the first time, Sign and Attest read and
// verify as before, and when they finish a destination they leave a mark in the inventory
// under a key naming the signing settings; later runs believe a mark while the list still
// shows its tags and the verification interval lasts. A deleted signature tag is repaired on
// the next run; a signature replaced in place within the interval is not noticed (see
// docs/operations.md).
import { createHash } from 'node:crypto';
import { limits } from '../api/promotion-manifest.ts';
import { formatReference, formatRepository, type Repository } from '../api/reference.ts';
import { PROMOTION_PREDICATE } from '../provenance/promotion.ts';
import { artifactSigner, signatureFormats } from '../signing/trust-material.ts';
import type { TrustOptions } from '../signing/options.ts';
import { AttachedTag } from './listings.ts';
import type { DigestTarget, RunContext } from './types.ts';

const defaultVerifyIntervalMs = 24 * 3600_000;

/**
 * The key marks are made under: our signer (and its public keys), the formats written,
 * whether attestations are, and the signing services; a change of any of them makes every mark stale. Without a signer
 * only staging's attachments travel, and the key says so.
 */
export async function attachmentKey(trust: TrustOptions | undefined): Promise<string> {
  const signer = trust && await artifactSigner(trust);
  if (!signer) return 'travel';
  const keys = (await signer.policy()).keys.map((k) => createHash('sha256').update(k.key.export({ type: 'spki', format: 'der' })).digest('hex'));
  const attest = trust.attestation?.enabled !== false;
  // The signing services decide which proofs our signatures must carry (signing/recognise.ts):
  // configuring a Rekor or a TSA makes every earlier mark stale, so Sign looks again at once.
  const services = trust.signingServices ? [trust.signingServices.rekorURL ?? '', trust.signingServices.rekorVersion ?? 1, trust.signingServices.timestampAuthorityURL ?? ''] : [];
  return createHash('sha256').update(JSON.stringify([signer.identity, keys, signatureFormats(trust), attest, ...(services.length > 0 ? [services] : [])])).digest('hex').slice(0, 32);
}

/** The AttachedTag bits a complete subject shows in a list of `host`, under these settings. */
function expectedBits(ctx: RunContext, host: string, top: boolean): number {
  const trust = ctx.options.trust;
  if (!trust?.signing) return 0;
  const formats = signatureFormats(trust);
  const referrersApi = ctx.client.inventory.referrersApi(host) === true;
  const attest = top && trust.attestation?.enabled !== false;
  let bits = 0;
  if (formats.includes('bundle') && !referrersApi) bits |= AttachedTag.referrers;
  if (formats.includes('legacy')) bits |= AttachedTag.sig | (attest ? AttachedTag.att : 0);
  return bits;
}

/** Whether Sign and Attest may skip `digest` in `repo`: its list shows what they add, and a fresh mark of ours says the rest. */
export function attachmentsComplete(ctx: RunContext, repo: Repository, digest: string): boolean {
  const key = formatRepository(repo);
  const mark = ctx.client.inventory.mark(key, digest);
  if (!mark || mark.key !== ctx.attachmentKey) return false;
  const verifyMs = ctx.options.verifyIntervalMs ?? defaultVerifyIntervalMs;
  if (!(ctx.client.inventory.now() - mark.at < verifyMs)) return false;
  const listing = ctx.listings.get(key);
  if (!listing) return false;
  const has = (subject: string, bits: number) => ((listing.attached.get(subject) ?? 0) & bits) === bits;
  if (!has(digest, expectedBits(ctx, repo.host, true))) return false;
  if (mark.index) {
    const children = ctx.client.inventory.children(digest);
    if (!children) return false;
    const bits = expectedBits(ctx, repo.host, false);
    if (!children.every((child) => has(child, bits))) return false;
  }
  return true;
}

const work = new WeakMap<RunContext, Set<string>>();

/**
 * `host/repo@digest` of every destination Sign and Attest work on: where this run promoted, and
 * where Plan found something due. Every other destination of a digest in production is complete.
 */
export function attachmentWork(ctx: RunContext): Set<string> {
  let found = work.get(ctx);
  if (!found) {
    found = new Set();
    for (const outcome of ctx.outcomes) {
      if (outcome.state === 'promoted' || ctx.attachmentsDue.has(outcome)) found.add(`${formatRepository(outcome.edge.dst)}@${outcome.edge.digest}`);
    }
    work.set(ctx, found);
  }
  return found;
}

/**
 * After Sign and Attest: marks each destination they worked on and finished, so the next run
 * can skip it. `attestations` gives our attestation's manifest digest per destination.
 */
export function markFinished(ctx: RunContext, attestations: ReadonlyMap<string, string>): void {
  const key = ctx.attachmentKey;
  if (key === undefined) return;
  const inventory = ctx.client.inventory;
  const now = inventory.now();
  const due = attachmentWork(ctx);
  for (const target of ctx.inProduction) {
    const index = inventory.children(target.digest) !== undefined;
    for (const { repo } of target.destinations) {
      const repository = formatRepository(repo);
      const where = `${repository}@${target.digest}`;
      if (!due.has(where) || ctx.unfinished.has(where)) continue;
      const attestation = attestations.get(where);
      inventory.setMark(repository, target.digest, { key, at: now, ...(attestation && { attestation }), ...(index && { index: true }) });
    }
  }
}

/** The destinations of `target` Sign and Attest work on, and one they need not (a source of our existing signature), if any. */
export function destinationsDue(ctx: RunContext, target: DigestTarget): { due: Repository[]; done: Repository | undefined } {
  const work = attachmentWork(ctx);
  const due: Repository[] = [];
  let done: Repository | undefined;
  for (const { repo } of target.destinations) {
    if (work.has(`${formatRepository(repo)}@${target.digest}`)) due.push(repo);
    else done ??= repo;
  }
  return { due, done };
}

/**
 * References of our promotion attestations in destinations with nothing due, from their marks,
 * added to ctx.attestations: as many as the status shows, so a run that had nothing to do still
 * names some (a registry.k8s.io-sized steady state would otherwise hold 400,000 of them).
 */
export function attestationsFromMarks(ctx: RunContext): void {
  const work = attachmentWork(ctx);
  const named = new Set(ctx.attestations.map((a) => a.ref));
  for (const { state, edge } of ctx.outcomes) {
    if (ctx.attestations.length >= limits.statusAttestations) return;
    if (state !== 'present' && state !== 'promoted') continue;
    const repository = formatRepository(edge.dst);
    if (work.has(`${repository}@${edge.digest}`)) continue;
    const mark = ctx.client.inventory.mark(repository, edge.digest);
    if (!mark?.attestation || mark.key !== ctx.attachmentKey) continue;
    const ref = formatReference({ ...edge.dst, digest: mark.attestation });
    if (named.has(ref)) continue;
    named.add(ref);
    ctx.attestations.push({ digest: edge.digest, ref, predicateType: PROMOTION_PREDICATE });
  }
}
