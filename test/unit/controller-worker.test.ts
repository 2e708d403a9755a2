// The workers between the queue and the reconciler: what each kind of result does to the key
// (interval, backoff, forget), a reconcile that throws is retried, and the reconcile metrics
// count what happened. Time is mocked.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkQueue } from '../../src/controller/queue.ts';
import type { ReconcileResult } from '../../src/controller/reconciler.ts';
import { needsReconcile } from '../../src/controller/watches.ts';
import { startWorkers } from '../../src/controller/worker.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { ControllerMetrics } from '../../src/observability/metrics.ts';
import { advance, mockTime } from '../support/timers.ts';

const quiet = createLogger({ level: 'error', destination: { write: () => {} } });

test('results decide what the queue does next; errors back off; metrics count each result', async (t) => {
  mockTime(t);
  const queue = new WorkQueue({ backoff: { baseMs: 100, maxMs: 1000 } });
  const metrics = new ControllerMetrics();
  const script: Record<string, (ReconcileResult | Error)[]> = {
    'ns/ok': [{ kind: 'requeueAfter', ms: 5000 }, { kind: 'done' }],
    'ns/flaky': [{ kind: 'retry', reason: 'ImagesFailed', message: '429' }, new Error('API server restarting'), { kind: 'done' }],
  };
  const seen: string[] = [];
  const workers = startWorkers(2, {
    queue, metrics, logger: quiet, shutdown: new AbortController().signal,
    reconcile: async (key) => {
      seen.push(key);
      const next = script[key]!.shift()!;
      if (next instanceof Error) throw next;
      return next;
    },
  });
  queue.add('ns/ok');
  queue.add('ns/flaky');
  await advance(t, 1);
  assert.deepEqual(seen, ['ns/ok', 'ns/flaky']);
  await advance(t, 98, 1);
  assert.equal(seen.length, 2, 'the retry waits its backoff');
  await advance(t, 1, 1);
  assert.deepEqual(seen.slice(2), ['ns/flaky'], 'retried after the base backoff');
  await advance(t, 199, 1);
  assert.equal(seen.length, 3, 'a thrown error backs off twice as long');
  await advance(t, 1, 1);
  assert.deepEqual(seen.slice(3), ['ns/flaky']);
  await advance(t, 5000, 100);
  assert.deepEqual(seen.slice(4), ['ns/ok'], 'requeued after its interval');
  queue.shutDown();
  await Promise.all(workers);
  const total = Object.fromEntries((await metrics.reconcileTotal.get()).values.map((v) => [String(v.labels.result), v.value]));
  assert.deepEqual(total, { requeue_after: 1, error: 2, success: 2 });
  assert.equal((await metrics.activeWorkers.get()).values[0]?.value, 0);
});

test('a manifest is reconciled on spec changes, requests and replacement, not on its own status writes', () => {
  const obj = (generation: number, extra: { uid?: string; requestedAt?: string } = {}) => ({
    metadata: { name: 'a', namespace: 'ns', generation, uid: extra.uid ?? 'u1', ...(extra.requestedAt && { annotations: { 'reconcile.hoist.dev/requestedAt': extra.requestedAt } }) },
  });
  assert.equal(needsReconcile(obj(1), obj(1)), false, 'a status write');
  assert.equal(needsReconcile(obj(1), obj(2)), true);
  assert.equal(needsReconcile(obj(1), obj(1, { requestedAt: 'now' })), true);
  assert.equal(needsReconcile(obj(1), obj(1, { uid: 'u2' })), true);
});
