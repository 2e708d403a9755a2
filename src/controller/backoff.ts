// Exponential backoff with jitter, shared by the work queue (per key) and the watches, so a
// failing object or a flapping API server is retried quickly at first and then left alone.

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** 0..1: the delay is spread by up to this fraction downwards, so replicas do not sync up. */
  jitter?: number;
}

/** Delay before attempt `failures` (1 = after the first failure). */
export function backoffDelay(failures: number, options: BackoffOptions): number {
  const exp = options.baseMs * 2 ** Math.max(0, failures - 1);
  const capped = Math.min(options.maxMs, exp);
  const jitter = options.jitter ?? 0;
  return Math.round(capped * (1 - jitter * Math.random()));
}
