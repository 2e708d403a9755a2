// The work queue's guarantees: deduplication, one worker per key (adds while processing run
// again after), per-key exponential backoff reset by forget(), earliest delayed add wins,
// and shutdown releasing waiting workers. Time is mocked: no test waits for a real timer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../../src/controller/backoff.ts';
import { maxDelayMs, WorkQueue } from '../../src/controller/queue.ts';
import { advance, mockTime, settle } from '../support/timers.ts';

test('a key added many times is handed out once', async () => {
  const q = new WorkQueue();
  q.add('ns/a');
  q.add('ns/b');
  q.add('ns/a');
  assert.equal(q.length, 2);
  assert.equal(await q.get(), 'ns/a');
  assert.equal(await q.get(), 'ns/b');
  assert.equal(q.length, 0);
});

test('a key added while it is processed is not handed to a second worker, and runs again after done()', async () => {
  const q = new WorkQueue();
  q.add('ns/a');
  const key = await q.get();
  assert.equal(key, 'ns/a');
  q.add('ns/a');
  q.add('ns/a');
  assert.equal(q.length, 0, 'not queued while processing');
  let second: string | undefined;
  void q.get().then((k) => { second = k; });
  await settle();
  assert.equal(second, undefined, 'no second worker gets the key meanwhile');
  q.done('ns/a');
  await settle();
  assert.equal(second, 'ns/a', 'dirty key re-queued once after done');
  q.done('ns/a');
  assert.equal(q.length, 0, 'and only once');
});

test('waiting workers get keys as they are added, in order', async () => {
  const q = new WorkQueue();
  const got = Promise.all([q.get(), q.get()]);
  q.add('x/1');
  q.add('x/2');
  assert.deepEqual(await got, ['x/1', 'x/2']);
});

test('failures back off exponentially per key; forget resets', () => {
  const q = new WorkQueue({ backoff: { baseMs: 100, maxMs: 1000 } });
  assert.deepEqual([q.addRateLimited('a'), q.addRateLimited('a'), q.addRateLimited('a'), q.addRateLimited('a'), q.addRateLimited('a')], [100, 200, 400, 800, 1000]);
  assert.equal(q.addRateLimited('b'), 100, 'another key has its own backoff');
  q.forget('a');
  assert.equal(q.addRateLimited('a'), 100);
  q.shutDown();
});

test('jitter only shortens the delay, never beyond the fraction', () => {
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(3, { baseMs: 100, maxMs: 10_000, jitter: 0.2 });
    assert.ok(d <= 400 && d >= 320, String(d));
  }
});

test('addAfter keeps the earliest deadline and adds the key then', async (t) => {
  mockTime(t);
  const q = new WorkQueue();
  q.addAfter('a', 10_000);
  q.addAfter('a', 20);
  q.addAfter('a', 5_000);
  await advance(t, 19, 1);
  assert.equal(q.length, 0, 'not before its time');
  await advance(t, 1, 1);
  assert.equal(q.length, 1);
  assert.equal(await q.get(), 'a');
  q.done('a');
  await advance(t, 20_000, 1000);
  assert.equal(q.length, 0, 'the later timers were dropped');
  q.shutDown();
});

test('shutDown releases waiting workers and refuses new keys', async () => {
  const q = new WorkQueue();
  const waiting = q.get();
  q.shutDown();
  assert.equal(await waiting, undefined);
  q.add('a');
  assert.equal(await q.get(), undefined);
});

test('metrics see adds, depth, retries and durations', async () => {
  const seen = { adds: 0, retries: 0, depth: [] as number[], queued: 0, worked: 0 };
  const q = new WorkQueue({
    backoff: { baseMs: 1, maxMs: 1 },
    metrics: { added: () => seen.adds++, retried: () => seen.retries++, depth: (n) => seen.depth.push(n), queued: () => seen.queued++, worked: () => seen.worked++ },
  });
  q.add('a');
  q.add('a');
  q.add('b');
  const key = await q.get();
  q.done(key!);
  q.addRateLimited('c');
  assert.equal(seen.adds, 2);
  assert.equal(seen.retries, 1);
  assert.deepEqual(seen.depth, [1, 2, 1]);
  assert.equal(seen.queued, 1);
  assert.equal(seen.worked, 1);
  q.shutDown();
});

test('a delay beyond what setTimeout honours is clamped to the longest it holds, not fired after 1 ms', async (t) => {
  mockTime(t);
  const q = new WorkQueue();
  q.addAfter('ns/far', 2 ** 31 + 1000);
  q.addAfter('ns/farther', 50 * 24 * 3600_000);
  await advance(t, 50, 1);
  assert.equal(q.length, 0, 'nothing due yet');
  await advance(t, maxDelayMs - 51, maxDelayMs);
  assert.equal(q.length, 0, 'nothing due before the clamp');
  await advance(t, 1, 1);
  assert.equal(q.length, 2, 'both due at the clamp');
  q.shutDown();
});
