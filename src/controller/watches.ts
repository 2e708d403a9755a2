// The controller's two watches: PromotionManifests (in --namespace, matching --selector), whose
// changes enqueue their key; and Secret metadata (metadata.ts: the API server never sends their
// data), whose changes wake the manifests that name them. Handlers only enqueue keys, as
// reflector handlers must.
import { Watch } from '@kubernetes/client-node';
import { group, names, version } from '../api/promotion-manifest.ts';
import type { Logger } from '../observability/logger.ts';
import type { BackoffOptions } from './backoff.ts';
import type { Clock } from './clock.ts';
import { objectKey, requestedAtAnnotation, type KubeClients, type ManifestObject } from './kube.ts';
import { listMetadata, metadataOnly, type PartialObject } from './metadata.ts';
import { Reflector, type ListResult } from './reflector.ts';

/**
 * The Secret watch's field selector: all Secrets except the types no manifest names and that
 * can be many or large (Helm release records, legacy ServiceAccount tokens).
 */
const secretFieldSelector = 'type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token';

type SecretMeta = PartialObject;

export interface WatchOptions {
  kube: Pick<KubeClients, 'config' | 'custom' | 'watch'>;
  logger: Logger;
  namespace?: string;
  selector?: string;
  /** Re-delivers every cached manifest this often; runs happen only when due. */
  resyncMs: number;
  watchdogMs?: number;
  backoff?: BackoffOptions;
  clock?: Clock;
  /** A manifest needs a reconcile. */
  enqueue(key: string): void;
  /** Secret namespace/name was added, changed or deleted: wake the manifests that use it. */
  secretChanged(namespace: string, name: string): void;
}

export interface Watches {
  manifests: Reflector<ManifestObject>;
  secrets: Reflector<SecretMeta>;
  /** Resolves once both caches have synced. */
  synced: Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

const common = (o: WatchOptions) => ({
  watch: o.kube.watch, logger: o.logger,
  ...(o.backoff && { backoff: o.backoff }), ...(o.watchdogMs && { watchdogMs: o.watchdogMs }), ...(o.clock && { clock: o.clock }),
});

/** kubectl's client-side apply record: a second copy of the spec, which nothing here reads. */
const lastApplied = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * What the cache keeps of a manifest: everything but metadata.managedFields and kubectl's
 * last-applied copy of the spec, as controller-runtime's TransformStripManagedFields (the two
 * can be most of a small object; nobody here reads them, and a status write from the cached
 * copy sends only the status).
 */
export function trimManifest(obj: ManifestObject): ManifestObject {
  const { managedFields: _fields, ...metadata } = obj.metadata as ManifestObject['metadata'] & { managedFields?: unknown };
  if (metadata.annotations?.[lastApplied] !== undefined) {
    const { [lastApplied]: _copy, ...annotations } = metadata.annotations;
    metadata.annotations = annotations;
  }
  return { ...obj, metadata };
}

/** Our own status writes come back as updates: only spec changes, on-demand requests and replacements count. */
export function needsReconcile(old: ManifestObject, obj: ManifestObject): boolean {
  const requested = (o: ManifestObject) => o.metadata.annotations?.[requestedAtAnnotation];
  return old.metadata.generation !== obj.metadata.generation || requested(old) !== requested(obj) || old.metadata.uid !== obj.metadata.uid;
}

function manifestWatch(o: WatchOptions): Reflector<ManifestObject> {
  const { namespace: ns, selector: labelSelector } = o;
  const query = { group, version, plural: names.plural, ...(labelSelector && { labelSelector }) };
  const enqueue = (obj: ManifestObject) => o.enqueue(objectKey(obj));
  return new Reflector<ManifestObject>({
    ...common(o),
    name: names.plural,
    path: ns ? `/apis/${group}/${version}/namespaces/${ns}/${names.plural}` : `/apis/${group}/${version}/${names.plural}`,
    query: { ...(labelSelector && { labelSelector }) },
    list: async () => (ns ? o.kube.custom.listNamespacedCustomObject({ ...query, namespace: ns }) : o.kube.custom.listClusterCustomObject(query)) as Promise<ListResult<ManifestObject>>,
    transform: trimManifest,
    resyncMs: o.resyncMs,
    handlers: {
      add: enqueue,
      update: (old, obj) => { if (needsReconcile(old, obj)) enqueue(obj); },
      // Not forgotten here: a run in progress would record it again. Its reconcile finds it gone.
      delete: enqueue,
      resync: enqueue,
    },
  });
}

/** Only what the index needs is kept: credentials and keys are read fresh when a run needs them. */
const secretMetadata = (s: SecretMeta): SecretMeta => ({
  metadata: { ...(s.metadata?.name && { name: s.metadata.name }), ...(s.metadata?.namespace && { namespace: s.metadata.namespace }), ...(s.metadata?.resourceVersion && { resourceVersion: s.metadata.resourceVersion }) },
});

function secretWatch(o: WatchOptions): Reflector<SecretMeta> {
  const ns = o.namespace;
  const onSecret = (secret: SecretMeta) => {
    const { namespace, name } = secret.metadata ?? {};
    if (namespace && name) o.secretChanged(namespace, name);
  };
  // Every type a manifest can name is watched (registry credentials, Opaque signing and public
  // keys, trusted roots), as metadata only.
  const path = ns ? `/api/v1/namespaces/${ns}/secrets` : '/api/v1/secrets';
  return new Reflector<SecretMeta>({
    ...common(o),
    watch: new Watch(metadataOnly(o.kube.config)),
    name: 'secrets',
    path,
    query: { fieldSelector: secretFieldSelector },
    list: (): Promise<ListResult<SecretMeta>> => listMetadata(o.kube.config, path, { fieldSelector: secretFieldSelector }),
    transform: secretMetadata,
    handlers: { add: onSecret, update: (_old, s) => onSecret(s), delete: onSecret },
  });
}

export function createWatches(options: WatchOptions): Watches {
  const manifests = manifestWatch(options);
  const secrets = secretWatch(options);
  return {
    manifests, secrets,
    synced: Promise.all([manifests.synced, secrets.synced]).then(() => undefined),
    start() {
      manifests.start();
      secrets.start();
    },
    async stop() {
      await Promise.all([manifests.stop(), secrets.stop()]);
    },
  };
}
