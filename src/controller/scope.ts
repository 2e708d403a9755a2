// Checks before anything serves or reports ready, so that a start that cannot work exits 1 with
// the reason instead of running with /readyz 200 and never reconciling (as controller-runtime
// fails on a CRD it cannot find or a selector it cannot parse): the selector parses, the CRD is
// installed, RBAC lets the controller list PromotionManifests and Secret metadata, and with
// --leader-elect the Lease's namespace exists and its Leases may be written (a server-side dry
// run). An API server that does not answer in time is no reason to fail: the reflectors and the
// elector retry that, and /readyz says so.
import type { CoordinationV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { group, names, version } from '../api/promotion-manifest.ts';
import { apiMessage, statusCode } from './kube.ts';
import { listMetadata } from './metadata.ts';

export interface PreflightOptions {
  config: KubeConfig;
  custom: Pick<CustomObjectsApi, 'listNamespacedCustomObject' | 'listClusterCustomObject'>;
  coordination: Pick<CoordinationV1Api, 'createNamespacedLease'>;
  namespace?: string;
  selector?: string;
  /** Where the Lease lives, with --leader-elect. */
  lease?: { namespace: string; name: string };
  timeoutMs?: number;
}

/** A check's verdict: a message when startup must fail, undefined otherwise. */
type Check = () => Promise<string | undefined>;

async function bounded(check: Check, timeoutMs: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const giveUp = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), timeoutMs); });
  try {
    return await Promise.race([check(), giveUp]);
  } finally {
    clearTimeout(timer);
  }
}

/** 400, 403 and 404 are answers that retrying will not change; anything else is left to the retries. */
function fatal(what: string, error: unknown, hints: Partial<Record<400 | 403 | 404, string>>): string | undefined {
  const code = statusCode(error) as 400 | 403 | 404 | undefined;
  const hint = code === undefined ? undefined : hints[code];
  return hint === undefined ? undefined : `${what}: ${apiMessage(error)}; ${hint}`;
}

function manifestCheck(o: PreflightOptions): Check {
  const query = { group, version, plural: names.plural, limit: 1, ...(o.selector && { labelSelector: o.selector }) };
  return async () => {
    try {
      await (o.namespace ? o.custom.listNamespacedCustomObject({ ...query, namespace: o.namespace }) : o.custom.listClusterCustomObject(query));
      return undefined;
    } catch (error) {
      if (o.selector && statusCode(error) === 400) return `--selector "${o.selector}" is not a valid label selector: ${apiMessage(error)}`;
      return fatal(`listing ${names.plural}.${group}`, error, {
        403: `the controller's RBAC must allow list and watch on ${names.plural}${o.namespace ? ` in namespace ${o.namespace}` : ' in every namespace (or pass --namespace)'}`,
        404: `the CRD ${names.plural}.${group} is not installed (kubectl apply --server-side -f crds/)${o.namespace ? `, or namespace ${o.namespace} does not exist` : ''}`,
      });
    }
  };
}

function secretCheck(o: PreflightOptions): Check {
  const path = o.namespace ? `/api/v1/namespaces/${o.namespace}/secrets` : '/api/v1/secrets';
  return async () => {
    try {
      await listMetadata(o.config, path, { limit: 1 });
      return undefined;
    } catch (error) {
      return fatal('listing Secret metadata', error, { 403: `the controller's RBAC must allow list and watch on secrets${o.namespace ? ` in namespace ${o.namespace}` : ''} (metadata only is read; docs/controller-reference.md)` });
    }
  };
}

function leaseCheck(o: PreflightOptions, lease: { namespace: string; name: string }): Check {
  return async () => {
    try {
      await o.coordination.createNamespacedLease({ namespace: lease.namespace, dryRun: 'All', body: { metadata: { name: lease.name, namespace: lease.namespace }, spec: {} } });
      return undefined;
    } catch (error) {
      if (statusCode(error) === 409) return undefined; // it exists: fine
      return fatal(`--leader-elect: the Lease ${lease.namespace}/${lease.name}`, error, {
        403: `the controller's RBAC must allow get, create and update on leases in namespace ${lease.namespace}`,
        404: `namespace ${lease.namespace} does not exist; pass --leader-election-namespace`,
      });
    }
  };
}

/** Throws with every reason startup cannot go on; returns when it may. */
export async function preflight(o: PreflightOptions): Promise<void> {
  const checks = [manifestCheck(o), secretCheck(o), ...(o.lease ? [leaseCheck(o, o.lease)] : [])];
  const problems = (await Promise.all(checks.map((c) => bounded(c, o.timeoutMs ?? 10_000)))).filter((p): p is string => p !== undefined);
  if (problems.length > 0) throw new Error(problems.join('\n'));
}
