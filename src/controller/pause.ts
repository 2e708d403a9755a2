// A sleep that can be cut short: loops that wait between attempts (leader election, list and
// watch) must wake at once on shutdown or when there is news, not at the end of their delay.
export class Pause {
  #wake: (() => void) | undefined;

  for(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const wake = () => { this.#wake = undefined; done(); };
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = wake;
    });
  }

  /** Ends the current pause, if any, now. */
  wake(): void {
    this.#wake?.();
  }
}

/**
 * An AbortSignal that aborts after `ms` with a TimeoutError, as AbortSignal.timeout does, but on
 * the global setTimeout (so node:test's mock timers drive it). clear(), once the work it bounds
 * is over, drops the timer and aborts the signal with an AbortError: Node keeps a signal made
 * with AbortSignal.any alive, with all it holds, for as long as it has a listener and a source
 * that may still abort (issue 15: each run's signal, and the registry transport's listener on
 * it, stayed in memory until shutdown). Check for a timeout before calling clear().
 */
export function deadline(ms: number): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), ms);
  timer.unref?.();
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      if (!controller.signal.aborted) controller.abort(new DOMException('the work this deadline bounded is over', 'AbortError'));
    },
  };
}
