import type { Command, CommandIO } from './command.ts';
import { ExitCode, UsageError } from './command.ts';

interface CommandEntry {
  name: string;
  summary: string;
  /** Loaded on use: `hoist promote` never pays for the Kubernetes client, `--help` for nothing. */
  load(): Promise<Command>;
}

const commands: CommandEntry[] = [
  { name: 'controller', summary: 'Run the PromotionManifest controller (watch, reconcile, leader election, metrics)', load: async () => (await import('./commands/controller.ts')).controllerCommand },
  { name: 'promote', summary: 'Promote images from staging to production registries (a dry run unless --confirm)', load: async () => (await import('./commands/promote.ts')).promoteCommand },
  { name: 'plan', summary: 'Show what a promotion would do, reading the live registries; fails on tag moves and lost digests', load: async () => (await import('./commands/promote.ts')).planCommand },
  { name: 'replicate', summary: 'Copy the signatures a primary registry holds to the mirrors of the manifests\' digests (a dry run unless --confirm)', load: async () => (await import('./commands/replicate.ts')).replicateCommand },
  { name: 'verify', summary: 'Verify an image\'s signatures and attestations as cosign verify does (keys or keyless identity, Rekor, timestamps)', load: async () => (await import('./commands/verify.ts')).verifyCommand },
  { name: 'validate', summary: 'Check manifests offline: a kpromo manifest, a thin-manifest directory or PromotionManifest YAML', load: async () => (await import('./commands/validate.ts')).validateCommand },
  { name: 'convert', summary: 'Convert a kpromo thin-manifest directory into PromotionManifest resources', load: async () => (await import('./commands/convert.ts')).convertCommand },
  { name: 'version', summary: 'Print the version of hoist', load: async () => (await import('./commands/version.ts')).versionCommand },
];

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
    io.out.write(target ? await usageOf(target) : help());
    return name === undefined ? ExitCode.Usage : ExitCode.Ok;
  }
  const entry = commands.find((c) => c.name === (name === '--version' ? 'version' : name));
  if (!entry) {
    io.err.write(`Error: unknown command "${name}" for "hoist"\nRun 'hoist --help' for usage.\n`);
    return ExitCode.Usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out.write(await usageOf(entry));
    return ExitCode.Ok;
  }
  try {
    return await (await entry.load()).run(name === '--version' ? [] : rest, io);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err.write(`Error: ${(error as Error).message}\nRun 'hoist ${name} --help' for usage.\n`);
      return ExitCode.Usage;
    }
    io.err.write(`Error: ${(error as Error).message}\n`);
    return ExitCode.Failed;
  }
}
