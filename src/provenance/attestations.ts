// Attestations attached to a digest (v3 bundles among its referrers, legacy `.att` layers):
// verified against a signer policy and parsed into in-toto statements about that digest; and
// attaching one so that it is findable the way `cosign verify-attestation` looks.
import { discover, type Found } from '../signing/discover.ts';
import { COSIGN_SIGN_PREDICATE, CosignMediaType, bundleManifest } from '../signing/formats.ts';
import { appendLegacyLayers, attachReferrer } from '../signing/attach.ts';
import { legacyAttestationLayer } from '../signing/legacy.ts';
import type { ArtifactSigner } from '../signing/signer.ts';
import { policyOf, type PolicyFor } from '../signing/image.ts';
import { verifyFound, type Verified } from '../signing/verify.ts';
import type { Descriptor, RegistryClient, Repository } from '../registry/index.ts';
import { parseStatement, statementCovers, type Statement } from './statement.ts';

export interface VerifiedAttestation {
  statement: Statement;
  signer: string;
  found: Found;
  /** What verification established: identity, verified times, log entries. */
  verified: Verified;
}

export interface AttestationCheck {
  verified: VerifiedAttestation[];
  problems: string[];
}

/** Verified statements about `digest` with one of `predicateTypes` (none: any); the rest explained in `problems`. */
export async function checkAttestations(
  client: RegistryClient, repo: Repository, digest: string, predicateTypes: string[], policy: PolicyFor, signal?: AbortSignal,
): Promise<AttestationCheck> {
  const { found, problems } = await discover(client, repo, digest, signal);
  const result: AttestationCheck = { verified: [], problems: [...problems] };
  const any = predicateTypes.length === 0;
  const candidates = found.filter((f) => f.kind !== 'simpleSigning' && f.predicateType !== COSIGN_SIGN_PREDICATE
    && (any || f.predicateType === undefined || predicateTypes.includes(f.predicateType)));
  for (const item of candidates) {
    const where = item.kind === 'bundle' ? `bundle ${item.manifestDigest}` : item.kind === 'envelope' ? `${item.tag} layer ${item.layer.digest}` : '';
    const verdict = verifyFound(item, policyOf(policy, item));
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
    if (parsed.statement.predicateType === COSIGN_SIGN_PREDICATE || (!any && !predicateTypes.includes(parsed.statement.predicateType))) continue;
    if (!statementCovers(parsed.statement, digest)) {
      result.problems.push(`${where}: statement is about another digest`);
      continue;
    }
    result.verified.push({ statement: parsed.statement, signer: verdict.verified.signer, found: item, verified: verdict.verified });
  }
  if (result.verified.length === 0 && candidates.length === 0) {
    result.problems.push(`no ${any ? '' : `${predicateTypes.join(' or ')} `}attestations on ${repo.host}/${repo.name}@${digest}`);
  }
  return result;
}

/**
 * Attaches a signed DSSE bundle as cosign v3 does (a referrer; its manifest digest is returned,
 * for the status), and with `legacy` also as a layer of the `sha256-<hex>.att` tag, which
 * policy-controller and Kyverno read by default.
 */
export async function attachAttestation(
  client: RegistryClient, repo: Repository, subject: Descriptor, bundle: Buffer, predicateType: string, signal?: AbortSignal,
  legacy?: { data: Buffer; annotations: Record<string, string> },
): Promise<string> {
  const digest = await attachReferrer(client, repo, subject.digest, bundleManifest(bundle, subject, predicateType, new Date()), signal);
  if (legacy) await attachLegacyAttestation(client, repo, subject.digest, legacy, signal);
  return digest;
}

/** Appends an attestation layer to the `sha256-<hex>.att` tag of `digest`, keeping what is there. */
export async function attachLegacyAttestation(
  client: RegistryClient, repo: Repository, digest: string, legacy: { data: Buffer; annotations: Record<string, string> }, signal?: AbortSignal,
): Promise<void> {
  await appendLegacyLayers(client, repo, digest, 'att', [{ mediaType: CosignMediaType.dsseEnvelope, data: legacy.data, annotations: legacy.annotations }], signal);
}

/** The `.att` layer for a bundle our signer made, with a timestamp over its envelope when a TSA is configured. */
export async function legacyAttestation(signer: ArtifactSigner, bundle: Buffer, predicateType: string): Promise<{ data: Buffer; annotations: Record<string, string> }> {
  const draft = legacyAttestationLayer(bundle, predicateType);
  const token = await signer.timestamp(draft.data);
  return token ? legacyAttestationLayer(bundle, predicateType, token) : draft;
}
