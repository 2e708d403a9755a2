// Kubernetes Events (core/v1) on PromotionManifests: what `kubectl describe` shows. Best effort:
// an Event that cannot be written is logged, never fails a reconcile.
import { randomBytes } from 'node:crypto';
import type { CoreV1Api } from '@kubernetes/client-node';
import { apiVersion, kind } from '../api/promotion-manifest.ts';
import type { Logger } from '../observability/logger.ts';
import { apiMessage, type ObjectMeta } from './kube.ts';

export const component = 'hoist-controller';

export interface EventSink {
  record(object: { metadata: ObjectMeta }, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export function apiEventSink(core: CoreV1Api, instance: string, logger: Logger): EventSink {
  return {
    async record(object, type, reason, message) {
      const { name, namespace, uid, resourceVersion } = object.metadata;
      if (!name || !namespace) return;
      const now = new Date();
      try {
        await core.createNamespacedEvent({
          namespace,
          body: {
            metadata: { name: `${name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`, namespace },
            involvedObject: { apiVersion, kind, name, namespace, ...(uid && { uid }), ...(resourceVersion && { resourceVersion }) },
            type, reason, message: message.slice(0, 1024),
            source: { component },
            reportingComponent: `hoist.dev/${component}`,
            reportingInstance: instance.slice(0, 128),
            firstTimestamp: now, lastTimestamp: now, count: 1,
          },
        });
      } catch (error) {
        logger.warn({ namespace, name, reason, err: apiMessage(error) }, 'could not record event');
      }
    },
  };
}
