// A kpromo thin-manifest directory: manifests/<project>/promoter-manifest.yaml holds the
// registries, images/<project>/images.yaml the images. Paths in errors are joined onto the
// directory as given, so they are relative to where the user ran the command.
//
// Each project is read on its own: a project that is refused does not stop the others.
import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ManifestError } from './errors.ts';
import { parseThinManifest, type ParsedManifest } from './kpromo.ts';
import { readManifestFile } from './read.ts';

export interface ThinProject {
  project: string;
  manifestFile: string;
  imagesFile: string;
  /** `parsed.spec` undefined: the project is refused; `parsed.errors` say why. */
  parsed: ParsedManifest;
}

export const manifestFileName = 'promoter-manifest.yaml';
export const imagesFileName = 'images.yaml';

export async function isThinManifestDirectory(dir: string): Promise<boolean> {
  return (await stat(join(dir, 'manifests')).catch(() => undefined))?.isDirectory() ?? false;
}

const refused = (errors: ManifestError[]): ParsedManifest => ({ spec: undefined, origins: new Map(), errors, warnings: [] });

async function loadProject(dir: string, project: string): Promise<ThinProject | undefined> {
  const projectDir = join(dir, 'manifests', project);
  const manifestFile = join(projectDir, manifestFileName);
  const imagesFile = join(dir, 'images', project, imagesFileName);
  const base = { project, manifestFile, imagesFile };
  // kpromo's directory walk does not follow a symlinked project directory: it would silently
  // promote nothing from it. Say so instead.
  const info = await lstat(projectDir);
  if (info.isSymbolicLink()) {
    const target = await stat(projectDir).catch(() => undefined);
    if (!target?.isDirectory()) return undefined; // a link to a file is not a project, as kpromo skips it
    return { ...base, parsed: refused([new ManifestError('NotARegularFile', projectDir, 1, 1,
      `project "${project}" is a symbolic link to a directory; kpromo would skip it, so nothing would be promoted from it — make it a real directory`)]) };
  }
  if (!info.isDirectory()) return undefined; // OWNERS, README.md: not projects
  const manifestText = await readManifestFile(manifestFile, dir);
  if (manifestText instanceof ManifestError) {
    return { ...base, parsed: refused([new ManifestError(manifestText.reason, manifestFile, 1, 1,
      manifestText.reason === 'MissingManifestFile'
        ? `project "${project}" has no ${manifestFileName}; add one with its registries, or remove the directory`
        : manifestText.detail)]) };
  }
  const imagesText = await readManifestFile(imagesFile, dir);
  if (imagesText instanceof ManifestError) {
    const missing = imagesText.reason === 'MissingManifestFile';
    return { ...base, parsed: refused([new ManifestError(missing ? 'MissingImagesFile' : imagesText.reason, missing ? manifestFile : imagesFile, 1, 1,
      missing ? `this thin manifest has no images file ${imagesFile}; create it with the images to promote (a list of name and dmap)` : imagesText.detail)]) };
  }
  return { ...base, parsed: parseThinManifest({ file: manifestFile, text: manifestText }, { file: imagesFile, text: imagesText }) };
}

/**
 * Reads every project, each on its own; `errors` are problems of the directory itself (no
 * manifests/ folder, no project in it).
 */
export async function loadThinManifestDirectory(dir: string): Promise<{ projects: ThinProject[]; errors: ManifestError[] }> {
  const manifestsDir = join(dir, 'manifests');
  if (!(await isThinManifestDirectory(dir))) {
    return { projects: [], errors: [new ManifestError('NotAManifest', manifestsDir, 1, 1,
      'not a thin-manifest directory: expected manifests/<project>/promoter-manifest.yaml and images/<project>/images.yaml below it')] };
  }
  const names = (await readdir(manifestsDir)).sort();
  const projects: ThinProject[] = [];
  // A few files at a time: fast on a tree of hundreds of projects, gentle on file handles.
  const batch = 8;
  for (let i = 0; i < names.length; i += batch) {
    const loaded = await Promise.all(names.slice(i, i + batch).map((name) => loadProject(dir, name)));
    for (const p of loaded) if (p) projects.push(p);
  }
  if (projects.length === 0) {
    return { projects, errors: [new ManifestError('NoManifests', manifestsDir, 1, 1,
      'no projects: expected a directory manifests/<project>/ with a promoter-manifest.yaml; nothing to promote')] };
  }
  return { projects, errors: [] };
}
