// Bounded parallelism for lists of independent work.

/** Runs `work` over `items` with at most `limit` at once; rejects with the first failure once the started ones settle. */
export async function forEachLimit<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  if (!(Number.isInteger(limit) && limit >= 1)) throw new RangeError(`concurrency must be a whole number of at least 1, got ${limit}`);
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    // After a failure no new item starts: the result is already a failure.
    while (next < items.length && errors.length === 0) {
      const index = next++;
      try {
        await work(items[index]!, index);
      } catch (error) {
        errors.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}

/**
 * forEachLimit per group: items sharing a key (a registry host) run at most `limit` at once,
 * while groups run side by side, so a slow or throttled host never holds back the others.
 */
export async function forEachLimitBy<T>(items: readonly T[], keyOf: (item: T) => string, limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    let group = groups.get(key);
    if (!group) groups.set(key, group = []);
    group.push(item);
  }
  const results = await Promise.allSettled([...groups.values()].map((group) => forEachLimit(group, limit, work)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
