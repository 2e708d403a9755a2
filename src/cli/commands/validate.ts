import { sortErrors } from '../../manifest/errors.ts';
import { acceptedEdgeCount } from '../../manifest/load.ts';
import { ExitCode, UsageError, type Command } from '../command.ts';
import { parseFlags } from '../flags.ts';
import { loadTarget } from '../run.ts';
import { acceptedSummary, reportManifestProblems } from './manifest-output.ts';

const flags = {
  output: { type: 'string', short: 'o', default: 'text' },
} as const;

export const validateCommand: Command = {
  name: 'validate',
  usage: `hoist validate <file-or-dir> [flags]

Checks kpromo manifests (a file, or a thin-manifest directory) or PromotionManifest YAML offline
and reports every problem of every manifest at once, located as file:line:col. Warnings (what
kpromo accepts but the owner should fix) do not fail the check. No registry is read and no
credentials are needed: made for the first step of pull-request CI.

Flags:
  -o, --output FORMAT    text (default: problems on stderr, a summary on stdout) or json (the
                         manifests, edge count and every problem with its reason, on stdout)

Exit codes: 0 valid (warnings allowed); 1 a manifest or an entry of one is refused, or the path
holds no manifests; 2 bad usage (arguments, a path that does not exist).`,
  flags,
  async run(args, io) {
    const { values, positionals } = parseFlags('validate', args, flags, { positionals: true });
    const [target, ...extra] = positionals;
    if (target === undefined || extra.length > 0) throw new UsageError('validate takes exactly one file or directory');
    if (values.output !== 'text' && values.output !== 'json') throw new UsageError(`--output must be text or json, got "${values.output}"`);
    const loaded = await loadTarget(target);
    const verdict = reportManifestProblems(loaded, io);
    const valid = !verdict.someRefused && !verdict.nothingAccepted;
    if (values.output === 'json') {
      io.out.write(`${JSON.stringify({
        valid,
        manifests: loaded.specs.map((m) => ({ source: m.source, ...(m.name !== undefined && { name: m.name }), ...(m.namespace !== undefined && { namespace: m.namespace }) })),
        refused: loaded.refused.map((r) => ({ source: r.source, ...(r.name !== undefined && { name: r.name }) })),
        edges: acceptedEdgeCount(loaded),
        problems: sortErrors([...loaded.errors, ...loaded.warnings]),
      }, null, 2)}\n`);
    } else if (valid) {
      io.out.write(`ok: ${acceptedSummary(loaded)}\n`);
    }
    return valid ? ExitCode.Ok : ExitCode.Failed;
  },
};
