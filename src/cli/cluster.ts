// PromotionManifests and SignatureReplications on a cluster, for `hoist get/reconcile/suspend/resume`: the kubeconfig
// (the controller's loader: --kubeconfig, else in-cluster, else $KUBECONFIG or ~/.kube/config),
// the namespace as kubectl picks it, and the API calls those commands make. Lists come as the
// API server's Table, the same columns `kubectl get pm` prints, whatever the CRD's version says.
import { CustomObjectsApi, HttpMethod, PatchStrategy, RequestContext, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { group, version } from '../api/promotion-manifest.ts';
import { replicationNames } from '../api/signature-replication.ts';
import { apiMessage, isNotFound, loadKubeConfig, type ManifestObject } from '../controller/kube.ts';
import { UsageError } from './command.ts';

/** A kind these commands act on: both write the same conditions and take the same annotation. */
export interface Kind { kind: string; plural: string; crdFile: string }

export const promotionManifests: Kind = { kind: 'PromotionManifest', plural: 'promotionmanifests', crdFile: 'crds/hoist.dev_promotionmanifests.yaml' };
export const signatureReplications: Kind = { kind: replicationNames.kind, plural: replicationNames.plural, crdFile: `crds/hoist.dev_${replicationNames.plural}.yaml` };

/** The names kubectl accepts for each kind: plural, singular, short name, kind, any case. */
const kindNames = new Map<string, Kind>([
  ...['promotionmanifests', 'promotionmanifest', 'pm'].map((n) => [n, promotionManifests] as const),
  ...[replicationNames.plural, replicationNames.singular, ...replicationNames.shortNames].map((n) => [n, signatureReplications] as const),
]);

export function kindOf(text: string): Kind {
  const kind = kindNames.get(text.toLowerCase().replace(/\.hoist\.dev$/, ''));
  if (!kind) throw new UsageError(`unknown kind "${text}": use pm (PromotionManifest) or sigrep (SignatureReplication)`);
  return kind;
}

/** NAME, or TYPE/NAME as kubectl writes it (sigrep/mirrors); --kind gives the type otherwise. */
export function targetOf(text: string, kindFlag: string | undefined): { kind: Kind; name: string } {
  const slash = text.indexOf('/');
  if (slash < 0) return { kind: kindFlag === undefined ? promotionManifests : kindOf(kindFlag), name: text };
  const kind = kindOf(text.slice(0, slash));
  if (kindFlag !== undefined && kindOf(kindFlag) !== kind) throw new UsageError(`${text} is a ${kind.kind}, but --kind says ${kindFlag}`);
  return { kind, name: text.slice(slash + 1) };
}

export const clusterFlags = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  kind: { type: 'string' },
} as const;

export const clusterFlagHelp = `
Cluster flags:
      --kind KIND              pm (PromotionManifest, the default) or sigrep (SignatureReplication);
                               TYPE/NAME (sigrep/mirrors) says the same
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

function collectionPath(namespace: string | undefined, kind: Kind): string {
  return `/apis/${group}/${version}${namespace === undefined ? '' : `/namespaces/${namespace}`}/${kind.plural}`;
}

/** An error from the API server in words a person can act on. */
async function failure(res: { status: number; text(): Promise<string> }, what: string, kind: Kind): Promise<Error> {
  const body = await res.text();
  let message = body.slice(0, 500);
  try {
    message = (JSON.parse(body) as { message?: string }).message ?? message;
  } catch {
    // not a Status document
  }
  if (res.status === 404 && /the server could not find the requested resource/.test(message)) {
    return new Error(`${what}: the ${kind.kind} CRD is not installed on this cluster (kubectl apply --server-side -f ${kind.crdFile})`);
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

/** The objects of a kind in a namespace (undefined: all) as the server's Table. */
export async function listTable(cluster: Cluster, namespace: string | undefined, name?: string, kind: Kind = promotionManifests): Promise<Table> {
  const query: Record<string, string> = name === undefined ? {} : { fieldSelector: `metadata.name=${name}` };
  const res = await request(cluster, collectionPath(namespace, kind), query);
  if (!res.ok) throw await failure(res, `listing ${kind.kind}s`, kind);
  return await res.json() as Table;
}

export type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED'; table: Table } | { type: 'BOOKMARK' | 'ERROR'; table?: undefined };

/**
 * Watches from `resourceVersion`, calling `onEvent` per change; resolves when the server ends
 * the watch (it does every few minutes) with the last resourceVersion seen, so the caller
 * watches again from there. A 410 Gone rejects with `gone: true`: list again.
 */
export async function watchTable(cluster: Cluster, namespace: string | undefined, name: string | undefined, resourceVersion: string, onEvent: (event: WatchEvent) => void, signal: AbortSignal, kind: Kind = promotionManifests): Promise<string> {
  const query: Record<string, string> = { watch: 'true', resourceVersion, allowWatchBookmarks: 'true', ...(name !== undefined && { fieldSelector: `metadata.name=${name}` }) };
  const res = await request(cluster, collectionPath(namespace, kind), query, signal);
  if (!res.ok) throw await failure(res, `watching ${kind.kind}s`, kind);
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

export async function getManifest(cluster: Cluster, namespace: string, name: string, kind: Kind = promotionManifests): Promise<ManifestObject> {
  try {
    return await cluster.custom.getNamespacedCustomObject({ group, version, plural: kind.plural, namespace, name }) as ManifestObject;
  } catch (error) {
    if (isNotFound(error)) throw new Error(`${kind.kind} ${namespace}/${name} not found`);
    throw new Error(`reading ${kind.kind} ${namespace}/${name}: ${apiMessage(error)}`);
  }
}

export async function listManifests(cluster: Cluster, namespace: string | undefined, kind: Kind = promotionManifests): Promise<ManifestObject[]> {
  try {
    const list = namespace === undefined
      ? await cluster.custom.listClusterCustomObject({ group, version, plural: kind.plural })
      : await cluster.custom.listNamespacedCustomObject({ group, version, plural: kind.plural, namespace });
    return (list as { items: ManifestObject[] }).items;
  } catch (error) {
    throw new Error(`listing ${kind.kind}s: ${apiMessage(error)}`);
  }
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** A JSON merge patch of one object (spec fields, annotations); returns the object as stored. */
export async function patchManifest(cluster: Cluster, namespace: string, name: string, body: object, kind: Kind = promotionManifests): Promise<ManifestObject> {
  try {
    return await cluster.custom.patchNamespacedCustomObject({ group, version, plural: kind.plural, namespace, name, body }, mergePatch) as ManifestObject;
  } catch (error) {
    if (isNotFound(error)) throw new Error(`${kind.kind} ${namespace}/${name} not found`);
    throw new Error(`updating ${kind.kind} ${namespace}/${name}: ${apiMessage(error)}`);
  }
}
