// Leader election on a coordination.k8s.io/v1 Lease, following client-go's leaderelection:
// a candidate takes the Lease when it is free or when its holder has not renewed it for
// leaseDuration as observed on the candidate's own clock (no trust in other clocks); the leader
// renews every retryPeriod and gives up leadership when it could not renew for renewDeadline.
// Writes carry the resourceVersion read, so two candidates never both win (409 for the loser).
// On shutdown the leader releases the Lease so a standby takes over at once.
import type { ConfigurationOptions, CoordinationV1Api, ObservableMiddleware, V1Lease } from '@kubernetes/client-node';
import { Observable, V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from '../observability/logger.ts';
import { systemClock, type Clock } from './clock.ts';
import { apiMessage, isConflict, isNotFound } from './kube.ts';
import { deadline, Pause } from './pause.ts';

/** The Lease calls the elector makes (a fake in unit tests). */
export type LeaseApi = Pick<CoordinationV1Api, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>;

export interface LeaderElectionOptions {
  coordination: LeaseApi;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logger: Logger;
  clock?: Clock;
  onStatus?(leading: boolean): void;
}

type Attempt = 'held' | 'heldByOther' | 'failed';

/**
 * Default Lease timings. Each renewal is a GET and a PUT of the Lease, every retry period, and
 * they are nearly all an idle controller says to the API server: client-go's 15 s / 10 s / 2 s
 * cost 60 requests a minute (measured by bench/controller.ts), these 8. The price is fail-over:
 * a standby takes over within leaseDuration (60 s) of a leader that died, at once after a clean
 * shutdown (the Lease is released). A promoter that is a minute late loses nothing; these are
 * cert-manager's timings. The leader gives up at renewDeadline, 20 s before anyone may take over.
 */
export const defaultLeaseTimings = { leaseDurationMs: 60_000, renewDeadlineMs: 40_000, retryPeriodMs: 15_000 } as const;

export class LeaderElector {
  readonly #o: LeaderElectionOptions;
  readonly #clock: Clock;
  #observedRecord = '';
  #observedAt = 0;
  #leading = false;
  #stopped = false;
  /** When the last successful acquire or renew attempt started (its renewTime, on our clock). */
  #renewedAt = 0;
  /** The acquire or hold loop running now; stop() waits for it before releasing the Lease. */
  #loop: Promise<unknown> = Promise.resolve();
  readonly #stopping = new AbortController();
  readonly #pause = new Pause();

  constructor(options: LeaderElectionOptions) {
    if (!(options.leaseDurationMs > options.renewDeadlineMs && options.renewDeadlineMs > options.retryPeriodMs && options.retryPeriodMs > 0)) {
      throw new RangeError('leader election needs lease-duration > renew-deadline > retry-period > 0');
    }
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** The Lease this elector competes for. */
  get lease(): { namespace: string; name: string } {
    return { namespace: this.#o.namespace, name: this.#o.name };
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Resolves once this candidate holds the Lease, or with false when stopped first. */
  acquire(): Promise<boolean> {
    const loop = this.#acquire();
    this.#loop = loop;
    return loop;
  }

  async #acquire(): Promise<boolean> {
    this.#o.logger.info({ lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity }, 'waiting to acquire the leader Lease');
    for (let attempts = 1; !this.#stopped; attempts++) {
      const started = this.#clock.now();
      // An attempt that hangs must not leave us waiting forever; one that succeeds late is
      // dropped by hold() at once, since its renew deadline has already passed.
      if ((await this.#tryAcquireOrRenew(this.#o.renewDeadlineMs)) === 'held') {
        this.#renewedAt = started;
        this.#setLeading(true);
        this.#o.logger.info({ lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity, attempts }, 'acquired the leader Lease');
        return true;
      }
      if (this.#stopped) break;
      await this.#pause.for(this.#o.retryPeriodMs * (1 + 0.2 * Math.random()));
    }
    return false;
  }

  /**
   * Renews every retryPeriod; resolves 'lost' when another identity holds the Lease or when no
   * renew succeeded within renewDeadline of the last one (each attempt is aborted at that
   * deadline), 'stopped' when stopped. Call right after acquire(), before anything slow.
   */
  hold(): Promise<'lost' | 'stopped'> {
    const loop = this.#hold();
    this.#loop = loop;
    return loop;
  }

  async #hold(): Promise<'lost' | 'stopped'> {
    const lease = `${this.#o.namespace}/${this.#o.name}`;
    while (!this.#stopped) {
      const deadline = this.#renewedAt + this.#o.renewDeadlineMs;
      await this.#pause.for(Math.max(0, Math.min(this.#o.retryPeriodMs, deadline - this.#clock.now())));
      if (this.#stopped) break;
      const started = this.#clock.now();
      const left = deadline - started;
      if (left <= 0) return this.#lose('could not renew it within the renew deadline');
      const attempt = await this.#tryAcquireOrRenew(left);
      if (this.#stopped) break;
      if (attempt === 'held') this.#renewedAt = started;
      else if (attempt === 'heldByOther') return this.#lose('another identity holds it');
      else if (this.#clock.now() >= this.#renewedAt + this.#o.renewDeadlineMs) return this.#lose('could not renew it within the renew deadline');
      else this.#o.logger.debug({ lease, leftMs: this.#renewedAt + this.#o.renewDeadlineMs - this.#clock.now() }, 'renewing the leader Lease failed; retrying');
    }
    return 'stopped';
  }

  #lose(why: string): 'lost' {
    this.#setLeading(false);
    this.#o.logger.error({ lease: `${this.#o.namespace}/${this.#o.name}` }, `lost the leader Lease: ${why}`);
    return 'lost';
  }

  /**
   * Stops trying: ends the acquire/hold loop (aborting an attempt in flight) and only then
   * releases a held Lease, so no renew can take it back after the release.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopping.abort(new Error('leader election stopped'));
    this.#pause.wake();
    await this.#loop.catch(() => undefined);
    if (!this.#leading) return;
    this.#setLeading(false);
    await this.#release();
  }

  /** Empties the holder so a standby takes over at once rather than after the lease duration. */
  async #release(): Promise<void> {
    const { signal, clear } = deadline(this.#o.renewDeadlineMs);
    try {
      const lease = await bounded(this.#o.coordination.readNamespacedLease({ name: this.#o.name, namespace: this.#o.namespace }, withSignal(signal)), signal);
      if (lease.spec?.holderIdentity !== this.#o.identity) return;
      const now = new V1MicroTime(this.#clock.now());
      lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now };
      await bounded(this.#o.coordination.replaceNamespacedLease({ name: this.#o.name, namespace: this.#o.namespace, body: lease }, withSignal(signal)), signal);
      this.#o.logger.info({ lease: `${this.#o.namespace}/${this.#o.name}` }, 'released the leader Lease');
    } catch (error) {
      this.#o.logger.warn({ err: apiMessage(error) }, 'could not release the leader Lease; it expires after the lease duration');
    } finally {
      clear();
    }
  }

  #setLeading(leading: boolean): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    this.#o.onStatus?.(leading);
  }

  /** One read-then-write of the Lease, aborted after timeoutMs or on stop(). */
  async #tryAcquireOrRenew(timeoutMs: number): Promise<Attempt> {
    const timeout = deadline(Math.max(1, timeoutMs));
    try {
      return await this.#attempt(AbortSignal.any([this.#stopping.signal, timeout.signal]));
    } finally {
      timeout.clear();
    }
  }

  async #attempt(signal: AbortSignal): Promise<Attempt> {
    const { coordination, namespace, name } = this.#o;
    let lease: V1Lease;
    try {
      lease = await bounded(coordination.readNamespacedLease({ name, namespace }, withSignal(signal)), signal);
    } catch (error) {
      if (isNotFound(error)) return this.#create(signal);
      this.#o.logger.warn({ err: apiMessage(error) }, 'could not read the leader Lease');
      return 'failed';
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = `${holder}|${String(spec.renewTime ?? '')}|${lease.metadata?.resourceVersion ?? ''}`;
    if (record !== this.#observedRecord) this.#observe(record);
    const heldByOther = holder !== '' && holder !== this.#o.identity;
    // While leading, someone else's name on the Lease means we lost it, whatever its age.
    if (heldByOther && this.#leading) return 'heldByOther';
    const duration = (spec.leaseDurationSeconds ?? this.#leaseSeconds) * 1000;
    if (heldByOther && this.#observedAt + duration > this.#clock.now()) return 'heldByOther';
    if (this.#stopped) return 'failed';
    return this.#take(lease, signal);
  }

  get #leaseSeconds(): number {
    return Math.max(1, Math.ceil(this.#o.leaseDurationMs / 1000));
  }

  async #create(signal: AbortSignal): Promise<Attempt> {
    if (this.#stopped) return 'failed';
    const { coordination, namespace, name, identity } = this.#o;
    const now = new V1MicroTime(this.#clock.now());
    try {
      await bounded(coordination.createNamespacedLease({
        namespace,
        body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: this.#leaseSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
      }, withSignal(signal)), signal);
      this.#observe(`${identity}|${now.toISOString()}`);
      return 'held';
    } catch (error) {
      if (!isConflict(error)) this.#o.logger.warn({ err: apiMessage(error) }, 'could not create the leader Lease');
      return 'failed';
    }
  }

  /** Writes us as the holder (a renew, or a takeover of an expired Lease); 409 if it changed since the read. */
  async #take(lease: V1Lease, signal: AbortSignal): Promise<Attempt> {
    const { coordination, namespace, name, identity } = this.#o;
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const now = new V1MicroTime(this.#clock.now());
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: this.#leaseSeconds,
      renewTime: now,
      acquireTime: holder === identity && spec.acquireTime ? toMicroTime(spec.acquireTime) : now,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
    };
    try {
      await bounded(coordination.replaceNamespacedLease({ name, namespace, body: lease }, withSignal(signal)), signal);
      this.#observe(`${identity}|${now.toISOString()}`);
      return 'held';
    } catch (error) {
      if (!isConflict(error)) this.#o.logger.warn({ err: apiMessage(error) }, 'could not update the leader Lease');
      return 'failed';
    }
  }

  #observe(record: string): void {
    this.#observedRecord = record;
    this.#observedAt = this.#clock.now();
  }
}

/** Request options that make client-node's fetch abort with `signal`. */
function withSignal(signal: AbortSignal): ConfigurationOptions<ObservableMiddleware> {
  return {
    middleware: [{
      pre: (context) => {
        context.setSignal(signal);
        return new Observable(Promise.resolve(context));
      },
      post: (response) => new Observable(Promise.resolve(response)),
    }],
    middlewareMergeStrategy: 'append',
  };
}

/** Settles with `promise`, or rejects when `signal` aborts first (whatever the client does). */
function bounded<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value); },
      (error: unknown) => { signal.removeEventListener('abort', onAbort); reject(error as Error); },
    );
  });
}

/** Lease times come back as strings or Dates; the API server wants 6 fractional digits. */
function toMicroTime(value: Date | string): V1MicroTime {
  return new V1MicroTime(typeof value === 'string' ? value : value.getTime());
}
