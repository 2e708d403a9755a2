// Legacy cosign signatures (layers of the `sha256-<hex>.sig` and `.att` tags) and sigstore
// bundles are the same material laid out differently. A `.sig` layer (simple-signing payload,
// signature, certificate, Rekor bundle and RFC 3161 timestamp annotations) becomes a v0.1
// message-signature bundle over the payload, so it is verified by the same code as any bundle;
// a bundle made by our signer becomes the annotations of a `.sig` layer.
//
// Mapping, as cosign and sigstore-go read it: the tlog entry's logIndex is Payload.logIndex (the
// global index the SET signs), logId.keyId the hex logID as bytes, canonicalizedBody
// Payload.body; the RFC 3161 token of a `.sig` layer covers the raw signature bytes, as a
// bundle's does. The chain annotation is not read: intermediates come from the trusted root.
import { createHash } from 'node:crypto';
import type { Bundle, TransparencyLogEntry } from '@sigstore/bundle';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import { CosignAnnotation } from './formats.ts';
import { parseRekorBundle, rekorBundleFromTlogEntry, tlogEntryFromRekorBundle } from './rekor.ts';

export const BUNDLE_V01_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle+json;version=0.1';

function certificateDer(pem: string): Buffer {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem);
  if (!match) throw new Error('the certificate annotation holds no PEM certificate');
  return Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64');
}

export function certificatePem(der: Uint8Array): string {
  const body = Buffer.from(der).toString('base64').match(/.{1,64}/g)!.join('\n');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

/** The `dev.sigstore.cosign/rfc3161timestamp` annotation: `{"SignedRFC3161Timestamp": "<base64 DER>"}`. */
export function parseTimestampAnnotation(text: string): Buffer {
  const doc = JSON.parse(text) as { SignedRFC3161Timestamp?: unknown };
  if (typeof doc?.SignedRFC3161Timestamp !== 'string' || doc.SignedRFC3161Timestamp === '') {
    throw new Error('the RFC 3161 timestamp annotation is not {"SignedRFC3161Timestamp": "<base64>"}');
  }
  return Buffer.from(doc.SignedRFC3161Timestamp, 'base64');
}

export const timestampAnnotation = (token: Uint8Array) => JSON.stringify({ SignedRFC3161Timestamp: Buffer.from(token).toString('base64') });

function verificationMaterial(annotations: Record<string, string>): Bundle['verificationMaterial'] {
  const certificate = annotations[CosignAnnotation.certificate];
  const rekor = annotations[CosignAnnotation.rekorBundle];
  const timestamp = annotations[CosignAnnotation.rfc3161Timestamp];
  const tlogEntries: TransparencyLogEntry[] = rekor ? [tlogEntryFromRekorBundle(parseRekorBundle(rekor))] : [];
  return {
    content: certificate
      ? { $case: 'x509CertificateChain', x509CertificateChain: { certificates: [{ rawBytes: certificateDer(certificate) }] } }
      // A key-signed layer names no key: the policy's keys are tried.
      : { $case: 'publicKey', publicKey: { hint: '' } },
    tlogEntries,
    timestampVerificationData: timestamp ? { rfc3161Timestamps: [{ signedTimestamp: parseTimestampAnnotation(timestamp) }] } : undefined,
  };
}

/** A `.sig` layer as the bundle it is: a message signature over the simple-signing payload. */
export function bundleFromLegacySignature(payload: Buffer, annotations: Record<string, string>): Bundle {
  const signature = Buffer.from(annotations[CosignAnnotation.signature] ?? '', 'base64');
  if (signature.length === 0) throw new Error('the layer has no dev.cosignproject.cosign/signature annotation');
  return {
    mediaType: BUNDLE_V01_MEDIA_TYPE,
    verificationMaterial: verificationMaterial(annotations),
    content: {
      $case: 'messageSignature',
      messageSignature: { messageDigest: { algorithm: HashAlgorithm.SHA2_256, digest: createHash('sha256').update(payload).digest() }, signature },
    },
  } as Bundle;
}

/**
 * A `.att` layer (a DSSE envelope) as a DSSE bundle. cosign timestamps a legacy attestation's
 * envelope bytes rather than its signature: the verifier is told so (SignedContent.timestamped).
 */
export function bundleFromLegacyAttestation(envelope: Bundle['content'] & { $case: 'dsseEnvelope' }, annotations: Record<string, string>): Bundle {
  return {
    mediaType: BUNDLE_V01_MEDIA_TYPE,
    verificationMaterial: verificationMaterial(annotations),
    content: envelope,
  } as Bundle;
}

/**
 * The annotations of a `.sig` layer carrying what a message-signature bundle made by our signer
 * holds: signature, leaf certificate, the Rekor v1 entry (only one with a signed entry timestamp
 * fits cosign's annotation) and the RFC 3161 timestamp.
 */
export function legacyAnnotationsFromBundle(bundle: Bundle): Record<string, string> {
  if (bundle.content.$case !== 'messageSignature') throw new Error('a legacy .sig layer holds a message signature, not a DSSE envelope');
  const annotations: Record<string, string> = {
    [CosignAnnotation.signature]: Buffer.from(bundle.content.messageSignature.signature).toString('base64'),
  };
  const material = bundle.verificationMaterial.content;
  const leaf = material.$case === 'x509CertificateChain' ? material.x509CertificateChain.certificates[0]?.rawBytes
    : material.$case === 'certificate' ? material.certificate.rawBytes : undefined;
  if (leaf) annotations[CosignAnnotation.certificate] = certificatePem(leaf);
  const rekor = bundle.verificationMaterial.tlogEntries.map(rekorBundleFromTlogEntry).find((r) => r !== undefined);
  if (rekor) annotations[CosignAnnotation.rekorBundle] = JSON.stringify(rekor);
  const token = bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps[0]?.signedTimestamp;
  if (token) annotations[CosignAnnotation.rfc3161Timestamp] = timestampAnnotation(token);
  return annotations;
}

/**
 * A `.att` layer for a DSSE bundle made by our signer: the envelope as cosign stores it, its
 * predicate type and certificate, and an RFC 3161 token over the envelope bytes when given
 * (what cosign's legacy attestations carry; the bundle's own token covers the signature).
 */
export function legacyAttestationLayer(bundleJson: Buffer, predicateType: string, token?: Buffer): { data: Buffer; annotations: Record<string, string> } {
  const bundle = JSON.parse(bundleJson.toString('utf8')) as {
    dsseEnvelope?: { payload: string; payloadType: string; signatures: { sig: string }[] };
    verificationMaterial?: { certificate?: { rawBytes?: string }; x509CertificateChain?: { certificates?: { rawBytes?: string }[] } };
  };
  const envelope = bundle.dsseEnvelope;
  if (!envelope) throw new Error('a legacy .att layer holds a DSSE envelope; the bundle has none');
  const data = Buffer.from(JSON.stringify({
    payloadType: envelope.payloadType, payload: envelope.payload, signatures: envelope.signatures.map((s) => ({ keyid: '', sig: s.sig })),
  }));
  const leaf = bundle.verificationMaterial?.certificate?.rawBytes ?? bundle.verificationMaterial?.x509CertificateChain?.certificates?.[0]?.rawBytes;
  return {
    data,
    annotations: {
      // cosign writes the key with an empty value on attestation layers and refuses a layer without it.
      [CosignAnnotation.signature]: '',
      [CosignAnnotation.predicateType]: predicateType,
      ...(leaf && { [CosignAnnotation.certificate]: certificatePem(Buffer.from(leaf, 'base64')) }),
      ...(token && { [CosignAnnotation.rfc3161Timestamp]: timestampAnnotation(token) }),
    },
  };
}
