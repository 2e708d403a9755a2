// The engine's control flow with stand-in phases (no registry is touched): order, early stops,
// Plan mode ending after Validate, a throwing phase, cancellation; each phase's result carries
// a reason from the catalogue.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runPipeline, type Phase, type PhaseName, type PipelineOptions } from '../../src/pipeline/index.ts';
import { forEachLimitBy, RegistryClient } from '../../src/registry/index.ts';

const names: PhaseName[] = ['Setup', 'Plan', 'Provenance', 'Validate', 'Promote', 'Sign', 'Attest'];
const options = (mode: PipelineOptions['mode'] = 'Promote', extra: Partial<PipelineOptions> = {}): PipelineOptions => ({ mode, concurrency: 1, planConcurrency: 1, ...extra });

function recording(overrides: Partial<Record<PhaseName, Phase['run']>> = {}) {
  const ran: PhaseName[] = [];
  // Given out of order on purpose: the engine orders phases itself.
  const phases: Phase[] = [...names].reverse().map((name) => ({
    name,
    failure: 'RunFailed',
    run: async (ctx) => { ran.push(name); return overrides[name] ? overrides[name]!(ctx) : { message: `${name} ok` }; },
  }));
  return { ran, phases };
}

const client = new RegistryClient();

test('phases run in pipeline order and each is timed and reported', async () => {
  const { ran, phases } = recording();
  const events: string[] = [];
  const report = await runPipeline([], client, options('Promote', { onEvent: (e) => events.push(e.type) }), phases);
  assert.deepEqual(ran, names);
  assert.deepEqual(report.phases.map((p) => p.name), names);
  assert.ok(report.phases.every((p) => p.result === 'Succeeded' && p.durationMs >= 0));
  assert.deepEqual(report.phases.map((p) => p.reason), names.map((n) => `${n}Succeeded`));
  assert.equal(events.filter((e) => e === 'phaseStarted').length, 7);
  assert.equal(report.outcome, 'Succeeded');
});

test('a Plan-mode run ends after Validate', async () => {
  const { ran, phases } = recording();
  await runPipeline([], client, options('Plan'), phases);
  assert.deepEqual(ran, ['Setup', 'Plan', 'Provenance', 'Validate']);
});

test('"done" stops the run successfully; "failed" stops it with the reason', async () => {
  const done = recording({ Plan: async () => ({ message: 'nothing to promote', stop: 'done' }) });
  const okReport = await runPipeline([], client, options(), done.phases);
  assert.deepEqual(done.ran, ['Setup', 'Plan']);
  assert.equal(okReport.outcome, 'Succeeded');

  const failed = recording({ Setup: async () => ({ message: 'bad options', stop: 'failed', reason: 'InvalidOptions' }) });
  const report = await runPipeline([], client, options(), failed.phases);
  assert.deepEqual(failed.ran, ['Setup']);
  assert.equal(report.outcome, 'Failed');
  assert.equal(report.reason, 'InvalidOptions');
  assert.equal(report.message, 'bad options');
});

test('a phase that throws fails the run with the phase\'s failure reason, or the error\'s own catalogue reason', async () => {
  const { phases } = recording({ Promote: async () => { throw new Error('disk full'); } });
  const report = await runPipeline([], client, options(), phases.map((p) => (p.name === 'Promote' ? { ...p, failure: 'PromoteFailed' } : p)));
  assert.equal(report.outcome, 'Failed');
  assert.equal(report.reason, 'PromoteFailed');
  assert.equal(report.message, 'disk full');
  assert.equal(report.phases.at(-1)!.result, 'Failed');
  assert.equal(report.phases.at(-1)!.reason, 'PromoteFailed');

  const trust = recording({ Setup: async () => { throw Object.assign(new Error('bad password'), { reason: 'WrongKeyPassword' }); } });
  assert.equal((await runPipeline([], client, options(), trust.phases)).reason, 'WrongKeyPassword');
  const unknown = recording({ Setup: async () => { throw Object.assign(new Error('odd'), { reason: 'NotInTheCatalogue' }); } });
  assert.equal((await runPipeline([], client, options(), unknown.phases)).reason, 'RunFailed', 'a reason outside the catalogue is not passed on');
});

test('a phase that skips is Skipped with its own reason; keepGoing failures let later phases run', async () => {
  const { ran, phases } = recording({
    Validate: async () => ({ message: 'no policy', skipped: true }),
    Promote: async () => ({ message: 'all copies failed', stop: 'failed', reason: 'PromoteFailed', keepGoing: true }),
  });
  const report = await runPipeline([], client, options(), phases);
  assert.deepEqual(ran, names);
  assert.equal(report.phases.find((p) => p.name === 'Validate')!.reason, 'ValidateSkipped');
  assert.equal(report.outcome, 'Failed');
  assert.equal(report.reason, 'PromoteFailed');
});

test('an aborted signal stops the run between phases', async () => {
  const controller = new AbortController();
  const { ran, phases } = recording({ Plan: async () => { controller.abort(new Error('stop now')); return { message: 'planned' }; } });
  await assert.rejects(runPipeline([], client, options('Promote', { signal: controller.signal }), phases), /stop now/);
  assert.deepEqual(ran, ['Setup', 'Plan']);
});

test('forEachLimitBy bounds work per key, not overall', async () => {
  const open = new Map<string, number>();
  let peakPerKey = 0;
  let peakOverall = 0;
  const items = ['a', 'b', 'c'].flatMap((key) => Array.from({ length: 6 }, () => key));
  await forEachLimitBy(items, (k) => k, 2, async (key) => {
    open.set(key, (open.get(key) ?? 0) + 1);
    peakPerKey = Math.max(peakPerKey, open.get(key)!);
    peakOverall = Math.max(peakOverall, [...open.values()].reduce((a, b) => a + b, 0));
    await new Promise((r) => setImmediate(r));
    open.set(key, open.get(key)! - 1);
  });
  assert.equal(peakPerKey, 2);
  assert.equal(peakOverall, 6, 'three keys, two each, side by side');
});
