// The generated CRD against a real kube-apiserver: it is accepted and established, and a bad
// PromotionManifest is refused at `kubectl apply`, naming the field, before any controller runs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Writable } from 'node:stream';
import { crdFile } from '../../src/api/crd.ts';
import { main } from '../../src/cli/main.ts';
import { startKube, type TestKube } from '../support/kube.ts';

const digest = (c: string) => `sha256:${c.repeat(64)}`;

function manifest(name: string, spec: string): string {
  return `apiVersion: hoist.dev/v1alpha1
kind: PromotionManifest
metadata:
  name: ${name}
spec:
${spec}`;
}

const validSpec = `  registries:
    - name: gcr.io/k8s-staging-bom
      src: true
    - name: us-central1-docker.pkg.dev/k8s-artifacts-prod/images/bom
      credentials:
        secretRef:
          name: prod-push
  images:
    - name: bom
      dmap:
        "${digest('a')}": ["v0.5.0"]
        "${digest('b')}": []
  verification:
    signatures:
      identities:
        - issuer: https://accounts.google.com
          subject: krel-trust@k8s-releng-prod.iam.gserviceaccount.com
`;

describe('PromotionManifest CRD on a real API server', () => {
  let kube: TestKube;
  before(async () => {
    kube = await startKube();
    kube.kubectl(['apply', '--server-side', '-f', crdFile]);
    kube.kubectl(['wait', '--for', 'condition=established', '--timeout=60s', 'crd/promotionmanifests.hoist.dev']);
  });
  after(() => kube?.stop());

  function applyFails(yaml: string): string {
    try {
      kube.kubectl(['apply', '--server-side', '-f', '-'], { input: yaml });
    } catch (error) {
      return String((error as { stderr?: unknown }).stderr);
    }
    assert.fail('kubectl apply accepted an invalid PromotionManifest');
  }

  test('a valid manifest is accepted and gets its defaults', () => {
    kube.kubectl(['apply', '--server-side', '-f', '-'], { input: manifest('bom', validSpec) });
    const stored = JSON.parse(kube.kubectl(['get', 'pm', 'bom', '-o', 'json']));
    assert.equal(stored.spec.mode, 'Promote');
    assert.equal(stored.spec.interval, '10m');
    assert.equal(stored.spec.registries[1].src, false);
    assert.equal(stored.spec.verification.signatures.mode, 'Enforce');
  });

  test('the kpromo fixtures, converted, are accepted as they are', async () => {
    let yaml = '';
    const out = new Writable({ write(chunk, _enc, done) { yaml += String(chunk); done(); } });
    const err = new Writable({ write(_chunk, _enc, done) { done(); } });
    assert.equal(await main(['convert', 'test/fixtures/kpromo/thin', '--namespace', 'default'], { out, err }), 0);
    kube.kubectl(['apply', '--server-side', '-f', '-'], { input: yaml });
    const names = kube.kubectl(['get', 'pm', '-o', 'jsonpath={.items[*].metadata.name}']);
    assert.match(names, /k8s-staging-bom/);
    assert.match(names, /sigstore/);
  });

  test('kubectl get pm shows the printer columns, filled from status', () => {
    const status = {
      status: {
        conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: 'promoted 12', lastTransitionTime: '2026-11-25T10:00:00Z' }],
        counts: { promoted: 12, lost: 1, failed: 2 },
      },
    };
    kube.kubectl(['patch', 'pm', 'bom', '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
    const [header, row] = kube.kubectl(['get', 'pm', 'bom']).trim().split('\n');
    assert.match(header!, /^NAME\s+READY\s+PROMOTED\s+LOST\s+FAILED\s+AGE$/);
    assert.match(row!, /^bom\s+True\s+12\s+1\s+2\s+\d+s$/);
    assert.match(kube.kubectl(['get', 'hoist']), /bom/, 'the hoist category lists PromotionManifests');
  });

  test('a bad digest is refused, naming the dmap', () => {
    const bad = validSpec.replace(`"${digest('b')}"`, '"sha256:abc"');
    assert.match(applyFails(manifest('bad-digest', bad)), /spec\.images\[0\]\.dmap.*every dmap key must be a digest/);
  });

  test('a bad tag is refused, naming the tag', () => {
    const bad = validSpec.replace('["v0.5.0"]', '["-v0.5.0"]');
    assert.match(applyFails(manifest('bad-tag', bad)), /spec\.images\[0\]\.dmap\.sha256:a+\[0\]: Invalid value: "-v0\.5\.0".*should match/);
  });

  test('two src registries are refused, naming spec.registries', () => {
    const bad = validSpec.replace('      credentials:', '      src: true\n      credentials:');
    assert.match(applyFails(manifest('two-src', bad)), /spec\.registries: Invalid value.*exactly one registry must have src: true/);
  });

  test('duplicate registry and image names are refused', () => {
    const dupRegistry = validSpec.replace('us-central1-docker.pkg.dev/k8s-artifacts-prod/images/bom', 'gcr.io/k8s-staging-bom');
    assert.match(applyFails(manifest('dup-registry', dupRegistry)), /spec\.registries.*registry names must be unique/);
    const dupImage = `${validSpec.split('  verification:')[0]}    - name: bom\n      dmap:\n        "${digest('c')}": ["v1"]\n`;
    assert.match(applyFails(manifest('dup-image', dupImage)), /spec\.images.*image names must be unique/);
  });

  test('a manifest without images is refused, naming spec.images', () => {
    const bad = validSpec.split('  images:')[0]!;
    assert.match(applyFails(manifest('no-images', bad)), /spec\.images: Required value/);
  });

  test('policy rules hold: one of subject or subjectRegExp, one of keyless or key', () => {
    const both = validSpec.replace('          subject: krel', '          subjectRegExp: ".*"\n          subject: krel');
    assert.match(applyFails(manifest('both-subjects', both)), /identities\[0\].*exactly one of subject or subjectRegExp/);
    const noSigner = `${validSpec}  signing: {}\n`;
    assert.match(applyFails(manifest('no-signer', noSigner)), /spec\.signing.*exactly one of keyless or key/);
  });
});
