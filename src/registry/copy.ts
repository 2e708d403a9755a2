// Copying images between repositories with their digests intact: children before parents,
// blobs before the manifests that name them, blobs already present skipped, mounts inside one
// registry, streams across registries. An image that is already there costs only the reads
// needed to know that.
import pRetry, { AbortError } from 'p-retry';
import type { Manifest, RegistryClient } from './client.ts';
import { forEachLimit } from './concurrency.ts';
import { DigestMismatchError } from './digest.ts';
import { RegistryError } from './errors.ts';
import { SourceCache } from './source-cache.ts';
import { InvalidDescriptorError, isIndex, parseManifest, type Descriptor, type ParsedManifest } from './media-types.ts';
import type { Repository } from '../api/reference.ts';

export interface CopyRequest {
  src: Repository;
  dst: Repository;
  digest: string;
  /**
   * Destination tags to point at the digest. A tag already on another digest is never moved:
   * each is read again right before it is written.
   */
  tags?: string[];
  signal?: AbortSignal;
}

export interface CopyResult {
  digest: string;
  /** The image was already in the destination; only tags may have been written. */
  alreadyPresent: boolean;
  manifestsWritten: number;
  blobsCopied: number;
  blobsMounted: number;
  blobsSkipped: number;
  bytesCopied: number;
  tagsWritten: string[];
  /** Tags left alone because they point at another digest. */
  tagConflicts: { tag: string; digest: string }[];
}

export interface CopyOptions {
  /** Blobs of one image moved at once. */
  blobConcurrency?: number;
  /** Children of one index copied at once. */
  manifestConcurrency?: number;
  /** Attempts for one blob transfer: a failed stream is started again from the source. */
  blobAttempts?: number;
  /** Called with each blob transfer's bytes, for progress displays. */
  onBytes?: (bytes: number) => void;
  /** Memory for source manifests and small blobs read once and written to many destinations. */
  sourceCacheBytes?: number;
  /**
   * The longest one copy (an edge: the image, its blobs and its tags) may take, retries
   * included, so one throttled or hostile repository cannot hold a run indefinitely; it then
   * fails with DeadlineExceeded. Default: the client's copyTimeoutMs, else 30 minutes.
   */
  copyTimeoutMs?: number;
}

/** A source manifest read and checked, with its children when it is an index. */
interface SourceNode { digest: string; manifest: Manifest; parsed: ParsedManifest; children: SourceNode[] }

/** Indexes of indexes are allowed by the image spec; deeper than this is no real image. */
const maxIndexDepth = 4;

export class ImageCopier {
  readonly #client: RegistryClient;
  readonly #blobConcurrency: number;
  readonly #manifestConcurrency: number;
  readonly #blobAttempts: number;
  readonly #onBytes: ((bytes: number) => void) | undefined;
  /** Blob transfers under way, so concurrent copies of images sharing a layer move it once. */
  readonly #inFlight = new Map<string, Promise<'copied' | 'mounted' | 'skipped'>>();
  readonly #sources: SourceCache;
  readonly #copyTimeoutMs: number;

  constructor(client: RegistryClient, options: CopyOptions = {}) {
    this.#client = client;
    this.#blobConcurrency = options.blobConcurrency ?? 4;
    this.#manifestConcurrency = options.manifestConcurrency ?? 4;
    this.#blobAttempts = options.blobAttempts ?? 3;
    this.#onBytes = options.onBytes;
    this.#sources = new SourceCache(options.sourceCacheBytes === undefined ? {} : { maxBytes: options.sourceCacheBytes });
    this.#copyTimeoutMs = options.copyTimeoutMs ?? client.copyTimeoutMs ?? 30 * 60_000;
    if (!(this.#copyTimeoutMs > 0)) throw new RangeError(`copyTimeoutMs must be positive, got ${options.copyTimeoutMs}`);
  }

  /** Copies one image, within the copy deadline. */
  async copy(request: CopyRequest): Promise<CopyResult> {
    const deadline = AbortSignal.timeout(this.#copyTimeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, deadline]) : deadline;
    try {
      return await this.#copy({ ...request, signal });
    } catch (error) {
      if (!deadline.aborted || request.signal?.aborted) throw error;
      const minutes = this.#copyTimeoutMs / 60_000;
      throw new RegistryError('DeadlineExceeded', request.dst.host,
        `copy of ${request.digest.slice(0, 19)} to ${request.dst.host}/${request.dst.name} was not done within ${minutes >= 1 ? `${+minutes.toFixed(1)}m` : `${Math.round(this.#copyTimeoutMs / 1000)}s`}, the copy deadline; what was copied stays, and a rerun goes on from there`, { cause: error });
    }
  }

  async #copy(request: CopyRequest): Promise<CopyResult> {
    const { src, dst, digest, signal } = request;
    const result: CopyResult = {
      digest, alreadyPresent: false, manifestsWritten: 0, blobsCopied: 0, blobsMounted: 0, blobsSkipped: 0, bytesCopied: 0, tagsWritten: [], tagConflicts: [],
    };
    const opts = signal ? { signal } : {};
    const tags = request.tags ?? [];
    // A digest this client just saw or wrote, or saw missing (the plan listed the repository
    // empty), needs no HEAD.
    const known = this.#client.known(dst, digest);
    const present = known === undefined ? await this.#client.headManifest(dst, digest, opts) !== undefined : known;
    result.alreadyPresent = present;
    let manifest: Manifest | undefined;
    if (!present) {
      const tree = await this.#readTree(src, digest, signal);
      await this.#copyContent(tree, src, dst, result, signal);
      manifest = tree.manifest;
    }
    let stored = present;
    for (const tag of tags) {
      // Read right before writing, however recently the caller listed the tags: a tag that
      // appeared on another digest in the meantime is reported, never moved.
      const current = (await this.#client.headManifest(dst, tag, opts))?.digest;
      if (current === digest) continue;
      if (current !== undefined) {
        result.tagConflicts.push({ tag, digest: current });
        continue;
      }
      // Tagging an image that was already there rewrites its bytes; read them from the destination.
      manifest ??= await this.#client.getManifest(dst, digest, opts);
      await this.#client.putManifest(dst, tag, manifest, opts);
      this.#written(dst, manifest);
      if (!stored) result.manifestsWritten += 1;
      stored = true;
      result.tagsWritten.push(tag);
    }
    if (!stored) {
      await this.#client.putManifest(dst, digest, manifest!, opts);
      this.#written(dst, manifest!);
      result.manifestsWritten += 1;
    }
    return result;
  }

  /** A manifest just written is a source for the next copy from there (a mount inside one registry). */
  #written(dst: Repository, manifest: Manifest): void {
    this.#sources.set(`${dst.host}/${dst.name}@${manifest.digest}`, 4096, manifest);
  }

  /**
   * Reads a source manifest and, for an index, every child below it, checking each one before
   * anything is written: a refused image leaves nothing behind, not even children by digest.
   */
  async #readTree(src: Repository, digest: string, signal: AbortSignal | undefined, depth = 0, declaredSize?: number): Promise<SourceNode> {
    const opts = signal ? { signal } : {};
    const manifest = await this.#sources.get(`${src.host}/${src.name}@${digest}`, 4096, () => this.#client.getManifest(src, digest, opts));
    if (declaredSize !== undefined && manifest.size !== declaredSize) {
      throw new RegistryError('InvalidDescriptor', src.host, `${src.host}: manifest ${src.name}@${digest} has ${manifest.size} bytes, its index declares ${declaredSize}; refusing the image`);
    }
    const parsed = readReferences(manifest, src, digest);
    if (!isIndex(parsed.mediaType)) return { digest, manifest, parsed, children: [] };
    if (depth >= maxIndexDepth) {
      throw new RegistryError('InvalidDescriptor', src.host, `${src.host}: manifest ${src.name}@${digest} nests indexes deeper than ${maxIndexDepth}; refusing the image`);
    }
    // An index may list one child many times (an alias bomb): each is read and written once.
    const unique = [...new Map(parsed.manifests.map((m) => [m.digest, m])).values()];
    const children: SourceNode[] = new Array(unique.length);
    await forEachLimit(unique, this.#manifestConcurrency, async (child, i) => {
      children[i] = await this.#readTree(src, child.digest, signal, depth + 1, child.size);
    });
    return { digest, manifest, parsed, children };
  }

  /** Copies what a manifest refers to (children, blobs), not the manifest itself. */
  async #copyContent(node: SourceNode, src: Repository, dst: Repository, result: CopyResult, signal?: AbortSignal): Promise<void> {
    const opts = signal ? { signal } : {};
    if (isIndex(node.parsed.mediaType)) {
      await forEachLimit(node.children, this.#manifestConcurrency, async (child) => {
        const known = this.#client.known(dst, child.digest);
        if (known ?? (await this.#client.headManifest(dst, child.digest, opts)) !== undefined) return;
        await this.#copyContent(child, src, dst, result, signal);
        await this.#client.putManifest(dst, child.digest, child.manifest, opts);
        this.#written(dst, child.manifest);
        result.manifestsWritten += 1;
      });
    } else {
      await forEachLimit(node.parsed.blobs, this.#blobConcurrency, async (blob) => {
        const outcome = await this.#copyBlobOnce(src, dst, blob, result, signal);
        if (outcome === 'copied') result.blobsCopied += 1;
        else if (outcome === 'mounted') result.blobsMounted += 1;
        else result.blobsSkipped += 1;
      });
    }
  }

  #copyBlobOnce(src: Repository, dst: Repository, blob: Descriptor, result: CopyResult, signal?: AbortSignal): Promise<'copied' | 'mounted' | 'skipped'> {
    const key = `${dst.host}/${dst.name}@${blob.digest}`;
    let pending = this.#inFlight.get(key);
    if (pending) return pending.then(() => 'skipped');
    pending = this.#copyBlob(src, dst, blob, result, signal).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, pending);
    return pending;
  }

  async #copyBlob(src: Repository, dst: Repository, blob: Descriptor, result: CopyResult, signal?: AbortSignal): Promise<'copied' | 'mounted' | 'skipped'> {
    const opts = signal ? { signal } : {};
    const known = this.#client.known(dst, blob.digest);
    if (known === true) return 'skipped';
    const mountable = src.host === dst.host && src.name !== dst.name;
    // A mount answers 201 for a blob that is already there, so it needs no HEAD first; nor does
    // a blob the client knows is missing.
    if (known === undefined && !mountable && (await this.#client.headBlob(dst, blob.digest, opts)) !== undefined) return 'skipped';
    let location: string | undefined;
    if (mountable) {
      const mount = await this.#client.mountBlob(dst, blob.digest, src.name, opts);
      if (mount.mounted) return 'mounted';
      location = mount.location;
    }
    if (blob.size <= this.#sources.maxBlobBytes) {
      // Small blobs are read once per run and written from memory to every destination; a
      // buffer can be sent again, so the transport retries the upload by itself.
      const data = await this.#sources.get(`${src.host}/${src.name}@${blob.digest}`, blob.size, () => this.#readBlob(src, blob, signal));
      await pRetry(async (attempt) => {
        if (attempt > 1 && (await this.#client.headBlob(dst, blob.digest, opts)) !== undefined) return; // the last attempt landed
        try {
          await this.#client.uploadBlob(dst, blob.digest, blob.size, data, { ...opts, ...(attempt === 1 && location && { location }) });
        } catch (error) {
          throw transferFailure(error, { errored: null }, src, blob);
        }
      }, this.#retryOptions(signal));
      result.bytesCopied += blob.size;
      this.#onBytes?.(blob.size);
      return 'copied';
    }
    // A stream cannot be replayed, and an upload session cannot be replayed either: a transient
    // failure restarts the transfer from the source, in a new session, unless the last one landed.
    await pRetry(async (attempt) => {
      if (attempt > 1 && (await this.#client.headBlob(dst, blob.digest, opts)) !== undefined) return;
      const body = await this.#client.getBlob(src, blob.digest, blob.size, opts);
      try {
        await this.#client.uploadBlob(dst, blob.digest, blob.size, body, { ...opts, ...(attempt === 1 && location && { location }) });
      } catch (error) {
        body.destroy();
        throw transferFailure(error, body, src, blob);
      }
      result.bytesCopied += blob.size;
      this.#onBytes?.(blob.size);
    }, this.#retryOptions(signal));
    return 'copied';
  }

  /** A whole small blob, verified against its digest, read again on transient failures. */
  #readBlob(src: Repository, blob: Descriptor, signal?: AbortSignal): Promise<Buffer> {
    const opts = signal ? { signal } : {};
    return pRetry(async () => {
      const body = await this.#client.getBlob(src, blob.digest, blob.size, opts);
      try {
        return Buffer.concat(await body.toArray() as Buffer[]);
      } catch (error) {
        throw transferFailure(error, body, src, blob);
      }
    }, this.#retryOptions(signal));
  }

  #retryOptions(signal?: AbortSignal) {
    return { retries: this.#blobAttempts - 1, minTimeout: 200, maxTimeout: 5000, randomize: true, ...(signal && { signal }) };
  }
}

/**
 * A source manifest's children and blobs, every descriptor checked before any of it is read or
 * written: a registry that lists `v1.1.0` or `../../other/manifests/latest` as a child gets the
 * whole image refused, not a tag created in production from content nobody reviewed.
 */
function readReferences(manifest: Manifest, src: Repository, digest: string): ParsedManifest {
  try {
    return parseManifest(manifest.bytes, manifest.mediaType);
  } catch (error) {
    const reason = error instanceof InvalidDescriptorError ? 'InvalidDescriptor' : 'InvalidResponse';
    throw new RegistryError(reason, src.host, `${src.host}: manifest ${src.name}@${digest}: ${(error as Error).message}; refusing the image, nothing was written for it`, { cause: error });
  }
}

/** What to throw from a failed transfer attempt: corruption and non-transient errors end the retries. */
function transferFailure(error: unknown, body: { errored: Error | null }, src: Repository, blob: Descriptor): unknown {
  const mismatch = body.errored instanceof DigestMismatchError ? body.errored : findMismatch(error);
  if (mismatch) {
    return new AbortError(new RegistryError('DigestMismatch', src.host, `${src.host}: blob ${src.name}@${blob.digest} is corrupt (${mismatch.message}); nothing was written`, { cause: error }));
  }
  if (error instanceof RegistryError && !error.transient) return new AbortError(error);
  return error;
}

function findMismatch(error: unknown): DigestMismatchError | undefined {
  for (let e = error; e; e = (e as { cause?: unknown }).cause) {
    if (e instanceof DigestMismatchError) return e;
  }
  return undefined;
}
