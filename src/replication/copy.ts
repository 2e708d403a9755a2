// Writing the primary's artifacts into a mirror, byte for byte: blobs first, then the manifests
// that name them, the tag last, so a verifier never finds a tag whose content is not there yet.
// The manifest bytes are exactly the primary's, so the mirror stores them under the same digest.
import { RegistryError, type Descriptor, type RegistryClient, type Repository } from '../registry/index.ts';
import { maxReferrers, parsed, PrimaryReader, type ReadManifest } from './artifacts.ts';

/** Blobs up to this size are uploaded without asking first: a HEAD would cost as much as it could save. */
const askFirstBytes = 256 * 1024;

export class MirrorWriter {
  readonly #client: RegistryClient;
  readonly #signal: AbortSignal | undefined;

  constructor(client: RegistryClient, signal?: AbortSignal) {
    this.#client = client;
    this.#signal = signal;
  }

  get #opts() {
    return this.#signal ? { signal: this.#signal } : {};
  }

  /** A blob into `dst`: skipped when this client already saw it there, mounted within one registry. */
  async blob(reader: PrimaryReader, dst: Repository, descriptor: Descriptor): Promise<void> {
    if (this.#client.known(dst, descriptor.digest) === true) return;
    let location: string | undefined;
    if (dst.host === reader.repo.host) {
      const mount = await this.#client.mountBlob(dst, descriptor.digest, reader.repo.name, this.#opts);
      if (mount.mounted) return;
      location = mount.location;
    } else if (descriptor.size > askFirstBytes && (await this.#client.headBlob(dst, descriptor.digest, this.#opts)) !== undefined) {
      return;
    }
    const held = await reader.blob(descriptor);
    const body = held ?? await reader.stream(descriptor);
    await this.#client.uploadBlob(dst, descriptor.digest, descriptor.size, body, { ...this.#opts, ...(location && { location }) });
  }

  /**
   * A manifest read from the primary into `dst` under `reference` (a tag, or its digest): an
   * image's blobs first, an index's manifests first (each by digest), then its own bytes.
   */
  async manifest(reader: PrimaryReader, dst: Repository, manifest: ReadManifest, reference: string, depth = 0): Promise<void> {
    if (depth > 2) throw new Error(`${reader.repo.host}/${reader.repo.name}@${manifest.digest}: artifacts nested deeper than 2 indexes are not copied`);
    for (const blob of manifest.parsed.blobs) await this.blob(reader, dst, blob);
    if (manifest.parsed.manifests.length > maxReferrers) throw new Error(`${reader.repo.host}/${reader.repo.name}@${manifest.digest} lists more than ${maxReferrers} manifests`);
    for (const child of manifest.parsed.manifests) {
      if (this.#client.known(dst, child.digest) === true) continue;
      await this.manifest(reader, dst, await reader.manifest(child.digest), child.digest, depth + 1);
    }
    await this.#client.putManifest(dst, reference, { bytes: manifest.bytes, mediaType: manifest.mediaType }, this.#opts);
  }

  /** The manifest `dst` holds under a tag, parsed, or undefined when the tag is gone. */
  async current(dst: Repository, tag: string): Promise<ReadManifest | undefined> {
    try {
      return parsed(dst, tag, await this.#client.getManifest(dst, tag, this.#opts));
    } catch (error) {
      if (error instanceof RegistryError && (error.reason === 'NotFound' || error.reason === 'RepositoryNotFound')) return undefined;
      throw error;
    }
  }
}
