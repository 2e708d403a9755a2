// The status a run writes, as pure functions of the previous status and what happened, so
// the kstatus rules are tested without a cluster:
// - Reconciling=True while a run is going on (and while a failed run waits for its retry);
// - Stalled=True only for what retrying will not fix (invalid spec, missing Secret, refused
//   tag moves, lost digests), with Ready=False and the same reason;
// - Ready=True when the last run did everything; abnormal-true conditions are removed then.
// lastTransitionTime changes only when a condition's status does.
import { limits, type Condition, type PromotionManifestStatus } from '../api/promotion-manifest.ts';
import type { RunReport } from '../pipeline/index.ts';
import { formatReference } from '../registry/index.ts';

export type Status = PromotionManifestStatus;

/** What ended a run, as the reconciler saw it. */
export type RunOutcome =
  | { kind: 'stalled'; reason: string; message: string }
  | { kind: 'failed'; reason: string; message: string }
  | { kind: 'report'; report: RunReport };

export const phaseTypes = ['Setup', 'Plan', 'Provenance', 'Validate', 'Promote', 'Sign', 'Attest'];
const kstatusTypes = ['Ready', 'Reconciling', 'Stalled'];
/** Run reasons that a retry will not change: the spec or the policy must change first. */
// Failures retrying cannot mend: they wait for a change to the spec or to a watched Secret.
const terminalReasons = new Set([
  'InvalidOptions', 'InvalidSpec', 'SignatureVerificationFailed', 'ProvenanceVerificationFailed', 'PolicyViolation',
  'KeylessNeedsTrustedRoot', 'WrongKeyPassword', 'InvalidKey', 'InvalidTrustedRoot',
]);

type NewCondition = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** Sets one condition, keeping lastTransitionTime when its status did not change. */
export function setCondition(conditions: Condition[], next: NewCondition, generation: number, now: Date): Condition[] {
  const previous = conditions.find((c) => c.type === next.type);
  const lastTransitionTime = previous && previous.status === next.status ? previous.lastTransitionTime : isoSeconds(now);
  const condition: Condition = { ...next, message: clip(next.message, 32768), observedGeneration: generation, lastTransitionTime };
  return sortConditions([...conditions.filter((c) => c.type !== next.type), condition]);
}

export function removeCondition(conditions: Condition[], type: string): Condition[] {
  return conditions.filter((c) => c.type !== type);
}

export function findCondition(status: Status | undefined, type: string): Condition | undefined {
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

export interface Verdict {
  ready: NewCondition;
  stalled?: NewCondition;
  /** Reconciling stays True: the run failed and will be retried. */
  retrying?: NewCondition;
}

/** What the run's outcome means for Ready, Stalled and Reconciling. */
export function verdict(outcome: RunOutcome): Verdict {
  if (outcome.kind === 'stalled') {
    const c = { status: 'False' as const, reason: outcome.reason, message: outcome.message };
    return { ready: { type: 'Ready', ...c }, stalled: { type: 'Stalled', ...c, status: 'True' } };
  }
  if (outcome.kind === 'failed') {
    return {
      ready: { type: 'Ready', status: 'False', reason: outcome.reason, message: outcome.message },
      retrying: { type: 'Reconciling', status: 'True', reason: 'ProgressingWithRetry', message: `${outcome.message}; retrying with backoff` },
    };
  }
  const { report } = outcome;
  const s = report.summary;
  if (report.outcome === 'Failed') {
    const reason = report.reason ?? 'ImagesFailed';
    const message = report.reason ? report.message : `${s.failed} of ${s.planned} edges failed (${firstFailures(report)}); the others are done`;
    if (terminalReasons.has(reason)) return verdict({ kind: 'stalled', reason, message });
    return verdict({ kind: 'failed', reason, message });
  }
  if (report.outcome === 'Refused') {
    const tagMoves = report.plan.filter((e) => e.state === 'tagMove');
    if (s.tagMoves > 0) {
      const first = tagMoves.slice(0, 3).map((e) => `${formatReference({ ...e.dst, tag: e.conflicts?.[0]?.tag ?? e.tags[0] ?? '' })} points at ${e.conflicts?.[0]?.digest.slice(0, 19) ?? 'another digest'}`).join('; ');
      return verdict({ kind: 'stalled', reason: 'TagMoveRefused', message: `${s.tagMoves} production tag(s) already point at another digest and are never moved: ${first}; fix the dmap or the registry` });
    }
    if (s.lost === 0) {
      const unverified = report.plan.filter((e) => (e.state as string) === 'unverified');
      const first = unverified.slice(0, 3).map((e) => `${e.src.host}/${e.src.name}@${e.digest.slice(0, 19)}: ${e.reason ?? 'verification failed'}`).join('; ');
      return verdict({ kind: 'stalled', reason: 'VerificationFailed', message: `${unverified.length} digest(s) failed signature or provenance verification under an Enforce policy: ${first}; sign them or change spec.verification` });
    }
    const lost = report.plan.filter((e) => e.state === 'lost').slice(0, 3).map((e) => `${e.src.host}/${e.src.name}@${e.digest.slice(0, 19)}`).join(', ');
    return verdict({ kind: 'stalled', reason: 'DigestNotFound', message: `${s.lost} source digest(s) do not exist in the staging registry: ${lost}; push them or remove them from the dmap` });
  }
  if (report.mode === 'Plan') {
    const toPromote = report.plan.filter((e) => e.state === 'promote').length;
    return { ready: { type: 'Ready', status: 'True', reason: 'Planned', message: `plan: ${toPromote} to promote, ${s.alreadyPresent} already present (mode Plan writes nothing)` } };
  }
  return { ready: { type: 'Ready', status: 'True', reason: 'Succeeded', message: `${s.planned} edges: ${s.promoted} promoted, ${s.alreadyPresent} already present` } };
}

function firstFailures(report: RunReport): string {
  const failed = report.results.filter((r) => r.outcome === 'failed');
  const planFailed = report.plan.filter((e) => e.state === 'failed');
  const first = failed[0]?.error?.message ?? planFailed[0]?.reason ?? 'see events';
  return `first: ${clip(first, 300)}`;
}

/** At the end of a run: the verdict, counts, phase conditions and capped lists. */
export function finishedStatus(current: Status | undefined, generation: number, outcome: RunOutcome, now: Date, requestedAt?: string): Status {
  const v = verdict(outcome);
  let conditions = current?.conditions ?? [];
  conditions = setCondition(conditions, v.ready, generation, now);
  conditions = v.stalled ? setCondition(conditions, v.stalled, generation, now) : removeCondition(conditions, 'Stalled');
  conditions = v.retrying ? setCondition(conditions, v.retrying, generation, now) : removeCondition(conditions, 'Reconciling');
  const status: Status = { ...current, observedGeneration: generation, conditions };
  if (requestedAt !== undefined) status.lastHandledReconcileAt = requestedAt;
  if (outcome.kind !== 'report') {
    // The run never planned: phase conditions of an earlier run would describe another spec.
    status.conditions = conditions.filter((c) => !phaseTypes.includes(c.type));
    return status;
  }
  const { report } = outcome;
  for (const type of phaseTypes) conditions = removeCondition(conditions, type);
  for (const phase of report.phases) {
    const state = phase.result === 'Succeeded' ? 'True' : phase.result === 'Failed' ? 'False' : 'Unknown';
    conditions = setCondition(conditions, { type: phase.name, status: state, reason: `${phase.name}${phase.result}`, message: phase.message }, generation, now);
  }
  for (const type of phaseTypes) {
    const before = current?.conditions?.find((c) => c.type === type);
    const after = conditions.find((c) => c.type === type);
    if (before && after && before.status === after.status) after.lastTransitionTime = before.lastTransitionTime;
  }
  status.conditions = conditions;
  const s = report.summary;
  status.counts = { planned: s.planned, promoted: s.promoted, alreadyPresent: s.alreadyPresent, lost: s.lost, failed: s.failed, tagMoves: s.tagMoves };
  status.phases = report.phases.slice(0, limits.statusPhases).map((p) => ({ name: p.name, result: p.result, durationMs: p.durationMs, message: clip(p.message, 1024) }));
  status.failedImages = failedImages(report);
  status.attestations = report.attestations.slice(0, limits.statusAttestations).map((a) => ({ digest: a.digest, ref: clip(a.ref, 512) }));
  return status;
}

/** Failed, refused and lost edges, the first limits.statusFailedImages of them. */
export function failedImages(report: RunReport): NonNullable<Status['failedImages']> {
  const out: NonNullable<Status['failedImages']> = [];
  const push = (image: string, digest: string, reason: string, message: string) => {
    if (out.length < limits.statusFailedImages) out.push({ image: clip(image, 512), digest, reason: clip(reason, 128), message: clip(message, 1024) });
  };
  for (const r of report.results) {
    if (r.outcome === 'failed') push(formatReference({ ...r.edge.dst, digest: r.edge.digest }), r.edge.digest, r.error?.reason ?? 'CopyFailed', r.error?.message ?? 'copy failed');
  }
  for (const e of report.plan) {
    const image = formatReference({ ...e.dst, digest: e.digest });
    if (e.state === 'failed') push(image, e.digest, 'PlanFailed', e.reason ?? 'reading the destination failed');
    if (e.state === 'lost') push(image, e.digest, 'DigestNotFound', e.reason ?? 'the source digest does not exist');
    if ((e.state as string) === 'unverified') push(image, e.digest, 'VerificationFailed', e.reason ?? 'verification failed');
    if (e.state === 'tagMove') push(image, e.digest, 'TagMoveRefused', (e.conflicts ?? []).map((c) => `${c.tag} -> ${c.digest}`).join(', ') || 'a tag points at another digest');
  }
  return out;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function isoSeconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}
