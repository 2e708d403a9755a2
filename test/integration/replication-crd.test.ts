// The SignatureReplication CRD against a real kube-apiserver: accepted and established, its
// defaults applied, and a spec its CEL rules refuse refused at `kubectl apply`, naming the rule.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { replicationCrdFile } from '../../src/api/signature-replication-crd.ts';
import { startKube, type TestKube } from '../support/kube.ts';

const replication = (name: string, spec: string) => `apiVersion: hoist.dev/v1alpha1
kind: SignatureReplication
metadata:
  name: ${name}
spec:
${spec}`;

describe('SignatureReplication CRD on a real API server', () => {
  let kube: TestKube;
  before(async () => {
    kube = await startKube();
    kube.kubectl(['apply', '--server-side', '-f', replicationCrdFile]);
    kube.kubectl(['wait', '--for', 'condition=established', '--timeout=60s', 'crd/signaturereplications.hoist.dev']);
  });
  after(() => kube?.stop());

  function applyFails(yaml: string): string {
    try {
      kube.kubectl(['apply', '--server-side', '-f', '-'], { input: yaml });
    } catch (error) {
      return String((error as { stderr?: unknown }).stderr);
    }
    assert.fail('kubectl apply accepted an invalid SignatureReplication');
  }

  test('a valid replication is accepted with its defaults; kubectl get sigrep shows it', () => {
    kube.kubectl(['apply', '--server-side', '-f', '-'], { input: replication('k8s-io', `  manifests:
    selector: {}
  primary:
    registry: us-central1-docker.pkg.dev/k8s-artifacts-prod/images
`) });
    const stored = JSON.parse(kube.kubectl(['get', 'sigrep', 'k8s-io', '-o', 'json']));
    assert.deepEqual([stored.spec.formats, stored.spec.check, stored.spec.interval, stored.spec.suspend], [['legacy', 'bundle'], 'Presence', '30m', false]);
    assert.match(kube.kubectl(['get', 'sigrep']), /NAME\s+READY\s+SIGNED\s+REPAIRED\s+FAILED\s+LAST RUN\s+SUSPENDED\s+AGE/);
    kube.kubectl(['apply', '--server-side', '-f', '-'], { input: replication('by-name', `  manifests:
    names: [bom, kubernetes]
    selector:
      matchExpressions:
        - {key: team, operator: In, values: [release]}
  primary:
    source: true
  formats: [legacy]
  check: Digest
`) });
  });

  test('the CEL rules refuse two primaries, none, no manifests, and an In without values', () => {
    assert.match(applyFails(replication('two', `  manifests: {names: [bom]}
  primary: {source: true, registry: gcr.io/x}
`)), /set exactly one of registry or source: true/);
    assert.match(applyFails(replication('none', `  manifests: {names: [bom]}
  primary: {source: false}
`)), /set exactly one of registry or source: true/);
    assert.match(applyFails(replication('nothing', `  manifests: {}
  primary: {source: true}
`)), /name the PromotionManifests/);
    assert.match(applyFails(replication('in', `  manifests:
    selector:
      matchExpressions: [{key: team, operator: In}]
  primary: {source: true}
`)), /In and NotIn need values/);
    assert.match(applyFails(replication('format', `  manifests: {names: [bom]}
  primary: {source: true}
  formats: [sbom]
`)), /formats/);
  });
});
