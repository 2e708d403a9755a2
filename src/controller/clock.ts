// The controller's clock, injected where time decides something (when a run is due, how long a
// Lease has gone unrenewed, whether a watch went silent), so tests can move time instead of
// waiting for it. Timers themselves are the global setTimeout/setInterval, which node:test's
// mock timers control.

export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
