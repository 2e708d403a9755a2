// The controller manager, as controller-runtime's: builds the parts (watches, work queue,
// reconciler, workers, probe and metrics endpoints, leader election), starts them in order,
// starts the workers only on the leader once the caches have synced, and stops everything on
// stop() or when the Lease is lost. Each part lives in its own module; this one wires them.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { createLogger, type Logger, type LogLevel } from '../observability/logger.ts';
import { ControllerMetrics, controllerName } from '../observability/metrics.ts';
import { Limiters, type RegistryClientOptions } from '../registry/index.ts';
import type { SigningServices } from '../signing/options.ts';
import type { BackoffOptions } from './backoff.ts';
import { systemClock, type Clock } from './clock.ts';
import { apiSecretReader } from './credentials.ts';
import { apiEventSink, type EventSink } from './events.ts';
import { parseBindAddress, serveMetrics, serveProbes, type Endpoint } from './http.ts';
import { kubeClients, loadKubeConfig, type KubeClients } from './kube.ts';
import { defaultLeaseTimings, LeaderElector } from './leader.ts';
import { WorkQueue } from './queue.ts';
import { Reconciler } from './reconciler.ts';
import { ReplicationController } from './replication-controller.ts';
import { RegistryRuns } from './runs.ts';
import { preflight } from './scope.ts';
import { StatusWriter, type StatusHooks } from './status.ts';
import { createWatches, type Watches } from './watches.ts';
import { apiConfigMapReader } from './trust.ts';
import { startWorkers } from './worker.ts';

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
  /** --signing-namespaces: where manifests may sign keyless, as the controller's identity; default every namespace. */
  signingNamespaces?: string[];
  /** Where our signatures get their timestamps and log entries (--signing-config, --timestamp-server-url, --rekor-url). */
  signingServices?: SigningServices;
  /** Parsed sigstore trusted_root.json (--trusted-root): Fulcio roots for keyless verification. */
  trustedRoot?: object;
  /** Bound on progress writes during a run; default 10 s. */
  progressIntervalMs?: number;
  /** Re-delivers every cached manifest this often (default 10m); runs happen only when due. */
  resyncMs?: number;
  watchdogMs?: number;
  watchBackoff?: BackoffOptions;
  queueBackoff?: BackoffOptions;
  /** Bounds the wait for running reconciles at shutdown. */
  shutdownGraceMs?: number;
  registry?: Partial<RegistryClientOptions>;
  hooks?: StatusHooks;
  clock?: Clock;
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
const defaultShutdownGraceMs = 20_000;


function defaultLeaseNamespace(): string | undefined {
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
  } catch {
    return undefined;
  }
}

function concurrency(options: ControllerOptions): number {
  const concurrent = options.concurrent ?? 4;
  if (!Number.isInteger(concurrent) || concurrent < 1) throw new RangeError(`--concurrent must be a whole number of at least 1, got ${concurrent}`);
  return concurrent;
}

interface Parts { logger: Logger; metrics: ControllerMetrics; identity: string; clock: Clock; events: EventSink; registryRuns: RegistryRuns; watches: () => Watches }

function createReconciler(o: ControllerOptions, kube: KubeClients, parts: Parts): Reconciler {
  return new Reconciler({
    get: (key) => parts.watches().manifests.get(key),
    secrets: apiSecretReader(kube.core),
    status: new StatusWriter(kube.custom, parts.logger, o.hooks),
    events: parts.events,
    metrics: parts.metrics, logger: parts.logger, clock: parts.clock,
    ...(o.allowedRegistries && { allowedRegistries: o.allowedRegistries }),
    registryRuns: parts.registryRuns,
    configMaps: apiConfigMapReader(kube.core),
    trust: {
      ...(o.fulcioUrl && { fulcioURL: o.fulcioUrl }),
      ...(o.keylessTokenPath && { tokenPath: o.keylessTokenPath }),
      ...(o.trustedRoot && { trustedRoot: o.trustedRoot }),
      ...(o.signingServices && { signingServices: o.signingServices }),
      ...(o.signingNamespaces && { signingNamespaces: o.signingNamespaces }),
    },
    ...(o.progressIntervalMs !== undefined && { progressIntervalMs: o.progressIntervalMs }),
  });
}

/** The SignatureReplication controller: same scope, backoffs and registry parts as the PromotionManifest one. */
function createReplication(o: ControllerOptions, kube: KubeClients, parts: Parts): ReplicationController {
  return new ReplicationController({
    kube, logger: parts.logger, metrics: parts.metrics, events: parts.events, registry: parts.registryRuns, clock: parts.clock,
    resyncMs: o.resyncMs ?? 10 * 60_000,
    ...(o.namespace && { namespace: o.namespace }), ...(o.selector && { selector: o.selector }), ...(o.allowedRegistries && { allowedRegistries: o.allowedRegistries }),
    ...(o.watchdogMs && { watchdogMs: o.watchdogMs }), ...(o.watchBackoff && { watchBackoff: o.watchBackoff }), ...(o.queueBackoff && { queueBackoff: o.queueBackoff }),
    ...(o.progressIntervalMs !== undefined && { progressIntervalMs: o.progressIntervalMs }),
  });
}

function createElector(o: ControllerOptions, kube: KubeClients, logger: Logger, metrics: ControllerMetrics, identity: string, clock: Clock): LeaderElector | undefined {
  if (!o.leaderElect) return undefined;
  const namespace = o.leaderElectionNamespace ?? defaultLeaseNamespace();
  if (!namespace) throw new Error('--leader-elect needs --leader-election-namespace or $POD_NAMESPACE');
  const name = o.leaderElectionId ?? 'hoist-controller';
  metrics.leaderStatus.set({ name }, 0);
  return new LeaderElector({
    coordination: kube.coordination, namespace, name, identity, logger, clock,
    leaseDurationMs: o.leaseDurationMs ?? defaultLeaseTimings.leaseDurationMs,
    renewDeadlineMs: o.renewDeadlineMs ?? defaultLeaseTimings.renewDeadlineMs,
    retryPeriodMs: o.retryPeriodMs ?? defaultLeaseTimings.retryPeriodMs,
    onStatus: (leading) => metrics.leaderStatus.set({ name }, leading ? 1 : 0),
  });
}

class Manager {
  readonly logger: Logger;
  readonly metrics = new ControllerMetrics();
  readonly identity: string;
  readonly queue: WorkQueue;
  readonly reconciler: Reconciler;
  readonly replication: ReplicationController;
  readonly watches: Watches;
  readonly elector: LeaderElector | undefined;
  health: Endpoint | undefined;
  metricsEndpoint: Endpoint | undefined;
  readonly #o: ControllerOptions;
  readonly #kube: KubeClients;
  readonly #concurrent: number;
  readonly #clock: Clock;
  readonly #shutdown = new AbortController();
  #workers: Promise<void>[] = [];
  #stopping = false;
  #synced = false;
  #stopped: Promise<void> | undefined;
  #resolveDone!: (why: 'stopped' | 'lost') => void;
  readonly done = new Promise<'stopped' | 'lost'>((resolve) => { this.#resolveDone = resolve; });

  constructor(o: ControllerOptions) {
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    this.logger = o.logger ?? createLogger({ level: o.logLevel ?? 'info' });
    const kube = kubeClients(o.kubeConfig ?? loadKubeConfig(o.kubeconfig));
    this.#kube = kube;
    this.identity = o.identity ?? process.env.POD_NAME ?? `${hostname()}_${randomUUID()}`;
    this.#concurrent = concurrency(o);
    this.metrics.maxConcurrent.set({ controller: controllerName }, this.#concurrent);
    this.metrics.initReconciles(controllerName);
    this.queue = new WorkQueue({ metrics: this.metrics.queue(controllerName), clock: this.#clock, ...(o.queueBackoff && { backoff: o.queueBackoff }) });
    const parts: Parts = {
      logger: this.logger, metrics: this.metrics, identity: this.identity, clock: this.#clock, watches: () => this.watches,
      events: apiEventSink(kube.core, this.identity, this.logger),
      // One limiter per registry host for the whole process, shared by every run's client, of either kind.
      registryRuns: new RegistryRuns({ ...o.registry, limiters: o.registry?.limiters ?? new Limiters(o.registry?.rateLimit, o.registry?.rateLimitByHost) }),
    };
    this.reconciler = createReconciler(o, kube, parts);
    this.replication = createReplication(o, kube, parts);
    this.watches = createWatches({
      kube, logger: this.logger, clock: this.#clock,
      ...(o.namespace && { namespace: o.namespace }), ...(o.selector && { selector: o.selector }),
      resyncMs: o.resyncMs ?? 10 * 60_000, ...(o.watchdogMs && { watchdogMs: o.watchdogMs }), ...(o.watchBackoff && { backoff: o.watchBackoff }),
      enqueue: (key) => this.queue.add(key),
      secretChanged: (namespace, name) => {
        for (const key of this.reconciler.usersOfSecret(namespace, name)) {
          this.reconciler.markStale(key);
          this.queue.add(key);
        }
        this.replication.secretChanged(namespace, name);
      },
    });
    this.elector = createElector(o, kube, this.logger, this.metrics, this.identity, this.#clock);
  }

  /** Checks that cannot pass later fail here; then probes and metrics (so a slow sync is visible), the watches, the workers. */
  async start(): Promise<void> {
    await preflight({
      config: this.#kube.config, custom: this.#kube.custom, coordination: this.#kube.coordination,
      ...(this.#o.namespace && { namespace: this.#o.namespace }), ...(this.#o.selector && { selector: this.#o.selector }),
      ...(this.elector && { lease: this.elector.lease }),
    });
    await this.replication.check();
    await this.#serve();
    this.watches.start();
    this.replication.start();
    void this.synced.then(() => {
      this.#synced = true;
      this.logger.info({ manifests: this.watches.manifests.list().length, namespace: this.#o.namespace ?? '(all)', selector: this.#o.selector }, 'caches synced');
    });
    if (this.elector) this.#lead(this.elector);
    else void this.synced.then(() => this.#startWorkers());
  }

  /** Both kinds' caches synced. */
  get synced(): Promise<void> {
    return Promise.all([this.watches.synced, this.replication.synced]).then(() => undefined);
  }

  async #serve(): Promise<void> {
    const health = parseBindAddress(this.#o.healthProbeBindAddress ?? ':8081', 'health-probe-bind-address');
    const metrics = parseBindAddress(this.#o.metricsBindAddress ?? ':8080', 'metrics-bind-address');
    this.health = health && await serveProbes(health, {
      healthy: () => undefined,
      ready: () => (this.#stopping ? 'shutting down' : this.#synced ? undefined : 'caches not synced yet'),
    });
    this.metricsEndpoint = metrics && await serveMetrics(metrics, this.metrics.registry);
  }

  #startWorkers(): void {
    if (this.#stopping) return;
    this.#workers = startWorkers(this.#concurrent, {
      queue: this.queue, metrics: this.metrics, logger: this.logger, shutdown: this.#shutdown.signal, clock: this.#clock,
      reconcile: (key, signal) => this.reconciler.reconcile(key, signal),
    });
    this.replication.startWorkers(this.#shutdown.signal);
  }

  /** On the leader only: workers start once the caches synced, and everything stops when the Lease is lost. */
  #lead(elector: LeaderElector): void {
    void (async () => {
      if (!(await elector.acquire())) return;
      // Renew from the moment we hold the Lease: waiting for the caches first would let it
      // expire under a slow sync while we still think we lead.
      const held = elector.hold();
      await Promise.race([this.synced, held]);
      if (elector.leading) this.#startWorkers();
      // Losing the Lease means another replica may already be reconciling: stop everything,
      // as controller-runtime does, and let the process restart as a standby.
      if ((await held) === 'lost') await this.stop('lost');
    })().catch((error: unknown) => {
      this.logger.error({ err: (error as Error).message }, 'leader election failed');
      void this.stop('lost');
    });
  }

  stop(why: 'stopped' | 'lost' = 'stopped'): Promise<void> {
    this.#stopped ??= this.#stop(why);
    return this.#stopped;
  }

  async #stop(why: 'stopped' | 'lost'): Promise<void> {
    this.#stopping = true;
    this.logger.info({ why }, 'shutting down: no new work, interrupting running runs');
    this.queue.shutDown();
    this.replication.shutDownQueue();
    this.#shutdown.abort(new Error('controller shutting down'));
    // With the Lease lost another leader may already be running: interrupt our runs and do
    // not wait for them (the process exits); on a plain stop they get the grace period.
    if (why === 'stopped') await this.#drain(this.#o.shutdownGraceMs ?? defaultShutdownGraceMs);
    await Promise.all([this.watches.stop(), this.replication.stop()]);
    await this.reconciler.close();
    await this.elector?.stop();
    await Promise.all([this.health?.close(), this.metricsEndpoint?.close()]);
    this.logger.info('stopped');
    this.#resolveDone(why);
  }

  /** Waits for running reconciles to end, at most `graceMs`. */
  async #drain(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise((resolve) => { timer = setTimeout(resolve, graceMs); });
    await Promise.race([Promise.all([...this.#workers, ...this.replication.workers]), grace]);
    clearTimeout(timer);
  }
}

export async function startController(options: ControllerOptions = {}): Promise<RunningController> {
  const manager = new Manager(options);
  try {
    await manager.start();
  } catch (error) {
    // Nothing may stay behind a failed start (a bound port, a timer): the process must exit.
    await manager.stop();
    throw error;
  }
  return {
    metrics: manager.metrics, logger: manager.logger, identity: manager.identity,
    healthPort: manager.health?.port ?? 0,
    metricsPort: manager.metricsEndpoint?.port ?? 0,
    synced: manager.synced,
    done: manager.done,
    isLeader: () => manager.elector?.leading ?? true,
    stop: () => manager.stop('stopped'),
  };
}
