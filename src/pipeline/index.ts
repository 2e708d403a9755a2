export { defaultPhases, runPipeline, type RunReport, type RunSummary } from './engine.ts';
export type { AttestationRef, Edge, EdgeResult, EdgeState, Phase, PhaseName, PhaseResult, PipelineEvent, PipelineOptions, PlannedEdge, TrustOptions } from './types.ts';
