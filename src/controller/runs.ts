// How the controller runs the pipeline for one reconcile: the run's registry client, built on
// parts every run shares, and the pipeline's options from the accepted spec.
//
// What is shared across runs, and why it may be, with resources of different namespaces and
// different credentials:
// - connections (one undici Pool per registry origin): a connection carries no credentials;
//   every request sends its own Authorization, so a registry sees one small set of connections
//   all day instead of a new set per reconcile;
// - limiters (one per registry host): the quota is the host's, whoever spends it;
// - the inventory (what the destinations held when last listed): it is only consulted together
//   with a tag list the run has just read with its own credentials (see registry/inventory.ts),
//   so it never tells a run about a repository it cannot list, and never replaces a read that
//   decides a write.
// What stays per run, because it is or comes from the run's credentials: the credentials, the
// tokens they bought (scoped to repositories and bearing that identity), the client's recent
// facts and its source cache (bytes a run read with its credentials must not serve a run
// without them), and the request counters the run's metrics are taken from.
import { getHeapStatistics } from 'node:v8';
import type { Logger } from '../observability/logger.ts';
import type { ControllerMetrics } from '../observability/metrics.ts';
import { edgesFromSpecs, notRun, runPipeline, type PipelineEvent, type PipelineOptions, type RunReport, type TrustOptions } from '../pipeline/index.ts';
import { Connections, defaultTimeouts, Inventory, Limiters, RegistryClient, type RegistryClientOptions, type StaticCredentials } from '../registry/index.ts';
import { ReconcileError } from './errors.ts';
import { deadline } from './pause.ts';
import type { AcceptedSpec } from './spec.ts';

/**
 * Inventory facts the controller keeps at most (tags, digests and signature marks; about 120
 * bytes each): a registry.k8s.io-sized set of resources needs ~600,000, 1,000 small ones a few
 * thousand. At most a quarter of the heap Node was given (the chart's nodeOptions size it to the
 * container's limit), and never over 1,000,000: an inventory must not be what runs a bounded
 * controller out of memory. Past it, the repositories listed longest ago are forgotten (and read
 * again).
 */
export function inventoryEntries(heapLimitBytes = getHeapStatistics().heap_size_limit): number {
  return Math.max(10_000, Math.min(1_000_000, Math.floor(heapLimitBytes / 4 / 120)));
}

/** The shared registry parts, and a client per run on top of them. */
export class RegistryRuns {
  readonly connections: Connections;
  readonly limiters: Limiters;
  readonly inventory: Inventory;
  readonly #options: Partial<RegistryClientOptions>;

  constructor(options: Partial<RegistryClientOptions> = {}) {
    this.#options = options;
    this.connections = options.connections ?? new Connections({
      connectionsPerOrigin: options.connectionsPerOrigin ?? 8,
      timeouts: { ...defaultTimeouts, ...options.timeouts },
      ...(options.ca !== undefined && { ca: [...[options.ca].flat()] }),
    });
    this.limiters = options.limiters ?? new Limiters(options.rateLimit, options.rateLimitByHost);
    this.inventory = options.inventory ?? new Inventory({ maxEntries: inventoryEntries() });
  }

  /** A client for one run: its own credentials, tokens and counters over the shared parts. */
  client(credentials: StaticCredentials): RegistryClient {
    return new RegistryClient({ ...this.#options, credentials, connections: this.connections, limiters: this.limiters, inventory: this.inventory });
  }

  close(): Promise<void> {
    return this.connections.close();
  }
}

/** The resource a run is for, and what the reconciler decided for it. */
export interface RunTarget {
  mode: PipelineOptions['mode'];
  log: Logger;
  /** The run's trust settings (controller/trust.ts), with the spec's Secrets readable. */
  trust?: TrustOptions;
  onEvent: (event: PipelineEvent) => void;
  /** Awaited before Promote copies (the write-ahead record); see PipelineOptions.beforePromote. */
  beforePromote?: () => Promise<void>;
  /** After the pipeline, with the run's client still open (e.g. the admission check). */
  after?: (client: RegistryClient, report: RunReport, signal: AbortSignal) => Promise<void>;
}

export interface RunsOptions {
  registry: RegistryRuns;
  metrics: ControllerMetrics;
  concurrency?: number;
  planConcurrency?: number;
  /** The pipeline (tests give canned reports). */
  runPipeline?: typeof runPipeline;
}

/**
 * Runs the pipeline for one accepted spec, bounded by spec.timeout and by shutdown: the
 * report, or undefined when shutdown interrupted it (nothing is recorded; the next leader reruns).
 */
export async function runOnce(
  o: RunsOptions, target: RunTarget, accepted: AcceptedSpec, credentials: StaticCredentials, shutdown: AbortSignal,
): Promise<RunReport | undefined> {
  const client = o.registry.client(credentials);
  const flushMetrics = o.metrics.watchRegistryClient(client.stats);
  const timeout = deadline(accepted.timeoutMs);
  const signal = AbortSignal.any([shutdown, timeout.signal]);
  try {
    const report = await (o.runPipeline ?? runPipeline)(edgesFromSpecs([accepted.model]), client, pipelineOptions(o, target, accepted, signal));
    await target.after?.(client, report, signal);
    return report;
  } catch (error) {
    if (shutdown.aborted) {
      target.log.info('run interrupted by shutdown; what was copied stays, the next run finishes it');
      return undefined;
    }
    if (timeout.signal.aborted) return notRun(target.mode, 'Timeout', `the run took longer than spec.timeout (${accepted.spec.timeout ?? '1h'}); what was copied stays and the next run continues`);
    if (error instanceof ReconcileError) return notRun(target.mode, error.reason, error.message);
    return notRun(target.mode, 'RunFailed', (error as Error).message);
  } finally {
    timeout.clear();
    await client.close();
    flushMetrics();
  }
}

function pipelineOptions(o: RunsOptions, target: RunTarget, { spec, verifyIntervalMs }: AcceptedSpec, signal: AbortSignal): PipelineOptions {
  return {
    mode: spec.mode, concurrency: o.concurrency ?? 8, planConcurrency: o.planConcurrency ?? 16, signal, onEvent: target.onEvent, verifyIntervalMs,
    ...(target.trust && { trust: target.trust }), ...(target.beforePromote && { beforePromote: target.beforePromote }),
  };
}
