// A sigstore trusted_root.json: the Fulcio CAs keyless certificates chain to, the transparency
// logs (Rekor v1 and v2) and CT logs whose signatures prove when a signature existed, and the
// timestamp authorities. Read from a file, a ConfigMap, a Secret, or the public-good root Hoist
// ships (src/signing/roots/). Checked the way sigstore-go checks it, so a malformed root fails
// when it is loaded rather than verifying something it should not.
import { readFile } from 'node:fs/promises';
import { X509Certificate } from '@sigstore/core';
import { HashAlgorithm, TrustedRoot as TrustedRootProto } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { TrustError, contentFreeProblem } from './errors.ts';

export interface TrustedRoot {
  /** Where it came from, for messages: a file, `ConfigMap ns/name key`, `the built-in public-good root`. */
  source: string;
  /** The JSON as given, to hand to cosign or write out again. */
  json: object;
  /** What @sigstore/verify checks against (no public keys: those come from the policy). */
  material: TrustMaterial;
  /** Fulcio CA chains, leaf-most first, root last. */
  certificateAuthorities: X509Certificate[][];
  /** Counts, for messages that say why something cannot be verified against this root. */
  counts: { certificateAuthorities: number; tlogs: number; ctlogs: number; timestampAuthorities: number };
}

const invalid = (source: string, why: string) =>
  new TrustError('InvalidTrustedRoot', `the trusted root ${source} is not a valid sigstore trusted_root.json: ${why}`);

interface LogJson {
  baseUrl?: unknown;
  hashAlgorithm?: unknown;
  publicKey?: { rawBytes?: unknown; validFor?: { start?: unknown } };
  logId?: { keyId?: unknown };
}

/**
 * sigstore-go refuses a log whose key has no validity start (@sigstore/verify 4.1 treats it as
 * "always", which the conformance case trust-root-tlog-missing-validity-start_fail forbids),
 * no log id or no key; a malformed root must not widen what verifies.
 */
function checkLogs(logs: unknown, what: string, source: string): void {
  if (logs === undefined) return;
  if (!Array.isArray(logs)) throw invalid(source, `${what} is not a list`);
  logs.forEach((log: LogJson, i) => {
    // Named by position only: nothing of the document is repeated in a message.
    const where = `${what}[${i}]`;
    if (typeof log?.logId?.keyId !== 'string' || log.logId.keyId === '') throw invalid(source, `${where} has no logId.keyId`);
    if (typeof log.publicKey?.rawBytes !== 'string' || log.publicKey.rawBytes === '') throw invalid(source, `${where} has no publicKey.rawBytes`);
    if (typeof log.publicKey.validFor?.start !== 'string') {
      throw invalid(source, `${where} has no publicKey.validFor.start; a key's validity must start somewhere, or it would vouch for any time`);
    }
    if (log.hashAlgorithm !== undefined && log.hashAlgorithm !== 'SHA2_256') throw invalid(source, `${where} uses a hashAlgorithm other than SHA2_256, the only one supported`);
  });
}

/** Parses and checks a trusted root given as an object, JSON text or bytes. */
export function parseTrustedRoot(input: unknown, source: string): TrustedRoot {
  let json: unknown = input;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    try {
      json = JSON.parse(input.toString());
    } catch (error) {
      // Never the parser's message: it quotes the text, which may be a Secret's.
      throw invalid(source, `${contentFreeProblem(error)}; expected the JSON of a sigstore trusted_root.json`);
    }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid(source, 'not a JSON object');
  const doc = json as Record<string, unknown>;
  checkLogs(doc.tlogs, 'tlogs', source);
  checkLogs(doc.ctlogs, 'ctlogs', source);
  let proto: TrustedRootProto;
  let material: TrustMaterial;
  try {
    proto = TrustedRootProto.fromJSON(doc);
    if (proto.tlogs.some((t) => t.hashAlgorithm !== HashAlgorithm.SHA2_256)) throw invalid(source, 'a transparency log uses a hash other than SHA2_256');
    material = toTrustMaterial(proto);
  } catch (error) {
    if (error instanceof TrustError) throw error;
    throw invalid(source, contentFreeProblem(error));
  }
  const certificateAuthorities = material.certificateAuthorities.map((ca) => ca.certChain);
  if (certificateAuthorities.some((chain) => chain.length === 0)) throw invalid(source, 'a certificate authority has an empty certChain');
  if (material.timestampAuthorities.some((ca) => ca.certChain.length === 0)) throw invalid(source, 'a timestamp authority has an empty certChain');
  return {
    source, json: doc, material, certificateAuthorities,
    counts: {
      certificateAuthorities: proto.certificateAuthorities.length, tlogs: proto.tlogs.length,
      ctlogs: proto.ctlogs.length, timestampAuthorities: proto.timestampAuthorities.length,
    },
  };
}

/** Reads a trusted_root.json file. */
export async function readTrustedRootFile(file: string): Promise<TrustedRoot> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new TrustError('InvalidTrustedRoot', `cannot read the trusted root ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); mount a sigstore trusted_root.json there`);
  }
  return parseTrustedRoot(text, file);
}

/** The key a ConfigMap or Secret holds the root under unless told otherwise, as cosign and policy-controller name it. */
export const TRUSTED_ROOT_KEY = 'trusted_root.json';

/**
 * A trusted root from a ConfigMap's data (text) or binaryData (base64), e.g. one made with
 * `kubectl create configmap sigstore-root --from-file=trusted_root.json`.
 */
export function trustedRootFromConfigMap(
  configMap: { data?: Record<string, string>; binaryData?: Record<string, string> }, name: string, key = TRUSTED_ROOT_KEY,
): TrustedRoot {
  const source = `ConfigMap ${name} key ${key}`;
  const text = configMap.data?.[key] ?? (configMap.binaryData?.[key] !== undefined ? Buffer.from(configMap.binaryData[key], 'base64').toString('utf8') : undefined);
  if (text === undefined) throw new TrustError('TrustedRootNotFound', `${source} does not exist; create it with kubectl create configmap NAME --from-file=${key}`);
  return parseTrustedRoot(text, source);
}

/** A trusted root from a Secret's data (base64, as the API returns it) or stringData. */
export function trustedRootFromSecret(
  secret: { data?: Record<string, string>; stringData?: Record<string, string> }, name: string, key = TRUSTED_ROOT_KEY,
): TrustedRoot {
  const source = `Secret ${name} key ${key}`;
  const text = secret.stringData?.[key] ?? (secret.data?.[key] !== undefined ? Buffer.from(secret.data[key], 'base64').toString('utf8') : undefined);
  if (text === undefined) throw new TrustError('TrustedRootNotFound', `${source} does not exist; create it with kubectl create secret generic NAME --from-file=${key}`);
  return parseTrustedRoot(text, source);
}

let publicGood: Promise<TrustedRoot> | undefined;

/** The Sigstore public-good root shipped with Hoist (see src/signing/roots/README.md). */
export function publicGoodTrustedRoot(): Promise<TrustedRoot> {
  // An import, not a file read: tsc then copies the JSON into dist/, which is all the image ships.
  publicGood ??= import('./roots/public-good.json', { with: { type: 'json' } })
    .then((module: { default: unknown }) => parseTrustedRoot(structuredClone(module.default), 'the built-in public-good root'));
  return publicGood;
}

const parsed = new WeakMap<object, TrustedRoot>();

/**
 * The trusted root of a run: `given` (a parsed TrustedRoot, or trusted_root.json as an object or
 * text, as TrustOptions carry it), else the built-in public-good root. Objects are parsed once.
 */
export async function resolveTrustedRoot(given: unknown, source = 'the configured trusted root'): Promise<TrustedRoot> {
  if (given === undefined || given === null) return publicGoodTrustedRoot();
  if (isTrustedRoot(given)) return given;
  if (typeof given === 'object' && !Buffer.isBuffer(given)) {
    let root = parsed.get(given);
    if (!root) parsed.set(given, root = parseTrustedRoot(given, source));
    return root;
  }
  return parseTrustedRoot(given, source);
}

export function isTrustedRoot(value: unknown): value is TrustedRoot {
  return typeof value === 'object' && value !== null && 'material' in value && 'certificateAuthorities' in value && 'json' in value;
}
