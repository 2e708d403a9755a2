// Loading manifests from a path of any supported kind: a kpromo plain manifest, a thin-manifest
// directory, PromotionManifest YAML, or a directory of such files. Every problem of every file
// is returned; nothing is thrown for bad content.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { PromotionManifestSpec } from '../api/promotion-manifest.ts';
import type { ManifestError } from './errors.ts';
import { parsePlainManifest } from './kpromo.ts';
import type { PromotionSpec } from './model.ts';
import { holdsPromotionManifests, parsePromotionManifests } from './resource.ts';
import { isThinManifestDirectory, loadThinManifestDirectory } from './thin.ts';

export interface LoadedManifests {
  /**
   * Each spec with a label saying where it came from (file or project), and for a
   * PromotionManifest resource its full spec (verification, signing, attestation).
   */
  specs: { source: string; spec: PromotionSpec; resourceSpec?: PromotionManifestSpec }[];
  errors: ManifestError[];
}

export class ManifestPathError extends Error {
  override name = 'ManifestPathError';
}

async function loadFile(file: string): Promise<LoadedManifests> {
  const text = await readFile(file, 'utf8');
  if (holdsPromotionManifests(text)) {
    const { manifests, errors } = parsePromotionManifests(file, text);
    return { specs: manifests.map((m) => ({ source: file, spec: m.spec, resourceSpec: m.resourceSpec })), errors };
  }
  const parsed = parsePlainManifest(file, text);
  return parsed.ok ? { specs: [{ source: file, spec: parsed.value }], errors: [] } : { specs: [], errors: parsed.errors };
}

/** A directory that is not a thin-manifest layout: every YAML file in it that holds manifests. */
async function loadDirectory(dir: string): Promise<LoadedManifests> {
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const outcome: LoadedManifests = { specs: [], errors: [] };
  for (const name of files) {
    const file = join(dir, name);
    const text = await readFile(file, 'utf8');
    // Other files (kustomization.yaml, Secrets) may sit next to the manifests.
    if (!holdsPromotionManifests(text) && !/^registries\s*:/m.test(text)) continue;
    const { specs, errors } = await loadFile(file);
    outcome.specs.push(...specs);
    outcome.errors.push(...errors);
  }
  return outcome;
}

/** Throws ManifestPathError only when the path itself does not exist. */
export async function loadManifests(target: string): Promise<LoadedManifests> {
  const info = await stat(target).catch(() => undefined);
  if (!info) throw new ManifestPathError(`${target}: no such file or directory`);
  if (!info.isDirectory()) return loadFile(target);
  if (await isThinManifestDirectory(target)) {
    const { projects, errors } = await loadThinManifestDirectory(target);
    return { specs: projects.map((p) => ({ source: p.manifestFile, spec: p.spec })), errors };
  }
  return loadDirectory(target);
}
