// Rekor transparency-log entries as signatures carry them: the legacy cosign `dev.sigstore.cosign/
// bundle` annotation (a Rekor v1 entry with its signed entry timestamp) turned into a bundle's
// tlog entry and back, what key an entry's body names (so an entry is bound to the signer it
// is presented with, as sigstore-go checks), and the signed entry timestamp itself.
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { TransparencyLogEntry } from '@sigstore/bundle';
import { json as canonicalJson } from '@sigstore/core';
import type { TrustMaterial } from '@sigstore/verify';

/** The JSON cosign writes in the `dev.sigstore.cosign/bundle` layer annotation. */
export interface RekorBundleAnnotation {
  SignedEntryTimestamp: string;
  Payload: { body: string; integratedTime: number; logIndex: number; logID: string };
}

/** Reads the annotation; throws on anything that is not the shape cosign writes. */
export function parseRekorBundle(text: string): RekorBundleAnnotation {
  const doc = JSON.parse(text) as Partial<RekorBundleAnnotation>;
  const p = doc?.Payload;
  if (typeof doc?.SignedEntryTimestamp !== 'string' || typeof p?.body !== 'string' || !Number.isSafeInteger(p.integratedTime)
    || !Number.isSafeInteger(p.logIndex) || typeof p.logID !== 'string' || !/^[0-9a-f]+$/i.test(p.logID)) {
    throw new Error('the Rekor bundle annotation is not {SignedEntryTimestamp, Payload: {body, integratedTime, logIndex, logID}}');
  }
  return doc as RekorBundleAnnotation;
}

interface BodyHead { kind?: unknown; apiVersion?: unknown }

/** The annotation as a bundle tlog entry: the SET signs exactly these four fields, so nothing else is invented. */
export function tlogEntryFromRekorBundle(annotation: RekorBundleAnnotation): TransparencyLogEntry {
  const body = Buffer.from(annotation.Payload.body, 'base64');
  const head = JSON.parse(body.toString('utf8')) as BodyHead;
  if (typeof head.kind !== 'string' || typeof head.apiVersion !== 'string') throw new Error('the Rekor entry body names no kind and apiVersion');
  return {
    logIndex: String(annotation.Payload.logIndex),
    logId: { keyId: Buffer.from(annotation.Payload.logID, 'hex') },
    kindVersion: { kind: head.kind, version: head.apiVersion },
    integratedTime: String(annotation.Payload.integratedTime),
    inclusionPromise: { signedEntryTimestamp: Buffer.from(annotation.SignedEntryTimestamp, 'base64') },
    inclusionProof: undefined,
    canonicalizedBody: body,
  };
}

/** The reverse, for writing a legacy `.sig` layer from a Rekor v1 entry that has a signed entry timestamp. */
export function rekorBundleFromTlogEntry(entry: TransparencyLogEntry): RekorBundleAnnotation | undefined {
  if (!entry.inclusionPromise || !entry.integratedTime || entry.integratedTime === '0' || !entry.logId) return undefined;
  return {
    SignedEntryTimestamp: Buffer.from(entry.inclusionPromise.signedEntryTimestamp).toString('base64'),
    Payload: {
      body: Buffer.from(entry.canonicalizedBody).toString('base64'),
      integratedTime: Number(entry.integratedTime),
      logIndex: Number(entry.logIndex),
      logID: Buffer.from(entry.logId.keyId).toString('hex'),
    },
  };
}

/**
 * Verifies a signed entry timestamp against the trusted root's logs (right log id, key valid at
 * the integrated time), as @sigstore/verify does for bundles; used where the entry's kind is one
 * @sigstore/verify cannot read (intoto 0.0.1 of legacy `.att` layers).
 */
export function verifySignedEntryTimestamp(entry: TransparencyLogEntry, material: TrustMaterial): boolean {
  if (!entry.inclusionPromise || !entry.logId) return false;
  const at = new Date(Number(entry.integratedTime) * 1000);
  const payload = canonicalJson.canonicalize({
    body: Buffer.from(entry.canonicalizedBody).toString('base64'),
    integratedTime: Number(entry.integratedTime),
    logIndex: Number(entry.logIndex),
    logID: Buffer.from(entry.logId.keyId).toString('hex'),
  });
  return material.tlogs.some((log) => log.logID.equals(entry.logId!.keyId) && log.validFor.start <= at && at <= log.validFor.end
    && cryptoVerify('sha256', Buffer.from(payload, 'utf8'), log.publicKey, Buffer.from(entry.inclusionPromise!.signedEntryTimestamp)));
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v !== null && typeof v === 'object' ? v as Json : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** A PEM (certificate or public key) or DER, base64-wrapped as Rekor bodies hold them, as a public key. */
function keyFromMaterial(material: Buffer): KeyObject | undefined {
  try {
    const text = material.toString('utf8');
    if (text.includes('-----BEGIN CERTIFICATE-----')) return createPublicKey(text);
    if (text.includes('-----BEGIN')) return createPublicKey(text);
    return createPublicKey({ key: material, format: 'der', type: 'spki' });
  } catch {
    try {
      // A DER certificate (Rekor v2 bodies carry raw certificate bytes).
      const pem = `-----BEGIN CERTIFICATE-----\n${material.toString('base64')}\n-----END CERTIFICATE-----\n`;
      return createPublicKey(pem);
    } catch {
      return undefined;
    }
  }
}

/**
 * The public key the entry's body says made the signature, for Rekor v1 hashedrekord, dsse,
 * intoto (0.0.1 and 0.0.2) and Rekor v2 hashedrekord/dsse entries; undefined when the body
 * names none this code knows.
 */
export function entrySigningKey(entry: TransparencyLogEntry): KeyObject | undefined {
  let body: Json;
  try {
    body = obj(JSON.parse(Buffer.from(entry.canonicalizedBody).toString('utf8')));
  } catch {
    return undefined;
  }
  const spec = obj(body.spec);
  const b64 = (v: unknown) => (typeof v === 'string' ? Buffer.from(v, 'base64') : undefined);
  let material: Buffer | undefined;
  const kind = str(body.kind);
  const version = str(body.apiVersion);
  if (kind === 'hashedrekord' && version === '0.0.1') material = b64(obj(obj(spec.signature).publicKey).content);
  else if (kind === 'dsse' && version === '0.0.1') material = b64(obj((spec.signatures as unknown[] | undefined)?.[0]).verifier);
  else if (kind === 'intoto' && version === '0.0.1') material = b64(spec.publicKey);
  else if (kind === 'intoto' && version === '0.0.2') {
    // intoto 0.0.2 double-encodes its envelope fields: base64 of base64 of the PEM.
    const inner = b64(obj((obj(obj(spec.content).envelope).signatures as unknown[] | undefined)?.[0]).publicKey);
    material = inner && (inner.toString('utf8').includes('-----BEGIN') ? inner : b64(inner.toString('utf8')));
  } else if ((kind === 'hashedrekord' || kind === 'dsse') && version === '0.0.2') {
    // Rekor v2: spec.hashedRekordV002.signature.verifier / spec.dsseV002.signatures[0].verifier.
    const v2 = obj(spec.hashedRekordV002 ?? spec.dsseV002);
    const signature = obj(kind === 'hashedrekord' ? v2.signature : (v2.signatures as unknown[] | undefined)?.[0]);
    const verifier = obj(signature.verifier);
    material = b64(obj(verifier.x509Certificate).rawBytes) ?? b64(obj(verifier.publicKey).rawBytes);
  }
  return material ? keyFromMaterial(material) : undefined;
}

/** Whether two keys are the same public key (compared as SPKI DER). */
export function sameKey(a: KeyObject, b: KeyObject): boolean {
  const der = (k: KeyObject) => (k.type === 'private' ? createPublicKey(k) : k).export({ type: 'spki', format: 'der' });
  return der(a).equals(der(b));
}

/** The fields of an intoto 0.0.1 body that bind it to a legacy `.att` layer. */
export function intotoV001Hashes(entry: TransparencyLogEntry): { envelopeHash?: string; payloadHash?: string } {
  try {
    const body = obj(JSON.parse(Buffer.from(entry.canonicalizedBody).toString('utf8')));
    const content = obj(obj(body.spec).content);
    const envelopeHash = str(obj(content.hash).value);
    const payloadHash = str(obj(content.payloadHash).value);
    return { ...(envelopeHash && { envelopeHash }), ...(payloadHash && { payloadHash }) };
  } catch {
    return {};
  }
}
