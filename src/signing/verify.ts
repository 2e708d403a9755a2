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

export interface Verified {
  /** Who signed, for messages: `key <name>` or `<subject> from <issuer>`. */
  signer: string;
  payloadType: string;
  payload: Buffer;
}

export type Verdict = { verified: Verified } | { error: string };

interface Content {
  /** Whether `key` made the signature over the signed bytes (DSSE PAE, or the simple-signing payload). */
  check(key: KeyObject): boolean;
  payloadType: string;
  payload: Buffer;
  certificate?: X509Certificate;
  /** Integrated time of a transparency log entry, the best signing time when present. */
  signedAt?: Date;
}

function fromBundle(json: unknown): Content {
  const bundle: Bundle = bundleFromJSON(json);
  if (bundle.content.$case !== 'dsseEnvelope') throw new Error('message-signature bundles carry no payload; only DSSE bundles are read');
  const entity = toSignedEntity(bundle);
  const envelope = bundle.content.dsseEnvelope;
  const entry = bundle.verificationMaterial.tlogEntries[0];
  return {
    check: (key) => entity.signature.verifySignature(key),
    payloadType: envelope.payloadType,
    payload: Buffer.from(envelope.payload),
    ...(entity.key.$case === 'certificate' && { certificate: entity.key.certificate }),
    ...(entry?.integratedTime && { signedAt: new Date(Number(entry.integratedTime) * 1000) }),
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
        return cryptoVerify('sha256', payload, key, signature);
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
    if (!chainsTo(cert, policy.certificateAuthorities, content.signedAt ?? cert.notBefore)) {
      return { error: `certificate of ${describeIdentity(identity)} does not chain to a trusted Fulcio root` };
    }
    if (!content.check(createPublicKey({ key: cert.publicKey, format: 'der', type: 'spki' }))) return { error: 'signature does not match its certificate' };
    return verified(describeIdentity(identity));
  }
  if (policy.keys.length > 0) return { error: `signature made by none of the accepted keys (${policy.keys.map((k) => k.name).join(', ')})` };
  return { error: 'signature has no certificate and the policy accepts no keys' };
}
