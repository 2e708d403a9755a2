// The pipeline's surface for the CLI and the controller.
export { defaultPhases, runPipeline } from './engine.ts';
export { edgesFromSpecs } from './edges.ts';
export { describeFailureGroups, failureGroups, isRetryable, notRun, problemEdges, type FailureGroup, type RunReport, type RunSummary } from './outcome.ts';
export type { AttestationRef, Edge, EdgeOutcome, EdgeState, Phase, PhaseName, PhaseResult, PipelineEvent, PipelineOptions, TrustOptions } from './types.ts';
