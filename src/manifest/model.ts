// The neutral promotion model every input format is read into, and its expansion into edges:
// one edge per (image, digest, destination registry).
//
// Edges are built for registry.k8s.io's scale (~70 projects, ~400,000 edges): each repository is
// one frozen object shared by every edge that reads or writes it, and each digest's tag list is
// one frozen array shared by the edges to all its destinations. Nothing is copied per edge.
import type { Repository } from '../api/reference.ts';

export interface RegistrySpec {
  /** Host and optional path prefix, e.g. `us-central1-docker.pkg.dev/k8s-artifacts-prod/images/bom`. */
  name: string;
  src: boolean;
  /** kpromo's GCP service account; kept so nothing in a kpromo file is silently lost. */
  serviceAccount?: string;
  /** Name of a dockerconfigjson Secret (PromotionManifest only). */
  secretName?: string;
}

export interface ImageSpec {
  name: string;
  /** digest -> tags it gets in every destination; [] promotes the digest untagged. */
  dmap: Record<string, string[]>;
}

export interface PromotionSpec {
  registries: RegistrySpec[];
  images: ImageSpec[];
}

/** A place in a file, 1-based. */
export interface Location { file: string; line: number; column: number }

/** Where each accepted dmap entry was written: image name -> digest -> its key's location. */
export type EntryOrigins = Map<string, Map<string, Location>>;

/** One source digest that must appear in one destination repository, under these tags. */
export interface Edge {
  /** Shared with every other edge from the same repository; frozen. */
  src: Repository;
  /** Shared with every other edge into the same repository; frozen. */
  dst: Repository;
  digest: string;
  /** Shared by the edges of this digest to every destination; frozen, never modify. Empty: untagged. */
  tags: string[];
}

/** One frozen Repository object per repository, so edges share them instead of each holding its own. */
export class Repositories {
  readonly #byName = new Map<string, Repository>();

  /** The repository `<registry>/<image>`, e.g. registry `gcr.io/k8s-staging-bom`, image `bom`. */
  get(registry: string, image: string): Repository {
    const key = `${registry}/${image}`;
    let repo = this.#byName.get(key);
    if (repo === undefined) {
      const slash = key.indexOf('/');
      repo = Object.freeze({ host: key.slice(0, slash), name: key.slice(slash + 1) });
      this.#byName.set(key, repo);
    }
    return repo;
  }

  get size(): number {
    return this.#byName.size;
  }
}

export function imageReference(registry: RegistrySpec, image: ImageSpec): string {
  return `${registry.name}/${image.name}`;
}

const frozenTags = (tags: string[]): string[] => (Object.isFrozen(tags) ? tags : Object.freeze([...tags]) as string[]);

/**
 * The edges of a spec, in a stable order: images by name, digests sorted, destinations as
 * listed. Expects a spec that passed validation (exactly one src registry); pass one
 * `Repositories` to every call of a run so all its edges share repository objects.
 */
export function expandEdges(spec: PromotionSpec, repositories: Repositories = new Repositories()): Edge[] {
  const source = spec.registries.find((r) => r.src);
  if (!source) throw new Error('expandEdges: the spec has no src registry; validate it first');
  const destinations = spec.registries.filter((r) => !r.src);
  const edges: Edge[] = [];
  const images = [...spec.images].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const image of images) {
    const src = repositories.get(source.name, image.name);
    const dsts = destinations.map((d) => repositories.get(d.name, image.name));
    for (const digest of Object.keys(image.dmap).sort()) {
      const tags = frozenTags(image.dmap[digest]!);
      for (const dst of dsts) edges.push({ src, dst, digest, tags });
    }
  }
  return edges;
}

/** The number of edges a spec expands into, without building them. */
export function countEdges(spec: PromotionSpec): number {
  const destinations = spec.registries.filter((r) => !r.src).length;
  let digests = 0;
  for (const image of spec.images) digests += Object.keys(image.dmap).length;
  return digests * destinations;
}

/** `spec` without the dmap entries in `refused` (image name -> digests); images left empty are dropped. */
export function withoutEntries(spec: PromotionSpec, refused: ReadonlyMap<string, ReadonlySet<string>>): PromotionSpec {
  if (refused.size === 0) return spec;
  const images: ImageSpec[] = [];
  for (const image of spec.images) {
    const digests = refused.get(image.name);
    if (!digests) {
      images.push(image);
      continue;
    }
    const dmap: Record<string, string[]> = {};
    for (const digest of Object.keys(image.dmap)) if (!digests.has(digest)) dmap[digest] = image.dmap[digest]!;
    if (Object.keys(dmap).length > 0) images.push({ name: image.name, dmap });
  }
  return { registries: spec.registries, images };
}

/**
 * The edges of every spec of a run, sharing one repository object per repository. An edge that
 * two specs both give (same source, destination and digest, as two kpromo projects promoting
 * the same image may) appears once, with the union of their tags.
 */
export function expandRun(specs: readonly PromotionSpec[], repositories: Repositories = new Repositories()): Edge[] {
  const all: Edge[] = [];
  for (const edge of runEdges(specs, repositories)) all.push(edge);
  return all;
}

/**
 * expandRun's edges one at a time, spec by spec, so a caller that only writes them out never
 * holds them all. A repeated edge is yielded once, with its tags as far as known when yielded:
 * tags only a later spec adds are merged into the same edge object (consumers that write edges
 * as they come should use expandRun when specs share destinations; see sharedDestinations).
 */
export function* runEdges(specs: readonly PromotionSpec[], repositories: Repositories = new Repositories()): Generator<Edge> {
  const shared = sharedDestinations(specs, repositories);
  const seen = new Map<Repository, Map<string, Edge>>();
  for (const spec of specs) {
    for (const edge of expandEdges(spec, repositories)) {
      if (!shared.has(edge.dst)) {
        yield edge;
        continue;
      }
      const byKey = seen.get(edge.dst) ?? new Map<string, Edge>();
      seen.set(edge.dst, byKey);
      const key = `${edge.src.host}/${edge.src.name}@${edge.digest}`;
      const earlier = byKey.get(key);
      if (earlier === undefined) {
        byKey.set(key, edge);
        yield edge;
      } else if (edge.tags.some((t) => !earlier.tags.includes(t))) {
        earlier.tags = Object.freeze([...new Set([...earlier.tags, ...edge.tags])]) as string[];
      }
    }
  }
}

/** Destination repositories that more than one spec writes to: only there can edges repeat. */
export function sharedDestinations(specs: readonly PromotionSpec[], repositories: Repositories = new Repositories()): Set<Repository> {
  const writer = new Map<Repository, number>();
  const shared = new Set<Repository>();
  specs.forEach((spec, s) => {
    for (const registry of spec.registries) {
      if (registry.src) continue;
      for (const image of spec.images) {
        const dst = repositories.get(registry.name, image.name);
        const first = writer.get(dst);
        if (first === undefined) writer.set(dst, s);
        else if (first !== s) shared.add(dst);
      }
    }
  });
  return shared;
}
