// The pipeline's surface for the CLI and the controller.
export { defaultPhases, runPipeline } from './engine.ts';
export { edgesFromSpecs } from './edges.ts';
export { isRetryable, notRun, problemEdges, type RunReport, type RunSummary } from './outcome.ts';
export type { AttestationRef, Edge, EdgeOutcome, EdgeState, Phase, PhaseName, PhaseResult, PipelineEvent, PipelineOptions, TrustOptions } from './types.ts';
