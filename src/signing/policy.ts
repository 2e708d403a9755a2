// Who may have signed, and what proves when: public keys, or keyless identities (OIDC issuer +
// certificate subject) whose Fulcio certificates chain to the trusted root at a time a
// transparency log or timestamp authority vouches for. Matching follows cosign's flags:
// --certificate-oidc-issuer is exact (--certificate-oidc-issuer-regexp a regular expression),
// --certificate-identity exact, --certificate-identity-regexp an unanchored regular expression.
import type { KeyObject } from 'node:crypto';
import type { X509Certificate } from '@sigstore/core';
import type { TrustedRoot } from './trusted-root.ts';

export interface IdentityMatcher {
  /** Exact OIDC issuer; one of issuer and issuerRegExp. */
  issuer?: string;
  issuerRegExp?: string;
  subject?: string;
  subjectRegExp?: string;
}

export interface SignerPolicy {
  keys: { name: string; key: KeyObject }[];
  identities: IdentityMatcher[];
  /** Fulcio CA chains (root last) that keyless certificates must chain to (the trusted root's, when it is set). */
  certificateAuthorities: X509Certificate[][];
  /**
   * The Fulcio CAs, transparency logs, CT logs and timestamp authorities that prove a signature;
   * without it only keys verify, and only with ignoreTlog.
   */
  trustedRoot?: TrustedRoot;
  /**
   * cosign's --insecure-ignore-tlog: no transparency-log entry is required, and entries present
   * are not read. Keyless signatures then need an RFC 3161 timestamp.
   */
  ignoreTlog?: boolean;
  /** cosign's --insecure-ignore-sct: Fulcio certificates need no signed certificate timestamp. */
  ignoreSCT?: boolean;
  /**
   * A verified RFC 3161 timestamp is required, not just any verified time: what recognising our
   * own signatures asks when our signer is configured with a timestamp authority (recognise.ts).
   */
  requireTimestampAuthority?: boolean;
  /**
   * `issuance`: recognising our own earlier signatures so a rerun does not sign again, never for
   * accepting someone else's: only the signature and, for a certificate, its chain at its
   * notBefore and its identity are checked; no log or timestamp is needed. Absent (a trust
   * decision, as cosign verify): the certificate must be valid at a verified time.
   */
  certificateTime?: 'verified' | 'issuance';
}

export interface CertificateIdentity {
  issuer?: string;
  subject?: string;
}

export function describeIdentity(identity: CertificateIdentity): string {
  return `${identity.subject ?? '(no subject)'} from ${identity.issuer ?? '(no issuer)'}`;
}

export function describeMatcher(m: IdentityMatcher): string {
  return `${m.subject ?? `/${m.subjectRegExp}/`} from ${m.issuer ?? `/${m.issuerRegExp}/`}`;
}

const matchesRegExp = (pattern: string, value: string) => {
  try {
    return new RegExp(pattern, 'u').test(value);
  } catch {
    return false;
  }
};

export function identityMatches(matcher: IdentityMatcher, identity: CertificateIdentity): boolean {
  if (identity.issuer === undefined || identity.subject === undefined) return false;
  if (matcher.issuer !== undefined) {
    if (identity.issuer !== matcher.issuer) return false;
  } else if (matcher.issuerRegExp === undefined || !matchesRegExp(matcher.issuerRegExp, identity.issuer)) {
    return false;
  }
  if (matcher.subject !== undefined) return identity.subject === matcher.subject;
  if (matcher.subjectRegExp !== undefined) return matchesRegExp(matcher.subjectRegExp, identity.subject);
  return false;
}
