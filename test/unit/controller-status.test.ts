// What the resource says about the world (issue 17): Events that never cut a reference and
// roll failures up per registry, present/desired and the other columns, a status written once
// per run, progress at a bounded rate with a write-ahead record of what Promote copies, an
// interrupted run's copies reported by the next run, suspend as Flux's helm-controller, a spec
// with refused dmap entries running the rest, and a Plan that could read no edge not succeeding.
import { Listings } from '../../src/pipeline/listings.ts';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { promotionManifestStatusSchema } from '../../src/api/promotion-manifest.ts';
import { parseRepository } from '../../src/api/reference.ts';
import { finishedStatus, progressStatus, suspendedStatus } from '../../src/controller/conditions.ts';
import { fitList, runEvents } from '../../src/controller/events.ts';
import { interruptedPromotions, inventoryOf, plannedProgress } from '../../src/controller/inventory.ts';
import type { ManifestObject } from '../../src/controller/kube.ts';
import { ProgressReporter } from '../../src/controller/progress.ts';
import { withRemovals } from '../../src/controller/status.ts';
import { Reconciler } from '../../src/controller/reconciler.ts';
import { acceptSpec } from '../../src/controller/spec.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { ControllerMetrics } from '../../src/observability/metrics.ts';
import { notRun, type RunReport } from '../../src/pipeline/index.ts';
import { conclude } from '../../src/pipeline/outcome.ts';
import { planPhase } from '../../src/pipeline/phases/plan.ts';
import { EdgeOutcome, type Edge, type EdgeState, type PhaseResult, type PipelineEvent, type PipelineOptions, type RunContext } from '../../src/pipeline/types.ts';
import { ImageCopier } from '../../src/registry/index.ts';
import { MemoryRegistry } from '../support/memory-registry.ts';
import { advance, mockTime, settle } from '../support/timers.ts';

const quiet = createLogger({ level: 'error', destination: { write: () => {} } });
const never = new AbortController().signal;
const d = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const src = parseRepository('staging.example/app');
const dst = parseRepository('prod.example/releases/app');
const t0 = new Date('2026-11-28T10:00:00Z');
const phases: PhaseResult[] = [{ name: 'Plan', result: 'Succeeded', reason: 'PlanSucceeded', durationMs: 1, message: 'ok' }];

function outcome(state: EdgeState, n: number, problem?: { reason: 'Unauthorized' | 'TagMoveRefused'; detail: string }): EdgeOutcome {
  const o = new EdgeOutcome({ src, dst, digest: d(n), tags: [`v${n}`] });
  if (problem) o.end(state as 'failed', problem.reason, problem.detail);
  else o.state = state;
  return o;
}

describe('Events', () => {
  test('a list never cuts a reference: whole references, then "and N more", within 1024 characters', () => {
    const refs = Array.from({ length: 40 }, (_, i) => `prod.example/releases/app:v${i}@${d(i)}`);
    const text = fitList('promoted 40: ', refs);
    assert.ok(text.length <= 1024, `${text.length}`);
    const m = /^promoted 40: (.*) and (\d+) more$/.exec(text);
    assert.ok(m, text);
    const listed = m[1]!.split(', ');
    assert.deepEqual(listed, refs.slice(0, listed.length), 'every listed reference is whole');
    assert.equal(listed.length + Number(m[2]), 40);
    assert.equal(fitList('x: ', ['a', 'b']), 'x: a, b');
    assert.equal(fitList('x: ', ['a'.repeat(2000)]), 'x:  1 more', 'one item longer than the room is counted, not cut');
  });

  test('failures roll up per registry and reason: one line for 40 identical failures, no "the others are done" when none are', () => {
    const edges = Array.from({ length: 40 }, (_, i) => outcome('failed', i, { reason: 'Unauthorized', detail: 'reading the source failed: staging.example answered 401' }));
    const report = conclude('Promote', phases, edges, []);
    assert.equal(report.message, '40 of 40 edges failed: staging.example: Unauthorized (40 edges): reading the source failed: staging.example answered 401');
    const events = runEvents(report);
    assert.deepEqual(events.map((e) => `${e.type} ${e.reason}`), ['Warning PromotionFailed']);
    assert.equal(events[0]!.message, '40 of 40 edges failed: staging.example: Unauthorized (40 edges): reading the source failed: staging.example answered 401');
    const some = conclude('Promote', phases, [...edges.slice(0, 3), outcome('promoted', 99)], []);
    assert.match(some.message, /^3 of 4 edges failed: .*; the others are done$/);
    assert.match(runEvents(some).find((e) => e.reason === 'PromotionFailed')!.message, /^3 of 4 edges failed, the others are done: staging\.example: Unauthorized \(3 edges\)/);
  });

  test('Promoted names repo:tag@sha256:…; an interrupted run\'s copies get their own Promoted Event', () => {
    const report = conclude('Promote', phases, [outcome('promoted', 1)], []);
    const events = runEvents(report, { interrupted: { startedAt: '2026-11-28T09:00:00Z', refs: [`prod.example/releases/app:v2@${d(2)}`], edges: 3 } });
    assert.deepEqual(events.map((e) => e.reason), ['Promoted', 'Promoted']);
    assert.equal(events[0]!.message, `promoted 3 by a run started at 2026-11-28T09:00:00Z that was interrupted; found in production now: prod.example/releases/app:v2@${d(2)}, 2 more not listed`);
    assert.equal(events[1]!.message, `promoted 1: prod.example/releases/app:v1@${d(1)}`);
  });
});

describe('the state of the world on the status', () => {
  test('present/desired, refused and failed; a run that never read the registries drops them (no old FAILED while Stalled)', () => {
    const report = conclude('Promote', phases, [outcome('promoted', 1), outcome('present', 2), outcome('failed', 3, { reason: 'Unauthorized', detail: 'no' }), outcome('tagMove', 4, { reason: 'TagMoveRefused', detail: 'moved' })], []);
    assert.deepEqual(inventoryOf(report, 2), { desired: 6, present: 2, refused: 3, failed: 1, presentOfDesired: '2/6' });
    const after = finishedStatus(undefined, 1, report, t0, undefined, { startedAt: t0 });
    assert.deepEqual(after.lastPromoted, { at: '2026-11-28T10:00:00Z', edges: 1 });
    assert.equal(after.inventory?.presentOfDesired, '2/4');
    assert.ok(promotionManifestStatusSchema.safeParse(after).success, JSON.stringify(promotionManifestStatusSchema.safeParse(after).error));
    const stalled = finishedStatus(after, 2, notRun('Promote', 'SecretNotFound', 'gone'), t0);
    assert.equal(stalled.inventory, undefined);
    assert.equal(stalled.failures, undefined);
    assert.deepEqual(stalled.lastPromoted, after.lastPromoted, 'when something was last promoted stays true');
  });

  test('the write-ahead record lists what Promote copies; the next run finds an interrupted run\'s copies present', () => {
    const planned = [outcome('promote', 1), outcome('promote', 2), outcome('present', 3), outcome('promote', 4)];
    const record = plannedProgress(t0, 7, planned);
    assert.deepEqual(record, { startedAt: '2026-11-28T10:00:00.000Z', generation: 7, phase: 'Plan', toPromote: 3, presentBefore: 1, pending: [`prod.example/releases/app:v1@${d(1)}`, `prod.example/releases/app:v2@${d(2)}`, `prod.example/releases/app:v4@${d(4)}`] });
    // The killed run copied 1 and 2; the next run finds them present and copies 4 itself.
    const next = conclude('Promote', phases, [outcome('present', 1), outcome('present', 2), outcome('present', 3), outcome('promoted', 4)], []);
    assert.deepEqual(interruptedPromotions(record, next, 7), { refs: [record.pending![0]!, record.pending![1]!], edges: 2 });
    assert.equal(interruptedPromotions(undefined, next, 7), undefined);
    const status = finishedStatus(progressStatus(undefined, 7, 'Promote', record, t0), 7, next, t0, undefined, { startedAt: t0 });
    assert.equal(status.progress, undefined, 'a finished run removes the record');
  });

  test('beyond its listed references, an interrupted run\'s copies are counted only against a plan of the same generation', () => {
    // A record whose list was capped: 10 to copy, 1 listed, none present before.
    const record = { startedAt: '2026-11-28T10:00:00.000Z', generation: 3, phase: 'Plan', toPromote: 10, presentBefore: 0, pending: [`prod.example/releases/app:v1@${d(1)}`] };
    const next = conclude('Promote', phases, [1, 2, 3, 4].map((n) => outcome('present', n)), []);
    assert.deepEqual(interruptedPromotions(record, next, 3), { refs: [record.pending[0]!], edges: 4 }, 'same spec: 4 present now, 0 before');
    assert.deepEqual(interruptedPromotions(record, next, 4), { refs: [record.pending[0]!], edges: 1 }, 'the spec changed: only what the record names');
  });

  test('the merge patch removes every field the new status drops, at any depth', () => {
    const stored = { lastPromoted: { at: 'a', edges: 2, interrupted: true }, progress: { startedAt: 's' }, inventory: { desired: 2, present: 1 }, conditions: [{ type: 'Ready' }] } as never;
    const next = { lastPromoted: { at: 'b', edges: 1 }, inventory: { desired: 2, present: undefined }, conditions: [] } as never;
    assert.deepEqual(withRemovals(stored, next), { lastPromoted: { at: 'b', edges: 1, interrupted: null }, inventory: { desired: 2, present: null }, conditions: [], progress: null });
  });

  test('suspended: Ready keeps its verdict, the generation is acknowledged, Reconciling goes', () => {
    const ready = finishedStatus(undefined, 1, conclude('Promote', phases, [outcome('present', 1)], []), t0);
    const s = suspendedStatus({ ...ready, conditions: [...ready.conditions!, { type: 'Reconciling', status: 'True', reason: 'Progressing', message: 'x', lastTransitionTime: '2026-11-28T10:00:00Z' }] }, 2, t0);
    assert.equal(s.observedGeneration, 2);
    assert.deepEqual(s.conditions?.map((c) => `${c.type}=${c.status}@${c.observedGeneration}`), ['Ready=True@2', 'Plan=True@2']);
    const fresh = suspendedStatus(undefined, 1, t0);
    assert.deepEqual(fresh.conditions?.map((c) => `${c.type}=${c.status}:${c.reason}`), ['Ready=Unknown:Suspended']);
  });
});

describe('accepting a spec', () => {
  const spec = (dmap: Record<string, string[]>) => ({
    interval: '1h', registries: [{ name: 'staging.example/s', src: true }, { name: 'prod.example/a' }, { name: 'prod.example/b' }],
    images: [{ name: 'app', dmap }, { name: 'other', dmap: { [d(9)]: ['v9'] } }],
  });

  test('a tag given to two digests refuses those entries only; the message has no "(line 0)"', () => {
    const accepted = acceptSpec(spec({ [d(1)]: ['v1'], [d(2)]: ['v1'], [d(3)]: ['v3'] }), undefined);
    assert.deepEqual(accepted.model.images.map((i) => [i.name, Object.keys(i.dmap)]), [['app', [d(3)]], ['other', [d(9)]]]);
    assert.equal(accepted.refused?.reason, 'TagConflict');
    assert.equal(accepted.refused?.edges, 4, 'two entries, two destinations');
    assert.match(accepted.refused!.message, /^2 dmap entries refused, the others run: spec\.images\[0\]\.dmap/);
    assert.doesNotMatch(accepted.refused!.message, /line 0/);
    assert.equal(acceptSpec(spec({ [d(1)]: ['v1'] }), undefined).refused, undefined);
  });
});

describe('progress', () => {
  test('at most one write per interval; the write-ahead record is written as Promote starts', async (t) => {
    mockTime(t);
    const writes: { phase?: string; done?: number; toPromote?: number }[] = [];
    const reporter = new ProgressReporter({
      startedAt: new Date(), generation: 1, mode: 'Promote', intervalMs: 10_000, log: quiet, clock: { now: () => Date.now() },
      write: async (p) => { writes.push({ ...(p.phase && { phase: p.phase }), ...(p.done !== undefined && { done: p.done }), ...(p.toPromote !== undefined && { toPromote: p.toPromote }) }); },
    });
    reporter.onEvent({ type: 'phaseStarted', phase: 'Setup' });
    reporter.onEvent({ type: 'phaseStarted', phase: 'Plan' });
    await advance(t, 5_000, 1_000);
    assert.deepEqual(writes, [], 'a run shorter than the interval writes no progress');
    const planned = [outcome('promote', 1), outcome('promote', 2)];
    reporter.onEvent({ type: 'planned', edges: 2, toPromote: 2, outcomes: planned });
    await settle();
    assert.deepEqual(writes, [{ phase: 'Plan', done: 0, toPromote: 2 }], 'forced at once');
    for (let i = 1; i <= 50; i++) reporter.onEvent({ type: 'edgeFinished', edge: planned[0]!, done: i, total: 50 } as PipelineEvent);
    await advance(t, 9_000, 1_000);
    assert.equal(writes.length, 1, 'not again within the interval');
    await advance(t, 2_000, 1_000);
    assert.deepEqual(writes.at(-1), { phase: 'Plan', done: 50, toPromote: 2 });
    assert.equal(writes.length, 2);
    reporter.onEvent({ type: 'phaseStarted', phase: 'Sign' });
    await reporter.stop();
    await advance(t, 20_000, 1_000);
    assert.equal(writes.length, 2, 'nothing after stop');
  });

  test('writeAhead resolves once the record is written, and rejects when it could not be', async (t) => {
    mockTime(t);
    let fail = false;
    let finish!: () => void;
    const reporter = (mode: 'Promote' | 'Plan') => new ProgressReporter({
      startedAt: new Date(), generation: 1, mode, intervalMs: 10_000, log: quiet, clock: { now: () => Date.now() },
      write: () => (fail ? Promise.reject(new Error('503')) : new Promise<void>((resolve) => { finish = resolve; })),
    });
    const planned = { type: 'planned', edges: 1, toPromote: 1, outcomes: [outcome('promote', 1)] } as const;
    const slow = reporter('Promote');
    slow.onEvent(planned);
    let written = false;
    const ahead = slow.writeAhead().then(() => { written = true; });
    await settle();
    assert.equal(written, false, 'pending while the write is');
    finish();
    await ahead;
    fail = true;
    const failing = reporter('Promote');
    failing.onEvent(planned);
    await assert.rejects(failing.writeAhead(), /503/);
    await failing.stop();
    const plan = reporter('Plan');
    plan.onEvent(planned);
    await plan.writeAhead();
  });
});

test('a Plan that could read no edge has not succeeded', async () => {
  const registry = new MemoryRegistry();
  registry.failHost('staging.example', 'Unauthorized');
  const client = registry.client();
  const edges: Edge[] = [1, 2, 3].map((n) => ({ src, dst, digest: d(n), tags: [`v${n}`] }));
  const ctx: RunContext = {
    edges, client, copier: new ImageCopier(client), signal: never,
    options: { mode: 'Promote', concurrency: 2, planConcurrency: 2 }, emit: () => {}, outcomes: [], destinationTags: new Map(), inProduction: [], attestations: [],
    listings: new Listings(), attachmentsDue: new Set(), unfinished: new Set(),
  };
  const result = await planPhase.run(ctx);
  assert.equal(result.stop, 'failed');
  assert.equal(result.reason, 'PlanFailed');
  assert.match(result.message, /^no edge could be read: staging\.example: Unauthorized \(3 edges\): reading the source failed/);
});

describe('the reconciler', () => {
  const base = {
    interval: '1h', registries: [{ name: 'staging.example/s', src: true }, { name: 'prod.example/p' }],
    images: [{ name: 'app', dmap: { [d(1)]: ['v1'] } }],
  };
  function harness(obj: ManifestObject, state: EdgeState = 'promoted') {
    const store = new Map([['ns/pm', obj]]);
    const statuses: any[] = [];
    const events: string[] = [];
    const metrics = new ControllerMetrics();
    const reconciler = new Reconciler({
      get: (key) => store.get(key), secrets: { read: async () => undefined },
      status: { async update(_ns, _n, fn) { const s = fn(store.get('ns/pm') as never); if (s) { statuses.push(s); store.set('ns/pm', { ...store.get('ns/pm')!, status: s }); } return { written: !!s, conflicts: 0 }; } },
      events: { record: async (_o, type, reason, message) => { events.push(`${type} ${reason}: ${message}`); } },
      metrics, logger: quiet, clock: { now: () => 1_000_000 }, progressIntervalMs: 0,
      runPipeline: (async (edges: readonly Edge[], _c: unknown, options: PipelineOptions): Promise<RunReport> => {
        const outcomes = edges.map((e) => { const o = new EdgeOutcome(e); o.state = state === 'promoted' && options.mode === 'Promote' ? 'promoted' : state; return o; });
        return conclude(options.mode, phases, outcomes, []);
      }) as never,
    });
    return { store, statuses, events, reconciler, metrics };
  }

  test('refused dmap entries: the rest runs, the run is Refused (Stalled), an EntriesRefused condition and a Warning Event name them', async () => {
    const spec = { ...base, images: [{ name: 'app', dmap: { [d(1)]: ['v1'], [d(2)]: ['v1'], [d(3)]: ['v3'] } }] };
    const h = harness({ metadata: { name: 'pm', namespace: 'ns', uid: 'u', generation: 1 }, spec: spec as never });
    assert.equal((await h.reconciler.reconcile('ns/pm', never)).kind, 'requeueAfter');
    const status = h.statuses.at(-1);
    const get = (type: string) => status.conditions.find((c: any) => c.type === type);
    assert.equal(get('Ready').reason, 'TagConflict');
    assert.equal(get('Stalled').reason, 'TagConflict');
    assert.equal(get('EntriesRefused').status, 'True');
    assert.equal(status.counts.promoted, 1, 'the valid entry ran');
    assert.deepEqual(status.inventory, { desired: 3, present: 1, refused: 2, failed: 0, presentOfDesired: '1/3' });
    assert.deepEqual(h.events.map((e) => e.split(':')[0]), ['Normal Promoted', 'Warning TagConflict']);
  });

  test('suspended: no run, the generation acknowledged, a Normal Event; a requestedAt set meanwhile is kept and said so', async () => {
    const h = harness({ metadata: { name: 'pm', namespace: 'ns', uid: 'u', generation: 3, annotations: { 'reconcile.hoist.dev/requestedAt': 'r1' } }, spec: { ...base, suspend: true } as never });
    assert.deepEqual(await h.reconciler.reconcile('ns/pm', never), { kind: 'done' });
    assert.equal(h.statuses.at(-1).observedGeneration, 3);
    assert.equal(h.statuses.at(-1).lastHandledReconcileAt, undefined, 'not handled: it runs on resume');
    assert.deepEqual(h.events, ['Normal Suspended: reconcile requested at r1 is kept until spec.suspend is false; nothing runs while suspended']);
    await h.reconciler.reconcile('ns/pm', never);
    assert.equal(h.events.length, 1, 'said once');
    const text = await h.metrics.registry.getSingleMetricAsString('hoist_manifest_suspended');
    assert.match(text, /hoist_manifest_suspended\{namespace="ns",name="pm"\} 1/);
    // Resumed: a run happens at once and handles the request.
    h.store.set('ns/pm', { ...h.store.get('ns/pm')!, metadata: { ...h.store.get('ns/pm')!.metadata, generation: 4 }, spec: base as never });
    assert.equal((await h.reconciler.reconcile('ns/pm', never)).kind, 'requeueAfter');
    assert.equal(h.statuses.at(-1).lastHandledReconcileAt, 'r1');
  });

  test('an interrupted run\'s record: the next run reports what it had copied, and lastPromoted says so', async () => {
    const progress = plannedProgress(new Date('2026-11-28T09:00:00Z'), 1, [outcome('promote', 1)]);
    const obj: ManifestObject = { metadata: { name: 'pm', namespace: 'ns', uid: 'u', generation: 1 }, spec: { ...base, images: [{ name: 'releases/app', dmap: { [d(1)]: ['v1'] } }], registries: [{ name: 'staging.example', src: true }, { name: 'prod.example' }] } as never, status: { progress } };
    const h = harness(obj, 'present');
    await h.reconciler.reconcile('ns/pm', never);
    const status = h.statuses.at(-1);
    assert.deepEqual(status.lastPromoted, { at: '2026-11-28T09:00:00Z', edges: 1, interrupted: true });
    assert.equal(status.progress, undefined);
    assert.match(h.events[0]!, /^Normal Promoted: promoted 1 by a run started at 2026-11-28T09:00:00Z that was interrupted; found in production now: prod\.example\/releases\/app:v1@sha256:0+1$/);
  });

  test('per-resource condition series name the resource; a deleted resource takes them along', async () => {
    const h = harness({ metadata: { name: 'pm', namespace: 'ns', uid: 'u', generation: 1 }, spec: base as never });
    await h.reconciler.reconcile('ns/pm', never);
    const text = await h.metrics.registry.getSingleMetricAsString('hoist_manifest_condition');
    assert.match(text, /hoist_manifest_condition\{namespace="ns",name="pm",type="Ready",status="True"\} 1/);
    assert.match(text, /hoist_manifest_condition\{namespace="ns",name="pm",type="Stalled",status="False"\} 1/);
    h.store.delete('ns/pm');
    await h.reconciler.reconcile('ns/pm', never);
    assert.doesNotMatch(await h.metrics.registry.getSingleMetricAsString('hoist_manifest_condition'), /name="pm"/);
  });
});

test('a per-resource log line has one "name": the resource\'s (the logger\'s own name is "logger")', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', destination: { write: (line: string) => { lines.push(line); } } });
  log.child({ namespace: 'ns', name: 'pm' }).info('reconcile started');
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.match(/"name":/g)?.length, 1, lines[0]);
  assert.deepEqual([JSON.parse(lines[0]!).name, JSON.parse(lines[0]!).logger], ['pm', 'hoist-controller']);
});
