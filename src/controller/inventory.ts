// The parts of the status that say the state of the world rather than what the last run did:
// how many edges are in production out of those the spec names (the PRESENT column), how many
// are refused or failed, when something was last promoted (a run that was killed included),
// the run going on now (progress, and the durable record of what it is copying), and failures
// rolled up per registry. Pure functions of the report and the stored status.
import { limits, type PromotionManifestStatus } from '../api/promotion-manifest.ts';
import { formatReference } from '../api/reference.ts';
import { describeFailureGroups, failureGroups, type EdgeOutcome, type RunReport } from '../pipeline/index.ts';

type Status = PromotionManifestStatus;
export type Progress = NonNullable<Status['progress']>;
export type Inventory = NonNullable<Status['inventory']>;

/** What the run itself knows besides its report. */
export interface RunFacts {
  startedAt: Date;
  /** dmap entries refused when the spec was accepted (issue 13): they count as refused edges. */
  refusedEntries?: number;
  /** Edges an interrupted earlier run was copying that this run found in production. */
  interrupted?: { startedAt: string; edges: number };
}

/** `host/repo:tag@sha256:…`: the destination reference of an edge, as status lists and Events print it. */
export function destinationRef(outcome: Pick<EdgeOutcome, 'edge'>): string {
  const { edge } = outcome;
  return formatReference({ ...edge.dst, ...(edge.tags[0] !== undefined && { tag: edge.tags[0] }), digest: edge.digest });
}

/** present/desired, refused and failed, from a report that read the registries. */
export function inventoryOf(report: RunReport, refusedEntries = 0): Inventory {
  const s = report.summary;
  const present = s.promoted + s.alreadyPresent;
  const desired = s.planned + refusedEntries;
  return { desired, present, refused: s.tagMoves + s.lost + s.unverified + refusedEntries, failed: s.failed, presentOfDesired: `${present}/${desired}` };
}

/** The last run that promoted something: this one, an interrupted one it found done, or the stored one. */
export function lastPromoted(current: Status | undefined, report: RunReport, facts: RunFacts | undefined): Status['lastPromoted'] {
  const at = (d: Date) => `${d.toISOString().slice(0, 19)}Z`;
  if (report.summary.promoted > 0 && facts) return { at: at(facts.startedAt), edges: report.summary.promoted };
  if (facts?.interrupted && facts.interrupted.edges > 0) return { at: at(new Date(facts.interrupted.startedAt)), edges: facts.interrupted.edges, interrupted: true };
  return current?.lastPromoted;
}

/** Failed edges rolled up per registry host and reason, for status.failures. */
export function failureLines(report: RunReport): NonNullable<Status['failures']> {
  return failureGroups(report.edges).slice(0, limits.statusFailureGroups).map((g) => ({
    host: g.host.slice(0, 255), reason: g.reason, edges: g.edges, message: clipText(describeFailureGroups([g], 1), 1024),
  }));
}

/** The durable record written before anything is copied: what the run is about to promote. */
export function plannedProgress(startedAt: Date, generation: number, outcomes: readonly EdgeOutcome[]): Progress {
  const pending: string[] = [];
  let toPromote = 0;
  let presentBefore = 0;
  for (const outcome of outcomes) {
    if (outcome.state === 'present') presentBefore += 1;
    if (outcome.state !== 'promote') continue;
    toPromote += 1;
    if (pending.length < limits.statusPending) pending.push(clipText(destinationRef(outcome), 512));
  }
  return { startedAt: startedAt.toISOString(), generation, phase: 'Plan', toPromote, presentBefore, pending };
}

/**
 * What an interrupted run promoted, as this run found it: the references it recorded as pending
 * that this run found already present, and for the rest of its (uncapped) list, how many more
 * edges are present now than when it planned. That count compares two plans of the same edges:
 * when the spec changed since (another generation), only the recorded references are counted.
 */
export function interruptedPromotions(stored: Progress | undefined, report: RunReport, generation: number): { refs: string[]; edges: number } | undefined {
  if (!stored?.toPromote || report.edges.length === 0) return undefined;
  const present = new Set(report.edges.filter((e) => e.state === 'present').map(destinationRef));
  const refs = (stored.pending ?? []).filter((ref) => present.has(ref));
  const listedAll = (stored.pending?.length ?? 0) >= stored.toPromote;
  const sameEdges = stored.generation === generation;
  const beyond = listedAll || !sameEdges ? 0 : Math.max(0, report.summary.alreadyPresent - (stored.presentBefore ?? 0) - refs.length);
  const edges = Math.min(stored.toPromote, refs.length + beyond);
  return edges > 0 ? { refs, edges } : undefined;
}

export function clipText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
