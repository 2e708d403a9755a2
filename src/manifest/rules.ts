// Rules on the model that a schema cannot express, applied the same to plain manifests, thin
// manifests and PromotionManifests. The API server checks some of them too (CEL and list keys in
// the CRD); here they get a precise location.
//
// kpromo's acceptance rules, as its parser behaves on the real registry.k8s.io tree: a registry
// listed twice is dropped, an image listed twice promotes the union of its entries, a project
// with no images or no destinations promotes nothing; each is accepted with a warning. One tag
// given to two digests refuses those dmap entries (kpromo refuses the whole run); the rest of the
// manifest goes on.
import type { ManifestError, ManifestErrorReason, ValuePath } from './errors.ts';
import type { EntryOrigins, ImageSpec, Location, PromotionSpec, RegistrySpec } from './model.ts';

/** Reports a problem at a path of the model (`registries[i]...`, `images[i]...`) in its file. */
export type Report = (reason: ManifestErrorReason, path: ValuePath, message: string, at?: 'key' | 'value') => ManifestError;

/** Where model paths are: problems located there, the line of a path for "first at line N" hints. */
export interface Locator {
  report: Report;
  line(path: ValuePath, at?: 'key' | 'value'): number;
  /** Where a path is, without building an error (for every accepted digest). */
  origin?(path: ValuePath, at?: 'key' | 'value'): Location;
}

export interface Reviewed<T> { value: T; problems: ManifestError[] }

/** A "(line N)"-style hint, left out where the input has no positions (a resource read from the API server: line 0). */
const lineHint = (line: number, text: (line: number) => string): string => (line > 0 ? text(line) : '');

/** Registries deduplicated; problems that refuse the manifest, and warnings. */
/**
 * `strict`: a duplicate is an error, as for PromotionManifests (the API server refuses them, the
 * CRD's lists are keyed by name); kpromo files accept them with a warning.
 */
export function reviewRegistries(registries: readonly RegistrySpec[], locate: Locator, strict = false): Reviewed<RegistrySpec[]> {
  const problems: ManifestError[] = [];
  const kept: RegistrySpec[] = [];
  const firstByName = new Map<string, number>();
  registries.forEach((registry, i) => {
    const first = firstByName.get(registry.name);
    if (first === undefined) {
      firstByName.set(registry.name, i);
      kept.push(registry);
      return;
    }
    const line = locate.line(['registries', first, 'name']);
    if (registries[first]!.src !== registry.src) {
      problems.push(locate.report('SourceIsDestination', ['registries', i, 'name'],
        `registry "${registry.name}" is both the source and a destination${lineHint(line, (n) => ` (also at line ${n})`)}; promoting a registry onto itself does nothing — remove one entry`));
    } else if (strict) {
      problems.push(locate.report('DuplicateRegistry', ['registries', i, 'name'],
        `registry "${registry.name}" is listed twice${lineHint(line, (n) => ` (first at line ${n})`)}; remove this entry`));
    } else {
      problems.push(locate.report('DuplicateRegistry', ['registries', i, 'name'],
        `registry "${registry.name}" is listed twice${lineHint(line, (n) => ` (first at line ${n})`)}; this entry is ignored, as kpromo does — remove it`).asWarning());
    }
  });
  const sources = kept.flatMap((r) => (r.src ? [registries.indexOf(r)] : []));
  const firstSource = sources[0];
  if (firstSource === undefined) {
    problems.push(locate.report('NoSourceRegistry', ['registries'], 'no source registry; mark the staging registry with src: true'));
  } else {
    for (const i of sources.slice(1)) {
      problems.push(locate.report('MultipleSourceRegistries', ['registries', i, 'src'],
        `a second source registry "${registries[i]!.name}" (the first is "${registries[firstSource]!.name}"${lineHint(locate.line(['registries', firstSource, 'src']), (n) => ` at line ${n}`)}); a manifest has exactly one src registry — set src: false on all but one`));
    }
  }
  if (kept.length > 0 && kept.every((r) => r.src)) {
    problems.push(locate.report('NoDestinationRegistry', ['registries'],
      'no destination registry, so nothing is promoted; add a registry without src: true').asWarning());
  }
  return { value: kept, problems };
}

/**
 * Images merged by name (kpromo promotes the union of the entries of one name), duplicate tags
 * dropped, and the dmap entries that give one tag to two digests refused. `images[i]` undefined
 * stands for an entry already refused while reading it. Returns where each accepted digest was
 * written, for messages about conflicts found later (across manifests).
 */
export function reviewImages(images: readonly (ImageSpec | undefined)[], locate: Locator, strict = false): Reviewed<ImageSpec[]> & { origins: EntryOrigins } {
  const problems: ManifestError[] = [];
  const merged = new Map<string, { dmap: Record<string, string[]>; at: Map<string, ValuePath> }>();
  const firstIndex = new Map<string, number>();
  // name -> the indices of its second and later entries: one warning per name, not per repeat.
  const repeats = new Map<string, number[]>();
  images.forEach((image, i) => {
    if (!image) return;
    const first = firstIndex.get(image.name);
    if (first === undefined) firstIndex.set(image.name, i);
    else if (strict) {
      problems.push(locate.report('DuplicateImage', ['images', i, 'name'],
        `image "${image.name}" is listed twice${lineHint(locate.line(['images', first, 'name']), (n) => ` (first at line ${n})`)}; merge the two dmaps into one entry`));
    } else {
      repeats.set(image.name, [...(repeats.get(image.name) ?? []), i]);
    }
    const target = merged.get(image.name) ?? { dmap: {}, at: new Map<string, ValuePath>() };
    merged.set(image.name, target);
    for (const digest of Object.keys(image.dmap)) {
      const tags = image.dmap[digest]!;
      const path = ['images', i, 'dmap', digest];
      const existing = target.dmap[digest];
      const unique = dedupeTags(tags, existing, (k, tag) => problems.push(locate.report('DuplicateTag', [...path, k],
        `tag "${tag}" is given to this digest twice; the repeat is ignored — remove it`).asWarning()));
      if (existing === undefined) {
        target.dmap[digest] = unique;
        target.at.set(digest, path);
      } else if (unique.length > existing.length) {
        target.dmap[digest] = unique;
      }
    }
  });

  for (const [name, later] of repeats) {
    const lines = [firstIndex.get(name)!, ...later].map((i) => locate.line(['images', i, 'name']));
    problems.push(locate.report('DuplicateImage', ['images', later[0]!, 'name'], later.length === 1
      ? `image "${name}" is also listed at line ${lines[0]}; both entries are promoted (as kpromo does) — merge them into one entry`
      : `image "${name}" is listed ${lines.length} times (lines ${lines.join(', ')}); all its entries are promoted (as kpromo does) — merge them into one entry`).asWarning());
  }

  const out: ImageSpec[] = [];
  const origins: EntryOrigins = new Map();
  for (const [name, { dmap, at }] of merged) {
    // tag -> the digests that claim it; a tag names one digest.
    const owners = new Map<string, string[]>();
    for (const digest of Object.keys(dmap)) {
      for (const tag of dmap[digest]!) {
        const list = owners.get(tag);
        if (list === undefined) owners.set(tag, [digest]);
        else list.push(digest);
      }
    }
    const refused = new Set<string>();
    for (const [tag, digests] of owners) {
      if (digests.length < 2) continue;
      for (const digest of digests) {
        const others = digests.filter((d) => d !== digest).map((d) => `${d}${lineHint(locate.line(at.get(d)!, 'key'), (n) => ` (line ${n})`)}`);
        const tagIndex = dmap[digest]!.indexOf(tag);
        problems.push(locate.report('TagConflict', [...at.get(digest)!, tagIndex],
          `tag "${tag}" of image "${name}" is also given to ${others.join(', ')}; a tag names one digest, so neither entry is promoted — remove the tag from one of them`)
          .refusing({ image: name, digest }));
        refused.add(digest);
      }
    }
    const kept: Record<string, string[]> = {};
    const where = new Map<string, Location>();
    for (const digest of Object.keys(dmap)) {
      if (refused.has(digest)) continue;
      kept[digest] = Object.freeze(dmap[digest]!) as string[];
      if (locate.origin) where.set(digest, locate.origin(at.get(digest)!, 'key'));
    }
    // An image with nothing left to promote is not in the model (a resource needs a digest per image).
    if (Object.keys(kept).length === 0) continue;
    out.push({ name, dmap: kept });
    origins.set(name, where);
  }
  return { value: out, problems, origins };
}

/** `tags` added to `existing` (the same digest's tags in an earlier entry), without repeats. */
function dedupeTags(tags: readonly string[], existing: readonly string[] | undefined, repeated: (index: number, tag: string) => void): string[] {
  if (existing === undefined && tags.length < 2) return tags as string[];
  const out = existing ? [...existing] : [];
  const seen = new Set(out);
  const own = new Set<string>();
  tags.forEach((tag, k) => {
    if (own.has(tag)) return repeated(k, tag);
    own.add(tag);
    if (!seen.has(tag)) {
      seen.add(tag);
      out.push(tag);
    }
  });
  return out;
}

/**
 * Every error (not the warnings) of a spec, as one list: the controller's check of a
 * PromotionManifest's spec. `reviewRegistries` and `reviewImages` give the same problems with
 * their scope (`manifest` or `entry`), for callers that refuse per entry and go on with the rest.
 */
export function checkSpec(spec: PromotionSpec, report: Report, where: (path: ValuePath) => number): ManifestError[] {
  const locate: Locator = { report, line: (path) => where(path) };
  const problems = [...reviewRegistries(spec.registries, locate, true).problems, ...reviewImages(spec.images, locate, true).problems];
  return problems.filter((p) => !p.isWarning);
}

/**
 * A spec reviewed for per-entry isolation (for the controller): `spec` is what may run (refused
 * dmap entries taken out), undefined when the spec is refused as a whole; `refusedEntries` are
 * the entries refused (each with `entry: { image, digest }`) for a condition and an Event;
 * `strict` as for PromotionManifests (duplicates are errors).
 */
export function reviewSpec(spec: PromotionSpec, locate: Locator, strict = true): {
  spec: PromotionSpec | undefined; errors: ManifestError[]; refusedEntries: ManifestError[]; warnings: ManifestError[];
} {
  const registries = reviewRegistries(spec.registries, locate, strict);
  const images = reviewImages(spec.images, locate, strict);
  const problems = [...registries.problems, ...images.problems];
  const errors = problems.filter((p) => p.scope === 'manifest');
  return {
    spec: errors.length > 0 ? undefined : { registries: registries.value, images: images.value },
    errors,
    refusedEntries: problems.filter((p) => p.scope === 'entry'),
    warnings: problems.filter((p) => p.isWarning),
  };
}
