// The model's edges (image references as text) as pipeline edges (parsed repositories). The CLI
// and the controller build their runs the same way through this.
import { expandEdges, type PromotionSpec } from '../manifest/model.ts';
import { parseRepository } from '../registry/index.ts';
import type { Edge } from './types.ts';

export function edgesFromSpecs(specs: PromotionSpec[]): Edge[] {
  return specs.flatMap((spec) => expandEdges(spec)).map((e) => ({
    src: parseRepository(e.srcImage), dst: parseRepository(e.dstImage), digest: e.digest, tags: e.tags,
  }));
}
