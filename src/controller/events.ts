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
import type { EdgeOutcome, EdgeState, RunReport } from '../pipeline/index.ts';
import { aggregationKey, EventCache } from './event-cache.ts';
import { apiMessage, isNotFound, type ObjectMeta } from './kube.ts';

export const component = 'hoist-controller';

export interface EventSink {
  record(object: { metadata: ObjectMeta }, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export type EventApi = Pick<CoreV1Api, 'createNamespacedEvent' | 'patchNamespacedEvent'>;

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** metav1.Time is whole seconds; the API server would drop the milliseconds anyway. */
const apiTime = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, 'Z');

export function apiEventSink(core: EventApi, instance: string, logger: Logger, cache = new EventCache()): EventSink {
  // Writes for one key run one after another, so two repeats cannot both patch count n+1.
  const pending = new Map<string, Promise<void>>();

  async function write(key: string, object: { metadata: ObjectMeta }, type: string, reason: string, message: string): Promise<void> {
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
          involvedObject: { apiVersion, kind, name, namespace, ...(uid && { uid }), ...(resourceVersion && { resourceVersion }) },
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
      const text = message.slice(0, 1024);
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

/** Run reasons whose edges already have an Event listing them; no second Event for the run. */
const listedReasons = new Set<Reason>(['TagMoveRefused', 'DigestNotFound', 'ImagesFailed']);

/** The Events a finished run records: what was promoted, refused, lost or failed, and why the run ended. */
export function runEvents(report: RunReport): RunEvent[] {
  const byState = (state: EdgeState, describe: (e: EdgeOutcome) => string) => report.edges.filter((e) => e.state === state).map(describe);
  const list = (refs: string[]) => `${refs.slice(0, 10).join(', ')}${refs.length > 10 ? ` and ${refs.length - 10} more` : ''}`;
  const events: RunEvent[] = [];
  const promoted = byState('promoted', ({ edge }) => formatReference({ ...edge.dst, tag: edge.tags[0], digest: edge.digest }));
  if (promoted.length > 0) events.push({ type: 'Normal', reason: 'Promoted', message: `promoted ${promoted.length}: ${list(promoted)}` });
  const refused = byState('tagMove', ({ edge, conflicts, detail }) => `${formatReference(edge.dst)} (${conflicts?.map((c) => `${c.tag} -> ${c.digest.slice(0, 19)}`).join(', ') ?? detail})`);
  if (refused.length > 0) events.push({ type: 'Warning', reason: 'TagMoveRefused', message: `refused ${refused.length} tag move(s), production tags are never moved: ${list(refused)}` });
  const lost = byState('lost', ({ edge }) => formatReference({ ...edge.src, digest: edge.digest }));
  if (lost.length > 0) events.push({ type: 'Warning', reason: 'DigestNotFound', message: `${lost.length} source digest(s) not in staging: ${list(lost)}` });
  const failed = byState('failed', ({ edge, reason }) => `${formatReference({ ...edge.dst, digest: edge.digest })}: ${reason}`);
  if (failed.length > 0) events.push({ type: 'Warning', reason: 'PromotionFailed', message: `${failed.length} image(s) failed: ${list(failed)}` });
  if (report.outcome !== 'Succeeded' && !listedReasons.has(report.reason)) events.push({ type: 'Warning', reason: report.reason, message: report.message });
  return events;
}
