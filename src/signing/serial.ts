// Work that must not interleave per key: the read-modify-write of a `.sig`/`.att` tag (read the
// layer list, append, put it back) loses a layer when two writers of the same tag overlap, as
// when one platform image sits under two indexes of a run, or two manifests promote the same
// digest into one repository. Keys are per process, which is where Hoist's writers are.
export class KeyedSerial {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `work` after every earlier work of `key` has settled. */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => { release = resolve; });
    const tail = before.then(() => mine);
    this.#tails.set(key, tail);
    await before;
    try {
      return await work();
    } finally {
      release();
      // The last in line leaves nothing behind.
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
