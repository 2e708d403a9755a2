// Where and how cosign stores signatures and attestations in a registry. cosign v3 attaches a
// sigstore bundle as an OCI 1.1 referrer (the `sha256-<hex>` tag index on registries without
// the referrers API); older cosign writes `sha256-<hex>.sig` (simple-signing payloads) and
// `sha256-<hex>.att` (DSSE envelopes) tags whose layers are the signatures.
import { MediaType, sha256, type Descriptor } from '../registry/index.ts';

export const CosignMediaType = {
  bundle: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  simpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  dsseEnvelope: 'application/vnd.dsse.envelope.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
} as const;

export const CosignAnnotation = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  rekorBundle: 'dev.sigstore.cosign/bundle',
  rfc3161Timestamp: 'dev.sigstore.cosign/rfc3161timestamp',
  bundleContent: 'dev.sigstore.bundle.content',
  bundlePredicateType: 'dev.sigstore.bundle.predicateType',
  created: 'org.opencontainers.image.created',
  /** Layer annotation of `.att` tags. */
  predicateType: 'predicateType',
} as const;

/** The predicate type of cosign v3's image signatures: an in-toto statement with an empty predicate. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

export const legacyTag = (digest: string, suffix: 'sig' | 'att') => `${digest.replace(':', '-')}.${suffix}`;

export interface Blob {
  digest: string;
  size: number;
  data: Buffer;
}

export const blobOf = (data: Buffer): Blob => ({ digest: sha256(data), size: data.length, data });

/** The empty config every OCI artifact manifest points at. */
export const emptyConfig = blobOf(Buffer.from('{}'));

export interface ArtifactManifest {
  bytes: Buffer;
  mediaType: string;
  artifactType: string;
  annotations: Record<string, string>;
  blobs: Blob[];
}

/** A bundle as cosign v3 attaches it: one bundle layer, the subject, and the predicate type annotated. */
export function bundleManifest(bundle: Buffer, subject: Descriptor, predicateType: string, created: Date): ArtifactManifest {
  const layer = blobOf(bundle);
  const annotations = {
    [CosignAnnotation.bundleContent]: 'dsse-envelope',
    [CosignAnnotation.bundlePredicateType]: predicateType,
    [CosignAnnotation.created]: created.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: CosignMediaType.bundle,
    config: { mediaType: MediaType.ociEmpty, size: emptyConfig.size, digest: emptyConfig.digest },
    layers: [{ mediaType: CosignMediaType.bundle, size: layer.size, digest: layer.digest }],
    annotations,
    subject: { mediaType: subject.mediaType, size: subject.size, digest: subject.digest },
  };
  return {
    bytes: Buffer.from(JSON.stringify(manifest)), mediaType: MediaType.ociManifest,
    artifactType: CosignMediaType.bundle, annotations, blobs: [emptyConfig, layer],
  };
}

export interface LegacyLayer {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** A `.sig`/`.att` tag manifest: layers are the signatures, the config lists them as diff ids, as cosign writes it. */
export function legacyManifest(layers: LegacyLayer[]): { bytes: Buffer; mediaType: string; config: Blob } {
  const config = blobOf(Buffer.from(JSON.stringify({
    architecture: '', created: '0001-01-01T00:00:00Z', history: layers.map(() => ({ created: '0001-01-01T00:00:00Z' })),
    os: '', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, config: {},
  })));
  const manifest = {
    schemaVersion: 2, mediaType: MediaType.ociManifest,
    config: { mediaType: CosignMediaType.ociConfig, size: config.size, digest: config.digest },
    layers,
  };
  return { bytes: Buffer.from(JSON.stringify(manifest)), mediaType: MediaType.ociManifest, config };
}
