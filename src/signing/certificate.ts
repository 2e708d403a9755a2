// Keyless signers: a Fulcio certificate's identity (subject alternative name and the OIDC
// issuer extension) and a plain chain check at a time the caller chooses. Trust decisions go
// through verify.ts (the chain at a verified signing time); this chain check serves only
// recognising our own earlier signatures (idempotency), at the certificate's issuance.
import { X509Certificate } from '@sigstore/core';
import type { CertificateIdentity } from './policy.ts';

const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';

export function parseCertificate(input: string | Buffer): X509Certificate {
  return X509Certificate.parse(typeof input === 'string' ? input : Buffer.from(input));
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
 * Whether `leaf` chains to one of the trusted CA chains (each leaf-most first, root last), every
 * certificate valid at `at`. Only the trusted chains are used: intermediates a signature
 * carries (the cosign chain annotation) are not read.
 */
export function chainsTo(leaf: X509Certificate, authorities: X509Certificate[][], at: Date): boolean {
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
