// A SignatureReplication's status, rendered from its run's report as pure functions (as
// conditions.ts does for PromotionManifests, with the same kstatus rules and the same
// catalogue deciding Stalled), and written conflict-safe on the status subresource.
//
// The writer is status.ts's loop for the other kind: read, compute from what is stored, merge
// patch carrying the resourceVersion read, start over on 409. (status.ts's StatusWriter names
// PromotionManifests' plural; once it takes the plural, this one can go.)
import { PatchStrategy, setHeaderOptions, type CustomObjectsApi } from '@kubernetes/client-node';
import type { Condition } from '../api/promotion-manifest.ts';
import { isTerminal } from '../api/reasons.ts';
import { group, replicationLimits, replicationNames, version, type SignatureReplicationStatus } from '../api/signature-replication.ts';
import type { ReplicationCounts, ReplicationReport, ReplicationStep } from '../replication/index.ts';
import type { Logger } from '../observability/logger.ts';
import { setCondition } from './conditions.ts';
import { apiMessage, isConflict, isNotFound, type ObjectMeta } from './kube.ts';
import { withRemovals } from './status.ts';

export type ReplicationStatus = SignatureReplicationStatus;
type NewCondition = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

export interface StoredReplication {
  metadata: ObjectMeta;
  spec?: unknown;
  status?: ReplicationStatus;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class ReplicationStatusWriter {
  readonly #custom: Pick<CustomObjectsApi, 'getNamespacedCustomObjectStatus' | 'patchNamespacedCustomObjectStatus'>;
  readonly #logger: Logger;
  readonly #maxAttempts: number;

  constructor(custom: Pick<CustomObjectsApi, 'getNamespacedCustomObjectStatus' | 'patchNamespacedCustomObjectStatus'>, logger: Logger, maxAttempts = 8) {
    this.#custom = custom;
    this.#logger = logger;
    this.#maxAttempts = maxAttempts;
  }

  /** Writes compute(stored); undefined writes nothing. A deleted object is not an error. */
  async update(namespace: string, name: string, compute: (stored: StoredReplication) => ReplicationStatus | undefined): Promise<boolean> {
    const ref = { group, version, plural: replicationNames.plural, namespace, name };
    for (let attempt = 1; ; attempt++) {
      let stored: StoredReplication;
      try {
        stored = (await this.#custom.getNamespacedCustomObjectStatus(ref)) as StoredReplication;
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
      const status = compute(stored);
      if (!status) return false;
      try {
        const body = { metadata: { resourceVersion: stored.metadata.resourceVersion }, status: withRemovals(stored.status as never, status as never) };
        await this.#custom.patchNamespacedCustomObjectStatus({ ...ref, body }, mergePatch);
        return true;
      } catch (error) {
        if (isNotFound(error)) return false;
        if (!isConflict(error) || attempt >= this.#maxAttempts) throw error;
        this.#logger.debug({ namespace, name, attempt, err: apiMessage(error) }, 'status write conflicted; re-reading');
      }
    }
  }
}

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** Ready, and Stalled or Reconciling when they are True, for a finished run: the catalogue decides, as for PromotionManifests. */
export function replicationConditions(report: Pick<ReplicationReport, 'outcome' | 'reason' | 'message'>): { ready: NewCondition; stalled?: NewCondition; reconciling?: NewCondition } {
  const { reason, message } = report;
  if (report.outcome === 'Succeeded') return { ready: { type: 'Ready', status: 'True', reason, message } };
  const ready = { type: 'Ready', status: 'False' as const, reason, message };
  if (isTerminal(reason)) return { ready, stalled: { type: 'Stalled', status: 'True', reason, message } };
  return { ready, reconciling: { type: 'Reconciling', status: 'True', reason: 'ProgressingWithRetry', message: `${message}; retrying with backoff` } };
}

function withConditions(current: ReplicationStatus | undefined, next: NewCondition[], drop: string[], generation: number, now: Date): Condition[] {
  let conditions = (current?.conditions ?? []).filter((c) => !drop.includes(c.type)) as Condition[];
  for (const condition of next) conditions = setCondition(conditions, condition, generation, now);
  return conditions;
}

/** While a run goes on: Reconciling=True saying where it is, Ready=Unknown, the step and the running counts. */
export function replicationProgressStatus(current: ReplicationStatus | undefined, generation: number, progress: { step?: ReplicationStep; done: number; total: number; counts?: ReplicationCounts }, now: Date): ReplicationStatus {
  const where = progress.step ? `: ${progress.step} ${progress.done}/${progress.total}` : '';
  const conditions = withConditions(current, [
    { type: 'Reconciling', status: 'True', reason: 'Progressing', message: `replicating generation ${generation}${where}` },
    { type: 'Ready', status: 'Unknown', reason: 'Progressing', message: 'replication in progress' },
  ], ['Stalled'], generation, now);
  const status: ReplicationStatus = { ...current, observedGeneration: generation, conditions };
  if (progress.step) status.progress = { step: progress.step, done: progress.done, total: progress.total };
  if (progress.counts) status.counts = { ...progress.counts };
  return status;
}

/** At the end of a run: conditions, counts, lastRun, the first failures; the progress record goes. */
export function replicationFinishedStatus(current: ReplicationStatus | undefined, generation: number, report: ReplicationReport, run: { startedAt: Date; requestedAt: string | undefined }, now: Date): ReplicationStatus {
  const k = replicationConditions(report);
  const drop = [...(k.stalled ? [] : ['Stalled']), ...(k.reconciling ? [] : ['Reconciling'])];
  const conditions = withConditions(current, [k.ready, ...(k.stalled ? [k.stalled] : []), ...(k.reconciling ? [k.reconciling] : [])], drop, generation, now);
  const { progress: _running, counts: _counts, failures: _failures, ...rest } = current ?? {};
  const status: ReplicationStatus = {
    ...rest, observedGeneration: generation, conditions,
    lastRun: { startedAt: isoSeconds(run.startedAt), durationMs: report.durationMs, requests: report.requests },
  };
  if (run.requestedAt !== undefined) status.lastHandledReconcileAt = run.requestedAt;
  // A run that never listed anything has no counts: an earlier run's would describe another spec.
  if (report.steps.length > 0) status.counts = { ...report.counts };
  if (report.failures.length > 0) {
    status.failures = report.failures.slice(0, replicationLimits.statusFailures).map((f) => ({
      mirror: clip(f.repository, 512), digest: clip(f.digest, 80), reason: clip(f.reason, 128), ...(f.message && { message: clip(f.message, 1024) }),
    }));
  }
  return status;
}

/** Suspended, as for PromotionManifests: the last verdict kept, the generation acknowledged, Reconciling gone. */
export function replicationSuspendedStatus(current: ReplicationStatus | undefined, generation: number, now: Date): ReplicationStatus {
  const conditions = (current?.conditions ?? []).filter((c) => c.type !== 'Reconciling').map((c) => ({ ...c, observedGeneration: generation })) as Condition[];
  if (!conditions.some((c) => c.type === 'Ready')) {
    return { ...current, observedGeneration: generation, conditions: setCondition(conditions, { type: 'Ready', status: 'Unknown', reason: 'Suspended', message: 'suspended before its first run; nothing runs until spec.suspend is false' }, generation, now) };
  }
  return { ...current, observedGeneration: generation, conditions };
}

function isoSeconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}
