// One reconcile of one PromotionManifest: decide whether a run is due, write Reconciling, accept
// the spec and its credentials, run the pipeline bounded by spec.timeout and by shutdown, then
// write the outcome as status, Events and metrics. Returns what the work queue should do next.
import { kind, type PromotionManifestSpec } from '../api/promotion-manifest.ts';
import type { Logger } from '../observability/logger.ts';
import type { ControllerMetrics } from '../observability/metrics.ts';
import { edgesFromSpecs } from '../pipeline/edges.ts';
import { runPipeline, type PipelineEvent, type RunReport } from '../pipeline/index.ts';
import { RegistryClient, formatReference, type RegistryClientOptions } from '../registry/index.ts';
import { finishedStatus, startedStatus, verdict, type RunOutcome, type Status } from './conditions.ts';
import { referencedSecrets, resolveCredentials, secretKeyReader, type SecretReader } from './credentials.ts';
import { ReconcileError } from './errors.ts';
import type { EventSink } from './events.ts';
import { splitKey, type ObjectMeta } from './kube.ts';
import { acceptSpec, toModel } from './spec.ts';
import type { StatusWriter } from './status.ts';

export const requestedAtAnnotation = 'reconcile.hoist.dev/requestedAt';

export interface ManifestObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: Partial<PromotionManifestSpec> & Record<string, unknown>;
  status?: Status;
}

export type ReconcileResult =
  | { kind: 'done' }
  | { kind: 'requeueAfter'; ms: number }
  | { kind: 'error'; error: Error }
  /** Shutdown interrupted the run; nothing was recorded, the next leader reruns it. */
  | { kind: 'aborted' };

export interface ReconcilerOptions {
  get(key: string): ManifestObject | undefined;
  secrets: SecretReader;
  status: StatusWriter;
  events: EventSink;
  metrics: ControllerMetrics;
  logger: Logger;
  allowedRegistries?: string[];
  registry?: Partial<RegistryClientOptions>;
  concurrency?: number;
  planConcurrency?: number;
  /** Keyless material the spec does not carry (flags); our identity comes from the token. */
  keyless?: { fulcioURL?: string; tokenPath?: string; trustedRoot?: unknown };
}

/** What the last run of a key decided; in memory, so a restarted controller runs everything once. */
interface Memory {
  uid: string | undefined;
  generation: number;
  requestedAt: string | undefined;
  nextRunAt: number;
  /** A Secret it uses changed. */
  stale: boolean;
  secrets: string[];
  condition: 'Ready' | 'Stalled' | 'Reconciling' | undefined;
}

export class Reconciler {
  readonly #o: ReconcilerOptions;
  readonly #memory = new Map<string, Memory>();

  constructor(options: ReconcilerOptions) {
    this.#o = options;
  }

  /** A Secret the manifest uses changed: its next reconcile runs even if not yet due. */
  markStale(key: string): void {
    const memory = this.#memory.get(key);
    if (memory) memory.stale = true;
  }

  forget(key: string): void {
    this.#memory.delete(key);
    this.#updateGauge();
  }

  async reconcile(key: string, shutdown: AbortSignal): Promise<ReconcileResult> {
    try {
      return await this.#reconcile(key, shutdown);
    } catch (error) {
      // An API error mid-run (e.g. the API server restarting): the retry must run, not wait.
      const memory = this.#memory.get(key);
      if (memory) memory.nextRunAt = 0;
      throw error;
    }
  }

  async #reconcile(key: string, shutdown: AbortSignal): Promise<ReconcileResult> {
    const obj = this.#o.get(key);
    if (!obj || obj.metadata.deletionTimestamp) {
      this.forget(key);
      return { kind: 'done' };
    }
    const { namespace, name } = splitKey(key);
    const log = this.#o.logger.child({ namespace, name });
    const generation = obj.metadata.generation ?? 0;
    if (obj.spec?.suspend === true) {
      log.debug('suspended; not reconciling');
      return { kind: 'done' };
    }
    const requestedAt = obj.metadata.annotations?.[requestedAtAnnotation];
    const memory = this.#memory.get(key);
    const handled = memory ? memory.requestedAt : obj.status?.lastHandledReconcileAt;
    const onDemand = requestedAt !== undefined && requestedAt !== handled;
    const due = !memory || memory.uid !== obj.metadata.uid || memory.generation !== generation || onDemand || memory.stale || Date.now() >= memory.nextRunAt;
    if (!due) return { kind: 'requeueAfter', ms: memory.nextRunAt - Date.now() };

    log.info({ generation, onDemand, trigger: !memory ? 'first' : memory.generation !== generation ? 'spec' : onDemand ? 'requestedAt' : memory.stale ? 'secret' : 'interval' }, 'reconcile started');
    const mode = obj.spec?.mode === 'Plan' ? 'Plan' : 'Promote';
    const sameObject = (stored: { metadata: ObjectMeta }) => stored.metadata.uid === obj.metadata.uid;
    await this.#o.status.update(namespace, name, (stored) => (sameObject(stored) ? startedStatus(stored.status, generation, mode, new Date()) : undefined));
    this.#remember(key, obj, requestedAt, Number.POSITIVE_INFINITY, 'Reconciling', memory?.secrets ?? []);

    let outcome: RunOutcome;
    let intervalMs: number | undefined;
    let report: RunReport | undefined;
    let secrets: string[] = [];
    try {
      const accepted = acceptSpec(obj.spec, this.#o.allowedRegistries);
      intervalMs = accepted.intervalMs;
      secrets = referencedSecrets(accepted.model, accepted.spec);
      this.#remember(key, obj, requestedAt, Number.POSITIVE_INFINITY, 'Reconciling', secrets);
      const credentials = await resolveCredentials(this.#o.secrets, namespace, accepted.model);
      const client = new RegistryClient({ ...this.#o.registry, credentials });
      const flushMetrics = this.#o.metrics.watchRegistryClient(client);
      const timeout = AbortSignal.timeout(accepted.timeoutMs);
      const signal = AbortSignal.any([shutdown, timeout]);
      try {
        report = await runPipeline(edgesFromSpecs([accepted.model]), client, {
          mode: accepted.spec.mode, concurrency: this.#o.concurrency ?? 8, planConcurrency: this.#o.planConcurrency ?? 16, signal,
          onEvent: (event) => this.#onEvent(event, log),
          trust: {
            ...(accepted.spec.verification && { verification: accepted.spec.verification }),
            ...(accepted.spec.signing && { signing: accepted.spec.signing }),
            ...(accepted.spec.attestation && { attestation: accepted.spec.attestation }),
            readSecret: secretKeyReader(this.#o.secrets, namespace),
            ...(this.#o.keyless && { keyless: this.#o.keyless }),
            source: { kind, namespace, name, ...(obj.metadata.uid && { uid: obj.metadata.uid }), generation },
          },
        });
        outcome = { kind: 'report', report };
      } catch (error) {
        if (shutdown.aborted) {
          log.info('run interrupted by shutdown; what was copied stays, the next run finishes it');
          return { kind: 'aborted' };
        }
        if (timeout.aborted) {
          outcome = { kind: 'failed', reason: 'Timeout', message: `the run took longer than spec.timeout (${accepted.spec.timeout ?? '1h'}); what was copied stays and the next run continues` };
        } else if (error instanceof ReconcileError) {
          outcome = error.stalled ? { kind: 'stalled', reason: error.reason, message: error.message } : { kind: 'failed', reason: error.reason, message: error.message };
        } else {
          outcome = { kind: 'failed', reason: 'RunFailed', message: (error as Error).message };
        }
      } finally {
        await client.close();
        flushMetrics();
      }
    } catch (error) {
      if (!(error instanceof ReconcileError)) throw error;
      outcome = error.stalled ? { kind: 'stalled', reason: error.reason, message: error.message } : { kind: 'failed', reason: error.reason, message: error.message };
      if (secrets.length === 0 && obj.spec) secrets = safeSecrets(obj.spec);
    }

    await this.#o.status.update(namespace, name, (stored) => (sameObject(stored) ? finishedStatus(stored.status, generation, outcome, new Date(), requestedAt) : undefined));
    await this.#recordEvents(obj, outcome, log);
    if (report) this.#countEdges(report);

    // The same verdict as the status just written: Reconciling=True (retrying) goes back to the
    // queue with per-key backoff, Stalled waits for a change, the rest for the interval.
    const v = verdict(outcome);
    if (v.retrying) {
      this.#remember(key, obj, requestedAt, 0, 'Reconciling', secrets);
      const reason = v.ready.reason;
      const message = v.ready.message ?? '';
      log.warn({ reason, err: message, outcome: report?.outcome, summary: report?.summary }, 'reconcile failed; retrying with backoff');
      return { kind: 'error', error: new ReconcileError(reason, message) };
    }
    const condition = v.stalled ? 'Stalled' : 'Ready';
    if (outcome.kind === 'stalled') {
      // Nothing to retry until the spec or a Secret changes; both wake the key up.
      this.#remember(key, obj, requestedAt, Number.POSITIVE_INFINITY, 'Stalled', secrets);
      log.warn({ reason: outcome.reason, err: outcome.message }, 'stalled');
      return { kind: 'done' };
    }
    const next = intervalMs ?? 10 * 60_000;
    this.#remember(key, obj, requestedAt, Date.now() + next, condition, secrets);
    log.info({ outcome: report?.outcome, summary: report?.summary, nextRunInMs: next }, 'reconcile finished');
    return { kind: 'requeueAfter', ms: next };
  }

  /** Keys of manifests whose credentials are in Secret namespace/name. */
  usersOfSecret(namespace: string, name: string): string[] {
    const keys: string[] = [];
    for (const [key, memory] of this.#memory) {
      if (splitKey(key).namespace === namespace && memory.secrets.includes(name)) keys.push(key);
    }
    return keys;
  }

  #remember(key: string, obj: ManifestObject, requestedAt: string | undefined, nextRunAt: number, condition: Memory['condition'], secrets: string[]): void {
    // Deleted (or replaced) while it ran: the delete already came and went, so a record made
    // now would never be forgotten. The queued key reconciles what exists now.
    const current = this.#o.get(key);
    if (!current || current.metadata.deletionTimestamp || current.metadata.uid !== obj.metadata.uid) {
      if (this.#memory.delete(key)) this.#updateGauge();
      return;
    }
    this.#memory.set(key, { uid: obj.metadata.uid, generation: obj.metadata.generation ?? 0, requestedAt, nextRunAt, stale: false, secrets, condition });
    this.#updateGauge();
  }

  #updateGauge(): void {
    const counts = { Ready: 0, Stalled: 0, Reconciling: 0 };
    for (const memory of this.#memory.values()) if (memory.condition) counts[memory.condition] += 1;
    for (const [condition, n] of Object.entries(counts)) this.#o.metrics.manifests.set({ condition }, n);
  }

  #onEvent(event: PipelineEvent, log: Logger): void {
    if (event.type === 'phaseStarted') log.debug({ phase: event.phase }, 'phase started');
    if (event.type === 'phaseFinished') {
      this.#o.metrics.phaseDuration.observe({ phase: event.phase.name }, event.phase.durationMs / 1000);
      log.info({ phase: event.phase.name, result: event.phase.result, durationMs: event.phase.durationMs, detail: event.phase.message }, 'phase finished');
    }
    if (event.type === 'edgeFinished') {
      const { edge, outcome, error } = event.result;
      log.info({ phase: 'Promote', image: formatReference({ ...edge.dst, digest: edge.digest }), tags: edge.tags, outcome, ...(error && { reason: error.reason, err: error.message }), done: event.done, total: event.total }, 'edge finished');
    }
  }

  #countEdges(report: RunReport): void {
    const byEdge = new Map(report.results.map((r) => [r.edge, r.outcome]));
    for (const edge of report.plan) {
      const byState: Record<string, string> = { promote: report.mode === 'Plan' ? 'planned' : 'skipped', present: 'present', lost: 'lost', tagMove: 'refused', failed: 'failed', unverified: 'refused' };
      const outcome = byEdge.get(edge) ?? byState[edge.state] ?? edge.state;
      this.#o.metrics.edges.inc({ outcome });
    }
  }

  async #recordEvents(obj: ManifestObject, outcome: RunOutcome, log: Logger): Promise<void> {
    const { events } = this.#o;
    if (outcome.kind !== 'report') {
      await events.record(obj, 'Warning', outcome.reason, outcome.message);
      return;
    }
    const { report } = outcome;
    const list = (refs: string[]) => `${refs.slice(0, 10).join(', ')}${refs.length > 10 ? ` and ${refs.length - 10} more` : ''}`;
    const promoted = report.results.filter((r) => r.outcome === 'promoted').map((r) => formatReference({ ...r.edge.dst, tag: r.edge.tags[0], digest: r.edge.digest }));
    if (promoted.length > 0) await events.record(obj, 'Normal', 'Promoted', `promoted ${promoted.length}: ${list(promoted)}`);
    const refused = report.plan.filter((e) => e.state === 'tagMove').map((e) => `${formatReference(e.dst)} (${(e.conflicts ?? []).map((c) => `${c.tag} -> ${c.digest.slice(0, 19)}`).join(', ')})`);
    if (refused.length > 0) await events.record(obj, 'Warning', 'TagMoveRefused', `refused ${refused.length} tag move(s), production tags are never moved: ${list(refused)}`);
    const lost = report.plan.filter((e) => e.state === 'lost').map((e) => `${formatReference({ ...e.src, digest: e.digest })}`);
    if (lost.length > 0) await events.record(obj, 'Warning', 'DigestNotFound', `${lost.length} source digest(s) not in staging: ${list(lost)}`);
    const failed = report.results.filter((r) => r.outcome === 'failed').map((r) => `${formatReference({ ...r.edge.dst, digest: r.edge.digest })}: ${r.error?.reason ?? 'failed'}`);
    if (failed.length > 0) await events.record(obj, 'Warning', 'PromotionFailed', `${failed.length} image(s) failed: ${list(failed)}`);
    if (report.reason) await events.record(obj, 'Warning', report.reason, report.message);
    log.debug({ promoted: promoted.length, refused: refused.length, lost: lost.length, failed: failed.length }, 'events recorded');
  }
}

function safeSecrets(spec: ManifestObject['spec']): string[] {
  try {
    return referencedSecrets(toModel(spec as PromotionManifestSpec), spec as PromotionManifestSpec);
  } catch {
    return [];
  }
}
