// The status a run writes, rendered from the run's report, as pure functions of the previous
// status and the report, so the kstatus rules are tested without a cluster:
// - Reconciling=True while a run is going on (and while a failed run waits for its retry);
// - Stalled=True, with Ready=False and the same reason, when the report's reason is terminal in
//   the catalogue (src/api/reasons.ts): retrying will not help until something changes;
// - Ready=True when the last run did everything; abnormal-true conditions are removed then.
// lastTransitionTime changes only when a condition's status does.
import { limits, type Condition, type PromotionManifestStatus } from '../api/promotion-manifest.ts';
import { isTerminal, phaseNames } from '../api/reasons.ts';
import { formatReference } from '../api/reference.ts';
import { problemEdges, type RunReport } from '../pipeline/index.ts';
import { failureLines, inventoryOf, lastPromoted, type Progress, type RunFacts } from './inventory.ts';

export type Status = PromotionManifestStatus;

const kstatusTypes = ['Ready', 'Reconciling', 'Stalled'];
const phaseTypes: readonly string[] = phaseNames;

type NewCondition = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** Sets one condition, keeping lastTransitionTime when its status did not change. */
export function setCondition(conditions: Condition[], next: NewCondition, generation: number, now: Date): Condition[] {
  const previous = conditions.find((c) => c.type === next.type);
  const lastTransitionTime = previous && previous.status === next.status ? previous.lastTransitionTime : isoSeconds(now);
  const condition: Condition = { ...next, message: clip(next.message, 32768), observedGeneration: generation, lastTransitionTime };
  return sortConditions([...conditions.filter((c) => c.type !== next.type), condition]);
}

function removeCondition(conditions: Condition[], type: string): Condition[] {
  return conditions.filter((c) => c.type !== type);
}

function findCondition(status: Status | undefined, type: string): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

function sortConditions(conditions: Condition[]): Condition[] {
  const rank = (type: string) => {
    const k = kstatusTypes.indexOf(type);
    if (k >= 0) return k;
    const p = phaseTypes.indexOf(type);
    return p >= 0 ? 10 + p : 100;
  };
  return conditions.sort((a, b) => rank(a.type) - rank(b.type) || a.type.localeCompare(b.type));
}

/** At the start of a run: Reconciling=True, Ready=Unknown, observedGeneration current. */
export function startedStatus(current: Status | undefined, generation: number, mode: string, now: Date): Status {
  let conditions = current?.conditions ?? [];
  conditions = setCondition(conditions, { type: 'Reconciling', status: 'True', reason: 'Progressing', message: `running generation ${generation} (${mode})` }, generation, now);
  conditions = setCondition(conditions, { type: 'Ready', status: 'Unknown', reason: 'Progressing', message: 'reconciliation in progress' }, generation, now);
  conditions = removeCondition(conditions, 'Stalled');
  return { ...current, observedGeneration: generation, conditions };
}

/** Ready, and Stalled or Reconciling when they are True, for a finished run. */
export interface KstatusConditions {
  ready: NewCondition;
  stalled?: NewCondition;
  /** Reconciling stays True: the run failed and will be retried. */
  reconciling?: NewCondition;
}

export function kstatusConditions(report: RunReport): KstatusConditions {
  const { reason, message } = report;
  if (report.outcome === 'Succeeded') return { ready: { type: 'Ready', status: 'True', reason, message } };
  const ready = { type: 'Ready', status: 'False' as const, reason, message };
  if (isTerminal(reason)) return { ready, stalled: { type: 'Stalled', status: 'True', reason, message } };
  return { ready, reconciling: { type: 'Reconciling', status: 'True', reason: 'ProgressingWithRetry', message: `${message}; retrying with backoff` } };
}

/** One condition per phase of the run, keeping lastTransitionTime where the status held. */
function phaseConditions(current: Status | undefined, conditions: Condition[], report: RunReport, generation: number, now: Date): Condition[] {
  let next = conditions.filter((c) => !phaseTypes.includes(c.type));
  for (const phase of report.phases) {
    const status = phase.result === 'Succeeded' ? 'True' : phase.result === 'Failed' ? 'False' : 'Unknown';
    next = setCondition(next, { type: phase.name, status, reason: phase.reason, message: phase.message }, generation, now);
    const before = findCondition(current, phase.name);
    const after = next.find((c) => c.type === phase.name)!;
    if (before && before.status === status) after.lastTransitionTime = before.lastTransitionTime;
  }
  return next;
}

/** At the end of a run: the kstatus conditions, counts, phase conditions and capped lists. */
export function finishedStatus(current: Status | undefined, generation: number, report: RunReport, now: Date, requestedAt?: string, facts?: RunFacts): Status {
  const k = kstatusConditions(report);
  let conditions = setCondition(current?.conditions ?? [], k.ready, generation, now);
  conditions = k.stalled ? setCondition(conditions, k.stalled, generation, now) : removeCondition(conditions, 'Stalled');
  conditions = k.reconciling ? setCondition(conditions, k.reconciling, generation, now) : removeCondition(conditions, 'Reconciling');
  // A run that never planned has no phases: those of an earlier run would describe another spec.
  conditions = phaseConditions(current, conditions, report, generation, now);
  const { progress: _running, ...rest } = current ?? {};
  const status: Status = { ...rest, observedGeneration: generation, conditions };
  if (requestedAt !== undefined) status.lastHandledReconcileAt = requestedAt;
  const promoted = lastPromoted(current, report, facts);
  if (promoted) status.lastPromoted = promoted;
  if (report.phases.length === 0) {
    // Nothing was read: what production holds is unknown now, and the last run's counts are not
    // this spec's (the FAILED column must not show an old run's count while Stalled).
    delete status.inventory;
    delete status.failures;
    return status;
  }
  const s = report.summary;
  status.counts = { planned: s.planned, promoted: s.promoted, alreadyPresent: s.alreadyPresent, lost: s.lost, failed: s.failed, tagMoves: s.tagMoves };
  status.inventory = inventoryOf(report, facts?.refusedEntries);
  status.phases = report.phases.slice(0, limits.statusPhases).map((p) => ({ name: p.name, result: p.result, durationMs: p.durationMs, message: clip(p.message, 1024) }));
  status.failedImages = failedImages(report);
  status.failures = failureLines(report);
  status.attestations = report.attestations.slice(0, limits.statusAttestations).map((a) => ({ digest: a.digest, ref: clip(a.ref, 512) }));
  return status;
}

/**
 * Suspended, as Flux's helm-controller: the conditions keep their status, reason and message
 * (the last run's verdict), the generation is acknowledged so kstatus and `kubectl wait` see an
 * observed object, and Reconciling is removed since nothing runs. The progress record of an
 * interrupted run stays for the run after the resume.
 */
export function suspendedStatus(current: Status | undefined, generation: number, now: Date): Status {
  const conditions = (current?.conditions ?? []).filter((c) => c.type !== 'Reconciling').map((c) => ({ ...c, observedGeneration: generation }));
  if (!conditions.some((c) => c.type === 'Ready')) {
    return { ...current, observedGeneration: generation, conditions: setCondition(conditions, { type: 'Ready', status: 'Unknown', reason: 'Suspended', message: 'suspended before its first run; nothing runs until spec.suspend is false' }, generation, now) };
  }
  return { ...current, observedGeneration: generation, conditions };
}

/** While a run goes on: Reconciling=True with the phase and edges done, and the progress record. */
export function progressStatus(current: Status | undefined, generation: number, mode: string, progress: Progress, now: Date): Status {
  const status = startedStatus(current, generation, mode, now);
  const where = progress.phase ? `: ${progress.phase}${progress.total ? ` ${progress.done ?? 0}/${progress.total} edges` : ''}` : '';
  status.conditions = setCondition(status.conditions ?? [], { type: 'Reconciling', status: 'True', reason: 'Progressing', message: `running generation ${generation} (${mode})${where}` }, generation, now);
  return { ...status, progress };
}

/** Failed, refused and lost edges, the first limits.statusFailedImages of them, in plan order. */
export function failedImages(report: RunReport): NonNullable<Status['failedImages']> {
  return problemEdges(report).slice(0, limits.statusFailedImages).map(({ edge, reason, detail }) => ({
    image: clip(formatReference({ ...edge.dst, digest: edge.digest }), 512),
    digest: edge.digest,
    reason: clip(reason!, 128),
    message: clip(detail ?? '', 1024),
  }));
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function isoSeconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}
