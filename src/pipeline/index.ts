export { defaultPhases, runPipeline, type RunReport, type RunSummary } from './engine.ts';
export type { Edge, EdgeResult, EdgeState, Phase, PhaseName, PhaseResult, PipelineEvent, PipelineOptions, PlannedEdge } from './types.ts';
