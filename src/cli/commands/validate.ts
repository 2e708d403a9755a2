import { parseArgs } from 'node:util';
import { sortErrors } from '../../manifest/errors.ts';
import { loadManifests, ManifestPathError } from '../../manifest/load.ts';
import { expandEdges } from '../../manifest/model.ts';
import { ExitCode, UsageError, type Command } from '../command.ts';

export const validateCommand: Command = {
  name: 'validate',
  usage: 'hoist validate <file-or-dir>',
  async run(args, io) {
    const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
    const [target, ...extra] = positionals;
    if (target === undefined || extra.length > 0) throw new UsageError('validate takes exactly one file or directory');
    const { specs, errors } = await loadManifests(target).catch((error: unknown) => {
      throw error instanceof ManifestPathError ? new UsageError(error.message) : error;
    });
    if (errors.length > 0) {
      for (const error of sortErrors(errors)) io.err.write(`${error.message}\n`);
      io.err.write(`error: ${errors.length} problem${errors.length === 1 ? '' : 's'}\n`);
      return ExitCode.Failed;
    }
    if (specs.length === 0) {
      io.err.write(`error: ${target}: no manifests found\n`);
      return ExitCode.Failed;
    }
    const edges = specs.reduce((sum, { spec }) => sum + expandEdges(spec).length, 0);
    io.out.write(`ok: ${specs.length} manifest${specs.length === 1 ? '' : 's'}, ${edges} edge${edges === 1 ? '' : 's'}\n`);
    return ExitCode.Ok;
  },
};
