// The SignatureReplication resource: brings the signatures and attestations a primary registry
// holds to every mirror of the digests some PromotionManifests cover, on its own interval, apart
// from promotion (as kpromo's periodic replicate-signatures job). Its zod schemas are the source
// of its TypeScript types, offline validation and its CRD (src/api/signature-replication-crd.ts).
import { z } from 'zod';
import { withRules } from './cel.ts';
import { CONDITION_REASON_PATTERN, DURATION_PATTERN, REGISTRY_NAME_PATTERN } from './patterns.ts';
import { group, version } from './promotion-manifest.ts';

export { group, version };
export const replicationApiVersion = `${group}/${version}`;
export const replicationKind = 'SignatureReplication';
export const replicationNames = {
  kind: replicationKind,
  listKind: 'SignatureReplicationList',
  plural: 'signaturereplications',
  singular: 'signaturereplication',
  shortNames: ['sigrep'],
  categories: ['hoist'],
} as const;

export const replicationLimits = {
  manifestNames: 1024,
  selectorEntries: 32,
  statusFailures: 20,
} as const;

/** The signature formats a replication carries: legacy `.sig`/`.att` tags and OCI referrers (sigstore bundles). */
export const replicationFormats = ['legacy', 'bundle'] as const;
export type ReplicationFormat = (typeof replicationFormats)[number];

const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const LABEL_KEY = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';
const LABEL_VALUE = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';

const labelSelector = z.strictObject({
  matchLabels: z.record(z.string().max(317).regex(new RegExp(LABEL_KEY)), z.string().max(63).regex(new RegExp(LABEL_VALUE)))
    .meta({ maxProperties: replicationLimits.selectorEntries }).optional()
    .describe('Labels a PromotionManifest must carry, all of them.'),
  matchExpressions: z.array(withRules(z.strictObject({
    key: z.string().max(317).regex(new RegExp(LABEL_KEY)),
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
    values: z.array(z.string().max(63).regex(new RegExp(LABEL_VALUE))).max(64).optional(),
  }), [{
    rule: "(self.operator == 'In' || self.operator == 'NotIn') ? (has(self.values) && size(self.values) > 0) : !has(self.values) || size(self.values) == 0",
    message: 'In and NotIn need values; Exists and DoesNotExist take none',
    holds: (e) => (e.operator === 'In' || e.operator === 'NotIn') ? (e.values?.length ?? 0) > 0 : (e.values?.length ?? 0) === 0,
  }])).max(replicationLimits.selectorEntries).optional().describe('Label requirements, as a Kubernetes label selector has them.'),
}).describe('A label selector over the PromotionManifests of this namespace; {} selects them all.');

export type LabelSelector = z.output<typeof labelSelector>;

const manifests = withRules(
  z.strictObject({
    names: z.array(z.string().min(1).max(253).regex(new RegExp(DNS_SUBDOMAIN))).max(replicationLimits.manifestNames).optional()
      .meta({ 'x-kubernetes-list-type': 'set' }).describe('PromotionManifests of this namespace, by name.'),
    selector: labelSelector.optional(),
  }),
  [{
    rule: 'has(self.names) || has(self.selector)',
    message: 'name the PromotionManifests (names) or select them (selector; {} selects every one in the namespace)',
    holds: (m) => m.names !== undefined || m.selector !== undefined,
  }],
).describe('Which PromotionManifests of this namespace the replication covers: every digest they promote, to every registry they promote it to. A manifest named or selected is covered; both may be given.');

const primary = withRules(
  z.strictObject({
    source: z.boolean().optional().describe('The staging registry (src: true) of each manifest holds the signatures the mirrors get.'),
    registry: z.string().max(255).regex(new RegExp(REGISTRY_NAME_PATTERN)).optional()
      .describe('The canonical production registry: the destination of each manifest whose name is this or starts with this and a slash, e.g. us-central1-docker.pkg.dev/k8s-artifacts-prod/images. Every other destination is a mirror.'),
  }),
  [{
    rule: 'has(self.registry) != (has(self.source) && self.source)',
    message: 'set exactly one of registry or source: true',
    holds: (p) => (p.registry !== undefined) !== (p.source === true),
  }],
).describe('Where the signatures come from. What the primary holds for a digest is what every mirror gets, byte for byte; nothing is read at a mirror for a digest the primary holds nothing for.');

export const signatureReplicationSpecSchema = z.strictObject({
  manifests,
  primary,
  formats: z.array(z.enum(replicationFormats)).min(1).max(2).default(['legacy', 'bundle']).meta({ 'x-kubernetes-list-type': 'set' })
    .describe('What is replicated: legacy (the sha256-<hex>.sig and .att tags) and bundle (OCI referrers: sigstore bundles, through the referrers API or its sha256-<hex> tag index). A primary serving the referrers API costs one referrers read per digest there for bundle.'),
  check: z.enum(['Presence', 'Digest']).default('Presence')
    .describe('Presence: a mirror tag that exists counts as replicated (tag lists only; the steady state costs nothing more). Digest: also compares each present tag\'s digest with the primary\'s (a HEAD per tag and mirror) and repairs one that lags behind.'),
  interval: z.string().regex(new RegExp(DURATION_PATTERN)).default('30m')
    .describe('How often the replication runs, as a Go duration; at most 576h.'),
  suspend: z.boolean().default(false).describe('Stops replicating until set back to false.'),
  timeout: z.string().regex(new RegExp(DURATION_PATTERN)).optional().describe('Upper bound for one run, as a Go duration; default 1h.'),
}).describe('Which signatures to bring from where to where, and how often.');

const count = z.int().min(0);

const condition = z.object({
  type: z.string().min(1).max(316).describe('Condition type: Ready, Reconciling or Stalled.'),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: z.iso.datetime(),
  reason: z.string().min(1).max(1024).regex(new RegExp(CONDITION_REASON_PATTERN)),
  message: z.string().max(32768),
});

export const replicationCountsSchema = z.object({
  digests: count.describe('Digests covered (each with its primary repository), index children found signed included.'),
  unsigned: count.describe('Of those, digests the primary holds nothing for: no mirror was read for them.'),
  signed: count.describe('Digests the primary holds signatures or attestations for.'),
  mirrors: count.describe('(digest, mirror repository) pairs checked: signed digests times their mirrors.'),
  inSync: count.describe('Pairs that already held what the primary holds.'),
  repaired: count.describe('Pairs this run wrote to (or would write to, in a dry run).'),
  artifacts: count.describe('Tags and referrer manifests written (or that would be).'),
  notPromoted: count.describe('Pairs skipped because the digest itself is not in that mirror (yet): nothing is written for it.'),
  diverged: count.describe('Pairs whose .sig/.att holds signatures the primary lacks: left as they are (see SignatureDiverged).'),
  failed: count.describe('Pairs whose reads or writes failed.'),
});

export const signatureReplicationStatusSchema = z.object({
  observedGeneration: z.int().min(0).optional(),
  conditions: z.array(condition).max(8).optional().describe('Ready, Reconciling and Stalled (kstatus).'),
  lastHandledReconcileAt: z.string().max(256).optional().describe('Value of the reconcile.hoist.dev/requestedAt annotation last acted on.'),
  counts: replicationCountsSchema.partial().optional().describe('Counts of the last run (of the running one while it goes on).'),
  progress: z.object({
    step: z.enum(['ListPrimary', 'ListMirrors', 'Copy']),
    done: count,
    total: count,
  }).optional().describe('Where a running replication is; absent between runs.'),
  lastRun: z.object({
    startedAt: z.iso.datetime(),
    durationMs: count,
    requests: count.optional().describe('Registry requests the run made.'),
  }).optional(),
  failures: z.array(z.object({
    mirror: z.string().max(512).describe('Mirror repository.'),
    digest: z.string().max(80),
    reason: z.string().max(128),
    message: z.string().max(1024).optional(),
  })).max(replicationLimits.statusFailures).optional()
    .describe(`Pairs that failed or diverged in the last run; at most ${replicationLimits.statusFailures}, see events and logs for all.`),
}).describe('What the last run did.');

export const signatureReplicationSchema = z.object({
  apiVersion: z.literal(replicationApiVersion),
  kind: z.literal(replicationKind),
  metadata: z.object({ name: z.string().min(1), namespace: z.string().min(1).optional() }).loose(),
  spec: signatureReplicationSpecSchema,
  status: signatureReplicationStatusSchema.optional(),
});

export type SignatureReplicationSpec = z.output<typeof signatureReplicationSpecSchema>;
export type SignatureReplicationSpecInput = z.input<typeof signatureReplicationSpecSchema>;
export type SignatureReplicationStatus = z.output<typeof signatureReplicationStatusSchema>;
export type SignatureReplication = z.output<typeof signatureReplicationSchema>;
export type ReplicationCounts = z.output<typeof replicationCountsSchema>;

/** Whether `labels` satisfy a Kubernetes label selector; an empty selector selects everything. */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>> = {}): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const ok = operator === 'Exists' ? has
      : operator === 'DoesNotExist' ? !has
        : operator === 'In' ? has && values.includes(labels[key]!)
          : !has || !values.includes(labels[key]!);
    if (!ok) return false;
  }
  return true;
}

/** Whether a PromotionManifest (its name and labels) is covered by the replication's `manifests`. */
export function coversManifest(spec: Pick<SignatureReplicationSpec, 'manifests'>, manifest: { name?: string; labels?: Record<string, string> }): boolean {
  if (manifest.name !== undefined && spec.manifests.names?.includes(manifest.name)) return true;
  return spec.manifests.selector !== undefined && selectorMatches(spec.manifests.selector, manifest.labels);
}
