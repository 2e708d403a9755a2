// A work queue with client-go's semantics: one entry per key however often it is added, never
// two workers on one key (an add while it is processed marks it dirty and it runs again after),
// per-key exponential backoff on failure, delayed adds that keep only the earliest deadline.

import type { QueueMetrics } from '../observability/metrics.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { systemClock, type Clock } from './clock.ts';

/** The longest delay setTimeout honours (2^31-1 ms, about 24.8 days); longer ones fire after 1 ms. */
export const maxDelayMs = 2 ** 31 - 1;

const noMetrics: QueueMetrics = { depth() {}, added() {}, retried() {}, queued() {}, worked() {} };

export interface WorkQueueOptions {
  backoff?: BackoffOptions;
  metrics?: QueueMetrics;
  clock?: Clock;
}

export class WorkQueue {
  readonly #queue: string[] = [];
  /** Keys waiting to be processed: in #queue, or processing and to be re-queued after. */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #addedAt = new Map<string, number>();
  readonly #startedAt = new Map<string, number>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #backoff: BackoffOptions;
  readonly #metrics: QueueMetrics;
  readonly #clock: Clock;
  #shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.#backoff = options.backoff ?? { baseMs: 1000, maxMs: 5 * 60_000, jitter: 0.1 };
    this.#metrics = options.metrics ?? noMetrics;
    this.#clock = options.clock ?? systemClock;
  }

  get length(): number {
    return this.#queue.length;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  isProcessing(key: string): boolean {
    return this.#processing.has(key);
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#metrics.added();
    this.#dirty.add(key);
    this.#addedAt.set(key, this.#clock.now());
    // A key being processed goes back in the queue when done() is called, not before.
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  /**
   * Adds the key after `ms` (at most maxDelayMs: setTimeout fires at once beyond it); a later
   * deadline for a key already waiting is ignored.
   */
  addAfter(key: string, requestedMs: number): void {
    if (this.#shuttingDown) return;
    if (requestedMs <= 0) return this.add(key);
    if (!Number.isFinite(requestedMs)) return;
    const ms = Math.min(requestedMs, maxDelayMs);
    const at = this.#clock.now() + ms;
    const existing = this.#timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.#timers.set(key, { at, timer });
  }

  /** Adds the key after its backoff, which doubles with each failure until forget(). */
  addRateLimited(key: string): number {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    this.#metrics.retried();
    const delay = backoffDelay(failures, this.#backoff);
    this.addAfter(key, delay);
    return delay;
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Clears the key's backoff: the next failure waits the base delay again. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** The next key to process, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    const key = this.#take();
    if (key !== undefined || this.#shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks the key processed; if it was added meanwhile it is queued again. */
  done(key: string): void {
    this.#processing.delete(key);
    const started = this.#startedAt.get(key);
    this.#startedAt.delete(key);
    if (started !== undefined) this.#metrics.worked((this.#clock.now() - started) / 1000);
    if (this.#dirty.has(key)) this.#push(key);
  }

  /** Stops handing out keys; workers waiting in get() receive undefined. */
  shutDown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
  }

  #push(key: string): void {
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter(this.#start(key));
      return;
    }
    this.#queue.push(key);
    this.#metrics.depth(this.#queue.length);
  }

  #take(): string | undefined {
    if (this.#shuttingDown) return undefined;
    const key = this.#queue.shift();
    if (key === undefined) return undefined;
    this.#metrics.depth(this.#queue.length);
    return this.#start(key);
  }

  #start(key: string): string {
    this.#dirty.delete(key);
    this.#processing.add(key);
    const added = this.#addedAt.get(key);
    this.#addedAt.delete(key);
    const now = this.#clock.now();
    if (added !== undefined) this.#metrics.queued((now - added) / 1000);
    this.#startedAt.set(key, now);
    return key;
  }
}
