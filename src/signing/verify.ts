// Checks one discovered artifact against a signer policy: the signature over its payload, made
// by one of the policy's keys or by a certificate of one of its identities. Returns what was
// signed, so callers check that it is about the digest they asked for.
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { bundleFromJSON, envelopeFromJSON, type Bundle, type Envelope } from '@sigstore/bundle';
import type { X509Certificate } from '@sigstore/core';
import { toSignedEntity } from '@sigstore/verify';
import { certificateIdentity, chainsTo, parseCertificate } from './certificate.ts';
import type { Found } from './discover.ts';
import { describeIdentity, identityMatches, type SignerPolicy } from './policy.ts';
import { digestFor } from './signer.ts';

export interface Verified {
  /** Who signed, for messages: `key <name>` or `<subject> from <issuer>`. */
  signer: string;
  payloadType: string;
  payload: Buffer;
}

/** `reason`, when set, is the stable CamelCase cause; `error` then starts with it. */
export type Verdict = { verified: Verified } | { error: string; reason?: 'CertificateExpired' };

interface Content {
  /** Whether `key` made the signature over the signed bytes (DSSE PAE, or the simple-signing payload). */
  check(key: KeyObject): boolean;
  payloadType: string;
  payload: Buffer;
  certificate?: X509Certificate;
}

function fromBundle(json: unknown): Content {
  const bundle: Bundle = bundleFromJSON(json);
  if (bundle.content.$case !== 'dsseEnvelope') throw new Error('message-signature bundles carry no payload; only DSSE bundles are read');
  const entity = toSignedEntity(bundle);
  const envelope = bundle.content.dsseEnvelope;
  return {
    check: (key) => entity.signature.verifySignature(key),
    payloadType: envelope.payloadType,
    payload: Buffer.from(envelope.payload),
    // A transparency log entry's integratedTime is not used: without verifying the entry (and its
    // inclusion proof) it is only the signer's own claim about when it signed.
    ...(entity.key.$case === 'certificate' && { certificate: entity.key.certificate }),
  };
}

function fromEnvelope(json: unknown, certificate?: string): Content {
  const envelope: Envelope = envelopeFromJSON(json);
  const entity = toSignedEntity({
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: { content: { $case: 'publicKey', publicKey: { hint: '' } }, tlogEntries: [], timestampVerificationData: undefined },
    content: { $case: 'dsseEnvelope', dsseEnvelope: envelope },
  } as Bundle);
  return {
    check: (key) => envelope.signatures.length > 0 && entity.signature.verifySignature(key),
    payloadType: envelope.payloadType,
    payload: Buffer.from(envelope.payload),
    ...(certificate && { certificate: parseCertificate(certificate) }),
  };
}

function fromSimpleSigning(payload: Buffer, signature: Buffer, certificate?: string): Content {
  return {
    check: (key) => {
      try {
        return cryptoVerify(digestFor(key), payload, key, signature);
      } catch {
        return false;
      }
    },
    payloadType: 'application/vnd.dev.cosign.simplesigning.v1+json',
    payload,
    ...(certificate && { certificate: parseCertificate(certificate) }),
  };
}

function contentOf(found: Found): Content {
  switch (found.kind) {
    case 'bundle': return fromBundle(found.bundle);
    case 'envelope': return fromEnvelope(found.envelope, found.certificate);
    case 'simpleSigning': return fromSimpleSigning(found.payload, found.signature, found.certificate);
  }
}

export function verifyFound(found: Found, policy: SignerPolicy): Verdict {
  let content: Content;
  try {
    content = contentOf(found);
  } catch (error) {
    return { error: `unreadable signature: ${(error as Error).message}` };
  }
  const verified = (signer: string): Verdict => ({ verified: { signer, payloadType: content.payloadType, payload: content.payload } });
  // A key verifies whatever carries its signature, certificate or not, as `cosign verify --key` does.
  for (const { name, key } of policy.keys) {
    if (content.check(key)) return verified(`key ${name}`);
  }
  if (content.certificate && policy.identities.length > 0) {
    const cert = content.certificate;
    const identity = certificateIdentity(cert);
    if (!policy.identities.some((m) => identityMatches(m, identity))) {
      return { error: `signed by ${describeIdentity(identity)}, which the policy does not accept` };
    }
    if (policy.certificateTime === 'issuance') {
      // Recognising our own earlier signature (Sign/Attest idempotency), not a trust decision.
      if (!chainsTo(cert, policy.certificateAuthorities, cert.notBefore)) {
        return { error: `certificate of ${describeIdentity(identity)} does not chain to a trusted Fulcio root` };
      }
    } else {
      // A trust decision: the certificate must be valid now. cosign accepts an expired Fulcio
      // certificate only with a signed timestamp (Rekor or a timestamp authority) from its
      // validity; Hoist verifies neither, so there is no signing time it could trust.
      const now = new Date();
      if (!chainsTo(cert, policy.certificateAuthorities, now)) {
        if (now > cert.notAfter && chainsTo(cert, policy.certificateAuthorities, cert.notBefore)) {
          return {
            reason: 'CertificateExpired',
            error: `CertificateExpired: the certificate of ${describeIdentity(identity)} expired at ${cert.notAfter.toISOString()}; `
              + 'verifying a keyless signature after its short-lived certificate expired needs a signed timestamp from a timestamp authority '
              + '(or a Rekor entry), which Hoist does not verify yet; verify staging with keys (spec.verification.signatures.keys) or promote while the certificate is valid',
          };
        }
        return { error: `certificate of ${describeIdentity(identity)} does not chain to a trusted Fulcio root` };
      }
    }
    if (!content.check(createPublicKey({ key: cert.publicKey, format: 'der', type: 'spki' }))) return { error: 'signature does not match its certificate' };
    return verified(describeIdentity(identity));
  }
  if (policy.keys.length > 0) return { error: `signature made by none of the accepted keys (${policy.keys.map((k) => k.name).join(', ')})` };
  return { error: 'signature has no certificate and the policy accepts no keys' };
}
