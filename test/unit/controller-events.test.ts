// Event aggregation as client-go's recorder does it: the key (uid, type, reason, message), a
// bounded LRU of key -> Event, repeats patching count and lastTimestamp, an expired Event (404
// on the patch) replaced by a new one, and other patch errors leaving the count alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aggregationKey, EventCache } from '../../src/controller/event-cache.ts';
import { apiEventSink, type EventApi } from '../../src/controller/events.ts';
import { createLogger } from '../../src/observability/logger.ts';

const quiet = createLogger({ level: 'error', destination: { write: () => {} } });
const base = { uid: 'u1', namespace: 'ns', name: 'app', type: 'Warning', reason: 'RunFailed', message: 'boom' };

test('the key separates object uid, type, reason and message, and nothing else', () => {
  const key = aggregationKey(base);
  assert.equal(aggregationKey({ ...base }), key);
  for (const change of [{ uid: 'u2' }, { type: 'Normal' }, { reason: 'Timeout' }, { message: 'boom!' }]) {
    assert.notEqual(aggregationKey({ ...base, ...change }), key, JSON.stringify(change));
  }
  // A manifest re-created under the same name has a new uid: its Events are its own.
  assert.equal(aggregationKey({ ...base, name: 'renamed' }), key, 'the uid names the object');
  // Field contents cannot run into each other.
  assert.notEqual(aggregationKey({ ...base, reason: 'a', message: 'b c' }), aggregationKey({ ...base, reason: 'a b', message: 'c' }));
  const { uid: _uid, ...noUid } = base;
  assert.notEqual(aggregationKey(noUid), aggregationKey({ ...noUid, namespace: 'other' }), 'without a uid, namespace/name name the object');
});

test('the cache is an LRU bounded by its size', () => {
  const cache = new EventCache(2);
  cache.set('a', { namespace: 'ns', name: 'ea', count: 1 });
  cache.set('b', { namespace: 'ns', name: 'eb', count: 1 });
  assert.equal(cache.get('a')?.name, 'ea', 'touching a makes b the oldest');
  cache.set('c', { namespace: 'ns', name: 'ec', count: 1 });
  assert.equal(cache.size, 2);
  assert.equal(cache.get('b'), undefined);
  assert.equal(cache.get('a')?.name, 'ea');
  assert.equal(cache.get('c')?.name, 'ec');
  assert.throws(() => new EventCache(0), RangeError);
});

type Call = { op: 'create'; name: string; count: number } | { op: 'patch'; name: string; count: number; lastTimestamp: string };

function fakeApi() {
  const calls: Call[] = [];
  const stored = new Map<string, number>();
  let patchError: number | undefined;
  const api = {
    async createNamespacedEvent(req: { namespace: string; body: { metadata: { name: string }; count: number } }) {
      calls.push({ op: 'create', name: req.body.metadata.name, count: req.body.count });
      stored.set(req.body.metadata.name, req.body.count);
      return req.body;
    },
    async patchNamespacedEvent(req: { name: string; body: { count: number; lastTimestamp: string } }) {
      await new Promise((r) => setImmediate(r));
      calls.push({ op: 'patch', name: req.name, count: req.body.count, lastTimestamp: req.body.lastTimestamp });
      if (patchError) throw Object.assign(new Error(`HTTP ${patchError}`), { code: patchError });
      if (!stored.has(req.name)) throw Object.assign(new Error('not found'), { code: 404 });
      stored.set(req.name, req.body.count);
      return req.body;
    },
  } as unknown as EventApi;
  return { api, calls, stored, failPatches: (code: number | undefined) => { patchError = code; } };
}

const manifest = (uid: string) => ({ metadata: { name: 'app', namespace: 'ns', uid, resourceVersion: '1' } });

test('a repeat patches count and lastTimestamp of the Event already written; a different one creates its own', async () => {
  const { api, calls, stored } = fakeApi();
  const sink = apiEventSink(api, 'pod-0', quiet);
  await sink.record(manifest('u1'), 'Warning', 'RunFailed', 'boom');
  await sink.record(manifest('u1'), 'Warning', 'RunFailed', 'boom');
  await sink.record(manifest('u1'), 'Warning', 'RunFailed', 'boom');
  await sink.record(manifest('u1'), 'Warning', 'RunFailed', 'other message');
  await sink.record(manifest('u2'), 'Warning', 'RunFailed', 'boom');
  assert.deepEqual(calls.map((c) => `${c.op} ${c.count}`), ['create 1', 'patch 2', 'patch 3', 'create 1', 'create 1']);
  const first = calls[0]!.name;
  assert.equal(calls[1]!.name, first);
  assert.equal(calls[2]!.name, first);
  assert.equal(stored.get(first), 3);
  assert.equal(stored.size, 3);
  const patch = calls[1]!;
  assert.ok(patch.op === 'patch' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(patch.lastTimestamp), `lastTimestamp in whole seconds: ${JSON.stringify(patch)}`);
});

test('messages are keyed as written: repeats past the 1024-character cut still aggregate', async () => {
  const { api, calls } = fakeApi();
  const sink = apiEventSink(api, 'pod-0', quiet);
  await sink.record(manifest('u1'), 'Warning', 'RunFailed', `${'x'.repeat(1024)}a`);
  await sink.record(manifest('u1'), 'Warning', 'RunFailed', `${'x'.repeat(1024)}b`);
  assert.deepEqual(calls.map((c) => `${c.op} ${c.count}`), ['create 1', 'patch 2']);
});

test('an Event that expired (404 on the patch) is created anew, and later repeats patch the new one', async () => {
  const { api, calls, stored } = fakeApi();
  const sink = apiEventSink(api, 'pod-0', quiet);
  await sink.record(manifest('u1'), 'Normal', 'Promoted', 'promoted 1');
  const first = calls[0]!.name;
  stored.delete(first);
  await sink.record(manifest('u1'), 'Normal', 'Promoted', 'promoted 1');
  await sink.record(manifest('u1'), 'Normal', 'Promoted', 'promoted 1');
  assert.deepEqual(calls.map((c) => `${c.op} ${c.count}`), ['create 1', 'patch 2', 'create 1', 'patch 2']);
  assert.notEqual(calls[2]!.name, first);
  assert.equal(calls[3]!.name, calls[2]!.name);
  assert.equal(stored.get(calls[2]!.name), 2);
});

test('another patch error keeps the Event and its count: the next repeat counts from what is stored', async () => {
  const { api, calls, stored, failPatches } = fakeApi();
  const sink = apiEventSink(api, 'pod-0', quiet);
  await sink.record(manifest('u1'), 'Warning', 'RunFailed', 'boom');
  failPatches(500);
  await sink.record(manifest('u1'), 'Warning', 'RunFailed', 'boom');
  failPatches(undefined);
  await sink.record(manifest('u1'), 'Warning', 'RunFailed', 'boom');
  assert.deepEqual(calls.map((c) => `${c.op} ${c.count}`), ['create 1', 'patch 2', 'patch 2']);
  assert.equal(stored.size, 1);
  assert.equal(stored.get(calls[0]!.name), 2);
});

test('repeats recorded at the same time are counted one after another, none lost', async () => {
  const { api, calls, stored } = fakeApi();
  const sink = apiEventSink(api, 'pod-0', quiet);
  await Promise.all(Array.from({ length: 5 }, () => sink.record(manifest('u1'), 'Warning', 'RunFailed', 'boom')));
  assert.deepEqual(calls.map((c) => `${c.op} ${c.count}`), ['create 1', 'patch 2', 'patch 3', 'patch 4', 'patch 5']);
  assert.equal(stored.get(calls[0]!.name), 5);
});
