// Reads every signature-like artifact cosign may have attached to a digest in one repository:
// sigstore bundles among its referrers (the referrers API or the `sha256-<hex>` tag index), and
// the layers of the legacy `.sig` and `.att` tags. Nothing is verified here.
import { describeError, RegistryError, type Descriptor, type RegistryClient, type Repository } from '../registry/index.ts';
import { CosignAnnotation, CosignMediaType, legacyTag } from './formats.ts';

/** Signature artifacts are small; anything larger is not one and is not read. */
const MAX_ARTIFACT_BYTES = 4 * 1024 * 1024;

export type Found =
  | { kind: 'bundle'; manifestDigest: string; manifest: Buffer; layer: Descriptor; bundleBytes: Buffer; predicateType?: string; bundle: unknown }
  | { kind: 'simpleSigning'; tag: string; layer: Descriptor; payload: Buffer; signature: Buffer; certificate?: string; annotations?: Record<string, string> }
  | { kind: 'envelope'; tag: string; layer: Descriptor; envelope: unknown; envelopeBytes?: Buffer; predicateType?: string; certificate?: string; annotations?: Record<string, string> };

export interface Discovered {
  found: Found[];
  /** Artifacts that could not be read; they count as absent, the reasons go in messages. */
  problems: string[];
}

interface ManifestDoc {
  layers?: Descriptor[];
  annotations?: Record<string, string>;
  artifactType?: string;
}

/**
 * A signature artifact's blob, whole. The descriptor comes from the registry too: a size that is
 * absent or not a count is not believed, and whatever it says, no more than MAX_ARTIFACT_BYTES
 * are read before the connection is dropped.
 */
export async function readBlob(client: RegistryClient, repo: Repository, descriptor: Descriptor, signal?: AbortSignal): Promise<Buffer> {
  const declared = Number.isSafeInteger(descriptor.size) && descriptor.size >= 0 ? descriptor.size : undefined;
  if (declared !== undefined && declared > MAX_ARTIFACT_BYTES) throw new Error(`blob ${descriptor.digest} is ${declared} bytes, more than a signature artifact has`);
  const stream = await client.getBlob(repo, descriptor.digest, declared, signal ? { signal } : {});
  // The client's readCapped takes a response body; this is its digest-checking stream, capped the same way.
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_ARTIFACT_BYTES) {
      stream.destroy();
      throw new RegistryError('ResponseTooLarge', repo.host, `${repo.host}: blob ${repo.name}@${descriptor.digest} is larger than ${MAX_ARTIFACT_BYTES} bytes, more than a signature artifact has; refusing it`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

async function readManifestDoc(client: RegistryClient, repo: Repository, reference: string, signal?: AbortSignal): Promise<ManifestDoc> {
  const manifest = await client.getManifest(repo, reference, signal ? { signal } : {});
  return JSON.parse(manifest.bytes.toString('utf8')) as ManifestDoc;
}

export async function discover(client: RegistryClient, repo: Repository, digest: string, signal?: AbortSignal): Promise<Discovered> {
  const opts = signal ? { signal } : {};
  const found: Found[] = [];
  const problems: string[] = [];
  const where = `${repo.host}/${repo.name}`;

  const referrers = async () => {
    let descriptors: Descriptor[];
    try {
      descriptors = await client.referrers(repo, digest, opts);
    } catch (error) {
      problems.push(`referrers of ${where}@${digest}: ${describeError(error)}`);
      return;
    }
    // Index entries do not always carry the artifact type, so every manifest is looked at.
    for (const descriptor of descriptors) {
      if (descriptor.artifactType && descriptor.artifactType !== CosignMediaType.bundle) continue;
      try {
        const manifest = await client.getManifest(repo, descriptor.digest, opts);
        const doc = JSON.parse(manifest.bytes.toString('utf8')) as ManifestDoc;
        const layer = doc.layers?.find((l) => l.mediaType === CosignMediaType.bundle);
        if (!layer) continue;
        const bundleBytes = await readBlob(client, repo, layer, signal);
        const bundle = JSON.parse(bundleBytes.toString('utf8')) as unknown;
        const predicateType = doc.annotations?.[CosignAnnotation.bundlePredicateType];
        found.push({ kind: 'bundle', manifestDigest: descriptor.digest, manifest: manifest.bytes, layer, bundleBytes, ...(predicateType && { predicateType }), bundle });
      } catch (error) {
        signal?.throwIfAborted();
        problems.push(`bundle ${where}@${descriptor.digest}: ${describeError(error)}`);
      }
    }
  };

  const legacy = async (suffix: 'sig' | 'att') => {
    const tag = legacyTag(digest, suffix);
    try {
      if (!(await client.headManifest(repo, tag, opts))) return;
      const doc = await readManifestDoc(client, repo, tag, signal);
      for (const layer of doc.layers ?? []) {
        const a = layer.annotations ?? {};
        // The chain annotation is not read: intermediates come from the trusted root (legacy.ts).
        const cert = a[CosignAnnotation.certificate] ? { certificate: a[CosignAnnotation.certificate] } : {};
        if (suffix === 'sig' && layer.mediaType === CosignMediaType.simpleSigning) {
          const signature = Buffer.from(a[CosignAnnotation.signature] ?? '', 'base64');
          found.push({ kind: 'simpleSigning', tag, layer, payload: await readBlob(client, repo, layer, signal), signature, ...cert, annotations: a });
        } else if (suffix === 'att' && layer.mediaType === CosignMediaType.dsseEnvelope) {
          const envelopeBytes = await readBlob(client, repo, layer, signal);
          const envelope = JSON.parse(envelopeBytes.toString('utf8')) as unknown;
          const predicateType = a[CosignAnnotation.predicateType];
          found.push({ kind: 'envelope', tag, layer, envelope, envelopeBytes, ...(predicateType && { predicateType }), ...cert, annotations: a });
        }
      }
    } catch (error) {
      signal?.throwIfAborted();
      problems.push(`${where}:${tag}: ${describeError(error)}`);
    }
  };

  await Promise.all([referrers(), legacy('sig'), legacy('att')]);
  return { found, problems };
}
