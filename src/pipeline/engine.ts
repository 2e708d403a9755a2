// The engine: runs the phases in order with one context, times each, stops early when a phase
// says so, ends a Plan-mode run after Validate, and builds the run's report once at the end
// (outcome.ts). The CLI and the controller both use it.
import { isReason, phaseNames, phaseReason, type Reason } from '../api/reasons.ts';
import { ImageCopier, type RegistryClient } from '../registry/index.ts';
import { Listings } from './listings.ts';
import { conclude, type RunFailure, type RunReport } from './outcome.ts';
import { attestPhase } from './phases/attest.ts';
import { planPhase } from './phases/plan.ts';
import { promotePhase } from './phases/promote.ts';
import { provenancePhase } from './phases/provenance.ts';
import { setupPhase } from './phases/setup.ts';
import { signPhase } from './phases/sign.ts';
import { validatePhase } from './phases/validate.ts';
import type { Edge, Phase, PhaseOutcome, PhaseResult, PipelineOptions, RunContext } from './types.ts';

export const defaultPhases: Phase[] = [setupPhase, planPhase, provenancePhase, validatePhase, promotePhase, signPhase, attestPhase];

/** The phases a run of this mode goes through, in pipeline order: a Plan run ends after Validate. */
function phasesFor(phases: Phase[], mode: PipelineOptions['mode']): Phase[] {
  const last = mode === 'Plan' ? phaseNames.indexOf('Validate') : phaseNames.length - 1;
  return [...phases]
    .sort((a, b) => phaseNames.indexOf(a.name) - phaseNames.indexOf(b.name))
    .filter((p) => phaseNames.indexOf(p.name) <= last);
}

/**
 * Whether a run that Plan found complete still has work: with signing configured, Sign and
 * Attest repair digests an earlier run promoted but (after a crash) left unsigned, as far as
 * Plan's lists and the inventory's marks tell (attachments.ts).
 */
function repairPending(ctx: RunContext): boolean {
  return ctx.options.mode === 'Promote' && ctx.options.trust?.signing !== undefined && ctx.attachmentsDue.size > 0;
}

/** A thrown error's own catalogue reason (TrustError, RegistryError, ...), else the phase's. */
function reasonOf(error: unknown, fallback: Reason): Reason {
  const reason = (error as { reason?: unknown } | null)?.reason;
  return isReason(reason) ? reason : fallback;
}

async function runPhase(phase: Phase, ctx: RunContext): Promise<{ outcome: PhaseOutcome; result: PhaseResult }> {
  ctx.emit({ type: 'phaseStarted', phase: phase.name });
  const started = performance.now();
  let outcome: PhaseOutcome;
  try {
    outcome = await phase.run(ctx);
  } catch (error) {
    ctx.signal.throwIfAborted();
    outcome = { message: (error as Error).message, stop: 'failed', reason: reasonOf(error, phase.failure) };
  }
  if (outcome.stop === 'done' && phase.name === 'Plan' && repairPending(ctx)) {
    outcome = { ...outcome, stop: undefined, message: `${outcome.message}; checking signatures and attestations` };
  }
  const failed = outcome.stop === 'failed';
  const result: PhaseResult = {
    name: phase.name,
    result: failed ? 'Failed' : outcome.skipped ? 'Skipped' : 'Succeeded',
    reason: failed ? outcome.reason ?? phase.failure : phaseReason(phase.name, outcome.skipped ? 'Skipped' : 'Succeeded'),
    durationMs: Math.round(performance.now() - started),
    message: outcome.message,
  };
  ctx.emit({ type: 'phaseFinished', phase: result });
  return { outcome, result };
}

export async function runPipeline(edges: readonly Edge[], client: RegistryClient, options: PipelineOptions, phases: Phase[] = defaultPhases): Promise<RunReport> {
  const signal = options.signal ?? new AbortController().signal;
  const ctx: RunContext = {
    edges, options, client, signal, outcomes: [], destinationTags: new Map(), inProduction: [], attestations: [],
    listings: new Listings(), attachmentsDue: new Set(), unfinished: new Set(),
    copier: new ImageCopier(client, { onBytes: (bytes) => options.onEvent?.({ type: 'bytes', bytes }) }),
    emit: (event) => options.onEvent?.(event),
  };
  const results: PhaseResult[] = [];
  let failure: RunFailure | undefined;
  for (const phase of phasesFor(phases, options.mode)) {
    signal.throwIfAborted();
    const { outcome, result } = await runPhase(phase, ctx);
    results.push(result);
    if (outcome.stop === 'failed') failure ??= { reason: result.reason, message: outcome.message };
    if (outcome.stop && !(outcome.stop === 'failed' && outcome.keepGoing)) break;
  }
  return conclude(options.mode, results, ctx.outcomes, ctx.attestations, failure);
}
