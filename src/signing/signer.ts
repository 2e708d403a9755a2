// Who signs what Hoist writes: a private key (from a Secret; KMS would be another
// implementation of this interface) or keyless, a Fulcio certificate for an OIDC token. Both
// produce sigstore bundles through @sigstore/sign, and legacy simple-signing signatures.
import { createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder, FulcioSigner, type Signature, type Signer } from '@sigstore/sign';
import { parseCertificates } from './certificate.ts';
import { TrustError } from './errors.ts';
import { keyHint, publicKeyPem } from './keys.ts';
import type { SignerPolicy } from './policy.ts';

export interface ArtifactSigner {
  /** Who signs, for messages. */
  readonly identity: string;
  /** A policy that accepts exactly this signer, to recognise signatures it made before. */
  policy(): Promise<SignerPolicy>;
  /** A sigstore bundle (v0.3 JSON bytes) holding a DSSE envelope of the payload. */
  signDsse(payloadType: string, payload: Buffer): Promise<Buffer>;
  /** A raw signature over the payload, for legacy `.sig` layers; keyless adds its certificate. */
  signBlob(payload: Buffer): Promise<{ signature: Buffer; certificate?: string; chain?: string }>;
}

function ecdsa(key: KeyObject, data: Buffer): Buffer {
  // ECDSA and RSA sign a SHA-256 digest; Ed25519 signs the message itself.
  return cryptoSign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, key);
}

/**
 * Serialises a DSSE bundle the way cosign writes it. @sigstore/sign puts the key hint in the
 * envelope signature's keyid; cosign's DSSE verifier skips signatures whose keyid differs from
 * its own key id, so `cosign verify --key` would find none. The hint stays in the verification
 * material, where cosign has it too.
 */
async function bundleBytes(builder: DSSEBundleBuilder, payloadType: string, payload: Buffer): Promise<Buffer> {
  const json = bundleToJSON(await builder.create({ data: payload, type: payloadType })) as {
    dsseEnvelope?: { signatures: { sig: string; keyid?: string }[] };
  };
  for (const signature of json.dsseEnvelope?.signatures ?? []) delete signature.keyid;
  return Buffer.from(JSON.stringify(json));
}

export function keySigner(privateKey: KeyObject, name: string): ArtifactSigner {
  const publicKey = createPublicKey(privateKey);
  const hint = keyHint(publicKey);
  const signer: Signer = {
    sign: async (data: Buffer): Promise<Signature> => ({
      signature: ecdsa(privateKey, data),
      key: { $case: 'publicKey', publicKey: publicKeyPem(publicKey), hint },
    }),
  };
  const builder = new DSSEBundleBuilder({ signer, witnesses: [] });
  return {
    identity: `key ${name}`,
    policy: async () => ({ keys: [{ name, key: publicKey }], identities: [], certificateAuthorities: [] }),
    signDsse: (payloadType, payload) => bundleBytes(builder, payloadType, payload),
    signBlob: async (payload) => ({ signature: ecdsa(privateKey, payload) }),
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
}

export function keylessSigner(options: KeylessOptions): ArtifactSigner {
  const identityProvider = {
    getToken: async () => {
      try {
        return (await readFile(options.tokenPath, 'utf8')).trim();
      } catch (error) {
        throw new TrustError('IdentityTokenUnavailable', `cannot read the OIDC token at ${options.tokenPath} (${(error as Error).message}); mount a projected ServiceAccount token there`);
      }
    },
  };
  const fulcio = new FulcioSigner({ identityProvider, fulcioBaseURL: options.fulcioURL });
  const builder = new DSSEBundleBuilder({ signer: fulcio, witnesses: [] });
  return {
    identity: `${options.expectedIdentity.subject} from ${options.expectedIdentity.issuer}`,
    policy: async () => ({ keys: [], identities: [options.expectedIdentity], certificateAuthorities: options.certificateAuthorities }),
    signDsse: (payloadType, payload) => bundleBytes(builder, payloadType, payload),
    async signBlob(payload) {
      const signature = await fulcio.sign(payload);
      if (signature.key.$case !== 'x509Certificate') throw new TrustError('SigningFailed', 'Fulcio returned no certificate');
      // FulcioSigner hands the payload to its ephemeral key as is; that key signs SHA-256 ECDSA.
      const certificate = signature.key.certificate;
      const parsed = parseCertificates(certificate);
      return { signature: signature.signature, certificate, ...(parsed.length > 1 && { chain: certificate }) };
    },
  };
}
