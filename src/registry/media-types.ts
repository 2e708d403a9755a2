// The manifest media types a promoter moves, and how to find what a manifest refers to. Every
// descriptor a manifest holds came from a registry and is untrusted: its digest is checked here,
// once, before any of it names a URL path.
import { digestPattern } from '../api/reference.ts';

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

/** The OCI distribution spec's guidance: registries need not accept manifests over 4 MiB. */
export const maxManifestBytes = 4 * 1024 * 1024;

/** A descriptor a registry sent that must not be used: not a digest, or an impossible size. */
export class InvalidDescriptorError extends Error {
  override name = 'InvalidDescriptorError';
}

const show = (value: unknown): string => JSON.stringify(value)?.slice(0, 80) ?? String(value);

/**
 * Checks one descriptor from a registry: its digest must be `sha256:<64 hex>` (it becomes a
 * URL path segment, so a tag or `../` there would read and write what nobody reviewed) and its
 * size a whole number of bytes; a manifest's size at most `maxManifestBytes`.
 */
export function checkDescriptor(d: unknown, where: string, kind: 'manifest' | 'blob' = 'blob'): asserts d is Descriptor {
  if (typeof d !== 'object' || d === null) throw new InvalidDescriptorError(`${where} is not a descriptor`);
  const { digest, size, mediaType } = d as Partial<Descriptor>;
  if (typeof digest !== 'string' || !digestPattern.test(digest)) {
    const algorithm = typeof digest === 'string' && /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest) ? digest.split(':')[0] : undefined;
    throw new InvalidDescriptorError(algorithm && algorithm !== 'sha256'
      ? `${where} uses digest algorithm ${show(algorithm)}; only sha256 is supported`
      : `${where} has digest ${show(digest)}, which is not a sha256 digest`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new InvalidDescriptorError(`${where} has size ${show(size)}, which is not a byte count`);
  if (kind === 'manifest' && size > maxManifestBytes) throw new InvalidDescriptorError(`${where} declares ${size} bytes, more than the ${maxManifestBytes} a manifest may have`);
  if (mediaType !== undefined && typeof mediaType !== 'string') throw new InvalidDescriptorError(`${where} has a mediaType that is not a string`);
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
  const manifests = isIndex(mediaType) ? list(doc.manifests, 'manifests') : [];
  manifests.forEach((m, i) => checkDescriptor(m, `manifests[${i}]`, 'manifest'));
  const layers = isIndex(mediaType) ? [] : list(doc.layers, 'layers');
  if (!isIndex(mediaType) && doc.config !== undefined) checkDescriptor(doc.config, 'config');
  layers.forEach((l, i) => checkDescriptor(l, `layers[${i}]`));
  if (doc.subject !== undefined) checkDescriptor(doc.subject, 'subject', 'manifest');
  const blobs = isIndex(mediaType) ? [] : [...(doc.config ? [doc.config] : []), ...layers];
  return {
    mediaType,
    manifests,
    // Non-distributable layers live elsewhere (their `urls`); registries do not hold them.
    blobs: blobs.filter((b) => !(Array.isArray(b.urls) && b.urls.length > 0)),
    ...(doc.subject && { subject: doc.subject }),
    ...(doc.artifactType && { artifactType: doc.artifactType }),
  };
}

function list(value: unknown, field: string): Descriptor[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new InvalidDescriptorError(`${field} is not a list`);
  return value as Descriptor[];
}
