// Reads every signature-like artifact cosign may have attached to a digest in one repository:
// sigstore bundles among its referrers (the referrers API or the `sha256-<hex>` tag index), and
// the layers of the legacy `.sig` and `.att` tags. Nothing is verified here.
import { describeError, type Descriptor, type RegistryClient, type Repository } from '../registry/index.ts';
import { CosignAnnotation, CosignMediaType, legacyTag } from './formats.ts';

/** Signature artifacts are small; anything larger is not one and is not read. */
const MAX_ARTIFACT_BYTES = 4 * 1024 * 1024;

export type Found =
  | { kind: 'bundle'; manifestDigest: string; manifest: Buffer; layer: Descriptor; bundleBytes: Buffer; predicateType?: string; bundle: unknown }
  | { kind: 'simpleSigning'; tag: string; layer: Descriptor; payload: Buffer; signature: Buffer; certificate?: string; chain?: string; annotations?: Record<string, string> }
  | { kind: 'envelope'; tag: string; layer: Descriptor; envelope: unknown; envelopeBytes?: Buffer; predicateType?: string; certificate?: string; chain?: string; annotations?: Record<string, string> };

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

export async function readBlob(client: RegistryClient, repo: Repository, descriptor: Descriptor, signal?: AbortSignal): Promise<Buffer> {
  if (descriptor.size > MAX_ARTIFACT_BYTES) throw new Error(`blob ${descriptor.digest} is ${descriptor.size} bytes, more than a signature artifact has`);
  const stream = await client.getBlob(repo, descriptor.digest, descriptor.size, signal ? { signal } : {});
  return Buffer.concat(await stream.toArray());
}

async function readManifestDoc(client: RegistryClient, repo: Repository, reference: string, signal?: AbortSignal): Promise<ManifestDoc> {
  const manifest = await client.getManifest(repo, reference, signal ? { signal } : {});
  return JSON.parse(manifest.bytes.toString('utf8')) as ManifestDoc;
}

/** An error for a message: a RegistryError with its reason, anything else by its message. */

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
        const cert = {
          ...(a[CosignAnnotation.certificate] && { certificate: a[CosignAnnotation.certificate] }),
          ...(a[CosignAnnotation.chain] && { chain: a[CosignAnnotation.chain] }),
        };
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
