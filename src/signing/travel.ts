// Staging signatures and attestations travel with the image: the referrers of a promoted digest
// and its legacy `.sig`/`.att` tag layers are copied to the destination, so consumers of
// production can verify what staging had. Staging is read once per digest, however many
// destinations it goes to, and a digest staging has nothing attached to costs no destination
// reads at all. Existing destination entries are kept; nothing is copied twice.
import type { Descriptor, ImageCopier, RegistryClient, Repository } from '../registry/index.ts';
import { appendLegacyLayers } from './attach.ts';
import { readBlob } from './discover.ts';
import { legacyTag, type LegacyLayer } from './formats.ts';

export interface TravelResult {
  referrers: number;
  legacyLayers: number;
}

/** What staging has attached to one digest. */
export interface Attachments {
  src: Repository;
  digest: string;
  referrers: Descriptor[];
  legacy: { suffix: 'sig' | 'att'; layers: LegacyLayer[] }[];
}

export async function readAttachments(client: RegistryClient, src: Repository, digest: string, signal?: AbortSignal): Promise<Attachments> {
  const opts = signal ? { signal } : {};
  const [referrers, ...legacy] = await Promise.all([
    client.referrers(src, digest, opts),
    ...(['sig', 'att'] as const).map(async (suffix) => {
      const tag = legacyTag(digest, suffix);
      if (!(await client.headManifest(src, tag, opts))) return undefined;
      const doc = JSON.parse((await client.getManifest(src, tag, opts)).bytes.toString('utf8')) as { layers?: LegacyLayer[] };
      return { suffix, layers: doc.layers ?? [] };
    }),
  ]);
  return { src, digest, referrers, legacy: legacy.filter((l) => l !== undefined) };
}

export async function copyAttachments(
  client: RegistryClient, copier: ImageCopier, attachments: Attachments, dst: Repository, signal?: AbortSignal,
): Promise<TravelResult> {
  const { src, digest } = attachments;
  const opts = signal ? { signal } : {};
  const result: TravelResult = { referrers: 0, legacyLayers: 0 };
  if (attachments.referrers.length > 0) {
    const have = new Set((await client.referrers(dst, digest, opts)).map((d) => d.digest));
    for (const descriptor of attachments.referrers) {
      if (have.has(descriptor.digest)) continue;
      const copy = await copier.copy({ src, dst, digest: descriptor.digest, tags: [], ...(signal && { signal }) });
      const manifest = await client.getManifest(dst, copy.digest, opts);
      await client.pushReferrer(dst, {
        bytes: manifest.bytes, mediaType: manifest.mediaType,
        ...(descriptor.artifactType && { artifactType: descriptor.artifactType }),
        ...(descriptor.annotations && { annotations: descriptor.annotations }),
      }, digest, opts);
      result.referrers += 1;
    }
  }
  for (const { suffix, layers } of attachments.legacy) {
    result.legacyLayers += await appendLegacyLayers(client, dst, digest, suffix, layers.map((layer) => ({
      mediaType: layer.mediaType, digest: layer.digest, size: layer.size,
      ...(layer.annotations && { annotations: layer.annotations }),
      data: () => readBlob(client, src, layer, signal),
    })), signal);
  }
  return result;
}
