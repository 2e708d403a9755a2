// The SignatureReplication reconciler's decisions with a fake clock, status, events, cache and
// a canned engine: when a run is due; what the queue does after each kind of report (retry with
// backoff, Stalled waiting for a change, the interval); what the engine is given (the covered
// manifests, one refused by --allowed-registries or lacking its Secret reported by name); the
// status and Events rendered from a report; progress written while a run goes on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Reason } from '../../src/api/reasons.ts';
import type { SignatureReplicationSpec } from '../../src/api/signature-replication.ts';
import type { ManifestObject } from '../../src/controller/kube.ts';
import { replicationEvents } from '../../src/controller/replication-events.ts';
import { ReplicationReconciler, type ReplicationObject } from '../../src/controller/replication-reconciler.ts';
import { replicationFinishedStatus, type ReplicationStatus } from '../../src/controller/replication-status.ts';
import { RegistryRuns } from '../../src/controller/runs.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { ControllerMetrics } from '../../src/observability/metrics.ts';
import { notRun, type ManifestInput, type ReplicationOptions, type ReplicationReport } from '../../src/replication/index.ts';

const quiet = createLogger({ level: 'error', destination: { write: () => {} } });
const digest = `sha256:${'a'.repeat(64)}`;
const never = new AbortController().signal;

const counts = (over: Partial<ReplicationReport['counts']> = {}) => ({ digests: 2, unsigned: 1, signed: 1, mirrors: 2, inSync: 1, repaired: 1, artifacts: 1, notPromoted: 0, diverged: 0, failed: 0, ...over });

function report(outcome: ReplicationReport['outcome'], reason: Reason, over: Partial<ReplicationReport> = {}): ReplicationReport {
  return {
    outcome, reason, message: `${reason} happened`, dryRun: false, counts: counts(), steps: [{ name: 'ListPrimary', durationMs: 1, message: 'listed' }],
    failures: [], changes: [{ repository: 'mirror.example/prod/app', digest, artifacts: [`sha256-${'a'.repeat(64)}.sig`] }], requests: 7, durationMs: 12, ...over,
  };
}

const pm = (name: string, labels: Record<string, string>, mirror = 'mirror.example/prod', secret?: string): ManifestObject => ({
  metadata: { name, namespace: 'ns', labels },
  spec: {
    registries: [{ name: 'staging.example/s', src: true }, { name: 'primary.example/prod' }, { name: mirror, ...(secret && { credentials: { secretRef: { name: secret } } }) }],
    images: [{ name: 'app', dmap: { [digest]: ['v1'] } }],
  } as never,
});

function harness(engine: (spec: SignatureReplicationSpec, inputs: readonly ManifestInput[], client: unknown, options: ReplicationOptions) => Promise<ReplicationReport>, manifests: ManifestObject[] = [pm('app', { replicate: 'yes' })], onWrite: (status: ReplicationStatus) => void = () => {}) {
  const obj: ReplicationObject = {
    metadata: { name: 'sigs', namespace: 'ns', uid: 'uid-1', generation: 1 },
    spec: { manifests: { selector: { matchLabels: { replicate: 'yes' } } }, primary: { registry: 'primary.example/prod' }, interval: '30m' } as never,
  };
  const store = new Map<string, ReplicationObject>([['ns/sigs', obj]]);
  let status: ReplicationStatus | undefined;
  const writes: ReplicationStatus[] = [];
  const events: string[] = [];
  const clock = { t: 1_000_000, now() { return this.t; } };
  const reconciler = new ReplicationReconciler({
    get: (key) => store.get(key),
    listManifests: async () => manifests,
    secrets: { read: async () => undefined },
    status: {
      async update(_ns, _name, fn) {
        const next = fn({ metadata: obj.metadata, ...(status && { status }) });
        if (next) {
          writes.push(status = next);
          onWrite(next);
        }
        return next !== undefined;
      },
    },
    events: { record: async (_o, type, reason, message) => { events.push(`${type} ${reason}: ${message}`); } },
    metrics: new ControllerMetrics(), logger: quiet, clock, registry: new RegistryRuns(), allowedRegistries: ['primary.example', 'mirror.example'],
    progressIntervalMs: 0,
    runReplication: engine as never,
  });
  const condition = (type: string) => status?.conditions?.find((c) => c.type === type);
  return { obj, store, reconciler, events, clock, condition, writes, status: () => status };
}

test('a successful run: Ready=True Replicated, counts and lastRun on the status, an Event naming the repaired copy, the next run at the interval', async () => {
  const h = harness(async () => report('Succeeded', 'Replicated'));
  assert.deepEqual(await h.reconciler.reconcile('ns/sigs', never), { kind: 'requeueAfter', ms: 30 * 60_000 });
  assert.equal(h.condition('Ready')?.status, 'True');
  assert.equal(h.condition('Ready')?.reason, 'Replicated');
  assert.equal(h.condition('Reconciling'), undefined);
  assert.deepEqual(h.status()?.counts, counts());
  assert.equal(h.status()?.observedGeneration, 1);
  assert.deepEqual(h.status()?.lastRun, { startedAt: '1970-01-01T00:16:40Z', durationMs: 12, requests: 7 });
  assert.deepEqual(h.events, [`Normal Replicated: repaired 1 mirror copy (1 artifacts written): mirror.example/prod/app@${digest}`]);
  h.clock.t += 60_000;
  assert.deepEqual(await h.reconciler.reconcile('ns/sigs', never), { kind: 'requeueAfter', ms: 29 * 60_000 }, 'not due yet');
  h.obj.metadata.annotations = { 'reconcile.hoist.dev/requestedAt': 'now' };
  assert.equal((await h.reconciler.reconcile('ns/sigs', never)).kind, 'requeueAfter');
  assert.equal(h.status()?.lastHandledReconcileAt, 'now', 'requestedAt runs at once and is acknowledged');
});

test('failed mirror copies retry with backoff (Reconciling=True); diverged tags are Stalled and looked at again at the interval', async () => {
  const failing = harness(async () => report('Failed', 'SignaturesNotReplicated', { counts: counts({ failed: 1, repaired: 0 }), failures: [{ repository: 'mirror.example/prod/app', digest, reason: 'Unauthorized', message: '401' }] }));
  const retry = await failing.reconciler.reconcile('ns/sigs', never);
  assert.equal(retry.kind, 'retry');
  assert.equal(failing.condition('Ready')?.status, 'False');
  assert.equal(failing.condition('Reconciling')?.reason, 'ProgressingWithRetry');
  assert.equal(failing.condition('Stalled'), undefined);
  assert.deepEqual(failing.status()?.failures, [{ mirror: 'mirror.example/prod/app', digest, reason: 'Unauthorized', message: '401' }]);
  assert.match(failing.events.find((e) => e.startsWith('Warning SignaturesNotReplicated'))!, /1 mirror copy of 2 could not be checked or repaired, the others are done: mirror\.example\/prod\/app@sha256:a+: Unauthorized: 401/);
  assert.equal((await failing.reconciler.reconcile('ns/sigs', never)).kind, 'retry', 'a failed run is due again at once (the queue backs off)');

  const diverged = harness(async () => report('Refused', 'SignatureDiverged', { counts: counts({ diverged: 1 }), failures: [{ repository: 'mirror.example/prod/app', digest, reason: 'SignatureDiverged', message: 'holds more' }] }));
  assert.deepEqual(await diverged.reconciler.reconcile('ns/sigs', never), { kind: 'requeueAfter', ms: 30 * 60_000 });
  assert.equal(diverged.condition('Stalled')?.reason, 'SignatureDiverged');
  assert.equal(diverged.condition('Reconciling'), undefined);
});

test('an invalid spec is Stalled without a run and waits for a change; the counts of an earlier run go', async () => {
  const h = harness(async () => assert.fail('no run for an invalid spec'));
  h.obj.spec = { ...h.obj.spec, interval: '1ms' } as never;
  assert.deepEqual(await h.reconciler.reconcile('ns/sigs', never), { kind: 'done' });
  assert.equal(h.condition('Stalled')?.reason, 'InvalidSpec');
  assert.match(h.condition('Stalled')!.message, /spec\.interval "1ms" must be a duration between 1s and 576h/);
  const earlier = replicationFinishedStatus(undefined, 1, report('Succeeded', 'Replicated'), { startedAt: new Date(0), requestedAt: undefined }, new Date(0));
  assert.equal(replicationFinishedStatus(earlier, 2, notRun('InvalidSpec', 'bad'), { startedAt: new Date(0), requestedAt: undefined }, new Date(0)).counts, undefined);
});

test('the engine gets the covered manifests; one outside --allowed-registries or without its Secret is passed on with its reason, the rest run', async () => {
  let given: readonly ManifestInput[] = [];
  const h = harness(async (_spec, inputs) => { given = inputs; return report('Succeeded', 'Replicated'); }, [
    pm('app', { replicate: 'yes' }), pm('elsewhere', { replicate: 'yes' }, 'other.example/prod'), pm('locked', { replicate: 'yes' }, 'mirror.example/locked', 'locked-push'), pm('unrelated', {}),
  ]);
  await h.reconciler.reconcile('ns/sigs', never);
  const byName = Object.fromEntries(given.map((m) => [m.name, m]));
  assert.equal(byName.app?.problem, undefined);
  assert.equal(byName.app?.spec.registries.length, 3);
  assert.equal(byName.elsewhere?.problem?.reason, 'RegistryNotAllowed');
  assert.match(byName.elsewhere!.problem!.message, /^PromotionManifest elsewhere: destination registry "other\.example\/prod" not in the controller's --allowed-registries/);
  assert.equal(byName.locked?.problem?.reason, 'SecretNotFound');
  assert.ok(byName.unrelated && !byName.unrelated.problem, 'manifests not covered are given too, so a name that names nothing is told from one that exists');
  assert.deepEqual(h.reconciler.usersOfSecret('ns', 'locked-push'), ['ns/sigs'], 'creating the Secret wakes the replication');
});

test('progress goes on the status while the run goes on: the step, done/total and the running counts', async () => {
  let progressed!: () => void;
  const written = new Promise<void>((resolve) => { progressed = resolve; });
  const h = harness(async (_spec, _inputs, _client, options) => {
    options.onEvent?.({ type: 'stepStarted', step: 'Copy', total: 4 });
    options.onEvent?.({ type: 'progress', step: 'Copy', done: 1, total: 4, counts: counts({ repaired: 0 }) });
    await written;
    return report('Succeeded', 'Replicated');
  }, undefined, (status) => { if (status.progress) progressed(); });
  await h.reconciler.reconcile('ns/sigs', never);
  const running = h.writes.find((w) => w.progress);
  assert.ok(running, 'a progress write');
  assert.equal(running.progress?.step, 'Copy');
  assert.equal(running.conditions?.find((c) => c.type === 'Reconciling')?.status, 'True');
  assert.match(running.conditions!.find((c) => c.type === 'Reconciling')!.message, /replicating generation 1: Copy \d\/4/);
  assert.equal(h.status()?.progress, undefined, 'the final status drops it');
});

test('Events: a steady-state run records none; a run that could not start says why', () => {
  assert.deepEqual(replicationEvents(report('Succeeded', 'Replicated', { counts: counts({ repaired: 0, artifacts: 0, inSync: 2 }), changes: [] })), []);
  assert.deepEqual(replicationEvents(notRun('Timeout', 'took too long')).map((e) => `${e.type} ${e.reason}`), ['Warning Timeout']);
});
