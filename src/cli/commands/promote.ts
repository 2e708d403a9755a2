// `hoist promote` and `hoist plan`: the pipeline once, from kpromo manifests or PromotionManifest
// YAML, against live registries. Flags follow `kpromo cip`; promote is a dry run unless
// --confirm is given, as kpromo's is. Plan reads and verifies only, so it takes only the flags
// that matter to reading and verifying; `plan --diff BASE` plans only what a change adds.
import { edgesFromSpecs } from '../../pipeline/index.ts';
import { ExitCode, type Command, type CommandIO } from '../command.ts';
import { parseFlags, trustedRealms } from '../flags.ts';
import { reportChunks } from '../render.ts';
import {
  copyFlagHelp, copyFlags, durationFlag, exitCodes, loadTarget, manifestTarget, outputFormat, positiveInt, readFlagHelp, readFlags,
  reportExitCode, runEdges, type Values,
} from '../run.ts';
import { signFlagHelp, signFlags, verifyFlagHelp, verifyFlags } from '../trust.ts';
import { printParsedPlan, reportManifestProblems } from './manifest-output.ts';
import { diffFlagHelp, planDiff } from './plan-diff.ts';

export const planFlags = { ...readFlags, ...verifyFlags, diff: { type: 'string' } } as const;
export const promoteFlags = { ...readFlags, ...copyFlags, ...verifyFlags, ...signFlags } as const;

const plansNothing = 'plan copies nothing; it is a flag of hoist promote';
const signsNothing = 'plan signs nothing; signing flags belong to hoist promote';
const planElsewhere: Record<string, string> = {
  confirm: 'plan never writes; run hoist promote --confirm to promote',
  concurrency: plansNothing, 'edge-timeout': plansNothing,
  ...Object.fromEntries(Object.keys(signFlags).map((f) => [f, signsNothing])),
};

async function run(args: string[], io: CommandIO, planOnly: boolean): Promise<number> {
  const { values, positionals } = planOnly
    ? parseFlags('plan', args, planFlags, { positionals: true, elsewhere: planElsewhere })
    : parseFlags('promote', args, promoteFlags, { positionals: true, elsewhere: { diff: 'compare against a base with hoist plan --diff BASE' } });
  const v = values as Values;
  const target = manifestTarget(v, positionals);
  const output = outputFormat(v.output);
  // Checked before anything is read, so a typo fails fast.
  positiveInt('plan-concurrency', v['plan-concurrency']!);
  if (!planOnly) positiveInt('concurrency', v.concurrency!);
  for (const name of ['timeout', 'retry-budget', 'verify-interval', ...(planOnly ? [] : ['edge-timeout' as const])] as const) durationFlag(v, name, name === 'retry-budget' || name === 'verify-interval');
  trustedRealms(v['trusted-realm'] ?? []);
  if (v.diff !== undefined) return planDiff(target, v.diff, v, output, io);

  const loaded = await loadTarget(target);
  // Refused manifests and entries are reported; every valid one goes on (exit 3 at the end).
  const verdict = reportManifestProblems(loaded, io);
  if (v['parse-only']) return printParsedPlan(loaded, output, io, verdict);
  if (verdict.nothingAccepted) return ExitCode.Failed;
  const dryRun = planOnly || !v.confirm;
  const { report, stopped } = await runEdges(edgesFromSpecs(loaded.specs.map(({ spec }) => spec)), loaded, v, io, dryRun ? 'Plan' : 'Promote', planOnly ? 'plan' : 'promote');
  if (!report) return stopped!;
  for (const chunk of reportChunks(report, output, loaded.specs.map((s) => s.source))) io.out.write(chunk);
  if (dryRun && !planOnly && output === 'table' && report.outcome !== 'Failed') {
    io.err.write('dry run: nothing was written; pass --confirm to promote\n');
  }
  const code = reportExitCode(report);
  return code === ExitCode.Ok && verdict.someRefused ? ExitCode.Refused : code;
}

export const promoteCommand: Command = {
  name: 'promote',
  usage: `hoist promote --manifest FILE | --thin-manifest-dir DIR [--confirm] [flags]
${readFlagHelp}
${copyFlagHelp.trimStart()}
${verifyFlagHelp}
${signFlagHelp}
${exitCodes}`,
  flags: promoteFlags,
  run: (args, io) => run(args, io, false),
};

export const planCommand: Command = {
  name: 'plan',
  usage: `hoist plan --manifest FILE | --thin-manifest-dir DIR [--diff BASE] [flags]

Reads the registries and shows what a promotion would do: what it would copy, what is already
there, tag moves it would refuse, digests missing from staging, and the verification verdicts.
Nothing is written.
${readFlagHelp}
${diffFlagHelp}
${verifyFlagHelp}
${exitCodes}`,
  flags: planFlags,
  run: (args, io) => run(args, io, true),
};
