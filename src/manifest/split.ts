// Splitting a kpromo project into PromotionManifests that each fit what Kubernetes tooling takes.
//
// The binding limit is not the API server's (3 MiB per request, etcd's 1.5 MiB per object) but
// client-side `kubectl apply`, which Argo CD uses by default: it keeps the whole object as JSON in
// the kubectl.kubernetes.io/last-applied-configuration annotation, and all annotations together
// may hold 256 KiB. So each resource is kept to 192 KiB of compact JSON, which leaves 64 KiB for
// what users add (verification policies, labels, other annotations). registry.k8s.io's largest
// project (k8s-staging-kubernetes, ~0.95 MB of images.yaml) becomes about six resources.
//
// Each part is self-contained: the project's registries, and whole images where they fit; an
// image too large for one resource is split by digest. Names are `<project>` for a project that
// fits, `<project>-1` .. `<project>-n` otherwise.
import { limits } from '../api/promotion-manifest.ts';
import type { ImageSpec, PromotionSpec } from './model.ts';
import { toPromotionManifest } from './resource.ts';

/** Compact JSON bytes one converted PromotionManifest may take. */
export const resourceBudgetBytes = 192 * 1024;

export interface SplitPart { name: string; spec: PromotionSpec }

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/** `name` with `-<n>` appended, shortened so the whole stays a 63-character DNS label. */
export function partName(name: string, n: number): string {
  const suffix = `-${n}`;
  return `${name.slice(0, 63 - suffix.length).replace(/-+$/, '')}${suffix}`;
}

export function splitProject(name: string, spec: PromotionSpec, namespace?: string, budget = resourceBudgetBytes): SplitPart[] {
  if (jsonBytes(toPromotionManifest(name, spec, namespace)) <= budget && spec.images.length <= limits.images
    && spec.images.every((i) => Object.keys(i.dmap).length <= limits.digestsPerImage)) {
    return [{ name, spec }];
  }
  // Room for the registries, metadata (with a `-NN` suffix) and the JSON around the images.
  const base = jsonBytes(toPromotionManifest(partName(name, 99), { registries: spec.registries, images: [] }, namespace));
  const room = budget - base;
  if (room < 1024) throw new Error(`the registries of project "${name}" alone take ${base} bytes of the ${budget} a resource may hold`);

  const parts: ImageSpec[][] = [];
  let current: ImageSpec[] = [];
  let used = 0;
  const flush = () => {
    if (current.length > 0) parts.push(current);
    current = [];
    used = 0;
  };
  for (const image of spec.images) {
    const digests = Object.keys(image.dmap).sort();
    const size = jsonBytes({ name: image.name, dmap: image.dmap }) + 1;
    if (size <= room && digests.length <= limits.digestsPerImage) {
      if (used + size > room || current.length >= limits.images) flush();
      current.push(image);
      used += size;
      continue;
    }
    // Too big for one resource: by digest, each piece an image entry of its own part.
    const header = jsonBytes({ name: image.name, dmap: {} }) + 1;
    let piece: Record<string, string[]> = {};
    let pieceDigests = 0;
    let pieceSize = header;
    const closePiece = () => {
      if (pieceDigests === 0) return;
      // A resource lists an image once: a second piece of it starts the next resource.
      if (used + pieceSize > room || current.length >= limits.images || current.some((i) => i.name === image.name)) flush();
      current.push({ name: image.name, dmap: piece });
      used += pieceSize;
      piece = {};
      pieceDigests = 0;
      pieceSize = header;
    };
    for (const digest of digests) {
      const entry = jsonBytes({ [digest]: image.dmap[digest] }) - 1; // without the braces, with a comma
      if (pieceSize + entry > room || pieceDigests >= limits.digestsPerImage) closePiece();
      piece[digest] = image.dmap[digest]!;
      pieceDigests++;
      pieceSize += entry;
    }
    closePiece();
  }
  flush();
  if (parts.length <= 1) return [{ name, spec: { registries: spec.registries, images: parts[0] ?? [] } }];
  return parts.map((images, i) => ({ name: partName(name, i + 1), spec: { registries: spec.registries, images } }));
}
