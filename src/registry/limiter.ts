// Adaptive per-host rate limiting: one token bucket per registry host, shared by all work that
// talks to it. A 429 or a RateLimit/Retry-After header halves the rate and pauses the host as
// told; healthy answers let the rate climb back additively (AIMD, as TCP congestion control).

export interface RateLimitOptions {
  /** Requests per second when the registry is healthy; also the ceiling of the climb back. */
  rate: number;
  /** Tokens that may be spent at once after an idle spell. */
  burst: number;
  /** Requests open at once against this host. */
  maxInFlight: number;
  /** The rate never drops below this. */
  minRate: number;
  /** Requests per second regained per second of healthy traffic. */
  recoveryPerSecond: number;
}

// Polite to shared registries yet never the bottleneck of a copy on its own (bench/copy.ts:
// 100/s with a burst of 32 made Hoist the slowest of crane, skopeo and Hoist); the adaptive
// part takes over when a registry says it is overloaded.
export const defaultRateLimit: RateLimitOptions = {
  rate: 200, burst: 100, maxInFlight: 16, minRate: 0.5, recoveryPerSecond: 20,
};

interface Waiter { resolve: (permit: Permit) => void; reject: (error: unknown) => void; signal: AbortSignal | undefined; onAbort: () => void; since: number }

export interface Permit {
  /** Ends the request's claim on an in-flight slot and feeds its outcome back to the limiter. */
  release(outcome?: { status?: number; headers?: Record<string, string | string[] | undefined> }): void;
}

export interface LimiterStats {
  host: string;
  rate: number;
  inFlight: number;
  queued: number;
  waitedMs: number;
  throttled: number;
  pausedUntil: number;
}

export class HostLimiter {
  readonly host: string;
  readonly #options: RateLimitOptions;
  #rate: number;
  #tokens: number;
  #refilledAt = performance.now();
  #inFlight = 0;
  #pausedUntil = 0;
  #lastDecrease = 0;
  #waitedMs = 0;
  #throttled = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #queue: Waiter[] = [];

  constructor(host: string, options: Partial<RateLimitOptions> = {}) {
    this.host = host;
    this.#options = { ...defaultRateLimit, ...options };
    for (const [key, value] of Object.entries(this.#options)) {
      if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`rate limit ${key} must be a positive number, got ${value}`);
    }
    this.#rate = this.#options.rate;
    this.#tokens = this.#options.burst;
  }

  get stats(): LimiterStats {
    return {
      host: this.host, rate: this.#rate, inFlight: this.#inFlight, queued: this.#queue.length,
      waitedMs: this.#waitedMs, throttled: this.#throttled, pausedUntil: this.#pausedUntil,
    };
  }

  /** Waits for a token and an in-flight slot, in arrival order. */
  acquire(signal?: AbortSignal): Promise<Permit> {
    signal?.throwIfAborted();
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter = {
        resolve, reject, signal, since: performance.now(),
        onAbort: () => {
          const i = this.#queue.indexOf(waiter);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(signal?.reason);
          this.#pump();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#queue.push(waiter);
      this.#pump();
    });
  }

  /** Stops handing out permits for a while, as a registry's Retry-After asks. */
  pause(ms: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, performance.now() + ms);
    // #pump schedules a wake-up only if requests are waiting; an idle pause holds no timer.
    this.#pump();
  }

  #refill(now: number): void {
    this.#tokens = Math.min(this.#options.burst, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#rate);
    this.#refilledAt = now;
  }

  #pump(): void {
    const now = performance.now();
    this.#refill(now);
    while (this.#queue.length > 0) {
      if (now < this.#pausedUntil) return this.#schedule(this.#pausedUntil - now);
      if (this.#inFlight >= this.#options.maxInFlight) return; // a release pumps again
      if (this.#tokens < 1) return this.#schedule(((1 - this.#tokens) / this.#rate) * 1000);
      const waiter = this.#queue.shift()!;
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      this.#tokens -= 1;
      this.#inFlight += 1;
      this.#waitedMs += now - waiter.since;
      waiter.resolve(this.#permit());
    }
    // Nobody waits: no timer may keep the process alive.
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #schedule(ms: number): void {
    if (this.#timer) return;
    // Not unref'd: a timer exists only while requests wait, and a process whose every request
    // is waiting for a token must stay alive until it gets one.
    this.#timer = setTimeout(() => { this.#timer = undefined; this.#pump(); }, Math.max(1, Math.ceil(ms)));
  }

  #permit(): Permit {
    let released = false;
    return {
      release: (outcome) => {
        if (released) return;
        released = true;
        this.#inFlight -= 1;
        if (outcome) this.#adapt(outcome.status, outcome.headers ?? {});
        this.#pump();
      },
    };
  }

  #adapt(status: number | undefined, headers: Record<string, string | string[] | undefined>): void {
    const now = performance.now();
    const waitSeconds = retryAfterSeconds(headers, status);
    if (status === 429 || waitSeconds !== undefined) {
      this.#throttled += 1;
      // Many requests in flight see the same overload; halve once per burst of them, not per 429.
      if (status === 429 && now - this.#lastDecrease > 1000 / this.#rate + 250) {
        this.#rate = Math.max(this.#options.minRate, this.#rate / 2);
        this.#tokens = Math.min(this.#tokens, 0);
        this.#lastDecrease = now;
      }
      if (waitSeconds !== undefined) this.pause(waitSeconds * 1000);
      else if (status === 429) this.pause(1000 / this.#rate);
    } else if (status !== undefined && status < 500) {
      // Additive increase: `recoveryPerSecond` regained per second's worth of good answers.
      this.#rate = Math.min(this.#options.rate, this.#rate + this.#options.recoveryPerSecond / this.#rate);
    }
  }
}

const header = (headers: Record<string, string | string[] | undefined>, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/**
 * Seconds the registry asks us to wait: Retry-After (seconds or an HTTP date) on 429/503, or a
 * RateLimit header saying nothing remains (`RateLimit-Remaining: 0` + `RateLimit-Reset: s`, or
 * the IETF draft's `RateLimit: limit=10, remaining=0, reset=5` / `"default";r=0;t=5`).
 */
export function retryAfterSeconds(headers: Record<string, string | string[] | undefined>, status?: number): number | undefined {
  const retryAfter = header(headers, 'retry-after');
  if (retryAfter !== undefined && (status === 429 || status === 503 || status === undefined)) {
    const seconds = /^\d+(\.\d+)?$/.test(retryAfter.trim()) ? Number(retryAfter) : (Date.parse(retryAfter) - Date.now()) / 1000;
    if (Number.isFinite(seconds)) return Math.min(Math.max(seconds, 0), 600);
  }
  let remaining = header(headers, 'ratelimit-remaining')?.split(/[;,]/)[0];
  let reset = header(headers, 'ratelimit-reset')?.split(/[;,]/)[0];
  const combined = header(headers, 'ratelimit');
  if (combined) {
    remaining ??= /(?:remaining=|\br=)(\d+)/.exec(combined)?.[1];
    reset ??= /(?:reset=|\bt=)(\d+)/.exec(combined)?.[1];
  }
  if (remaining !== undefined && Number(remaining.trim()) === 0) {
    const seconds = Number(reset?.trim() ?? 1);
    return Number.isFinite(seconds) ? Math.min(Math.max(seconds, 0), 600) : 1;
  }
  return undefined;
}

/** One limiter per host, shared by everything that talks to that host. */
export class Limiters {
  readonly #byHost = new Map<string, HostLimiter>();
  readonly #defaults: Partial<RateLimitOptions>;
  readonly #perHost: Record<string, Partial<RateLimitOptions>>;

  constructor(defaults: Partial<RateLimitOptions> = {}, perHost: Record<string, Partial<RateLimitOptions>> = {}) {
    this.#defaults = defaults;
    this.#perHost = perHost;
  }

  for(host: string): HostLimiter {
    let limiter = this.#byHost.get(host);
    if (!limiter) {
      limiter = new HostLimiter(host, { ...this.#defaults, ...this.#perHost[host] });
      this.#byHost.set(host, limiter);
    }
    return limiter;
  }

  get stats(): LimiterStats[] {
    return [...this.#byHost.values()].map((l) => l.stats);
  }
}
