import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sortErrors } from '../../manifest/errors.ts';
import { renderPromotionManifest, resourceName, toPromotionManifest } from '../../manifest/resource.ts';
import { loadThinManifestDirectory, type ThinProject } from '../../manifest/thin.ts';
import { limits, promotionManifestSchema } from '../../api/promotion-manifest.ts';
import { ExitCode, UsageError, type Command } from '../command.ts';

interface Converted { name: string; project: ThinProject; yaml: string }

export const convertCommand: Command = {
  name: 'convert',
  usage: 'hoist convert <thin-manifest-dir> [--output-dir DIR] [--namespace NS]',
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args, allowPositionals: true,
      options: { 'output-dir': { type: 'string', short: 'o' }, namespace: { type: 'string', short: 'n' } },
    });
    const [dir, ...extra] = positionals;
    if (dir === undefined || extra.length > 0) throw new UsageError('convert takes exactly one thin-manifest directory');
    const namespace = values.namespace;
    if (namespace !== undefined && resourceName(namespace) !== namespace) {
      throw new UsageError(`--namespace "${namespace}" is not a valid namespace name (lowercase letters, digits and -)`);
    }

    const { projects, errors } = await loadThinManifestDirectory(dir);
    if (errors.length > 0) {
      for (const error of sortErrors(errors)) io.err.write(`${error.message}\n`);
      io.err.write(`error: ${errors.length} problem${errors.length === 1 ? '' : 's'}; nothing converted\n`);
      return ExitCode.Failed;
    }

    const converted: Converted[] = [];
    const byName = new Map<string, string>();
    for (const project of projects) {
      const name = resourceName(project.project);
      const clash = name === undefined ? undefined : byName.get(name);
      if (name === undefined || clash !== undefined) {
        io.err.write(`${project.manifestFile}:1:1: project "${project.project}" ${name === undefined
          ? 'has no letters or digits to name a resource after'
          : `and project "${clash}" both become resource "${name}"`}; rename a project directory\n`);
        return ExitCode.Failed;
      }
      byName.set(name, project.project);
      if (project.spec.registries.some((r) => r.serviceAccount)) {
        io.err.write(`note: ${project.manifestFile}: service-account is not carried over; give registries credentials.secretRef instead\n`);
      }
      const resource = toPromotionManifest(name, project.spec, namespace);
      // kpromo has no size limits; the CRD does (its CEL rules must stay cheap for the API
      // server). Say so here rather than let `kubectl apply` refuse the file later.
      const checked = promotionManifestSchema.safeParse(resource);
      if (!checked.success) {
        for (const issue of checked.error.issues) {
          io.err.write(`${project.manifestFile}:1:1: project "${project.project}": ${issue.path.join('.')}: ${issue.message}; a PromotionManifest holds at most ${limits.registries} registries, ${limits.images} images, ${limits.digestsPerImage} digests per image and ${limits.tagsPerDigest} tags per digest — split the project\n`);
        }
        return ExitCode.Failed;
      }
      const comment = `Converted by hoist convert from manifests/${project.project}/promoter-manifest.yaml and images/${project.project}/images.yaml`;
      converted.push({ name, project, yaml: renderPromotionManifest(resource, comment) });
    }

    const outputDir = values['output-dir'];
    if (outputDir === undefined) {
      io.out.write(converted.map((c) => c.yaml).join('---\n'));
      return ExitCode.Ok;
    }
    await mkdir(outputDir, { recursive: true });
    for (const c of converted) {
      const file = join(outputDir, `${c.name}.yaml`);
      await writeFile(file, c.yaml);
      io.out.write(`wrote ${file}\n`);
    }
    return ExitCode.Ok;
  },
};
