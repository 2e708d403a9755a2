// Adaptive per-host rate limiting: one token bucket per registry host, shared by all work that
// talks to it, plus pauses that a registry asks for (Retry-After) or that failures call for
// (backoff). Two things are learnt from the answers:
// - the host's quota: a 429 that concerns the whole host sets the rate just under the rate that
//   drew it and remembers that ceiling; healthy traffic climbs back quickly below it and probes
//   above it only slowly, so the limiter settles near the quota instead of sawing between
//   twice and half of it;
// - what a pause applies to: a repository that draws 429s or 5xx is paused on its own; the host
//   as a whole only when several of its repositories are in trouble at once.

export interface RateLimitOptions {
  /** Requests per second to start with and the most the limiter ever allows. */
  rate: number;
  /** Tokens that may be spent at once after an idle spell. */
  burst: number;
  /** Requests open at once against this host. */
  maxInFlight: number;
  /** The rate never drops below this. */
  minRate: number;
  /** Requests per second regained per second of healthy traffic, below the remembered ceiling. */
  recoveryPerSecond: number;
  /** First pause after a failure without Retry-After; doubles per failed round up to backoffMaxMs. */
  backoffMinMs: number;
  backoffMaxMs: number;
}

// Polite to shared registries yet never the bottleneck of a copy on its own (bench/copy.ts:
// 100/s with a burst of 32 made Hoist the slowest of crane, skopeo and Hoist); the adaptive
// part takes over when a registry says it is overloaded.
export const defaultRateLimit: RateLimitOptions = {
  rate: 200, burst: 100, maxInFlight: 16, minRate: 0.5, recoveryPerSecond: 20, backoffMinMs: 200, backoffMaxMs: 10_000,
};

/** Share of the ceiling the rate is set to after a 429, and the most any second may see granted, at first. */
const settleShare = 0.95;
/** The least share: a margin that jitter alone never eats up. */
const minShare = 0.85;
/** Relative climb per second of healthy traffic near or above the ceiling (0.2%/s: ~50 s from 90% to the quota). */
const probeShare = 0.002;
/** Fewer requests than this in the second before a 429 are no measure of a quota. */
const minSample = 10;
/** How long a failure or success elsewhere on the host counts as evidence of whose trouble it is. */
const attributionWindowMs = 5000;

export type FailureReason = 'RateLimited' | 'ServerError' | 'ConnectionFailed';

/** How a request ended, fed back to the limiter. */
export interface Outcome {
  status?: number;
  headers?: Record<string, string | string[] | undefined>;
  /** No answer: the connection failed or timed out. */
  failure?: 'network';
}

/** A pause the limiter started: the host, or one repository of it, waits until `until`. */
export interface PauseEvent {
  host: string;
  /** Set when only this repository is paused. */
  repository?: string;
  ms: number;
  reason: FailureReason;
  /** From a Retry-After (or RateLimit) header, rather than our own backoff. */
  askedByRegistry: boolean;
}

export interface Permit {
  /** Ends the request's claim on an in-flight slot and feeds its outcome back to the limiter. */
  release(outcome?: Outcome): void;
}

export interface LimiterStats {
  host: string;
  rate: number;
  /** The rate that last drew a 429 for the whole host, if any. */
  ceiling: number | undefined;
  inFlight: number;
  queued: number;
  waitedMs: number;
  throttled: number;
  pausedUntil: number;
  /** Repositories paused on their own right now. */
  pausedRepositories: number;
}

interface Waiter {
  resolve: (permit: Permit) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  repository: string | undefined;
  since: number;
  seq: number;
  done: boolean;
}

interface Trouble {
  pausedUntil: number;
  /** When the last round of failures began; the requests sent before it are that round. */
  escalatedAt: number;
  /** Since when every answer has been a failure; undefined after a success. */
  failingSince: number | undefined;
  /** A request gave up on its retry budget during this run of failures; cleared by a success. */
  givenUp?: boolean;
}

interface RepositoryState extends Trouble { parked: Waiter[] }

/** The last two distinct repositories an event happened to, so "another repository, recently" is O(1). */
class LastTwo {
  #a: { repository: string | undefined; at: number } | undefined;
  #b: { repository: string | undefined; at: number } | undefined;
  note(repository: string | undefined, at: number): void {
    if (this.#a && this.#a.repository === repository) this.#a.at = at;
    else {
      this.#b = this.#a;
      this.#a = { repository, at };
    }
  }
  /** Whether a repository other than `repository` had the event since `since`. */
  other(repository: string | undefined, since: number): boolean {
    const last = this.#a?.repository !== repository ? this.#a : this.#b;
    return last !== undefined && last.at >= since;
  }
}

export interface LimiterClock { now(): number }
const realClock: LimiterClock = { now: () => performance.now() };

export class HostLimiter {
  readonly host: string;
  readonly #options: RateLimitOptions;
  readonly #clock: LimiterClock;
  #rate: number;
  #burst: number;
  #tokens: number;
  #refilledAt: number;
  #ceiling: number | undefined;
  #ceilingAt = 0;
  /** Share of the ceiling granted per second; narrowed by 429s that come with the flow at the ceiling already. */
  #share = settleShare;
  #inFlight = 0;
  #lastDecrease = -Infinity;
  #waitedMs = 0;
  #throttled = 0;
  #lastHostPauseMs = 0;
  readonly #hostTrouble: Trouble = { pausedUntil: 0, escalatedAt: -Infinity, failingSince: undefined };
  readonly #repositories = new Map<string, RepositoryState>();
  readonly #parkedIn = new Set<RepositoryState>();
  readonly #ok = new LastTwo();
  readonly #failed = new LastTwo();
  /**
   * Grant times of the requests the host admitted (answered other than 429), oldest first: what
   * fitted the quota in the second before a 429 is the best measure of it. Requests the 429s
   * turned away do not count, or the ceiling lands above the quota and draws another round.
   */
  #admitted: number[] = [];
  /** Grant times of every request of the last second or so, admitted or not. */
  readonly #grants: number[] = [];
  #queue: Waiter[] = [];
  #head = 0;
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  /** One abort listener per distinct signal, however many waiters share it. */
  readonly #signals = new Map<AbortSignal, { waiters: number; onAbort: () => void }>();
  readonly #listeners = new Set<(event: PauseEvent) => void>();

  constructor(host: string, options: Partial<RateLimitOptions> = {}, clock: LimiterClock = realClock) {
    this.host = host;
    this.#options = { ...defaultRateLimit, ...options };
    for (const [key, value] of Object.entries(this.#options)) {
      if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`rate limit ${key} must be a positive number, got ${value}`);
    }
    this.#clock = clock;
    this.#rate = this.#options.rate;
    this.#burst = this.#options.burst;
    this.#tokens = this.#burst;
    this.#refilledAt = clock.now();
  }

  get stats(): LimiterStats {
    return {
      host: this.host, rate: this.#rate, ceiling: this.#ceiling, inFlight: this.#inFlight, queued: this.#queued(),
      waitedMs: this.#waitedMs, throttled: this.#throttled, pausedUntil: this.#hostTrouble.pausedUntil,
      pausedRepositories: [...this.#repositories.values()].filter((r) => r.pausedUntil > this.#clock.now()).length,
    };
  }

  /** Listens to the pauses this limiter starts; returns the function that stops listening. */
  onPause(listener: (event: PauseEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Waits for a token and an in-flight slot, in arrival order; a paused repository's requests step aside. */
  acquire(signal?: AbortSignal, repository?: string): Promise<Permit> {
    signal?.throwIfAborted();
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal, repository, since: this.#clock.now(), seq: this.#seq++, done: false };
      if (signal) this.#watch(signal);
      this.#queue.push(waiter);
      this.#pump();
    });
  }

  /**
   * Requests waiting for a token or a slot, about (some may have given up): a caller that has
   * more work can hold it back while a few already wait, instead of queueing all of it here.
   */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /** Milliseconds until a request for `repository` may go: the longer of the host's and the repository's pause. */
  pausedFor(repository?: string): number {
    const now = this.#clock.now();
    const repo = repository === undefined ? undefined : this.#repositories.get(repository);
    return Math.max(0, this.#hostTrouble.pausedUntil - now, (repo?.pausedUntil ?? 0) - now);
  }

  /** Milliseconds the host, or the repository, has answered nothing but failures; 0 when it is healthy. */
  failingFor(repository?: string): number {
    const now = this.#clock.now();
    const repo = repository === undefined ? undefined : this.#repositories.get(repository);
    const since = Math.min(this.#hostTrouble.failingSince ?? Infinity, repo?.failingSince ?? Infinity);
    return Number.isFinite(since) ? now - since : 0;
  }

  /** Whether a request already gave up on this host (or repository) since its last success. */
  givenUp(repository?: string): boolean {
    const repo = repository === undefined ? undefined : this.#repositories.get(repository);
    return this.#hostTrouble.givenUp === true || repo?.givenUp === true;
  }

  /**
   * A request gave up on its retry budget: later ones make one attempt until the host answers
   * again, so a host that only fails costs each of them one request, not another budget.
   */
  giveUp(repository?: string): void {
    if (this.#hostTrouble.failingSince !== undefined) this.#hostTrouble.givenUp = true;
    const repo = repository === undefined ? undefined : this.#repositories.get(repository);
    if (repo?.failingSince !== undefined) repo.givenUp = true;
  }

  /** Stops handing out permits for the whole host for a while, as a registry's Retry-After asks. */
  pause(ms: number): void {
    this.#hostTrouble.pausedUntil = Math.max(this.#hostTrouble.pausedUntil, this.#clock.now() + ms);
    // #pump schedules a wake-up only if requests are waiting; an idle pause holds no timer.
    this.#pump();
  }

  #queued(): number {
    let parked = 0;
    for (const r of this.#parkedIn) parked += r.parked.filter((w) => !w.done).length;
    return this.#queue.length - this.#head + parked;
  }

  #watch(signal: AbortSignal): void {
    const entry = this.#signals.get(signal);
    if (entry) {
      entry.waiters += 1;
      return;
    }
    const onAbort = () => {
      this.#signals.delete(signal);
      const drop = (w: Waiter) => {
        if (w.signal !== signal || w.done) return;
        w.done = true;
        w.reject(signal.reason);
      };
      for (let i = this.#head; i < this.#queue.length; i++) drop(this.#queue[i]!);
      for (const r of this.#parkedIn) {
        r.parked.forEach(drop);
        r.parked = r.parked.filter((w) => !w.done);
        if (r.parked.length === 0) this.#parkedIn.delete(r);
      }
      this.#pump();
    };
    this.#signals.set(signal, { waiters: 1, onAbort });
    signal.addEventListener('abort', onAbort, { once: true });
  }

  #unwatch(signal: AbortSignal | undefined): void {
    if (!signal) return;
    const entry = this.#signals.get(signal);
    if (!entry) return;
    entry.waiters -= 1;
    if (entry.waiters > 0) return;
    signal.removeEventListener('abort', entry.onAbort);
    this.#signals.delete(signal);
  }

  #refill(now: number): void {
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#rate);
    this.#refilledAt = now;
  }

  #repository(name: string): RepositoryState {
    let state = this.#repositories.get(name);
    if (!state) {
      state = { pausedUntil: 0, escalatedAt: -Infinity, failingSince: undefined, parked: [] };
      this.#repositories.set(name, state);
    }
    return state;
  }

  /** Parked requests of repositories whose pause is over go back to the front, in arrival order. */
  #unpark(now: number): number {
    let next = Infinity;
    const back: Waiter[] = [];
    for (const r of this.#parkedIn) {
      if (r.pausedUntil <= now) {
        for (const w of r.parked) if (!w.done) back.push(w);
        r.parked = [];
        this.#parkedIn.delete(r);
      } else next = Math.min(next, r.pausedUntil);
    }
    if (back.length > 0) {
      back.sort((a, b) => a.seq - b.seq);
      this.#queue = [...back, ...this.#queue.slice(this.#head)];
      this.#head = 0;
    }
    return next;
  }

  #pump(): void {
    const now = this.#clock.now();
    this.#refill(now);
    let wake = this.#unpark(now);
    while (this.#head < this.#queue.length) {
      const waiter = this.#queue[this.#head]!;
      if (waiter.done) {
        this.#head += 1;
        continue;
      }
      if (now < this.#hostTrouble.pausedUntil) {
        wake = Math.min(wake, this.#hostTrouble.pausedUntil);
        break;
      }
      const repo = waiter.repository === undefined ? undefined : this.#repositories.get(waiter.repository);
      if (repo && repo.pausedUntil > now) {
        // Steps aside until its repository may go again; the rest of the host carries on.
        repo.parked.push(waiter);
        this.#parkedIn.add(repo);
        wake = Math.min(wake, repo.pausedUntil);
        this.#head += 1;
        continue;
      }
      if (this.#inFlight >= this.#options.maxInFlight) break; // a release pumps again
      if (this.#tokens < 1) {
        wake = Math.min(wake, now + ((1 - this.#tokens) / this.#rate) * 1000);
        break;
      }
      const windowFreesAt = this.#windowFull(now);
      if (windowFreesAt !== undefined) {
        wake = Math.min(wake, windowFreesAt);
        break;
      }
      this.#head += 1;
      waiter.done = true;
      this.#unwatch(waiter.signal);
      this.#tokens -= 1;
      this.#inFlight += 1;
      this.#waitedMs += now - waiter.since;
      this.#grants.push(now);
      if (this.#grants.length > 4096) this.#grants.splice(0, 2048);
      waiter.resolve(this.#permit(waiter.repository, now));
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    const waiting = this.#head < this.#queue.length || this.#parkedIn.size > 0;
    // Nobody waits: no timer may keep the process alive.
    if (!waiting || !Number.isFinite(wake)) this.#clearTimer();
    else this.#schedule(wake);
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #schedule(at: number): void {
    if (this.#timer && this.#timerAt <= at) return;
    this.#clearTimer();
    this.#timerAt = at;
    // Not unref'd: a timer exists only while requests wait, and a process whose every request
    // is waiting for a token must stay alive until it gets one.
    this.#timer = setTimeout(() => { this.#timer = undefined; this.#timerAt = Infinity; this.#pump(); }, Math.max(1, Math.ceil(at - this.#clock.now())));
  }

  #permit(repository: string | undefined, grantedAt: number): Permit {
    let released = false;
    return {
      release: (outcome) => {
        if (released) return;
        released = true;
        this.#inFlight -= 1;
        if (outcome) this.#adapt(outcome, repository, grantedAt);
        this.#pump();
      },
    };
  }

  /**
   * Once a quota is known: when the last second already saw as many grants as settleShare of it
   * allows, the time the oldest of them leaves the second. A quota counted over a sliding second
   * is then never exceeded, bursts or not; a token bucket alone cannot promise that.
   */
  #windowFull(now: number): number | undefined {
    if (this.#ceiling === undefined) return undefined;
    const limit = Math.max(1, Math.floor(Math.max(this.#ceiling * this.#share, this.#rate)));
    const oldest = this.#grants[this.#grants.length - limit];
    return oldest !== undefined && oldest > now - 1000 ? oldest + 1000 : undefined;
  }

  /** Requests granted within the last second (of `times`, oldest first). */
  static #lastSecond(times: readonly number[], now: number): number {
    let n = 0;
    for (let i = times.length - 1; i >= 0 && times[i]! > now - 1000; i--) n += 1;
    return n;
  }

  #noteAdmitted(grantedAt: number): void {
    // Answers come back out of order; keep the list sorted by grant time from the end.
    const list = this.#admitted;
    let i = list.length;
    while (i > 0 && list[i - 1]! > grantedAt) i -= 1;
    list.splice(i, 0, grantedAt);
    if (list.length > 4096) this.#admitted = list.slice(2048);
  }

  #adapt(outcome: Outcome, repository: string | undefined, grantedAt: number): void {
    const now = this.#clock.now();
    const { status } = outcome;
    const waitSeconds = retryAfterSeconds(outcome.headers ?? {}, status);
    const reason: FailureReason | undefined = outcome.failure === 'network' ? 'ConnectionFailed'
      : status === 429 ? 'RateLimited' : status !== undefined && status >= 500 ? 'ServerError' : undefined;
    if (status !== 429 && outcome.failure === undefined) this.#noteAdmitted(grantedAt);
    if (reason === undefined) {
      this.#healthy(repository, now);
      // A healthy answer that says the quota is spent (RateLimit-Remaining: 0) pauses the host.
      if (waitSeconds !== undefined && waitSeconds > 0) this.#startPause(this.#hostTrouble, undefined, waitSeconds * 1000, 'RateLimited', true);
      return;
    }
    if (reason === 'RateLimited') this.#throttled += 1;
    // Whose trouble is it? A repository's own, unless another repository of the host failed
    // lately too (a quota, an outage): then the host's. What has no repository (the API
    // check) is the host's.
    // The window stretches over the host's last pause: requests held back by it cannot fail.
    const since = now - attributionWindowMs - this.#lastHostPauseMs;
    const hostWide = repository === undefined || this.#failed.other(repository, since);
    this.#failed.note(repository, now);
    const trouble: Trouble = hostWide ? this.#hostTrouble : this.#repository(repository!);
    trouble.failingSince ??= now;
    // A round: the requests sent before the last escalation all see the same trouble; they
    // pause once between them, not once each.
    const newRound = grantedAt > trouble.escalatedAt;
    if (newRound) trouble.escalatedAt = now;
    // The rate is cut for a host-wide 429, or for one repository's when it is all that is
    // being served (one busy repository against a host quota looks just like that).
    if (reason === 'RateLimited' && grantedAt > this.#lastDecrease && (hostWide || !this.#ok.other(repository, since))) this.#decrease(now);
    const asked = waitSeconds !== undefined && waitSeconds > 0;
    // Without Retry-After, the longer the trouble has lasted the longer the pause: half of it,
    // between backoffMinMs and backoffMaxMs. A short storm costs little; an outage is not hammered.
    const backoff = Math.min(this.#options.backoffMaxMs, Math.max(this.#options.backoffMinMs, (now - trouble.failingSince) / 2));
    const ms = asked ? waitSeconds * 1000 : backoff * (0.75 + Math.random() * 0.5);
    if (newRound || asked) this.#startPause(trouble, hostWide ? undefined : repository, ms, reason, asked);
  }

  #healthy(repository: string | undefined, now: number): void {
    this.#ok.note(repository, now);
    this.#hostTrouble.failingSince = undefined;
    this.#hostTrouble.givenUp = false;
    if (repository !== undefined) {
      const repo = this.#repositories.get(repository);
      if (repo) {
        repo.failingSince = undefined;
        repo.givenUp = false;
        if (repo.pausedUntil <= now && repo.parked.length === 0) this.#repositories.delete(repository);
      }
    }
    this.#climb(now);
  }

  /** After a 429 for the host: just under the rate that drew it, with a burst that keeps a window under it too. */
  #decrease(now: number): void {
    // What the host admitted in the last second is what fits its quota. When it admitted
    // (almost) nothing of a real flow, another client spent the quota or it shrank: half of what
    // was sent. A trickle that meets a 429 says nothing about the quota (it is per minute, or
    // spent elsewhere): the pauses deal with that.
    const admitted = HostLimiter.#lastSecond(this.#admitted, now);
    const sent = HostLimiter.#lastSecond(this.#grants, now);
    if (sent < minSample) return;
    const drew = Math.min(this.#rate, admitted >= minSample ? admitted : sent / 2);
    if (this.#ceiling !== undefined && drew >= this.#ceiling * minShare) {
      // At the ceiling already: the registry counted a few more in its second than we did in
      // ours (latency varies). The quota has not moved; the margin was too thin.
      this.#share = Math.max(minShare, this.#share - 0.03);
    } else {
      // A first measure, or the quota dropped: a ceiling is only ever lowered by a new 429.
      this.#ceiling = drew;
    }
    this.#ceilingAt = now;
    const ceiling = this.#ceiling;
    this.#rate = Math.max(this.#options.minRate, ceiling * this.#share);
    // A burst to catch up on a timer that fired late (a busy machine); the window below keeps
    // any second's grants within the quota all the same.
    this.#burst = Math.max(2, Math.min(this.#options.burst, drew * 0.1));
    this.#tokens = Math.min(this.#tokens, 0);
    this.#lastDecrease = now;
  }

  /** Each healthy answer buys a little rate: quickly back towards the ceiling, slowly beyond it. */
  #climb(now: number): void {
    const max = this.#options.rate;
    if (this.#rate >= max) return;
    const ceiling = this.#ceiling;
    // Per answer, so per second's worth of answers: probeShare of the rate, or recoveryPerSecond.
    const perAnswer = ceiling !== undefined && this.#rate >= ceiling * this.#share ? probeShare : this.#options.recoveryPerSecond / this.#rate;
    this.#rate = Math.min(max, this.#rate + perAnswer);
    if (ceiling !== undefined && this.#rate > ceiling && now - this.#ceilingAt > 60_000) {
      // Long past the last 429 and above where it was: the quota has grown, forget it.
      this.#ceiling = undefined;
      this.#burst = this.#options.burst;
    }
  }

  #startPause(trouble: Trouble, repository: string | undefined, ms: number, reason: FailureReason, askedByRegistry: boolean): void {
    const until = this.#clock.now() + ms;
    if (until <= trouble.pausedUntil) return;
    trouble.pausedUntil = until;
    if (trouble === this.#hostTrouble) this.#lastHostPauseMs = ms;
    const event: PauseEvent = { host: this.host, ...(repository !== undefined && { repository }), ms, reason, askedByRegistry };
    for (const listener of this.#listeners) listener(event);
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
  readonly #clock: LimiterClock;

  constructor(defaults: Partial<RateLimitOptions> = {}, perHost: Record<string, Partial<RateLimitOptions>> = {}, clock: LimiterClock = realClock) {
    this.#defaults = defaults;
    this.#perHost = perHost;
    this.#clock = clock;
  }

  for(host: string): HostLimiter {
    let limiter = this.#byHost.get(host);
    if (!limiter) {
      limiter = new HostLimiter(host, { ...this.#defaults, ...this.#perHost[host] }, this.#clock);
      this.#byHost.set(host, limiter);
    }
    return limiter;
  }

  get stats(): LimiterStats[] {
    return [...this.#byHost.values()].map((l) => l.stats);
  }
}
