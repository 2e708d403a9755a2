// Whether a signature or attestation already in a registry counts as one our signer made, so
// Sign and Attest need not make another. Counting one that production would refuse would leave
// a digest unverifiable for good, so the bar is the one an admission controller holds: the
// artifact verifies as cosign verifies it, against the operator's own trusted root (never a
// manifest's), by our key or our keyless identity, and it carries every proof our signer is
// configured to add to that format: a transparency-log entry when a Rekor is configured and the
// format holds one, an RFC 3161 timestamp when a timestamp authority is. A signer with no
// signing service can add no proof, and its earlier signatures are recognised by the signature
// alone (and, keyless, the certificate chain at issuance), as before.
import type { Found } from './discover.ts';
import type { SigningServices } from './options.ts';
import type { SignerPolicy } from './policy.ts';
import type { TrustedRoot } from './trusted-root.ts';

export type ArtifactKind = Found['kind'];

/**
 * The proofs our signer adds to an artifact of this kind. A bundle carries the Rekor entry (v1
 * or v2); a `.sig` layer only a Rekor v1 entry (cosign's annotation has no room for v2's); a
 * `.att` layer none (Hoist writes its envelope and timestamp only). Each gets the timestamp.
 */
export function proofsFor(services: SigningServices | undefined, kind: ArtifactKind): { tlog: boolean; timestamp: boolean } {
  const rekor = services?.rekorURL !== undefined && services.rekorURL !== '';
  const v1 = (services?.rekorVersion ?? 1) === 1;
  return {
    tlog: rekor && (kind === 'bundle' || (kind === 'simpleSigning' && v1)),
    timestamp: services?.timestampAuthorityURL !== undefined && services.timestampAuthorityURL !== '',
  };
}

/**
 * The policy an artifact of `kind` must pass to count as ours: `identity` (our keys or our
 * keyless identity) verified against `root` with the proofs proofsFor names required. A root
 * that names no CT log cannot verify an SCT, for cosign either; requiring one there would only
 * make every run sign again, so it is not.
 */
export function recognitionPolicy(identity: Pick<SignerPolicy, 'keys' | 'identities' | 'certificateAuthorities'>, root: TrustedRoot | undefined, services: SigningServices | undefined, kind: ArtifactKind): SignerPolicy {
  const { tlog, timestamp } = proofsFor(services, kind);
  const authorities = root?.certificateAuthorities ?? identity.certificateAuthorities;
  if (!tlog && !timestamp) return { keys: identity.keys, identities: identity.identities, certificateAuthorities: authorities, ...(root && { trustedRoot: root }), certificateTime: 'issuance' };
  return {
    keys: identity.keys, identities: identity.identities, certificateAuthorities: authorities,
    ...(root && { trustedRoot: root }),
    ...(!tlog && { ignoreTlog: true }),
    ...(timestamp && { requireTimestampAuthority: true }),
    ...(root && root.counts.ctlogs === 0 && { ignoreSCT: true }),
  };
}
