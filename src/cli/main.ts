import type { Command, CommandIO } from './command.ts';
import { ExitCode, UsageError } from './command.ts';
import { controllerCommand } from './commands/controller.ts';
import { convertCommand } from './commands/convert.ts';
import { planCommand, promoteCommand } from './commands/promote.ts';
import { validateCommand } from './commands/validate.ts';
import { versionCommand } from './commands/version.ts';

const commands: Command[] = [controllerCommand, promoteCommand, planCommand, validateCommand, convertCommand, versionCommand];

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
    io.out.write(target ? `${target.summary}\n\nUsage:\n  ${target.usage}\n` : help());
    return name === undefined ? ExitCode.Usage : ExitCode.Ok;
  }
  if (name === '--version') return versionCommand.run([], io);
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err.write(`Error: unknown command "${name}" for "hoist"\nRun 'hoist --help' for usage.\n`);
    return ExitCode.Usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out.write(`${command.summary}\n\nUsage:\n  ${command.usage}\n`);
    return ExitCode.Ok;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err.write(`Error: ${(error as Error).message}\nRun 'hoist ${name} --help' for usage.\n`);
      return ExitCode.Usage;
    }
    io.err.write(`Error: ${(error as Error).message}\n`);
    return ExitCode.Failed;
  }
}
