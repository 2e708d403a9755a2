import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { promotionManifestSchema } from '../../api/promotion-manifest.ts';
import { ManifestError } from '../../manifest/errors.ts';
import { loadManifests } from '../../manifest/load.ts';
import { renderPromotionManifest, resourceName, toPromotionManifest } from '../../manifest/resource.ts';
import { resourceBudgetBytes, splitProject } from '../../manifest/split.ts';
import { isThinManifestDirectory } from '../../manifest/thin.ts';
import { ExitCode, UsageError, type Command } from '../command.ts';
import { refusedExitCode, reportManifestProblems } from './manifest-output.ts';

interface Converted { name: string; yaml: string }

export const convertCommand: Command = {
  name: 'convert',
  usage: `hoist convert <thin-manifest-dir> [--output-dir DIR] [--namespace NS]

Writes one PromotionManifest per project of a kpromo thin-manifest directory (to stdout, or one
file per resource with --output-dir). A project too large for one resource (each is kept under
${resourceBudgetBytes / 1024} KiB of JSON, so client-side kubectl apply and Argo CD take it) is
split into <project>-1 .. <project>-n, each with the project's registries and a share of its
images. Refused projects and entries are listed; every valid project is written.

Exit codes: 0 every project converted; 1 nothing converted; 2 bad usage; 3 written, but some
projects or dmap entries were refused (listed on stderr).`,
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
    if (!(await isThinManifestDirectory(dir))) {
      io.err.write(`${new ManifestError('NotAManifest', join(dir, 'manifests'), 1, 1, 'not a thin-manifest directory: expected manifests/<project>/promoter-manifest.yaml and images/<project>/images.yaml below it').message}\nerror: nothing converted\n`);
      return ExitCode.Failed;
    }

    const loaded = await loadManifests(dir);
    const verdict = reportManifestProblems(loaded, io, 'the thin manifests');
    const converted: Converted[] = [];
    const notConverted: string[] = [];
    const splits: string[] = [];
    const byName = new Map<string, string>();
    for (const manifest of loaded.specs) {
      const project = manifest.name!;
      const name = resourceName(project);
      const clash = name === undefined ? undefined : byName.get(name);
      if (name === undefined || clash !== undefined) {
        io.err.write(`${manifest.source}:1:1: project "${project}" ${name === undefined
          ? 'has no letters or digits to name a resource after'
          : `and project "${clash}" both become resource "${name}"`}; rename a project directory\n`);
        notConverted.push(project);
        continue;
      }
      byName.set(name, project);
      if (!manifest.spec.registries.some((r) => !r.src)) {
        io.err.write(`${manifest.source}:1:1: project "${project}" has no destination registry; a PromotionManifest needs one, so it is not converted\n`);
        notConverted.push(project);
        continue;
      }
      if (manifest.spec.registries.some((r) => r.serviceAccount)) {
        io.err.write(`note: ${manifest.source}: service-account is not carried over; give registries credentials.secretRef instead\n`);
      }
      const parts = splitProject(name, manifest.spec, namespace);
      if (parts.length > 1) splits.push(`${project} into ${parts.length}`);
      parts.forEach((part, i) => {
        const resource = toPromotionManifest(part.name, part.spec, namespace);
        // The CRD's bounds are chosen so every real project fits after splitting; checked here
        // so a surprise shows at convert time, not at `kubectl apply`.
        const checked = promotionManifestSchema.safeParse(resource);
        if (!checked.success) throw new Error(`converted resource ${part.name} does not pass the schema: ${checked.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
        const of = parts.length > 1 ? ` (part ${i + 1} of ${parts.length})` : '';
        const comment = `Converted by hoist convert from manifests/${project}/promoter-manifest.yaml and images/${project}/images.yaml${of}`;
        converted.push({ name: part.name, yaml: renderPromotionManifest(resource, comment) });
      });
    }

    const outputDir = values['output-dir'];
    if (outputDir === undefined) {
      io.out.write(converted.map((c) => c.yaml).join('---\n'));
    } else if (converted.length > 0) {
      await mkdir(outputDir, { recursive: true });
      for (const c of converted) {
        const file = join(outputDir, `${c.name}.yaml`);
        await writeFile(file, c.yaml);
        io.out.write(`wrote ${file}\n`);
      }
    }
    const refused = [...loaded.refused.map((r) => r.name ?? r.source), ...notConverted];
    const projects = loaded.specs.length - notConverted.length;
    io.err.write(`converted ${projects} project${projects === 1 ? '' : 's'} into ${converted.length} resource${converted.length === 1 ? '' : 's'}`
      + `${splits.length ? ` (split: ${splits.join(', ')})` : ''}${refused.length ? `; not converted: ${refused.join(', ')}` : ''}\n`);
    if (converted.length === 0) return ExitCode.Failed;
    return verdict.someRefused || notConverted.length > 0 ? refusedExitCode : ExitCode.Ok;
  },
};
