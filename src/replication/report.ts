// The run's one outcome: counts, failures and changes in, a reason from the catalogue and a
// sentence a person can act on out. The CLI and the controller's status only render it.
import { isTerminal, type Reason } from '../api/reasons.ts';
import type { CoverageProblem } from './targets.ts';
import type { ReplicationChange, ReplicationCounts, ReplicationFailure, ReplicationReport, ReplicationStep } from './types.ts';

export function zeroCounts(): ReplicationCounts {
  return { digests: 0, unsigned: 0, signed: 0, mirrors: 0, inSync: 0, repaired: 0, artifacts: 0, notPromoted: 0, diverged: 0, failed: 0 };
}

export interface Finished {
  dryRun: boolean;
  counts: ReplicationCounts;
  steps: { name: ReplicationStep; durationMs: number; message: string }[];
  failures: ReplicationFailure[];
  changes: ReplicationChange[];
  problems: readonly CoverageProblem[];
  requests: number;
  durationMs: number;
}

export function summaryOf(c: ReplicationCounts, dryRun: boolean): string {
  const repaired = dryRun ? `${c.repaired} to repair (${c.artifacts} artifacts)` : `${c.repaired} repaired (${c.artifacts} artifacts written)`;
  return `${c.signed} of ${c.digests} digests carry signatures at the primary (${c.unsigned} unsigned: no mirror read); `
    + `${c.mirrors} mirror copies: ${c.inSync} in sync, ${repaired}, ${c.notPromoted} not promoted there, ${c.diverged} diverged, ${c.failed} failed`;
}

function verdict(f: Finished): { outcome: ReplicationReport['outcome']; reason: Reason; lead: string } {
  const { counts: c, failures, problems } = f;
  if (c.failed > 0) {
    const first = failures.find((x) => x.reason !== 'SignatureDiverged');
    return { outcome: 'Failed', reason: 'SignaturesNotReplicated', lead: `${c.failed} mirror copies could not be checked or repaired${first ? ` (first: ${first.repository}${first.digest ? `@${first.digest.slice(0, 19)}` : ''}: ${first.message})` : ''}; the next run retries` };
  }
  if (c.diverged > 0) {
    const first = failures.find((x) => x.reason === 'SignatureDiverged');
    return { outcome: 'Refused', reason: 'SignatureDiverged', lead: `${c.diverged} mirror tags hold signatures the primary lacks and were left as they are${first ? ` (first: ${first.message})` : ''}` };
  }
  const spec = problems.find((p) => p.reason !== 'NoManifestsCovered');
  if (spec) return { outcome: 'Refused', reason: spec.reason, lead: `${problems.length} covered manifests cannot be replicated (first: ${spec.message})` };
  if (problems.length > 0) return { outcome: 'Failed', reason: 'NoManifestsCovered', lead: problems[0]!.message };
  return { outcome: 'Succeeded', reason: f.dryRun ? 'ReplicationPlanned' : 'Replicated', lead: f.dryRun ? 'dry run, nothing written' : 'every mirror holds what the primary holds' };
}

export function finish(f: Finished): ReplicationReport {
  const { outcome, reason, lead } = verdict(f);
  return {
    outcome, reason, message: `${lead}: ${summaryOf(f.counts, f.dryRun)}`, dryRun: f.dryRun, counts: f.counts, steps: f.steps,
    failures: f.failures, changes: f.changes, requests: f.requests, durationMs: f.durationMs,
  };
}

/**
 * A run that could not start (an invalid spec, a timeout before the end): no steps, no counts.
 * Refused when the catalogue says retrying cannot help, Failed otherwise.
 */
export function notRun(reason: Reason, message: string, durationMs = 0): ReplicationReport {
  return {
    outcome: isTerminal(reason) ? 'Refused' : 'Failed', reason, message, dryRun: false, counts: zeroCounts(), steps: [],
    failures: [], changes: [], requests: 0, durationMs,
  };
}
