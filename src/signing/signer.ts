// Who signs what Hoist writes: a private key (from a Secret; KMS would be another
// implementation of this interface) or keyless, a Fulcio certificate for an OIDC token. Both
// produce sigstore bundles through @sigstore/sign, and legacy simple-signing signatures; with
// signing services configured, each carries an RFC 3161 timestamp and a Rekor entry, so it
// still verifies after a keyless certificate's ten minutes (as cosign v3 signs by default).
import { createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { bundleToJSON, type Bundle } from '@sigstore/bundle';
import { DSSEBundleBuilder, FulcioSigner, MessageSignatureBundleBuilder, type Signature, type Signer, type Witness } from '@sigstore/sign';
import { TrustError } from './errors.ts';
import { keyHint, publicKeyPem } from './keys.ts';
import { legacyAnnotationsFromBundle } from './legacy.ts';
import type { SigningServices } from './options.ts';
import type { SignerPolicy } from './policy.ts';
import { recognitionPolicy, type ArtifactKind } from './recognise.ts';
import type { TrustedRoot } from './trusted-root.ts';
import { timestampOver, witnessesFor } from './witnesses.ts';

export interface LegacySignature {
  signature: Buffer;
  certificate?: string;
  /** Every annotation of the `.sig` layer: signature, certificate, Rekor bundle, RFC 3161 timestamp. */
  annotations: Record<string, string>;
}

export interface ArtifactSigner {
  /** Who signs, for messages. */
  readonly identity: string;
  /** Who this signer signs as: its key or its keyless identity (no trust material; see recognise). */
  policy(): Promise<SignerPolicy>;
  /**
   * The policy an artifact of this kind found in a registry must pass to count as one this
   * signer made (recognise.ts): admission-grade against the operator's own trusted root, with
   * the log entry and timestamp this signer adds to that format.
   */
  recognise(kind: ArtifactKind): SignerPolicy;
  /** A sigstore bundle (v0.3 JSON bytes) holding a DSSE envelope of the payload. */
  signDsse(payloadType: string, payload: Buffer): Promise<Buffer>;
  /** A signature over the payload for a legacy `.sig` layer; keyless adds its (leaf) certificate. */
  signBlob(payload: Buffer): Promise<LegacySignature>;
  /** An RFC 3161 token over `data` (a legacy `.att` layer's envelope), when a timestamp authority is configured. */
  timestamp(data: Buffer): Promise<Buffer | undefined>;
}

/**
 * The digest node:crypto's sign/verify take for a key of this type: ECDSA and RSA sign a
 * SHA-256 digest; Ed25519 signs the message itself (null). Shared with verification.
 */
export function digestFor(key: KeyObject): 'sha256' | null {
  return key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : 'sha256';
}

function rawSign(key: KeyObject, data: Buffer): Buffer {
  return cryptoSign(digestFor(key), data, key);
}

const JWT_LIKE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?/g;

/**
 * A signing failure as a TrustError whose message never carries the OIDC token. @sigstore/sign
 * puts the whole token in IDENTITY_TOKEN_PARSE_ERROR ("invalid identity token: <JWT>"), and
 * these messages reach phase messages, conditions, Events and logs. Our own TrustErrors (an
 * unreadable token file) pass through; nothing is kept as `cause`, which loggers also print.
 */
export function signingFailure(error: unknown, tokenPath: string, token: string | undefined): TrustError {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (error instanceof TrustError) return error;
  if (cause instanceof TrustError) return cause;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 'IDENTITY_TOKEN_PARSE_ERROR') {
    return new TrustError('InvalidIdentityToken', `the OIDC token at ${tokenPath} is not a JWT Fulcio accepts (no readable subject); it must be an ID token such as a projected ServiceAccount token`);
  }
  let message = error instanceof Error ? error.message : String(error);
  // The service's own words (a TSA's or Rekor's HTTP error) are what a person can act on.
  if (cause instanceof Error && !message.includes(cause.message)) message += `: ${cause.message}`;
  if (token) message = message.split(token).join('[token]');
  message = message.replace(JWT_LIKE, '[token]');
  return new TrustError('SigningFailed', `keyless signing failed${typeof code === 'string' ? ` (${code})` : ''}: ${message}`);
}

/**
 * Serialises a DSSE bundle the way cosign writes it. @sigstore/sign puts the key hint in the
 * envelope signature's keyid; cosign's DSSE verifier skips signatures whose keyid differs from
 * its own key id, so `cosign verify --key` would find none. The hint stays in the verification
 * material, where cosign has it too.
 */
async function bundleBytes(builder: DSSEBundleBuilder, payloadType: string, payload: Buffer): Promise<Buffer> {
  const json = bundleToJSON(await builder.create({ data: payload, type: payloadType }) as Bundle) as {
    dsseEnvelope?: { signatures: { sig: string; keyid?: string }[] };
  };
  for (const signature of json.dsseEnvelope?.signatures ?? []) delete signature.keyid;
  return Buffer.from(JSON.stringify(json));
}

/** A legacy `.sig` signature: a message-signature bundle over the payload, laid out as layer annotations. */
async function legacySignature(builder: MessageSignatureBundleBuilder, payload: Buffer): Promise<LegacySignature> {
  const bundle = await builder.create({ data: payload }) as Bundle;
  if (bundle.content.$case !== 'messageSignature') throw new TrustError('SigningFailed', 'the legacy signature came back without a message signature');
  const annotations = legacyAnnotationsFromBundle(bundle);
  return {
    signature: Buffer.from(bundle.content.messageSignature.signature),
    ...(annotations['dev.sigstore.cosign/certificate'] && { certificate: annotations['dev.sigstore.cosign/certificate'] }),
    annotations,
  };
}

function builders(signer: Signer, services: SigningServices | undefined): { dsse: DSSEBundleBuilder; legacy: MessageSignatureBundleBuilder } {
  const witnesses: Witness[] = witnessesFor(services);
  return {
    dsse: new DSSEBundleBuilder({ signer, witnesses }),
    legacy: new MessageSignatureBundleBuilder({ signer, witnesses: witnessesFor(services, { legacy: true }) }),
  };
}

/** A failure of a signing service (TSA, Rekor) as a TrustError with the service's own words. */
function serviceFailure(error: unknown): TrustError {
  if (error instanceof TrustError) return error;
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (cause instanceof TrustError) return cause;
  const code = (error as { code?: unknown } | undefined)?.code;
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return new TrustError('SigningFailed', `signing failed${typeof code === 'string' ? ` (${code})` : ''}: ${(error as Error).message ?? String(error)}${detail}`);
}

/**
 * `trustedRoot` is the operator's own root (the controller's or the CLI's --trusted-root, never a
 * manifest's): our earlier signatures' log entries and timestamps are checked against it.
 */
export function keySigner(privateKey: KeyObject, name: string, services?: SigningServices, trustedRoot?: TrustedRoot): ArtifactSigner {
  const publicKey = createPublicKey(privateKey);
  const hint = keyHint(publicKey);
  const signer: Signer = {
    sign: async (data: Buffer): Promise<Signature> => ({
      signature: rawSign(privateKey, data),
      key: { $case: 'publicKey', publicKey: publicKeyPem(publicKey), hint },
    }),
  };
  const { dsse, legacy } = builders(signer, services);
  const guarded = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw serviceFailure(error);
    }
  };
  const own = { keys: [{ name, key: publicKey }], identities: [], certificateAuthorities: [] };
  return {
    identity: `key ${name}`,
    policy: async () => ({ ...own, certificateTime: 'issuance' }),
    recognise: (kind) => recognitionPolicy(own, trustedRoot, services, kind),
    signDsse: (payloadType, payload) => guarded(() => bundleBytes(dsse, payloadType, payload)),
    signBlob: (payload) => guarded(() => legacySignature(legacy, payload)),
    timestamp: (data) => guarded(() => timestampOver(services, data)),
  };
}

export interface KeylessOptions {
  fulcioURL: string;
  /** File with the OIDC token, re-read for every certificate: projected tokens rotate. */
  tokenPath: string;
  /** Fulcio's CA chain (root last), to recognise our earlier signatures. */
  certificateAuthorities: SignerPolicy['certificateAuthorities'];
  /** The identity Fulcio puts in our certificates, to recognise our earlier signatures. */
  expectedIdentity: { issuer: string; subject: string };
  /** Timestamp authority and Rekor for every signature. */
  services?: SigningServices;
  /** The operator's own trusted root, to check our earlier signatures' proofs (see keySigner). */
  trustedRoot?: TrustedRoot;
}

export function keylessSigner(options: KeylessOptions): ArtifactSigner {
  // The token last read, only to redact it from error messages.
  let lastToken: string | undefined;
  const identityProvider = {
    getToken: async () => {
      try {
        lastToken = (await readFile(options.tokenPath, 'utf8')).trim();
        return lastToken;
      } catch (error) {
        throw new TrustError('IdentityTokenUnavailable', `cannot read the OIDC token at ${options.tokenPath} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); mount a projected ServiceAccount token there`);
      }
    },
  };
  const fulcio = new FulcioSigner({ identityProvider, fulcioBaseURL: options.fulcioURL });
  const { dsse, legacy } = builders(fulcio, options.services);
  const guarded = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw signingFailure(error, options.tokenPath, lastToken);
    }
  };
  const own = { keys: [], identities: [options.expectedIdentity], certificateAuthorities: options.certificateAuthorities };
  return {
    identity: `${options.expectedIdentity.subject} from ${options.expectedIdentity.issuer}`,
    policy: async () => ({ ...own, certificateTime: 'issuance' }),
    // With signing services, our certificates (Fulcio's live for minutes) are checked at the time
    // the log or the timestamp proves; without, at issuance, since nothing proves a later time.
    recognise: (kind) => recognitionPolicy(own, options.trustedRoot, options.services, kind),
    signDsse: (payloadType, payload) => guarded(() => bundleBytes(dsse, payloadType, payload)),
    // FulcioSigner returns the leaf only (certificates[0] of Fulcio's chain), so there is no chain
    // annotation to write; verifiers take the intermediates and root from their trusted root.
    signBlob: (payload) => guarded(() => legacySignature(legacy, payload)),
    timestamp: (data) => guarded(() => timestampOver(options.services, data)),
  };
}
