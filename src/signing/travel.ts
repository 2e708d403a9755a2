// Staging signatures and attestations travel with the image: the referrers of a promoted digest
// and its legacy `.sig`/`.att` tag layers are copied to the destination, so consumers of
// production can verify what staging had. Existing destination entries are kept; nothing is
// copied twice.
import type { ImageCopier, RegistryClient, Repository } from '../registry/index.ts';
import { appendLegacyLayers } from './attach.ts';
import { readBlob } from './discover.ts';
import { legacyTag, type LegacyLayer } from './formats.ts';

export interface TravelResult {
  referrers: number;
  legacyLayers: number;
}

export async function copyAttachedArtifacts(
  client: RegistryClient, copier: ImageCopier, src: Repository, dst: Repository, digest: string, signal?: AbortSignal,
): Promise<TravelResult> {
  const opts = signal ? { signal } : {};
  const result: TravelResult = { referrers: 0, legacyLayers: 0 };
  const [sourceReferrers, destinationReferrers] = await Promise.all([client.referrers(src, digest, opts), client.referrers(dst, digest, opts)]);
  const have = new Set(destinationReferrers.map((d) => d.digest));
  for (const descriptor of sourceReferrers) {
    if (have.has(descriptor.digest)) continue;
    await copier.copy({ src, dst, digest: descriptor.digest, tags: [], ...(signal && { signal }) });
    const manifest = await client.getManifest(dst, descriptor.digest, opts);
    await client.pushReferrer(dst, {
      bytes: manifest.bytes, mediaType: manifest.mediaType,
      ...(descriptor.artifactType && { artifactType: descriptor.artifactType }),
      ...(descriptor.annotations && { annotations: descriptor.annotations }),
    }, digest, opts);
    result.referrers += 1;
  }
  for (const suffix of ['sig', 'att'] as const) {
    const tag = legacyTag(digest, suffix);
    if (!(await client.headManifest(src, tag, opts))) continue;
    const doc = JSON.parse((await client.getManifest(src, tag, opts)).bytes.toString('utf8')) as { layers?: LegacyLayer[] };
    result.legacyLayers += await appendLegacyLayers(client, dst, digest, suffix, (doc.layers ?? []).map((layer) => ({
      mediaType: layer.mediaType, digest: layer.digest, size: layer.size,
      ...(layer.annotations && { annotations: layer.annotations }),
      data: () => readBlob(client, src, layer, signal),
    })), signal);
  }
  return result;
}
