// What every `hoist` subcommand provides; main.ts dispatches on the name.
import type { FlagSpecs } from './flags.ts';

export interface Command {
  name: string;
  usage: string;
  /** Its flags, for shell completion; the command parses its arguments itself. */
  flags?: FlagSpecs;
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
  /** Done, but something was refused (tag moves, lost digests, refused manifests or entries). */
  Refused: 3,
  /** Stopped by Ctrl-C (128 + SIGINT), as a shell reports a process killed by it. */
  Interrupted: 130,
  /** Stopped by SIGTERM (128 + 15). */
  Terminated: 143,
} as const;

export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * An AbortSignal that fires on Ctrl-C or SIGTERM while `work` runs, and the exit code the
 * signal calls for; the handlers are removed afterwards so a second Ctrl-C kills the process.
 */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<{ value?: T; error?: unknown; exitCode?: number }> {
  const controller = new AbortController();
  let exitCode: number | undefined;
  const onInt = () => { exitCode = ExitCode.Interrupted; controller.abort(new Error('interrupted')); };
  const onTerm = () => { exitCode = ExitCode.Terminated; controller.abort(new Error('terminated')); };
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  try {
    return { value: await work(controller.signal), ...(exitCode !== undefined && { exitCode }) };
  } catch (error) {
    return { error, ...(exitCode !== undefined && { exitCode }) };
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
