// One reconcile of one PromotionManifest, as a list of named steps:
//   due -> start -> accept spec -> resolve credentials -> run -> record
// Each step is small; the run's outcome comes from the pipeline as one report (or, when the run
// could not start, from notRun), and `record` only renders it: status, Events, metrics, and
// what the work queue does next. Whether a failure is retried or Stalled is the catalogue's
// word on the report's reason (src/api/reasons.ts).
import type { PromotionManifestSpec } from '../api/promotion-manifest.ts';
import type { Reason } from '../api/reasons.ts';
import { formatReference } from '../api/reference.ts';
import { specModel } from '../manifest/resource.ts';
import type { Logger } from '../observability/logger.ts';
import type { ControllerMetrics } from '../observability/metrics.ts';
import { isRetryable, notRun, type runPipeline, type PipelineEvent, type PipelineOptions, type RunReport } from '../pipeline/index.ts';
import type { RegistryClientOptions, StaticCredentials } from '../registry/index.ts';
import { systemClock, type Clock } from './clock.ts';
import { finishedStatus, startedStatus } from './conditions.ts';
import { referencedSecrets, resolveCredentials, type SecretReader } from './credentials.ts';
import { ReconcileError } from './errors.ts';
import { runEvents, type EventSink } from './events.ts';
import { requestedAtAnnotation, splitKey, type ManifestObject, type ObjectMeta } from './kube.ts';
import { RunMemory, type ManifestCondition } from './memory.ts';
import { RegistryRuns, runOnce, type RunsOptions } from './runs.ts';
import { acceptSpec, type AcceptedSpec } from './spec.ts';
import type { StatusWriter } from './status.ts';

/** What the work queue does with the key after a reconcile. */
export type ReconcileResult =
  | { kind: 'done' }
  | { kind: 'requeueAfter'; ms: number }
  /** The run failed and a retry may help: back off, then run again. */
  | { kind: 'retry'; reason: Reason; message: string }
  /** Shutdown interrupted the run; nothing was recorded, the next leader reruns it. */
  | { kind: 'aborted' };

export interface ReconcilerOptions {
  get(key: string): ManifestObject | undefined;
  secrets: SecretReader;
  status: Pick<StatusWriter, 'update'>;
  events: EventSink;
  metrics: ControllerMetrics;
  logger: Logger;
  clock?: Clock;
  allowedRegistries?: string[];
  registry?: Partial<RegistryClientOptions>;
  /** The registry parts every run shares (runs.ts); default: made from `registry`. */
  registryRuns?: RegistryRuns;
  concurrency?: number;
  planConcurrency?: number;
  /** Keyless material the spec does not carry (flags); our identity comes from the token. */
  keyless?: { fulcioURL?: string; tokenPath?: string; trustedRoot?: unknown };
  /** The pipeline (tests give canned reports). */
  runPipeline?: typeof runPipeline;
}

/** Interval of a manifest whose spec could not be read. */
const fallbackIntervalMs = 10 * 60_000;

/** One run in progress: what the steps share. */
interface Run {
  key: string;
  obj: ManifestObject;
  namespace: string;
  name: string;
  generation: number;
  requestedAt: string | undefined;
  mode: PipelineOptions['mode'];
  log: Logger;
  /** Secrets the spec names; known once the spec is accepted. */
  secrets: readonly string[];
  intervalMs: number;
}

export class Reconciler {
  readonly #o: ReconcilerOptions;
  readonly #clock: Clock;
  readonly #memory: RunMemory;
  readonly #runs: RunsOptions;

  constructor(options: ReconcilerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#runs = {
      registry: options.registryRuns ?? new RegistryRuns(options.registry), secrets: options.secrets, metrics: options.metrics,
      ...(options.concurrency && { concurrency: options.concurrency }), ...(options.planConcurrency && { planConcurrency: options.planConcurrency }),
      ...(options.keyless && { keyless: options.keyless }), ...(options.runPipeline && { runPipeline: options.runPipeline }),
    };
    this.#memory = new RunMemory((counts) => {
      for (const [condition, n] of Object.entries(counts)) options.metrics.manifests.set({ condition }, n);
    });
  }

  /** Closes what runs share (the registry connections). */
  close(): Promise<void> {
    return this.#runs.registry.close();
  }

  /** A Secret the manifest uses changed: its next reconcile runs even if not yet due. */
  markStale(key: string): void {
    this.#memory.markStale(key);
  }

  /** Keys of manifests that name Secret namespace/name. */
  usersOfSecret(namespace: string, name: string): string[] {
    return this.#memory.usersOfSecret(namespace, name);
  }

  async reconcile(key: string, shutdown: AbortSignal): Promise<ReconcileResult> {
    try {
      return await this.#reconcile(key, shutdown);
    } catch (error) {
      // An API error mid-run (e.g. the API server restarting): the retry must run, not wait.
      this.#memory.dueNow(key);
      throw error;
    }
  }

  async #reconcile(key: string, shutdown: AbortSignal): Promise<ReconcileResult> {
    const obj = this.#o.get(key);
    if (!obj || obj.metadata.deletionTimestamp) {
      this.#memory.forget(key);
      return { kind: 'done' };
    }
    if (obj.spec?.suspend === true) {
      this.#o.logger.debug(splitKey(key), 'suspended; not reconciling');
      return { kind: 'done' };
    }
    const due = this.#due(key, obj);
    if (typeof due === 'number') return { kind: 'requeueAfter', ms: due };
    await this.#start(due);
    const report = await this.#run(due, shutdown);
    if (!report) return { kind: 'aborted' };
    return this.#record(due, report);
  }

  /** Step "due": the run to make now, or how long until one is due. */
  #due(key: string, obj: ManifestObject): Run | number {
    const memory = this.#memory.get(key);
    const generation = obj.metadata.generation ?? 0;
    const requestedAt = obj.metadata.annotations?.[requestedAtAnnotation];
    const handled = memory ? memory.requestedAt : obj.status?.lastHandledReconcileAt;
    const onDemand = requestedAt !== undefined && requestedAt !== handled;
    const trigger = !memory ? 'first' : memory.uid !== obj.metadata.uid || memory.generation !== generation ? 'spec'
      : onDemand ? 'requestedAt' : memory.stale ? 'secret' : this.#clock.now() >= memory.nextRunAt ? 'interval' : undefined;
    if (!trigger) return memory!.nextRunAt - this.#clock.now();
    const { namespace, name } = splitKey(key);
    const log = this.#o.logger.child({ namespace, name });
    log.info({ generation, onDemand, trigger }, 'reconcile started');
    const mode = obj.spec?.mode === 'Plan' ? 'Plan' : 'Promote';
    return { key, obj, namespace, name, generation, requestedAt, mode, log, secrets: memory?.secrets ?? [], intervalMs: fallbackIntervalMs };
  }

  /** Step "start": Reconciling=True on the status, and no other run until this one ends. */
  async #start(run: Run): Promise<void> {
    await this.#o.status.update(run.namespace, run.name, (stored) => (this.#same(run, stored) ? startedStatus(stored.status, run.generation, run.mode, new Date(this.#clock.now())) : undefined));
    this.#remember(run, Number.POSITIVE_INFINITY, 'Reconciling');
  }

  /** Steps "accept spec", "resolve credentials" and "run": the report, or undefined on shutdown. */
  async #run(run: Run, shutdown: AbortSignal): Promise<RunReport | undefined> {
    let accepted: AcceptedSpec | undefined;
    try {
      accepted = this.#accept(run);
      const credentials = await resolveCredentials(this.#o.secrets, run.namespace, accepted.model);
      return await this.#pipeline(run, accepted, credentials, shutdown);
    } catch (error) {
      if (!(error instanceof ReconcileError)) throw error;
      if (!accepted) run.secrets = secretsOf(run.obj.spec);
      return notRun(run.mode, error.reason, error.message);
    }
  }

  /** Step "accept spec": the checks the CRD cannot make; from here the Secrets it names wake it. */
  #accept(run: Run): AcceptedSpec {
    const accepted = acceptSpec(run.obj.spec, this.#o.allowedRegistries);
    run.intervalMs = accepted.intervalMs;
    run.secrets = referencedSecrets(accepted.model, accepted.spec);
    this.#remember(run, Number.POSITIVE_INFINITY, 'Reconciling');
    return accepted;
  }

  /** Step "run": the pipeline (runs.ts), bounded by spec.timeout and by shutdown. */
  #pipeline(run: Run, accepted: AcceptedSpec, credentials: StaticCredentials, shutdown: AbortSignal): Promise<RunReport | undefined> {
    const target = { namespace: run.namespace, name: run.name, uid: run.obj.metadata.uid, generation: run.generation, mode: run.mode, log: run.log };
    return runOnce(this.#runs, target, accepted, credentials, shutdown, (event) => this.#onEvent(event, run.log));
  }

  /** Step "record": status, Events and metrics from the report, and what the queue does next. */
  async #record(run: Run, report: RunReport): Promise<ReconcileResult> {
    await this.#o.status.update(run.namespace, run.name, (stored) => (this.#same(run, stored) ? finishedStatus(stored.status, run.generation, report, new Date(this.#clock.now()), run.requestedAt) : undefined));
    for (const event of runEvents(report)) await this.#o.events.record(run.obj, event.type, event.reason, event.message);
    this.#countEdges(report);
    const summary = report.edges.length > 0 ? report.summary : undefined;
    if (isRetryable(report)) {
      this.#remember(run, 0, 'Reconciling');
      run.log.warn({ reason: report.reason, err: report.message, outcome: report.outcome, summary }, 'reconcile failed; retrying with backoff');
      return { kind: 'retry', reason: report.reason, message: report.message };
    }
    if (report.outcome !== 'Succeeded' && report.phases.length === 0) {
      // The spec or a Secret must change first, and both wake the key up.
      this.#remember(run, Number.POSITIVE_INFINITY, 'Stalled');
      run.log.warn({ reason: report.reason, err: report.message }, 'stalled');
      return { kind: 'done' };
    }
    // Stalled on what the registries hold (tag moves, lost digests, signatures): they change
    // unseen, so the run is checked again at its interval like a successful one.
    this.#remember(run, this.#clock.now() + run.intervalMs, report.outcome === 'Succeeded' ? 'Ready' : 'Stalled');
    run.log.info({ outcome: report.outcome, reason: report.reason, summary, nextRunInMs: run.intervalMs }, 'reconcile finished');
    return { kind: 'requeueAfter', ms: run.intervalMs };
  }

  #same(run: Run, stored: { metadata: ObjectMeta }): boolean {
    return stored.metadata.uid === run.obj.metadata.uid;
  }

  #remember(run: Run, nextRunAt: number, condition: ManifestCondition): void {
    // Deleted (or replaced) while it ran: the delete already came and went, so a record made
    // now would never be forgotten. The queued key reconciles what exists now.
    const current = this.#o.get(run.key);
    if (!current || current.metadata.deletionTimestamp || current.metadata.uid !== run.obj.metadata.uid) {
      this.#memory.forget(run.key);
      return;
    }
    const { uid, generation = 0 } = run.obj.metadata;
    this.#memory.set(run.key, { uid, generation, requestedAt: run.requestedAt, nextRunAt, stale: false, secrets: run.secrets, condition });
  }

  #onEvent(event: PipelineEvent, log: Logger): void {
    if (event.type === 'phaseStarted') log.debug({ phase: event.phase }, 'phase started');
    if (event.type === 'phaseFinished') {
      this.#o.metrics.phaseDuration.observe({ phase: event.phase.name }, event.phase.durationMs / 1000);
      log.info({ phase: event.phase.name, result: event.phase.result, reason: event.phase.reason, durationMs: event.phase.durationMs, detail: event.phase.message }, 'phase finished');
    }
    if (event.type === 'edgeFinished') {
      const { edge, state, reason, detail } = event.edge;
      log.info({ phase: 'Promote', image: formatReference({ ...edge.dst, digest: edge.digest }), tags: edge.tags, outcome: state, ...(reason && { reason, err: detail }), done: event.done, total: event.total }, 'edge finished');
    }
  }

  #countEdges(report: RunReport): void {
    const label = { promote: report.mode === 'Plan' ? 'planned' : 'skipped', promoted: 'promoted', present: 'present', lost: 'lost', tagMove: 'refused', unverified: 'refused', failed: 'failed' } as const;
    for (const { state } of report.edges) this.#o.metrics.edges.inc({ outcome: label[state] });
  }
}

/** The Secrets a spec that was not accepted names, as far as it can be read. */
function secretsOf(spec: ManifestObject['spec']): string[] {
  try {
    return referencedSecrets(specModel(spec as PromotionManifestSpec), spec as PromotionManifestSpec);
  } catch {
    return [];
  }
}
