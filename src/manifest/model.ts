// The neutral promotion model every input format is read into, and its expansion into edges:
// one edge per (image, digest, destination registry).

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

export interface Edge {
  srcImage: string;
  digest: string;
  dstImage: string;
  tags: string[];
}

export function imageReference(registry: RegistrySpec, image: ImageSpec): string {
  return `${registry.name}/${image.name}`;
}

/** Expects a spec that passed validation (exactly one src registry). */
export function expandEdges(spec: PromotionSpec): Edge[] {
  const source = spec.registries.find((r) => r.src);
  if (!source) throw new Error('expandEdges: the spec has no src registry; validate it first');
  const destinations = spec.registries.filter((r) => !r.src);
  const edges: Edge[] = [];
  for (const image of spec.images) {
    for (const [digest, tags] of Object.entries(image.dmap)) {
      for (const destination of destinations) {
        edges.push({ srcImage: imageReference(source, image), digest, dstImage: imageReference(destination, image), tags: [...tags] });
      }
    }
  }
  return edges;
}
