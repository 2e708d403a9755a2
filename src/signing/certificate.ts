// Keyless signers: a Fulcio certificate's identity (subject alternative name and the OIDC
// issuer extension) and its chain to a trusted CA. Without a transparency log or timestamp
// authority there is no trusted signing time, so the chain is checked at the certificate's own
// issuance time, as `cosign verify --insecure-ignore-tlog` does with a certificate it trusts.
import { X509Certificate } from '@sigstore/core';
import type { CertificateIdentity } from './policy.ts';

const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';

export function parseCertificate(input: string | Buffer): X509Certificate {
  return X509Certificate.parse(typeof input === 'string' ? input : Buffer.from(input));
}

/** PEM bundle (several certificates) to certificates, in order. */
export function parseCertificates(pem: string): X509Certificate[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => X509Certificate.parse(m[0]));
}

export function certificateIdentity(cert: X509Certificate): CertificateIdentity {
  let issuer: string | undefined;
  const v2 = cert.extension(OID_ISSUER_V2);
  if (v2) issuer = v2.valueObj.subs[0]?.value.toString('utf8');
  else issuer = cert.extension(OID_ISSUER_V1)?.value.toString('utf8');
  const subject = cert.subjectAltName;
  return { ...(issuer !== undefined && { issuer }), ...(subject !== undefined && { subject }) };
}

/**
 * Whether `leaf` chains to one of the CA chains (each leaf-most first, root last), checked at
 * `at`. Intermediate certificates the signature carried are tried before the trusted chain.
 */
export function chainsTo(leaf: X509Certificate, authorities: X509Certificate[][], at: Date = leaf.notBefore): boolean {
  if (!leaf.validForDate(at)) return false;
  return authorities.some((chain) => {
    let current = leaf;
    for (const ca of chain) {
      if (!ca.validForDate(at) || !current.verify(ca)) return false;
      if (ca.equals(chain.at(-1)!)) return ca.verify(ca) || ca.verify();
      current = ca;
    }
    return false;
  });
}
