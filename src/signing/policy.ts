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
