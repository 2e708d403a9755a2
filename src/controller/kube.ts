// Access to the API server: the kubeconfig the flags name, typed clients, and the few error
// shapes the controller reacts to. client-node throws ApiException with `code` = HTTP status.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, Watch, type Cluster,
} from '@kubernetes/client-node';
import type { PromotionManifestSpec, PromotionManifestStatus } from '../api/promotion-manifest.ts';

export interface KubeClients {
  config: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  coordination: CoordinationV1Api;
  watch: Watch;
}

/** --kubeconfig, else in-cluster, else $KUBECONFIG / ~/.kube/config (client-node's default order). */
export function loadKubeConfig(path?: string): KubeConfig {
  const config = new KubeConfig();
  if (path) {
    if (!existsSync(path)) throw new Error(`--kubeconfig ${path}: no such file`);
    config.loadFromFile(path);
  } else {
    config.loadFromDefault();
  }
  if (!config.getCurrentCluster()) throw new Error('the kubeconfig names no current cluster; pass --kubeconfig or run in a cluster');
  return config;
}

type CreateDispatcher = (cluster: Cluster | null, agentOptions: object) => unknown;

/**
 * Makes client-node send every request of this KubeConfig through one undici dispatcher per
 * cluster and TLS identity, so API calls and watches reuse keep-alive connections.
 *
 * @kubernetes/client-node 2.0.1 builds a new undici Agent for every API call
 * (KubeConfig.applySecurityAuthentication -> createDispatcher, dist/config.js): each call then
 * opens its own TLS connection, and the agents linger until collected. Measured on the test bed,
 * >= 73% of the controller's API calls opened a new connection (issue 15). Upstream fixed the
 * same bug for the https.Agent path with a cache (kubernetes-client/javascript#2893,
 * KubeConfig.agentCache) that createDispatcher does not use. Remove this once it does.
 */
export function shareDispatchers(config: KubeConfig): void {
  const target = config as unknown as { createDispatcher: CreateDispatcher; createDispatcherOptions: (cluster: Cluster | null, agentOptions: object) => unknown };
  const create = target.createDispatcher.bind(config);
  const dispatchers = new Map<string, unknown>();
  target.createDispatcher = (cluster, agentOptions) => {
    // Keyed by what the dispatcher is made of (server, proxy, CA, client certificate), so a
    // rotated client certificate gets a dispatcher of its own.
    const made = JSON.stringify([cluster?.server, target.createDispatcherOptions(cluster, agentOptions)], (_key, value: unknown) => {
      const bytes = value as { type?: string; data?: number[] } | null;
      return bytes && bytes.type === 'Buffer' && Array.isArray(bytes.data) ? createHash('sha256').update(Buffer.from(bytes.data)).digest('hex') : value;
    });
    const key = createHash('sha256').update(made).digest('hex');
    if (!dispatchers.has(key)) {
      // A handful of identities at most over a process's life; the oldest goes first.
      if (dispatchers.size >= 8) dispatchers.delete(dispatchers.keys().next().value!);
      dispatchers.set(key, create(cluster, agentOptions));
    }
    return dispatchers.get(key);
  };
}

export function kubeClients(config: KubeConfig): KubeClients {
  shareDispatchers(config);
  return {
    config,
    core: config.makeApiClient(CoreV1Api),
    custom: config.makeApiClient(CustomObjectsApi),
    coordination: config.makeApiClient(CoordinationV1Api),
    watch: new Watch(config),
  };
}

export function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown; statusCode?: unknown } | null)?.code ?? (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

export const isNotFound = (error: unknown): boolean => statusCode(error) === 404;
export const isConflict = (error: unknown): boolean => statusCode(error) === 409;
export const isGone = (error: unknown): boolean => statusCode(error) === 410;

/** A short message for logs: the API server's Status message rather than client-node's dump of headers. */
export function apiMessage(error: unknown): string {
  const body = (error as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return `${statusCode(error)}: ${parsed.message}`;
    } catch {
      // not a Status document
    }
  }
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
    return `${statusCode(error)}: ${(body as { message: string }).message}`;
  }
  const message = (error as Error | null)?.message ?? String(error);
  return message.split('\n')[0] ?? message;
}

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string | Date;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

export const objectKey = (o: KubeObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** Set to any new value (e.g. a timestamp) to ask for a run now, as Flux's requestedAt. */
export const requestedAtAnnotation = 'reconcile.hoist.dev/requestedAt';

/** A PromotionManifest as the watch caches it; the spec is checked only when a run starts. */
export interface ManifestObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: Partial<PromotionManifestSpec> & Record<string, unknown>;
  status?: PromotionManifestStatus;
}
