// The adaptive limiter's arithmetic, on its own: rate, burst, in-flight cap, AIMD, pauses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostLimiter, retryAfterSeconds } from '../../src/registry/limiter.ts';

test('burst tokens are handed out at once, then the rate paces the rest', async () => {
  const limiter = new HostLimiter('h', { rate: 20, burst: 5, maxInFlight: 100 });
  const started = performance.now();
  const permits = await Promise.all(Array.from({ length: 9 }, () => limiter.acquire()));
  const elapsed = performance.now() - started;
  // 5 from the burst, 4 more at 20/s need about 200 ms.
  assert.ok(elapsed >= 150, `9 permits at burst 5 and 20/s took ${elapsed.toFixed(0)} ms`);
  for (const p of permits) p.release({ status: 200 });
});

test('no more than maxInFlight requests are open at once', async () => {
  const limiter = new HostLimiter('h', { rate: 1000, burst: 1000, maxInFlight: 2 });
  const a = await limiter.acquire();
  const b = await limiter.acquire();
  let third = false;
  const pending = limiter.acquire().then((p) => { third = true; return p; });
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(third, false, 'a third permit must wait for a release');
  a.release({ status: 200 });
  (await pending).release();
  b.release();
  assert.equal(third, true);
});

test('a 429 halves the rate and Retry-After pauses the host; healthy answers climb back', async () => {
  const limiter = new HostLimiter('h', { rate: 40, burst: 1, maxInFlight: 10, recoveryPerSecond: 40 });
  (await limiter.acquire()).release({ status: 429, headers: { 'retry-after': '1' } });
  assert.equal(limiter.stats.rate, 20);
  const waitStart = performance.now();
  const permit = await limiter.acquire();
  assert.ok(performance.now() - waitStart >= 900, 'paused for the Retry-After second');
  permit.release({ status: 200 });
  for (let i = 0; i < 30; i++) (await limiter.acquire()).release({ status: 200 });
  assert.ok(limiter.stats.rate > 20 && limiter.stats.rate <= 40, `rate climbed back to ${limiter.stats.rate}`);
});

test('a burst of 429s from requests already in flight halves the rate once, not per answer', async () => {
  const limiter = new HostLimiter('h', { rate: 64, burst: 10, maxInFlight: 10 });
  const permits = await Promise.all(Array.from({ length: 8 }, () => limiter.acquire()));
  for (const p of permits) p.release({ status: 429 });
  assert.equal(limiter.stats.rate, 32);
  assert.equal(limiter.stats.throttled, 8);
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
