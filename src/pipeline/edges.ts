// The model's edges are the pipeline's edges: parsed, interned repositories and shared tag
// lists, built once in src/manifest/model.ts. The CLI and the controller build their runs the
// same way through this.
import { expandRun, type PromotionSpec } from '../manifest/model.ts';
import type { Edge } from './types.ts';

export function edgesFromSpecs(specs: PromotionSpec[]): Edge[] {
  return expandRun(specs);
}
