// The leader elector against a fake Lease API: a renew that hangs is given up at the renew
// deadline (not waited for forever), another identity on the Lease is a loss at once, and stop()
// ends the renew loop before releasing, so a renew in flight cannot take the Lease back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { V1Lease } from '@kubernetes/client-node';
import { LeaderElector, type LeaseApi } from '../../src/controller/leader.ts';
import { createLogger } from '../../src/observability/logger.ts';

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

async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms); });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('a renew that hangs is abandoned at the renew deadline: hold() reports lost in time', async () => {
  const leases = new FakeLeases();
  const e = elector(leases, { leaseDurationMs: 3000, renewDeadlineMs: 300, retryPeriodMs: 50 });
  assert.equal(await e.acquire(), true);
  leases.hangWrites = true;
  const started = Date.now();
  const result = await within(1500, e.hold(), 'hold() with hanging renews');
  assert.equal(result, 'lost');
  assert.equal(e.leading, false);
  const took = Date.now() - started;
  assert.ok(took >= 250 && took < 800, `lost after the renew deadline, not long after (${took} ms)`);
  await e.stop();
});

test('another identity on the Lease is reported lost at the next renew, not after the renew deadline', async () => {
  const leases = new FakeLeases();
  const e = elector(leases, { leaseDurationMs: 10_000, renewDeadlineMs: 8000, retryPeriodMs: 50 });
  assert.equal(await e.acquire(), true);
  const held = e.hold();
  await delay(120);
  leases.takeBy('other');
  const result = await within(1000, held, 'hold() after another replica took the Lease');
  assert.equal(result, 'lost');
  assert.equal(e.leading, false);
  assert.equal(leases.lease?.spec?.holderIdentity, 'other', 'the other holder is left alone');
  await e.stop();
});

test('stop() ends the renew loop before releasing: a renew in flight cannot take the released Lease back', async () => {
  const leases = new FakeLeases();
  const e = elector(leases, { leaseDurationMs: 10_000, renewDeadlineMs: 8000, retryPeriodMs: 30 });
  assert.equal(await e.acquire(), true);
  let open!: () => void;
  leases.readGate = new Promise((r) => { open = r; });
  const held = e.hold();
  while (leases.readsWaiting === 0) await delay(5);
  // A renew has read nothing yet; stopping now must not let it write after the release.
  await within(2000, e.stop(), 'stop()');
  assert.equal(await held, 'stopped');
  assert.equal(leases.lease?.spec?.holderIdentity, '', 'released');
  open();
  await delay(100);
  assert.equal(leases.lease?.spec?.holderIdentity, '', 'still released after the renew in flight answered');
  assert.equal(e.leading, false);
});

test('a standby does not take a Lease another identity renews, and takes it once released', async () => {
  const leases = new FakeLeases();
  const a = elector(leases, { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 30 }, 'a');
  const b = elector(leases, { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 30 }, 'b');
  assert.equal(await a.acquire(), true);
  const aHeld = a.hold();
  let bLeading = false;
  const bAcquired = b.acquire().then((ok) => { bLeading = ok; return ok; });
  await delay(200);
  assert.equal(bLeading, false, 'b waits while a renews');
  await a.stop();
  assert.equal(await aHeld, 'stopped');
  assert.equal(await within(1000, bAcquired, 'b acquiring the released Lease'), true);
  assert.equal(leases.lease?.spec?.holderIdentity, 'b');
  await b.stop();
});
