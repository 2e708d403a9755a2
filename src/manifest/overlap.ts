// Conflicts between manifests of one run: two manifests that give one destination tag to two
// different digests. kpromo refuses the whole run ("overlapping edges detected"); Hoist refuses
// the dmap entries involved, in every manifest involved, and the rest goes on. The same digest
// under the same tag from two manifests is fine (kpromo calls it a redundant promotion).
//
// Cheap at registry.k8s.io's scale: manifests are compared only where they write to the same
// destination repository, and then per image, not per edge.
import { ManifestError } from './errors.ts';
import type { EntryOrigins, Location, PromotionSpec } from './model.ts';

export interface RunManifest { spec: PromotionSpec; origins: EntryOrigins; source: string }

/** Per manifest (by index): image name -> the digests refused. */
export type RefusedEntries = Map<number, Map<string, Set<string>>>;

const where = (at: Location | undefined, source: string) => (at ? `${at.file}:${at.line}` : source);

/** `errors[m]`: the problems that refused entries of manifest m. */
export function findOverlaps(manifests: readonly RunManifest[]): { refused: RefusedEntries; errors: Map<number, ManifestError[]> } {
  // destination repository -> the (manifest, image) pairs writing to it
  const writers = new Map<string, { m: number; image: number }[]>();
  manifests.forEach(({ spec }, m) => {
    const destinations = spec.registries.filter((r) => !r.src);
    spec.images.forEach((image, i) => {
      for (const d of destinations) {
        const key = `${d.name}/${image.name}`;
        const list = writers.get(key);
        if (list === undefined) writers.set(key, [{ m, image: i }]);
        else if (!list.some((w) => w.m === m)) list.push({ m, image: i });
      }
    });
  });

  const refused: RefusedEntries = new Map();
  const errors = new Map<number, ManifestError[]>();
  const reported = new Set<string>();
  for (const [repository, list] of writers) {
    if (list.length < 2) continue;
    // tag -> digest -> the writers that give it
    const byTag = new Map<string, Map<string, { m: number; image: number }[]>>();
    for (const w of list) {
      const { dmap } = manifests[w.m]!.spec.images[w.image]!;
      for (const digest of Object.keys(dmap)) {
        for (const tag of dmap[digest]!) {
          const digests = byTag.get(tag) ?? new Map<string, { m: number; image: number }[]>();
          byTag.set(tag, digests);
          digests.set(digest, [...(digests.get(digest) ?? []), w]);
        }
      }
    }
    for (const [tag, digests] of byTag) {
      if (digests.size < 2) continue;
      const entries = [...digests].flatMap(([digest, ws]) => ws.map((w) => ({ digest, ...w })));
      for (const entry of entries) {
        const manifest = manifests[entry.m]!;
        const image = manifest.spec.images[entry.image]!.name;
        const at = manifest.origins.get(image)?.get(entry.digest);
        const others = entries.filter((o) => o.digest !== entry.digest)
          .map((o) => `${o.digest} in ${where(manifests[o.m]!.origins.get(manifests[o.m]!.spec.images[o.image]!.name)?.get(o.digest), manifests[o.m]!.source)}`);
        const key = `${entry.m}\0${image}\0${entry.digest}\0${tag}`;
        if (reported.has(key)) continue;
        reported.add(key);
        const error = new ManifestError('OverlappingEdges', at?.file ?? manifest.source, at?.line ?? 1, at?.column ?? 1,
          `tag "${tag}" of ${repository} is also given to ${others.join(', ')}; one destination tag names one digest, so no manifest promotes it (kpromo refuses the whole run) — remove the tag from one of the manifests`)
          .refusing({ image, digest: entry.digest });
        errors.set(entry.m, [...(errors.get(entry.m) ?? []), error]);
        const images = refused.get(entry.m) ?? new Map<string, Set<string>>();
        refused.set(entry.m, images);
        images.set(image, (images.get(image) ?? new Set()).add(entry.digest));
      }
    }
  }
  return { refused, errors };
}
