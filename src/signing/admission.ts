// Would an admission controller configured like sigstore policy-controller's defaults admit this
// digest? policy-controller reads the legacy `sha256-<hex>.sig` tag and requires a transparency-
// log entry it can check offline (the Rekor v1 bundle annotation) for keys and certificates
// alike; a keyless certificate must be valid at that entry's integrated time. The check runs on
// the destination after Sign, with the same verification code as everything else, and names
// what is missing, so a status line can say why production would refuse the image.
import type { RegistryClient, Repository } from '../registry/index.ts';
import { discover } from './discover.ts';
import { verifyImageSignature, whereFound } from './image.ts';
import type { SignerPolicy } from './policy.ts';
import type { ArtifactSigner } from './signer.ts';
import type { TrustedRoot } from './trusted-root.ts';
import type { VerificationReason } from './verify.ts';

export type AdmissionReason = 'Admissible' | 'NoLegacySignature' | VerificationReason;

export interface AdmissionVerdict {
  admissible: boolean;
  reason: AdmissionReason;
  /** One line for a status or a table: who signed and which log entry proves it, or what is missing. */
  message: string;
}

/**
 * The policy an admission controller would hold for our signer: its key or keyless identity,
 * verified as a trust decision (log entry required, certificate at the verified time) against
 * the trusted root production uses.
 */
export async function admissionPolicy(signer: ArtifactSigner, trustedRoot: TrustedRoot): Promise<SignerPolicy> {
  const own = await signer.policy();
  return { keys: own.keys, identities: own.identities, certificateAuthorities: trustedRoot.certificateAuthorities, trustedRoot };
}

/** policy-controller's defaults: a legacy `.sig` layer by an accepted signer, with a Rekor entry, for exactly this digest. */
export async function checkAdmission(
  client: RegistryClient, repo: Repository, digest: string, policy: SignerPolicy, signal?: AbortSignal,
): Promise<AdmissionVerdict> {
  const strict: SignerPolicy = { ...policy, ignoreTlog: false, ignoreSCT: false };
  delete strict.certificateTime;
  const { found, problems } = await discover(client, repo, digest, signal);
  const legacy = found.filter((f) => f.kind === 'simpleSigning');
  const where = `${repo.host}/${repo.name}@${digest}`;
  if (legacy.length === 0) {
    const bundles = found.filter((f) => f.kind === 'bundle').length;
    return {
      admissible: false, reason: 'NoLegacySignature',
      message: `${where} has no legacy .sig signature${bundles > 0 ? ` (only ${bundles} sigstore bundle referrer${bundles === 1 ? '' : 's'})` : ''}; `
        + `policy-controller reads the .sig tag by default: write the legacy format too${problems.length > 0 ? ` (${problems.join('; ')})` : ''}`,
    };
  }
  let first: AdmissionVerdict | undefined;
  for (const item of legacy) {
    const verdict = verifyImageSignature(item, strict, digest);
    if ('verified' in verdict) {
      const entry = verdict.verified.tlogEntries[0];
      return {
        admissible: true, reason: 'Admissible',
        message: `${where}: .sig by ${verdict.verified.signer}, Rekor entry ${entry?.logIndex ?? '?'}${entry?.integratedTime ? ` at ${entry.integratedTime.toISOString()}` : ''}`,
      };
    }
    first ??= { admissible: false, reason: verdict.reason, message: `${where} ${whereFound(item)}: ${verdict.error}` };
  }
  return first!;
}
