// The SignatureReplication controller inside the manager, as controller-runtime runs a second
// controller in one manager: its own reflector (in --namespace, matching --selector), work queue,
// reconciler and workers; the manager's leader election, shutdown, Secret watch and registry
// parts (connections, limiters per host, inventory) shared with the PromotionManifest one.
// A cluster without the SignatureReplication CRD (installed before the kind existed) runs the
// PromotionManifest controller alone and says so; RBAC refusing the kind fails the start, as
// for PromotionManifests.
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { group, names as pmNames, version } from '../api/promotion-manifest.ts';
import { replicationNames } from '../api/signature-replication.ts';
import type { Logger } from '../observability/logger.ts';
import type { ControllerMetrics } from '../observability/metrics.ts';
import type { BackoffOptions } from './backoff.ts';
import type { Clock } from './clock.ts';
import { apiSecretReader } from './credentials.ts';
import type { EventSink } from './events.ts';
import { apiMessage, objectKey, statusCode, type KubeClients, type ManifestObject } from './kube.ts';
import { WorkQueue } from './queue.ts';
import { Reflector, type ListResult } from './reflector.ts';
import { ReplicationReconciler, type ReplicationObject } from './replication-reconciler.ts';
import { ReplicationStatusWriter } from './replication-status.ts';
import type { RegistryRuns } from './runs.ts';
import { needsReconcile } from './watches.ts';
import { startWorkers } from './worker.ts';

export const replicationControllerName = 'signaturereplication';

export interface ReplicationControllerOptions {
  kube: Pick<KubeClients, 'core' | 'custom' | 'watch'>;
  logger: Logger;
  metrics: ControllerMetrics;
  events: EventSink;
  registry: RegistryRuns;
  clock: Clock;
  namespace?: string;
  selector?: string;
  allowedRegistries?: string[];
  resyncMs: number;
  watchdogMs?: number;
  watchBackoff?: BackoffOptions;
  queueBackoff?: BackoffOptions;
  progressIntervalMs?: number;
  /** Replications run at once (default 2): each is a long, registry-bound job. */
  concurrent?: number;
}

const path = (ns: string | undefined) => (ns ? `/apis/${group}/${version}/namespaces/${ns}/${replicationNames.plural}` : `/apis/${group}/${version}/${replicationNames.plural}`);

function listReplications(custom: Pick<CustomObjectsApi, 'listNamespacedCustomObject' | 'listClusterCustomObject'>, namespace: string | undefined, selector: string | undefined, limit?: number): Promise<ListResult<ReplicationObject>> {
  const query = { group, version, plural: replicationNames.plural, ...(selector && { labelSelector: selector }), ...(limit && { limit }) };
  return (namespace ? custom.listNamespacedCustomObject({ ...query, namespace }) : custom.listClusterCustomObject(query)) as Promise<ListResult<ReplicationObject>>;
}

export class ReplicationController {
  readonly queue: WorkQueue;
  readonly reconciler: ReplicationReconciler;
  readonly reflector: Reflector<ReplicationObject>;
  readonly #o: ReplicationControllerOptions;
  #enabled = false;
  #workers: Promise<void>[] = [];

  constructor(o: ReplicationControllerOptions) {
    this.#o = o;
    this.queue = new WorkQueue({ metrics: o.metrics.queue(replicationControllerName), clock: o.clock, ...(o.queueBackoff && { backoff: o.queueBackoff }) });
    this.reconciler = new ReplicationReconciler({
      get: (key) => this.reflector.get(key),
      listManifests: async (namespace) => ((await o.kube.custom.listNamespacedCustomObject({ group, version, plural: pmNames.plural, namespace })) as ListResult<ManifestObject>).items,
      secrets: apiSecretReader(o.kube.core),
      status: new ReplicationStatusWriter(o.kube.custom, o.logger),
      events: o.events, metrics: o.metrics, logger: o.logger, clock: o.clock, registry: o.registry,
      ...(o.allowedRegistries && { allowedRegistries: o.allowedRegistries }),
      ...(o.progressIntervalMs !== undefined && { progressIntervalMs: o.progressIntervalMs }),
    });
    const enqueue = (obj: ReplicationObject) => this.queue.add(objectKey(obj));
    this.reflector = new Reflector<ReplicationObject>({
      name: replicationNames.plural, watch: o.kube.watch, logger: o.logger, path: path(o.namespace),
      query: { ...(o.selector && { labelSelector: o.selector }) },
      list: () => listReplications(o.kube.custom, o.namespace, o.selector),
      resyncMs: o.resyncMs,
      ...(o.watchBackoff && { backoff: o.watchBackoff }), ...(o.watchdogMs && { watchdogMs: o.watchdogMs }), clock: o.clock,
      handlers: {
        add: enqueue,
        update: (old, obj) => { if (needsReconcile(old as ManifestObject, obj as ManifestObject)) enqueue(obj); },
        delete: enqueue,
        resync: enqueue,
      },
    });
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /**
   * Whether the kind can be watched: undefined when it can, the reason it is left out when its
   * CRD is not installed; throws when RBAC refuses it (the chart grants it).
   */
  async check(): Promise<void> {
    try {
      await listReplications(this.#o.kube.custom, this.#o.namespace, this.#o.selector, 1);
      this.#enabled = true;
    } catch (error) {
      const code = statusCode(error);
      if (code === 404) {
        this.#o.logger.warn({ err: apiMessage(error) }, `the CRD ${replicationNames.plural}.${group} is not installed: SignatureReplications are not reconciled (kubectl apply --server-side -f crds/, then restart)`);
        return;
      }
      if (code === 403) throw new Error(`listing ${replicationNames.plural}.${group}: ${apiMessage(error)}; the controller's RBAC must allow get, list and watch on ${replicationNames.plural} and get, patch on ${replicationNames.plural}/status (the chart's ClusterRole does)`);
      // Anything else (a slow API server) is the reflector's to retry.
      this.#enabled = true;
    }
  }

  /** Resolves once its cache synced (at once when the kind is left out). */
  get synced(): Promise<void> {
    return this.#enabled ? this.reflector.synced : Promise.resolve();
  }

  start(): void {
    if (this.#enabled) this.reflector.start();
  }

  /** On the leader, once the caches synced. */
  startWorkers(shutdown: AbortSignal): void {
    if (!this.#enabled) return;
    const concurrent = this.#o.concurrent ?? 2;
    this.#o.metrics.maxConcurrent.set({ controller: replicationControllerName }, concurrent);
    this.#o.metrics.initReconciles(replicationControllerName);
    this.#workers = startWorkers(concurrent, {
      queue: this.queue, metrics: this.#o.metrics, logger: this.#o.logger, shutdown, clock: this.#o.clock, controller: replicationControllerName,
      reconcile: (key, signal) => this.reconciler.reconcile(key, signal),
    });
  }

  /** A Secret changed: wake the replications whose covered manifests named it. */
  secretChanged(namespace: string, name: string): void {
    for (const key of this.reconciler.usersOfSecret(namespace, name)) {
      this.reconciler.markStale(key);
      this.queue.add(key);
    }
  }

  /** Running reconciles, for the manager's drain. */
  get workers(): Promise<void>[] {
    return this.#workers;
  }

  shutDownQueue(): void {
    this.queue.shutDown();
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    await this.reflector.stop();
  }
}
