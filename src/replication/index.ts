// Signature replication's surface for the CLI and the controller.
export { replicateTargets, runReplication, type ManifestInput } from './engine.ts';
export { notRun, summaryOf } from './report.ts';
export { buildTargets, primaryRegistry, selectManifests, type CoveredManifest, type CoverageProblem, type PrimaryChoice } from './targets.ts';
export type {
  PairState, ReplicationChange, ReplicationCounts, ReplicationEvent, ReplicationFailure, ReplicationOptions, ReplicationReport, ReplicationStep, ReplicationTarget,
} from './types.ts';
export { replicationSteps } from './types.ts';
