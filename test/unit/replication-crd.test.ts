// The committed SignatureReplication CRD is what its zod schemas generate, with its rules,
// columns and status subresource; the chart carries the same copy (scripts/sync-chart-crds.sh).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { buildReplicationCrd, renderReplicationCrd, replicationCrdFile } from '../../src/api/signature-replication-crd.ts';

test('the committed SignatureReplication CRD is current, in crds/ and in the chart', () => {
  assert.ok(readFileSync(replicationCrdFile, 'utf8') === renderReplicationCrd(), `${replicationCrdFile} is out of date with src/api; run npm run generate:crd`);
  const chart = readFileSync('charts/hoist/templates/crds/hoist.dev_signaturereplications.yaml', 'utf8');
  assert.match(chart, /^\{\{- if \.Values\.crds\.enabled \}\}/);
  assert.ok(chart.includes('name: signaturereplications.hoist.dev'), 'run scripts/sync-chart-crds.sh');
});

test('the CRD carries its names, columns, status subresource and CEL rules', () => {
  const crd = buildReplicationCrd() as any;
  assert.equal(crd.metadata.name, 'signaturereplications.hoist.dev');
  assert.deepEqual(crd.spec.names.shortNames, ['sigrep']);
  const v = crd.spec.versions[0];
  assert.deepEqual(v.subresources, { status: {} });
  assert.deepEqual(v.additionalPrinterColumns.filter((c: any) => !c.priority).map((c: any) => c.name), ['Ready', 'Signed', 'Repaired', 'Failed', 'Last Run', 'Suspended', 'Age']);
  const spec = v.schema.openAPIV3Schema.properties.spec;
  assert.deepEqual(spec.required, ['manifests', 'primary']);
  assert.deepEqual(spec.properties.primary['x-kubernetes-validations'].map((r: any) => r.rule), ["has(self.registry) != (has(self.source) && self.source)"]);
  assert.deepEqual(spec.properties.manifests['x-kubernetes-validations'].map((r: any) => r.rule), ['has(self.names) || has(self.selector)']);
  assert.deepEqual(spec.properties.formats.items.enum, ['legacy', 'bundle']);
  assert.equal(spec.properties.formats['x-kubernetes-list-type'], 'set');
  assert.deepEqual(v.schema.openAPIV3Schema.properties.status.properties.progress.properties.step.enum, ['ListPrimary', 'ListMirrors', 'Copy']);
  assert.deepEqual(parse(renderReplicationCrd()), crd);
});

test('docs/replication.md documents every field of the SignatureReplication CRD', () => {
  const crd = buildReplicationCrd() as any;
  const paths: string[] = [];
  const walk = (schema: any, path: string) => {
    paths.push(path);
    const object = schema.type === 'array' ? schema.items : schema;
    const prefix = schema.type === 'array' ? `${path}[]` : path;
    for (const [name, child] of Object.entries<any>(object?.properties ?? {})) walk(child, `${prefix}.${name}`);
  };
  const root = crd.spec.versions[0].schema.openAPIV3Schema.properties;
  for (const top of ['spec', 'status']) for (const [name, child] of Object.entries<any>(root[top].properties)) walk(child, `${top}.${name}`);
  const doc = readFileSync('docs/replication.md', 'utf8');
  // Selector expressions and conditions (metav1.Condition) are documented by name inside their row.
  const missing = paths.filter((p) => !doc.includes(`\`${p}\``) && !p.startsWith('spec.manifests.selector.matchExpressions[].') && !p.startsWith('status.conditions[].'));
  assert.deepEqual(missing, []);
});
