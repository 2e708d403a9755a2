// What every `hoist` subcommand provides; main.ts dispatches on the name.
export interface Command {
  name: string;
  usage: string;
  run(args: string[], io: CommandIO): Promise<number>;
}

export interface CommandIO {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

// Exit codes shared by every command, so CI scripts can tell them apart.
export const ExitCode = {
  Ok: 0,
  Failed: 1,
  Usage: 2,
} as const;

export class UsageError extends Error {
  override name = 'UsageError';
}
