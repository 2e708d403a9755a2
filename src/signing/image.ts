// Image signatures as cosign understands them: whether a digest carries a valid signature by an
// accepted signer (a v3 bundle whose statement has the cosign sign predicate, or a legacy
// simple-signing layer), and signing a digest so that every given repository has it.
import { IN_TOTO_PAYLOAD_TYPE, buildStatement, parseStatement, statementCovers } from './in-toto.ts';
import type { Descriptor, RegistryClient, Repository } from '../registry/index.ts';
import { appendLegacyLayers, attachReferrer, existingReferrer } from './attach.ts';
import { discover, type Found } from './discover.ts';
import { COSIGN_SIGN_PREDICATE, CosignMediaType, bundleManifest } from './formats.ts';
import type { SignerPolicy } from './policy.ts';
import type { SignatureFormat } from './options.ts';
import type { ArtifactSigner } from './signer.ts';
import { simpleSigningDigest, simpleSigningPayload } from './simple-signing.ts';
import { verifyFound, type Verdict, type VerificationReason, type Verified } from './verify.ts';

export interface SignatureCheck {
  /** Who made the first valid signature found. */
  signer?: string;
  /** The valid signature artifacts, for reuse and copying. */
  valid: Found[];
  /** The same, with what verification established (signer, times, log entries). */
  verified: { found: Found; verified: Verified }[];
  /** Why each other signature was rejected, or that there were none. */
  problems: string[];
}

/** Why a verified payload does not vouch for `digest` as an image signature, or undefined when it does. */
function signatureMismatch(found: Found, payloadType: string, payload: Buffer, digest: string): { reason: VerificationReason; why: string } | undefined {
  if (found.kind === 'simpleSigning') {
    const claim = simpleSigningDigest(payload);
    if ('error' in claim) return { reason: 'InvalidSignature', why: claim.error };
    return claim.digest === digest ? undefined : { reason: 'SignedDigestMismatch', why: `the payload's docker-manifest-digest is ${claim.digest}, not ${digest}` };
  }
  const parsed = parseStatement(payloadType, payload);
  if ('error' in parsed) return { reason: 'InvalidSignature', why: parsed.error };
  if (parsed.statement.predicateType !== COSIGN_SIGN_PREDICATE) return { reason: 'InvalidSignature', why: `an attestation (${parsed.statement.predicateType}), not a signature` };
  return statementCovers(parsed.statement, digest) ? undefined : { reason: 'SignedDigestMismatch', why: `the signed statement is about another digest than ${digest}` };
}

const isSignatureCandidate = (found: Found) =>
  found.kind === 'simpleSigning' || (found.kind === 'bundle' && (found.predicateType === undefined || found.predicateType === COSIGN_SIGN_PREDICATE));

/** Where a found artifact is, for messages. */
export const whereFound = (item: Found) => (item.kind === 'bundle' ? `bundle ${item.manifestDigest}` : `${item.tag} layer ${item.layer.digest}`);

/**
 * Verifies one signature artifact as a signature of the image `digest`: made by a signer the
 * policy accepts (verifyFound), and its payload names exactly this digest, since a valid
 * signature of another image proves nothing about this one.
 */
export function verifyImageSignature(item: Found, policy: SignerPolicy, digest: string): Verdict {
  const verdict = verifyFound(item, policy);
  if ('error' in verdict) return verdict;
  const mismatch = signatureMismatch(item, verdict.verified.payloadType, verdict.verified.payload, digest);
  return mismatch ? { reason: mismatch.reason, error: `${mismatch.reason}: ${mismatch.why}` } : verdict;
}

/** One policy for every artifact, or one per kind of artifact (recognising our own: recognise.ts). */
export type PolicyFor = SignerPolicy | ((kind: Found['kind']) => SignerPolicy);

export const policyOf = (policy: PolicyFor, found: Found): SignerPolicy => (typeof policy === 'function' ? policy(found.kind) : policy);

export async function checkSignatures(client: RegistryClient, repo: Repository, digest: string, policy: PolicyFor, signal?: AbortSignal): Promise<SignatureCheck> {
  const { found, problems } = await discover(client, repo, digest, signal);
  const result: SignatureCheck = { valid: [], verified: [], problems: [...problems] };
  const candidates = found.filter(isSignatureCandidate);
  for (const item of candidates) {
    const verdict = verifyImageSignature(item, policyOf(policy, item), digest);
    if ('error' in verdict) {
      result.problems.push(`${whereFound(item)}: ${verdict.error}`);
      continue;
    }
    result.signer ??= verdict.verified.signer;
    result.valid.push(item);
    result.verified.push({ found: item, verified: verdict.verified });
  }
  if (candidates.length === 0) result.problems.push(`no signatures on ${repo.host}/${repo.name}@${digest}`);
  return result;
}

export interface SignOutcome {
  /** A new signature was made (false: an existing one of ours was reused or everything had one). */
  signed: boolean;
  /** Repositories a signature was written to. */
  written: string[];
}

/**
 * Makes sure every repository holds a signature of `subject` by `signer` in each format, one
 * that counts as ours (signer.recognise: admission-grade, with the proofs our signer adds). Each
 * format is signed at most once per call, and the same bytes go to every repository that lacks
 * them: an existing signature of ours is copied, or the one new signature is. A `.sig` payload
 * names the first repository as its docker-reference; only its digest binds (cosign copies
 * signatures between repositories the same way).
 */
export async function ensureSigned(
  client: RegistryClient, signer: ArtifactSigner, subject: Descriptor, repos: Repository[],
  options: { formats?: SignatureFormat[]; legacy?: boolean; signal?: AbortSignal } = {},
): Promise<SignOutcome> {
  const { signal } = options;
  // `legacy` is the older switch: bundles always, `.sig` too when set.
  const formats = new Set<SignatureFormat>(options.formats ?? (options.legacy ? ['bundle', 'legacy'] : ['bundle']));
  const recognise = (kind: Found['kind']) => signer.recognise(kind);
  const checks = await Promise.all(repos.map((repo) => checkSignatures(client, repo, subject.digest, recognise, signal)));
  const outcome: SignOutcome = { signed: false, written: [] };
  const valid = checks.flatMap((c) => c.valid);
  const bundle = valid.find((f): f is Extract<Found, { kind: 'bundle' }> => f.kind === 'bundle');
  let artifact: Parameters<typeof attachReferrer>[3] | undefined = bundle && existingReferrer(bundle, COSIGN_SIGN_PREDICATE);
  const sig = valid.find((f): f is Extract<Found, { kind: 'simpleSigning' }> => f.kind === 'simpleSigning');
  let layer: { mediaType: string; data: Buffer; annotations: Record<string, string> } | undefined = sig && {
    mediaType: CosignMediaType.simpleSigning, data: sig.payload, annotations: sig.annotations ?? {},
  };
  const wrote = (repo: Repository) => {
    const name = `${repo.host}/${repo.name}`;
    if (!outcome.written.includes(name)) outcome.written.push(name);
  };
  for (const [i, repo] of repos.entries()) {
    const check = checks[i]!;
    if (formats.has('bundle') && !check.valid.some((f) => f.kind === 'bundle')) {
      if (!artifact) {
        const statement = buildStatement([{ digest: subject.digest }], COSIGN_SIGN_PREDICATE, {});
        artifact = bundleManifest(await signer.signDsse(IN_TOTO_PAYLOAD_TYPE, statement), subject, COSIGN_SIGN_PREDICATE, new Date());
        outcome.signed = true;
      }
      await attachReferrer(client, repo, subject.digest, artifact, signal);
      wrote(repo);
    }
    if (formats.has('legacy') && !check.valid.some((f) => f.kind === 'simpleSigning')) {
      if (!layer) {
        const payload = simpleSigningPayload(`${repo.host}/${repo.name}`, subject.digest);
        layer = { mediaType: CosignMediaType.simpleSigning, data: payload, annotations: (await signer.signBlob(payload)).annotations };
        outcome.signed = true;
      }
      await appendLegacyLayers(client, repo, subject.digest, 'sig', [layer], signal);
      wrote(repo);
    }
  }
  return outcome;
}
