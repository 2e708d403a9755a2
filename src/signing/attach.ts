// Writes signature artifacts into a repository: a bundle as an OCI referrer of its subject
// (blobs first, then the manifest, then the referrers entry), and layers appended to a legacy
// `.sig`/`.att` tag. Re-attaching the same manifest adds no duplicate entry.
import type { Descriptor, RegistryClient, Repository } from '../registry/index.ts';
import type { Found } from './discover.ts';
import { CosignAnnotation, CosignMediaType, emptyConfig, blobOf, legacyManifest, legacyTag, type Blob, type LegacyLayer } from './formats.ts';
import { KeyedSerial } from './serial.ts';

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

/** One writer per `.sig`/`.att` tag at a time in this process (serial.ts). */
const legacyWriters = new KeyedSerial();

/** A referrer found in one repository, as the artifact to attach elsewhere: the same manifest bytes, so every repository holds the same. */
export function existingReferrer(found: Extract<Found, { kind: 'bundle' }>, predicateType: string): Parameters<typeof attachReferrer>[3] {
  return {
    bytes: found.manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: CosignMediaType.bundle,
    annotations: { [CosignAnnotation.bundlePredicateType]: predicateType },
    blobs: [emptyConfig, blobOf(found.bundleBytes)],
  };
}

/**
 * Adds layers to the `.sig` or `.att` tag of `digest`, keeping what is there: cosign's legacy
 * tags are lists that every signer appends to. `data` is fetched only for layers not yet there.
 */
export function appendLegacyLayers(
  client: RegistryClient, repo: Repository, digest: string, suffix: 'sig' | 'att',
  layers: { mediaType: string; annotations?: Record<string, string>; data: Buffer | (() => Promise<Buffer>); digest?: string; size?: number }[],
  signal?: AbortSignal,
): Promise<number> {
  const tag = legacyTag(digest, suffix);
  // The tag is read and written again inside the turn, so a writer never puts back a stale list.
  return legacyWriters.run(`${repo.host}/${repo.name}:${tag}`, () => appendNow(client, repo, tag, layers, signal));
}

async function appendNow(
  client: RegistryClient, repo: Repository, tag: string,
  layers: Parameters<typeof appendLegacyLayers>[4], signal: AbortSignal | undefined,
): Promise<number> {
  const opts = signal ? { signal } : {};
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
