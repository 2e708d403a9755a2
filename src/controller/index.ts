// The controller: watches PromotionManifests (and the Secrets they use), feeds their keys into
// a work queue, and, on the leader only, reconciles them with bounded concurrency. Everything a
// test or the CLI needs to start and stop it is here; each part lives in its own module.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { group, names, version } from '../api/promotion-manifest.ts';
import { createLogger, type Logger, type LogLevel } from '../observability/logger.ts';
import { ControllerMetrics, controllerName } from '../observability/metrics.ts';
import { Limiters, type RegistryClientOptions } from '../registry/index.ts';
import type { BackoffOptions } from './backoff.ts';
import { apiSecretReader } from './credentials.ts';
import { apiEventSink } from './events.ts';
import { parseBindAddress, serveMetrics, serveProbes, type Endpoint } from './http.ts';
import { kubeClients, loadKubeConfig, objectKey, splitKey } from './kube.ts';
import { LeaderElector } from './leader.ts';
import { Reconciler, requestedAtAnnotation, type ManifestObject, type ReconcileResult } from './reconciler.ts';
import { Reflector, type ListResult } from './reflector.ts';
import { checkSelector } from './scope.ts';
import { StatusWriter, type StatusHooks } from './status.ts';
import { WorkQueue } from './queue.ts';

export { requestedAtAnnotation } from './reconciler.ts';

export interface ControllerOptions {
  kubeconfig?: string;
  /** Instead of kubeconfig (tests). */
  kubeConfig?: KubeConfig;
  metricsBindAddress?: string;
  healthProbeBindAddress?: string;
  leaderElect?: boolean;
  leaderElectionNamespace?: string;
  leaderElectionId?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  concurrent?: number;
  namespace?: string;
  selector?: string;
  allowedRegistries?: string[];
  logLevel?: LogLevel;
  logger?: Logger;
  /** Leader identity; default $POD_NAME, else hostname_uuid. */
  identity?: string;
  keylessTokenPath?: string;
  fulcioUrl?: string;
  rekorUrl?: string;
  /** Parsed sigstore trusted_root.json (--trusted-root): Fulcio roots for keyless verification. */
  trustedRoot?: object;
  /** Re-delivers every cached manifest this often (default 10m); runs happen only when due. */
  resyncMs?: number;
  watchdogMs?: number;
  watchBackoff?: BackoffOptions;
  queueBackoff?: BackoffOptions;
  /** Bounds the wait for running reconciles at shutdown. */
  shutdownGraceMs?: number;
  registry?: Partial<RegistryClientOptions>;
  hooks?: StatusHooks;
}

export interface RunningController {
  readonly metrics: ControllerMetrics;
  readonly logger: Logger;
  readonly identity: string;
  /** Ports actually bound (0 when disabled). */
  readonly healthPort: number;
  readonly metricsPort: number;
  /** Resolves when the caches have synced. */
  readonly synced: Promise<void>;
  /** Resolves when the controller has stopped: stop() or lost leadership ('lost'). */
  readonly done: Promise<'stopped' | 'lost'>;
  isLeader(): boolean;
  stop(): Promise<void>;
}

/**
 * Default bound on waiting for running reconciles at shutdown: well inside the chart's
 * terminationGracePeriodSeconds (30 s), leaving time to stop the watches and release the Lease.
 */
export const defaultShutdownGraceMs = 20_000;

/**
 * The Secret watch's field selector: all Secrets except the types no manifest names and that
 * can be many or large (Helm release records, legacy ServiceAccount tokens).
 */
export const secretFieldSelector = 'type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token';

type SecretMeta = Pick<V1Secret, 'metadata' | 'type'>;

function defaultLeaseNamespace(): string | undefined {
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
  } catch {
    return undefined;
  }
}

export async function startController(options: ControllerOptions = {}): Promise<RunningController> {
  const logger = options.logger ?? createLogger({ level: options.logLevel ?? 'info' });
  const config = options.kubeConfig ?? loadKubeConfig(options.kubeconfig);
  const kube = kubeClients(config);
  const metrics = new ControllerMetrics();
  const identity = options.identity ?? process.env.POD_NAME ?? `${hostname()}_${randomUUID()}`;
  const concurrent = options.concurrent ?? 4;
  if (!Number.isInteger(concurrent) || concurrent < 1) throw new RangeError(`--concurrent must be a whole number of at least 1, got ${concurrent}`);
  metrics.maxConcurrent.set({ controller: controllerName }, concurrent);

  const queue = new WorkQueue({ metrics: metrics.queue(controllerName), ...(options.queueBackoff && { backoff: options.queueBackoff }) });
  const secrets = apiSecretReader(kube.core);
  let manifests: Reflector<ManifestObject> | undefined;
  const reconciler = new Reconciler({
    get: (key) => manifests?.get(key),
    secrets,
    status: new StatusWriter(kube.custom, logger, options.hooks),
    events: apiEventSink(kube.core, identity, logger),
    metrics, logger,
    ...(options.allowedRegistries && { allowedRegistries: options.allowedRegistries }),
    // One limiter per registry host for the whole process, shared by every run's client.
    registry: { ...options.registry, limiters: options.registry?.limiters ?? new Limiters(options.registry?.rateLimit, options.registry?.rateLimitByHost) },
    keyless: {
      ...(options.fulcioUrl && { fulcioURL: options.fulcioUrl }),
      ...(options.keylessTokenPath && { tokenPath: options.keylessTokenPath }),
      ...(options.trustedRoot && { trustedRoot: options.trustedRoot }),
    },
  });

  const ns = options.namespace;
  const labelSelector = options.selector;
  await checkSelector(kube.custom, ns, labelSelector);
  manifests = new Reflector<ManifestObject>({
    name: names.plural,
    watch: kube.watch,
    path: ns ? `/apis/${group}/${version}/namespaces/${ns}/${names.plural}` : `/apis/${group}/${version}/${names.plural}`,
    query: { ...(labelSelector && { labelSelector }) },
    list: async () => (ns
      ? kube.custom.listNamespacedCustomObject({ group, version, plural: names.plural, namespace: ns, ...(labelSelector && { labelSelector }) })
      : kube.custom.listClusterCustomObject({ group, version, plural: names.plural, ...(labelSelector && { labelSelector }) })) as Promise<ListResult<ManifestObject>>,
    logger,
    ...(options.watchBackoff && { backoff: options.watchBackoff }),
    ...(options.watchdogMs && { watchdogMs: options.watchdogMs }),
    resyncMs: options.resyncMs ?? 10 * 60_000,
    handlers: {
      add: (obj) => queue.add(objectKey(obj)),
      update: (old, obj) => {
        // Our own status writes come back as updates: only spec and on-demand requests count.
        const requested = (o: ManifestObject) => o.metadata.annotations?.[requestedAtAnnotation];
        if (old.metadata.generation !== obj.metadata.generation || requested(old) !== requested(obj) || old.metadata.uid !== obj.metadata.uid) queue.add(objectKey(obj));
      },
      // Not forgotten here: a run in progress would record it again. Its reconcile finds it gone.
      delete: (obj) => queue.add(objectKey(obj)),
      resync: (obj) => queue.add(objectKey(obj)),
    },
  });
  const onSecret = (secret: SecretMeta) => {
    const { namespace, name } = secret.metadata ?? {};
    if (!namespace || !name) return;
    for (const key of reconciler.usersOfSecret(namespace, name)) {
      reconciler.markStale(key);
      queue.add(key);
    }
  };
  // Only metadata is kept: credentials and keys are read fresh when a run needs them. Every
  // type a manifest can name is watched (registry credentials, Opaque signing and public keys).
  const secretWatch = new Reflector<SecretMeta>({
    name: 'secrets',
    watch: kube.watch,
    path: ns ? `/api/v1/namespaces/${ns}/secrets` : '/api/v1/secrets',
    query: { fieldSelector: secretFieldSelector },
    list: async () => (ns
      ? kube.core.listNamespacedSecret({ namespace: ns, fieldSelector: secretFieldSelector })
      : kube.core.listSecretForAllNamespaces({ fieldSelector: secretFieldSelector })) as Promise<ListResult<SecretMeta>>,
    transform: (s) => ({ metadata: { ...(s.metadata?.name && { name: s.metadata.name }), ...(s.metadata?.namespace && { namespace: s.metadata.namespace }), ...(s.metadata?.resourceVersion && { resourceVersion: s.metadata.resourceVersion }) }, ...(s.type && { type: s.type }) }),
    logger,
    ...(options.watchBackoff && { backoff: options.watchBackoff }),
    ...(options.watchdogMs && { watchdogMs: options.watchdogMs }),
    handlers: { add: onSecret, update: (_old, s) => onSecret(s), delete: onSecret },
  });

  let stopping = false;
  let synced = false;
  const shutdown = new AbortController();
  const endpoints: Endpoint[] = [];
  const healthAddress = parseBindAddress(options.healthProbeBindAddress ?? ':8081', 'health-probe-bind-address');
  const metricsAddress = parseBindAddress(options.metricsBindAddress ?? ':8080', 'metrics-bind-address');
  const health = healthAddress && await serveProbes(healthAddress, {
    healthy: () => undefined,
    ready: () => (stopping ? 'shutting down' : synced ? undefined : 'caches not synced yet'),
  });
  if (health) endpoints.push(health);
  const metricsEndpoint = metricsAddress && await serveMetrics(metricsAddress, metrics.registry);
  if (metricsEndpoint) endpoints.push(metricsEndpoint);

  manifests.start();
  secretWatch.start();
  const syncedPromise = Promise.all([manifests.synced, secretWatch.synced]).then(() => {
    synced = true;
    logger.info({ manifests: manifests.list().length, namespace: ns ?? '(all)', selector: labelSelector }, 'caches synced');
  });

  const workers: Promise<void>[] = [];
  const startWorkers = () => {
    for (let i = 0; i < concurrent; i++) workers.push(worker());
  };
  async function worker(): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      metrics.activeWorkers.inc({ controller: controllerName });
      const started = performance.now();
      let result: ReconcileResult;
      try {
        result = await reconciler.reconcile(key, shutdown.signal);
      } catch (error) {
        result = { kind: 'error', error: error as Error };
      }
      metrics.reconcileTime.observe({ controller: controllerName }, (performance.now() - started) / 1000);
      metrics.activeWorkers.dec({ controller: controllerName });
      if (result.kind === 'error') {
        metrics.reconcileErrors.inc({ controller: controllerName });
        metrics.reconcileTotal.inc({ controller: controllerName, result: 'error' });
        const delay = queue.addRateLimited(key);
        logger.debug({ ...splitKey(key), err: result.error.message, retryInMs: delay }, 'reconcile error; requeued');
      } else if (result.kind === 'requeueAfter') {
        queue.forget(key);
        metrics.reconcileTotal.inc({ controller: controllerName, result: 'requeue_after' });
        queue.addAfter(key, result.ms);
      } else if (result.kind === 'done') {
        queue.forget(key);
        metrics.reconcileTotal.inc({ controller: controllerName, result: 'success' });
      }
      queue.done(key);
    }
  }

  let resolveDone!: (why: 'stopped' | 'lost') => void;
  const done = new Promise<'stopped' | 'lost'>((resolve) => { resolveDone = resolve; });
  let elector: LeaderElector | undefined;
  let stopPromise: Promise<void> | undefined;

  const stop = (why: 'stopped' | 'lost' = 'stopped'): Promise<void> => {
    stopPromise ??= (async () => {
      stopping = true;
      logger.info({ why }, 'shutting down: no new work, interrupting running runs');
      queue.shutDown();
      shutdown.abort(new Error('controller shutting down'));
      // With the Lease lost another leader may already be running: interrupt our runs and do
      // not wait for them (the process exits); on a plain stop they get the grace period.
      if (why === 'stopped') {
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise((r) => { timer = setTimeout(r, options.shutdownGraceMs ?? defaultShutdownGraceMs); });
        await Promise.race([Promise.all(workers), grace]);
        clearTimeout(timer);
      }
      await Promise.all([manifests.stop(), secretWatch.stop()]);
      await elector?.stop();
      await Promise.all(endpoints.map((e) => e.close()));
      logger.info('stopped');
      resolveDone(why);
    })();
    return stopPromise;
  };

  if (options.leaderElect) {
    const leaseNamespace = options.leaderElectionNamespace ?? defaultLeaseNamespace();
    if (!leaseNamespace) throw new Error('--leader-elect needs --leader-election-namespace or $POD_NAMESPACE');
    const leaseName = options.leaderElectionId ?? 'hoist-controller';
    metrics.leaderStatus.set({ name: leaseName }, 0);
    elector = new LeaderElector({
      coordination: kube.coordination, namespace: leaseNamespace, name: leaseName, identity, logger,
      leaseDurationMs: options.leaseDurationMs ?? 15_000, renewDeadlineMs: options.renewDeadlineMs ?? 10_000, retryPeriodMs: options.retryPeriodMs ?? 2_000,
      onStatus: (leading) => metrics.leaderStatus.set({ name: leaseName }, leading ? 1 : 0),
    });
    const leader = elector;
    void (async () => {
      if (!(await leader.acquire())) return;
      // Renew from the moment we hold the Lease: waiting for the caches first would let it
      // expire under a slow sync while we still think we lead.
      const held = leader.hold();
      await Promise.race([syncedPromise, held]);
      if (!stopping && leader.leading) startWorkers();
      // Losing the Lease means another replica may already be reconciling: stop everything,
      // as controller-runtime does, and let the process restart as a standby.
      if ((await held) === 'lost') await stop('lost');
    })().catch((error: unknown) => {
      logger.error({ err: (error as Error).message }, 'leader election failed');
      void stop('lost');
    });
  } else {
    void syncedPromise.then(() => { if (!stopping) startWorkers(); });
  }

  return {
    metrics, logger, identity,
    healthPort: health?.port ?? 0,
    metricsPort: metricsEndpoint?.port ?? 0,
    synced: syncedPromise,
    done,
    isLeader: () => (elector ? elector.leading : true),
    stop: () => stop('stopped'),
  };
}
