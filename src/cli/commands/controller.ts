// `hoist controller`: the long-running controller. Flags are the contract in
// docs/controller-reference.md (the Helm chart and kustomize base pass exactly these).
import { parseArgs } from 'node:util';
import { maxTimerMs, parseDuration } from '../../api/duration.ts';
import { startController } from '../../controller/index.ts';
import { logLevels, type LogLevel } from '../../observability/logger.ts';
import { TrustError } from '../../signing/errors.ts';
import type { SigningServices } from '../../signing/options.ts';
import { readSigningConfigFile } from '../../signing/signing-config.ts';
import { loadTrustedRoot } from '../../signing/trust-material.ts';
import { ExitCode, UsageError, type Command, type CommandIO } from '../command.ts';
import { trustedRealms } from '../flags.ts';

const flags = {
  kubeconfig: { type: 'string' },
  'metrics-bind-address': { type: 'string', default: ':8080' },
  'health-probe-bind-address': { type: 'string', default: ':8081' },
  'leader-elect': { type: 'boolean', default: false },
  'leader-election-namespace': { type: 'string' },
  'leader-election-id': { type: 'string', default: 'hoist-controller' },
  'lease-duration': { type: 'string', default: '60s' },
  'renew-deadline': { type: 'string', default: '40s' },
  'retry-period': { type: 'string', default: '15s' },
  concurrent: { type: 'string', default: '4' },
  namespace: { type: 'string' },
  selector: { type: 'string' },
  'allowed-registries': { type: 'string' },
  'signing-namespaces': { type: 'string' },
  'log-level': { type: 'string', default: 'info' },
  'keyless-token-path': { type: 'string', default: '/var/run/secrets/hoist.dev/sigstore/token' },
  'fulcio-url': { type: 'string' },
  'rekor-url': { type: 'string' },
  'timestamp-server-url': { type: 'string' },
  'signing-config': { type: 'string' },
  'trusted-root': { type: 'string' },
  'retry-budget': { type: 'string', default: '10m' },
  'edge-timeout': { type: 'string', default: '30m' },
  'trusted-realm': { type: 'string', multiple: true },
} as const;

const publicGoodFulcio = 'https://fulcio.sigstore.dev';

const usage = `hoist controller [flags]

Flags:
      --kubeconfig PATH                 default: in-cluster, else $KUBECONFIG, else ~/.kube/config
      --metrics-bind-address ADDR       serves /metrics (default :8080; 0 disables)
      --health-probe-bind-address ADDR  serves /healthz and /readyz (default :8081)
      --leader-elect                    run as one of several replicas; only the Lease holder reconciles
      --leader-election-namespace NS    default $POD_NAMESPACE, else the ServiceAccount's namespace
      --leader-election-id NAME         the Lease's name (default hoist-controller)
      --lease-duration 60s  --renew-deadline 40s  --retry-period 15s
                                        (client-go's 15s/10s/2s cost 60 API requests a minute idle)
      --concurrent N                    reconciles at once (default 4)
      --namespace NS                    watch one namespace only (default all)
      --selector LABEL_SELECTOR         only manifests matching it (sharding)
      --allowed-registries HOST,...     destination registry hosts manifests may name
      --signing-namespaces NS,...       namespaces whose manifests may sign keyless, as the
                                        controller's own identity (default: every namespace)
      --log-level debug|info|warn|error default info; JSON logs on stdout
      --keyless-token-path PATH         projected ServiceAccount token for keyless signing
      --fulcio-url URL                  default: the signing config's, else https://fulcio.sigstore.dev
      --signing-config FILE             Sigstore signing config: the Fulcio, Rekor (v1 or v2) and
                                        timestamp authority our signatures use
      --timestamp-server-url URL        RFC 3161 timestamp authority for our signatures
      --rekor-url URL                   Rekor v1 log our signatures are entered in; default none:
                                        nothing is written to a public log unless asked
      --trusted-root FILE               sigstore trusted_root.json: Fulcio CAs, logs and timestamp
                                        authorities, for verification and our own signatures
      --retry-budget DURATION           how long one registry request may retry 429s, 5xx and
                                        resets (default 10m)
      --edge-timeout DURATION           how long one edge's copy may take (default 30m)
      --trusted-realm REGISTRY=HOST     let REGISTRY's token server on HOST, outside its domain,
                                        receive its credentials (repeatable; docs/operations.md)

Environment: POD_NAMESPACE, POD_NAME (leader identity).`;

function duration(name: string, text: string, allowZero = false): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 0 || (!allowZero && ms === 0) || ms > maxTimerMs) throw new UsageError(`--${name} must be a duration such as 15s, at most 576h, got "${text}"`);
  return ms;
}

interface SigningFlags { 'signing-config'?: string | undefined; 'rekor-url'?: string | undefined; 'timestamp-server-url'?: string | undefined; 'fulcio-url'?: string | undefined }

/** Fulcio and the signing services from --signing-config, with --fulcio-url, --rekor-url and --timestamp-server-url winning. */
export async function signingFromFlags(values: SigningFlags): Promise<{ fulcioUrl: string; signingServices?: SigningServices }> {
  const config = values['signing-config'] === undefined ? undefined : await readSigningConfigFile(values['signing-config']).catch((error: unknown) => {
    throw error instanceof TrustError ? new UsageError(`--signing-config: ${error.message}`) : error;
  });
  for (const flag of ['rekor-url', 'timestamp-server-url', 'fulcio-url'] as const) {
    const url = values[flag];
    if (url !== undefined && !/^https?:\/\/[^/]/.test(url)) throw new UsageError(`--${flag} must be an http(s) URL, got "${url}"`);
  }
  const services: SigningServices = {
    ...config?.services,
    ...(values['rekor-url'] && { rekorURL: values['rekor-url'], rekorVersion: 1 as const }),
    ...(values['timestamp-server-url'] && { timestampAuthorityURL: values['timestamp-server-url'] }),
  };
  return { fulcioUrl: values['fulcio-url'] ?? config?.fulcioURL ?? publicGoodFulcio, ...(Object.keys(services).length > 0 && { signingServices: services }) };
}

async function run(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: flags, allowPositionals: true });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const concurrent = Number(values.concurrent);
  if (!Number.isInteger(concurrent) || concurrent < 1) throw new UsageError(`--concurrent must be a whole number of at least 1, got "${values.concurrent}"`);
  const logLevel = values['log-level'] as LogLevel;
  if (!logLevels.includes(logLevel)) throw new UsageError(`--log-level must be one of ${logLevels.join(', ')}, got "${values['log-level']}"`);
  const leaseDurationMs = duration('lease-duration', values['lease-duration']);
  const renewDeadlineMs = duration('renew-deadline', values['renew-deadline']);
  const retryPeriodMs = duration('retry-period', values['retry-period']);
  if (values['leader-elect'] && !(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs)) {
    throw new UsageError('--lease-duration must be longer than --renew-deadline, and --renew-deadline longer than --retry-period');
  }
  const allowedRegistries = values['allowed-registries']?.split(',').map((h) => h.trim()).filter(Boolean);
  const signingNamespaces = values['signing-namespaces']?.split(',').map((n) => n.trim()).filter(Boolean);
  if (signingNamespaces?.length === 0) throw new UsageError('--signing-namespaces needs at least one namespace; leave it out to allow every namespace');
  const registry = {
    retry: { budgetMs: duration('retry-budget', values['retry-budget'], true) },
    copyTimeoutMs: duration('edge-timeout', values['edge-timeout']),
    trustedRealms: trustedRealms(values['trusted-realm']),
  };
  const signing = await signingFromFlags(values);

  let controller;
  try {
    // Read once: a changed root needs a restart (the chart rolls the pod when it changes).
    const trustedRoot = values['trusted-root'] === undefined ? undefined : await loadTrustedRoot(values['trusted-root']);
    controller = await startController({
      ...(values.kubeconfig && { kubeconfig: values.kubeconfig }),
      metricsBindAddress: values['metrics-bind-address'],
      healthProbeBindAddress: values['health-probe-bind-address'],
      leaderElect: values['leader-elect'],
      ...(values['leader-election-namespace'] && { leaderElectionNamespace: values['leader-election-namespace'] }),
      leaderElectionId: values['leader-election-id'],
      leaseDurationMs, renewDeadlineMs, retryPeriodMs, concurrent,
      ...(values.namespace && { namespace: values.namespace }),
      ...(values.selector && { selector: values.selector }),
      ...(allowedRegistries && allowedRegistries.length > 0 && { allowedRegistries }),
      ...(signingNamespaces && { signingNamespaces }),
      logLevel,
      keylessTokenPath: values['keyless-token-path'],
      fulcioUrl: signing.fulcioUrl,
      ...(signing.signingServices && { signingServices: signing.signingServices }),
      ...(trustedRoot && { trustedRoot }),
      registry,
    });
  } catch (error) {
    io.err.write(`Error: ${(error as Error).message}\n`);
    return ExitCode.Failed;
  }
  const stop = () => void controller.stop();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    const why = await controller.done;
    // Losing the Lease: exit non-zero so the pod restarts as a clean standby.
    return why === 'lost' ? ExitCode.Failed : ExitCode.Ok;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}

export const controllerCommand: Command = {
  name: 'controller',
  usage,
  run,
};
