// What the controller watches: --namespace and --selector. A malformed selector makes every
// list and watch answer 400; the reflector would retry that forever and the pod would sit
// unready with only warnings in its log. Like controller-runtime, which parses the selector at
// startup, fail startup instead (exit 1) with the API server's reason. Other errors (API server
// not up yet, RBAC being fixed) are left to the reflector's retries.
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { group, names, version } from '../api/promotion-manifest.ts';
import { apiMessage, statusCode } from './kube.ts';

export async function checkSelector(custom: CustomObjectsApi, namespace: string | undefined, labelSelector: string | undefined, timeoutMs = 10_000): Promise<void> {
  if (!labelSelector) return;
  const query = { group, version, plural: names.plural, labelSelector, limit: 1 };
  let timer: NodeJS.Timeout | undefined;
  // An API server that does not answer must not hold startup (and the probes) up: the check is
  // given up and the reflector's own list reports the selector later.
  const giveUp = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); });
  try {
    await Promise.race([namespace ? custom.listNamespacedCustomObject({ ...query, namespace }) : custom.listClusterCustomObject(query), giveUp]);
  } catch (error) {
    if (statusCode(error) === 400) throw new Error(`--selector "${labelSelector}" is not a valid label selector: ${apiMessage(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
