// What a client learnt from its own recent reads and writes about what a repository holds:
// a digest seen there or written there, a digest a registry said it lacks, a repository that
// listed no tags. Copies use it to skip reads whose answer is already known (the digest HEAD
// before copying into a repository the plan just saw empty, a blob HEAD before each upload).
// Facts expire: only a short-lived view, never a reason to skip the tag re-read before a write.

export interface FactsOptions {
  /** How long a fact is believed. */
  ttlMs?: number;
  /** Facts kept at most; the oldest go first. */
  maxEntries?: number;
}

export class RecentFacts {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #entries = new Map<string, { present: boolean; at: number }>();

  constructor(options: FactsOptions = {}) {
    this.#ttlMs = options.ttlMs ?? 30 * 60_000;
    this.#max = options.maxEntries ?? 200_000;
  }

  /** The repository (`host/name`) listed no tags, or did not exist. */
  empty(repository: string): void {
    this.#set(repository, false);
  }

  /** `digest` is in the repository (seen, or written by us), or the registry said it is not. */
  digest(repository: string, digest: string, present: boolean): void {
    this.#set(`${repository}@${digest}`, present);
  }

  /** true: there; false: not there (said so, or the repository was empty); undefined: unknown. */
  known(repository: string, digest: string): boolean | undefined {
    const fact = this.#get(`${repository}@${digest}`);
    if (fact !== undefined) return fact;
    return this.#get(repository) === false ? false : undefined;
  }

  #get(key: string): boolean | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (performance.now() - entry.at > this.#ttlMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.present;
  }

  #set(key: string, present: boolean): void {
    this.#entries.delete(key);
    this.#entries.set(key, { present, at: performance.now() });
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }
}
