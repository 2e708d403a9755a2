// Where the test bed's parts live, and a clear failure when one is missing: a test never skips
// because a part is absent, it fails and names the script that installs it.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { promisify } from 'node:util';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const installScript = 'scripts/testbed/install.sh';

export function testbedCache(): string {
  return process.env.HOIST_TESTBED_CACHE ?? join(homedir(), '.cache', 'hoist-testbed');
}

const debianTools = new Set(['docker-registry', 'skopeo', 'htpasswd', 'openssl', 'zsh', 'fish', 'prometheus', 'promtool']);

/** Absolute path of a test-bed binary, or an error that says how to install it. */
export function tool(name: string): string {
  const candidates = debianTools.has(name)
    ? [`/usr/bin/${name}`, `/usr/sbin/${name}`, `/usr/local/bin/${name}`]
    : [join(testbedCache(), 'bin', name)];
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // try the next place
    }
  }
  throw new Error(`test bed part "${name}" is not installed (looked in ${candidates.join(', ')}); run: bash ${installScript}`);
}

const execFileAsync = promisify(execFile);

/**
 * Runs a test-bed tool and returns its stdout. Asynchronous on purpose: a synchronous child
 * would block the event loop that serves in-process helpers such as the token server.
 */
export async function runTool(name: string, args: string[], options: { input?: string } = {}): Promise<string> {
  const child = execFileAsync(tool(name), args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (options.input !== undefined) child.child.stdin?.end(options.input);
  const { stdout } = await child;
  return stdout;
}
