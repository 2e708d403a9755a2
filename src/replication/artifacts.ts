// The signature artifacts of a digest, as cosign lays them out in a repository: the legacy
// `sha256-<hex>.sig` and `.att` tags, and OCI referrers (sigstore bundles), found through the
// referrers API or, on registries without it, the `sha256-<hex>` tag holding an index of them.
// A tag listing tells which of the tags a repository holds; nothing else needs reading to know.
// And the primary's side of a copy: its artifacts read once per digest, whatever the number of
// mirrors they go to. Everything read is untrusted: sizes are capped, digests checked.
import {
  digestPattern, parseManifest, type Descriptor, type Manifest, type RegistryClient, type Repository,
} from '../registry/index.ts';
import type { ParsedManifest } from '../registry/media-types.ts';
import { RegistryError } from '../registry/index.ts';
import type { ReplicationFormat } from './types.ts';

export const fallbackTag = (digest: string) => digest.replace(':', '-');
export const legacyTagOf = (digest: string, suffix: 'sig' | 'att') => `${fallbackTag(digest)}.${suffix}`;

const artifactTag = /^sha256-([0-9a-f]{64})(?:\.(sig|att))?$/;

/** The digest an artifact tag is about, or undefined for any other tag. */
export function subjectOfTag(tag: string): string | undefined {
  const match = artifactTag.exec(tag);
  return match ? `sha256:${match[1]}` : undefined;
}

/** The artifact tags of `digest` that `tags` holds, among the formats replicated. */
export function artifactTags(digest: string, tags: ReadonlySet<string>, formats: readonly ReplicationFormat[]): string[] {
  const out: string[] = [];
  if (formats.includes('legacy')) for (const suffix of ['sig', 'att'] as const) if (tags.has(legacyTagOf(digest, suffix))) out.push(legacyTagOf(digest, suffix));
  if (formats.includes('bundle') && tags.has(fallbackTag(digest))) out.push(fallbackTag(digest));
  return out;
}

/**
 * A repository's tags, and the digest each points at where the registry's list says so (Google's
 * lists: Artifact Registry, GCR, hence registry.k8s.io's backends). Knowing both sides' digests
 * for free, a same-named tag pointing elsewhere is not taken for present.
 */
export class TagListing extends Set<string> {
  digests: ReadonlyMap<string, string> | undefined;

  constructor(tags: Iterable<string>, digests?: ReadonlyMap<string, string>) {
    super(tags);
    this.digests = digests;
  }
}

export const isIndexTag = (tag: string) => !tag.endsWith('.sig') && !tag.endsWith('.att');

/** Blobs of signature artifacts are small; larger ones are streamed for each mirror instead of held. */
export const maxHeldBlobBytes = 4 * 1024 * 1024;
/** Referrers of one digest: far more than a real image has. */
export const maxReferrers = 1000;

export interface ReadManifest extends Manifest {
  parsed: ParsedManifest;
}

/** Parses a manifest from a registry, turning what is malformed into a RegistryError naming it. */
export function parsed(repo: Repository, reference: string, manifest: Manifest): ReadManifest {
  try {
    return { ...manifest, parsed: parseManifest(manifest.bytes, manifest.mediaType) };
  } catch (error) {
    throw new RegistryError('InvalidDescriptor', repo.host, `${repo.host}: ${repo.name}:${reference}: ${(error as Error).message}; refusing to copy it`);
  }
}

/**
 * The primary's artifacts of one digest, each read once however many mirrors need it: manifests
 * by tag or digest, and blobs up to maxHeldBlobBytes.
 */
export class PrimaryReader {
  readonly client: RegistryClient;
  readonly repo: Repository;
  readonly #signal: AbortSignal | undefined;
  readonly #manifests = new Map<string, Promise<ReadManifest>>();
  readonly #heads = new Map<string, Promise<string | undefined>>();
  readonly #blobs = new Map<string, Promise<Buffer>>();

  constructor(client: RegistryClient, repo: Repository, signal?: AbortSignal) {
    this.client = client;
    this.repo = repo;
    this.#signal = signal;
  }

  get #opts() {
    return this.#signal ? { signal: this.#signal } : {};
  }

  manifest(reference: string): Promise<ReadManifest> {
    return once(this.#manifests, reference, async () => parsed(this.repo, reference, await this.client.getManifest(this.repo, reference, this.#opts)));
  }

  /** The digest a tag points at (Digest checks), or undefined when it is gone. */
  head(tag: string): Promise<string | undefined> {
    return once(this.#heads, tag, async () => (await this.client.headManifest(this.repo, tag, this.#opts))?.digest);
  }

  /** A blob's bytes, held for the other mirrors; undefined when it is too large to hold. */
  async blob(descriptor: Descriptor): Promise<Buffer | undefined> {
    if (descriptor.size > maxHeldBlobBytes) return undefined;
    return once(this.#blobs, descriptor.digest, async () => {
      const stream = await this.client.getBlob(this.repo, descriptor.digest, descriptor.size, this.#opts);
      return Buffer.concat(await stream.toArray() as Buffer[]);
    });
  }

  /** A fresh verified stream of a blob too large to hold. */
  stream(descriptor: Descriptor) {
    return this.client.getBlob(this.repo, descriptor.digest, descriptor.size, this.#opts);
  }

  /**
   * The referrer entries of a `sha256-<hex>` index tag, checked: descriptors by digest, each
   * claiming to be about `subject` is verified when its manifest is read (subjectOf).
   */
  async indexEntries(tag: string): Promise<Descriptor[]> {
    const index = await this.manifest(tag);
    if (index.parsed.manifests.length > maxReferrers) {
      throw new RegistryError('ResponseTooLarge', this.repo.host, `${this.repo.host}: ${this.repo.name}:${tag} lists ${index.parsed.manifests.length} referrers, more than ${maxReferrers}; refusing it`);
    }
    return index.parsed.manifests;
  }
}

/** Checks that a referrer manifest names `subject` as its subject, as the tag schema promises. */
export function checkSubject(repo: Repository, manifest: ReadManifest, subject: string): void {
  const claimed = manifest.parsed.subject?.digest;
  if (claimed !== subject) {
    throw new RegistryError('InvalidDescriptor', repo.host, `${repo.host}: referrer ${repo.name}@${manifest.digest} of ${subject} names ${claimed && digestPattern.test(claimed) ? claimed : 'no subject'}; refusing to copy it`);
  }
}

function once<T>(cache: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  let value = cache.get(key);
  if (!value) {
    value = load();
    cache.set(key, value);
    // A failed read is not remembered: the next mirror asks again.
    value.catch(() => cache.delete(key));
  }
  return value;
}
