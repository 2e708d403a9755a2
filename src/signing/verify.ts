// Hoist's one verification entry point: whether a signature (a sigstore bundle, or a legacy cosign
// layer turned into one) was made by a signer the policy accepts, the way `cosign verify` decides
// it at its default thresholds. Keyless: the certificate chains to the trusted root's Fulcio CAs
// at a time a transparency log's signed entry timestamp or an RFC 3161 timestamp proves (never
// "now"), carries a verified SCT, and a transparency-log entry is included. Keys: the signature
// and, unless ignored, a transparency-log entry. @sigstore/verify does the cryptography; Hoist
// adds what it leaves out: log entries bound to the signer they are presented with, integrated
// times inside the certificate's validity, and a trusted root checked as sigstore-go checks it.
// Returns what was signed, so callers check it is about the digest they asked for.
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { bundleFromJSON, envelopeFromJSON, type Bundle, type TransparencyLogEntry } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { PolicyError, VerificationError, Verifier, toSignedEntity, type SignedEntity, type TrustMaterial } from '@sigstore/verify';
import { certificateIdentity, chainsTo } from './certificate.ts';
import type { Found } from './discover.ts';
import { CosignAnnotation } from './formats.ts';
import { bundleFromLegacyAttestation, bundleFromLegacySignature } from './legacy.ts';
import { describeIdentity, identityMatches, type CertificateIdentity, type SignerPolicy } from './policy.ts';
import { digestFor } from './signer.ts';
import { entrySigningKey, intotoV001Hashes, parseRekorBundle, sameKey, tlogEntryFromRekorBundle, verifySignedEntryTimestamp } from './rekor.ts';

/** Stable causes of a refused signature, for messages, conditions and `hoist verify -o json`. */
export type VerificationReason =
  | 'InvalidSignature'
  | 'SignatureMismatch'
  | 'SignedDigestMismatch'
  | 'IdentityMismatch'
  | 'CertificateNotTrusted'
  | 'CertificateNotValidAtSigningTime'
  | 'CertificateTransparencyNotVerified'
  | 'TransparencyLogEntryMissing'
  | 'TransparencyLogNotVerified'
  | 'NoVerifiedTimestamp'
  | 'TimestampNotVerified';

export interface VerifiedTime {
  /** `transparency-log`: a signed entry timestamp's integrated time; `timestamp-authority`: an RFC 3161 token's time. */
  kind: 'transparency-log' | 'timestamp-authority';
  time: Date;
}

export interface VerifiedLogEntry {
  logIndex: string;
  /** Hex log id, as `rekor-cli` and cosign print it. */
  logId: string;
  kind: string;
  /** Rekor v1 entries only; Rekor v2 entries carry no time. */
  integratedTime?: Date;
}

export interface Verified {
  /** Who signed, for messages: `key <name>` or `<subject> from <issuer>`. */
  signer: string;
  /** The certificate's identity, for keyless signatures. */
  identity?: CertificateIdentity;
  payloadType: string;
  payload: Buffer;
  /** Times the certificate was checked at; empty for keys and for recognising our own signatures. */
  timestamps: VerifiedTime[];
  tlogEntries: VerifiedLogEntry[];
}

/** `error` starts with the reason. */
export type Verdict = { verified: Verified } | { error: string; reason: VerificationReason };

const fail = (reason: VerificationReason, message: string): Verdict => ({ reason, error: `${reason}: ${message}` });

/** What is verified: a bundle, the bytes a message signature covers, and what the layer it came from adds. */
export interface SignedContent {
  bundle: Bundle;
  /** The signed bytes of a message-signature bundle (a simple-signing payload, a blob). */
  artifact?: Buffer;
  payloadType: string;
  payload: Buffer;
  /**
   * A legacy `.att` layer's Rekor v1 intoto 0.0.1 entry, which @sigstore/verify cannot read:
   * checked here (signed entry timestamp, envelope hash, key) against the layer's bytes.
   */
  intotoV001?: { entry: TransparencyLogEntry; envelopeBytes: Buffer };
  /** The bytes an RFC 3161 token covers when not the signature: a legacy `.att` layer's envelope, as cosign timestamps it. */
  timestamped?: Buffer;
}

const SIMPLE_SIGNING_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';

/** A found artifact as signed content; throws when it cannot be read as one. */
export function signedContentOf(found: Found): SignedContent {
  switch (found.kind) {
    case 'bundle': {
      const bundle = bundleFromJSON(found.bundle);
      if (bundle.content.$case !== 'dsseEnvelope') throw new Error('message-signature bundles carry no payload; only DSSE bundles are read from a registry');
      const envelope = bundle.content.dsseEnvelope;
      return { bundle, payloadType: envelope.payloadType, payload: Buffer.from(envelope.payload) };
    }
    case 'simpleSigning': {
      const annotations = { ...found.annotations };
      annotations[CosignAnnotation.signature] ??= found.signature.toString('base64');
      if (found.certificate) annotations[CosignAnnotation.certificate] ??= found.certificate;
      return { bundle: bundleFromLegacySignature(found.payload, annotations), artifact: found.payload, payloadType: SIMPLE_SIGNING_TYPE, payload: found.payload };
    }
    case 'envelope': {
      const envelope = envelopeFromJSON(found.envelope);
      if (envelope.signatures.length === 0) throw new Error('the DSSE envelope has no signature');
      const annotations = { ...found.annotations };
      if (found.certificate) annotations[CosignAnnotation.certificate] ??= found.certificate;
      let intotoV001: SignedContent['intotoV001'];
      const rekor = annotations[CosignAnnotation.rekorBundle];
      if (rekor) {
        const entry = tlogEntryFromRekorBundle(parseRekorBundle(rekor));
        if (entry.kindVersion?.kind === 'intoto' && entry.kindVersion.version === '0.0.1') {
          delete annotations[CosignAnnotation.rekorBundle];
          intotoV001 = { entry, envelopeBytes: found.envelopeBytes ?? Buffer.from(JSON.stringify(found.envelope)) };
        }
      }
      const bundle = bundleFromLegacyAttestation({ $case: 'dsseEnvelope', dsseEnvelope: envelope }, annotations);
      const envelopeBytes = found.envelopeBytes ?? Buffer.from(JSON.stringify(found.envelope));
      return { bundle, payloadType: envelope.payloadType, payload: Buffer.from(envelope.payload), timestamped: envelopeBytes, ...(intotoV001 && { intotoV001 }) };
    }
  }
}

function selfSigned(der: Uint8Array): boolean {
  try {
    const cert = X509Certificate.parse(Buffer.from(der));
    return cert.subject.equals(cert.issuer) && cert.verify();
  } catch {
    return false;
  }
}

const certificateKey = (cert: X509Certificate) => createPublicKey({ key: Buffer.from(cert.publicKey), format: 'der', type: 'spki' });

const EMPTY_MATERIAL: TrustMaterial = {
  certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [],
  publicKey: () => { throw new VerificationError({ code: 'PUBLIC_KEY_ERROR', message: 'no key' }); },
};

/** Why a log entry does not belong with this signer, or undefined when it does (or names no key we can read). */
function entryKeyMismatch(entries: TransparencyLogEntry[], key: KeyObject): string | undefined {
  for (const entry of entries) {
    const named = entrySigningKey(entry);
    if (named && !sameKey(named, key)) return `transparency-log entry ${entry.logIndex} names another signing key than the signature's`;
  }
  return undefined;
}

/** sigstore-go refuses a Rekor v1 entry integrated outside the certificate's validity, whether or not its SET is used. */
function integratedOutsideValidity(entries: TransparencyLogEntry[], cert: X509Certificate): string | undefined {
  for (const entry of entries) {
    if (!entry.integratedTime || entry.integratedTime === '0') continue;
    const at = new Date(Number(entry.integratedTime) * 1000);
    if (at < cert.notBefore || at > cert.notAfter) {
      return `transparency-log entry ${entry.logIndex} was integrated at ${at.toISOString()}, outside the certificate's validity `
        + `(${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()}): the signature was not made while the certificate was valid`;
    }
  }
  return undefined;
}

function verifiedTimes(entity: SignedEntity): VerifiedTime[] {
  return entity.timestamps.map((t) => (t.$case === 'timestamp-authority'
    ? { kind: 'timestamp-authority' as const, time: t.timestamp.signingTime }
    : { kind: 'transparency-log' as const, time: new Date(Number(t.tlogEntry.integratedTime) * 1000) }));
}

function logSummary(entry: TransparencyLogEntry): VerifiedLogEntry {
  return {
    logIndex: entry.logIndex, logId: Buffer.from(entry.logId?.keyId ?? []).toString('hex'), kind: `${entry.kindVersion?.kind}/${entry.kindVersion?.version}`,
    ...(entry.integratedTime && entry.integratedTime !== '0' && { integratedTime: new Date(Number(entry.integratedTime) * 1000) }),
  };
}

/** A sigstore-js failure as a stable reason and a message that says what to do. */
function explain(error: unknown, context: { keyless: boolean; tlogEntries: number; ignoreTlog: boolean; material: TrustMaterial; rootSource: string }): Verdict {
  const message = (error as Error).message ?? String(error);
  if (error instanceof PolicyError) return fail('IdentityMismatch', message);
  if (!(error instanceof VerificationError)) return fail('InvalidSignature', `the signature cannot be read (${message})`);
  switch (error.code) {
    case 'TLOG_ERROR':
      if (context.tlogEntries === 0) {
        return fail('TransparencyLogEntryMissing', 'the signature has no transparency-log (Rekor) entry, which cosign requires by default; '
          + 'sign with a Rekor, or accept signatures without one with insecureIgnoreTlog (cosign --insecure-ignore-tlog)');
      }
      return fail('TransparencyLogNotVerified', message);
    case 'TLOG_INCLUSION_PROOF_ERROR':
    case 'TLOG_INCLUSION_PROMISE_ERROR':
    case 'TLOG_MISSING_INCLUSION_ERROR':
    case 'TLOG_BODY_ERROR':
      return fail('TransparencyLogNotVerified', `${message}${context.material.tlogs.length === 0 ? ` (${context.rootSource} names no transparency log)` : ''}`);
    case 'TIMESTAMP_ERROR':
      if (/expected \d+ timestamps, got 0/.test(message)) {
        return fail('NoVerifiedTimestamp', 'a keyless signature needs a verified time for its short-lived certificate: a transparency-log entry '
          + `with a signed entry timestamp or an RFC 3161 timestamp; this one has neither${context.ignoreTlog ? ' (transparency-log entries are ignored)' : ''}`);
      }
      return fail('TimestampNotVerified', `the RFC 3161 timestamp does not verify against the timestamp authorities of ${context.rootSource}${context.material.timestampAuthorities.length === 0 ? ', which names none' : ''} (${message})`);
    case 'CERTIFICATE_ERROR':
      if (/SCT/.test(message)) {
        return fail('CertificateTransparencyNotVerified', `the certificate's signed certificate timestamp does not verify against the CT logs of ${context.rootSource}`
          + `${context.material.ctlogs.length === 0 ? ', which names none' : ''} (${message}); to accept certificates without a verified SCT, as cosign --insecure-ignore-sct does, set insecureIgnoreSCT`);
      }
      return fail('CertificateNotTrusted', `the certificate does not chain to a Fulcio CA of ${context.rootSource} at the signing time (${message}${error.cause ? `: ${(error.cause as Error).message}` : ''})`);
    case 'PUBLIC_KEY_ERROR':
    case 'SIGNATURE_ERROR':
      return fail('SignatureMismatch', context.keyless ? 'the signature does not match its certificate' : 'the signature was not made by this key');
    default:
      return fail('InvalidSignature', message);
  }
}

/** Checks a legacy intoto 0.0.1 entry the way cosign's VerifyBundle does; undefined when it holds. */
function intotoV001Problem(content: NonNullable<SignedContent['intotoV001']>, key: KeyObject, material: TrustMaterial): string | undefined {
  const { entry, envelopeBytes } = content;
  const { envelopeHash } = intotoV001Hashes(entry);
  if (envelopeHash !== createHash('sha256').update(envelopeBytes).digest('hex')) return 'the intoto transparency-log entry is about another envelope';
  const named = entrySigningKey(entry);
  if (!named || !sameKey(named, key)) return 'the intoto transparency-log entry names another signing key';
  if (!verifySignedEntryTimestamp(entry, material)) return 'the intoto transparency-log entry\'s signed entry timestamp does not verify against the trusted root';
  return undefined;
}

/**
 * @sigstore/verify hashes a message signature's artifact with SHA-256 for every key; cosign's
 * Ed25519 keys sign the message itself, so those are verified as Ed25519 needs.
 */
function withPureEdDSA(content: SignedEntity['signature'], artifact: Buffer): SignedEntity['signature'] {
  return {
    signature: content.signature,
    compareSignature: (s) => content.compareSignature(s),
    compareDigest: (d) => content.compareDigest(d),
    compareSignedDigest: (d) => content.compareSignedDigest(d),
    verifySignature: (key) => {
      if (digestFor(key) !== null) return content.verifySignature(key);
      try {
        return cryptoVerify(null, artifact, key, content.signature);
      } catch {
        return false;
      }
    },
  };
}

/**
 * @sigstore/verify checks an RFC 3161 token against `signature.signature`; a legacy `.att`
 * layer's token covers its envelope bytes instead, so those are what it sees there. Everything
 * else (log entry bodies, the signature check) still uses the DSSE signature.
 */
function timestampedOver(content: SignedEntity['signature'], data: Buffer): SignedEntity['signature'] {
  return {
    signature: data,
    compareSignature: (s) => content.compareSignature(s),
    compareDigest: (d) => content.compareDigest(d),
    compareSignedDigest: (d) => content.compareSignedDigest(d),
    verifySignature: (key) => content.verifySignature(key),
  };
}

/** Every timestamp the Verifier was given is verified by it, so presence after verify() means a verified token. */
const hasTimestampAuthority = (timestamps: SignedEntity['timestamps']) => timestamps.some((t) => t.$case === 'timestamp-authority');
const NO_TSA_TOKEN = 'the signature carries no RFC 3161 timestamp, though a timestamp authority is configured for signing';

/** Whether `key` made the signature, for recognising our own signatures (no log, no timestamp). */
function signatureOnly(entity: SignedEntity, key: KeyObject): boolean {
  try {
    return entity.signature.verifySignature(key);
  } catch {
    return false;
  }
}

/** Verifies signed content against the policy; the verdict says who signed, or why not. */
export function verifyContent(content: SignedContent, policy: SignerPolicy): Verdict {
  let entity: SignedEntity;
  try {
    entity = toSignedEntity(content.bundle, content.artifact);
  } catch (error) {
    return fail('InvalidSignature', `the signature cannot be read (${(error as Error).message})`);
  }
  if (content.artifact) entity = { ...entity, signature: withPureEdDSA(entity.signature, content.artifact) };
  if (content.timestamped) entity = { ...entity, signature: timestampedOver(entity.signature, content.timestamped) };
  const base = { payloadType: content.payloadType, payload: content.payload };
  const material0 = content.bundle.verificationMaterial.content;
  if (material0.$case === 'x509CertificateChain' && material0.x509CertificateChain.certificates.slice(1).some((c) => selfSigned(c.rawBytes))) {
    // sigstore-go refuses it too: roots come from the trusted root only, never from the signature.
    return fail('InvalidSignature', 'the signature\'s certificate chain includes a root certificate; roots come only from the trusted root');
  }
  const recognise = policy.certificateTime === 'issuance';
  const certificate = entity.key.$case === 'certificate' ? entity.key.certificate : undefined;
  const root = policy.trustedRoot;
  const material = root?.material ?? EMPTY_MATERIAL;
  const rootSource = root?.source ?? 'the trusted root (none is configured)';

  // cosign --insecure-ignore-tlog reads no entry at all, so none can fail the signature either.
  if (policy.ignoreTlog && !recognise) {
    entity = { ...entity, tlogEntries: [], timestamps: entity.timestamps.filter((t) => t.$case !== 'transparency-log') };
  }

  // Keys verify whatever carries their signature, certificate or not, as `cosign verify --key` does.
  const keyErrors: Verdict[] = [];
  for (const { name, key } of policy.keys) {
    const keyed: SignedEntity = { ...entity, key: { $case: 'public-key', hint: name } };
    if (recognise) {
      if (signatureOnly(keyed, key)) return { verified: { signer: `key ${name}`, ...base, timestamps: [], tlogEntries: [] } };
      continue;
    }
    if (!signatureOnly(keyed, key)) continue;
    const mismatch = entryKeyMismatch(entity.tlogEntries, key);
    if (mismatch) {
      keyErrors.push(fail('TransparencyLogNotVerified', mismatch));
      continue;
    }
    let tlogThreshold = policy.ignoreTlog ? 0 : 1;
    const timestamps = [...entity.timestamps];
    const extra: TransparencyLogEntry[] = [];
    if (content.intotoV001 && !policy.ignoreTlog) {
      const problem = intotoV001Problem(content.intotoV001, key, material);
      if (problem) {
        keyErrors.push(fail('TransparencyLogNotVerified', problem));
        continue;
      }
      tlogThreshold = 0;
      extra.push(content.intotoV001.entry);
    }
    try {
      new Verifier({ ...material, publicKey: () => ({ publicKey: key, validFor: () => true }) }, { tlogThreshold, ctlogThreshold: 0, timestampThreshold: 0 })
        .verify({ ...keyed, timestamps });
      if (policy.requireTimestampAuthority && !hasTimestampAuthority(timestamps)) {
        keyErrors.push(fail('NoVerifiedTimestamp', NO_TSA_TOKEN));
        continue;
      }
      return { verified: { signer: `key ${name}`, ...base, timestamps: verifiedTimes(keyed), tlogEntries: [...entity.tlogEntries, ...extra].map(logSummary) } };
    } catch (error) {
      keyErrors.push(explain(error, { keyless: false, tlogEntries: entity.tlogEntries.length + extra.length, ignoreTlog: policy.ignoreTlog === true, material, rootSource }));
    }
  }
  if (keyErrors.length > 0) return keyErrors[0]!;

  if (certificate && policy.identities.length > 0) {
    const identity = certificateIdentity(certificate);
    if (!policy.identities.some((m) => identityMatches(m, identity))) {
      return fail('IdentityMismatch', `signed by ${describeIdentity(identity)}, which the policy does not accept`);
    }
    const key = certificateKey(certificate);
    const verified = (timestamps: VerifiedTime[], entries: TransparencyLogEntry[]): Verdict =>
      ({ verified: { signer: describeIdentity(identity), identity, ...base, timestamps, tlogEntries: entries.map(logSummary) } });
    if (recognise) {
      // Recognising our own earlier signature (Sign/Attest idempotency), not a trust decision.
      const authorities = root?.certificateAuthorities ?? policy.certificateAuthorities;
      if (!chainsTo(certificate, authorities, certificate.notBefore)) return fail('CertificateNotTrusted', `certificate of ${describeIdentity(identity)} does not chain to a trusted Fulcio root`);
      return signatureOnly(entity, key) ? verified([], []) : fail('SignatureMismatch', 'the signature does not match its certificate');
    }
    if (!root) return fail('CertificateNotTrusted', `no trusted root is configured, so the certificate of ${describeIdentity(identity)} cannot be checked`);
    const mismatch = entryKeyMismatch(entity.tlogEntries, key);
    if (mismatch) return fail('TransparencyLogNotVerified', mismatch);
    const outside = integratedOutsideValidity(entity.tlogEntries, certificate);
    if (outside) return fail('CertificateNotValidAtSigningTime', outside);
    let tlogThreshold = policy.ignoreTlog ? 0 : 1;
    const timestamps = [...entity.timestamps];
    const extra: TransparencyLogEntry[] = [];
    if (content.intotoV001 && !policy.ignoreTlog) {
      const problem = intotoV001Problem(content.intotoV001, key, material);
      if (problem) return fail('TransparencyLogNotVerified', problem);
      const late = integratedOutsideValidity([content.intotoV001.entry], certificate);
      if (late) return fail('CertificateNotValidAtSigningTime', late);
      tlogThreshold = 0;
      extra.push(content.intotoV001.entry);
      timestamps.push({ $case: 'transparency-log', tlogEntry: content.intotoV001.entry });
    }
    const checked: SignedEntity = { ...entity, timestamps };
    try {
      new Verifier(material, { tlogThreshold, ctlogThreshold: policy.ignoreSCT ? 0 : 1, timestampThreshold: 1 }).verify(checked);
    } catch (error) {
      const verdict = explain(error, { keyless: true, tlogEntries: entity.tlogEntries.length + extra.length, ignoreTlog: policy.ignoreTlog === true, material, rootSource });
      if ('reason' in verdict && verdict.reason === 'CertificateNotTrusted') {
        const times = verifiedTimes(checked).map((t) => t.time);
        if (times.some((t) => t < certificate.notBefore || t > certificate.notAfter)) {
          return fail('CertificateNotValidAtSigningTime', `the certificate of ${describeIdentity(identity)} was valid from ${certificate.notBefore.toISOString()} `
            + `to ${certificate.notAfter.toISOString()}, but the signature's verified time is ${times.map((t) => t.toISOString()).join(', ')}`);
        }
      }
      return verdict;
    }
    if (policy.requireTimestampAuthority && !hasTimestampAuthority(checked.timestamps)) return fail('NoVerifiedTimestamp', NO_TSA_TOKEN);
    return verified(verifiedTimes(checked), [...entity.tlogEntries, ...extra]);
  }
  if (policy.keys.length > 0) return fail('SignatureMismatch', `signature made by none of the accepted keys (${policy.keys.map((k) => k.name).join(', ')})`);
  if (!certificate) return fail('SignatureMismatch', 'signature has no certificate and the policy accepts no keys');
  return fail('IdentityMismatch', 'the policy accepts no keyless identities');
}

/** Verifies one discovered artifact (bundle referrer, `.sig` or `.att` layer). */
export function verifyFound(found: Found, policy: SignerPolicy): Verdict {
  let content: SignedContent;
  try {
    content = signedContentOf(found);
  } catch (error) {
    return fail('InvalidSignature', `unreadable signature: ${(error as Error).message}`);
  }
  return verifyContent(content, policy);
}

/**
 * Verifies a bundle for an artifact, as `cosign verify-blob --bundle` does: `artifact` is the
 * signed file (message signatures), or for DSSE bundles the subject the statement must name.
 */
export function verifyBundle(bundleJson: unknown, artifact: Buffer | undefined, policy: SignerPolicy): Verdict {
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(bundleJson);
  } catch (error) {
    return fail('InvalidSignature', `not a sigstore bundle (${(error as Error).message})`);
  }
  if (bundle.content.$case === 'dsseEnvelope') {
    const envelope = bundle.content.dsseEnvelope;
    const verdict = verifyContent({ bundle, payloadType: envelope.payloadType, payload: Buffer.from(envelope.payload) }, policy);
    if ('error' in verdict || !artifact) return verdict;
    const digest = createHash('sha256').update(artifact).digest('hex');
    try {
      const statement = JSON.parse(verdict.verified.payload.toString('utf8')) as { subject?: { digest?: Record<string, string> }[] };
      if (statement.subject?.some((s) => s.digest?.sha256?.toLowerCase() === digest)) return verdict;
    } catch {
      // not a statement: falls through to the mismatch
    }
    return fail('SignatureMismatch', `the signed statement names no subject with sha256 ${digest}`);
  }
  if (!artifact) return fail('InvalidSignature', 'a message-signature bundle is verified against the artifact it signs; none was given');
  return verifyContent({ bundle, artifact, payloadType: 'application/octet-stream', payload: artifact }, policy);
}
