// List + watch of one resource into a local cache, as client-go's reflector does it:
// list, then watch from the list's resourceVersion; a watch that ends is resumed from the last
// resourceVersion seen; 410 Gone re-lists (emitting deletes for what vanished meanwhile);
// errors back off exponentially; a watchdog restarts a loop that made no progress for too long
// (stalled watches are a known client-node problem); a periodic resync re-delivers every object.
// Handlers must not throw and should only enqueue keys.
import type { Watch } from '@kubernetes/client-node';
import type { Logger } from '../observability/logger.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { systemClock, type Clock } from './clock.ts';
import { apiMessage, isGone, objectKey, statusCode, type KubeObject } from './kube.ts';
import { Pause } from './pause.ts';

export interface ReflectorHandlers<T extends KubeObject> {
  add(obj: T): void;
  update(old: T, obj: T): void;
  delete(obj: T): void;
  /** Periodic re-delivery of a cached object. */
  resync?(obj: T): void;
}

export interface ListResult<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

export interface ReflectorOptions<T extends KubeObject> {
  name: string;
  watch: Watch;
  /** Path of the collection, e.g. /api/v1/secrets. */
  path: string;
  list(): Promise<ListResult<T>>;
  query?: { labelSelector?: string; fieldSelector?: string };
  /** Trims an object before it is cached (e.g. drops Secret data). */
  transform?: (obj: T) => T;
  handlers: ReflectorHandlers<T>;
  logger: Logger;
  backoff?: BackoffOptions;
  /** No watch event, bookmark, connect or list for this long restarts the loop with a re-list. */
  watchdogMs?: number;
  resyncMs?: number;
  /** A list request that takes longer than this is given up. */
  listTimeoutMs?: number;
  clock?: Clock;
}

class GoneError extends Error {
  code = 410;
}

export class Reflector<T extends KubeObject> {
  readonly #options: ReflectorOptions<T>;
  readonly #clock: Clock;
  readonly #cache = new Map<string, T>();
  readonly #backoff: BackoffOptions;
  #resourceVersion: string | undefined;
  #stopped = false;
  #abort: AbortController | undefined;
  /** Aborted by stop(): ends a list in progress at once rather than at its timeout. */
  readonly #stopping = new AbortController();
  readonly #pause = new Pause();
  #lastProgress: number;
  #restarts = 0;
  #timers: NodeJS.Timeout[] = [];
  #loop: Promise<void> | undefined;
  #markSynced!: () => void;
  #synced = false;
  readonly synced: Promise<void>;

  constructor(options: ReflectorOptions<T>) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#lastProgress = this.#clock.now();
    this.#backoff = options.backoff ?? { baseMs: 800, maxMs: 30_000, jitter: 0.2 };
    this.synced = new Promise((resolve) => { this.#markSynced = resolve; });
  }

  get hasSynced(): boolean {
    return this.#synced;
  }

  /** Times the watchdog restarted a silent loop. */
  get watchdogRestarts(): number {
    return this.#restarts;
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  start(): void {
    const watchdogMs = this.#options.watchdogMs ?? 5 * 60_000;
    const watchdog = setInterval(() => {
      if (this.#clock.now() - this.#lastProgress < watchdogMs) return;
      this.#options.logger.warn({ resource: this.#options.name, silentMs: this.#clock.now() - this.#lastProgress }, 'watch made no progress; restarting it with a re-list');
      this.#restarts += 1;
      this.#resourceVersion = undefined;
      this.#lastProgress = this.#clock.now();
      this.#abort?.abort(new Error('watchdog'));
      this.#pause.wake();
    }, Math.max(50, Math.min(watchdogMs / 4, 30_000)));
    watchdog.unref();
    this.#timers.push(watchdog);
    const resyncMs = this.#options.resyncMs;
    if (resyncMs && resyncMs > 0 && this.#options.handlers.resync) {
      const resync = setInterval(() => {
        for (const obj of this.#cache.values()) this.#options.handlers.resync?.(obj);
      }, resyncMs);
      resync.unref();
      this.#timers.push(resync);
    }
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopping.abort(new Error('stopped'));
    for (const timer of this.#timers) clearInterval(timer);
    this.#abort?.abort(new Error('stopped'));
    this.#pause.wake();
    await this.#loop;
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      try {
        if (this.#resourceVersion === undefined) await this.#relist();
        await this.#watchOnce();
        failures = 0;
      } catch (error) {
        if (this.#stopped) break;
        if (isGone(error)) {
          this.#options.logger.info({ resource: this.#options.name }, 'resourceVersion too old (410 Gone); re-listing');
          this.#resourceVersion = undefined;
          continue;
        }
        failures += 1;
        const delay = backoffDelay(failures, this.#backoff);
        this.#options.logger.warn({ resource: this.#options.name, err: apiMessage(error), code: statusCode(error), retryInMs: delay }, 'list/watch failed; retrying');
        await this.#pause.for(delay);
      }
    }
  }

  async #relist(): Promise<void> {
    const timeoutMs = this.#options.listTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    let onStop: (() => void) | undefined;
    const stopping = this.#stopping.signal;
    const listing = this.#options.list();
    listing.catch(() => undefined);
    const result = await Promise.race([
      listing,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`list of ${this.#options.name} took longer than ${timeoutMs} ms`)), timeoutMs);
        onStop = () => reject(stopping.reason as Error);
        if (stopping.aborted) onStop();
        else stopping.addEventListener('abort', onStop, { once: true });
      }),
    ]).finally(() => {
      clearTimeout(timer);
      if (onStop) stopping.removeEventListener('abort', onStop);
    });
    if (this.#stopped) return;
    const fresh = new Map<string, T>();
    for (const item of result.items) {
      const obj = this.#trim(item);
      fresh.set(objectKey(obj), obj);
    }
    const { handlers } = this.#options;
    const old = new Map(this.#cache);
    this.#cache.clear();
    for (const [key, obj] of fresh) this.#cache.set(key, obj);
    for (const [key, obj] of fresh) {
      const previous = old.get(key);
      if (!previous) handlers.add(obj);
      else if (previous.metadata?.resourceVersion !== obj.metadata?.resourceVersion) handlers.update(previous, obj);
    }
    for (const [key, obj] of old) if (!fresh.has(key)) handlers.delete(obj);
    this.#resourceVersion = result.metadata?.resourceVersion ?? '';
    this.#lastProgress = this.#clock.now();
    if (!this.#synced) {
      this.#synced = true;
      this.#markSynced();
    }
  }

  #trim(obj: T): T {
    return this.#options.transform ? this.#options.transform(obj) : obj;
  }

  #watchOnce(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const query: Record<string, string | boolean> = { allowWatchBookmarks: true };
      if (this.#resourceVersion) query.resourceVersion = this.#resourceVersion;
      if (this.#options.query?.labelSelector) query.labelSelector = this.#options.query.labelSelector;
      if (this.#options.query?.fieldSelector) query.fieldSelector = this.#options.query.fieldSelector;
      let gone = false;
      const onEvent = (type: string, obj: unknown) => {
        this.#lastProgress = this.#clock.now();
        if (type === 'ERROR') {
          const status = obj as { code?: number; message?: string };
          if (status.code === 410) gone = true;
          else this.#options.logger.warn({ resource: this.#options.name, err: status.message, code: status.code }, 'watch error event');
          this.#abort?.abort(new Error('watch error event'));
          return;
        }
        const item = obj as T;
        const rv = item.metadata?.resourceVersion;
        if (type === 'BOOKMARK') {
          if (rv) this.#resourceVersion = rv;
          return;
        }
        this.#apply(type, this.#trim(item));
        if (rv) this.#resourceVersion = rv;
      };
      const onDone = (error: unknown) => {
        this.#abort = undefined;
        if (gone) return reject(new GoneError('resourceVersion too old'));
        // client-node ends an idle watch after 30 s with a TimeoutError: resume it, no backoff.
        if (!error || this.#stopped || (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError') return resolve();
        reject(error);
      };
      this.#options.watch.watch(this.#options.path, query, onEvent, onDone).then((controller) => {
        if (this.#stopped) controller.abort();
        else {
          this.#abort = controller;
          this.#lastProgress = this.#clock.now();
        }
      }, reject);
    });
  }

  #apply(type: string, obj: T): void {
    const key = objectKey(obj);
    const previous = this.#cache.get(key);
    const { handlers } = this.#options;
    if (type === 'DELETED') {
      this.#cache.delete(key);
      handlers.delete(obj);
    } else if (type === 'ADDED' || type === 'MODIFIED') {
      this.#cache.set(key, obj);
      if (previous) handlers.update(previous, obj);
      else handlers.add(obj);
    }
  }
}
