// The generated CRD against a real kube-apiserver: it is accepted and established, and a bad
// PromotionManifest is refused at `kubectl apply`, naming the field, before any controller runs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
        inventory: { desired: 15, present: 12, refused: 1, failed: 2, presentOfDesired: '12/15' },
        lastPromoted: { at: new Date(Date.now() - 3 * 3600_000).toISOString().replace(/\.\d+Z$/, 'Z'), edges: 12 },
      },
    };
    kube.kubectl(['patch', 'pm', 'bom', '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
    const [header, row] = kube.kubectl(['get', 'pm', 'bom']).trim().split('\n');
    assert.match(header!, /^NAME\s+READY\s+PRESENT\s+REFUSED\s+FAILED\s+LAST PROMOTED\s+SUSPENDED\s+AGE$/);
    assert.match(row!, /^bom\s+True\s+12\/15\s+1\s+2\s+3h\s+false\s+\d+s$/);
    const [wideHeader, wideRow] = kube.kubectl(['get', 'pm', 'bom', '-o', 'wide']).trim().split('\n');
    assert.match(wideHeader!, /\s+MODE\s+PROMOTED\s+STATUS$/);
    assert.match(wideRow!, /\s+Promote\s+12\s+promoted 12$/, 'what the last run itself promoted');
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

  test('duplicate registry and image names are refused (list-map keys)', () => {
    const dupRegistry = validSpec.replace('us-central1-docker.pkg.dev/k8s-artifacts-prod/images/bom', 'gcr.io/k8s-staging-bom');
    assert.match(applyFails(manifest('dup-registry', dupRegistry)), /\.spec\.registries: duplicate entries for key \[name="gcr\.io\/k8s-staging-bom"\]/);
    const dupImage = `${validSpec.split('  verification:')[0]}    - name: bom\n      dmap:\n        "${digest('c')}": ["v1"]\n`;
    assert.match(applyFails(manifest('dup-image', dupImage)), /\.spec\.images: duplicate entries for key \[name="bom"\]/);
  });

  test('a registry port above 65535 is refused', () => {
    const bad = validSpec.replace('us-central1-docker.pkg.dev/k8s-artifacts-prod/images/bom', 'localhost:65536/bom');
    assert.match(applyFails(manifest('bad-port', bad)), /spec\.registries\[1\]\.name: Invalid value: "localhost:65536\/bom"/);
  });

  test('the real registry.k8s.io sample, converted, applies with client-side kubectl apply, the project with no images too', async () => {
    let yaml = '';
    const out = new Writable({ write(chunk, _enc, done) { yaml += String(chunk); done(); } });
    const err = new Writable({ write(_chunk, _enc, done) { done(); } });
    assert.equal(await main(['convert', 'test/fixtures/k8sio/registry.k8s.io-sample', '--namespace', 'default'], { out, err }), 0);
    kube.kubectl(['apply', '-f', '-'], { input: yaml });
    const names = kube.kubectl(['get', 'pm', '-o', 'jsonpath={.items[*].metadata.name}']).split(' ');
    for (const name of ['k8s-staging-etcdadm', 'k8s-staging-llm-instance-gateway', 'charts']) assert.ok(names.includes(name), name);
  });

  test('a project the size of registry.k8s.io\'s largest is split into resources that client-side apply takes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hoist-crd-split-'));
    try {
      mkdirSync(join(dir, 'manifests', 'k8s-staging-kubernetes'), { recursive: true });
      mkdirSync(join(dir, 'images', 'k8s-staging-kubernetes'), { recursive: true });
      const regions = Array.from({ length: 70 }, (_, i) => `- name: region-${i}-docker.pkg.dev/k8s-artifacts-prod/images\n  service-account: k8s-infra-gcr-promoter@k8s-artifacts-prod.iam.gserviceaccount.com\n`).join('');
      writeFileSync(join(dir, 'manifests', 'k8s-staging-kubernetes', 'promoter-manifest.yaml'), `registries:\n- name: gcr.io/k8s-staging-kubernetes\n  src: true\n${regions}`);
      // ~9,000 digests over 20 images: about the size of the real images.yaml (~0.95 MB).
      const images = Array.from({ length: 20 }, (_, i) => `- name: kube-image-${i}\n  dmap:\n${Array.from({ length: 450 }, (_, d) => `    "sha256:${(i * 1000 + d).toString(16).padStart(64, '0')}": ["v1.${Math.floor(d / 20)}.${d % 20}", "v1.${Math.floor(d / 20)}.${d % 20}-rc.0"]\n`).join('')}`).join('');
      writeFileSync(join(dir, 'images', 'k8s-staging-kubernetes', 'images.yaml'), images);
      let yaml = '';
      const out = new Writable({ write(chunk, _enc, done) { yaml += String(chunk); done(); } });
      const err = new Writable({ write(_chunk, _enc, done) { done(); } });
      assert.equal(await main(['convert', dir, '--namespace', 'default'], { out, err }), 0);
      const parts = yaml.split('---\n');
      assert.ok(parts.length >= 5, `${parts.length} parts`);
      // Plain `kubectl apply`, as Argo CD syncs by default: the last-applied annotation must fit.
      kube.kubectl(['apply', '-f', '-'], { input: yaml });
      const names = kube.kubectl(['get', 'pm', '-o', 'jsonpath={.items[*].metadata.name}']).split(' ').filter((n) => n.startsWith('k8s-staging-kubernetes-'));
      assert.equal(names.length, parts.length);
      const split = names.map((name) => JSON.parse(kube.kubectl(['get', 'pm', name, '-o', 'json'])));
      const digests = split.reduce((n: number, i: { spec: { images: { dmap: object }[] } }) => n + i.spec.images.reduce((m, image) => m + Object.keys(image.dmap).length, 0), 0);
      assert.equal(digests, 9000);
      for (const item of split) assert.ok(item.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'].length < 256 * 1024);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a manifest with an empty images list is accepted (a project with nothing to promote yet)', () => {
    const empty = `${validSpec.split('  images:')[0]}  images: []\n`;
    kube.kubectl(['apply', '--server-side', '-f', '-'], { input: manifest('no-images-yet', empty) });
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
