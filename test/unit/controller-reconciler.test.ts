// The reconciler's steps with a fake clock, status, events and cache, and canned pipeline
// reports: when a run is due (first, spec change, Secret change, on demand, interval); what the
// queue does after each kind of report (retry with backoff, Stalled waiting for a change, the
// interval); a manifest deleted during its run leaves no record; signing and public-key Secrets
// wake the manifest; durations timers cannot honour are refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PromotionManifestSpec } from '../../src/api/promotion-manifest.ts';
import { isTerminal, type Reason } from '../../src/api/reasons.ts';
import { referencedSecrets } from '../../src/controller/credentials.ts';
import type { ManifestObject } from '../../src/controller/kube.ts';
import { Reconciler } from '../../src/controller/reconciler.ts';
import { acceptSpec } from '../../src/controller/spec.ts';
import { specModel } from '../../src/manifest/resource.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { ControllerMetrics } from '../../src/observability/metrics.ts';
import { notRun, type RunReport } from '../../src/pipeline/index.ts';
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

function manifest(overrides: Partial<ManifestObject['metadata']> = {}, body: Record<string, unknown> = spec): ManifestObject {
  return { metadata: { name: 'pm', namespace: 'ns', uid: 'uid-1', generation: 1, ...overrides }, spec: body as ManifestObject['spec'] };
}

/** A run's report: each edge ends in `state`, or the run fails with `failure`. */
function canned(state: 'promoted' | 'tagMove' | 'failed', failure?: { reason: Reason; message: string }) {
  return async (edges: readonly Edge[], _client: unknown, options: PipelineOptions): Promise<RunReport> => {
    const outcomes = edges.map((edge) => {
      const outcome = new EdgeOutcome(edge);
      if (state === 'promoted') outcome.state = 'promoted';
      else outcome.end(state, state === 'tagMove' ? 'TagMoveRefused' : 'Unauthorized', 'why');
      return outcome;
    });
    return conclude(options.mode, [{ name: 'Setup', result: 'Succeeded', reason: 'SetupSucceeded', durationMs: 1, message: 'ok' }], outcomes, [], failure);
  };
}

function harness(obj: ManifestObject, runPipeline: ReturnType<typeof canned> = canned('promoted'), onStatusUpdate?: (n: number) => void) {
  const store = new Map<string, ManifestObject>([['ns/pm', obj]]);
  const statuses: { conditions?: { type: string; status: string; reason: string }[] }[] = [];
  const events: string[] = [];
  let updates = 0;
  const clock = { t: 1_000_000, now() { return this.t; } };
  const metrics = new ControllerMetrics();
  const reconciler = new Reconciler({
    get: (key) => store.get(key),
    secrets: { read: async () => undefined },
    status: {
      async update(_ns, _name, fn) {
        updates += 1;
        const stored = store.get('ns/pm');
        if (stored) statuses.push(fn(stored as never) as never);
        onStatusUpdate?.(updates);
        return { written: true, conflicts: 0 };
      },
    },
    events: { record: async (_o, type, reason) => { events.push(`${type} ${reason}`); } },
    metrics, logger: quiet, clock,
    runPipeline: runPipeline as never,
  });
  const gauge = async () => Object.fromEntries((await metrics.manifests.get()).values.map((v) => [String(v.labels.condition), v.value]));
  const condition = (type: string) => statuses.at(-1)?.conditions?.find((c) => c.type === type);
  return { store, statuses, events, reconciler, gauge, clock, condition };
}

test('a run is due first, then at the interval; before that the queue is told how long to wait', async () => {
  const h = harness(manifest());
  assert.deepEqual(await h.reconciler.reconcile('ns/pm', never), { kind: 'requeueAfter', ms: 3600_000 });
  assert.equal(h.condition('Ready')?.reason, 'Succeeded');
  h.clock.t += 600_000;
  assert.deepEqual(await h.reconciler.reconcile('ns/pm', never), { kind: 'requeueAfter', ms: 3000_000 }, 'not due: nothing written');
  assert.equal(h.statuses.length, 1, 'one status write per run');
  h.clock.t += 3000_000;
  assert.equal((await h.reconciler.reconcile('ns/pm', never)).kind, 'requeueAfter');
  assert.equal(h.statuses.length, 2, 'due at the interval: one more write');
  assert.deepEqual((await h.gauge()), { Ready: 1, Stalled: 0, Reconciling: 0 });
});

test('a spec change, a Secret change and an on-demand request each make a run due at once', async () => {
  const h = harness(manifest());
  await h.reconciler.reconcile('ns/pm', never);
  const runs = () => h.statuses.length;
  h.store.set('ns/pm', manifest({ generation: 2 }));
  await h.reconciler.reconcile('ns/pm', never);
  assert.equal(runs(), 2, 'spec changed');
  h.reconciler.markStale('ns/pm');
  await h.reconciler.reconcile('ns/pm', never);
  assert.equal(runs(), 3, 'a Secret it uses changed');
  h.store.set('ns/pm', manifest({ generation: 2, annotations: { 'reconcile.hoist.dev/requestedAt': 'now' } }));
  await h.reconciler.reconcile('ns/pm', never);
  assert.equal(runs(), 4, 'requestedAt set');
  await h.reconciler.reconcile('ns/pm', never);
  assert.equal(runs(), 4, 'the same requestedAt is handled once');
});

test('a run that failed for a transient reason is retried with backoff and counted as Reconciling', async () => {
  const h = harness(manifest(), canned('failed'));
  const result = await h.reconciler.reconcile('ns/pm', never);
  assert.deepEqual(result, { kind: 'retry', reason: 'ImagesFailed', message: '1 of 1 edges failed: prod.example: Unauthorized (1 edge): why' });
  assert.equal(h.condition('Reconciling')?.status, 'True', 'status says it is retrying');
  assert.equal(h.condition('Stalled'), undefined);
  assert.deepEqual(h.events, ['Warning PromotionFailed']);
  assert.deepEqual(await h.gauge(), { Ready: 0, Stalled: 0, Reconciling: 1 });
  assert.equal((await h.reconciler.reconcile('ns/pm', never)).kind, 'retry', 'the retry runs without waiting for the interval');
});

test('a terminal reason from the pipeline is Stalled; the registries are checked again at the interval', async () => {
  const h = harness(manifest(), canned('promoted', { reason: 'ProvenanceSignerUnknown', message: 'add keys' }));
  assert.deepEqual(await h.reconciler.reconcile('ns/pm', never), { kind: 'requeueAfter', ms: 3600_000 });
  assert.equal(h.condition('Stalled')?.reason, 'ProvenanceSignerUnknown');
  assert.equal(h.condition('Reconciling'), undefined, 'not retried with backoff');
  assert.deepEqual(h.events, ['Normal Promoted', 'Warning ProvenanceSignerUnknown']);
  assert.deepEqual(await h.gauge(), { Ready: 0, Stalled: 1, Reconciling: 0 });

  const moved = harness(manifest(), canned('tagMove'));
  assert.equal((await moved.reconciler.reconcile('ns/pm', never)).kind, 'requeueAfter');
  assert.equal(moved.condition('Stalled')?.reason, 'TagMoveRefused');
});

test('a spec problem is Stalled until the spec or a Secret changes: no requeue, no retry', async () => {
  const bad = { ...spec, images: [...spec.images, { name: 'app', dmap: { [digest]: ['v2'] } }] };
  const h = harness(manifest({}, bad));
  assert.deepEqual(await h.reconciler.reconcile('ns/pm', never), { kind: 'done' });
  assert.equal(h.condition('Stalled')?.reason, 'DuplicateImage');
  assert.equal((await h.reconciler.reconcile('ns/pm', never)).kind, 'requeueAfter');
  assert.equal(h.statuses.length, 1, 'not run again while nothing changed');
  h.store.set('ns/pm', manifest({ generation: 2 }));
  assert.equal((await h.reconciler.reconcile('ns/pm', never)).kind, 'requeueAfter');
  assert.equal(h.condition('Ready')?.status, 'True', 'fixed spec: Ready');
});

test('every spec problem the controller reports is terminal in the catalogue', () => {
  const problems: [Record<string, unknown>, Reason][] = [
    [{ ...spec, interval: '0s' }, 'InvalidSpec'],
    [{ ...spec, registries: [{ name: 'staging.example/s', src: true }] }, 'InvalidSpec'],
    [{ ...spec, registries: [{ name: 'staging.example/s', src: true }, { name: 'staging.example/s' }] }, 'SourceIsDestination'],
    [{ ...spec, images: [...spec.images, { name: 'app', dmap: { [digest]: ['v2'] } }] }, 'DuplicateImage'],
  ];
  for (const [body, reason] of problems) {
    assert.throws(() => acceptSpec(body, undefined), (e: Error & { reason?: string }) => e.reason === reason && isTerminal(reason), reason);
  }
  assert.throws(() => acceptSpec(spec, ['other.example']), (e: Error & { reason?: string }) => e.reason === 'RegistryNotAllowed' && isTerminal(e.reason));
  assert.equal(isTerminal(notRun('Promote', 'ProvenanceSignerUnknown', '').reason), true);
  assert.equal(isTerminal('SecretForbidden'), false, 'an RBAC fix is not a watched change: retried');
});

test('a manifest deleted while it runs leaves no record (gauge and Secret index)', async () => {
  const withSecret = { ...spec, registries: [{ name: 'reg.example/staging', src: true, credentials: { secretRef: { name: 'creds' } } }, { name: 'prod.example/x' }] };
  let deleteAt = 0;
  const h = harness(manifest({}, withSecret), canned('promoted'), (n) => { if (n === deleteAt) h.store.delete('ns/pm'); });
  deleteAt = 1; // deleted right after the run started (Reconciling written)
  const result = await h.reconciler.reconcile('ns/pm', never);
  assert.notEqual(result.kind, 'aborted');
  assert.deepEqual(h.reconciler.usersOfSecret('ns', 'creds'), [], 'no record left for the deleted manifest');
  assert.deepEqual(await h.gauge(), { Ready: 0, Stalled: 0, Reconciling: 0 });
});

test('signing-key and public-key Secrets are referenced, so their changes wake the manifest', () => {
  const accepted = acceptSpec({
    ...spec,
    signing: { key: { secretRef: { name: 'signing-key' } } },
    verification: { signatures: { mode: 'Enforce', keys: [{ secretRef: { name: 'pub-a' } }, { secretRef: { name: 'pub-b' } }] } },
  }, undefined);
  assert.deepEqual(referencedSecrets(accepted.model, accepted.spec).sort(), ['pub-a', 'pub-b', 'signing-key']);
  assert.deepEqual(referencedSecrets(specModel(accepted.spec)), [], 'registries without credentials name none');
});

test('spec.interval and spec.timeout beyond 24 days are refused (timers would fire at once)', () => {
  const refuse = (patch: Record<string, string>, field: string) => {
    assert.throws(() => acceptSpec({ ...spec, ...patch } as Partial<PromotionManifestSpec>, undefined), (error: Error & { reason?: string }) => {
      assert.equal(error.reason, 'InvalidSpec');
      assert.match(error.message, new RegExp(`${field}.*576h`));
      return true;
    });
  };
  refuse({ interval: '597h' }, 'spec.interval');
  refuse({ interval: '1000000h' }, 'spec.interval');
  refuse({ timeout: '600h' }, 'spec.timeout');
  assert.equal(acceptSpec({ ...spec, interval: '576h', timeout: '576h' }, undefined).intervalMs, 576 * 3600_000);
});

test('a write-ahead record that cannot be written fails the run before any copy, and the run is retried', async () => {
  let copied = false;
  const pipeline = async (edges: readonly Edge[], _client: unknown, options: PipelineOptions): Promise<RunReport> => {
    const outcomes = edges.map((edge) => new EdgeOutcome(edge));
    options.onEvent?.({ type: 'planned', edges: outcomes.length, toPromote: outcomes.length, outcomes });
    const setup = { name: 'Setup', result: 'Succeeded', reason: 'SetupSucceeded', durationMs: 1, message: 'ok' } as const;
    try {
      await options.beforePromote!();
    } catch (error) {
      return conclude(options.mode, [setup], outcomes, [], { reason: 'ProgressNotRecorded', message: (error as Error).message });
    }
    copied = true;
    return conclude(options.mode, [setup], outcomes, []);
  };
  const h = harness(manifest(), pipeline, (n) => { if (n === 1) throw new Error('the API server answered 503'); });
  const result = await h.reconciler.reconcile('ns/pm', never);
  assert.equal(copied, false);
  assert.deepEqual(result, { kind: 'retry', reason: 'ProgressNotRecorded', message: 'the API server answered 503' });
  assert.equal(isTerminal('ProgressNotRecorded'), false);
});
