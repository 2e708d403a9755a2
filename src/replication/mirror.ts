// One (digest, mirror repository) pair: what the mirror lacks of what the primary holds, and the
// writes that bring it level. What the mirror's listing answers is never read again; a mirror
// that does not hold the digest itself gets nothing (a signature of an image that is not there
// would only be litter). A same-named tag is compared by digest wherever that costs nothing (tag
// lists that name digests) or is asked for (check: Digest, a HEAD per tag); one that differs gets
// the primary's bytes. Nothing is ever deleted, and a tag is only replaced by the primary's bytes
// when that loses nothing the mirror had (otherwise: SignatureDiverged).
import type { Reason } from '../api/reasons.ts';
import { isReason } from '../api/reasons.ts';
import { formatRepository } from '../api/reference.ts';
import { describeError, MediaType, type Descriptor, type RegistryClient, type Repository } from '../registry/index.ts';
import { checkSubject, fallbackTag, isIndexTag, maxReferrers, type PrimaryReader, type ReadManifest, type TagListing } from './artifacts.ts';
import { MirrorWriter } from './copy.ts';
import type { ReferrersApiHosts } from './referrers-api.ts';
import type { PairState, ReplicationTarget } from './types.ts';

/** What the primary holds for one digest. */
export interface Holdings {
  /** Artifact tags listed at the primary: `.sig`, `.att`, the `sha256-<hex>` referrers index. */
  tags: string[];
  /** Referrers the primary's referrers API lists (only on a primary that serves it). */
  referrers?: Descriptor[];
  /** Tag -> digest at the primary, where its tag list says (shared by the repository's targets; never modify). */
  digests?: ReadonlyMap<string, string>;
}

export const holdsAnything = (h: Holdings) => h.tags.length > 0 || (h.referrers?.length ?? 0) > 0;

export interface PairContext {
  client: RegistryClient;
  writer: MirrorWriter;
  apiHosts: ReferrersApiHosts;
  check: 'Presence' | 'Digest';
  dryRun: boolean;
  signal?: AbortSignal;
}

export interface PairResult {
  state: Exclude<PairState, 'failed'> | 'failed';
  /** Tags and referrer digests written (or that would be). */
  artifacts: string[];
  reason?: Reason;
  detail?: string;
}

type Need =
  | { kind: 'tag'; tag: string; replace: boolean }
  | { kind: 'referrers'; missing: Descriptor[]; indexAtMirror: boolean };

const layerKey = (l: { digest: string; annotations?: Record<string, string> }) => `${l.digest} ${JSON.stringify(l.annotations ?? {})}`;

function layersOf(manifest: ReadManifest): { digest: string; annotations?: Record<string, string> }[] {
  const doc = JSON.parse(manifest.bytes.toString('utf8')) as { layers?: { digest: string; annotations?: Record<string, string> }[] };
  return doc.layers ?? [];
}

/** Whether every layer (signature) the mirror's tag holds is among the primary's. */
function losesNothing(mirror: ReadManifest, primary: ReadManifest): boolean {
  if (mirror.parsed.manifests.length > 0 || primary.parsed.manifests.length > 0) {
    const have = new Set(primary.parsed.manifests.map((m) => m.digest));
    return mirror.parsed.manifests.every((m) => have.has(m.digest));
  }
  const have = new Set(layersOf(primary).map(layerKey));
  return layersOf(mirror).every((l) => have.has(layerKey(l)));
}

/** A `sha256-<hex>` tag index listing `entries`, as the OCI tag schema writes it. */
function indexOf(entries: Descriptor[]): { bytes: Buffer; mediaType: string } {
  const manifests = entries.map((d) => ({
    mediaType: d.mediaType, digest: d.digest, size: d.size,
    ...(d.artifactType && { artifactType: d.artifactType }), ...(d.annotations && { annotations: d.annotations }),
  }));
  return { bytes: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests })), mediaType: MediaType.ociIndex };
}

async function needsOf(ctx: PairContext, target: ReplicationTarget, holdings: Holdings, reader: PrimaryReader, mirror: Repository, mirrorTags: TagListing): Promise<Need[]> {
  const opts = ctx.signal ? { signal: ctx.signal } : {};
  const needs: Need[] = [];
  for (const tag of holdings.tags) {
    const primaryDigest = holdings.digests?.get(tag);
    const mirrorDigest = mirrorTags.digests?.get(tag);
    if (!mirrorTags.has(tag)) needs.push({ kind: 'tag', tag, replace: false });
    // Both lists name the digests: compared for free, whatever the check.
    else if (primaryDigest !== undefined && mirrorDigest !== undefined) {
      if (primaryDigest !== mirrorDigest) needs.push({ kind: 'tag', tag, replace: true });
    } else if (ctx.check === 'Digest') {
      const [primary, here] = await Promise.all([reader.head(tag), ctx.client.headManifest(mirror, tag, opts)]);
      if (primary !== undefined && here?.digest !== primary) needs.push({ kind: 'tag', tag, replace: true });
    }
  }
  if (holdings.referrers?.length) {
    const api = await ctx.apiHosts.serves(mirror, target.digest);
    let have: Descriptor[] = [];
    if (api) have = await ctx.client.referrers(mirror, target.digest, opts);
    else if (mirrorTags.has(fallbackTag(target.digest))) have = (await ctx.writer.current(mirror, fallbackTag(target.digest)))?.parsed.manifests ?? [];
    const present = new Set(have.map((d) => d.digest));
    const missing = holdings.referrers.filter((d) => !present.has(d.digest));
    if (missing.length > 0) needs.push({ kind: 'referrers', missing, indexAtMirror: !api });
  }
  return needs;
}

/** Whether the mirror holds the digest (for an index's image: the index). */
async function holdsDigest(ctx: PairContext, target: ReplicationTarget, mirror: Repository, mirrorTags: TagListing): Promise<boolean> {
  const root = target.parent ?? target;
  // A listed tag of the digest stands for it, unless the list says it points elsewhere.
  if (root.tags.some((tag) => mirrorTags.has(tag) && (mirrorTags.digests?.get(tag) ?? root.digest) === root.digest)) return true;
  const known = ctx.client.known(mirror, root.digest);
  if (known !== undefined) return known;
  return (await ctx.client.headManifest(mirror, root.digest, ctx.signal ? { signal: ctx.signal } : {})) !== undefined;
}

/** Copies the referrer manifests an index tag lists, then the tag: the primary's bytes, or a union when the mirror's lists more. */
async function copyIndexTag(ctx: PairContext, target: ReplicationTarget, reader: PrimaryReader, mirror: Repository, tag: string, replace: boolean): Promise<'copied' | 'merged'> {
  const entries = await reader.indexEntries(tag);
  for (const entry of entries) await copyReferrer(ctx, target, reader, mirror, entry);
  const primary = await reader.manifest(tag);
  const current = replace ? await ctx.writer.current(mirror, tag) : undefined;
  if (current && !losesNothing(current, primary)) {
    // The tag schema is a list every writer appends to: keep the mirror's extra entries.
    const have = new Set(entries.map((d) => d.digest));
    const merged = [...entries, ...current.parsed.manifests.filter((d) => !have.has(d.digest))];
    if (merged.length > maxReferrers) throw new Error(`${formatRepository(mirror)}:${tag} would list more than ${maxReferrers} referrers`);
    await ctx.client.putManifest(mirror, tag, indexOf(merged), ctx.signal ? { signal: ctx.signal } : {});
    return 'merged';
  }
  await ctx.client.putManifest(mirror, tag, { bytes: primary.bytes, mediaType: primary.mediaType }, ctx.signal ? { signal: ctx.signal } : {});
  return 'copied';
}

async function copyReferrer(ctx: PairContext, target: ReplicationTarget, reader: PrimaryReader, mirror: Repository, entry: Descriptor): Promise<void> {
  if (ctx.client.known(mirror, entry.digest) === true) return;
  const manifest = await reader.manifest(entry.digest);
  checkSubject(reader.repo, manifest, target.digest);
  await ctx.writer.manifest(reader, mirror, manifest, manifest.digest);
}

/** Applies the needs; returns the artifacts written, or the tag that diverged. */
async function repair(ctx: PairContext, target: ReplicationTarget, reader: PrimaryReader, mirror: Repository, needs: Need[]): Promise<{ artifacts: string[]; diverged?: string }> {
  const artifacts: string[] = [];
  for (const need of needs) {
    if (need.kind === 'referrers') {
      for (const entry of need.missing) await copyReferrer(ctx, target, reader, mirror, entry);
      artifacts.push(...need.missing.map((d) => d.digest));
      if (need.indexAtMirror) {
        const tag = fallbackTag(target.digest);
        const current = (await ctx.writer.current(mirror, tag))?.parsed.manifests ?? [];
        await ctx.client.putManifest(mirror, tag, indexOf([...current, ...need.missing]), ctx.signal ? { signal: ctx.signal } : {});
        artifacts.push(tag);
      }
      continue;
    }
    if (isIndexTag(need.tag)) {
      const how = await copyIndexTag(ctx, target, reader, mirror, need.tag, need.replace);
      artifacts.push(how === 'merged' ? `${need.tag} (merged)` : need.tag);
      continue;
    }
    const primary = await reader.manifest(need.tag);
    if (need.replace) {
      const current = await ctx.writer.current(mirror, need.tag);
      if (current && !losesNothing(current, primary)) return { artifacts, diverged: need.tag };
    }
    await ctx.writer.manifest(reader, mirror, primary, need.tag);
    artifacts.push(need.tag);
  }
  return { artifacts };
}

/** Brings one mirror repository level with the primary for one digest. Never throws but on abort. */
export async function replicatePair(
  ctx: PairContext, target: ReplicationTarget, holdings: Holdings, reader: PrimaryReader, mirror: Repository, mirrorTags: TagListing,
): Promise<PairResult> {
  try {
    const needs = await needsOf(ctx, target, holdings, reader, mirror, mirrorTags);
    if (needs.length === 0) return { state: 'inSync', artifacts: [] };
    if (!(await holdsDigest(ctx, target, mirror, mirrorTags))) return { state: 'notPromoted', artifacts: [] };
    if (ctx.dryRun) {
      return { state: 'repaired', artifacts: needs.flatMap((n) => (n.kind === 'tag' ? [n.tag] : n.missing.map((d) => d.digest))) };
    }
    const { artifacts, diverged } = await repair(ctx, target, reader, mirror, needs);
    if (diverged) {
      return {
        state: 'diverged', artifacts, reason: 'SignatureDiverged',
        detail: `${formatRepository(mirror)}:${diverged} holds signatures ${formatRepository(reader.repo)}:${diverged} lacks; left as it is`,
      };
    }
    return { state: 'repaired', artifacts };
  } catch (error) {
    ctx.signal?.throwIfAborted();
    const reason = (error as { reason?: unknown }).reason;
    return { state: 'failed', artifacts: [], reason: isReason(reason) ? reason : 'SignaturesNotReplicated', detail: describeError(error) };
  }
}

