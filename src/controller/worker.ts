// The workers: each takes a key from the queue, reconciles it, and tells the queue what next
// (forget the backoff and come back after an interval, or back off and retry), counting
// reconciles as controller-runtime does. `--concurrent` workers run side by side; the queue
// never gives one key to two of them.
import { controllerName, type ControllerMetrics } from '../observability/metrics.ts';
import type { Logger } from '../observability/logger.ts';
import { systemClock, type Clock } from './clock.ts';
import { splitKey } from './kube.ts';
import type { WorkQueue } from './queue.ts';
import type { ReconcileResult } from './reconciler.ts';

export interface WorkerOptions {
  queue: WorkQueue;
  reconcile(key: string, shutdown: AbortSignal): Promise<ReconcileResult>;
  metrics: ControllerMetrics;
  logger: Logger;
  /** Aborted at shutdown: interrupts running reconciles. */
  shutdown: AbortSignal;
  clock?: Clock;
  /** The controller label of the metrics (default: the PromotionManifest controller's). */
  controller?: string;
}

/** What the queue does with a key after its reconcile, and the result label of the metrics. */
function settle(queue: WorkQueue, key: string, result: ReconcileResult, logger: Logger, metrics: ControllerMetrics, label: { controller: string }): void {
  if (result.kind === 'retry') {
    metrics.reconcileErrors.inc(label);
    metrics.reconcileTotal.inc({ ...label, result: 'error' });
    const delay = queue.addRateLimited(key);
    logger.debug({ ...splitKey(key), reason: result.reason, err: result.message, retryInMs: delay }, 'reconcile error; requeued');
  } else if (result.kind === 'requeueAfter') {
    queue.forget(key);
    metrics.reconcileTotal.inc({ ...label, result: 'requeue_after' });
    queue.addAfter(key, result.ms);
  } else if (result.kind === 'done') {
    queue.forget(key);
    metrics.reconcileTotal.inc({ ...label, result: 'success' });
  }
}

/** One worker: reconciles keys until the queue shuts down. */
async function work(o: WorkerOptions): Promise<void> {
  const clock = o.clock ?? systemClock;
  const label = { controller: o.controller ?? controllerName };
  for (;;) {
    const key = await o.queue.get();
    if (key === undefined) return;
    o.metrics.activeWorkers.inc(label);
    const started = clock.now();
    let result: ReconcileResult;
    try {
      result = await o.reconcile(key, o.shutdown);
    } catch (error) {
      result = { kind: 'retry', reason: 'RunFailed', message: (error as Error).message };
    }
    o.metrics.reconcileTime.observe(label, (clock.now() - started) / 1000);
    o.metrics.activeWorkers.dec(label);
    settle(o.queue, key, result, o.logger, o.metrics, label);
    o.queue.done(key);
  }
}

/** Starts `count` workers; the promises settle once the queue is shut down and they are idle. */
export function startWorkers(count: number, options: WorkerOptions): Promise<void>[] {
  return Array.from({ length: count }, () => work(options));
}
