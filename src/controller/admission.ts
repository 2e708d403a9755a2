// After Sign: would an admission controller configured like sigstore policy-controller's
// defaults (legacy `.sig`, a Rekor entry required) admit what this run put in production? One
// line per digest and destination, checked on the destination with the signing library's own
// verification (src/signing/admission.ts), capped, and rolled into an `Admissible` condition.
import { limits, type PromotionManifestStatus } from '../api/promotion-manifest.ts';
import { formatReference } from '../api/reference.ts';
import type { RunReport, TrustOptions } from '../pipeline/index.ts';
import type { RegistryClient } from '../registry/index.ts';
import { admissionPolicy, checkAdmission } from '../signing/admission.ts';
import { artifactSigner, ownTrustedRootOf } from '../signing/trust-material.ts';
import { clipText } from './inventory.ts';

export type AdmissionLine = NonNullable<PromotionManifestStatus['admission']>[number];

/** Destinations (repository and digest) that hold a digest this run promoted or found present. */
function targets(report: RunReport): { repo: { host: string; name: string }; digest: string }[] {
  const seen = new Map<string, { repo: { host: string; name: string }; digest: string }>();
  for (const { edge, state } of report.edges) {
    if (state !== 'promoted' && state !== 'present') continue;
    const key = formatReference({ ...edge.dst, digest: edge.digest });
    if (!seen.has(key)) seen.set(key, { repo: edge.dst, digest: edge.digest });
  }
  return [...seen.values()];
}

/**
 * The admission lines of a run that signed: undefined when it did not (no signing, Sign not
 * reached or failed). Newly promoted digests come first, so the cap keeps what changed.
 */
export async function admissionLines(client: RegistryClient, report: RunReport, trust: TrustOptions | undefined, signal?: AbortSignal): Promise<AdmissionLine[] | undefined> {
  if (!trust?.signing || report.mode !== 'Promote' || report.phases.find((p) => p.name === 'Sign')?.result !== 'Succeeded') return undefined;
  const signer = await artifactSigner(trust);
  if (!signer) return undefined;
  // The controller's own root, never the manifest's: a tenant's root must not make a forgery admissible.
  const policy = await admissionPolicy(signer, await ownTrustedRootOf(trust));
  const promoted = new Set(report.edges.filter((e) => e.state === 'promoted').map((e) => e.edge.digest));
  const chosen = targets(report).sort((a, b) => Number(promoted.has(b.digest)) - Number(promoted.has(a.digest))).slice(0, limits.statusAdmission);
  const lines: AdmissionLine[] = [];
  for (const { repo, digest } of chosen) {
    const verdict = await checkAdmission(client, repo, digest, policy, signal).catch((error: unknown) => ({ admissible: false, reason: 'InvalidSignature' as const, message: (error as Error).message }));
    lines.push({ image: clipText(formatReference({ ...repo, digest }), 512), admissible: verdict.admissible, reason: verdict.reason, message: clipText(verdict.message, 1024) });
  }
  return lines;
}

/** The Admissible condition from the lines: True when every checked digest would be admitted. */
export function admissibleCondition(lines: readonly AdmissionLine[]): { type: 'Admissible'; status: 'True' | 'False'; reason: string; message: string } {
  const refused = lines.filter((l) => !l.admissible);
  if (refused.length === 0) {
    return { type: 'Admissible', status: 'True', reason: 'Admissible', message: `${lines.length} signed digest(s) checked: policy-controller's defaults (legacy .sig, Rekor entry) would admit each` };
  }
  const first = refused[0]!;
  return { type: 'Admissible', status: 'False', reason: first.reason, message: clipText(`${refused.length} of ${lines.length} signed digest(s) would be refused by policy-controller's defaults; first: ${first.message}`, 4096) };
}
