// `hoist reconcile NAME`, `hoist suspend NAME`, `hoist resume NAME`: what `flux reconcile`,
// `flux suspend` and `flux resume` do for Flux's resources. Reconcile sets the
// reconcile.hoist.dev/requestedAt annotation and waits until the controller says it handled
// that request (status.lastHandledReconcileAt), then prints the result; resume clears
// spec.suspend and does the same.
import { parseDuration } from '../../api/duration.ts';
import { requestedAtAnnotation, type ManifestObject } from '../../controller/kube.ts';
import { ExitCode, UsageError, type Command, type CommandIO } from '../command.ts';
import { clusterFlagHelp, clusterFlags, connect, getManifest, patchManifest, promotionManifests, targetOf, type Cluster, type Kind } from '../cluster.ts';
import { parseFlags } from '../flags.ts';

const waitFlags = {
  ...clusterFlags,
  timeout: { type: 'string', default: '5m' },
  'no-wait': { type: 'boolean', default: false },
} as const;

const waitFlagHelp = `
Flags:
      --timeout DURATION       how long to wait for the controller (default 5m)
      --no-wait                ask, and do not wait for the result`;

/** How often the resource is read while waiting (as `flux reconcile` polls). */
const pollMs = 1000;

interface Condition { type: string; status: string; reason?: string; message?: string }

const conditionOf = (obj: ManifestObject, type: string): Condition | undefined =>
  (obj.status?.conditions as Condition[] | undefined)?.find((c) => c.type === type);

/** The result of the run the request asked for, in a few lines. */
function describe(obj: ManifestObject): string {
  const ready = conditionOf(obj, 'Ready');
  const lines = [`Ready=${ready?.status ?? 'Unknown'}${ready?.reason ? ` ${ready.reason}` : ''}${ready?.message ? `: ${ready.message}` : ''}`];
  const counts = (obj.status as { counts?: Record<string, unknown> } | undefined)?.counts;
  if (counts && Object.keys(counts).length > 0) lines.push(`counts: ${Object.entries(counts).map(([k, v]) => `${k} ${String(v)}`).join(', ')}`);
  return lines.join('\n');
}

function timeoutOf(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new UsageError(`--timeout must be a duration such as 5m, got "${text}"`);
  return ms;
}

/**
 * Waits until the controller has handled `requestedAt`; 0 when the result is Ready=True, 1
 * otherwise (and on timeout), 130 on Ctrl-C.
 */
async function waitHandled(cluster: Cluster, kind: Kind, namespace: string, name: string, requestedAt: string, timeoutMs: number, io: CommandIO): Promise<number> {
  const stop = new AbortController();
  let exit: number = ExitCode.Interrupted;
  const onInt = () => { exit = ExitCode.Interrupted; stop.abort(); };
  const onTerm = () => { exit = ExitCode.Terminated; stop.abort(); };
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  const deadline = Date.now() + timeoutMs;
  try {
    let obj = await getManifest(cluster, namespace, name, kind);
    while (obj.status?.lastHandledReconcileAt !== requestedAt) {
      if (obj.metadata.deletionTimestamp) throw new Error(`${kind.kind} ${namespace}/${name} is being deleted`);
      if (Date.now() >= deadline) {
        io.err.write(`error: the controller did not handle the request within ${shortMs(timeoutMs)}; is it running and watching namespace ${namespace}? `
          + `(kubectl -n hoist-system get pods, or hoist controller). Last status:\n${describe(obj)}\n`);
        return ExitCode.Failed;
      }
      const slept = await sleep(pollMs, stop.signal);
      if (!slept) return exit;
      obj = await getManifest(cluster, namespace, name, kind);
    }
    io.out.write(`${describe(obj)}\n`);
    return conditionOf(obj, 'Ready')?.status === 'True' ? ExitCode.Ok : ExitCode.Failed;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

const shortMs = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`);

function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(true); }, ms);
    const onAbort = () => { clearTimeout(timer); resolve(false); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function oneTarget(command: string, positionals: string[], kindFlag: string | undefined): { kind: Kind; name: string } {
  if (positionals.length !== 1) throw new UsageError(`${command} takes exactly one name (NAME, or TYPE/NAME such as sigrep/mirrors)`);
  return targetOf(positionals[0]!, kindFlag);
}

export const reconcileCommand: Command = {
  name: 'reconcile',
  usage: `hoist reconcile [TYPE/]NAME [flags]

Asks the controller to run NAME (a PromotionManifest; sigrep/NAME for a SignatureReplication)
now instead of at its next interval (sets the
${requestedAtAnnotation} annotation), waits until it has handled the request, and prints
the result. Exit 0 when Ready=True, 1 otherwise. A suspended manifest is not run: resume it first.
${waitFlagHelp}
${clusterFlagHelp}`,
  flags: waitFlags,
  async run(args, io) {
    const { values, positionals } = parseFlags('reconcile', args, waitFlags, { positionals: true });
    const { kind, name } = oneTarget('reconcile', positionals, values.kind);
    const timeoutMs = timeoutOf(values.timeout);
    const cluster = connect(values);
    const namespace = cluster.namespace;
    const current = await getManifest(cluster, namespace, name, kind);
    if (current.spec?.suspend === true) {
      io.err.write(`error: ${kind.kind} ${namespace}/${name} is suspended; resume it first: hoist resume ${kind === promotionManifests ? name : `sigrep/${name}`} -n ${namespace}\n`);
      return ExitCode.Failed;
    }
    const requestedAt = new Date().toISOString();
    await patchManifest(cluster, namespace, name, { metadata: { annotations: { [requestedAtAnnotation]: requestedAt } } }, kind);
    io.err.write(`requested a run of ${namespace}/${name} (${requestedAtAnnotation}=${requestedAt})\n`);
    if (values['no-wait']) return ExitCode.Ok;
    io.err.write('waiting for the controller to handle it\n');
    return waitHandled(cluster, kind, namespace, name, requestedAt, timeoutMs, io);
  },
};

export const suspendCommand: Command = {
  name: 'suspend',
  usage: `hoist suspend [TYPE/]NAME [flags]

Sets spec.suspend: the controller starts no run of NAME until it is resumed (a run going on
finishes). Git stays the source of truth: if your GitOps tool applies NAME, suspend it there too
or it may set spec.suspend back.
${clusterFlagHelp}`,
  flags: clusterFlags,
  async run(args, io) {
    const { values, positionals } = parseFlags('suspend', args, clusterFlags, { positionals: true });
    const { kind, name } = oneTarget('suspend', positionals, values.kind);
    const cluster = connect(values);
    await patchManifest(cluster, cluster.namespace, name, { spec: { suspend: true } }, kind);
    io.out.write(`suspended ${cluster.namespace}/${name}\n`);
    return ExitCode.Ok;
  },
};

export const resumeCommand: Command = {
  name: 'resume',
  usage: `hoist resume [TYPE/]NAME [flags]

Clears spec.suspend and asks for a run now, then waits for its result as hoist reconcile does.
${waitFlagHelp}
${clusterFlagHelp}`,
  flags: waitFlags,
  async run(args, io) {
    const { values, positionals } = parseFlags('resume', args, waitFlags, { positionals: true });
    const { kind, name } = oneTarget('resume', positionals, values.kind);
    const timeoutMs = timeoutOf(values.timeout);
    const cluster = connect(values);
    const namespace = cluster.namespace;
    const requestedAt = new Date().toISOString();
    await patchManifest(cluster, namespace, name, { spec: { suspend: false }, metadata: { annotations: { [requestedAtAnnotation]: requestedAt } } }, kind);
    io.err.write(`resumed ${namespace}/${name}\n`);
    if (values['no-wait']) return ExitCode.Ok;
    io.err.write('waiting for the controller to run it\n');
    return waitHandled(cluster, kind, namespace, name, requestedAt, timeoutMs, io);
  },
};
