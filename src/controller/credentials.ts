// Registry credentials of one manifest, from the kubernetes.io/dockerconfigjson Secrets its
// registries name, read from the manifest's own namespace only: a manifest cannot borrow
// another namespace's credentials. Each registry takes the entry for its own host.
import type { CoreV1Api } from '@kubernetes/client-node';
import type { PromotionSpec } from '../manifest/model.ts';
import { parseDockerConfig, StaticCredentials, type Credential } from '../registry/index.ts';
import { ReconcileError } from './errors.ts';
import { apiMessage, isNotFound, statusCode } from './kube.ts';
import { registryHost } from './spec.ts';

const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dockerConfigType = 'kubernetes.io/dockerconfigjson';

export interface SecretReader {
  /** The Secret's type and data (base64 values), or undefined when it does not exist. */
  read(namespace: string, name: string): Promise<{ type?: string; data?: Record<string, string> } | undefined>;
}

export function apiSecretReader(core: CoreV1Api): SecretReader {
  return {
    async read(namespace, name) {
      try {
        const secret = await core.readNamespacedSecret({ name, namespace });
        return { ...(secret.type !== undefined && { type: secret.type }), ...(secret.data !== undefined && { data: secret.data }) };
      } catch (error) {
        if (isNotFound(error)) return undefined;
        const reason = statusCode(error) === 403 ? 'SecretForbidden' : 'SecretReadFailed';
        throw new ReconcileError(reason, `reading Secret ${namespace}/${name}: ${apiMessage(error)}${reason === 'SecretForbidden' ? '; the controller needs get on secrets in this namespace' : ''}`, { cause: error });
      }
    },
  };
}

/** The trust settings that name Secrets (a fixed signing key, public keys to verify with). */
export interface TrustSecretRefs {
  signing?: { key?: { secretRef: { name: string } } } | undefined;
  verification?: {
    signatures?: { keys?: { secretRef: { name: string } }[] | undefined } | undefined;
    trustedRoot?: { secretRef?: { name: string } | undefined } | undefined;
  } | undefined;
}

/**
 * Secret names the spec refers to, for the Secret watch's index: registry credentials, the
 * signing key Secret and the public-key Secrets of the signature policy.
 */
export function referencedSecrets(model: PromotionSpec, trust: TrustSecretRefs = {}): string[] {
  return [...new Set([
    ...model.registries.flatMap((r) => (r.secretName ? [r.secretName] : [])),
    ...(trust.signing?.key ? [trust.signing.key.secretRef.name] : []),
    ...(trust.verification?.signatures?.keys ?? []).map((k) => k.secretRef.name),
    ...(trust.verification?.trustedRoot?.secretRef ? [trust.verification.trustedRoot.secretRef.name] : []),
  ])];
}

export async function resolveCredentials(reader: SecretReader, namespace: string, model: PromotionSpec): Promise<StaticCredentials> {
  const entries: Record<string, Credential> = {};
  for (const registry of model.registries) {
    const name = registry.secretName;
    if (!name) continue;
    if (!dnsSubdomain.test(name) || name.length > 253) {
      throw new ReconcileError('SecretRefOutsideNamespace', `registry "${registry.name}": credentials.secretRef.name "${name}" is not a Secret name in namespace ${namespace}; Secrets are read from the manifest's own namespace only — copy the Secret here and name it`);
    }
    const secret = await reader.read(namespace, name);
    if (!secret) {
      throw new ReconcileError('SecretNotFound', `registry "${registry.name}": Secret ${namespace}/${name} does not exist; create it (kubectl create secret docker-registry ${name} -n ${namespace} ...)`);
    }
    if (secret.type !== dockerConfigType) {
      throw new ReconcileError('SecretWrongType', `registry "${registry.name}": Secret ${namespace}/${name} has type ${secret.type ?? 'Opaque'}, want ${dockerConfigType}; recreate it with kubectl create secret docker-registry`);
    }
    const encoded = secret.data?.['.dockerconfigjson'];
    if (!encoded) throw new ReconcileError('SecretInvalid', `registry "${registry.name}": Secret ${namespace}/${name} has no .dockerconfigjson key`);
    let credentials: StaticCredentials;
    try {
      credentials = parseDockerConfig(Buffer.from(encoded, 'base64').toString('utf8'), `Secret ${namespace}/${name}`);
    } catch (error) {
      throw new ReconcileError('SecretInvalid', `registry "${registry.name}": ${(error as Error).message}`);
    }
    const host = registryHost(registry.name);
    if (!credentials.hosts.includes(host)) {
      throw new ReconcileError('SecretHasNoEntryForRegistry', `registry "${registry.name}": Secret ${namespace}/${name} has no auths entry for ${host} (it has: ${credentials.hosts.join(', ') || 'none'}); add one`);
    }
    entries[host] = credentials.get(host);
  }
  return new StaticCredentials(entries);
}

/** For the trust phases: one key of a Secret in the manifest's namespace. */
export function secretKeyReader(reader: SecretReader, namespace: string): (name: string, key: string) => Promise<Buffer> {
  return async (name, key) => {
    const secret = await reader.read(namespace, name);
    if (!secret) throw new ReconcileError('SecretNotFound', `Secret ${namespace}/${name} does not exist; create it in the manifest's namespace`);
    const value = secret.data?.[key];
    if (value === undefined) throw new ReconcileError('SecretKeyNotFound', `Secret ${namespace}/${name} has no key "${key}"; add it`);
    return Buffer.from(value, 'base64');
  };
}
