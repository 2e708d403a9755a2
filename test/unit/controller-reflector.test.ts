// The reflector against a scripted API: watches resume from the last resourceVersion, 410 Gone
// re-lists and reports what vanished as deletes, errors back off and retry, and the watchdog
// restarts a loop that went silent. Time is mocked: backoff and the watchdog move when the
// test moves the clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Watch } from '@kubernetes/client-node';
import { Reflector, type ListResult } from '../../src/controller/reflector.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { advance, mockTime, settle } from '../support/timers.ts';

interface Obj { metadata: { name: string; namespace: string; resourceVersion: string } }
const obj = (name: string, rv: string): Obj => ({ metadata: { name, namespace: 'ns', resourceVersion: rv } });
const quiet = createLogger({ level: 'error', destination: { write: () => {} } });

type WatchCall = { query: Record<string, unknown>; emit(type: string, o: unknown): void; end(error?: unknown): void; aborted: boolean };

function fakeApi(lists: ListResult<Obj>[]) {
  const calls: WatchCall[] = [];
  let listCalls = 0;
  const watch = {
    async watch(_path: string, query: Record<string, unknown>, cb: (type: string, o: unknown) => void, done: (err: unknown) => void) {
      const controller = new AbortController();
      const call: WatchCall = { query, emit: cb, end: (error) => done(error ?? null), aborted: false };
      controller.signal.addEventListener('abort', () => { call.aborted = true; done(controller.signal.reason); });
      calls.push(call);
      return controller;
    },
  } as unknown as Watch;
  const list = async () => lists[Math.min(listCalls++, lists.length - 1)]!;
  return { watch, list, calls, listCount: () => listCalls };
}

function record() {
  const events: string[] = [];
  return {
    events,
    handlers: {
      add: (o: Obj) => events.push(`add ${o.metadata.name}@${o.metadata.resourceVersion}`),
      update: (_: Obj, o: Obj) => events.push(`update ${o.metadata.name}@${o.metadata.resourceVersion}`),
      delete: (o: Obj) => events.push(`delete ${o.metadata.name}`),
    },
  };
}

test('lists, watches from the list resourceVersion, resumes from the last event after a normal end', async (t) => {
  mockTime(t);
  const api = fakeApi([{ items: [obj('a', '5')], metadata: { resourceVersion: '10' } }]);
  const rec = record();
  const r = new Reflector<Obj>({ name: 't', watch: api.watch, path: '/x', list: api.list, handlers: rec.handlers, logger: quiet });
  r.start();
  await r.synced;
  await settle();
  assert.equal(api.calls[0]?.query.resourceVersion, '10');
  api.calls[0]!.emit('MODIFIED', obj('a', '11'));
  api.calls[0]!.emit('ADDED', obj('b', '12'));
  api.calls[0]!.emit('BOOKMARK', { metadata: { resourceVersion: '15' } });
  api.calls[0]!.end();
  await settle();
  assert.equal(api.calls[1]?.query.resourceVersion, '15', 'resumed from the bookmark, no re-list');
  assert.equal(api.listCount(), 1);
  assert.deepEqual(rec.events, ['add a@5', 'update a@11', 'add b@12']);
  assert.equal(r.get('ns/b')?.metadata.resourceVersion, '12');
  await r.stop();
});

test('410 Gone re-lists and reports objects that vanished meanwhile as deletes', async (t) => {
  mockTime(t);
  const api = fakeApi([
    { items: [obj('a', '5'), obj('b', '6')], metadata: { resourceVersion: '10' } },
    { items: [obj('a', '20'), obj('c', '21')], metadata: { resourceVersion: '30' } },
  ]);
  const rec = record();
  const r = new Reflector<Obj>({ name: 't', watch: api.watch, path: '/x', list: api.list, handlers: rec.handlers, logger: quiet });
  r.start();
  await r.synced;
  await settle();
  api.calls[0]!.emit('ERROR', { kind: 'Status', code: 410, message: 'too old resource version' });
  await settle();
  assert.equal(api.listCount(), 2);
  assert.equal(api.calls[1]?.query.resourceVersion, '30');
  assert.deepEqual(rec.events, ['add a@5', 'add b@6', 'update a@20', 'add c@21', 'delete b']);
  await r.stop();
});

test('a failing watch backs off and retries from the same resourceVersion', async (t) => {
  mockTime(t);
  const api = fakeApi([{ items: [], metadata: { resourceVersion: '10' } }]);
  const r = new Reflector<Obj>({ name: 't', watch: api.watch, path: '/x', list: api.list, handlers: record().handlers, logger: quiet, backoff: { baseMs: 40, maxMs: 40 } });
  r.start();
  await r.synced;
  await settle();
  api.calls[0]!.end(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
  await advance(t, 39, 1);
  assert.equal(api.calls.length, 1, 'waits its backoff before retrying');
  await advance(t, 1, 1);
  assert.equal(api.calls.length, 2);
  assert.equal(api.calls[1]?.query.resourceVersion, '10');
  await r.stop();
});

test('the watchdog restarts a silent watch with a re-list, and not before', async (t) => {
  mockTime(t);
  const api = fakeApi([{ items: [obj('a', '1')], metadata: { resourceVersion: '10' } }]);
  const r = new Reflector<Obj>({ name: 't', watch: api.watch, path: '/x', list: api.list, handlers: record().handlers, logger: quiet, watchdogMs: 100, backoff: { baseMs: 10, maxMs: 10 } });
  r.start();
  await r.synced;
  await advance(t, 90);
  assert.equal(r.watchdogRestarts, 0, 'quiet for less than watchdogMs');
  await advance(t, 60);
  assert.ok(api.calls[0]?.aborted, 'the silent watch was aborted');
  assert.equal(r.watchdogRestarts, 1);
  assert.equal(api.listCount(), 2, 're-listed');
  await r.stop();
});

test('stop() ends a list in progress at once instead of waiting for the list timeout', async (t) => {
  mockTime(t);
  const { watch } = fakeApi([]);
  const r = new Reflector<Obj>({
    name: 'hanging', watch, path: '/x', logger: quiet, handlers: record().handlers, listTimeoutMs: 10_000,
    list: () => new Promise<ListResult<Obj>>(() => {}),
  });
  r.start();
  await advance(t, 20);
  await r.stop();
  assert.equal(r.hasSynced, false, 'stopped without the list answering, and without any time passing');
});
