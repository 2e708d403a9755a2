// Rules on the model that a schema cannot express, applied the same to plain manifests, thin
// manifests and PromotionManifests. The API server checks some of them too (CEL in the CRD);
// here they get a precise location. kpromo accepts duplicate registries and images silently;
// Hoist refuses them because the later entry would shadow the earlier one.
import type { ManifestError, ManifestErrorReason, ValuePath } from './errors.ts';
import type { PromotionSpec } from './model.ts';

/** Reports a problem at a path of the model (`registries[i]...`, `images[i]...`) in its file. */
export type Report = (reason: ManifestErrorReason, path: ValuePath, message: string, at?: 'key' | 'value') => ManifestError;

export function checkSpec(spec: PromotionSpec, report: Report, where: (path: ValuePath) => number): ManifestError[] {
  return [...checkRegistries(spec, report, where), ...checkImages(spec, report, where)];
}

function checkRegistries(spec: PromotionSpec, report: Report, where: (path: ValuePath) => number): ManifestError[] {
  const errors: ManifestError[] = [];
  const sources = spec.registries.flatMap((r, i) => (r.src ? [i] : []));
  const firstSource = sources[0];
  if (firstSource === undefined) {
    errors.push(report('NoSourceRegistry', ['registries'], 'no source registry; mark the staging registry with src: true'));
  } else {
    for (const i of sources.slice(1)) {
      errors.push(report('MultipleSourceRegistries', ['registries', i, 'src'],
        `a second source registry "${spec.registries[i]!.name}" (the first is "${spec.registries[firstSource]!.name}" at line ${where(['registries', firstSource, 'src'])}); a manifest has exactly one src registry — set src: false on all but one`));
    }
  }
  if (spec.registries.length > 0 && spec.registries.every((r) => r.src)) {
    errors.push(report('NoDestinationRegistry', ['registries'], 'no destination registry, so nothing would be promoted; add a registry without src: true'));
  }
  const seen = new Map<string, number>();
  spec.registries.forEach((registry, i) => {
    const first = seen.get(registry.name);
    if (first === undefined) seen.set(registry.name, i);
    else errors.push(report('DuplicateRegistry', ['registries', i, 'name'],
      `registry "${registry.name}" is listed twice (first at line ${where(['registries', first, 'name'])}); remove this entry`));
  });
  return errors;
}

function checkImages(spec: PromotionSpec, report: Report, where: (path: ValuePath) => number): ManifestError[] {
  const errors: ManifestError[] = [];
  const firstByName = new Map<string, number>();
  // image name -> tag -> where the tag was first given: one destination tag, one digest.
  const tagOwners = new Map<string, Map<string, { digest: string; path: ValuePath }>>();
  spec.images.forEach((image, i) => {
    const first = firstByName.get(image.name);
    if (first === undefined) firstByName.set(image.name, i);
    else errors.push(report('DuplicateImage', ['images', i, 'name'],
      `image "${image.name}" is listed twice (first at line ${where(['images', first, 'name'])}); merge the two dmaps into one entry`));

    const digests = Object.keys(image.dmap);
    if (digests.length === 0) {
      errors.push(report('EmptyDmap', ['images', i, 'dmap'], 'dmap is empty; list at least one digest to promote, or remove the image'));
    }
    const owners = tagOwners.get(image.name) ?? new Map<string, { digest: string; path: ValuePath }>();
    tagOwners.set(image.name, owners);
    for (const digest of digests) {
      image.dmap[digest]!.forEach((tag, k) => {
        const path = ['images', i, 'dmap', digest, k];
        const owner = owners.get(tag);
        if (owner === undefined) owners.set(tag, { digest, path });
        else if (owner.digest !== digest) {
          errors.push(report('TagConflict', path,
            `tag "${tag}" of image "${image.name}" is also given to ${owner.digest} (line ${where(owner.path)}); a tag names one digest — remove it from one of them`));
        }
      });
    }
  });
  return errors;
}
