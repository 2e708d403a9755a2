// Loading manifests from a path of any supported kind: a kpromo plain manifest, a thin-manifest
// directory, PromotionManifest YAML, or a directory of such files. Every problem of every file
// is returned; nothing is thrown for bad content.
//
// Each manifest (a thin project, a plain file, a resource) is accepted or refused on its own, and
// inside an accepted one single dmap entries may be refused; conflicts between manifests refuse
// the entries involved. What is accepted is in `specs`, what is refused in `refused` and `errors`.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { PromotionManifestSpec } from '../api/promotion-manifest.ts';
import { ManifestError } from './errors.ts';
import { parsePlainManifest, type ParsedManifest } from './kpromo.ts';
import { countEdges, withoutEntries, type EntryOrigins, type PromotionSpec } from './model.ts';
import { findOverlaps } from './overlap.ts';
import { readManifestFile } from './read.ts';
import { isPromotionManifestDocument, promotionManifestsIn } from './resource.ts';
import { isThinManifestDirectory, loadThinManifestDirectory } from './thin.ts';
import { parseYaml } from './yaml.ts';

export interface LoadedManifest {
  /** Where it came from: the file, or a thin project's promoter-manifest.yaml. */
  source: string;
  /** The thin-manifest project, or the resource's name. */
  name?: string;
  namespace?: string;
  /** What is accepted: refused dmap entries are not in it. */
  spec: PromotionSpec;
  /** A PromotionManifest resource's full spec (verification, signing, attestation). */
  resourceSpec?: PromotionManifestSpec;
  origins: EntryOrigins;
  /** Problems that refused single entries of this manifest. */
  refusedEntries: ManifestError[];
}

export interface RefusedManifest {
  source: string;
  name?: string;
  errors: ManifestError[];
}

export interface LoadedManifests {
  specs: LoadedManifest[];
  /** Manifests refused as a whole. */
  refused: RefusedManifest[];
  /** Every error: those that refused a manifest and those that refused an entry. */
  errors: ManifestError[];
  /** Accepted, but worth telling the manifest's owner. */
  warnings: ManifestError[];
}

export class ManifestPathError extends Error {
  override name = 'ManifestPathError';
}

function empty(): LoadedManifests {
  return { specs: [], refused: [], errors: [], warnings: [] };
}

function addParsed(out: LoadedManifests, source: string, name: string | undefined, parsed: ParsedManifest): void {
  out.errors.push(...parsed.errors);
  out.warnings.push(...parsed.warnings);
  if (parsed.spec) {
    out.specs.push({ source, ...(name !== undefined && { name }), spec: parsed.spec, origins: parsed.origins, refusedEntries: parsed.errors.filter((e) => e.scope === 'entry') });
  } else {
    out.refused.push({ source, ...(name !== undefined && { name }), errors: parsed.errors });
  }
}

/** A file holding a kpromo manifest or PromotionManifests; `optional` skips files that hold neither. */
async function loadFile(out: LoadedManifests, file: string, within: string | undefined, optional: boolean): Promise<void> {
  const text = await readManifestFile(file, within);
  if (text instanceof ManifestError) {
    out.errors.push(text);
    out.refused.push({ source: file, errors: [text] });
    return;
  }
  const { documents, errors } = parseYaml(file, text);
  if (documents.some(isPromotionManifestDocument)) {
    const parsed = promotionManifestsIn(file, documents);
    out.errors.push(...parsed.errors);
    out.warnings.push(...parsed.warnings);
    for (const r of parsed.refused) out.refused.push({ ...r, errors: parsed.errors.filter((e) => e.scope === 'manifest') });
    for (const m of parsed.manifests) {
      out.specs.push({
        source: file, name: m.name, ...(m.namespace && { namespace: m.namespace }), spec: m.spec, resourceSpec: m.resourceSpec,
        origins: m.origins, refusedEntries: parsed.errors.filter((e) => e.scope === 'entry' && e.line >= m.line),
      });
    }
    return;
  }
  // Other files (kustomization.yaml, Secrets) may sit next to the manifests.
  const looksLikeKpromo = errors.length > 0 || documents.some((d) => d.root?.kind === 'map' && d.root.keys.some((k) => k.text === 'registries'));
  if (optional && !looksLikeKpromo) return;
  addParsed(out, file, undefined, parsePlainManifest(file, text));
}

/** A directory that is not a thin-manifest layout: every YAML file in it that holds manifests. */
async function loadDirectory(out: LoadedManifests, dir: string): Promise<void> {
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  for (const name of files) await loadFile(out, join(dir, name), dir, true);
}

/** Refuses the dmap entries that conflict across manifests, in every manifest involved. */
function refuseOverlaps(out: LoadedManifests): void {
  if (out.specs.length < 2) return;
  const { refused, errors } = findOverlaps(out.specs);
  for (const [m, entries] of refused) {
    const manifest = out.specs[m]!;
    manifest.spec = withoutEntries(manifest.spec, entries);
    manifest.refusedEntries.push(...errors.get(m) ?? []);
    out.errors.push(...errors.get(m) ?? []);
  }
}

/**
 * Loads `target`. Throws ManifestPathError only when the path itself does not exist; a path
 * that names nothing to promote (an empty directory) is an error with reason NoManifests.
 */
export async function loadManifests(target: string): Promise<LoadedManifests> {
  const info = await stat(target).catch(() => undefined);
  if (!info) throw new ManifestPathError(`${target}: no such file or directory`);
  const out = empty();
  if (!info.isDirectory()) {
    await loadFile(out, target, undefined, false);
  } else if (await isThinManifestDirectory(target)) {
    const { projects, errors } = await loadThinManifestDirectory(target);
    out.errors.push(...errors);
    for (const p of projects) addParsed(out, p.manifestFile, p.project, p.parsed);
  } else {
    await loadDirectory(out, target);
    if (out.specs.length === 0 && out.refused.length === 0) {
      out.errors.push(new ManifestError('NoManifests', target, 1, 1,
        'no manifests here: expected kpromo manifests (registries and images), PromotionManifest YAML, or a thin-manifest directory (manifests/<project>/); nothing to promote'));
    }
  }
  refuseOverlaps(out);
  return out;
}

/** The number of edges of what was accepted. */
export function acceptedEdgeCount(loaded: LoadedManifests): number {
  return loaded.specs.reduce((sum, m) => sum + countEdges(m.spec), 0);
}
