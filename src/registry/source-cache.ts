// Recently read source manifests and small blobs. A promotion sends one digest to many
// registries on different hosts, where no mount can help; without this, every destination
// reads the same bytes from staging again, and staging is the host every edge touches.
// Bounded by bytes; entries are content-addressed, so they never go stale.

export class SourceCache {
  readonly #maxBytes: number;
  /** Blobs up to this size are buffered; larger ones stream straight through. */
  readonly maxBlobBytes: number;
  readonly #entries = new Map<string, { value: Promise<Buffer | { bytes: Buffer }>; bytes: number }>();
  #bytes = 0;

  constructor(options: { maxBytes?: number; maxBlobBytes?: number } = {}) {
    this.#maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.maxBlobBytes = Math.min(options.maxBlobBytes ?? 1024 * 1024, this.#maxBytes);
  }

  /** The cached value for `key`, loading it once; a failed load is forgotten so it can be retried. */
  get<T extends Buffer | { bytes: Buffer }>(key: string, size: number, load: () => Promise<T>): Promise<T> {
    const hit = this.#entries.get(key);
    if (hit) {
      // Refresh its place: the oldest entries are the ones given up first.
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit.value as Promise<T>;
    }
    const value = load();
    const entry = { value, bytes: size };
    this.#entries.set(key, entry);
    this.#bytes += size;
    value.catch(() => this.#drop(key, entry));
    for (const [oldest, old] of this.#entries) {
      if (this.#bytes <= this.#maxBytes || old === entry) break;
      this.#drop(oldest, old);
    }
    return value;
  }

  /** Puts a value that is already at hand (a manifest just written, to be read back as a source). */
  set<T extends Buffer | { bytes: Buffer }>(key: string, size: number, value: T): void {
    if (this.#entries.has(key)) return;
    void this.get(key, size, () => Promise.resolve(value));
  }

  #drop(key: string, entry: { bytes: number }): void {
    if (this.#entries.get(key) !== entry) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }
}
