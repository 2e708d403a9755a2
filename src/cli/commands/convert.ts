// `hoist convert`: kpromo manifests -> PromotionManifest resources. A thin-manifest directory
// gives one resource per project (named after it); a single kpromo manifest file, or a folder
// of them, gives one per file (named --name, or after the file). Projects too large for one
// resource are split so every resource fits client-side `kubectl apply` (manifest/split.ts).
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { promotionManifestSchema } from '../../api/promotion-manifest.ts';
import type { LoadedManifest } from '../../manifest/load.ts';
import { renderPromotionManifest, resourceName, toPromotionManifest } from '../../manifest/resource.ts';
import { resourceBudgetBytes, splitProject } from '../../manifest/split.ts';
import { isThinManifestDirectory, manifestFileName } from '../../manifest/thin.ts';
import { ExitCode, UsageError, type Command, type CommandIO } from '../command.ts';
import { parseFlags } from '../flags.ts';
import { loadTarget } from '../run.ts';
import { refusedExitCode, reportManifestProblems } from './manifest-output.ts';

interface Converted { name: string; resource: object; yaml: string }

const flags = {
  'output-dir': { type: 'string' },
  output: { type: 'string', short: 'o', default: 'yaml' },
  namespace: { type: 'string', short: 'n' },
  name: { type: 'string' },
} as const;

const usage = `hoist convert <thin-manifest-dir | manifest.yaml | dir-of-manifests> [flags]

Writes PromotionManifest resources from kpromo manifests: one per project of a thin-manifest
directory, named after the project; one per kpromo manifest file, named after the file (its
folder, for a file called ${manifestFileName}) or --name. A project too large for one
resource (each is kept under ${resourceBudgetBytes / 1024} KiB of JSON, so client-side kubectl apply and Argo CD
take it) is split into <name>-1 .. <name>-n, each with the project's registries and a share of
its images. Refused projects and entries are listed; every valid project is written.

Flags:
      --output-dir DIR     write one file per resource, DIR/<name>.yaml (default: all to stdout)
  -o, --output FORMAT      yaml (default) or json (a v1 List on stdout; DIR/<name>.json files)
  -n, --namespace NS       set metadata.namespace (default: none; kubectl apply picks one)
      --name NAME          the resource's name, when converting a single manifest file

Exit codes: 0 every project converted; 1 nothing converted; 2 bad usage; 3 written, but some
projects or dmap entries were refused (listed on stderr).`;

/** The resource name a manifest gets: the thin project, --name, or the file's name. */
function baseName(manifest: LoadedManifest, given: string | undefined): string {
  if (manifest.name !== undefined) return manifest.name;
  if (given !== undefined) return given;
  const file = basename(manifest.source, extname(manifest.source));
  return file === basename(manifestFileName, '.yaml') ? basename(dirname(manifest.source)) : file;
}

function outputOf(text: string | undefined): 'yaml' | 'json' {
  if (text === 'yaml' || text === 'json') return text;
  // -o was the folder flag before --output-dir; say so instead of writing a file named "yaml".
  throw new UsageError(`--output (-o) is the format, yaml or json, got "${text}"; to write one file per resource use --output-dir ${text}`);
}

/** Each accepted manifest as one or more resources; what cannot be converted is reported. */
function convertAll(specs: LoadedManifest[], values: { namespace?: string | undefined; name?: string | undefined }, io: CommandIO) {
  const converted: Converted[] = [];
  const notConverted: string[] = [];
  const splits: string[] = [];
  const byName = new Map<string, string>();
  for (const manifest of specs) {
    const project = baseName(manifest, values.name);
    const name = resourceName(project);
    const clash = name === undefined ? undefined : byName.get(name);
    if (name === undefined || clash !== undefined) {
      io.err.write(`${manifest.source}:1:1: "${project}" ${name === undefined
        ? 'has no letters or digits to name a resource after; give one with --name'
        : `and "${clash}" both become resource "${name}"`}; rename one\n`);
      notConverted.push(project);
      continue;
    }
    byName.set(name, project);
    if (!manifest.spec.registries.some((r) => !r.src)) {
      io.err.write(`${manifest.source}:1:1: "${project}" has no destination registry; a PromotionManifest needs one, so it is not converted\n`);
      notConverted.push(project);
      continue;
    }
    if (manifest.spec.registries.some((r) => r.serviceAccount)) {
      io.err.write(`note: ${manifest.source}: service-account is not carried over; give registries credentials.secretRef instead\n`);
    }
    const parts = splitProject(name, manifest.spec, values.namespace);
    if (parts.length > 1) splits.push(`${project} into ${parts.length}`);
    const from = manifest.name === undefined ? manifest.source
      : `manifests/${manifest.name}/${manifestFileName} and images/${manifest.name}/images.yaml`;
    parts.forEach((part, i) => {
      const resource = toPromotionManifest(part.name, part.spec, values.namespace);
      // The CRD's bounds are chosen so every real project fits after splitting; checked here
      // so a surprise shows at convert time, not at `kubectl apply`.
      const checked = promotionManifestSchema.safeParse(resource);
      if (!checked.success) throw new Error(`converted resource ${part.name} does not pass the schema: ${checked.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
      const of = parts.length > 1 ? ` (part ${i + 1} of ${parts.length})` : '';
      converted.push({ name: part.name, resource, yaml: renderPromotionManifest(resource, `Converted by hoist convert from ${from}${of}`) });
    });
  }
  return { converted, notConverted, splits };
}

export const convertCommand: Command = {
  name: 'convert',
  usage,
  flags,
  async run(args, io) {
    const { values, positionals } = parseFlags('convert', args, flags, { positionals: true });
    const [target, ...extra] = positionals;
    if (target === undefined || extra.length > 0) throw new UsageError('convert takes exactly one thin-manifest directory, kpromo manifest file or folder of them');
    const output = outputOf(values.output);
    const namespace = values.namespace;
    if (namespace !== undefined && resourceName(namespace) !== namespace) {
      throw new UsageError(`--namespace "${namespace}" is not a valid namespace name (lowercase letters, digits and -)`);
    }
    if (values.name !== undefined && resourceName(values.name) !== values.name) {
      throw new UsageError(`--name "${values.name}" is not a valid resource name (lowercase letters, digits and -, at most 63)`);
    }
    const loaded = await loadTarget(target);
    if (loaded.specs.some((s) => s.resourceSpec !== undefined)) {
      throw new UsageError(`${target} holds PromotionManifest resources already; convert reads kpromo manifests`);
    }
    if (values.name !== undefined && (loaded.specs.length > 1 || await isThinManifestDirectory(target))) {
      throw new UsageError('--name names the resource of a single manifest file; thin-manifest projects are named after their folders');
    }
    const verdict = reportManifestProblems(loaded, io, 'the kpromo manifests');
    const { converted, notConverted, splits } = convertAll(loaded.specs, values, io);

    const outputDir = values['output-dir'];
    if (outputDir === undefined) {
      io.out.write(output === 'json'
        ? `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: converted.map((c) => c.resource) }, null, 2)}\n`
        : converted.map((c) => c.yaml).join('---\n'));
    } else if (converted.length > 0) {
      await mkdir(outputDir, { recursive: true });
      for (const c of converted) {
        const file = join(outputDir, `${c.name}.${output}`);
        await writeFile(file, output === 'json' ? `${JSON.stringify(c.resource, null, 2)}\n` : c.yaml);
        io.out.write(`wrote ${file}\n`);
      }
    }
    const refused = [...loaded.refused.map((r) => r.name ?? r.source), ...notConverted];
    const projects = loaded.specs.length - notConverted.length;
    const noun = loaded.specs.every((s) => s.name !== undefined) ? 'project' : 'manifest';
    io.err.write(`converted ${projects} ${noun}${projects === 1 ? '' : 's'} into ${converted.length} resource${converted.length === 1 ? '' : 's'}`
      + `${splits.length ? ` (split: ${splits.join(', ')})` : ''}${refused.length ? `; not converted: ${refused.join(', ')}` : ''}\n`);
    if (converted.length === 0) return ExitCode.Failed;
    return verdict.someRefused || notConverted.length > 0 ? refusedExitCode : ExitCode.Ok;
  },
};
