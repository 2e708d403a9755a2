// Child processes for test-bed servers: started with their output captured, stopped for sure.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface Server {
  readonly name: string;
  readonly process: ChildProcess;
  /** The last lines the server printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

const live = new Set<Server>();
// A test run that dies must not leave registries and API servers behind.
process.once('exit', () => {
  for (const server of live) server.process.kill('SIGKILL');
});

export function startServer(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): Server {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const server: Server = {
    name,
    process: child,
    output: () => lines.slice(-40).join('\n'),
    async stop() {
      live.delete(server);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  live.add(server);
  return server;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Polls `probe` until it returns true; fails with the server's output when it dies or times out. */
export async function waitUntil(server: Server, what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.process.exitCode !== null) {
      throw new Error(`${server.name} exited (${server.process.exitCode}) before ${what}:\n${server.output()}`);
    }
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${server.name}: ${what} did not happen within ${timeoutMs} ms:\n${server.output()}`);
}
