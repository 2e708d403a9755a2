// The PromotionManifest resource: its zod schemas are the single source of truth for the
// TypeScript types, for offline validation and for the CRD (scripts/generate-crd.ts).
import { z } from 'zod';
import { serverRules, withRules } from './cel.ts';
import {
  CONDITION_REASON_PATTERN, DIGEST_PATTERN, DURATION_PATTERN, IMAGE_NAME_PATTERN, REGISTRY_NAME_PATTERN, TAG_PATTERN,
} from './patterns.ts';

export const group = 'hoist.dev';
export const version = 'v1alpha1';
export const apiVersion = `${group}/${version}`;
export const kind = 'PromotionManifest';
export const names = {
  kind,
  listKind: 'PromotionManifestList',
  plural: 'promotionmanifests',
  singular: 'promotionmanifest',
  shortNames: ['pm'],
  categories: ['hoist'],
} as const;

// Bounds keep CEL rules within the API server's cost budget and objects within what kubectl
// applies; status lists are capped because per-image detail belongs in events and logs. Chosen
// from registry.k8s.io's real tree: at most 70 destination registries in a project, ~500 images
// in one images.yaml; `hoist convert` splits larger projects (by size first: 192 KiB of JSON per
// resource, see src/manifest/split.ts; an image with more digests is split by digest). The
// dmap's CEL key rule costs images x digestsPerImage: the API server refuses the CRD above
// about 600,000 (1,024 x 4,096 was 4.2 times over its budget).
export const limits = {
  registries: 128,
  images: 512,
  digestsPerImage: 1024,
  tagsPerDigest: 64,
  policyEntries: 32,
  statusPhases: 16,
  statusFailedImages: 20,
  statusAttestations: 50,
  statusPending: 50,
  statusFailureGroups: 10,
  statusAdmission: 20,
} as const;

const listMapByName = { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] };

const secretRef = z.strictObject({
  name: z.string().min(1).max(253).describe('Name of a Secret in the namespace of the PromotionManifest.'),
});

export const registrySchema = z.strictObject({
  name: z.string().max(255).regex(new RegExp(REGISTRY_NAME_PATTERN))
    .describe('Registry host and optional path prefix, e.g. us-central1-docker.pkg.dev/k8s-artifacts-prod/images/bom. Image references are <name>/<image name>.'),
  src: z.boolean().default(false)
    .describe('Marks the source (staging) registry; exactly one registry has src: true, every other one is a destination.'),
  credentials: z.strictObject({
    secretRef: secretRef.describe('A kubernetes.io/dockerconfigjson Secret with the credentials for this registry.'),
  }).optional().describe('Credentials for this registry; anonymous access when omitted.'),
});

export const imageSchema = z.strictObject({
  name: z.string().max(255).regex(new RegExp(IMAGE_NAME_PATTERN))
    .describe('Repository path below every registry, e.g. bom or sig-storage/csi-attacher.'),
  dmap: serverRules(
    z.record(
      z.string().regex(new RegExp(DIGEST_PATTERN)),
      z.array(z.string().regex(new RegExp(TAG_PATTERN))).max(limits.tagsPerDigest),
    ),
    [{ rule: `self.all(d, d.matches('${DIGEST_PATTERN}'))`, message: 'every dmap key must be a digest: sha256: followed by 64 lowercase hex digits' }],
  ).meta({ minProperties: 1, maxProperties: limits.digestsPerImage })
    .describe('Digest map: each source digest (sha256:...) to the tags it gets in every destination; an empty list promotes the digest without tags.'),
});

const policyMode = z.enum(['Enforce', 'Warn', 'Off']).default('Enforce')
  .describe('Enforce stops the run when verification fails; Warn records the failure and goes on; Off skips verification.');

const identity = withRules(
  z.strictObject({
    issuer: z.string().min(1).optional().describe('Exact OIDC issuer of the signing certificate, e.g. https://accounts.google.com (cosign --certificate-oidc-issuer).'),
    issuerRegExp: z.string().min(1).optional().describe('RE2 regular expression the OIDC issuer must match (cosign --certificate-oidc-issuer-regexp).'),
    subject: z.string().min(1).optional().describe('Exact certificate subject (SAN), e.g. an email or workflow URI.'),
    subjectRegExp: z.string().min(1).optional().describe('RE2 regular expression the certificate subject must match.'),
  }),
  [{
    rule: 'has(self.subject) != has(self.subjectRegExp)',
    message: 'set exactly one of subject or subjectRegExp',
    holds: (v) => (v.subject === undefined) !== (v.subjectRegExp === undefined),
  }, {
    rule: 'has(self.issuer) != has(self.issuerRegExp)',
    message: 'set exactly one of issuer or issuerRegExp',
    holds: (v) => (v.issuer === undefined) !== (v.issuerRegExp === undefined),
  }],
).describe('A keyless signer: issuer (or issuer pattern) and subject (or subject pattern) of its Fulcio certificate.');

const signaturePolicy = withRules(
  z.strictObject({
    mode: policyMode,
    identities: z.array(identity).max(limits.policyEntries).optional().describe('Keyless signers whose signatures are accepted.'),
    keys: z.array(z.strictObject({ secretRef: secretRef.describe('Secret holding a PEM public key under the key cosign.pub.') }))
      .max(limits.policyEntries).optional().describe('Public keys whose signatures are accepted.'),
    insecureIgnoreTlog: z.boolean().optional()
      .describe('Accept signatures without a transparency-log entry, as cosign --insecure-ignore-tlog; keyless signatures then need an RFC 3161 timestamp. Default false.'),
    insecureIgnoreSCT: z.boolean().optional()
      .describe('Accept Fulcio certificates without a signed certificate timestamp, as cosign --insecure-ignore-sct (a private Fulcio without a CT log). Default false.'),
  }),
  [{
    rule: "self.mode == 'Off' || (has(self.identities) && size(self.identities) > 0) || (has(self.keys) && size(self.keys) > 0)",
    message: 'a signature policy that is not Off needs at least one identity or key',
    holds: (v) => v.mode === 'Off' || (v.identities?.length ?? 0) > 0 || (v.keys?.length ?? 0) > 0,
  }],
).describe('Which signatures a staging digest must carry before it is promoted.');

const provenancePolicy = withRules(
  z.strictObject({
    mode: policyMode,
    builderIds: z.array(z.string().min(1)).max(limits.policyEntries).optional()
      .describe('Accepted SLSA builder ids, e.g. https://cloudbuild.googleapis.com/GoogleHostedWorker.'),
    sourceRepositories: z.array(z.string().min(1)).max(limits.policyEntries).optional()
      .describe('Accepted source repositories, e.g. https://github.com/kubernetes-sigs/bom.'),
  }),
  [{
    rule: "self.mode == 'Off' || (has(self.builderIds) && size(self.builderIds) > 0)",
    message: 'a provenance policy that is not Off needs at least one builder id',
    holds: (v) => v.mode === 'Off' || (v.builderIds?.length ?? 0) > 0,
  }],
).describe('Which SLSA provenance a staging digest must have before it is promoted.');

const keyRef = (what: string) => z.strictObject({
  name: z.string().min(1).max(253).describe(`Name of a ${what} in the namespace of the PromotionManifest.`),
  key: z.string().min(1).max(253).regex(/^[-._a-zA-Z0-9]+$/).optional().describe('Key holding the trusted_root.json; default trusted_root.json.'),
});

const trustedRoot = withRules(
  z.strictObject({
    configMapRef: keyRef('ConfigMap').optional().describe('A ConfigMap holding a sigstore trusted_root.json.'),
    secretRef: keyRef('Secret').optional().describe('A Secret holding a sigstore trusted_root.json.'),
  }),
  [{
    rule: 'has(self.configMapRef) != has(self.secretRef)',
    message: 'set exactly one of configMapRef or secretRef',
    holds: (v) => (v.configMapRef === undefined) !== (v.secretRef === undefined),
  }],
).describe('The sigstore trusted root (Fulcio CAs, Rekor and CT logs, timestamp authorities) to verify staging signatures against, instead of the controller\'s (--trusted-root, else the public-good root).');

const signing = withRules(
  z.strictObject({
    keyless: z.strictObject({
      audience: z.string().min(1).optional().describe('Audience of the projected ServiceAccount token sent to Fulcio; sigstore by default.'),
    }).optional().describe('Sign with a short-lived Fulcio certificate for the controller\'s ServiceAccount identity.'),
    key: z.strictObject({
      secretRef: secretRef.describe('Secret holding the cosign private key (cosign.key) and its password (cosign.password).'),
    }).optional().describe('Sign with a private key.'),
    formats: z.array(z.enum(['bundle', 'legacy'])).min(1).max(2).optional()
      .describe('Signature and attestation formats written: bundle (OCI referrers, cosign v3) and/or legacy (sha256-<hex>.sig/.att tags, what sigstore policy-controller and Kyverno read by default). Default both; both are always read.'),
  }),
  [{
    rule: 'has(self.keyless) != has(self.key)',
    message: 'set exactly one of keyless or key',
    holds: (v) => (v.keyless === undefined) !== (v.key === undefined),
  }],
).describe('How promoted digests are signed; not signed when omitted.');

export const promotionManifestSpecSchema = z.strictObject({
  // Names are list-map keys: the API server refuses a duplicate name itself (no quadratic CEL
  // rule), and server-side apply merges entries by name.
  registries: serverRules(
    z.array(registrySchema).min(2).max(limits.registries),
    [{ rule: 'self.exists_one(r, r.src)', message: 'exactly one registry must have src: true; set src: false on all others' }],
  ).meta(listMapByName).describe('The source registry (src: true) and the destination registries; names are unique.'),
  images: z.array(imageSchema).max(limits.images).meta(listMapByName)
    .describe('Images to promote: for each, the digests and their tags; names are unique. May be empty (nothing to promote yet).'),
  mode: z.enum(['Promote', 'Plan']).default('Promote')
    .describe('Promote copies, signs and attests; Plan only plans and verifies (a dry run).'),
  interval: z.string().regex(new RegExp(DURATION_PATTERN)).default('10m')
    .describe('How often the manifest is reconciled when nothing changes, as a Go duration (e.g. 10m, 1h); at most 576h.'),
  verifyInterval: z.string().regex(new RegExp(DURATION_PATTERN)).default('24h')
    .describe('How long a destination tag\'s digest, and whether a digest carries its signatures, read in an earlier run are believed while the tag list still shows them; then they are read again. A tag deleted is seen on the next run; a tag moved to another digest within the interval is not. 0s reads every tag on every run.'),
  suspend: z.boolean().default(false).describe('Stops reconciling until set back to false.'),
  timeout: z.string().regex(new RegExp(DURATION_PATTERN)).optional().describe('Upper bound for one run, as a Go duration; at most 576h.'),
  verification: z.strictObject({
    signatures: signaturePolicy.optional(),
    provenance: provenancePolicy.optional(),
    trustedRoot: trustedRoot.optional(),
  }).optional().describe('Checks on staging digests before anything is copied.'),
  signing: signing.optional(),
  attestation: z.strictObject({
    enabled: z.boolean().default(true).describe('Attach an in-toto promotion record to each promoted digest.'),
  }).optional().describe('Promotion attestations.'),
}).describe('What to promote from where to where, and the checks on the way.');

const condition = z.object({
  type: z.string().min(1).max(316).describe('Condition type, e.g. Ready, Reconciling, Stalled, or a phase name.'),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: z.iso.datetime().describe('When the status last changed.'),
  reason: z.string().min(1).max(1024).regex(new RegExp(CONDITION_REASON_PATTERN)).describe('CamelCase reason.'),
  message: z.string().max(32768).describe('Human-readable detail.'),
});

const count = z.int().min(0);

export const promotionManifestStatusSchema = z.object({
  observedGeneration: z.int().min(0).optional().describe('The generation the status describes.'),
  conditions: z.array(condition).max(32).optional().describe('Ready, Reconciling and Stalled (kstatus), plus one per phase.'),
  lastHandledReconcileAt: z.string().max(256).optional()
    .describe('Value of the reconcile.hoist.dev/requestedAt annotation last acted on.'),
  counts: z.object({
    planned: count, promoted: count, alreadyPresent: count, lost: count, failed: count, tagMoves: count,
  }).partial().optional().describe('Edge counts of the last run.'),
  inventory: z.object({
    desired: count.describe('Edges the spec names, refused dmap entries included.'),
    present: count.describe('Edges whose digest and tags are in production.'),
    refused: count.describe('Edges refused: tag moves, lost digests, failed verification, refused dmap entries.'),
    failed: count.describe('Edges whose read or copy failed.'),
    presentOfDesired: z.string().max(32).describe('present/desired, for kubectl get.'),
  }).partial().optional().describe('The state of production as the last run that read the registries found it; absent when the last run could not read them.'),
  lastPromoted: z.object({
    at: z.iso.datetime().describe('When the run that promoted started.'),
    edges: count.describe('Edges that run promoted.'),
    interrupted: z.boolean().optional().describe('The run was interrupted (a killed controller); the next run found its copies in production.'),
  }).optional().describe('The last run that promoted something.'),
  progress: z.object({
    startedAt: z.iso.datetime(),
    generation: count,
    phase: z.string().max(64).optional(),
    done: count.optional(),
    total: count.optional(),
    toPromote: count.optional().describe('Edges Plan found missing; what this run is copying.'),
    presentBefore: count.optional().describe('Edges present when Plan ended.'),
    pending: z.array(z.string().max(512)).max(limits.statusPending).optional()
      .describe('The first edges this run is copying (destination references), so a run that is killed still tells what it was promoting.'),
  }).optional().describe('The run going on now: written at a bounded rate, and before anything is copied; removed when the run ends.'),
  failures: z.array(z.object({
    host: z.string().max(255).describe('The registry host whose read or write failed.'),
    reason: z.string().max(128),
    edges: count,
    message: z.string().max(1024).optional(),
  })).max(limits.statusFailureGroups).optional().describe('Failed edges of the last run rolled up per registry host and reason.'),
  admission: z.array(z.object({
    image: z.string().max(512).describe('Destination image reference.'),
    admissible: z.boolean(),
    reason: z.string().max(128),
    message: z.string().max(1024).optional(),
  })).max(limits.statusAdmission).optional().describe('Whether an admission controller with sigstore policy-controller\'s defaults (legacy .sig, a Rekor entry) would admit each signed digest in each destination; the first entries.'),
  phases: z.array(z.object({
    name: z.string().min(1).max(64),
    result: z.enum(['Succeeded', 'Failed', 'Skipped']),
    durationMs: count,
    message: z.string().max(1024).optional(),
  })).max(limits.statusPhases).optional().describe('Results of the phases of the last run, in order.'),
  failedImages: z.array(z.object({
    image: z.string().max(512).describe('Destination image reference.'),
    digest: z.string().max(80),
    reason: z.string().max(128).optional(),
    message: z.string().max(1024).optional(),
  })).max(limits.statusFailedImages).optional().describe(`Images that failed in the last run; at most ${limits.statusFailedImages}, see events for all.`),
  attestations: z.array(z.object({
    digest: z.string().max(80).describe('The promoted digest the attestation is about.'),
    ref: z.string().max(512).describe('Reference of the attestation in the destination registry.'),
  })).max(limits.statusAttestations).optional().describe('Promotion attestations written by the last run.'),
}).describe('What the last run did.');

export const promotionManifestSchema = z.object({
  apiVersion: z.literal(apiVersion),
  kind: z.literal(kind),
  metadata: z.object({ name: z.string().min(1), namespace: z.string().min(1).optional() }).loose(),
  spec: promotionManifestSpecSchema,
  status: promotionManifestStatusSchema.optional(),
});

export type PromotionManifestSpec = z.output<typeof promotionManifestSpecSchema>;
export type PromotionManifestSpecInput = z.input<typeof promotionManifestSpecSchema>;
export type PromotionManifestStatus = z.output<typeof promotionManifestStatusSchema>;
export type PromotionManifest = z.output<typeof promotionManifestSchema>;
export type Condition = z.output<typeof condition>;
