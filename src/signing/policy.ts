// Who may have signed: public keys, or keyless identities (OIDC issuer + certificate subject)
// whose Fulcio certificates chain to trusted roots. Matching follows cosign's flags:
// --certificate-oidc-issuer is exact, --certificate-identity exact, --certificate-identity-regexp
// an unanchored regular expression.
import type { KeyObject } from 'node:crypto';
import type { X509Certificate } from '@sigstore/core';

export interface IdentityMatcher {
  issuer: string;
  subject?: string;
  subjectRegExp?: string;
}

export interface SignerPolicy {
  keys: { name: string; key: KeyObject }[];
  identities: IdentityMatcher[];
  /** Fulcio CA chains (root last) that keyless certificates must chain to. */
  certificateAuthorities: X509Certificate[][];
  /**
   * When a keyless certificate must be valid. `now` (the default, for every trust decision):
   * at verification time; without a verified timestamp (Hoist reads neither a transparency log
   * nor a timestamp authority) an expired certificate is refused, reason CertificateExpired.
   * `issuance`: at the certificate's notBefore; only for a signer recognising its own earlier
   * signatures so a rerun does not sign again, never for accepting someone else's.
   */
  certificateTime?: 'now' | 'issuance';
}

export interface CertificateIdentity {
  issuer?: string;
  subject?: string;
}

export function describeIdentity(identity: CertificateIdentity): string {
  return `${identity.subject ?? '(no subject)'} from ${identity.issuer ?? '(no issuer)'}`;
}

export function describeMatcher(m: IdentityMatcher): string {
  return `${m.subject ?? `/${m.subjectRegExp}/`} from ${m.issuer}`;
}

export function identityMatches(matcher: IdentityMatcher, identity: CertificateIdentity): boolean {
  if (identity.issuer !== matcher.issuer || identity.subject === undefined) return false;
  if (matcher.subject !== undefined) return identity.subject === matcher.subject;
  if (matcher.subjectRegExp !== undefined) {
    try {
      return new RegExp(matcher.subjectRegExp, 'u').test(identity.subject);
    } catch {
      return false;
    }
  }
  return false;
}
