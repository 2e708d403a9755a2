// Runs the real `hoist` entry point as a child process, as a user or CI job would, with no
// Docker config of the machine's leaking in.
import { spawn } from 'node:child_process';

const hoistBin = new URL('../../bin/hoist.js', import.meta.url).pathname;

export interface HoistRun { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** SIGKILLs hoist once its stderr so far matches. */
  killWhen?: (stderr: string) => boolean;
  /** Sends the signal returned, once its stderr so far calls for one (Ctrl-C is SIGINT). */
  signalWhen?: (stderr: string) => NodeJS.Signals | undefined;
}

export function runHoist(args: string[], options: RunOptions = {}): Promise<HoistRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [hoistBin, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DOCKER_CONFIG: '/nonexistent', ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      if (options.killWhen?.(stderr)) child.kill('SIGKILL');
      const signal = options.signalWhen?.(stderr);
      if (signal) child.kill(signal);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
