// The promotion record: an in-toto Statement v1 saying that Hoist copied this digest from the
// staging reference to these destination references, when, as which builder and version, and
// for which manifest (with the Git revision when Argo CD or Flux supply it).
import { hoistName, hoistVersion } from '../version.ts';
import { buildStatement } from './statement.ts';

export const PROMOTION_PREDICATE = 'https://k8s.io/promo-tools/promotion/v1';
export const HOIST_BUILDER_ID = 'https://hoist.dev/promoter';

export interface PromotionRecordInput {
  digest: string;
  source: string;
  destinations: { ref: string; tags: string[] }[];
  timestamp: Date;
  manifest?: { kind?: string; namespace?: string; name?: string; uid?: string; generation?: number; revision?: string };
}

export interface PromotionPredicate {
  source: { ref: string; digest: string };
  destinations: { ref: string; digest: string; tags: string[] }[];
  timestamp: string;
  promoter: { builderId: string; name: string; version: string };
  manifest?: PromotionRecordInput['manifest'];
}

export function promotionPredicate(input: PromotionRecordInput): PromotionPredicate {
  return {
    source: { ref: `${input.source}@${input.digest}`, digest: input.digest },
    destinations: input.destinations.map((d) => ({ ref: `${d.ref}@${input.digest}`, digest: input.digest, tags: [...d.tags].sort() }))
      .sort((a, b) => a.ref.localeCompare(b.ref)),
    timestamp: input.timestamp.toISOString(),
    promoter: { builderId: HOIST_BUILDER_ID, name: hoistName, version: hoistVersion },
    ...(input.manifest && Object.keys(input.manifest).length > 0 && { manifest: input.manifest }),
  };
}

/** The statement bytes: subjects are every destination reference of the digest. */
export function promotionStatement(input: PromotionRecordInput): Buffer {
  const subjects = input.destinations.map((d) => ({ name: d.ref, digest: input.digest }));
  return buildStatement(subjects.length ? subjects : [{ digest: input.digest }], PROMOTION_PREDICATE, promotionPredicate(input));
}
