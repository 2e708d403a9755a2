// What the controller keeps in memory between runs (issue 15): a finished run lets go of its
// signal (Node keeps a signal made with AbortSignal.any, listeners and all, while a source may
// still abort), the watch cache keeps manifests without managedFields and kubectl's
// last-applied copy, and the shared inventory is bounded by the heap Node was given.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ManifestObject } from '../../src/controller/kube.ts';
import { deadline } from '../../src/controller/pause.ts';
import { inventoryEntries, RegistryRuns, runOnce } from '../../src/controller/runs.ts';
import { acceptSpec } from '../../src/controller/spec.ts';
import { trimManifest } from '../../src/controller/watches.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { ControllerMetrics } from '../../src/observability/metrics.ts';
import { notRun, type PipelineOptions } from '../../src/pipeline/index.ts';
import { StaticCredentials } from '../../src/registry/index.ts';

const quiet = createLogger({ level: 'error', destination: { write: () => {} } });
const spec = {
  interval: '1h',
  registries: [{ name: 'staging.example/s', src: true }, { name: 'prod.example/p' }],
  images: [{ name: 'app', dmap: { [`sha256:${'a'.repeat(64)}`]: ['v1'] } }],
};

test('a finished run aborts its signal, so what listens to it can be collected; a timeout still reads as one', async () => {
  let seen: AbortSignal | undefined;
  let abortedDuringRun: boolean | undefined;
  const registry = new RegistryRuns();
  const shutdown = new AbortController();
  const report = await runOnce({ registry, metrics: new ControllerMetrics(), runPipeline: (async (_edges: unknown, _client: unknown, options: PipelineOptions) => {
    seen = options.signal;
    seen!.addEventListener('abort', () => {}, { once: true });
    abortedDuringRun = seen!.aborted;
    return notRun('Promote', 'PlanFailed', 'canned');
  }) as never }, { mode: 'Promote', log: quiet, onEvent: () => {} }, acceptSpec(spec, undefined), new StaticCredentials(), shutdown.signal);
  await registry.close();
  assert.equal(report?.reason, 'PlanFailed', 'the report is the pipeline\'s');
  assert.equal(abortedDuringRun, false);
  assert.equal(seen?.aborted, true, 'released when the run is over');
  assert.equal((seen?.reason as DOMException).name, 'AbortError', 'not a TimeoutError');
  assert.equal(shutdown.signal.aborted, false, 'shutdown is not touched');

  const timed = deadline(1);
  await new Promise((resolve) => timed.signal.addEventListener('abort', resolve, { once: true }));
  timed.clear();
  assert.equal((timed.signal.reason as DOMException).name, 'TimeoutError', 'clear() after a timeout keeps the timeout');
});

test('the watch cache keeps a manifest without managedFields and kubectl\'s last-applied copy', () => {
  const obj = {
    metadata: {
      name: 'pm', namespace: 'ns', uid: 'u', resourceVersion: '7', generation: 2,
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ spec }), 'reconcile.hoist.dev/requestedAt': 'now' },
      managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }],
    },
    spec, status: { observedGeneration: 2 },
  } as unknown as ManifestObject;
  const trimmed = trimManifest(obj);
  assert.deepEqual(trimmed, {
    metadata: { name: 'pm', namespace: 'ns', uid: 'u', resourceVersion: '7', generation: 2, annotations: { 'reconcile.hoist.dev/requestedAt': 'now' } },
    spec, status: { observedGeneration: 2 },
  });
  assert.deepEqual(trimManifest({ metadata: { name: 'x' } }), { metadata: { name: 'x' } }, 'nothing to strip');
});

test('the inventory takes at most a quarter of the heap, between 10,000 and 1,000,000 facts', () => {
  const mib = 1024 * 1024;
  assert.equal(inventoryEntries(4096 * mib), 1_000_000, 'a large heap: the old bound');
  assert.equal(inventoryEntries(160 * mib), Math.floor(160 * mib / 4 / 120), 'the chart\'s heap: ~350,000 facts, ~40 MiB');
  assert.equal(inventoryEntries(1 * mib), 10_000, 'never so small that every run re-reads everything');
  assert.ok(inventoryEntries() <= 1_000_000);
});
