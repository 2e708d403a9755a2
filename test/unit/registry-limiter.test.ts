// The adaptive limiter's arithmetic, on its own: rate, burst, in-flight cap, AIMD, pauses.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { HostLimiter, retryAfterSeconds } from '../../src/registry/limiter.ts';

/** Lets timers fired by a mock tick run their promise callbacks. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A limiter on mocked time: node:test's timers and a clock that reads them. */
function mockedLimiter(t: TestContext, options: ConstructorParameters<typeof HostLimiter>[1]): HostLimiter {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  return new HostLimiter('h', options, { now: () => Date.now() });
}

/** Moves mocked time in 5 ms steps until `work` settles. */
async function ticking<T>(t: TestContext, work: Promise<T>): Promise<T> {
  let done = false;
  const settled = work.finally(() => { done = true; });
  await settle();
  while (!done) {
    t.mock.timers.tick(5);
    await settle();
  }
  return settled;
}

test('burst tokens are handed out at once, then the rate paces the rest', async (t) => {
  const limiter = mockedLimiter(t, { rate: 20, burst: 5, maxInFlight: 100 });
  const grantedAt: number[] = [];
  const permits = await ticking(t, Promise.all(Array.from({ length: 9 }, () => limiter.acquire().then((p) => { grantedAt.push(Date.now()); return p; }))));
  // 5 from the burst at once, then one every 50 ms at 20/s.
  assert.deepEqual(grantedAt.filter((at) => at === 0).length, 5, grantedAt.join(' '));
  assert.ok(grantedAt.at(-1)! >= 200 && grantedAt.at(-1)! <= 210, `the ninth at ${grantedAt.at(-1)} ms`);
  for (const p of permits) p.release({ status: 200 });
});

test('no more than maxInFlight requests are open at once', async (t) => {
  const limiter = mockedLimiter(t, { rate: 1000, burst: 1000, maxInFlight: 2 });
  const a = await limiter.acquire();
  const b = await limiter.acquire();
  let third = false;
  const pending = limiter.acquire().then((p) => { third = true; return p; });
  t.mock.timers.tick(60_000);
  await settle();
  assert.equal(third, false, 'a third permit waits for a release, however long');
  a.release({ status: 200 });
  (await pending).release();
  b.release();
  assert.equal(third, true);
});

test('a 429 cuts the rate to just under what the host admitted, Retry-After pauses the host; healthy answers climb back', async (t) => {
  const limiter = mockedLimiter(t, { rate: 40, burst: 40, maxInFlight: 40, recoveryPerSecond: 40 });
  const permits = await Promise.all(Array.from({ length: 20 }, () => limiter.acquire()));
  permits.slice(1).forEach((p) => p.release({ status: 200 }));
  permits[0]!.release({ status: 429, headers: { 'retry-after': '1' } });
  assert.equal(limiter.stats.rate, 19 * 0.95, 'the host admitted 19 requests in the second before the 429: 95% of that');
  assert.equal(limiter.stats.ceiling, 19);
  let granted: number | undefined;
  const next = limiter.acquire().then((p) => { granted = Date.now(); return p; });
  t.mock.timers.tick(999);
  await settle();
  assert.equal(granted, undefined, 'paused for the Retry-After second');
  (await ticking(t, next)).release({ status: 200 });
  assert.ok(granted! >= 1000, `granted at ${granted} ms`);
  for (let i = 0; i < 30; i++) (await ticking(t, limiter.acquire())).release({ status: 200 });
  assert.ok(limiter.stats.rate > 19 * 0.95 && limiter.stats.rate <= 40, `rate climbed back to ${limiter.stats.rate}`);
});

test('a trickle of requests that meets a 429 keeps its rate: the pause deals with it', async () => {
  const limiter = new HostLimiter('h', { rate: 40, burst: 10, maxInFlight: 10 });
  (await limiter.acquire()).release({ status: 429 });
  assert.equal(limiter.stats.rate, 40);
  assert.ok(limiter.pausedFor() > 0);
});

test('a burst of 429s from requests already in flight cuts the rate once, not per answer', async () => {
  const limiter = new HostLimiter('h', { rate: 64, burst: 12, maxInFlight: 12 });
  const permits = await Promise.all(Array.from({ length: 12 }, () => limiter.acquire()));
  for (const p of permits) p.release({ status: 429 });
  assert.equal(limiter.stats.rate, (12 / 2) * 0.95, 'none admitted: half of what was sent, then 95% of that');
  assert.equal(limiter.stats.throttled, 12);
});

test('an aborted wait leaves the queue', async () => {
  const limiter = new HostLimiter('h', { rate: 1000, burst: 1000, maxInFlight: 1 });
  const held = await limiter.acquire();
  const controller = new AbortController();
  const waiting = limiter.acquire(controller.signal);
  controller.abort(new Error('stop'));
  await assert.rejects(waiting, /stop/);
  assert.equal(limiter.stats.queued, 0);
  held.release();
});

test('options are checked', () => {
  assert.throws(() => new HostLimiter('h', { maxInFlight: 0 }), /maxInFlight must be a positive number/);
});

test('Retry-After and RateLimit headers say how long to wait', () => {
  assert.equal(retryAfterSeconds({ 'retry-after': '3' }, 429), 3);
  assert.equal(retryAfterSeconds({ 'retry-after': '3' }, 200), undefined);
  const date = new Date(Date.now() + 5000).toUTCString();
  const fromDate = retryAfterSeconds({ 'retry-after': date }, 503)!;
  assert.ok(fromDate > 3 && fromDate <= 5, String(fromDate));
  assert.equal(retryAfterSeconds({ 'ratelimit-remaining': '0', 'ratelimit-reset': '7' }), 7);
  assert.equal(retryAfterSeconds({ 'ratelimit-remaining': '0;w=21600', 'ratelimit-reset': '4' }), 4);
  assert.equal(retryAfterSeconds({ 'ratelimit-remaining': '5', 'ratelimit-reset': '7' }), undefined);
  assert.equal(retryAfterSeconds({ ratelimit: 'limit=10, remaining=0, reset=2' }), 2);
  assert.equal(retryAfterSeconds({ ratelimit: '"default";r=0;t=6' }), 6);
  assert.equal(retryAfterSeconds({ 'retry-after': '99999' }, 429), 600, 'capped at ten minutes');
});

test('clients given the same Limiters share one budget per host', async () => {
  const { Limiters } = await import('../../src/registry/limiter.ts');
  const { RegistryClient } = await import('../../src/registry/client.ts');
  const shared = new Limiters({ rate: 1000, burst: 1000, maxInFlight: 1 });
  const a = new RegistryClient({ limiters: shared });
  const b = new RegistryClient({ limiters: shared });
  const held = await a.transport.limiters.for('r.example').acquire();
  assert.equal(b.transport.limiters.for('r.example').stats.inFlight, 1, 'the second client sees the first one\'s request');
  held.release();
  await Promise.all([a.close(), b.close()]);
});

test('a pause or an abandoned wait leaves no timer behind to keep a process alive', async () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const limiter = new HostLimiter('h', { rate: 1000, burst: 1000, maxInFlight: 10 });
  (await limiter.acquire()).release({ status: 200, headers: { ratelimit: 'limit=10, remaining=0, reset=600' } });
  assert.equal(timers(), before, 'a ten-minute pause with nobody waiting holds no timer');
  const controller = new AbortController();
  const waiting = limiter.acquire(controller.signal);
  assert.equal(timers(), before + 1, 'a waiter gets a wake-up');
  controller.abort(new Error('gone'));
  await assert.rejects(waiting, /gone/);
  assert.equal(timers(), before, 'and it goes when the waiter does');
});

test('converges just under a sliding-window quota and stays there (mock timers, 3 simulated minutes)', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  const { HostLimiter: Limiter } = await import('../../src/registry/limiter.ts');
  const limiter = new Limiter('quota.example', {}, { now: () => Date.now() });
  // The benchmark's quota proxy: at most `quota` requests admitted in any sliding second, 429 and
  // Retry-After (whole seconds, at least 1) past it; 20 ms of latency before the check.
  const quota = 100;
  const admitted: number[] = [];
  const served: { at: number; status: number }[] = [];
  const serve = () => {
    const now = Date.now();
    while (admitted.length > 0 && admitted[0]! <= now - 1000) admitted.shift();
    if (admitted.length >= quota) {
      served.push({ at: now, status: 429 });
      return { status: 429, headers: { 'retry-after': String(Math.max(1, Math.ceil((admitted[0]! + 1000 - now) / 1000))) } };
    }
    admitted.push(now);
    served.push({ at: now, status: 200 });
    return { status: 200 };
  };
  let running = true;
  const worker = async (i: number) => {
    while (running) {
      const permit = await limiter.acquire(undefined, `repo${i % 8}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      permit.release(serve());
    }
  };
  const workers = Array.from({ length: 32 }, (_, i) => worker(i));
  const seconds = 180;
  for (let ms = 0; ms < seconds * 1000; ms += 5) {
    t.mock.timers.tick(5);
    await settle();
  }
  running = false;
  for (let ms = 0; ms < 5000; ms += 5) { t.mock.timers.tick(5); await settle(); }
  await Promise.all(workers);

  const late = served.filter((s) => s.at >= 30_000);
  const okPerSecond = late.filter((s) => s.status === 200).length / (seconds - 30);
  const throttledShare = late.filter((s) => s.status === 429).length / late.length;
  // The old AIMD limiter (halve on 429, pause the host, +20/s) settled at 37-62% of the quota.
  assert.ok(okPerSecond >= 0.85 * quota, `served ${okPerSecond.toFixed(1)}/s of a ${quota}/s quota`);
  assert.ok(throttledShare < 0.02, `${(throttledShare * 100).toFixed(2)}% of requests drew a 429 once settled`);
  const { ceiling } = limiter.stats;
  t.diagnostic(`served ${okPerSecond.toFixed(1)}/s, ${(throttledShare * 100).toFixed(2)}% 429s, ceiling ${ceiling?.toFixed(1)}, rate ${limiter.stats.rate.toFixed(1)}`);
  assert.ok(ceiling !== undefined && ceiling > 0.8 * quota && ceiling < 1.3 * quota, `remembered ceiling ${ceiling}`);
});

test('a repository throttled on its own is paused; the rest of the host goes on', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  const limiter = new HostLimiter('h', { rate: 1000, burst: 1000, maxInFlight: 10 }, { now: () => Date.now() });
  // Other repositories are being answered...
  for (const repo of ['a', 'b']) (await limiter.acquire(undefined, repo)).release({ status: 200 });
  // ...while one answers 429 with Retry-After: 30.
  (await limiter.acquire(undefined, 'slow')).release({ status: 429, headers: { 'retry-after': '30' } });
  assert.equal(limiter.pausedFor('slow'), 30_000);
  assert.equal(limiter.pausedFor('a'), 0, 'only that repository waits');
  assert.equal(limiter.stats.rate, 1000, 'and the host keeps its rate');
  let slowGot = false;
  const slow = limiter.acquire(undefined, 'slow').then((p) => { slowGot = true; return p; });
  const other = await limiter.acquire(undefined, 'a');
  other.release({ status: 200 });
  await settle();
  assert.equal(slowGot, false);
  t.mock.timers.tick(30_000);
  await settle();
  assert.equal(slowGot, true, 'it goes again once its pause is over');
  (await slow).release({ status: 200 });

  // When several repositories are throttled at once, it is the host's quota: the host pauses.
  for (const repo of ['a', 'b']) (await limiter.acquire(undefined, repo)).release({ status: 429, headers: { 'retry-after': '5' } });
  assert.equal(limiter.pausedFor('c'), 5000, 'a repository that drew nothing waits too');
});

test('failures back off per host in rounds, longer the longer they last, and a success ends the trouble', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  const limiter = new HostLimiter('h', { rate: 1000, burst: 1000, maxInFlight: 16, backoffMinMs: 100, backoffMaxMs: 1000 }, { now: () => Date.now() });
  const round = async () => {
    const permits = await Promise.all(Array.from({ length: 8 }, () => limiter.acquire()));
    for (const p of permits) p.release({ status: 503 });
    return limiter.pausedFor();
  };
  const pauses: number[] = [];
  for (let i = 0; i < 12; i++) {
    pauses.push(await round());
    t.mock.timers.tick(pauses.at(-1)!);
    await settle();
  }
  // Eight failures a round pause once, for half the time the host has been failing (+-25%),
  // at least backoffMinMs, at most backoffMaxMs.
  assert.ok(pauses[0]! >= 75 && pauses[0]! <= 125, `first pause ${pauses[0]} ms`);
  assert.ok(pauses.every((p) => p >= 75 && p <= 1250), pauses.join(' '));
  assert.ok(pauses.at(-1)! >= 750, `after ${pauses.length} rounds the pause is ${pauses.at(-1)} ms`);
  assert.equal(limiter.failingFor(), pauses.slice(0, -1).reduce((a, b) => a + b, 0) + pauses.at(-1)!, 'the host has been failing all along');
  (await limiter.acquire()).release({ status: 200 });
  assert.equal(limiter.failingFor(), 0);
  assert.ok((await round()) <= 125, 'after a success the backoff starts small again');
});

test('waiters sharing one signal cost one abort listener, and an abort rejects them all', async () => {
  const { EventEmitter } = await import('node:events');
  const getEventListeners = (target: EventTarget, name: string) => EventEmitter.getEventListeners(target, name);
  const limiter = new HostLimiter('h', { rate: 1000, burst: 1000, maxInFlight: 1 });
  const held = await limiter.acquire();
  const controller = new AbortController();
  const waiting = Array.from({ length: 500 }, (_, i) => limiter.acquire(controller.signal, `r${i % 5}`));
  assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
  controller.abort(new Error('stop'));
  const results = await Promise.allSettled(waiting);
  assert.ok(results.every((r) => r.status === 'rejected'));
  assert.equal(limiter.stats.queued, 0);
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  held.release();
});

test('once a quota is known, no second sees more grants than it allows, however large the burst', async (t) => {
  const limiter = mockedLimiter(t, { rate: 1000, burst: 1000, maxInFlight: 100, backoffMinMs: 1, backoffMaxMs: 1 });
  const first = await Promise.all(Array.from({ length: 21 }, () => limiter.acquire()));
  first.slice(1).forEach((p) => p.release({ status: 200 }));
  first[0]!.release({ status: 429 });
  assert.equal(limiter.stats.ceiling, 20);
  const granted: number[] = [];
  await ticking(t, Promise.all(Array.from({ length: 30 }, async () => {
    const permit = await limiter.acquire();
    granted.push(Date.now());
    permit.release({ status: 200 });
  })));
  const busiest = Math.max(...granted.map((at) => granted.filter((u) => u >= at && u < at + 1000).length));
  // The 20 granted before the 429 were in the same second as the first of these.
  assert.ok(busiest <= 20, `${busiest} grants within one second, more than the quota of 20`);
  assert.equal(granted.length, 30);
});
