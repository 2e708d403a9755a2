// The engine: runs the phases in order with one context, times each, stops early when a phase
// says so, and ends a Plan-mode run after Validate. The CLI and the controller both use it.
import { ImageCopier, type RegistryClient } from '../registry/index.ts';
import { attestPhase } from './phases/attest.ts';
import { planPhase } from './phases/plan.ts';
import { promotePhase } from './phases/promote.ts';
import { provenancePhase } from './phases/provenance.ts';
import { setupPhase } from './phases/setup.ts';
import { signPhase } from './phases/sign.ts';
import { validatePhase } from './phases/validate.ts';
import type { AttestationRef, Edge, EdgeResult, Phase, PhaseOutcome, PhaseResult, PipelineOptions, PlannedEdge, RunContext } from './types.ts';
import { phaseOrder } from './types.ts';

export const defaultPhases: Phase[] = [
  setupPhase,
  planPhase,
  provenancePhase,
  validatePhase,
  promotePhase,
  signPhase,
  attestPhase,
];

/**
 * Whether a run that Plan found complete still has work: with signing configured, Sign and
 * Attest repair digests an earlier run promoted but (after a crash) left unsigned.
 */
function repairPending(ctx: RunContext): boolean {
  const trust = ctx.options.trust;
  return ctx.options.mode === 'Promote' && trust?.signing !== undefined && ctx.plan.some((e) => e.state === 'present');
}

export interface RunSummary {
  planned: number;
  promoted: number;
  alreadyPresent: number;
  lost: number;
  tagMoves: number;
  failed: number;
  /** Edges refused because verification failed under an Enforce policy; only set when there are some. */
  unverified?: number;
}

export interface RunReport {
  outcome: 'Succeeded' | 'Refused' | 'Failed';
  /** Stable reason of a failed run. */
  reason?: string;
  message: string;
  mode: PipelineOptions['mode'];
  phases: PhaseResult[];
  plan: PlannedEdge[];
  results: EdgeResult[];
  attestations: AttestationRef[];
  summary: RunSummary;
}

export async function runPipeline(
  edges: Edge[],
  client: RegistryClient,
  options: PipelineOptions,
  phases: Phase[] = defaultPhases,
): Promise<RunReport> {
  const signal = options.signal ?? new AbortController().signal;
  const ctx: RunContext = {
    edges, options, client, signal, plan: [], results: [], attestations: [],
    copier: new ImageCopier(client, { onBytes: (bytes) => options.onEvent?.({ type: 'bytes', bytes }) }),
    emit: (event) => options.onEvent?.(event),
  };
  const results: PhaseResult[] = [];
  let failure: { reason: string; message: string } | undefined;
  const ordered = [...phases].sort((a, b) => phaseOrder.indexOf(a.name) - phaseOrder.indexOf(b.name));
  for (const phase of ordered) {
    signal.throwIfAborted();
    if (options.mode === 'Plan' && phaseOrder.indexOf(phase.name) > phaseOrder.indexOf('Validate')) break;
    ctx.emit({ type: 'phaseStarted', phase: phase.name });
    const started = performance.now();
    let outcome: PhaseOutcome;
    try {
      outcome = await phase.run(ctx);
    } catch (error) {
      signal.throwIfAborted();
      // Errors that carry a stable reason (TrustError, RegistryError) keep it.
      const reason = (error as { reason?: unknown }).reason;
      outcome = { message: (error as Error).message, stop: 'failed' as const, reason: typeof reason === 'string' ? reason : `${phase.name}Failed` };
    }
    if (outcome.stop === 'done' && phase.name === 'Plan' && repairPending(ctx)) {
      outcome = { ...outcome, stop: undefined, message: `${outcome.message}; checking signatures and attestations` };
    }
    const result: PhaseResult = {
      name: phase.name, result: outcome.stop === 'failed' ? 'Failed' : outcome.skipped ? 'Skipped' : 'Succeeded',
      durationMs: Math.round(performance.now() - started), message: outcome.message,
    };
    results.push(result);
    ctx.emit({ type: 'phaseFinished', phase: result });
    if (outcome.stop === 'failed') failure ??= { reason: outcome.reason ?? `${phase.name}Failed`, message: outcome.message };
    if (outcome.stop && !(outcome.stop === 'failed' && outcome.keepGoing)) break;
  }
  return report(ctx, options.mode, results, failure);
}

function report(ctx: RunContext, mode: PipelineOptions['mode'], phases: PhaseResult[], failure?: { reason: string; message: string }): RunReport {
  const count = (state: PlannedEdge['state']) => ctx.plan.filter((e) => e.state === state).length;
  const summary: RunSummary = {
    planned: ctx.plan.length,
    promoted: ctx.results.filter((r) => r.outcome === 'promoted').length,
    alreadyPresent: count('present'),
    lost: count('lost'),
    tagMoves: count('tagMove') + ctx.results.filter((r) => r.outcome === 'refused').length,
    failed: count('failed') + ctx.results.filter((r) => r.outcome === 'failed').length,
  };
  const unverified = count('unverified');
  if (unverified > 0) summary.unverified = unverified;
  let outcome: RunReport['outcome'] = 'Succeeded';
  if (failure || summary.failed > 0) outcome = 'Failed';
  else if (summary.lost > 0 || summary.tagMoves > 0 || unverified > 0) outcome = 'Refused';
  const message = failure?.message ?? phases.map((p) => `${p.name}: ${p.message}`).at(-1) ?? '';
  return {
    outcome, ...(failure && { reason: failure.reason }), message, mode, phases, plan: ctx.plan, results: ctx.results, attestations: ctx.attestations, summary,
  };
}
