// The run's outcome as one typed value, computed once when the run ends: the edges' outcomes,
// the phases' results, the counts, and the run's reason (from the catalogue in
// src/api/reasons.ts) with a message a person can act on. The CLI, the controller's status,
// Events and metrics only render it; whether retrying can help is the catalogue's word on the
// reason (isTerminal), never decided again downstream.
import { isTerminal, type Reason } from '../api/reasons.ts';
import { formatReference, formatRepository } from '../api/reference.ts';
import type { AttestationRef, EdgeOutcome, EdgeState, PhaseResult, PipelineOptions } from './types.ts';

export interface RunSummary {
  /** Edges the manifests name. */
  planned: number;
  /** Edges still to promote when the run ended: in a Plan-mode run, what a Promote run would copy. */
  toPromote: number;
  promoted: number;
  alreadyPresent: number;
  lost: number;
  tagMoves: number;
  failed: number;
  /** Edges refused because verification failed under an Enforce policy. */
  unverified: number;
}

export interface RunReport {
  mode: PipelineOptions['mode'];
  /**
   * Succeeded: every edge is where the manifests say (or would be, in a Plan run); Refused: the
   * rest is done, but edges were refused and the manifests or registries must change; Failed:
   * something went wrong (or the run could not start).
   */
  outcome: 'Succeeded' | 'Refused' | 'Failed';
  /** Why, from the catalogue: Succeeded, Planned, TagMoveRefused, ImagesFailed, ... */
  reason: Reason;
  /** One line for a person: what happened and what to do. */
  message: string;
  phases: PhaseResult[];
  /** One per edge, in the order of the edges given to the run; empty when the run never planned. */
  edges: EdgeOutcome[];
  attestations: AttestationRef[];
  summary: RunSummary;
}

/** Whether retrying the run can help: false means the resource is Stalled until something changes. */
export function isRetryable(report: RunReport): boolean {
  return report.outcome !== 'Succeeded' && !isTerminal(report.reason);
}

/** Failed edges of one registry host that failed for one reason: 40 identical failures are one line. */
export interface FailureGroup {
  /** The registry host whose read or write failed (the source's for a failed source read). */
  host: string;
  reason: Reason;
  edges: number;
  /** The first such edge's detail. */
  example: string;
}

/** Failed edges rolled up per registry host and reason, largest group first. */
export function failureGroups(edges: readonly EdgeOutcome[]): FailureGroup[] {
  const groups = new Map<string, FailureGroup>();
  for (const e of edges) {
    if (e.state !== 'failed' || e.reason === undefined) continue;
    const host = e.detail?.startsWith('reading the source') ? e.edge.src.host : e.edge.dst.host;
    const key = JSON.stringify([host, e.reason]);
    const group = groups.get(key);
    if (group) group.edges += 1;
    else groups.set(key, { host, reason: e.reason, edges: 1, example: e.detail ?? e.reason });
  }
  return [...groups.values()].sort((a, b) => b.edges - a.edges);
}

/** `host: Reason (N edges): example; ...`, at most `max` groups. */
export function describeFailureGroups(groups: readonly FailureGroup[], max = 3): string {
  const shown = groups.slice(0, max).map((g) => `${g.host}: ${g.reason} (${g.edges} edge${g.edges === 1 ? '' : 's'}): ${clip(g.example, 200)}`);
  const rest = groups.length - shown.length;
  return `${shown.join('; ')}${rest > 0 ? `; and ${rest} more registr${rest === 1 ? 'y' : 'ies'}` : ''}`;
}

/** Edges that did not end promoted or present, i.e. those with a reason. */
export function problemEdges(report: RunReport): EdgeOutcome[] {
  return report.edges.filter((e) => e.reason !== undefined);
}

function summarise(edges: readonly EdgeOutcome[]): RunSummary {
  const counts: Record<EdgeState, number> = { promote: 0, promoted: 0, present: 0, lost: 0, tagMove: 0, unverified: 0, failed: 0 };
  for (const edge of edges) counts[edge.state] += 1;
  return {
    planned: edges.length, toPromote: counts.promote, promoted: counts.promoted, alreadyPresent: counts.present,
    lost: counts.lost, tagMoves: counts.tagMove, failed: counts.failed, unverified: counts.unverified,
  };
}

/** A phase that stopped the run as failed. */
export interface RunFailure {
  reason: Reason;
  message: string;
}

/** The report of a run that went through the engine. */
export function conclude(
  mode: PipelineOptions['mode'], phases: PhaseResult[], edges: EdgeOutcome[], attestations: AttestationRef[], failure?: RunFailure,
): RunReport {
  const summary = summarise(edges);
  const { outcome, reason, message } = failure ? { outcome: 'Failed' as const, ...failure } : verdictOf(mode, edges, summary);
  return { mode, outcome, reason, message, phases, edges, attestations, summary };
}

/** The report of a run that could not start (an invalid spec, a missing Secret, a timeout). */
export function notRun(mode: PipelineOptions['mode'], reason: Reason, message: string): RunReport {
  return { mode, outcome: 'Failed', reason, message, phases: [], edges: [], attestations: [], summary: summarise([]) };
}

const short = (digest: string) => digest.slice(0, 19);

/** The first three edges in a state, described, for a message. */
function first(edges: EdgeOutcome[], state: EdgeState, describe: (e: EdgeOutcome) => string, separator = '; '): string {
  const found: string[] = [];
  for (const edge of edges) {
    if (edge.state !== state) continue;
    found.push(describe(edge));
    if (found.length === 3) break;
  }
  return found.join(separator);
}

/** The run's reason and message from its edges, when no phase failed it. */
function verdictOf(mode: PipelineOptions['mode'], edges: EdgeOutcome[], s: RunSummary): Omit<RunReport, 'mode' | 'phases' | 'edges' | 'attestations' | 'summary'> {
  if (s.failed > 0) {
    const others = s.failed === s.planned ? '' : '; the others are done';
    return { outcome: 'Failed', reason: 'ImagesFailed', message: `${s.failed} of ${s.planned} edges failed: ${describeFailureGroups(failureGroups(edges))}${others}` };
  }
  if (s.tagMoves > 0) {
    const moves = first(edges, 'tagMove', (e) => (e.conflicts?.[0]
      ? `${formatReference({ ...e.edge.dst, tag: e.conflicts[0].tag })} points at ${short(e.conflicts[0].digest)}`
      : e.detail ?? formatRepository(e.edge.dst)));
    return { outcome: 'Refused', reason: 'TagMoveRefused', message: `${s.tagMoves} production tag(s) already point at another digest and are never moved: ${moves}; fix the dmap or the registry` };
  }
  if (s.lost > 0) {
    const lost = first(edges, 'lost', (e) => formatReference({ ...e.edge.src, digest: short(e.edge.digest) }), ', ');
    return { outcome: 'Refused', reason: 'DigestNotFound', message: `${s.lost} source digest(s) do not exist in the staging registry: ${lost}; push them or remove them from the dmap` };
  }
  if (s.unverified > 0) {
    const refused = first(edges, 'unverified', (e) => `${formatReference({ ...e.edge.src, digest: short(e.edge.digest) })}: ${e.reason}: ${e.detail}`);
    return { outcome: 'Refused', reason: 'VerificationFailed', message: `${s.unverified} digest(s) failed signature or provenance verification under an Enforce policy: ${refused}; sign them or change spec.verification` };
  }
  if (mode === 'Plan') {
    return { outcome: 'Succeeded', reason: 'Planned', message: `plan: ${s.toPromote} to promote, ${s.alreadyPresent} already present (mode Plan writes nothing)` };
  }
  return { outcome: 'Succeeded', reason: 'Succeeded', message: `${s.planned} edges: ${s.promoted} promoted, ${s.alreadyPresent} already present` };
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
