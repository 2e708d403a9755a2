// A kpromo thin-manifest directory: manifests/<project>/promoter-manifest.yaml holds the
// registries, images/<project>/images.yaml the images. Paths in errors are joined onto the
// directory as given, so they are relative to where the user ran the command.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ManifestError } from './errors.ts';
import { parseThinManifest } from './kpromo.ts';
import type { PromotionSpec } from './model.ts';

export interface ThinProject {
  project: string;
  manifestFile: string;
  imagesFile: string;
  spec: PromotionSpec;
}

export const manifestFileName = 'promoter-manifest.yaml';
export const imagesFileName = 'images.yaml';

export async function isThinManifestDirectory(dir: string): Promise<boolean> {
  return (await stat(join(dir, 'manifests')).catch(() => undefined))?.isDirectory() ?? false;
}

async function readText(file: string): Promise<string | ManifestError> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return new ManifestError(code === 'ENOENT' ? 'MissingManifestFile' : 'UnreadableFile', file, 1, 1,
      code === 'ENOENT' ? 'file not found' : `cannot read the file: ${(error as Error).message}`);
  }
}

/** Reads every project; all problems of all projects are returned, in project order. */
export async function loadThinManifestDirectory(dir: string): Promise<{ projects: ThinProject[]; errors: ManifestError[] }> {
  const manifestsDir = join(dir, 'manifests');
  if (!(await isThinManifestDirectory(dir))) {
    return { projects: [], errors: [new ManifestError('NotAManifest', manifestsDir, 1, 1,
      'not a thin-manifest directory: expected manifests/<project>/promoter-manifest.yaml and images/<project>/images.yaml below it')] };
  }
  const entries = await readdir(manifestsDir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const projects: ThinProject[] = [];
  const errors: ManifestError[] = [];
  for (const project of names) {
    const manifestFile = join(manifestsDir, project, manifestFileName);
    const imagesFile = join(dir, 'images', project, imagesFileName);
    const manifestText = await readText(manifestFile);
    if (manifestText instanceof ManifestError) {
      errors.push(new ManifestError(manifestText.reason, manifestFile, 1, 1,
        manifestText.reason === 'MissingManifestFile'
          ? `project "${project}" has no ${manifestFileName}; add one with its registries, or remove the directory`
          : manifestText.detail));
      continue;
    }
    const imagesText = await readText(imagesFile);
    if (imagesText instanceof ManifestError) {
      errors.push(new ManifestError(imagesText.reason === 'MissingManifestFile' ? 'MissingImagesFile' : imagesText.reason, manifestFile, 1, 1,
        imagesText.reason === 'MissingManifestFile'
          ? `this thin manifest has no images file ${imagesFile}; create it with the images to promote (a list of name and dmap)`
          : `cannot read ${imagesFile}: ${imagesText.detail}`));
      continue;
    }
    const parsed = parseThinManifest({ file: manifestFile, text: manifestText }, { file: imagesFile, text: imagesText });
    if (parsed.ok) projects.push({ project, manifestFile, imagesFile, spec: parsed.value });
    else errors.push(...parsed.errors);
  }
  return { projects, errors };
}
