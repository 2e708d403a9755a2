// Attestations attached to a digest (v3 bundles among its referrers, legacy `.att` layers):
// verified against a signer policy and parsed into in-toto statements about that digest; and
// attaching one so that it is findable the way `cosign verify-attestation` looks.
import { discover, type Found } from '../signing/discover.ts';
import { COSIGN_SIGN_PREDICATE, bundleManifest } from '../signing/formats.ts';
import { attachReferrer } from '../signing/attach.ts';
import type { SignerPolicy } from '../signing/policy.ts';
import { verifyFound } from '../signing/verify.ts';
import type { Descriptor, RegistryClient, Repository } from '../registry/index.ts';
import { parseStatement, statementCovers, type Statement } from './statement.ts';

export interface VerifiedAttestation {
  statement: Statement;
  signer: string;
  found: Found;
}

export interface AttestationCheck {
  verified: VerifiedAttestation[];
  problems: string[];
}

/** Verified statements about `digest` with one of `predicateTypes`; the rest explained in `problems`. */
export async function checkAttestations(
  client: RegistryClient, repo: Repository, digest: string, predicateTypes: string[], policy: SignerPolicy, signal?: AbortSignal,
): Promise<AttestationCheck> {
  const { found, problems } = await discover(client, repo, digest, signal);
  const result: AttestationCheck = { verified: [], problems: [...problems] };
  const candidates = found.filter((f) => f.kind !== 'simpleSigning' && f.predicateType !== COSIGN_SIGN_PREDICATE
    && (f.predicateType === undefined || predicateTypes.includes(f.predicateType)));
  for (const item of candidates) {
    const where = item.kind === 'bundle' ? `bundle ${item.manifestDigest}` : item.kind === 'envelope' ? `${item.tag} layer ${item.layer.digest}` : '';
    const verdict = verifyFound(item, policy);
    if ('error' in verdict) {
      result.problems.push(`${where}: ${verdict.error}`);
      continue;
    }
    const parsed = parseStatement(verdict.verified.payloadType, verdict.verified.payload);
    if ('error' in parsed) {
      result.problems.push(`${where}: ${parsed.error}`);
      continue;
    }
    // The annotation is a hint; only the signed statement decides.
    if (!predicateTypes.includes(parsed.statement.predicateType)) continue;
    if (!statementCovers(parsed.statement, digest)) {
      result.problems.push(`${where}: statement is about another digest`);
      continue;
    }
    result.verified.push({ statement: parsed.statement, signer: verdict.verified.signer, found: item });
  }
  if (result.verified.length === 0 && candidates.length === 0) {
    result.problems.push(`no ${predicateTypes.join(' or ')} attestations on ${repo.host}/${repo.name}@${digest}`);
  }
  return result;
}

/** Attaches a signed DSSE bundle as cosign v3 does; returns the referrer manifest's digest. */
export async function attachAttestation(
  client: RegistryClient, repo: Repository, subject: Descriptor, bundle: Buffer, predicateType: string, signal?: AbortSignal,
): Promise<string> {
  return attachReferrer(client, repo, subject.digest, bundleManifest(bundle, subject, predicateType, new Date()), signal);
}
