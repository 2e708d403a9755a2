// What flows through a pipeline run: the edges to promote, the one outcome record per edge the
// phases fill in, the phases' results and the events a progress display or a controller
// listens to. The run's whole outcome (RunReport) is built from these once, in outcome.ts.
import type { PhaseName, Reason } from '../api/reasons.ts';
import type { Repository } from '../api/reference.ts';
import type { ImageCopier, RegistryClient } from '../registry/index.ts';
import type { TrustOptions } from '../signing/options.ts';
import type { Listings } from './listings.ts';

export type { PhaseName, Reason, TrustOptions };

/**
 * One source digest that must appear in one destination repository, under these tags. Edges of
 * one repository share its Repository object (a plan can hold hundreds of thousands of edges).
 */
export interface Edge {
  readonly src: Repository;
  readonly dst: Repository;
  readonly digest: string;
  /** Empty: the digest is promoted without a tag. */
  readonly tags: readonly string[];
}

export type EdgeState =
  | 'promote' // something is missing in the destination (after a Plan-mode run: would be promoted)
  | 'promoted' // copied by this run
  | 'present' // digest and every tag already there
  | 'lost' // the source digest does not exist
  | 'tagMove' // a destination tag points at another digest: refused, never overwritten
  | 'unverified' // signature or provenance verification failed under an Enforce policy: refused
  | 'failed'; // reading or copying failed

/** Why a read failed: the registry's own reason (Unauthorized, PaginationLoop, ...) when it gave one. */
export interface ReadFailure { reason: Reason; message: string }

/** A destination tag that points at another digest than the edge's. */
export interface TagConflict {
  tag: string;
  digest: string;
}

/** Copy statistics of a promoted edge. */
export interface CopyCounts {
  blobs: number;
  mounted: number;
  bytes: number;
}

/**
 * What happened to one edge: one small record per edge, filled in as the phases go. Only the
 * state is always set; the rest is there for the few edges that need it.
 */
export class EdgeOutcome {
  readonly edge: Edge;
  state: EdgeState = 'promote';
  /** Why the edge ended refused or failed, from the catalogue (src/api/reasons.ts). */
  reason: Reason | undefined = undefined;
  /** The reason's detail for a person: which registry answered what, which tag points where. */
  detail: string | undefined = undefined;
  /** tagMove: the tags and the digests they point at. */
  conflicts: readonly TagConflict[] | undefined = undefined;
  /** Verification failures recorded under a Warn policy; the edge still went on. */
  warnings: string[] | undefined = undefined;
  copied: CopyCounts | undefined = undefined;

  constructor(edge: Edge) {
    this.edge = edge;
  }

  /** Ends the edge lost, refused (tagMove, unverified) or failed, with its reason. */
  end(state: 'lost' | 'tagMove' | 'unverified' | 'failed', reason: Reason, detail: string, conflicts?: readonly TagConflict[]): void {
    this.state = state;
    this.reason = reason;
    this.detail = detail;
    if (conflicts) this.conflicts = conflicts;
  }
}

/** How a phase ended, with its reason from the catalogue. */
export interface PhaseResult {
  name: PhaseName;
  result: 'Succeeded' | 'Failed' | 'Skipped';
  reason: Reason;
  durationMs: number;
  message: string;
}

/** What a phase returns; the engine turns it into a PhaseResult. */
export interface PhaseOutcome {
  message: string;
  /** Ends the run after this phase: `done` when there is nothing left to do, `failed` otherwise. */
  stop?: 'done' | 'failed';
  /** Why the phase failed (with stop 'failed'). */
  reason?: Reason;
  /** The phase had nothing to do by configuration (policy Off or absent); reported as Skipped. */
  skipped?: boolean;
  /** With stop 'failed': the run is failed, but later phases still run (per-image failures). */
  keepGoing?: boolean;
}

export type PipelineEvent =
  | { type: 'phaseStarted'; phase: PhaseName }
  | { type: 'phaseFinished'; phase: PhaseResult }
  /** `outcomes`: Plan's classification, for a durable record of what the run is about to copy. */
  | { type: 'planned'; edges: number; toPromote: number; outcomes?: readonly EdgeOutcome[] }
  /** Plan's reads so far, at most twice a second: a registry.k8s.io-sized plan takes minutes. */
  | { type: 'planProgress'; reads: number; repositories: number; listed: number }
  | { type: 'edgeFinished'; edge: EdgeOutcome; done: number; total: number }
  | { type: 'bytes'; bytes: number };

/** An attestation written for a promoted digest, for the resource's status. */
export interface AttestationRef {
  digest: string;
  ref: string;
  predicateType: string;
}

/** A digest in production after Promote, with the destinations that hold it (for Sign and Attest). */
export interface DigestTarget {
  digest: string;
  src: Repository;
  destinations: { repo: Repository; tags: string[] }[];
}

export interface PipelineOptions {
  /** Plan stops after Validate and writes nothing. */
  mode: 'Promote' | 'Plan';
  /** Edges copied at once. */
  concurrency: number;
  /** Registry reads at once per registry host while planning. */
  planConcurrency: number;
  /**
   * How long a destination tag's digest (or a digest's signatures) read in an earlier run is
   * believed while the tag list still shows it (see registry/inventory.ts). Default 24 hours;
   * 0 reads every tag every run.
   */
  verifyIntervalMs?: number;
  signal?: AbortSignal;
  onEvent?: (event: PipelineEvent) => void;
  /**
   * Awaited by Promote before its first copy, when it has edges to copy (the controller writes
   * its write-ahead record of what the run copies). A rejection fails the run
   * (ProgressNotRecorded) before anything is copied.
   */
  beforePromote?: () => Promise<void>;
  trust?: TrustOptions;
}

export interface RunContext {
  readonly edges: readonly Edge[];
  readonly options: PipelineOptions;
  readonly client: RegistryClient;
  readonly copier: ImageCopier;
  readonly signal: AbortSignal;
  emit(event: PipelineEvent): void;
  /** One per edge, in the order of edges; made by Plan. */
  outcomes: EdgeOutcome[];
  /** Destination tags Plan read, by repository (formatRepository) then tag, so Promote need not read them again. */
  destinationTags: Map<string, Map<string, string>>;
  /** The destination tag lists Plan read (attachment tags folded into bits), for Sign, Attest and others. */
  listings: Listings;
  /**
   * Edges already present whose destination lacks something Sign or Attest add (or whose
   * completeness the lists cannot show): decided by Plan from the lists and the inventory.
   */
  attachmentsDue: Set<EdgeOutcome>;
  /** `host/repo@digest` where Sign or Attest could not finish: no completeness mark is kept for them. */
  unfinished: Set<string>;
  /** The signing settings' key for completeness marks (attachments.ts); set by Plan in Promote runs. */
  attachmentKey?: string;
  /** Digests in production after Promote; filled by Promote for Sign and Attest. */
  inProduction: DigestTarget[];
  /** Filled by Attest. */
  attestations: AttestationRef[];
}

export interface Phase {
  name: PhaseName;
  /** The reason when the phase throws an error that carries none of its own. */
  failure: Reason;
  run(context: RunContext): Promise<PhaseOutcome>;
}
