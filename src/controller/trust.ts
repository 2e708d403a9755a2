// A run's trust settings: the spec's verification, signing and attestation sections, completed
// with what only the controller knows (its flags: Fulcio, the token file, its trusted root, the
// signing services from --signing-config / --timestamp-server-url / --rekor-url) and the
// trusted root a spec names in a ConfigMap or Secret of its own namespace.
import type { CoreV1Api } from '@kubernetes/client-node';
import { kind, type PromotionManifestSpec } from '../api/promotion-manifest.ts';
import type { TrustOptions } from '../pipeline/index.ts';
import type { SigningServices } from '../signing/options.ts';
import { TrustError } from '../signing/errors.ts';
import { TRUSTED_ROOT_KEY, trustedRootFromConfigMap, trustedRootFromSecret, type TrustedRoot } from '../signing/trusted-root.ts';
import { secretKeyReader, type SecretReader } from './credentials.ts';
import { ReconcileError } from './errors.ts';
import { apiMessage, isNotFound, statusCode } from './kube.ts';

/** Trust material the spec does not carry: the controller's flags. */
export interface ControllerTrust {
  fulcioURL?: string;
  tokenPath?: string;
  /** --trusted-root, parsed. */
  trustedRoot?: unknown;
  signingServices?: SigningServices;
  /**
   * Namespaces whose manifests may sign keyless (--signing-namespaces). A keyless signature is
   * made as the controller's own identity, which production admission trusts; without a list,
   * every namespace may. Key signing uses a key from the manifest's own namespace, so is not limited.
   */
  signingNamespaces?: string[];
}

export interface ConfigMapReader {
  /** The ConfigMap's data and binaryData, or undefined when it does not exist. */
  read(namespace: string, name: string): Promise<{ data?: Record<string, string>; binaryData?: Record<string, string> } | undefined>;
}

export function apiConfigMapReader(core: Pick<CoreV1Api, 'readNamespacedConfigMap'>): ConfigMapReader {
  return {
    async read(namespace, name) {
      try {
        const map = await core.readNamespacedConfigMap({ name, namespace });
        return { ...(map.data && { data: map.data }), ...(map.binaryData && { binaryData: map.binaryData }) };
      } catch (error) {
        if (isNotFound(error)) return undefined;
        const forbidden = statusCode(error) === 403;
        throw new ReconcileError(forbidden ? 'SecretForbidden' : 'SecretReadFailed', `reading ConfigMap ${namespace}/${name}: ${apiMessage(error)}${forbidden ? '; the controller needs get on configmaps in this namespace' : ''}`, { cause: error });
      }
    },
  };
}

type RootRef = NonNullable<NonNullable<PromotionManifestSpec['verification']>['trustedRoot']>;

/** spec.verification.trustedRoot, read from the manifest's own namespace. */
export async function specTrustedRoot(ref: RootRef, namespace: string, readers: { secrets: SecretReader; configMaps: ConfigMapReader }): Promise<TrustedRoot> {
  const from = ref.configMapRef ?? ref.secretRef!;
  const key = from.key ?? TRUSTED_ROOT_KEY;
  const what = ref.configMapRef ? 'ConfigMap' : 'Secret';
  const object = ref.configMapRef ? await readers.configMaps.read(namespace, from.name) : await readers.secrets.read(namespace, from.name);
  // Not found is retried with backoff: nothing watches ConfigMaps, so creating one must heal by itself.
  if (!object) throw new ReconcileError('TrustedRootNotFound', `spec.verification.trustedRoot: ${what} ${namespace}/${from.name} does not exist; create it with kubectl create ${what === 'Secret' ? 'secret generic' : 'configmap'} ${from.name} -n ${namespace} --from-file=${key} (retried with backoff)`);
  try {
    return ref.configMapRef ? trustedRootFromConfigMap(object, `${namespace}/${from.name}`, key) : trustedRootFromSecret(object, `${namespace}/${from.name}`, key);
  } catch (error) {
    throw new ReconcileError(error instanceof TrustError ? error.reason : 'InvalidTrustedRoot', `spec.verification.trustedRoot: ${(error as Error).message}`, { cause: error });
  }
}

export interface RunIdentity {
  namespace: string;
  name: string;
  uid?: string;
  generation: number;
}

/** The TrustOptions of one run. */
export async function runTrust(spec: PromotionManifestSpec, run: RunIdentity, controller: ControllerTrust, readers: { secrets: SecretReader; configMaps: ConfigMapReader }): Promise<TrustOptions> {
  if (spec.signing?.keyless && controller.signingNamespaces && !controller.signingNamespaces.includes(run.namespace)) {
    throw new ReconcileError('SigningNotAllowed', `spec.signing.keyless: manifests in namespace ${run.namespace} may not sign as the controller's identity; `
      + `the controller allows it in ${controller.signingNamespaces.join(', ')} (--signing-namespaces). Sign with a key of this namespace (spec.signing.key), or ask the platform team`);
  }
  const root = spec.verification?.trustedRoot ? await specTrustedRoot(spec.verification.trustedRoot, run.namespace, readers) : undefined;
  const keyless = {
    ...(controller.fulcioURL && { fulcioURL: controller.fulcioURL }),
    ...(controller.tokenPath && { tokenPath: controller.tokenPath }),
    ...(controller.trustedRoot !== undefined && { trustedRoot: controller.trustedRoot }),
  };
  return {
    ...(spec.verification && { verification: spec.verification }),
    ...(spec.signing && { signing: spec.signing }),
    ...(spec.attestation && { attestation: spec.attestation }),
    ...(spec.signing?.formats && { signatureFormats: spec.signing.formats }),
    ...(spec.verification?.signatures?.insecureIgnoreTlog && { insecureIgnoreTlog: true }),
    ...(spec.verification?.signatures?.insecureIgnoreSCT && { insecureIgnoreSCT: true }),
    ...(root && { trustedRoot: root }),
    ...(controller.signingServices && { signingServices: controller.signingServices }),
    readSecret: secretKeyReader(readers.secrets, run.namespace),
    keyless,
    source: { kind, namespace: run.namespace, name: run.name, ...(run.uid && { uid: run.uid }), generation: run.generation },
  };
}
