// PromotionManifests on a cluster, for `hoist get/reconcile/suspend/resume`: the kubeconfig
// (the controller's loader: --kubeconfig, else in-cluster, else $KUBECONFIG or ~/.kube/config),
// the namespace as kubectl picks it, and the API calls those commands make. Lists come as the
// API server's Table, the same columns `kubectl get pm` prints, whatever the CRD's version says.
import { CustomObjectsApi, HttpMethod, PatchStrategy, RequestContext, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { group, version } from '../api/promotion-manifest.ts';
import { apiMessage, isNotFound, loadKubeConfig, type ManifestObject } from '../controller/kube.ts';
import { UsageError } from './command.ts';

export const plural = 'promotionmanifests';

export const clusterFlags = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
} as const;

export const clusterFlagHelp = `
Cluster flags:
      --kubeconfig PATH        default $KUBECONFIG, else ~/.kube/config (in a pod: its ServiceAccount)
      --context NAME           a context of the kubeconfig other than its current one
  -n, --namespace NS           default: the context's namespace, else "default"`;

export interface Cluster {
  config: KubeConfig;
  custom: CustomObjectsApi;
  /** The namespace commands act in unless told otherwise. */
  namespace: string;
}

export function connect(values: { kubeconfig?: string | undefined; context?: string | undefined; namespace?: string | undefined }): Cluster {
  let config: KubeConfig;
  try {
    config = loadKubeConfig(values.kubeconfig);
    if (values.context !== undefined) {
      if (!config.getContextObject(values.context)) throw new Error(`--context ${values.context}: the kubeconfig has no such context (it has: ${config.getContexts().map((c) => c.name).join(', ') || 'none'})`);
      config.setCurrentContext(values.context);
    }
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const namespace = values.namespace ?? config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
  return { config, custom: config.makeApiClient(CustomObjectsApi), namespace };
}

export interface TableColumn { name: string; type: string; format?: string; priority?: number }
export interface TableRow { cells: unknown[]; object?: { metadata?: { name?: string; namespace?: string } } }
export interface Table { columnDefinitions: TableColumn[]; rows: TableRow[]; metadata?: { resourceVersion?: string } }

const tableAccept = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

function collectionPath(namespace: string | undefined): string {
  return `/apis/${group}/${version}${namespace === undefined ? '' : `/namespaces/${namespace}`}/${plural}`;
}

/** An error from the API server in words a person can act on. */
async function failure(res: { status: number; text(): Promise<string> }, what: string): Promise<Error> {
  const body = await res.text();
  let message = body.slice(0, 500);
  try {
    message = (JSON.parse(body) as { message?: string }).message ?? message;
  } catch {
    // not a Status document
  }
  if (res.status === 404 && /the server could not find the requested resource/.test(message)) {
    return new Error(`${what}: the PromotionManifest CRD is not installed on this cluster (kubectl apply --server-side -f crds/hoist.dev_promotionmanifests.yaml)`);
  }
  return new Error(`${what}: ${res.status}: ${message}`);
}

/** A request with the kubeconfig's credentials and TLS settings, as client-node's own Watch makes it. */
async function request(cluster: Cluster, path: string, query: Record<string, string>, signal?: AbortSignal) {
  const server = cluster.config.getCurrentCluster()?.server;
  if (!server) throw new UsageError('the kubeconfig names no current cluster');
  const url = new URL(server + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const context = new RequestContext(url.toString(), HttpMethod.GET);
  await cluster.config.applySecurityAuthentication(context);
  const headers = context.getHeaders() as Record<string, string>;
  const dispatcher = context.getDispatcher();
  return fetch(url, { headers: { ...headers, accept: tableAccept }, ...(dispatcher && { dispatcher }), ...(signal && { signal }) });
}

/** The PromotionManifests of a namespace (undefined: all) as the server's Table. */
export async function listTable(cluster: Cluster, namespace: string | undefined, name?: string): Promise<Table> {
  const query: Record<string, string> = name === undefined ? {} : { fieldSelector: `metadata.name=${name}` };
  const res = await request(cluster, collectionPath(namespace), query);
  if (!res.ok) throw await failure(res, 'listing PromotionManifests');
  return await res.json() as Table;
}

export type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED'; table: Table } | { type: 'BOOKMARK' | 'ERROR'; table?: undefined };

/**
 * Watches from `resourceVersion`, calling `onEvent` per change; resolves when the server ends
 * the watch (it does every few minutes) with the last resourceVersion seen, so the caller
 * watches again from there. A 410 Gone rejects with `gone: true`: list again.
 */
export async function watchTable(cluster: Cluster, namespace: string | undefined, name: string | undefined, resourceVersion: string, onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<string> {
  const query: Record<string, string> = { watch: 'true', resourceVersion, allowWatchBookmarks: 'true', ...(name !== undefined && { fieldSelector: `metadata.name=${name}` }) };
  const res = await request(cluster, collectionPath(namespace), query, signal);
  if (!res.ok) throw await failure(res, 'watching PromotionManifests');
  let last = resourceVersion;
  let buffered = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (!line) continue;
      const event = JSON.parse(line) as { type: string; object: Table & { code?: number; metadata?: { resourceVersion?: string } } };
      if (event.type === 'ERROR') {
        const gone = event.object.code === 410;
        throw Object.assign(new Error(`watch ended: ${(event.object as { message?: string }).message ?? 'error'}`), { gone });
      }
      last = event.object.metadata?.resourceVersion ?? last;
      if (event.type === 'BOOKMARK') continue;
      onEvent({ type: event.type as 'ADDED', table: event.object });
    }
  }
  return last;
}

export async function getManifest(cluster: Cluster, namespace: string, name: string): Promise<ManifestObject> {
  try {
    return await cluster.custom.getNamespacedCustomObject({ group, version, plural, namespace, name }) as ManifestObject;
  } catch (error) {
    if (isNotFound(error)) throw new Error(`PromotionManifest ${namespace}/${name} not found`);
    throw new Error(`reading PromotionManifest ${namespace}/${name}: ${apiMessage(error)}`);
  }
}

export async function listManifests(cluster: Cluster, namespace: string | undefined): Promise<ManifestObject[]> {
  try {
    const list = namespace === undefined
      ? await cluster.custom.listClusterCustomObject({ group, version, plural })
      : await cluster.custom.listNamespacedCustomObject({ group, version, plural, namespace });
    return (list as { items: ManifestObject[] }).items;
  } catch (error) {
    throw new Error(`listing PromotionManifests: ${apiMessage(error)}`);
  }
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** A JSON merge patch of one PromotionManifest (spec fields, annotations); returns the object as stored. */
export async function patchManifest(cluster: Cluster, namespace: string, name: string, body: object): Promise<ManifestObject> {
  try {
    return await cluster.custom.patchNamespacedCustomObject({ group, version, plural, namespace, name, body }, mergePatch) as ManifestObject;
  } catch (error) {
    if (isNotFound(error)) throw new Error(`PromotionManifest ${namespace}/${name} not found`);
    throw new Error(`updating PromotionManifest ${namespace}/${name}: ${apiMessage(error)}`);
  }
}
