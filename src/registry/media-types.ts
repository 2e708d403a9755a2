// The manifest media types a promoter moves, and how to find what a manifest refers to.

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
} as const;

/** Sent on every manifest request, so a registry never down-converts to schema 1. */
export const manifestAccept = [
  MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest,
].join(', ');

export const isIndex = (mediaType: string): boolean =>
  mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: { architecture: string; os: string; variant?: string };
}

export interface ParsedManifest {
  mediaType: string;
  /** For an index: the manifests it lists. */
  manifests: Descriptor[];
  /** For an image: config and layers, the blobs to move. */
  blobs: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
}

/**
 * Reads a manifest's references. The document's own mediaType field wins; without one, the
 * registry's Content-Type, and without that, the shape of the document.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined): ParsedManifest {
  const doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as {
    mediaType?: string; config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[];
    subject?: Descriptor; artifactType?: string; schemaVersion?: number;
  };
  if (doc.schemaVersion !== 2) throw new Error(`unsupported manifest schemaVersion ${String(doc.schemaVersion)}`);
  const declared = doc.mediaType;
  const header = contentType?.split(';')[0]?.trim();
  const mediaType = declared ?? (header && header !== 'application/json' ? header : undefined)
    ?? (doc.manifests ? MediaType.ociIndex : MediaType.ociManifest);
  const blobs = isIndex(mediaType) ? [] : [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])];
  return {
    mediaType,
    manifests: isIndex(mediaType) ? (doc.manifests ?? []) : [],
    // Non-distributable layers live elsewhere (their `urls`); registries do not hold them.
    blobs: blobs.filter((b) => !b.urls?.length),
    ...(doc.subject && { subject: doc.subject }),
    ...(doc.artifactType && { artifactType: doc.artifactType }),
  };
}
