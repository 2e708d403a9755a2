// Registry operations of the OCI distribution spec, over the Transport: tags, manifests, blobs,
// uploads, mounts and referrers. Every manifest and blob read is checked against its digest.
import { pipeline, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { repositoryScope } from './auth.ts';
import { sha256, VerifyingStream } from './digest.ts';
import { RecentFacts } from './facts.ts';
import { Inventory } from './inventory.ts';
import { quoted, RegistryError } from './errors.ts';
import { checkDescriptor, InvalidDescriptorError, isIndex, manifestAccept, maxManifestBytes, MediaType, type Descriptor } from './media-types.ts';
import type { Repository } from '../api/reference.ts';
import { digestPattern, tagPattern } from '../api/reference.ts';
import { imageNameRegExp } from '../api/patterns.ts';
import { bodyLimits, headerValue, parseJson, readCapped, Transport, type RegistryResponse, type TransportOptions } from './transport.ts';

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

export interface Manifest extends ManifestHead {
  /** Exactly the bytes the registry served: re-serialising would change the digest. */
  bytes: Buffer;
}

/** A repository's tags, and their digests where the registry's list gives them. */
export interface TagList {
  tags: string[];
  /**
   * tag -> digest, from the `manifest` field of Google's tag lists (Artifact Registry, GCR):
   * only tags the list names under exactly one digest. Undefined when the list has no such field.
   */
  digests?: Map<string, string>;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /**
   * Epoch milliseconds by which the operation must be done: no attempt starts, and no wait
   * begins that would end, after it (DeadlineExceeded). Reads default to `readTimeoutMs` from now.
   */
  deadline?: number;
}

/**
 * Every path segment of a URL is checked before the URL is built, whoever supplied it: a
 * repository name, a tag or a digest. Text from a registry (an index's children, a referrer)
 * is checked where it is read too; this is the last line, so `../other/manifests/latest` can
 * never turn a read or a write into one of another repository.
 */
function checkName(repo: Repository, name = repo.name): string {
  if (!imageNameRegExp.test(name)) throw new RegistryError('InvalidReference', repo.host, `${repo.host}: "${quoted(name, 80)}" is not a repository name; refusing to use it in a URL`);
  return name;
}

function checkReference(repo: Repository, reference: string): string {
  checkName(repo);
  if (!digestPattern.test(reference) && !tagPattern.test(reference)) {
    throw new RegistryError('InvalidReference', repo.host, `${repo.host}: "${quoted(reference, 80)}" is neither a tag nor a sha256 digest; refusing to use it in a URL for ${repo.name}`);
  }
  return reference;
}

function checkDigest(repo: Repository, digest: string): string {
  checkName(repo);
  if (!digestPattern.test(digest)) {
    throw new RegistryError('InvalidReference', repo.host, `${repo.host}: "${quoted(digest, 80)}" is not a sha256 digest; refusing to use it in a URL for ${repo.name}`);
  }
  return digest;
}

const pull = (repo: Repository) => [repositoryScope(repo.name, 'pull')];
const push = (repo: Repository) => [repositoryScope(repo.name, 'pull,push')];
const fallbackTag = (digest: string) => digest.replace(':', '-');

export interface RegistryClientOptions extends TransportOptions {
  /** Upload blobs larger than this in PATCH chunks of this size; unset: one streamed PUT. */
  uploadChunkBytes?: number;
  /**
   * The longest one read (a tag list with all its pages, a manifest, referrers) may take, retries
   * included, unless the caller gives a deadline: one registry that cannot be read holds up no
   * one for longer. Default 15 minutes.
   */
  readTimeoutMs?: number;
  /** The copy deadline of ImageCopiers built on this client that set none (see CopyOptions.copyTimeoutMs). */
  copyTimeoutMs?: number;
  /**
   * What the registries held when last looked at, kept across runs (see inventory.ts); shared
   * by the controller's runs. Default: a new, empty one.
   */
  inventory?: Inventory;
}

export class RegistryClient {
  readonly transport: Transport;
  readonly #chunkBytes: number | undefined;
  readonly #readTimeoutMs: number;
  /** The default copy deadline for copiers on this client. */
  readonly copyTimeoutMs: number | undefined;
  /** What this client's own reads and writes showed a repository holds, for a while. */
  readonly #facts = new RecentFacts();
  readonly inventory: Inventory;

  constructor(options: RegistryClientOptions = {}) {
    this.transport = new Transport(options);
    if (options.uploadChunkBytes !== undefined && !(options.uploadChunkBytes >= 1024)) {
      throw new RangeError(`uploadChunkBytes must be at least 1024, got ${options.uploadChunkBytes}`);
    }
    this.#chunkBytes = options.uploadChunkBytes;
    this.#readTimeoutMs = options.readTimeoutMs ?? 15 * 60_000;
    if (!(this.#readTimeoutMs > 0)) throw new RangeError(`readTimeoutMs must be positive, got ${options.readTimeoutMs}`);
    this.copyTimeoutMs = options.copyTimeoutMs;
    this.inventory = options.inventory ?? new Inventory();
  }

  /**
   * Whether `digest` (a manifest or a blob) is in `repo`, as this client's recent reads and
   * writes showed: true, false, or undefined when it does not know. A repository whose tag list
   * was empty or missing counts as holding nothing but what this client wrote there since.
   */
  known(repo: Repository, digest: string): boolean | undefined {
    return this.#facts.known(`${repo.host}/${repo.name}`, digest);
  }

  #fact(repo: Repository, digest: string, present: boolean): void {
    if (digestPattern.test(digest)) this.#facts.digest(`${repo.host}/${repo.name}`, digest, present);
  }

  /** Options for one read: the caller's signal and deadline, or a deadline `readTimeoutMs` from now. */
  #read(options: RequestOptions): { signal?: AbortSignal; deadline: number } {
    return { ...(options.signal && { signal: options.signal }), deadline: options.deadline ?? Date.now() + this.#readTimeoutMs };
  }

  get stats() {
    return this.transport.stats;
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  /** Checks that a host speaks the distribution API and that our credentials work for it. */
  async ping(host: string, options: RequestOptions = {}): Promise<void> {
    const res = await this.transport.request({ host, method: 'GET', path: '/v2/', scope: [], expect: [200], what: 'API version check', ...options });
    await res.body.dump();
  }

  /**
   * All tags of a repository, following `Link` pagination: only to pages of the same list on
   * the same registry, each at most once (a list that links back to a page it served is refused).
   */
  async listTags(repo: Repository, options: RequestOptions & { pageSize?: number } = {}): Promise<string[]> {
    return (await this.readTagList(repo, options)).tags;
  }

  /** listTags, with the digests of the tags where the registry's list gives them (Google's `manifest` field). */
  async readTagList(repo: Repository, options: RequestOptions & { pageSize?: number } = {}): Promise<TagList> {
    const list: TagList = { tags: [] };
    const read = this.#read(options);
    const first = `/v2/${checkName(repo)}/tags/list`;
    const what = `tag list of ${repo.name}`;
    const pages = new Pages(this.transport.origin(repo.host), first, repo.host, what);
    for (let path: string | undefined = `${first}${options.pageSize ? `?n=${options.pageSize}` : ''}`; path; path = pages.next(path, (await this.#tagPage(repo, path, what, read, list)).link)) {
      // pages.next refuses links elsewhere and links back
    }
    if (list.tags.length === 0) this.#facts.empty(`${repo.host}/${repo.name}`);
    return list;
  }

  async #tagPage(repo: Repository, path: string, what: string, read: { signal?: AbortSignal; deadline: number }, list: TagList): Promise<{ link: RegistryResponse['headers'][string] }> {
    const res: RegistryResponse = await this.transport.request({
      host: repo.host, method: 'GET', path, scope: pull(repo), expect: [200], what, notFound: 'RepositoryNotFound', ...read,
    });
    const body = parseJson<{ tags?: unknown; manifest?: unknown }>(await readCapped(res.body, res.headers, bodyLimits.tagPageBytes, repo.host, `a page of the ${what}`), repo.host, what);
    const pageTags = body.tags ?? [];
    if (!Array.isArray(pageTags) || !pageTags.every((t) => typeof t === 'string')) throw new RegistryError('InvalidResponse', repo.host, `${repo.host}: ${what}: "tags" is not a list of strings`);
    if (list.tags.length + pageTags.length > bodyLimits.tags) throw new RegistryError('ResponseTooLarge', repo.host, `${repo.host}: ${what} has more than ${bodyLimits.tags} tags; refusing it`);
    for (const tag of pageTags) list.tags.push(tag);
    if (body.manifest !== undefined) readTagDigests(body.manifest, list, repo.host);
    return { link: res.headers.link };
  }

  /** Like listTags, but a repository that does not exist yet has no tags. */
  async listTagsOrEmpty(repo: Repository, options: RequestOptions & { pageSize?: number } = {}): Promise<string[]> {
    return (await this.readTagListOrEmpty(repo, options)).tags;
  }

  /** Like readTagList, but a repository that does not exist yet has no tags. */
  async readTagListOrEmpty(repo: Repository, options: RequestOptions & { pageSize?: number } = {}): Promise<TagList> {
    try {
      return await this.readTagList(repo, options);
    } catch (error) {
      if (error instanceof RegistryError && (error.reason === 'RepositoryNotFound' || error.reason === 'NotFound')) {
        this.#facts.empty(`${repo.host}/${repo.name}`);
        return { tags: [] };
      }
      throw error;
    }
  }

  /** A manifest's digest, type and size, or undefined when it is not there. */
  async headManifest(repo: Repository, reference: string, options: RequestOptions = {}): Promise<ManifestHead | undefined> {
    const res = await this.transport.request({
      host: repo.host, method: 'HEAD', path: `/v2/${repo.name}/manifests/${checkReference(repo, reference)}`, headers: { accept: manifestAccept },
      scope: pull(repo), expect: [200, 404], what: `manifest ${repo.name}:${reference}`, ...this.#read(options),
    });
    await res.body.dump();
    this.#fact(repo, reference, res.status !== 404);
    if (res.status === 404) return undefined;
    const digest = headerValue(res.headers, 'docker-content-digest');
    if (!digest || !digestPattern.test(digest)) {
      // Without the header only the bytes can tell the digest.
      const manifest = await this.getManifest(repo, reference, options);
      return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.size };
    }
    if (digestPattern.test(reference) && digest !== reference) {
      throw new RegistryError('DigestMismatch', repo.host, `${repo.host}: manifest ${repo.name}@${reference} is served as ${digest}`);
    }
    return { digest, mediaType: contentType(res), size: Number(headerValue(res.headers, 'content-length') ?? 0) };
  }

  async getManifest(repo: Repository, reference: string, options: RequestOptions = {}): Promise<Manifest> {
    const res = await this.transport.request({
      host: repo.host, method: 'GET', path: `/v2/${repo.name}/manifests/${checkReference(repo, reference)}`, headers: { accept: manifestAccept },
      scope: pull(repo), expect: [200], what: `manifest ${repo.name}${digestPattern.test(reference) ? '@' : ':'}${reference}`, ...this.#read(options),
    });
    const bytes = await readCapped(res.body, res.headers, maxManifestBytes, repo.host, `manifest ${repo.name}${digestPattern.test(reference) ? '@' : ':'}${reference}`);
    const digest = sha256(bytes);
    if (digestPattern.test(reference) && digest !== reference) {
      throw new RegistryError('DigestMismatch', repo.host, `${repo.host}: manifest ${repo.name}@${reference} hashes to ${digest}; refusing it`);
    }
    return { digest, mediaType: contentType(res, bytes), size: bytes.length, bytes };
  }

  /** Writes a manifest under a tag or its digest; returns whether the registry indexed its subject. */
  async putManifest(repo: Repository, reference: string, manifest: { bytes: Buffer; mediaType: string }, options: RequestOptions = {}): Promise<{ digest: string; subjectIndexed: boolean }> {
    const digest = sha256(manifest.bytes);
    if (digestPattern.test(reference) && reference !== digest) throw new Error(`manifest bytes hash to ${digest}, not ${reference}`);
    const res = await this.transport.request({
      host: repo.host, method: 'PUT', path: `/v2/${repo.name}/manifests/${checkReference(repo, reference)}`,
      headers: { 'content-type': manifest.mediaType }, body: manifest.bytes,
      scope: push(repo), expect: [201, 200], what: `manifest ${repo.name}${digestPattern.test(reference) ? '@' : ':'}${reference}`, ...opt(options),
    });
    await res.body.dump();
    const stored = headerValue(res.headers, 'docker-content-digest');
    if (stored && stored !== digest) {
      throw new RegistryError('DigestMismatch', repo.host, `${repo.host}: stored manifest ${repo.name}:${reference} as ${stored}, expected ${digest}`);
    }
    this.#fact(repo, digest, true);
    return { digest, subjectIndexed: headerValue(res.headers, 'oci-subject') !== undefined };
  }

  /** A blob's size, or undefined when the repository does not have it. */
  async headBlob(repo: Repository, digest: string, options: RequestOptions = {}): Promise<number | undefined> {
    const res = await this.transport.request({
      host: repo.host, method: 'HEAD', path: `/v2/${repo.name}/blobs/${checkDigest(repo, digest)}`, scope: pull(repo),
      expect: [200, 404], followRedirects: true, what: `blob ${repo.name}@${digest}`, ...this.#read(options),
    });
    await res.body.dump();
    this.#fact(repo, digest, res.status === 200);
    return res.status === 200 ? Number(headerValue(res.headers, 'content-length') ?? 0) : undefined;
  }

  /**
   * Streams a blob. The stream errors at its end if the bytes do not hash to `digest` (or do not
   * add up to `size`), so a consumer never accepts a corrupted blob as complete.
   */
  async getBlob(repo: Repository, digest: string, size?: number, options: RequestOptions = {}): Promise<VerifyingStream> {
    const res = await this.transport.request({
      host: repo.host, method: 'GET', path: `/v2/${repo.name}/blobs/${checkDigest(repo, digest)}`, scope: pull(repo),
      expect: [200], followRedirects: true, what: `blob ${repo.name}@${digest}`, ...opt(options),
    });
    const verifier = new VerifyingStream(digest, size, `${repo.host}: blob ${repo.name}@${digest}`);
    pipeline(res.body, verifier, () => { /* errors surface on the verifier */ });
    return verifier;
  }

  /**
   * Asks the registry to link a blob from another repository on the same host: no bytes move.
   * A registry that will not mount (202) opens an ordinary upload instead, whose `location`
   * the caller then uploads to.
   */
  async mountBlob(repo: Repository, digest: string, from: string, options: RequestOptions = {}): Promise<{ mounted: true } | { mounted: false; location: string }> {
    const res = await this.transport.request({
      host: repo.host, method: 'POST',
      path: `/v2/${repo.name}/blobs/uploads/?mount=${encodeURIComponent(checkDigest(repo, digest))}&from=${encodeURIComponent(checkName(repo, from))}`,
      headers: { 'content-length': '0' }, body: '',
      scope: [...push(repo), repositoryScope(from, 'pull')], expect: [201, 202],
      what: `mount of ${digest} from ${from} into ${repo.name}`, ...opt(options),
    });
    await res.body.dump();
    if (res.status === 201) {
      this.#fact(repo, digest, true);
      return { mounted: true };
    }
    return { mounted: false, location: requireLocation(res, repo) };
  }

  /**
   * Uploads a blob from a buffer or a stream, never holding a whole stream in memory: one
   * streamed PUT, or PATCH chunks of `uploadChunkBytes` when configured and the blob is larger.
   */
  async uploadBlob(repo: Repository, digest: string, size: number, body: Buffer | Readable, options: RequestOptions & { location?: string } = {}): Promise<void> {
    checkDigest(repo, digest);
    if (!Number.isSafeInteger(size) || size < 0) throw new RegistryError('InvalidReference', repo.host, `${repo.host}: upload of ${digest} to ${repo.name}: ${size} is not a byte count`);
    if (!Buffer.isBuffer(body)) return this.#upload(repo, digest, size, body, options);
    // An upload session cannot be replayed, but bytes in memory can go again in a new one: a
    // 429 or 5xx on the way starts over (unless the last attempt landed), within the retry
    // budget, behind the host's pause. Callers (signatures, attestations) need not retry.
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#upload(repo, digest, size, body, attempt === 1 ? options : { ...options, location: undefined });
      } catch (error) {
        if (!(error instanceof RegistryError) || !error.transient || options.signal?.aborted) throw error;
        const wait = Math.min(5000, 200 * 2 ** (attempt - 1));
        if (Date.now() - started + wait > this.transport.retryBudgetMs) throw error;
        if (this.transport.limiters.for(repo.host).pausedFor(repo.name) === 0) await sleep(wait, undefined, options.signal ? { signal: options.signal } : {});
        if ((await this.headBlob(repo, digest, options)) !== undefined) return;
      }
    }
  }

  async #upload(repo: Repository, digest: string, size: number, body: Buffer | Readable, options: RequestOptions & { location?: string | undefined }): Promise<void> {
    let location = options.location ?? await this.#startUpload(repo, options);
    const what = `upload of blob ${digest} to ${repo.name}`;
    if (this.#chunkBytes !== undefined && size > this.#chunkBytes) {
      let offset = 0;
      for await (const chunk of chunks(body, this.#chunkBytes)) {
        const res = await this.transport.request({
          host: repo.host, method: 'PATCH', path: location,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(chunk.length), 'content-range': `${offset}-${offset + chunk.length - 1}` },
          body: chunk, scope: push(repo), expect: [202], what, retry: false, ...opt(options),
        });
        await res.body.dump();
        location = requireLocation(res, repo);
        offset += chunk.length;
      }
      const res = await this.transport.request({
        host: repo.host, method: 'PUT', path: withDigest(location, digest), headers: { 'content-length': '0' }, body: '',
        scope: push(repo), expect: [201], what, retry: false, ...opt(options),
      });
      await res.body.dump();
      this.#fact(repo, digest, true);
      return;
    }
    const res = await this.transport.request({
      host: repo.host, method: 'PUT', path: withDigest(location, digest),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body, scope: push(repo), expect: [201], what, retry: false, ...opt(options),
    });
    await res.body.dump();
    this.#fact(repo, digest, true);
  }

  async #startUpload(repo: Repository, options: RequestOptions): Promise<string> {
    const res = await this.transport.request({
      host: repo.host, method: 'POST', path: `/v2/${checkName(repo)}/blobs/uploads/`, headers: { 'content-length': '0' }, body: '',
      scope: push(repo), expect: [202], what: `upload to ${repo.name}`, ...opt(options),
    });
    await res.body.dump();
    return requireLocation(res, repo);
  }

  /**
   * Manifests that refer to `digest` as their subject (signatures, attestations): the referrers
   * API, or the `sha256-<hex>` tag schema on registries without it.
   */
  async referrers(repo: Repository, digest: string, options: RequestOptions & { artifactType?: string } = {}): Promise<Descriptor[]> {
    const filter = options.artifactType ? `?artifactType=${encodeURIComponent(options.artifactType)}` : '';
    const read = this.#read(options);
    options = { ...options, deadline: read.deadline };
    const res = await this.transport.request({
      host: repo.host, method: 'GET', path: `/v2/${repo.name}/referrers/${checkDigest(repo, digest)}${filter}`, headers: { accept: MediaType.ociIndex },
      scope: pull(repo), expect: [200, 404, 400, 405], what: `referrers of ${repo.name}@${digest}`, ...opt(options),
    });
    let descriptors: Descriptor[];
    const served = res.status === 200 && contentType(res).startsWith(MediaType.ociIndex);
    // 404, 400 or 405: no referrers API (a registry that has one answers 200, an empty list too).
    this.inventory.setReferrersApi(repo.host, served);
    if (served) {
      const what = `referrers of ${repo.name}@${digest}`;
      const list = (body: RegistryResponse) => readCapped(body.body, body.headers, maxManifestBytes, repo.host, what)
        .then((bytes) => parseJson<{ manifests?: Descriptor[] }>(bytes, repo.host, what).manifests ?? []);
      descriptors = await list(res);
      checkReferrers(repo, digest, descriptors);
      // Registries page long referrer lists like tag lists; a signature on page two still counts.
      const first = `/v2/${repo.name}/referrers/${digest}`;
      const pages = new Pages(this.transport.origin(repo.host), first, repo.host, what);
      for (let path = pages.next(`${first}${filter}`, res.headers.link); path; ) {
        const page = await this.transport.request({
          host: repo.host, method: 'GET', path, headers: { accept: MediaType.ociIndex },
          scope: pull(repo), expect: [200], what, ...opt(options),
        });
        const more = await list(page);
        checkReferrers(repo, digest, more);
        if (descriptors.length + more.length > maxReferrers) throw new RegistryError('ResponseTooLarge', repo.host, `${repo.host}: ${what}: more than ${maxReferrers}; refusing them`);
        descriptors.push(...more);
        path = pages.next(path, page.headers.link);
      }
    } else {
      await res.body.dump();
      const index = await this.#fallbackIndex(repo, digest, options);
      descriptors = index === 'foreign' ? [] : index?.manifests ?? [];
    }
    checkReferrers(repo, digest, descriptors);
    return options.artifactType ? descriptors.filter((d) => d.artifactType === options.artifactType) : descriptors;
  }

  /**
   * Pushes a manifest that has a subject and makes it findable as a referrer: registries with
   * the referrers API index it themselves; elsewhere the `sha256-<hex>` tag's index gets it.
   */
  async pushReferrer(repo: Repository, manifest: { bytes: Buffer; mediaType: string; artifactType?: string; annotations?: Record<string, string> }, subject: string, options: RequestOptions = {}): Promise<string> {
    checkDigest(repo, subject);
    const { digest, subjectIndexed } = await this.putManifest(repo, sha256(manifest.bytes), manifest, options);
    if (subjectIndexed) {
      this.inventory.setReferrersApi(repo.host, true);
      return digest;
    }
    const entry: Descriptor = {
      mediaType: manifest.mediaType, digest, size: manifest.bytes.length,
      ...(manifest.artifactType && { artifactType: manifest.artifactType }),
      ...(manifest.annotations && { annotations: manifest.annotations }),
    };
    // Read, merge, write, and read again: the tag schema has no compare-and-swap, so another
    // writer's update in between would drop our entry; going round again puts it back.
    for (let round = 0; round < 4; round++) {
      const current = await this.#fallbackIndex(repo, subject, options);
      if (current === 'foreign') {
        throw new RegistryError('Rejected', repo.host, `${repo.host}: ${repo.name}:${fallbackTag(subject)} exists and is not a referrers index; refusing to overwrite it`);
      }
      const manifests = current?.manifests ?? [];
      if (manifests.some((d) => d.digest === digest)) return digest;
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [...manifests, entry] }));
      await this.putManifest(repo, fallbackTag(subject), { bytes: index, mediaType: MediaType.ociIndex }, options);
    }
    throw new RegistryError('InvalidResponse', repo.host, `${repo.host}: ${repo.name}:${fallbackTag(subject)} keeps losing our referrer entry to concurrent writers`);
  }

  /** The `sha256-<hex>` tag's index; 'foreign' when that tag holds something else. */
  async #fallbackIndex(repo: Repository, subject: string, options: RequestOptions): Promise<{ manifests?: Descriptor[] } | 'foreign' | undefined> {
    const tag = fallbackTag(subject);
    const head = await this.headManifest(repo, tag, options);
    if (!head) return undefined;
    if (!isIndex(head.mediaType)) return 'foreign';
    const index = await this.getManifest(repo, tag, options);
    let doc: { manifests?: Descriptor[] };
    try {
      doc = JSON.parse(index.bytes.toString('utf8')) as { manifests?: Descriptor[] };
    } catch {
      throw new RegistryError('InvalidResponse', repo.host, `${repo.host}: ${repo.name}:${tag} is not JSON`);
    }
    checkReferrers(repo, subject, doc.manifests ?? []);
    return doc;
  }
}

export { maxManifestBytes };

/**
 * Google's tag lists (GCR, Artifact Registry) carry `manifest: { "sha256:...": { tag: [...] } }`,
 * the digest of every tagged manifest: kpromo plans from it alone. Untrusted like every byte of
 * a response: only digests and string tags are taken, and a tag named under two digests is
 * dropped (it is read with a HEAD instead).
 */
function readTagDigests(manifest: unknown, list: TagList, host: string): void {
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) return;
  const digests = list.digests ??= new Map();
  const ambiguous = new Set<string>();
  for (const [digest, entry] of Object.entries(manifest)) {
    if (!digestPattern.test(digest)) continue;
    const tags = (entry as { tag?: unknown } | null)?.tag;
    if (!Array.isArray(tags)) continue;
    for (const tag of tags) {
      if (typeof tag !== 'string' || !tagPattern.test(tag)) continue;
      const seen = digests.get(tag);
      if (seen !== undefined && seen !== digest) ambiguous.add(tag);
      else digests.set(tag, digest);
    }
    if (digests.size > bodyLimits.tags) throw new RegistryError('ResponseTooLarge', host, `${host}: the tag list's manifest field names more than ${bodyLimits.tags} tags; refusing it`);
  }
  for (const tag of ambiguous) digests.delete(tag);
}

/** Signatures and attestations of one digest: far more than any real image has. */
const maxReferrers = 10_000;

/** Referrers are fetched and pushed by digest: a descriptor that is not one is refused, list and all. */
function checkReferrers(repo: Repository, subject: string, descriptors: unknown): asserts descriptors is Descriptor[] {
  try {
    if (!Array.isArray(descriptors)) throw new InvalidDescriptorError('the list of manifests is not a list');
    descriptors.forEach((d, i) => checkDescriptor(d, `manifests[${i}]`, 'manifest'));
  } catch (error) {
    if (!(error instanceof InvalidDescriptorError)) throw error;
    throw new RegistryError('InvalidDescriptor', repo.host, `${repo.host}: referrers of ${repo.name}@${subject}: ${error.message}; refusing them`);
  }
}

function opt(options: RequestOptions): { signal?: AbortSignal; deadline?: number } {
  return { ...(options.signal && { signal: options.signal }), ...(options.deadline !== undefined && { deadline: options.deadline }) };
}

/**
 * Where `Link: rel="next"` may lead: pages of the same list (same origin, same path; only the
 * query changes), each once. A registry that links elsewhere or back to a page it already
 * served would otherwise send the client round in circles, or take it, and its credentials'
 * requests, somewhere else.
 */
class Pages {
  readonly #seen = new Set<string>();
  readonly #origin: string;
  readonly #path: string;
  readonly #host: string;
  readonly #what: string;

  constructor(origin: string, path: string, host: string, what: string) {
    this.#origin = origin;
    this.#path = path;
    this.#host = host;
    this.#what = what;
  }

  /** The next page's path and query after `current`, or undefined at the end. */
  next(current: string, link: string | string[] | undefined): string | undefined {
    this.#seen.add(this.#normal(current));
    const target = nextPage(link);
    if (target === undefined) return undefined;
    const url = URL.canParse(target, this.#origin) ? new URL(target, this.#origin) : undefined;
    if (!url || url.origin !== this.#origin || url.pathname !== this.#path) {
      throw new RegistryError('InvalidResponse', this.#host, `${this.#host}: ${this.#what}: the next page is linked to ${quoted(target, 120)}, not another page of the same list; refusing to follow it`);
    }
    const next = `${url.pathname}${url.search}`;
    if (this.#seen.has(this.#normal(next))) {
      throw new RegistryError('PaginationLoop', this.#host, `${this.#host}: ${this.#what}: page ${this.#seen.size + 1} links back to a page already read (${quoted(next, 120)}); the list does not end, refusing it`);
    }
    if (this.#seen.size >= 100_000) throw new RegistryError('PaginationLoop', this.#host, `${this.#host}: ${this.#what} has more than 100000 pages; refusing it`);
    return next;
  }

  /** One spelling per page: the query's parameters in order. */
  #normal(pathAndQuery: string): string {
    const url = new URL(pathAndQuery, this.#origin);
    url.searchParams.sort();
    return `${url.pathname}?${url.searchParams}`;
  }
}

function contentType(res: RegistryResponse, bytes?: Buffer): string {
  const header = headerValue(res.headers, 'content-type')?.split(';')[0]?.trim();
  if (header && header !== 'application/json' && header !== 'application/octet-stream') return header;
  if (bytes) {
    try {
      const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown };
      return doc.mediaType ?? (doc.manifests ? MediaType.ociIndex : MediaType.ociManifest);
    } catch {
      // fall through
    }
  }
  return header ?? MediaType.ociManifest;
}

function requireLocation(res: RegistryResponse, repo: Repository): string {
  const location = headerValue(res.headers, 'location');
  if (!location) throw new RegistryError('InvalidResponse', repo.host, `${repo.host}: upload to ${repo.name} answered ${res.status} without a Location`);
  return location;
}

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

/**
 * `Link: </v2/x/tags/list?n=100&last=b>; rel="next"` -> the next page's path. A response may
 * carry several Link headers or several links in one (rel="prev" first, say): all are read.
 */
export function nextPage(link: string | string[] | undefined): string | undefined {
  for (const value of Array.isArray(link) ? link : link ? [link] : []) {
    for (const part of value.split(/,(?=\s*<)/)) {
      const match = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
      if (match) return match[1];
    }
  }
  return undefined;
}

/** Re-cuts a stream into fixed-size buffers; memory stays at one chunk. */
async function* chunks(body: Buffer | Readable, size: number): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(body)) {
    for (let i = 0; i < body.length; i += size) yield body.subarray(i, i + size);
    return;
  }
  let pending: Buffer[] = [];
  let length = 0;
  for await (const piece of body as AsyncIterable<Buffer>) {
    pending.push(piece);
    length += piece.length;
    while (length >= size) {
      const all = Buffer.concat(pending, length);
      yield all.subarray(0, size);
      pending = [all.subarray(size)];
      length -= size;
    }
  }
  if (length > 0) yield Buffer.concat(pending, length);
}
