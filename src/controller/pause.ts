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
