import { parseArgs } from 'node:util';
import { loadManifests, ManifestPathError } from '../../manifest/load.ts';
import { ExitCode, UsageError, type Command } from '../command.ts';
import { acceptedSummary, reportManifestProblems } from './manifest-output.ts';

export const validateCommand: Command = {
  name: 'validate',
  usage: `hoist validate <file-or-dir>

Checks kpromo manifests (a file, or a thin-manifest directory) or PromotionManifest YAML offline
and reports every problem of every manifest at once, located as file:line:col. Warnings (what
kpromo accepts but the owner should fix) do not fail the check.

Exit codes: 0 valid (warnings allowed); 1 a manifest or an entry of one is refused, or the path
holds no manifests; 2 bad usage (arguments, a path that does not exist).`,
  async run(args, io) {
    const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
    const [target, ...extra] = positionals;
    if (target === undefined || extra.length > 0) throw new UsageError('validate takes exactly one file or directory');
    const loaded = await loadManifests(target).catch((error: unknown) => {
      throw error instanceof ManifestPathError ? new UsageError(error.message) : error;
    });
    const verdict = reportManifestProblems(loaded, io);
    if (verdict.someRefused || verdict.nothingAccepted) return ExitCode.Failed;
    io.out.write(`ok: ${acceptedSummary(loaded)}\n`);
    return ExitCode.Ok;
  },
};
