// An in-memory stand-in for the registry client, for unit tests of the pipeline's logic: the
// methods the phases, the copier and the trust code call, over maps of manifests, tags and blobs
// per repository, with the referrers API. It records every call and can make one host fail.
// Tests of the client itself, and every test of talking to a registry, use docker-registry.
import { Readable } from 'node:stream';
import type { Repository } from '../../src/api/reference.ts';
import { Inventory, RegistryError, type RegistryClient, type RegistryErrorReason } from '../../src/registry/index.ts';
import { sha256, type BuiltImage } from './images.ts';

interface Stored { bytes: Buffer; mediaType: string }

class Repo {
  readonly manifests = new Map<string, Stored>();
  readonly tags = new Map<string, string>();
  readonly blobs = new Map<string, Buffer>();
}

const isDigest = (reference: string) => reference.startsWith('sha256:');

export class MemoryRegistry {
  readonly #repos = new Map<string, Repo>();
  readonly #failing = new Map<string, RegistryErrorReason>();
  /** Every call, as `METHOD what host/name[:ref]`, in order. */
  readonly calls: string[] = [];
  /** Tag lists carry each tag's digest, as Google's (Artifact Registry, GCR) do. */
  listDigests = false;

  /** Every call to `host` throws a RegistryError with this reason, until failHost(host, undefined). */
  failHost(host: string, reason: RegistryErrorReason | undefined): void {
    if (reason) this.#failing.set(host, reason);
    else this.#failing.delete(host);
  }

  /** Stores an image (and, for an index, its images) in `repo` ("host/name"), under `tags`. */
  put(repo: string, image: BuiltImage, tags: string[] = []): void {
    const r = this.#repo(parse(repo));
    for (const child of image.children) this.put(repo, child);
    for (const blob of image.blobs) r.blobs.set(blob.digest, blob.data);
    r.manifests.set(image.digest, { bytes: image.bytes, mediaType: image.mediaType });
    for (const tag of tags) r.tags.set(tag, image.digest);
  }

  /** The digest a tag points at, or undefined. */
  tag(repo: string, tag: string): string | undefined {
    return this.#repos.get(repo)?.tags.get(tag);
  }

  /** Removes a tag (the manifest stays), as `crane tag delete`/`regctl tag rm` would. */
  deleteTag(repo: string, tag: string): void {
    this.#repos.get(repo)?.tags.delete(tag);
  }

  has(repo: string, digest: string): boolean {
    return this.#repos.get(repo)?.manifests.has(digest) ?? false;
  }

  count(prefix: string): number {
    return this.calls.filter((c) => c.startsWith(prefix)).length;
  }

  #repo(repo: Repository): Repo {
    const key = `${repo.host}/${repo.name}`;
    let r = this.#repos.get(key);
    if (!r) this.#repos.set(key, r = new Repo());
    return r;
  }

  #call(method: string, repo: Repository, what: string): Repo | undefined {
    this.calls.push(`${method} ${what} ${repo.host}/${repo.name}`);
    const reason = this.#failing.get(repo.host);
    if (reason) throw new RegistryError(reason, repo.host, `${repo.host}: ${method} ${what} ${repo.name}: ${reason}`);
    return this.#repos.get(`${repo.host}/${repo.name}`);
  }

  #manifest(r: Repo | undefined, reference: string): (Stored & { digest: string }) | undefined {
    const digest = isDigest(reference) ? reference : r?.tags.get(reference);
    const stored = digest === undefined ? undefined : r?.manifests.get(digest);
    return stored && { ...stored, digest: digest! };
  }

  /**
   * The client the pipeline is given: only what it calls, typed as the real one. Give the same
   * inventory to two clients to see what a second run learns from the first.
   */
  client(inventory = new Inventory()): RegistryClient {
    const self = this;
    const notFound = (repo: Repository, what: string) => new RegistryError('NotFound', repo.host, `${repo.host}: ${what} not found`);
    const client = {
      stats: { onRequest() {}, byHost: new Map(), count: () => self.calls.length },
      async close() {},
      // The real client remembers what its reads showed; this one always asks again.
      known: () => undefined,
      async listTags(repo: Repository) {
        const r = self.#call('GET', repo, 'tags');
        if (!r) throw new RegistryError('RepositoryNotFound', repo.host, `${repo.host}/${repo.name}: no such repository`);
        return [...r.tags.keys()];
      },
      async listTagsOrEmpty(repo: Repository) {
        return [...(self.#call('GET', repo, 'tags')?.tags.keys() ?? [])];
      },
      async readTagListOrEmpty(repo: Repository) {
        const tags = self.#call('GET', repo, 'tags')?.tags ?? new Map<string, string>();
        return { tags: [...tags.keys()], ...(self.listDigests && { digests: new Map(tags) }) };
      },
      inventory,
      async headManifest(repo: Repository, reference: string) {
        const m = self.#manifest(self.#call('HEAD', repo, `manifest ${reference}`), reference);
        return m && { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
      },
      async getManifest(repo: Repository, reference: string) {
        const m = self.#manifest(self.#call('GET', repo, `manifest ${reference}`), reference);
        if (!m) throw notFound(repo, `manifest ${reference}`);
        return { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length, bytes: m.bytes };
      },
      async putManifest(repo: Repository, reference: string, manifest: Stored) {
        self.#call('PUT', repo, `manifest ${reference}`);
        const r = self.#repo(repo);
        const digest = sha256(manifest.bytes);
        r.manifests.set(digest, { bytes: manifest.bytes, mediaType: manifest.mediaType });
        if (!isDigest(reference)) r.tags.set(reference, digest);
        return { digest, subjectIndexed: true };
      },
      async headBlob(repo: Repository, digest: string) {
        return self.#call('HEAD', repo, `blob ${digest}`)?.blobs.get(digest)?.length;
      },
      async getBlob(repo: Repository, digest: string) {
        const data = self.#call('GET', repo, `blob ${digest}`)?.blobs.get(digest);
        if (!data) throw notFound(repo, `blob ${digest}`);
        return Readable.from([data]);
      },
      async mountBlob(repo: Repository, digest: string, from: string) {
        self.#call('POST', repo, `mount ${digest}`);
        const data = self.#repos.get(`${repo.host}/${from}`)?.blobs.get(digest);
        if (!data) return { mounted: false, location: `/upload/${repo.name}` };
        self.#repo(repo).blobs.set(digest, data);
        return { mounted: true };
      },
      async uploadBlob(repo: Repository, digest: string, _size: number, body: Buffer | Readable) {
        self.#call('PUT', repo, `blob ${digest}`);
        const data = Buffer.isBuffer(body) ? body : Buffer.concat(await body.toArray() as Buffer[]);
        if (sha256(data) !== digest) throw new RegistryError('DigestMismatch', repo.host, `upload of ${digest} hashes to ${sha256(data)}`);
        self.#repo(repo).blobs.set(digest, data);
      },
      async referrers(repo: Repository, digest: string, options: { artifactType?: string } = {}) {
        const r = self.#call('GET', repo, `referrers ${digest}`);
        // This registry serves the referrers API, as the real client learns from a 200.
        inventory.setReferrersApi(repo.host, true);
        const found = [];
        for (const [d, m] of r?.manifests ?? []) {
          const parsed = JSON.parse(m.bytes.toString('utf8')) as { subject?: { digest?: string }; artifactType?: string; config?: { mediaType?: string }; annotations?: Record<string, string> };
          if (parsed.subject?.digest !== digest) continue;
          const artifactType = parsed.artifactType ?? parsed.config?.mediaType;
          if (options.artifactType && artifactType !== options.artifactType) continue;
          found.push({ mediaType: m.mediaType, digest: d, size: m.bytes.length, ...(artifactType && { artifactType }), ...(parsed.annotations && { annotations: parsed.annotations }) });
        }
        return found;
      },
      async pushReferrer(repo: Repository, manifest: Stored) {
        return (await client.putManifest(repo, sha256(manifest.bytes), manifest)).digest;
      },
    };
    return client as unknown as RegistryClient;
  }
}

function parse(text: string): Repository {
  const slash = text.indexOf('/');
  return { host: text.slice(0, slash), name: text.slice(slash + 1) };
}
