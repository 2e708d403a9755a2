// One reconcile of one PromotionManifest, as a list of named steps:
//   suspended? -> due -> start -> accept spec -> resolve credentials -> run -> record
// Each step is small; the run's outcome comes from the pipeline as one report (or, when the run
// could not start, from notRun), and `record` only renders it: status, Events, metrics, and
// what the work queue does next. Whether a failure is retried or Stalled is the catalogue's
// word on the report's reason (src/api/reasons.ts). The status is written once per run, at
// the end, unless progress is due (progress.ts) or the run is about to copy (its write-ahead
// record, awaited before the first copy, which the next run turns into a Promoted Event if this
// one is killed).
import type { PromotionManifestSpec } from '../api/promotion-manifest.ts';
import type { Reason } from '../api/reasons.ts';
import { formatReference } from '../api/reference.ts';
import { specModel } from '../manifest/resource.ts';
import type { Logger } from '../observability/logger.ts';
import type { ControllerMetrics } from '../observability/metrics.ts';
import { isRetryable, notRun, type runPipeline, type PipelineEvent, type PipelineOptions, type RunReport, type TrustOptions } from '../pipeline/index.ts';
import type { RegistryClientOptions, StaticCredentials } from '../registry/index.ts';
import { systemClock, type Clock } from './clock.ts';
import { admissibleCondition, admissionLines, type AdmissionLine } from './admission.ts';
import { finishedStatus, kstatusConditions, progressStatus, setCondition, suspendedStatus, type Status } from './conditions.ts';
import { referencedSecrets, resolveCredentials, type SecretReader } from './credentials.ts';
import { ReconcileError } from './errors.ts';
import { runEvents, type EventFacts, type EventSink } from './events.ts';
import { interruptedPromotions, type Progress, type RunFacts } from './inventory.ts';
import { requestedAtAnnotation, splitKey, type ManifestObject, type ObjectMeta } from './kube.ts';
import { pendingRequest, RunMemory, suspendedMessage, suspendedRecord, suspensionKnown, triggerOf, type ManifestCondition } from './memory.ts';
import { ProgressReporter } from './progress.ts';
import { RegistryRuns, runOnce, type RunsOptions } from './runs.ts';
import { acceptSpec, registryHost, type AcceptedSpec } from './spec.ts';
import { sameStatus } from './status-equal.ts';
import type { StatusWriter, StatusWriteResult } from './status.ts';
import { runTrust, type ConfigMapReader, type ControllerTrust } from './trust.ts';

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
  /** Trust material the spec does not carry (flags); our keyless identity comes from the token. */
  trust?: ControllerTrust;
  /** ConfigMaps a spec's trusted root names. */
  configMaps?: ConfigMapReader;
  /** Bound on progress writes during a run (default 10 s; 0 in tests: every change). */
  progressIntervalMs?: number;
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
  startedAt: Date;
  /** The write-ahead record of an earlier run that never finished (a killed controller). */
  interrupted: Progress | undefined;
  /** resourceVersion our last status write left (or last found current); see #cached. */
  statusVersion: string | undefined;
  accepted?: AcceptedSpec;
  trust?: TrustOptions;
  admission?: AdmissionLine[];
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
      registry: options.registryRuns ?? new RegistryRuns(options.registry), metrics: options.metrics,
      ...(options.concurrency && { concurrency: options.concurrency }), ...(options.planConcurrency && { planConcurrency: options.planConcurrency }),
      ...(options.runPipeline && { runPipeline: options.runPipeline }),
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
      this.#o.metrics.forgetManifest(splitKey(key).namespace, splitKey(key).name);
      return { kind: 'done' };
    }
    if (obj.spec?.suspend === true) return this.#suspended(key, obj);
    const due = this.#due(key, obj);
    if (typeof due === 'number') return { kind: 'requeueAfter', ms: due };
    this.#remember(due, Number.POSITIVE_INFINITY, 'Reconciling');
    const report = await this.#run(due, shutdown);
    if (!report) return { kind: 'aborted' };
    return this.#record(due, report);
  }

  /**
   * Step "suspended", as Flux's helm-controller: no run, Ready kept as the last run left it, but
   * the new generation acknowledged (observedGeneration), so `kubectl wait --for=condition=Ready`
   * answers from the last run instead of waiting for a generation nobody will observe. A
   * requestedAt set meanwhile is kept for the resume and said so in an Event, not dropped.
   */
  async #suspended(key: string, obj: ManifestObject): Promise<ReconcileResult> {
    const generation = obj.metadata.generation ?? 0;
    const pending = pendingRequest(obj, requestedAtAnnotation);
    const memory = this.#memory.get(key);
    if (suspensionKnown(memory, generation, pending)) return { kind: 'done' };
    const { namespace, name } = splitKey(key);
    this.#o.logger.info({ namespace, name, generation }, 'suspended; not reconciling');
    await this.#o.status.update(namespace, name, (stored) => (stored.metadata.uid === obj.metadata.uid ? suspendedStatus(stored.status, generation, new Date(this.#clock.now())) : undefined));
    const ready = obj.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
    const stalled = obj.status?.conditions?.find((c) => c.type === 'Stalled')?.status ?? 'False';
    this.#o.metrics.setManifestConditions(namespace, name, [{ type: 'Ready', status: ready }, { type: 'Stalled', status: stalled }], true);
    await this.#o.events.record(obj, 'Normal', 'Suspended', suspendedMessage(pending));
    this.#memory.set(key, suspendedRecord(memory, obj.metadata.uid, generation, pending));
    return { kind: 'done' };
  }

  /** Step "due": the run to make now, or how long until one is due. */
  #due(key: string, obj: ManifestObject): Run | number {
    const memory = this.#memory.get(key);
    const generation = obj.metadata.generation ?? 0;
    const requestedAt = obj.metadata.annotations?.[requestedAtAnnotation];
    const due = triggerOf(memory, obj, requestedAtAnnotation, this.#clock.now());
    if ('waitMs' in due) return due.waitMs;
    const { trigger, onDemand } = due;
    const { namespace, name } = splitKey(key);
    const log = this.#o.logger.child({ namespace, name });
    log.info({ generation, onDemand, trigger }, 'reconcile started');
    const mode = obj.spec?.mode === 'Plan' ? 'Plan' : 'Promote';
    // A progress record left on the status means a run that never finished (this process runs
    // one run per key at a time, and removes the record when a run ends).
    const recorded = obj.status?.progress;
    const interrupted = recorded && recorded.startedAt !== memory?.lastRun ? recorded : undefined;
    if (interrupted) log.info({ startedAt: interrupted.startedAt, toPromote: interrupted.toPromote }, 'an earlier run was interrupted; this run reports what it had copied');
    return { key, obj, namespace, name, generation, requestedAt, mode, log, secrets: memory?.secrets ?? [], intervalMs: fallbackIntervalMs, startedAt: new Date(this.#clock.now()), interrupted, statusVersion: memory?.statusVersion };
  }

  /** Steps "accept spec", "resolve credentials" and "run": the report, or undefined on shutdown. */
  async #run(run: Run, shutdown: AbortSignal): Promise<RunReport | undefined> {
    try {
      run.accepted = this.#accept(run);
      const credentials = await resolveCredentials(this.#o.secrets, run.namespace, run.accepted.model);
      run.trust = await runTrust(run.accepted.spec, { ...run, ...(run.obj.metadata.uid && { uid: run.obj.metadata.uid }) }, this.#o.trust ?? {}, this.#readers());
      return await this.#pipeline(run, run.accepted, credentials, shutdown);
    } catch (error) {
      if (!(error instanceof ReconcileError)) throw error;
      if (!run.accepted) run.secrets = secretsOf(run.obj.spec);
      return notRun(run.mode, error.reason, error.message);
    }
  }

  #readers(): { secrets: SecretReader; configMaps: ConfigMapReader } {
    return { secrets: this.#o.secrets, configMaps: this.#o.configMaps ?? { read: async () => undefined } };
  }

  /** Step "accept spec": the checks the CRD cannot make; from here the Secrets it names wake it. */
  #accept(run: Run): AcceptedSpec {
    const accepted = acceptSpec(run.obj.spec, this.#o.allowedRegistries);
    run.intervalMs = accepted.intervalMs;
    run.secrets = referencedSecrets(accepted.model, accepted.spec);
    this.#o.metrics.initRegistryHosts(accepted.model.registries.map((r) => registryHost(r.name)));
    this.#remember(run, Number.POSITIVE_INFINITY, 'Reconciling');
    return accepted;
  }

  /** Step "run": the pipeline (runs.ts), bounded by spec.timeout and by shutdown; progress and admission around it. */
  async #pipeline(run: Run, accepted: AcceptedSpec, credentials: StaticCredentials, shutdown: AbortSignal): Promise<RunReport | undefined> {
    const progress = this.#progress(run);
    try {
      return await runOnce(this.#runs, {
        mode: run.mode, log: run.log, ...(run.trust && { trust: run.trust }),
        onEvent: (event) => {
          this.#onEvent(event, run.log);
          progress.onEvent(event);
        },
        beforePromote: () => progress.writeAhead(),
        after: async (client, report, signal) => {
          run.admission = await admissionLines(client, report, run.trust, signal).catch((error: unknown) => {
            run.log.warn({ err: (error as Error).message }, 'admission check failed');
            return undefined;
          });
        },
      }, accepted, credentials, shutdown);
    } finally {
      await progress.stop();
    }
  }

  /** Progress on the status at a bounded rate, and the write-ahead record of what Promote copies. */
  #progress(run: Run): ProgressReporter {
    return new ProgressReporter({
      startedAt: run.startedAt, generation: run.generation, mode: run.mode, log: run.log, clock: this.#clock,
      intervalMs: this.#o.progressIntervalMs ?? 10_000,
      write: async (progress) => {
        this.#wrote(run, await this.#o.status.update(run.namespace, run.name, (stored) => (this.#same(run, stored) ? progressStatus(stored.status, run.generation, run.mode, progress, new Date(this.#clock.now())) : undefined), this.#cached(run)));
      },
    });
  }

  /** Step "record": status, Events and metrics from the report, and what the queue does next. */
  async #record(run: Run, ranReport: RunReport): Promise<ReconcileResult> {
    const report = withRefusedEntries(ranReport, run.accepted?.refused);
    const { facts, events } = this.#facts(run, report);
    this.#wrote(run, await this.#o.status.update(run.namespace, run.name, (stored) => {
      if (!this.#same(run, stored)) return undefined;
      const next = this.#finished(run, stored.status, report, facts);
      return sameStatus(stored.status, next) ? undefined : next;
    }, this.#cached(run)));
    for (const event of runEvents(report, events)) await this.#o.events.record(run.obj, event.type, event.reason, event.message);
    this.#countEdges(report);
    const k = kstatusConditions(report);
    this.#o.metrics.setManifestConditions(run.namespace, run.name, [{ type: 'Ready', status: k.ready.status }, { type: 'Stalled', status: k.stalled ? 'True' : 'False' }], false);
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

  /** What the status and Events render besides the report: refused entries, an interrupted run. */
  #facts(run: Run, report: RunReport): { facts: RunFacts; events: EventFacts } {
    const refused = run.accepted?.refused;
    const found = interruptedPromotions(run.interrupted, report, run.generation);
    const interrupted = found && run.interrupted ? { startedAt: run.interrupted.startedAt, ...found } : undefined;
    return {
      facts: { startedAt: run.startedAt, ...(refused && report.phases.length > 0 && { refusedEntries: refused.edges }), ...(interrupted && { interrupted }) },
      events: { ...(interrupted && { interrupted }), ...(refused && { refusedEntries: { type: 'Warning', reason: refused.reason, message: refused.message } }) },
    };
  }

  /** The final status: the report rendered, and the conditions only the controller knows (refused entries, admission). */
  #finished(run: Run, current: Status | undefined, report: RunReport, facts: RunFacts): Status {
    const now = new Date(this.#clock.now());
    const status = finishedStatus(current, run.generation, report, now, run.requestedAt, facts);
    const refused = run.accepted?.refused;
    let conditions = (status.conditions ?? []).filter((c) => c.type !== 'EntriesRefused' && (run.admission === undefined || c.type !== 'Admissible'));
    if (refused) conditions = setCondition(conditions, { type: 'EntriesRefused', status: 'True', reason: refused.reason, message: refused.message }, run.generation, now);
    if (run.admission) {
      conditions = setCondition(conditions, admissibleCondition(run.admission), run.generation, now);
      status.admission = run.admission;
    }
    return { ...status, conditions };
  }

  #same(run: Run, stored: { metadata: ObjectMeta }): boolean {
    return stored.metadata.uid === run.obj.metadata.uid;
  }

  /**
   * The watch cache's copy, for a status write to start from instead of a GET, when it is known
   * to include our own last write (its resourceVersion is the one that write left), or this
   * process has not written the status yet (the cache was listed after it started). Otherwise
   * (the watch lags behind our write, or someone else changed the object since) the write reads
   * the object first: a stale copy would decide "nothing changed" on a status that is not stored.
   */
  #cached(run: Run): ManifestObject | undefined {
    const cached = this.#o.get(run.key);
    if (!cached || !this.#same(run, cached)) return undefined;
    return run.statusVersion === undefined || cached.metadata.resourceVersion === run.statusVersion ? cached : undefined;
  }

  #wrote(run: Run, result: StatusWriteResult): void {
    if (result.resourceVersion) run.statusVersion = result.resourceVersion;
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
    this.#memory.set(run.key, { uid, generation, requestedAt: run.requestedAt, nextRunAt, stale: false, secrets: run.secrets, condition, lastRun: run.startedAt.toISOString(), ...(run.statusVersion && { statusVersion: run.statusVersion }) });
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

/**
 * A run whose spec had dmap entries refused did not do everything the manifest asks: when it
 * otherwise succeeded it ends Refused with the entries' reason (terminal: the spec must change),
 * and its valid entries are done.
 */
function withRefusedEntries(report: RunReport, refused: AcceptedSpec['refused']): RunReport {
  if (!refused || report.outcome !== 'Succeeded' || report.phases.length === 0) return report;
  return { ...report, outcome: 'Refused', reason: refused.reason, message: refused.message };
}

/** The Secrets a spec that was not accepted names, as far as it can be read. */
function secretsOf(spec: ManifestObject['spec']): string[] {
  try {
    return referencedSecrets(specModel(spec as PromotionManifestSpec), spec as PromotionManifestSpec);
  } catch {
    return [];
  }
}
