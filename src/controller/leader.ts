// Leader election on a coordination.k8s.io/v1 Lease, following client-go's leaderelection:
// a candidate takes the Lease when it is free or when its holder has not renewed it for
// leaseDuration as observed on the candidate's own clock (no trust in other clocks); the leader
// renews every retryPeriod and gives up leadership when it could not renew for renewDeadline.
// Writes carry the resourceVersion read, so two candidates never both win (409 for the loser).
// On shutdown the leader releases the Lease so a standby takes over at once.
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import { V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from '../observability/logger.ts';
import { apiMessage, isConflict, isNotFound } from './kube.ts';
import { Pause } from './pause.ts';

export interface LeaderElectionOptions {
  coordination: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logger: Logger;
  onStatus?(leading: boolean): void;
}

export class LeaderElector {
  readonly #o: LeaderElectionOptions;
  #observedRecord = '';
  #observedAt = 0;
  #leading = false;
  #stopped = false;
  readonly #pause = new Pause();

  constructor(options: LeaderElectionOptions) {
    if (!(options.leaseDurationMs > options.renewDeadlineMs && options.renewDeadlineMs > options.retryPeriodMs && options.retryPeriodMs > 0)) {
      throw new RangeError('leader election needs lease-duration > renew-deadline > retry-period > 0');
    }
    this.#o = options;
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Resolves once this candidate holds the Lease, or with false when stopped first. */
  async acquire(): Promise<boolean> {
    this.#o.logger.info({ lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity }, 'waiting to acquire the leader Lease');
    while (!this.#stopped) {
      if (await this.#tryAcquireOrRenew()) {
        this.#setLeading(true);
        this.#o.logger.info({ lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity }, 'acquired the leader Lease');
        return true;
      }
      await this.#pause.for(this.#o.retryPeriodMs * (1 + 0.2 * Math.random()));
    }
    return false;
  }

  /** Renews until it cannot for renewDeadline (resolves 'lost') or until stopped ('stopped'). */
  async hold(): Promise<'lost' | 'stopped'> {
    let lastRenew = Date.now();
    while (!this.#stopped) {
      await this.#pause.for(this.#o.retryPeriodMs);
      if (this.#stopped) break;
      if (await this.#tryAcquireOrRenew()) {
        lastRenew = Date.now();
      } else if (Date.now() - lastRenew > this.#o.renewDeadlineMs) {
        this.#setLeading(false);
        this.#o.logger.error({ lease: `${this.#o.namespace}/${this.#o.name}` }, 'lost the leader Lease: could not renew it within the renew deadline');
        return 'lost';
      }
    }
    return 'stopped';
  }

  /** Stops trying; a held Lease is released so a standby need not wait for it to expire. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#pause.wake();
    if (!this.#leading) return;
    this.#setLeading(false);
    try {
      const lease = await this.#o.coordination.readNamespacedLease({ name: this.#o.name, namespace: this.#o.namespace });
      if (lease.spec?.holderIdentity !== this.#o.identity) return;
      const now = new V1MicroTime();
      lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now };
      await this.#o.coordination.replaceNamespacedLease({ name: this.#o.name, namespace: this.#o.namespace, body: lease });
      this.#o.logger.info({ lease: `${this.#o.namespace}/${this.#o.name}` }, 'released the leader Lease');
    } catch (error) {
      this.#o.logger.warn({ err: apiMessage(error) }, 'could not release the leader Lease; it expires after the lease duration');
    }
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading;
    this.#o.onStatus?.(leading);
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { coordination, namespace, name, identity } = this.#o;
    const leaseDurationSeconds = Math.max(1, Math.ceil(this.#o.leaseDurationMs / 1000));
    const now = new V1MicroTime();
    let lease: V1Lease;
    try {
      lease = await coordination.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (!isNotFound(error)) {
        this.#o.logger.warn({ err: apiMessage(error) }, 'could not read the leader Lease');
        return false;
      }
      try {
        await coordination.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
        });
        this.#observe(`${identity}|${now.toISOString()}`);
        return true;
      } catch (createError) {
        if (!isConflict(createError)) this.#o.logger.warn({ err: apiMessage(createError) }, 'could not create the leader Lease');
        return false;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = `${holder}|${String(spec.renewTime ?? '')}|${lease.metadata?.resourceVersion ?? ''}`;
    if (record !== this.#observedRecord) this.#observe(record);
    const heldByOther = holder !== '' && holder !== identity;
    const duration = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    if (heldByOther && this.#observedAt + duration > Date.now()) return false;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds,
      renewTime: now,
      acquireTime: holder === identity && spec.acquireTime ? toMicroTime(spec.acquireTime) : now,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
    };
    try {
      await coordination.replaceNamespacedLease({ name, namespace, body: lease });
      this.#observe(`${identity}|${now.toISOString()}`);
      return true;
    } catch (error) {
      if (!isConflict(error)) this.#o.logger.warn({ err: apiMessage(error) }, 'could not update the leader Lease');
      return false;
    }
  }

  #observe(record: string): void {
    this.#observedRecord = record;
    this.#observedAt = Date.now();
  }
}

/** Lease times come back as strings or Dates; the API server wants 6 fractional digits. */
function toMicroTime(value: Date | string): V1MicroTime {
  return new V1MicroTime(typeof value === 'string' ? value : value.getTime());
}
