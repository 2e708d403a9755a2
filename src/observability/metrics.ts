// Prometheus series of the controller, named as in docs/controller-reference.md (the chart's
// ServiceMonitor and the dashboards read exactly these). One Registry per controller, so two
// controllers in one process (tests) do not share counters. This module depends on nothing of
// Hoist's: it declares the small interfaces it reads (a work queue's hooks, a registry client's
// request statistics), and the controller passes what fits them.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const controllerName = 'promotionmanifest';

/** The hooks a work queue calls, as client-go's workqueue metrics provider has them. */
export interface QueueMetrics {
  depth(n: number): void;
  added(): void;
  retried(): void;
  /** Seconds a key waited between being added and being taken. */
  queued(seconds: number): void;
  /** Seconds a key was processed. */
  worked(seconds: number): void;
}

/** What a registry client counts (src/registry/stats.ts has this shape). */
export interface RegistryRequestStats {
  onRequest(listener: (event: { host: string; method: string; statusClass: string; status?: number }) => void): void;
  readonly byHost: ReadonlyMap<string, { bytesRead: number; bytesWritten: number; retries: number }>;
}

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly reconcileTime: Histogram<'controller'>;
  readonly maxConcurrent: Gauge<'controller'>;
  readonly activeWorkers: Gauge<'controller'>;
  readonly queueDepth: Gauge<'name'>;
  readonly queueAdds: Counter<'name'>;
  readonly queueRetries: Counter<'name'>;
  readonly queueDuration: Histogram<'name'>;
  readonly workDuration: Histogram<'name'>;
  readonly leaderStatus: Gauge<'name'>;
  readonly registryRequests: Counter<'host' | 'method' | 'code_class'>;
  readonly registryRetries: Counter<'host'>;
  readonly registryBytes: Counter<'host' | 'direction'>;
  readonly registryThrottled: Counter<'host'>;
  readonly phaseDuration: Histogram<'phase'>;
  readonly edges: Counter<'outcome'>;
  readonly manifests: Gauge<'condition'>;
  readonly manifestCondition: Gauge<'namespace' | 'name' | 'type' | 'status'>;
  readonly manifestSuspended: Gauge<'namespace' | 'name'>;

  constructor() {
    const registers = [this.registry];
    const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
    this.reconcileTotal = new Counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller', labelNames: ['controller', 'result'], registers });
    this.reconcileErrors = new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: ['controller'], registers });
    this.reconcileTime = new Histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller', labelNames: ['controller'], buckets, registers });
    this.maxConcurrent = new Gauge({ name: 'controller_runtime_max_concurrent_reconciles', help: 'Maximum number of concurrent reconciles per controller', labelNames: ['controller'], registers });
    this.activeWorkers = new Gauge({ name: 'controller_runtime_active_workers', help: 'Number of currently used workers per controller', labelNames: ['controller'], registers });
    this.queueDepth = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name'], registers });
    this.queueAdds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name'], registers });
    this.queueRetries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: ['name'], registers });
    this.queueDuration = new Histogram({ name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in workqueue before being requested', labelNames: ['name'], buckets, registers });
    this.workDuration = new Histogram({ name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from workqueue takes', labelNames: ['name'], buckets, registers });
    this.leaderStatus = new Gauge({ name: 'leader_election_master_status', help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master', labelNames: ['name'], registers });
    this.registryRequests = new Counter({ name: 'hoist_registry_requests_total', help: 'Registry HTTP requests by host, method and status class', labelNames: ['host', 'method', 'code_class'], registers });
    this.registryRetries = new Counter({ name: 'hoist_registry_retries_total', help: 'Registry requests retried after a transient failure', labelNames: ['host'], registers });
    this.registryBytes = new Counter({ name: 'hoist_registry_bytes_total', help: 'Bytes read from and written to registries', labelNames: ['host', 'direction'], registers });
    this.registryThrottled = new Counter({ name: 'hoist_registry_throttled_total', help: 'Times a registry answered 429 and its host was paused', labelNames: ['host'], registers });
    this.phaseDuration = new Histogram({ name: 'hoist_phase_duration_seconds', help: 'Duration of pipeline phases', labelNames: ['phase'], buckets, registers });
    this.edges = new Counter({ name: 'hoist_edges_total', help: 'Edges handled by runs, by outcome', labelNames: ['outcome'], registers });
    this.manifests = new Gauge({ name: 'hoist_manifests', help: 'PromotionManifests by the condition that is True', labelNames: ['condition'], registers });
    // One series per resource, as Flux's gotk_reconcile_condition: 1 for the condition's status
    // now, 0 for the others, so an alert names the resource (namespace, name) and its state.
    this.manifestCondition = new Gauge({ name: 'hoist_manifest_condition', help: 'The status of each PromotionManifest\'s Ready and Stalled conditions: 1 for the current status, 0 for the others', labelNames: ['namespace', 'name', 'type', 'status'], registers });
    this.manifestSuspended = new Gauge({ name: 'hoist_manifest_suspended', help: 'Whether a PromotionManifest is suspended (spec.suspend)', labelNames: ['namespace', 'name'], registers });
    this.maxConcurrent.set({ controller: controllerName }, 0);
    this.activeWorkers.set({ controller: controllerName }, 0);
    for (const condition of ['Ready', 'Stalled', 'Reconciling']) this.manifests.set({ condition }, 0);
  }

  /** The hooks of a work queue named `name`; its series exist (at 0) from now on. */
  queue(name: string): QueueMetrics {
    this.queueDepth.set({ name }, 0);
    this.queueAdds.inc({ name }, 0);
    this.queueRetries.inc({ name }, 0);
    this.queueDuration.zero({ name });
    this.workDuration.zero({ name });
    return {
      depth: (n) => this.queueDepth.set({ name }, n),
      added: () => this.queueAdds.inc({ name }),
      retried: () => this.queueRetries.inc({ name }),
      queued: (s) => this.queueDuration.observe({ name }, s),
      worked: (s) => this.workDuration.observe({ name }, s),
    };
  }

  /** Reconcile series for a controller, at 0 before its first reconcile. */
  initReconciles(controller: string): void {
    for (const result of ['success', 'error', 'requeue', 'requeue_after']) this.reconcileTotal.inc({ controller, result }, 0);
    this.reconcileErrors.inc({ controller }, 0);
    this.reconcileTime.zero({ controller });
  }

  /** Registry series for hosts a manifest names, at 0 before their first request, so rates and alerts have a series to read. */
  initRegistryHosts(hosts: Iterable<string>): void {
    for (const host of hosts) {
      if (this.#hosts.has(host)) continue;
      this.#hosts.add(host);
      this.registryRetries.inc({ host }, 0);
      this.registryThrottled.inc({ host }, 0);
      for (const direction of ['read', 'write']) this.registryBytes.inc({ host, direction }, 0);
    }
  }

  readonly #hosts = new Set<string>();

  /** One resource's Ready and Stalled conditions (status True, False or Unknown) and whether it is suspended. */
  setManifestConditions(namespace: string, name: string, conditions: { type: 'Ready' | 'Stalled'; status: 'True' | 'False' | 'Unknown' }[], suspended: boolean): void {
    for (const { type, status } of conditions) {
      for (const s of ['True', 'False', 'Unknown']) this.manifestCondition.set({ namespace, name, type, status: s }, s === status ? 1 : 0);
    }
    this.manifestSuspended.set({ namespace, name }, suspended ? 1 : 0);
  }

  /** A deleted resource's series go with it. */
  forgetManifest(namespace: string, name: string): void {
    for (const type of ['Ready', 'Stalled']) for (const status of ['True', 'False', 'Unknown']) this.manifestCondition.remove({ namespace, name, type, status });
    this.manifestSuspended.remove({ namespace, name });
  }

  /**
   * Feeds one run's registry client statistics into the hoist_registry_* series: requests as
   * they happen, retries and bytes per host when the run ends (the returned function).
   */
  watchRegistryClient(stats: RegistryRequestStats): () => void {
    stats.onRequest((event) => {
      this.registryRequests.inc({ host: event.host, method: event.method, code_class: event.statusClass });
      if (event.status === 429) this.registryThrottled.inc({ host: event.host });
    });
    return () => {
      for (const [host, { retries, bytesRead, bytesWritten }] of stats.byHost) {
        if (retries > 0) this.registryRetries.inc({ host }, retries);
        if (bytesRead > 0) this.registryBytes.inc({ host, direction: 'read' }, bytesRead);
        if (bytesWritten > 0) this.registryBytes.inc({ host, direction: 'write' }, bytesWritten);
      }
    };
  }
}
