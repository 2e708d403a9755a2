import type { Command, CommandIO } from './command.ts';
import { ExitCode, UsageError } from './command.ts';
import type { CompletionSource } from './commands/completion.ts';
import { explainParseArgsError, type FlagSpecs } from './flags.ts';

interface CommandEntry {
  name: string;
  summary: string;
  /** Loaded on use: `hoist promote` never pays for the Kubernetes client, `--help` for nothing. */
  load(): Promise<Command>;
}

const commands: CommandEntry[] = [
  { name: 'controller', summary: 'Run the PromotionManifest controller (watch, reconcile, leader election, metrics)', load: async () => (await import('./commands/controller.ts')).controllerCommand },
  { name: 'get', summary: 'List PromotionManifests and their status, as kubectl get pm (-w to follow)', load: async () => (await import('./commands/get.ts')).getCommand },
  { name: 'reconcile', summary: 'Run a PromotionManifest now and wait for the result', load: async () => (await import('./commands/reconcile.ts')).reconcileCommand },
  { name: 'suspend', summary: 'Stop the controller from running a PromotionManifest', load: async () => (await import('./commands/reconcile.ts')).suspendCommand },
  { name: 'resume', summary: 'Let the controller run a suspended PromotionManifest again, now', load: async () => (await import('./commands/reconcile.ts')).resumeCommand },
  { name: 'promote', summary: 'Promote images from staging to production registries (a dry run unless --confirm)', load: async () => (await import('./commands/promote.ts')).promoteCommand },
  { name: 'plan', summary: 'Show what a promotion would do, reading the live registries; --diff BASE for a pull request', load: async () => (await import('./commands/promote.ts')).planCommand },
  { name: 'replicate', summary: 'Copy the signatures a primary registry holds to the mirrors of the manifests\' digests (a dry run unless --confirm)', load: async () => (await import('./commands/replicate.ts')).replicateCommand },
  { name: 'verify', summary: 'Verify an image\'s signatures and attestations as cosign verify does (keys or keyless identity, Rekor, timestamps)', load: async () => (await import('./commands/verify.ts')).verifyCommand },
  { name: 'validate', summary: 'Check manifests offline: a kpromo manifest, a thin-manifest directory or PromotionManifest YAML', load: async () => (await import('./commands/validate.ts')).validateCommand },
  { name: 'convert', summary: 'Convert kpromo manifests (a file, or a thin-manifest directory) into PromotionManifest resources', load: async () => (await import('./commands/convert.ts')).convertCommand },
  { name: 'completion', summary: 'Print a shell completion script (bash, zsh, fish)', load: async () => (await import('./commands/completion.ts')).completionCommand(completionSources) },
  { name: 'version', summary: 'Print the version of hoist', load: async () => (await import('./commands/version.ts')).versionCommand },
];

/**
 * A command's flags: its own list, or those its usage text names (the controller's). In a
 * usage line a flag's value follows after one space ("--namespace NS", "--lease-duration 15s"),
 * its description after several.
 */
function flagsOf(command: Command): FlagSpecs {
  if (command.flags) return command.flags;
  const found: FlagSpecs = {};
  for (const m of command.usage.matchAll(/(?:-(\w), )?--([a-z][\w-]*)( [^\s-])?/g)) {
    found[m[2]!] = { type: m[3] ? 'string' : 'boolean', ...(m[1] && { short: m[1] }) };
  }
  return found;
}

async function completionSources(): Promise<CompletionSource[]> {
  // One at a time: loading client-node from two commands at once races its CommonJS parts.
  const sources: CompletionSource[] = [];
  for (const c of commands) sources.push({ name: c.name, summary: c.summary, flags: flagsOf(await c.load()) });
  return sources;
}

const usageOf = async (entry: CommandEntry) => `${entry.summary}\n\nUsage:\n  ${(await entry.load()).usage}\n`;

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'hoist promotes container images from staging to production registries, preserving digests.',
    '',
    'Usage:',
    '  hoist <command> [flags]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `hoist <command> --help` for the flags of one command.',
    '',
  ].join('\n');
}

export async function main(argv: string[], io: CommandIO = { out: process.stdout, err: process.stderr }): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const target = name === 'help' ? commands.find((c) => c.name === rest[0]) : undefined;
    if (name === 'help' && rest[0] !== undefined && !target) {
      io.err.write(`Error: unknown command "${rest[0]}" for "hoist"\nRun 'hoist --help' for usage.\n`);
      return ExitCode.Usage;
    }
    io.out.write(target ? await usageOf(target) : help());
    return name === undefined ? ExitCode.Usage : ExitCode.Ok;
  }
  const entry = commands.find((c) => c.name === (name === '--version' ? 'version' : name));
  if (!entry) {
    const hint = name.startsWith('-') ? `unknown flag ${name}; flags come after the command` : `unknown command "${name}" for "hoist"`;
    io.err.write(`Error: ${hint}\nRun 'hoist --help' for usage.\n`);
    return ExitCode.Usage;
  }
  // Everything after `--` is an argument, so `--help` there is not a request for help.
  const flagsPart = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (flagsPart.includes('--help') || flagsPart.includes('-h')) {
    io.out.write(await usageOf(entry));
    return ExitCode.Ok;
  }
  try {
    return await (await entry.load()).run(rest, io);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (error instanceof UsageError || code?.startsWith('ERR_PARSE_ARGS')) {
      const message = error instanceof UsageError ? error.message : explainParseArgsError(error as Error & { code?: string });
      io.err.write(`Error: ${message}\nRun 'hoist ${entry.name} --help' for usage.\n`);
      return ExitCode.Usage;
    }
    io.err.write(`Error: ${(error as Error).message}\n`);
    return ExitCode.Failed;
  }
}
