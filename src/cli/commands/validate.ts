import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ManifestError, sortErrors } from '../../manifest/errors.ts';
import { parsePlainManifest } from '../../manifest/kpromo.ts';
import { expandEdges, type PromotionSpec } from '../../manifest/model.ts';
import { holdsPromotionManifests, parsePromotionManifests } from '../../manifest/resource.ts';
import { isThinManifestDirectory, loadThinManifestDirectory } from '../../manifest/thin.ts';
import { ExitCode, UsageError, type Command } from '../command.ts';

interface Outcome { specs: PromotionSpec[]; errors: ManifestError[] }

async function validateFile(file: string): Promise<Outcome> {
  const text = await readFile(file, 'utf8');
  if (holdsPromotionManifests(text)) {
    const { manifests, errors } = parsePromotionManifests(file, text);
    return { specs: manifests.map((m) => m.spec), errors };
  }
  const parsed = parsePlainManifest(file, text);
  return parsed.ok ? { specs: [parsed.value], errors: [] } : { specs: [], errors: parsed.errors };
}

/** A directory that is not a thin-manifest layout: every YAML file in it that holds manifests. */
async function validateDirectory(dir: string): Promise<Outcome> {
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const outcome: Outcome = { specs: [], errors: [] };
  for (const name of files) {
    const file = join(dir, name);
    const text = await readFile(file, 'utf8');
    // Other files (kustomization.yaml, Secrets) may sit next to the manifests.
    if (!holdsPromotionManifests(text) && !/^registries\s*:/m.test(text)) continue;
    const { specs, errors } = await validateFile(file);
    outcome.specs.push(...specs);
    outcome.errors.push(...errors);
  }
  return outcome;
}

async function validatePath(target: string): Promise<Outcome> {
  const info = await stat(target).catch(() => undefined);
  if (!info) throw new UsageError(`${target}: no such file or directory`);
  if (!info.isDirectory()) return validateFile(target);
  if (await isThinManifestDirectory(target)) {
    const { projects, errors } = await loadThinManifestDirectory(target);
    return { specs: projects.map((p) => p.spec), errors };
  }
  return validateDirectory(target);
}

export const validateCommand: Command = {
  name: 'validate',
  summary: 'Check manifests offline: a kpromo manifest, a thin-manifest directory or PromotionManifest YAML',
  usage: 'hoist validate <file-or-dir>',
  async run(args, io) {
    const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
    const [target, ...extra] = positionals;
    if (target === undefined || extra.length > 0) throw new UsageError('validate takes exactly one file or directory');
    const { specs, errors } = await validatePath(target);
    if (errors.length > 0) {
      for (const error of sortErrors(errors)) io.err.write(`${error.message}\n`);
      io.err.write(`error: ${errors.length} problem${errors.length === 1 ? '' : 's'}\n`);
      return ExitCode.Failed;
    }
    if (specs.length === 0) {
      io.err.write(`error: ${target}: no manifests found\n`);
      return ExitCode.Failed;
    }
    const edges = specs.reduce((sum, spec) => sum + expandEdges(spec).length, 0);
    io.out.write(`ok: ${specs.length} manifest${specs.length === 1 ? '' : 's'}, ${edges} edge${edges === 1 ? '' : 's'}\n`);
    return ExitCode.Ok;
  },
};
