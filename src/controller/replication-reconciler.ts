// One reconcile of one SignatureReplication, as named steps, as reconciler.ts does for
// PromotionManifests:
//   suspended? -> due -> accept spec -> covered manifests and their credentials -> run -> record
// The run is the replication engine's (src/replication, the same as `hoist replicate`); its one
// report is only rendered here: status (replication-status.ts), Events (replication-events.ts)
// and what the work queue does next, which the catalogue decides from the report's reason.
import { maxTimerMs, parseDuration } from '../api/duration.ts';
import type { PromotionManifestSpec } from '../api/promotion-manifest.ts';
import { isTerminal } from '../api/reasons.ts';
import { replicationApiVersion, replicationKind, signatureReplicationSpecSchema, type SignatureReplicationSpec, type SignatureReplicationStatus } from '../api/signature-replication.ts';
import { specModel } from '../manifest/resource.ts';
import type { Logger } from '../observability/logger.ts';
import type { ControllerMetrics } from '../observability/metrics.ts';
import { StaticCredentials, type Credential } from '../registry/index.ts';
import { notRun, runReplication, selectManifests, type ManifestInput, type ReplicationEvent, type ReplicationReport } from '../replication/index.ts';
import { systemClock, type Clock } from './clock.ts';
import { referencedSecrets, resolveCredentials, type SecretReader } from './credentials.ts';
import { ReconcileError } from './errors.ts';
import type { EventSink } from './events.ts';
import { requestedAtAnnotation, splitKey, type ManifestObject, type ObjectMeta } from './kube.ts';
import { pendingRequest, RunMemory, suspendedMessage, suspendedRecord, suspensionKnown, triggerOf } from './memory.ts';
import { deadline } from './pause.ts';
import type { ReconcileResult } from './reconciler.ts';
import { replicationEvents } from './replication-events.ts';
import { ReplicationProgressReporter } from './replication-progress.ts';
import {
  replicationConditions, replicationFinishedStatus, replicationProgressStatus, replicationSuspendedStatus, type ReplicationStatusWriter,
} from './replication-status.ts';
import type { RegistryRuns } from './runs.ts';
import { acceptSpec } from './spec.ts';

/** A SignatureReplication as the watch caches it; the spec is checked only when a run starts. */
export interface ReplicationObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: Partial<SignatureReplicationSpec> & Record<string, unknown>;
  status?: SignatureReplicationStatus;
}

export interface ReplicationReconcilerOptions {
  get(key: string): ReplicationObject | undefined;
  /** The PromotionManifests of a namespace, read when a run starts (the truth, whatever this process watches). */
  listManifests(namespace: string): Promise<ManifestObject[]>;
  secrets: SecretReader;
  status: Pick<ReplicationStatusWriter, 'update'>;
  events: EventSink;
  metrics: ControllerMetrics;
  logger: Logger;
  /** Shared with the PromotionManifest runs: connections, limiters per host, inventory. */
  registry: RegistryRuns;
  clock?: Clock;
  allowedRegistries?: string[];
  /** Bound on progress writes during a run (default 10 s; 0 in tests: every change). */
  progressIntervalMs?: number;
  /** The engine (tests give canned reports). */
  runReplication?: typeof runReplication;
}

const defaultTimeoutMs = 60 * 60_000;
/** Interval of a replication whose spec could not be read. */
const fallbackIntervalMs = 30 * 60_000;

interface Run {
  key: string;
  obj: ReplicationObject;
  namespace: string;
  name: string;
  generation: number;
  requestedAt: string | undefined;
  log: Logger;
  secrets: readonly string[];
  intervalMs: number;
  startedAt: Date;
}

function duration(field: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1000 || ms > maxTimerMs) throw new ReconcileError('InvalidSpec', `spec.${field} "${text}" must be a duration between 1s and 576h (24 days), e.g. 30m`);
  return ms;
}

/** The checks the CRD cannot make, and the spec with its defaults. */
export function acceptReplicationSpec(raw: unknown): { spec: SignatureReplicationSpec; intervalMs: number; timeoutMs: number } {
  const parsed = signatureReplicationSpecSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ReconcileError('InvalidSpec', `${parsed.error.issues.slice(0, 3).map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ')}; fix the SignatureReplication`);
  }
  const spec = parsed.data;
  return { spec, intervalMs: duration('interval', spec.interval), timeoutMs: spec.timeout === undefined ? defaultTimeoutMs : duration('timeout', spec.timeout) };
}

/** Events name the kind whatever the cache kept of apiVersion and kind. */
const about = (obj: ReplicationObject) => ({ apiVersion: replicationApiVersion, kind: replicationKind, metadata: obj.metadata });

const same = (a: Credential, b: Credential) => JSON.stringify(a) === JSON.stringify(b);

export class ReplicationReconciler {
  readonly #o: ReplicationReconcilerOptions;
  readonly #clock: Clock;
  readonly #memory = new RunMemory();

  constructor(options: ReplicationReconcilerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  markStale(key: string): void {
    this.#memory.markStale(key);
  }

  /** Keys of replications whose covered manifests named Secret namespace/name in their last run. */
  usersOfSecret(namespace: string, name: string): string[] {
    return this.#memory.usersOfSecret(namespace, name);
  }

  async reconcile(key: string, shutdown: AbortSignal): Promise<ReconcileResult> {
    try {
      const obj = this.#o.get(key);
      if (!obj || obj.metadata.deletionTimestamp) {
        this.#memory.forget(key);
        return { kind: 'done' };
      }
      if (obj.spec?.suspend === true) return await this.#suspended(key, obj);
      const due = this.#due(key, obj);
      if (typeof due === 'number') return { kind: 'requeueAfter', ms: due };
      this.#remember(due, Number.POSITIVE_INFINITY, 'Reconciling');
      const report = await this.#run(due, shutdown);
      if (!report) return { kind: 'aborted' };
      return await this.#record(due, report);
    } catch (error) {
      // An API error mid-run (e.g. the API server restarting): the retry must run, not wait.
      this.#memory.dueNow(key);
      throw error;
    }
  }

  /** Suspended: no run, the generation acknowledged, the last verdict kept (as for PromotionManifests). */
  async #suspended(key: string, obj: ReplicationObject): Promise<ReconcileResult> {
    const generation = obj.metadata.generation ?? 0;
    const pending = pendingRequest(obj, requestedAtAnnotation);
    const memory = this.#memory.get(key);
    if (suspensionKnown(memory, generation, pending)) return { kind: 'done' };
    const { namespace, name } = splitKey(key);
    this.#o.logger.info({ namespace, name, generation, kind: 'SignatureReplication' }, 'suspended; not replicating');
    await this.#o.status.update(namespace, name, (stored) => (stored.metadata.uid === obj.metadata.uid ? replicationSuspendedStatus(stored.status, generation, new Date(this.#clock.now())) : undefined));
    await this.#o.events.record(about(obj), 'Normal', 'Suspended', suspendedMessage(pending));
    this.#memory.set(key, suspendedRecord(memory, obj.metadata.uid, generation, pending));
    return { kind: 'done' };
  }

  /** Step "due": the run to make now (first, spec, requestedAt, a Secret, the interval), or how long until one is due. */
  #due(key: string, obj: ReplicationObject): Run | number {
    const memory = this.#memory.get(key);
    const generation = obj.metadata.generation ?? 0;
    const requestedAt = obj.metadata.annotations?.[requestedAtAnnotation];
    const due = triggerOf(memory, obj, requestedAtAnnotation, this.#clock.now());
    if ('waitMs' in due) return due.waitMs;
    const { trigger, onDemand } = due;
    const { namespace, name } = splitKey(key);
    const log = this.#o.logger.child({ namespace, name, kind: 'SignatureReplication' });
    log.info({ generation, onDemand, trigger }, 'replication started');
    return { key, obj, namespace, name, generation, requestedAt, log, secrets: memory?.secrets ?? [], intervalMs: fallbackIntervalMs, startedAt: new Date(this.#clock.now()) };
  }

  /** Steps "accept spec", "covered manifests" and "run": the report, or undefined on shutdown. */
  async #run(run: Run, shutdown: AbortSignal): Promise<ReplicationReport | undefined> {
    let accepted: ReturnType<typeof acceptReplicationSpec>;
    try {
      accepted = acceptReplicationSpec(run.obj.spec);
    } catch (error) {
      if (error instanceof ReconcileError) return notRun(error.reason, error.message);
      throw error;
    }
    run.intervalMs = accepted.intervalMs;
    const { inputs, credentials } = await this.#covered(run, accepted.spec);
    this.#remember(run, Number.POSITIVE_INFINITY, 'Reconciling');
    return this.#replicate(run, accepted, inputs, credentials, shutdown);
  }

  /**
   * The PromotionManifests of the namespace the spec covers, each accepted as its own reconcile
   * accepts it (its rules, the controller's --allowed-registries, which bind its mirrors too) and
   * with its credentials resolved from its own Secrets. A manifest that fails either is reported
   * and left out; the others go on.
   */
  async #covered(run: Run, spec: SignatureReplicationSpec): Promise<{ inputs: ManifestInput[]; credentials: StaticCredentials }> {
    const manifests = await this.#o.listManifests(run.namespace);
    const named = manifests.map((m) => ({ name: m.metadata.name ?? '', ...(m.metadata.labels && { labels: m.metadata.labels }), object: m }));
    const { selected } = selectManifests(spec, named);
    const inputs: ManifestInput[] = [];
    const entries: Record<string, Credential> = {};
    const secrets = new Set<string>();
    for (const { name, labels, object } of selected) {
      const base = { name, ...(labels && { labels }) };
      try {
        for (const secret of secretsOf(object.spec)) secrets.add(secret);
        const model = acceptSpec(object.spec, this.#o.allowedRegistries).model;
        const resolved = await resolveCredentials(this.#o.secrets, run.namespace, model);
        for (const host of resolved.hosts) {
          const credential = resolved.get(host);
          if (entries[host] && !same(entries[host], credential)) run.log.warn({ manifest: name, host }, 'two covered manifests take different credentials for one host; the first one\'s are used');
          entries[host] ??= credential;
        }
        inputs.push({ ...base, spec: model });
      } catch (error) {
        if (!(error instanceof ReconcileError)) throw error;
        inputs.push({ ...base, spec: { registries: [], images: [] }, problem: { reason: error.reason, message: `PromotionManifest ${name}: ${error.message}` } });
      }
    }
    // Unselected manifests still count for names that name nothing (PromotionManifestNotFound).
    for (const m of named) if (!selected.includes(m)) inputs.push({ name: m.name, ...(m.labels && { labels: m.labels }), spec: { registries: [], images: [] } });
    run.secrets = [...secrets];
    return { inputs, credentials: new StaticCredentials(entries) };
  }

  /** Step "run": the engine over a client on the shared registry parts, bounded by spec.timeout and shutdown; progress on the status. */
  async #replicate(run: Run, accepted: ReturnType<typeof acceptReplicationSpec>, inputs: ManifestInput[], credentials: StaticCredentials, shutdown: AbortSignal): Promise<ReplicationReport | undefined> {
    const client = this.#o.registry.client(credentials);
    const flushMetrics = this.#o.metrics.watchRegistryClient(client.stats);
    const timeout = deadline(accepted.timeoutMs);
    const signal = AbortSignal.any([shutdown, timeout.signal]);
    const progress = this.#progress(run);
    const started = this.#clock.now();
    try {
      return await (this.#o.runReplication ?? runReplication)(accepted.spec, inputs, client, { signal, onEvent: (event) => this.#onEvent(run, progress, event) });
    } catch (error) {
      if (shutdown.aborted) {
        run.log.info('replication interrupted by shutdown; what was copied stays, the next run finishes it');
        return undefined;
      }
      const ms = this.#clock.now() - started;
      if (timeout.signal.aborted) return notRun('Timeout', `the replication took longer than spec.timeout (${accepted.spec.timeout ?? '1h'}); what was copied stays and the next run continues`, ms);
      return notRun('RunFailed', (error as Error).message, ms);
    } finally {
      timeout.clear();
      await progress.stop();
      await client.close();
      flushMetrics();
    }
  }

  #onEvent(run: Run, progress: ReplicationProgressReporter, event: ReplicationEvent): void {
    progress.onEvent(event);
    if (event.type === 'stepFinished') run.log.info({ step: event.step, durationMs: event.durationMs, detail: event.message }, 'step finished');
    if (event.type === 'pair') run.log.info({ mirror: `${event.mirror.host}/${event.mirror.name}`, digest: event.digest, outcome: event.state, ...(event.artifacts?.length && { artifacts: event.artifacts }), ...(event.reason && { reason: event.reason, err: event.detail }) }, 'mirror copy');
  }

  #progress(run: Run): ReplicationProgressReporter {
    return new ReplicationProgressReporter({
      log: run.log, clock: this.#clock, intervalMs: this.#o.progressIntervalMs ?? 10_000,
      write: async (progress) => {
        await this.#o.status.update(run.namespace, run.name, (stored) => (stored.metadata.uid === run.obj.metadata.uid ? replicationProgressStatus(stored.status, run.generation, progress, new Date(this.#clock.now())) : undefined));
      },
    });
  }

  /** Step "record": status and Events from the report, and what the queue does next. */
  async #record(run: Run, report: ReplicationReport): Promise<ReconcileResult> {
    const now = () => new Date(this.#clock.now());
    await this.#o.status.update(run.namespace, run.name, (stored) => (stored.metadata.uid === run.obj.metadata.uid
      ? replicationFinishedStatus(stored.status, run.generation, report, run, now()) : undefined));
    for (const event of replicationEvents(report)) await this.#o.events.record(about(run.obj), event.type, event.reason, event.message);
    const summary = { ...report.counts, requests: report.requests, durationMs: report.durationMs };
    if (report.outcome !== 'Succeeded' && !isTerminal(report.reason)) {
      this.#remember(run, 0, 'Reconciling');
      run.log.warn({ reason: report.reason, err: report.message, summary }, 'replication failed; retrying with backoff');
      return { kind: 'retry', reason: report.reason, message: report.message };
    }
    if (report.outcome !== 'Succeeded' && report.steps.length === 0) {
      // The spec, a manifest or a Secret must change first, and each wakes the key up.
      this.#remember(run, Number.POSITIVE_INFINITY, 'Stalled');
      run.log.warn({ reason: report.reason, err: report.message }, 'stalled');
      return { kind: 'done' };
    }
    // Stalled on what the registries hold (diverged tags) or on a covered manifest: checked
    // again at the interval, as a successful run is.
    this.#remember(run, this.#clock.now() + run.intervalMs, replicationConditions(report).stalled ? 'Stalled' : 'Ready');
    run.log.info({ outcome: report.outcome, reason: report.reason, summary, nextRunInMs: run.intervalMs }, 'replication finished');
    return { kind: 'requeueAfter', ms: run.intervalMs };
  }

  #remember(run: Run, nextRunAt: number, condition: 'Ready' | 'Stalled' | 'Reconciling'): void {
    // Deleted (or replaced) while it ran: a record made now would never be forgotten.
    const current = this.#o.get(run.key);
    if (!current || current.metadata.deletionTimestamp || current.metadata.uid !== run.obj.metadata.uid) {
      this.#memory.forget(run.key);
      return;
    }
    const { uid, generation = 0 } = run.obj.metadata;
    this.#memory.set(run.key, { uid, generation, requestedAt: run.requestedAt, nextRunAt, stale: false, secrets: run.secrets, condition, lastRun: run.startedAt.toISOString() });
  }
}

/** The Secrets a manifest's spec names, as far as it can be read: a change to one wakes the replication. */
function secretsOf(spec: ManifestObject['spec']): string[] {
  try {
    return referencedSecrets(specModel(spec as PromotionManifestSpec));
  } catch {
    return [];
  }
}
