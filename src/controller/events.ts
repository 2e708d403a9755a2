// Kubernetes Events (core/v1) on PromotionManifests: what `kubectl describe` shows. Best effort:
// an Event that cannot be written is logged, never fails a reconcile.
// A repeat of an Event already written (same object, type, reason, message) patches that Event's
// count and lastTimestamp instead of adding another, as client-go's recorder does: a manifest
// that fails the same way every retry must not flood etcd or bury `kubectl describe`.
import { randomBytes } from 'node:crypto';
import { PatchStrategy, setHeaderOptions, type CoreV1Api } from '@kubernetes/client-node';
import { apiVersion, kind } from '../api/promotion-manifest.ts';
import type { Reason } from '../api/reasons.ts';
import { formatReference } from '../api/reference.ts';
import type { Logger } from '../observability/logger.ts';
import { failureGroups, type EdgeOutcome, type EdgeState, type RunReport } from '../pipeline/index.ts';
import { aggregationKey, EventCache } from './event-cache.ts';
import { clipText, destinationRef } from './inventory.ts';
import { apiMessage, isNotFound, type ObjectMeta } from './kube.ts';

export const component = 'hoist-controller';

/** The object an Event is about; without apiVersion and kind, a PromotionManifest. */
export interface EventObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface EventSink {
  record(object: EventObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export type EventApi = Pick<CoreV1Api, 'createNamespacedEvent' | 'patchNamespacedEvent'>;

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** metav1.Time is whole seconds; the API server would drop the milliseconds anyway. */
const apiTime = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, 'Z');

export function apiEventSink(core: EventApi, instance: string, logger: Logger, cache = new EventCache()): EventSink {
  // Writes for one key run one after another, so two repeats cannot both patch count n+1.
  const pending = new Map<string, Promise<void>>();

  async function write(key: string, object: EventObject, type: string, reason: string, message: string): Promise<void> {
    const { name, namespace, uid, resourceVersion } = object.metadata;
    if (!name || !namespace) return;
    const now = new Date();
    const cached = cache.get(key);
    if (cached) {
      const count = cached.count + 1;
      try {
        await core.patchNamespacedEvent({ namespace: cached.namespace, name: cached.name, body: { count, lastTimestamp: apiTime(now) } }, mergePatch);
        cache.set(key, { ...cached, count });
        return;
      } catch (error) {
        if (!isNotFound(error)) {
          // The stored count is unchanged, so the cache still describes it: keep the entry.
          logger.warn({ namespace, name, reason, event: cached.name, err: apiMessage(error) }, 'could not update event');
          return;
        }
        // The Event expired (the API server's --event-ttl, 1h by default): start a new one.
        cache.delete(key);
      }
    }
    const eventName = `${name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`;
    try {
      await core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: eventName, namespace },
          involvedObject: { apiVersion: object.apiVersion ?? apiVersion, kind: object.kind ?? kind, name, namespace, ...(uid && { uid }), ...(resourceVersion && { resourceVersion }) },
          type, reason, message,
          source: { component },
          reportingComponent: `hoist.dev/${component}`,
          reportingInstance: instance.slice(0, 128),
          firstTimestamp: now, lastTimestamp: now, count: 1,
        },
      });
      cache.set(key, { namespace, name: eventName, count: 1 });
    } catch (error) {
      logger.warn({ namespace, name, reason, err: apiMessage(error) }, 'could not record event');
    }
  }

  return {
    record(object, type, reason, message) {
      const { name = '', namespace = '', uid } = object.metadata;
      const text = message.length > maxEventMessage ? clipText(message, maxEventMessage) : message;
      const key = aggregationKey({ ...(uid && { uid }), namespace, name, type, reason, message: text });
      const run = (pending.get(key) ?? Promise.resolve()).then(() => write(key, object, type, reason, text));
      pending.set(key, run);
      // Drop the chain once idle so the map holds only keys being written right now.
      const idle = () => { if (pending.get(key) === run) pending.delete(key); };
      run.then(idle, idle);
      return run;
    },
  };
}

export interface RunEvent {
  type: 'Normal' | 'Warning';
  reason: Reason;
  message: string;
}

/** The longest Event message written; client-go's recorder and events.k8s.io cap notes at 1 KiB. */
export const maxEventMessage = 1024;

/**
 * `prefix` and as many whole items as fit in `max` characters, then "and N more": an item is
 * never cut in the middle (a reference cut short names nothing).
 */
export function fitList(prefix: string, items: readonly string[], max = maxEventMessage): string {
  let text = prefix;
  for (let i = 0; i < items.length; i++) {
    const next = `${text}${i > 0 ? ', ' : ''}${items[i]}`;
    const left = items.length - i - 1;
    // Room is kept for " and N more" after every item, so stopping later always fits.
    const reserve = left > 0 ? ` and ${left} more`.length : 0;
    if (next.length + reserve > max) return `${text}${i > 0 ? ' and' : ''} ${items.length - i} more`.slice(0, max);
    text = next;
  }
  return text.slice(0, max);
}

/** Run reasons whose edges already have an Event listing them; no second Event for the run. */
const listedReasons = new Set<Reason>(['TagMoveRefused', 'DigestNotFound', 'ImagesFailed']);

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The Events a finished run records: what was promoted, refused, lost or failed, and why the run ended. */
export function runEvents(report: RunReport, facts: EventFacts = {}): RunEvent[] {
  const byState = (state: EdgeState, describe: (e: EdgeOutcome) => string) => report.edges.filter((e) => e.state === state).map(describe);
  const events: RunEvent[] = [];
  if (facts.interrupted) events.push(interruptedEvent(facts.interrupted));
  const promoted = byState('promoted', destinationRef);
  if (promoted.length > 0) events.push({ type: 'Normal', reason: 'Promoted', message: fitList(`promoted ${promoted.length}: `, promoted) });
  const refused = byState('tagMove', ({ edge, conflicts, detail }) => `${formatReference(edge.dst)} (${conflicts?.map((c) => `${c.tag} -> ${c.digest.slice(0, 19)}…`).join(', ') ?? detail})`);
  if (refused.length > 0) events.push({ type: 'Warning', reason: 'TagMoveRefused', message: fitList(`refused ${plural(refused.length, 'tag move')}, production tags are never moved: `, refused) });
  const lost = byState('lost', ({ edge }) => formatReference({ ...edge.src, digest: edge.digest }));
  if (lost.length > 0) events.push({ type: 'Warning', reason: 'DigestNotFound', message: fitList(`${plural(lost.length, 'source digest')} not in staging: `, lost) });
  const failed = failureGroups(report.edges);
  // A Plan that could read no edge fails the run with the same rollup: one Warning, not two.
  const planFailedAll = report.reason === 'PlanFailed' && report.summary.failed === report.summary.planned;
  if (failed.length > 0 && !planFailedAll) {
    const count = report.summary.failed;
    const groups = failed.map((g) => `${g.host}: ${g.reason} (${plural(g.edges, 'edge')}): ${clipText(g.example, 240)}`);
    events.push({ type: 'Warning', reason: 'PromotionFailed', message: fitList(`${count} of ${plural(report.summary.planned, 'edge')} failed${count === report.summary.planned ? '' : ', the others are done'}: `, groups) });
  }
  if (facts.refusedEntries) events.push(facts.refusedEntries);
  if (report.outcome !== 'Succeeded' && !listedReasons.has(report.reason) && report.reason !== facts.refusedEntries?.reason) {
    events.push({ type: 'Warning', reason: report.reason, message: clipText(report.message, maxEventMessage) });
  }
  return events;
}

export interface EventFacts {
  /** What an interrupted earlier run promoted, as this run found it. */
  interrupted?: { startedAt: string; refs: string[]; edges: number };
  /** The dmap entries refused when the spec was accepted, as one Warning. */
  refusedEntries?: RunEvent;
}

function interruptedEvent(i: NonNullable<EventFacts['interrupted']>): RunEvent {
  const unlisted = i.edges - i.refs.length;
  const items = unlisted > 0 ? [...i.refs, `${unlisted} more not listed`] : i.refs;
  return { type: 'Normal', reason: 'Promoted', message: fitList(`promoted ${i.edges} by a run started at ${i.startedAt.replace(/\.\d+Z$/, 'Z')} that was interrupted; found in production now: `, items) };
}
