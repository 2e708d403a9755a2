// What flows through a pipeline run: the edges to promote, their classification, the phases'
// results and the events a progress display or a controller listens to.
import type { CopyResult, ImageCopier, RegistryClient, Repository } from '../registry/index.ts';
import type { TrustOptions } from '../signing/options.ts';

export type { TrustOptions };

/** One source digest that must appear in one destination repository, under these tags. */
export interface Edge {
  src: Repository;
  dst: Repository;
  digest: string;
  /** Empty: the digest is promoted without a tag. */
  tags: string[];
}

export type EdgeState =
  | 'promote' // something is missing in the destination
  | 'present' // digest and every tag already there
  | 'lost' // the source digest does not exist
  | 'tagMove' // a destination tag points at another digest: refused, never overwritten
  | 'failed' // reading the destination failed
  | 'unverified'; // signature or provenance verification failed under an Enforce policy: refused

export interface PlannedEdge extends Edge {
  state: EdgeState;
  /** Tags still to write (state promote). */
  missingTags: string[];
  /** Destination tags read during planning, tag -> digest, so Promote need not read them again. */
  knownTags: Map<string, string>;
  /** For tagMove: the tags and the digests they point at; for lost/failed: why. */
  conflicts?: { tag: string; digest: string }[];
  reason?: string;
  /** Verification failures recorded under a Warn policy; the edge still proceeds. */
  warnings?: string[];
}

export interface EdgeResult {
  edge: PlannedEdge;
  outcome: 'promoted' | 'present' | 'failed' | 'refused' | 'lost';
  copy?: CopyResult;
  error?: { reason: string; message: string };
}

export type PhaseName = 'Setup' | 'Plan' | 'Provenance' | 'Validate' | 'Promote' | 'Sign' | 'Attest';
export const phaseOrder: PhaseName[] = ['Setup', 'Plan', 'Provenance', 'Validate', 'Promote', 'Sign', 'Attest'];

export interface PhaseResult {
  name: PhaseName;
  result: 'Succeeded' | 'Failed' | 'Skipped';
  durationMs: number;
  message: string;
}

/** Ends the run after this phase: `done` when there is nothing left to do, `failed` otherwise. */
export interface PhaseOutcome {
  message: string;
  stop?: 'done' | 'failed';
  /** Stable CamelCase reason when the phase failed. */
  reason?: string;
  /** The phase had nothing to do by configuration (policy Off or absent); reported as Skipped. */
  skipped?: boolean;
  /** With stop 'failed': the run is failed, but later phases still run (per-image failures). */
  keepGoing?: boolean;
}

export type PipelineEvent =
  | { type: 'phaseStarted'; phase: PhaseName }
  | { type: 'phaseFinished'; phase: PhaseResult }
  | { type: 'planned'; edges: number; toPromote: number }
  | { type: 'edgeFinished'; result: EdgeResult; done: number; total: number }
  | { type: 'bytes'; bytes: number };

/** An attestation written for a promoted digest, for the resource's status. */
export interface AttestationRef {
  digest: string;
  ref: string;
  predicateType: string;
}

export interface PipelineOptions {
  /** Plan stops after Validate and writes nothing. */
  mode: 'Promote' | 'Plan';
  /** Edges copied at once. */
  concurrency: number;
  /** Registry reads at once per registry host while planning. */
  planConcurrency: number;
  signal?: AbortSignal;
  onEvent?: (event: PipelineEvent) => void;
  trust?: TrustOptions;
}

export interface RunContext {
  readonly edges: Edge[];
  readonly options: PipelineOptions;
  readonly client: RegistryClient;
  readonly copier: ImageCopier;
  readonly signal: AbortSignal;
  emit(event: PipelineEvent): void;
  plan: PlannedEdge[];
  results: EdgeResult[];
  /** Filled by Attest. */
  attestations: AttestationRef[];
}

export interface Phase {
  name: PhaseName;
  run(context: RunContext): Promise<PhaseOutcome>;
}
