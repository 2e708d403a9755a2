// What makes our signatures verifiable after their certificate expires: an RFC 3161 timestamp
// from a timestamp authority and an entry in a Rekor transparency log, added to each bundle as
// @sigstore/sign "witnesses". Rekor v2 entries are written as hashedrekord 0.0.2 for DSSE too
// (over the digest of the envelope's PAE), which is what sigstore-go and cosign verify;
// @sigstore/sign 5.1 writes dsse 0.0.2 entries there, which they cannot.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { dsse } from '@sigstore/core';
import { HashAlgorithm, PublicKeyDetails, TransparencyLogEntry } from '@sigstore/protobuf-specs';
import { CreateEntryRequest } from '@sigstore/protobuf-specs/rekor/v2';
import { RekorWitness, TSAWitness, type SignatureBundle, type VerificationMaterial, type Witness } from '@sigstore/sign';
import { TrustError } from './errors.ts';
import type { SigningServices } from './options.ts';

const TIMEOUT_MS = 20_000;
const RETRY = { retries: 2 };

/** The key details Rekor v2 records for a signing key; only prehashing algorithms fit hashedrekord. */
function keyDetails(key: KeyObject): PublicKeyDetails {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') {
    if (details?.namedCurve === 'prime256v1') return PublicKeyDetails.PKIX_ECDSA_P256_SHA_256;
    if (details?.namedCurve === 'secp384r1') return PublicKeyDetails.PKIX_ECDSA_P384_SHA_384;
    if (details?.namedCurve === 'secp521r1') return PublicKeyDetails.PKIX_ECDSA_P521_SHA_512;
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details?.modulusLength;
    if (bits === 2048) return PublicKeyDetails.PKIX_RSA_PKCS1V15_2048_SHA256;
    if (bits === 3072) return PublicKeyDetails.PKIX_RSA_PKCS1V15_3072_SHA256;
    if (bits === 4096) return PublicKeyDetails.PKIX_RSA_PKCS1V15_4096_SHA256;
  }
  throw new TrustError('SigningFailed', `Rekor v2 records only prehashed signatures (ECDSA P-256/384/521, RSA 2048/3072/4096); a ${key.asymmetricKeyType} key cannot be logged there`);
}

/** Rekor v2 (rekor-tiles): POST /api/v2/log/entries with a hashedrekord 0.0.2 request. */
export class RekorV2Witness implements Witness {
  readonly #url: string;
  constructor(baseURL: string) {
    this.#url = `${baseURL.replace(/\/+$/, '')}/api/v2/log/entries`;
  }

  async testify(content: SignatureBundle, publicKey: string): Promise<VerificationMaterial> {
    const isCertificate = publicKey.includes('BEGIN CERTIFICATE');
    const key = createPublicKey(publicKey);
    const der = Buffer.from(publicKey.replace(/-----[A-Z ]+-----|\s+/g, ''), 'base64');
    const [digest, signature] = content.$case === 'dsseEnvelope'
      ? [createHash('sha256').update(dsse.preAuthEncoding(content.dsseEnvelope.payloadType, content.dsseEnvelope.payload)).digest(), content.dsseEnvelope.signatures[0]!.sig]
      : [Buffer.from(content.messageSignature.messageDigest!.digest), content.messageSignature.signature];
    const request = CreateEntryRequest.toJSON({
      spec: {
        $case: 'hashedRekordRequestV002',
        hashedRekordRequestV002: {
          digest,
          signature: {
            content: Buffer.from(signature),
            verifier: {
              keyDetails: keyDetails(key),
              verifier: isCertificate ? { $case: 'x509Certificate', x509Certificate: { rawBytes: der } } : { $case: 'publicKey', publicKey: { rawBytes: der } },
            },
          },
        },
      },
    });
    let response: Response;
    try {
      response = await fetch(this.#url, {
        method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(request), signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      throw new TrustError('SigningFailed', `the Rekor v2 log at ${this.#url} could not be reached (${(error as Error).message})`);
    }
    const text = await response.text();
    if (!response.ok) throw new TrustError('SigningFailed', `the Rekor v2 log at ${this.#url} refused the entry (HTTP ${response.status}: ${text.slice(0, 300)})`);
    const entry = TransparencyLogEntry.fromJSON(JSON.parse(text));
    if (!entry.logId || !entry.kindVersion || !entry.inclusionProof) throw new TrustError('SigningFailed', `the Rekor v2 log at ${this.#url} returned an entry without log id, kind or inclusion proof`);
    return { tlogEntries: [{ ...entry, logId: entry.logId, kindVersion: entry.kindVersion }] };
  }
}

/** The witnesses signing services ask for; `legacy` leaves out a Rekor v2 log, which a `.sig` layer cannot carry. */
export function witnessesFor(services: SigningServices | undefined, options: { legacy?: boolean } = {}): Witness[] {
  const witnesses: Witness[] = [];
  if (services?.rekorURL) {
    if ((services.rekorVersion ?? 1) === 2) {
      if (!options.legacy) witnesses.push(new RekorV2Witness(services.rekorURL));
    } else {
      witnesses.push(new RekorWitness({ rekorBaseURL: services.rekorURL, majorApiVersion: 1, timeout: TIMEOUT_MS, retry: RETRY }));
    }
  }
  if (services?.timestampAuthorityURL) witnesses.push(new TSAWitness({ tsaBaseURL: services.timestampAuthorityURL, timeout: TIMEOUT_MS, retry: RETRY }));
  return witnesses;
}

/**
 * An RFC 3161 token over `data` itself (the envelope bytes of a legacy `.att` layer, which is
 * what cosign timestamps there), or undefined without a timestamp authority.
 */
export async function timestampOver(services: SigningServices | undefined, data: Buffer): Promise<Buffer | undefined> {
  if (!services?.timestampAuthorityURL) return undefined;
  const witness = new TSAWitness({ tsaBaseURL: services.timestampAuthorityURL, timeout: TIMEOUT_MS, retry: RETRY });
  // The TSA witness timestamps the SHA-256 of the content's signature field: given the data there.
  const material = await witness.testify({ $case: 'messageSignature', messageSignature: { signature: data, messageDigest: { algorithm: HashAlgorithm.SHA2_256, digest: Buffer.alloc(0) } } });
  const token = material.rfc3161Timestamps?.[0]?.signedTimestamp;
  return token ? Buffer.from(token) : undefined;
}
