// Writes signature artifacts into a repository: a bundle as an OCI referrer of its subject
// (blobs first, then the manifest, then the referrers entry), and layers appended to a legacy
// `.sig`/`.att` tag. Re-attaching the same manifest adds no duplicate entry.
import type { Descriptor, RegistryClient, Repository } from '../registry/index.ts';
import { blobOf, legacyManifest, legacyTag, type Blob, type LegacyLayer } from './formats.ts';

async function ensureBlob(client: RegistryClient, repo: Repository, blob: Blob, signal?: AbortSignal): Promise<void> {
  const opts = signal ? { signal } : {};
  if ((await client.headBlob(repo, blob.digest, opts)) !== undefined) return;
  await client.uploadBlob(repo, blob.digest, blob.size, blob.data, opts);
}

/** Pushes an artifact manifest (with its blobs) as a referrer of `subject`; returns its digest. */
export async function attachReferrer(
  client: RegistryClient, repo: Repository, subject: string,
  artifact: { bytes: Buffer; mediaType: string; artifactType?: string; annotations?: Record<string, string>; blobs: Blob[] },
  signal?: AbortSignal,
): Promise<string> {
  for (const blob of artifact.blobs) await ensureBlob(client, repo, blob, signal);
  return client.pushReferrer(repo, {
    bytes: artifact.bytes, mediaType: artifact.mediaType,
    ...(artifact.artifactType && { artifactType: artifact.artifactType }),
    ...(artifact.annotations && { annotations: artifact.annotations }),
  }, subject, signal ? { signal } : {});
}

interface ManifestDoc { layers?: LegacyLayer[] }

/**
 * Adds layers to the `.sig` or `.att` tag of `digest`, keeping what is there: cosign's legacy
 * tags are lists that every signer appends to. `data` is fetched only for layers not yet there.
 */
export async function appendLegacyLayers(
  client: RegistryClient, repo: Repository, digest: string, suffix: 'sig' | 'att',
  layers: { mediaType: string; annotations?: Record<string, string>; data: Buffer | (() => Promise<Buffer>); digest?: string; size?: number }[],
  signal?: AbortSignal,
): Promise<number> {
  const opts = signal ? { signal } : {};
  const tag = legacyTag(digest, suffix);
  const existing = (await client.headManifest(repo, tag, opts))
    ? ((JSON.parse((await client.getManifest(repo, tag, opts)).bytes.toString('utf8')) as ManifestDoc).layers ?? [])
    : [];
  const key = (l: { digest: string; annotations?: Record<string, string> }) => `${l.digest} ${JSON.stringify(l.annotations ?? {})}`;
  const have = new Set(existing.map(key));
  const added: LegacyLayer[] = [];
  for (const layer of layers) {
    const load = async () => blobOf(typeof layer.data === 'function' ? await layer.data() : layer.data);
    // With digest and size given, the bytes are fetched only when the layer is missing.
    let blob: Blob | undefined = layer.digest !== undefined && layer.size !== undefined ? undefined : await load();
    const entry: LegacyLayer = {
      mediaType: layer.mediaType, digest: blob?.digest ?? layer.digest!, size: blob?.size ?? layer.size!,
      ...(layer.annotations && { annotations: layer.annotations }),
    };
    if (have.has(key(entry))) continue;
    blob ??= await load();
    await ensureBlob(client, repo, blob, signal);
    added.push(entry);
    have.add(key(entry));
  }
  if (added.length === 0) return 0;
  const manifest = legacyManifest([...existing, ...added]);
  await ensureBlob(client, repo, manifest.config, signal);
  await client.putManifest(repo, tag, { bytes: manifest.bytes, mediaType: manifest.mediaType }, opts);
  return added.length;
}

export type { Descriptor };
