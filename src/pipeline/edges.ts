// The model's edges (image references as text) as pipeline edges (parsed repositories). The CLI
// and the controller build their runs the same way through this. Every edge of one repository
// shares one Repository object: a plan can hold hundreds of thousands of edges.
import { parseRepository, type Repository } from '../api/reference.ts';
import { expandEdges, type PromotionSpec } from '../manifest/model.ts';
import type { Edge } from './types.ts';

export function edgesFromSpecs(specs: readonly PromotionSpec[]): Edge[] {
  const repositories = new Map<string, Repository>();
  const repository = (text: string) => {
    let repo = repositories.get(text);
    if (!repo) repositories.set(text, repo = parseRepository(text));
    return repo;
  };
  return specs.flatMap((spec) => expandEdges(spec)).map((e) => ({ src: repository(e.srcImage), dst: repository(e.dstImage), digest: e.digest, tags: e.tags }));
}
