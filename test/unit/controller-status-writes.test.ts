// Status writes that cost nothing when nothing changed (issue 15): a rerun that finds everything
// as it was writes no status, a restarted controller starts its writes from the watch cache
// instead of a GET, and a cache that lags behind our own last write is not trusted (the write
// reads first). The API server here is a fake with resourceVersions and 409s, as the real one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Status } from '../../src/controller/conditions.ts';
import type { ManifestObject } from '../../src/controller/kube.ts';
import { Reconciler } from '../../src/controller/reconciler.ts';
import { sameStatus } from '../../src/controller/status-equal.ts';
import type { StoredManifest, StatusWriteResult } from '../../src/controller/status.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { ControllerMetrics } from '../../src/observability/metrics.ts';
import type { RunReport } from '../../src/pipeline/index.ts';
import { conclude } from '../../src/pipeline/outcome.ts';
import { EdgeOutcome, type Edge, type PipelineOptions } from '../../src/pipeline/types.ts';

const quiet = createLogger({ level: 'error', destination: { write: () => {} } });
const digest = `sha256:${'a'.repeat(64)}`;
const never = new AbortController().signal;
const spec = {
  interval: '1h',
  registries: [{ name: 'staging.example/s', src: true }, { name: 'prod.example/p' }],
  images: [{ name: 'app', dmap: { [digest]: ['v1'] } }],
};

/** Every edge already in production (what a rerun finds), or failed; each run a different duration. */
let outcome: 'present' | 'failed' = 'present';
let duration = 1;
async function present(edges: readonly Edge[], _client: unknown, options: PipelineOptions): Promise<RunReport> {
  const outcomes = edges.map((edge) => {
    const o = new EdgeOutcome(edge);
    if (outcome === 'present') o.state = 'present';
    else o.end('failed', 'Unauthorized', 'why');
    return o;
  });
  duration += 1;
  return conclude(options.mode, [{ name: 'Plan', result: 'Succeeded', reason: 'PlanSucceeded', durationMs: duration, message: '1 edges present' }], outcomes, []);
}

/** The API server's copy (resourceVersion, 409 on a stale one) and the watch cache's, delivered on demand. */
function cluster() {
  let rv = 1;
  let server: ManifestObject = { metadata: { name: 'pm', namespace: 'ns', uid: 'uid-1', generation: 1, resourceVersion: '1' }, spec: spec as ManifestObject['spec'] };
  let cache = structuredClone(server);
  const calls = { gets: 0, patches: 0, conflicts: 0 };
  const status = {
    async update(_ns: string, _name: string, compute: (stored: StoredManifest) => Status | undefined, cached?: StoredManifest): Promise<StatusWriteResult> {
      for (let attempt = 1; ; attempt++) {
        let stored: StoredManifest;
        if (attempt === 1 && cached) stored = structuredClone(cached);
        else {
          calls.gets += 1;
          stored = structuredClone(server);
        }
        const next = compute(stored);
        if (!next) return { written: false, conflicts: 0, resourceVersion: stored.metadata.resourceVersion! };
        calls.patches += 1;
        if (stored.metadata.resourceVersion !== server.metadata.resourceVersion) {
          calls.conflicts += 1;
          continue;
        }
        rv += 1;
        server = { ...server, metadata: { ...server.metadata, resourceVersion: String(rv) }, status: next };
        return { written: true, conflicts: 0, status: next, resourceVersion: String(rv) };
      }
    },
  };
  const reconciler = () => new Reconciler({
    get: () => cache, secrets: { read: async () => undefined }, status,
    events: { record: async () => {} }, metrics: new ControllerMetrics(), logger: quiet, clock: { now: () => clock.t },
    runPipeline: present as never,
  });
  const clock = { t: 1_000_000 };
  return { calls, status, reconciler, clock, deliver: () => { cache = structuredClone(server); }, server: () => server };
}

test('a rerun that finds everything as it was writes no status; a restart reads from the cache', async () => {
  const c = cluster();
  const first = c.reconciler();
  await first.reconcile('ns/pm', never);
  assert.deepEqual(c.calls, { gets: 0, patches: 1, conflicts: 0 }, 'the first run writes once, starting from the cache');
  c.deliver();
  c.clock.t += 3600_000;
  await first.reconcile('ns/pm', never);
  assert.deepEqual(c.calls, { gets: 0, patches: 1, conflicts: 0 }, 'at the interval: nothing changed, nothing read or written');

  const restarted = c.reconciler();
  await restarted.reconcile('ns/pm', never);
  assert.deepEqual(c.calls, { gets: 0, patches: 1, conflicts: 0 }, 'restart: the cache is current, nothing changed');
  assert.equal(c.server().status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True');
});

test('a cache that has not seen our last write is not trusted: the write reads first', async () => {
  const c = cluster();
  const r = c.reconciler();
  await r.reconcile('ns/pm', never);
  c.deliver();
  // The next run fails; its status is written but the watch has not delivered it yet.
  outcome = 'failed';
  r.markStale('ns/pm');
  await r.reconcile('ns/pm', never);
  assert.equal(c.server().status?.conditions?.find((x) => x.type === 'Ready')?.status, 'False');
  // The one after finds everything as before the failure: the same status as the stale cache
  // holds, but not the stored one, which must be written back.
  outcome = 'present';
  r.markStale('ns/pm');
  await r.reconcile('ns/pm', never);
  assert.equal(c.server().status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True', 'the failure is not left on the resource');
  assert.deepEqual(c.calls, { gets: 1, patches: 3, conflicts: 0 }, 'the lagging cache was not used: one read, no conflict');
});

test('sameStatus: only the phases\' durations may differ; absent and undefined are the same', () => {
  const base: Status = { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 1 }], phases: [{ name: 'Plan', result: 'Succeeded', durationMs: 5, message: 'm' }] };
  assert.equal(sameStatus(base, structuredClone(base)), true);
  assert.equal(sameStatus(base, { ...structuredClone(base), phases: [{ name: 'Plan', result: 'Succeeded', durationMs: 9, message: 'm' }] }), true, 'durations alone');
  assert.equal(sameStatus(base, { ...structuredClone(base), lastHandledReconcileAt: undefined }), true, 'undefined is absent');
  assert.equal(sameStatus(base, { ...structuredClone(base), phases: [{ name: 'Plan', result: 'Failed', durationMs: 5, message: 'm' }] }), false);
  assert.equal(sameStatus(base, { ...structuredClone(base), observedGeneration: 2 }), false);
  assert.equal(sameStatus(base, { ...structuredClone(base), lastHandledReconcileAt: 'now' }), false, 'a new field');
  const { phases: _p, ...withoutPhases } = structuredClone(base);
  assert.equal(sameStatus(base, withoutPhases), false, 'a removed field');
  assert.equal(sameStatus(undefined, base), false);
});
