// What flows through a replication run: its options, the events a progress display or a
// controller listens to, and the one report a run ends with (report.ts builds it).
import type { Reason } from '../api/reasons.ts';
import type { Repository } from '../api/reference.ts';
import type { ReplicationCounts, ReplicationFormat } from '../api/signature-replication.ts';

export type { ReplicationCounts, ReplicationFormat };

/** One digest with its primary repository and the mirror repositories it must reach. */
export interface ReplicationTarget {
  readonly digest: string;
  /** Shared by every target of the same repository. */
  readonly primary: Repository;
  /** Shared by the targets of one image of one manifest; never modify. */
  readonly mirrors: readonly Repository[];
  /** The digest's tags in the manifests: a mirror listing one of them holds the digest. */
  readonly tags: readonly string[];
  /** An index's image found signed at the primary: the index's presence at a mirror stands for its own. */
  readonly parent?: ReplicationTarget;
}

export type ReplicationStep = 'ListPrimary' | 'ListMirrors' | 'Copy';
export const replicationSteps: readonly ReplicationStep[] = ['ListPrimary', 'ListMirrors', 'Copy'];

/** What became of one (digest, mirror repository) pair. */
export type PairState = 'inSync' | 'repaired' | 'notPromoted' | 'diverged' | 'failed';

export interface ReplicationOptions {
  /** Which formats to carry; default both. */
  formats?: readonly ReplicationFormat[];
  /** Presence: a listed tag counts as replicated. Digest: present tags are compared with the primary's too. */
  check?: 'Presence' | 'Digest';
  /** Read and decide, write nothing (`hoist replicate` without --confirm). */
  dryRun?: boolean;
  /** Tag listings at once per registry host (default 16). */
  listConcurrency?: number;
  /** Digests worked on at once while copying (default 16); each goes to its mirrors 8 at a time. */
  concurrency?: number;
  signal?: AbortSignal;
  onEvent?: (event: ReplicationEvent) => void;
  /**
   * Whether a registry serves the OCI referrers API, asked once per host. Default: one GET of
   * the referrers endpoint (referrers-api.ts); tests of logic give an answer instead.
   */
  referrersApi?: (repo: Repository, digest: string) => Promise<boolean>;
}

export type ReplicationEvent =
  | { type: 'stepStarted'; step: ReplicationStep; total: number }
  | { type: 'progress'; step: ReplicationStep; done: number; total: number; counts: ReplicationCounts }
  | { type: 'stepFinished'; step: ReplicationStep; durationMs: number; message: string }
  /** A pair that needed something: repaired, notPromoted, diverged or failed (inSync pairs are only counted). */
  | { type: 'pair'; mirror: Repository; digest: string; state: Exclude<PairState, 'inSync'>; artifacts?: readonly string[]; reason?: Reason; detail?: string };

/** A pair that failed or diverged, or a primary repository that could not be read. */
export interface ReplicationFailure {
  /** The mirror repository (or the primary's, when reading it failed). */
  repository: string;
  /** Empty when a whole repository could not be listed. */
  digest: string;
  reason: Reason;
  message: string;
}

/** A pair written to, or that would be in a dry run: which tags and referrer manifests. */
export interface ReplicationChange {
  repository: string;
  digest: string;
  artifacts: string[];
}

export interface ReplicationReport {
  /**
   * Succeeded: every mirror holds what the primary holds (or would, in a dry run); Refused: the
   * rest is done, but something needs a person (diverged tags, a manifest without the primary);
   * Failed: reads or writes failed and a retry may help, or the run could not start.
   */
  outcome: 'Succeeded' | 'Refused' | 'Failed';
  reason: Reason;
  message: string;
  dryRun: boolean;
  counts: ReplicationCounts;
  steps: { name: ReplicationStep; durationMs: number; message: string }[];
  failures: ReplicationFailure[];
  changes: ReplicationChange[];
  /** Registry requests the run made (429s and retries included). */
  requests: number;
  durationMs: number;
}
