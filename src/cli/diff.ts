// What a change to the manifests changes, edge by edge: the check a promotion pull request
// needs. Two sets of edges (before and after) are compared by destination repository and
// digest, which is what ends up in production; a tag whose digest differs between them is a
// tag move, which Hoist refuses when production already has the tag.
import { formatRepository } from '../api/reference.ts';
import type { Edge } from '../pipeline/index.ts';

export interface TagMove {
  tag: string;
  /** The digest the tag names before the change. */
  from: string;
  /** ... and after it. */
  to: string;
}

export interface ChangedEdge {
  /** add: a digest new to this destination; tags: the digest was there, its tags changed. */
  change: 'add' | 'tags';
  /** The edge as the change leaves it (all its tags). */
  edge: Edge;
  addedTags: string[];
  removedTags: string[];
  /** Tags of this edge that named another digest of this destination before the change. */
  moves: TagMove[];
}

export interface EdgeDiff {
  /** In the order of the edges after the change. */
  changed: ChangedEdge[];
  /** Edges the change drops from the manifests (nothing is ever deleted from a registry). */
  removed: Edge[];
  /** Edges the change leaves alone. */
  unchanged: number;
}

const edgeKey = (e: Edge) => `${formatRepository(e.dst)}@${e.digest}`;

/** Compares the edges before and after a change. */
export function diffEdges(before: readonly Edge[], after: readonly Edge[]): EdgeDiff {
  const old = new Map<string, Edge>();
  // destination:tag -> digest, before the change.
  const oldTags = new Map<string, string>();
  for (const e of before) {
    old.set(edgeKey(e), e);
    for (const tag of e.tags) oldTags.set(`${formatRepository(e.dst)}:${tag}`, e.digest);
  }
  const changed: ChangedEdge[] = [];
  let unchanged = 0;
  const kept = new Set<string>();
  for (const e of after) {
    const key = edgeKey(e);
    kept.add(key);
    const was = old.get(key);
    const addedTags = was ? e.tags.filter((t) => !was.tags.includes(t)) : [...e.tags];
    const removedTags = was ? was.tags.filter((t) => !e.tags.includes(t)) : [];
    if (was && addedTags.length === 0 && removedTags.length === 0) {
      unchanged += 1;
      continue;
    }
    const moves: TagMove[] = [];
    for (const tag of addedTags) {
      const from = oldTags.get(`${formatRepository(e.dst)}:${tag}`);
      if (from !== undefined && from !== e.digest) moves.push({ tag, from, to: e.digest });
    }
    changed.push({ change: was ? 'tags' : 'add', edge: e, addedTags, removedTags, moves });
  }
  const removed = before.filter((e) => !kept.has(edgeKey(e)));
  return { changed, removed, unchanged };
}
