// Metadata-only access to a resource, as controller-runtime's metadata informers: list and watch
// with `Accept: ...;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`, so the API server sends
// names, namespaces, labels and resourceVersions and never the objects' data. Used for Secrets:
// the controller learns which Secret changed without ever receiving a Secret's data it does not
// need; the few Secrets a resource names are read (get) when its run needs them.
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch } from 'undici';
import type { ListResult } from './reflector.ts';

// One type per request: a watch asked for the List type first answers 200 and streams nothing
// (kube-apiserver 1.34), so lists and watches each name exactly their own.
const acceptList = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const acceptWatch = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

/** A PartialObjectMetadata: what a metadata list or watch delivers per object. */
export interface PartialObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string; labels?: Record<string, string> };
}

class ApiError extends Error {
  readonly code: number;
  readonly body: string;
  constructor(code: number, body: string, path: string) {
    super(`GET ${path}: HTTP ${code}`);
    this.code = code;
    this.body = body;
  }
}

/**
 * A KubeConfig whose requests ask for metadata only: the client-node Watch (which takes no
 * headers of its own) built on it streams PartialObjectMetadata events.
 */
export function metadataOnly(config: KubeConfig, accept = acceptWatch): KubeConfig {
  const wrapped = Object.create(config) as KubeConfig;
  wrapped.applySecurityAuthentication = async (context: RequestContext) => {
    await config.applySecurityAuthentication(context);
    context.setHeaderParam('Accept', accept);
  };
  return wrapped;
}

/** Lists `path` (e.g. /api/v1/secrets) as PartialObjectMetadata. */
export async function listMetadata(config: KubeConfig, path: string, query: Record<string, string | number | undefined> = {}): Promise<ListResult<PartialObject>> {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig names no current cluster');
  const url = new URL(cluster.server + path);
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
  const context = new RequestContext(url.toString(), HttpMethod.GET);
  await metadataOnly(config, acceptList).applySecurityAuthentication(context);
  const response = await fetch(url, { headers: context.getHeaders(), dispatcher: context.getDispatcher() as never, signal: AbortSignal.timeout(60_000) });
  const text = await response.text();
  if (!response.ok) throw new ApiError(response.status, text, path);
  const list = JSON.parse(text) as ListResult<PartialObject> & { kind?: string };
  // An API server that ignored the Accept would have sent the data: refuse rather than keep it.
  if (list.kind !== 'PartialObjectMetadataList') throw new Error(`GET ${path}: the API server answered ${list.kind ?? 'something'} instead of PartialObjectMetadataList`);
  return { items: list.items ?? [], ...(list.metadata && { metadata: list.metadata }) };
}
