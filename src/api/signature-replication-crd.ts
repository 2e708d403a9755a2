// The SignatureReplication CustomResourceDefinition: its columns and description; crd.ts's one
// builder does the rest, as for PromotionManifest.
import { buildKindCrd, readyCondition, renderCrdFile } from './crd.ts';
import {
  replicationKind, replicationNames, signatureReplicationSpecSchema, signatureReplicationStatusSchema,
} from './signature-replication.ts';

type JsonSchema = { [key: string]: unknown };

export function buildReplicationCrd(): JsonSchema {
  return buildKindCrd({
    kind: replicationKind, names: replicationNames,
    description: `${replicationKind} brings the signatures and attestations a primary registry holds for the digests of some PromotionManifests to every mirror registry they are promoted to, byte for byte, on its own interval.`,
    printerColumns: [
      { name: 'Ready', type: 'string', jsonPath: `${readyCondition}.status` },
      { name: 'Signed', type: 'integer', jsonPath: '.status.counts.signed', description: 'Digests the primary holds signatures or attestations for' },
      { name: 'Repaired', type: 'integer', jsonPath: '.status.counts.repaired', description: 'Mirror copies the last run wrote to' },
      { name: 'Failed', type: 'integer', jsonPath: '.status.counts.failed', description: 'Mirror copies whose reads or writes failed in the last run' },
      { name: 'Last Run', type: 'date', jsonPath: '.status.lastRun.startedAt' },
      { name: 'Suspended', type: 'boolean', jsonPath: '.spec.suspend' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      { name: 'Primary', type: 'string', jsonPath: '.spec.primary.registry', priority: 1 },
      { name: 'In Sync', type: 'integer', jsonPath: '.status.counts.inSync', priority: 1, description: 'Mirror copies that already held what the primary holds' },
      { name: 'Status', type: 'string', jsonPath: `${readyCondition}.message`, priority: 1 },
    ],
    spec: signatureReplicationSpecSchema,
    status: signatureReplicationStatusSchema,
  });
}

export const replicationCrdFile = 'crds/hoist.dev_signaturereplications.yaml';

export function renderReplicationCrd(): string {
  return renderCrdFile(buildReplicationCrd(), 'src/api/signature-replication.ts');
}
