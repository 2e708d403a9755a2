// The leader elector against a fake Lease API: a renew that hangs is given up at the renew
// deadline (not waited for forever), another identity on the Lease is a loss at once, and stop()
// ends the renew loop before releasing, so a renew in flight cannot take the Lease back. Time
// is mocked (timers and the clock): deadlines are checked to the step, and nothing sleeps.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Lease } from '@kubernetes/client-node';
import { LeaderElector, type LeaseApi } from '../../src/controller/leader.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { advance, mockTime } from '../support/timers.ts';

const quiet = createLogger({ level: 'silent' as 'error', destination: { write: () => {} } });

class FakeLeases {
  lease: V1Lease | undefined;
  #rv = 0;
  /** While set, replace never answers. */
  hangWrites = false;
  /** The next read waits for this before answering (with the state current then). */
  readGate: Promise<void> | undefined;
  readsWaiting = 0;

  api(): LeaseApi {
    const copy = (l: V1Lease): V1Lease => structuredClone(l);
    const conflict = () => Object.assign(new Error('conflict'), { code: 409 });
    return {
      readNamespacedLease: (async () => {
        const gate = this.readGate;
        if (gate) {
          this.readGate = undefined;
          this.readsWaiting += 1;
          await gate;
          this.readsWaiting -= 1;
        }
        if (!this.lease) throw Object.assign(new Error('not found'), { code: 404 });
        return copy(this.lease);
      }) as LeaseApi['readNamespacedLease'],
      createNamespacedLease: (async ({ body }: { body: V1Lease }) => {
        if (this.lease) throw conflict();
        this.lease = { ...copy(body), metadata: { ...body.metadata, resourceVersion: String(++this.#rv) } };
        return copy(this.lease);
      }) as LeaseApi['createNamespacedLease'],
      replaceNamespacedLease: (async ({ body }: { body: V1Lease }) => {
        if (this.hangWrites) await new Promise(() => {});
        if (body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) throw conflict();
        this.lease = { ...copy(body), metadata: { ...body.metadata, resourceVersion: String(++this.#rv) } };
        return copy(this.lease);
      }) as LeaseApi['replaceNamespacedLease'],
    };
  }

  /** Another replica writes the Lease. */
  takeBy(identity: string): void {
    this.lease = { ...this.lease, metadata: { ...this.lease?.metadata, resourceVersion: String(++this.#rv) }, spec: { ...this.lease?.spec, holderIdentity: identity, renewTime: new Date() as never } };
  }
}

function elector(leases: FakeLeases, timing: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number }, identity = 'me') {
  return new LeaderElector({ coordination: leases.api(), namespace: 'ns', name: 'lease', identity, logger: quiet, ...timing });
}

/** Whether a promise has settled yet, without waiting for it. */
function watch<T>(promise: Promise<T>): { done: () => boolean; value: () => T | undefined } {
  let settled = false;
  let value: T | undefined;
  void promise.then((v) => { settled = true; value = v; }, () => { settled = true; });
  return { done: () => settled, value: () => value };
}

test('a renew that hangs is abandoned at the renew deadline: hold() reports lost then, not later', async (t) => {
  mockTime(t);
  const leases = new FakeLeases();
  const e = elector(leases, { leaseDurationMs: 3000, renewDeadlineMs: 300, retryPeriodMs: 50 });
  assert.equal(await e.acquire(), true);
  leases.hangWrites = true;
  const held = watch(e.hold());
  await advance(t, 290, 5);
  assert.equal(held.done(), false, 'still leading before the renew deadline');
  assert.equal(e.leading, true);
  await advance(t, 15, 5);
  assert.equal(held.value(), 'lost', 'lost at the renew deadline');
  assert.equal(e.leading, false);
  await e.stop();
});

test('another identity on the Lease is reported lost at the next renew, not after the renew deadline', async (t) => {
  mockTime(t);
  const leases = new FakeLeases();
  const e = elector(leases, { leaseDurationMs: 10_000, renewDeadlineMs: 8000, retryPeriodMs: 50 });
  assert.equal(await e.acquire(), true);
  const held = watch(e.hold());
  await advance(t, 120);
  assert.equal(held.done(), false, 'renewing');
  leases.takeBy('other');
  await advance(t, 60);
  assert.equal(held.value(), 'lost');
  assert.equal(e.leading, false);
  assert.equal(leases.lease?.spec?.holderIdentity, 'other', 'the other holder is left alone');
  await e.stop();
});

test('stop() ends the renew loop before releasing: a renew in flight cannot take the released Lease back', async (t) => {
  mockTime(t);
  const leases = new FakeLeases();
  const e = elector(leases, { leaseDurationMs: 10_000, renewDeadlineMs: 8000, retryPeriodMs: 30 });
  assert.equal(await e.acquire(), true);
  let open!: () => void;
  leases.readGate = new Promise((r) => { open = r; });
  const held = e.hold();
  await advance(t, 40);
  assert.equal(leases.readsWaiting, 1, 'a renew is reading');
  // The renew has read nothing yet; stopping now must not let it write after the release.
  await e.stop();
  assert.equal(await held, 'stopped');
  assert.equal(leases.lease?.spec?.holderIdentity, '', 'released');
  open();
  await advance(t, 100);
  assert.equal(leases.lease?.spec?.holderIdentity, '', 'still released after the renew in flight answered');
  assert.equal(e.leading, false);
});

test('a standby does not take a Lease another identity renews, and takes it once released', async (t) => {
  mockTime(t);
  const leases = new FakeLeases();
  const timing = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 30 };
  const a = elector(leases, timing, 'a');
  const b = elector(leases, timing, 'b');
  assert.equal(await a.acquire(), true);
  const aHeld = a.hold();
  const bAcquired = watch(b.acquire());
  await advance(t, 5000, 20);
  assert.equal(bAcquired.done(), false, 'b waits while a renews, however long');
  await a.stop();
  assert.equal(await aHeld, 'stopped');
  await advance(t, 100);
  assert.equal(bAcquired.value(), true, 'b takes the released Lease at its next attempt');
  assert.equal(leases.lease?.spec?.holderIdentity, 'b');
  await b.stop();
});

test('a standby takes a Lease whose holder stopped renewing once it is older than the lease duration, by its own clock', async (t) => {
  mockTime(t);
  const leases = new FakeLeases();
  const timing = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 100 };
  const a = elector(leases, timing, 'a');
  assert.equal(await a.acquire(), true);
  // a dies without releasing: nobody renews from now on.
  const b = elector(leases, timing, 'b');
  const bAcquired = watch(b.acquire());
  await advance(t, 1900, 20);
  assert.equal(bAcquired.done(), false, 'not before the lease duration has passed on b\'s clock');
  await advance(t, 400, 20);
  assert.equal(bAcquired.value(), true);
  assert.equal(leases.lease?.spec?.holderIdentity, 'b');
  assert.equal(leases.lease?.spec?.leaseTransitions, 1);
  await b.stop();
});
