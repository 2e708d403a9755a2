// Which existing Event a repeated occurrence belongs to, as client-go's EventCorrelator decides:
// the same object, type, reason and message. The object is named by its uid so that a manifest
// deleted and re-created under the same name starts Events of its own. The cache is a bounded
// LRU: forgetting an entry costs one extra Event, never a wrong count.

export interface EventIdentity {
  uid?: string;
  namespace: string;
  name: string;
  type: string;
  reason: string;
  message: string;
}

/** The aggregation key; JSON so that no field's content can forge a separator. */
export function aggregationKey(e: EventIdentity): string {
  // Without a uid (never the case for objects read from the API) fall back to the name.
  return JSON.stringify([e.uid ?? `${e.namespace}/${e.name}`, e.type, e.reason, e.message]);
}

/** The Event already written for a key and the count it carries now. */
export interface Aggregate {
  namespace: string;
  name: string;
  count: number;
}

export class EventCache {
  readonly #entries = new Map<string, Aggregate>();
  readonly #max: number;

  /** client-go keeps 4096 entries; events expire server-side after an hour anyway. */
  constructor(max = 4096) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`event cache size must be at least 1, got ${max}`);
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): Aggregate | undefined {
    const entry = this.#entries.get(key);
    if (entry) {
      // Map keeps insertion order: re-inserting marks the entry most recently used.
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    }
    return entry;
  }

  set(key: string, aggregate: Aggregate): void {
    this.#entries.delete(key);
    this.#entries.set(key, aggregate);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}
