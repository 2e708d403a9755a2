// Helpers for controller tests: the CRD applied, kubectl without blocking the event loop (an
// in-process controller must keep answering), polling for a status, and `hoist controller`
// as a child process whose JSON log lines can be waited for.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { crdFile } from '../../src/api/crd.ts';
import type { TestKube } from './kube.ts';
import { tool } from './testbed.ts';

const execFileAsync = promisify(execFile);
const hoistBin = new URL('../../bin/hoist.js', import.meta.url).pathname;

export async function kubectl(kube: TestKube, args: string[], input?: string): Promise<string> {
  const child = execFileAsync(tool('kubectl'), [`--kubeconfig=${kube.kubeconfig}`, ...args], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  child.child.stdin?.end(input ?? '');
  const { stdout } = await child;
  return stdout;
}

export async function applyCrd(kube: TestKube): Promise<void> {
  await kubectl(kube, ['apply', '--server-side', '-f', crdFile]);
  await kubectl(kube, ['wait', '--for', 'condition=established', '--timeout=60s', 'crd/promotionmanifests.hoist.dev']);
}

export const apply = (kube: TestKube, yaml: string): Promise<string> => kubectl(kube, ['apply', '-f', '-'], yaml);

export interface PmCondition { type: string; status: string; reason: string; message: string; lastTransitionTime: string; observedGeneration?: number }
export interface Pm {
  metadata: { name: string; namespace: string; generation: number; resourceVersion: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: PmCondition[];
    lastHandledReconcileAt?: string;
    counts?: Record<string, number>;
    failedImages?: { image: string; reason?: string }[];
    phases?: { name: string; result: string }[];
    inventory?: { desired?: number; present?: number; refused?: number; failed?: number; presentOfDesired?: string };
    lastPromoted?: { at: string; edges: number; interrupted?: boolean };
    progress?: { startedAt: string; phase?: string; toPromote?: number; pending?: string[] };
    admission?: { image: string; admissible: boolean; reason: string; message?: string }[];
  };
}

export async function getPm(kube: TestKube, name: string, namespace = 'default'): Promise<Pm> {
  return JSON.parse(await kubectl(kube, ['get', 'pm', name, '-n', namespace, '-o', 'json'])) as Pm;
}

export function condition(pm: Pm, type: string): PmCondition | undefined {
  return pm.status?.conditions?.find((c) => c.type === type);
}

/** Polls until `check` returns a value (not undefined/false); fails with the last value seen. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

/** Waits until the manifest's Ready condition has `status` for its current generation. */
export function waitForReady(kube: TestKube, name: string, status: 'True' | 'False' = 'True', timeoutMs = 60_000, namespace = 'default'): Promise<Pm> {
  return waitFor(`${name} Ready=${status}`, async () => {
    const pm = await getPm(kube, name, namespace);
    const ready = condition(pm, 'Ready');
    return pm.status?.observedGeneration === pm.metadata.generation && ready?.status === status && !condition(pm, 'Reconciling') ? pm : undefined;
  }, timeoutMs);
}

export interface KubeEvent {
  metadata: { name: string };
  type: string; reason: string; message: string; count: number;
  firstTimestamp: string; lastTimestamp: string; reportingInstance?: string;
}

/** The core/v1 Events about one object, as `kubectl get events` lists them. */
export async function getEvents(kube: TestKube, name: string, namespace = 'default'): Promise<KubeEvent[]> {
  const out = await kubectl(kube, ['get', 'events', '-n', namespace, '--field-selector', `involvedObject.name=${name}`, '-o', 'json']);
  return (JSON.parse(out) as { items: KubeEvent[] }).items;
}

export interface LogLine { level: string; msg: string; namespace?: string; name?: string; phase?: string; [key: string]: unknown }

export interface ControllerProcess {
  child: ChildProcess;
  lines: LogLine[];
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLog(what: string, match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  kill(signal?: NodeJS.Signals): void;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function spawnController(kube: TestKube, args: string[], env: NodeJS.ProcessEnv = {}): ControllerProcess {
  const child = spawn(process.execPath, [hoistBin, 'controller', `--kubeconfig=${kube.kubeconfig}`, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env },
  });
  running.add(child);
  const lines: LogLine[] = [];
  let buffered = '';
  let stderr = '';
  const waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const part of parts) {
      if (!part.trim()) continue;
      let line: LogLine;
      try {
        line = JSON.parse(part) as LogLine;
      } catch {
        line = { level: 'raw', msg: part };
      }
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    child, lines, exited,
    stderr: () => stderr,
    waitForLog(what, match, timeoutMs = 60_000) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`controller pid ${child.pid}: no log line "${what}" within ${timeoutMs} ms; last lines:\n${lines.slice(-15).map((l) => JSON.stringify(l)).join('\n')}\n${stderr.slice(-2000)}`)), timeoutMs);
        waiters.push({ match, resolve: (line) => { clearTimeout(timer); resolve(line); } });
        void exited.then(({ code, signal }) => {
          clearTimeout(timer);
          reject(new Error(`controller exited (${code ?? signal}) before "${what}":\n${lines.slice(-15).map((l) => JSON.stringify(l)).join('\n')}\n${stderr.slice(-2000)}`));
        });
      });
    },
    kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}
