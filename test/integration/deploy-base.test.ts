// deploy/base (the kustomize base) is exactly what scripts/generate-deploy.sh renders from the
// Helm chart's defaults, and the chart's CRD copy is exactly crds/ (scripts/sync-chart-crds.sh).
// Moving from the chart to the base on a real API server: the CRD Helm kept conflicts with a
// server-side apply of the base, and --force-conflicts (docs/operations.md) takes it over with
// every PromotionManifest in place. Needs the test bed's helm (scripts/testbed/install.sh).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { startKube } from '../support/kube.ts';
import { runTool, tool } from '../support/testbed.ts';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'hoist-deploy-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('deploy/base is the chart rendered with its defaults', () => {
  test('scripts/generate-deploy.sh reproduces deploy/base file for file', async () => {
    const out = join(work, 'base');
    await run('bash', ['scripts/generate-deploy.sh', out], { env: { ...process.env, HELM: tool('helm') } });
    const committed = readdirSync('deploy/base').sort();
    assert.deepEqual(readdirSync(out).sort(), committed, 'files differ; run scripts/generate-deploy.sh');
    for (const file of committed) {
      assert.ok(readFileSync(join(out, file), 'utf8') === readFileSync(join('deploy/base', file), 'utf8'),
        `deploy/base/${file} is out of date with charts/hoist; run scripts/generate-deploy.sh`);
    }
  });

  test('the kustomization lists every file, and nothing Helm-specific is left', () => {
    const kustomization = parse(readFileSync('deploy/base/kustomization.yaml', 'utf8'));
    const files = readdirSync('deploy/base').filter((f) => f !== 'kustomization.yaml').sort();
    assert.deepEqual([...kustomization.resources].sort(), files);
    for (const file of files) {
      const text = readFileSync(join('deploy/base', file), 'utf8');
      assert.doesNotMatch(text, /helm\.sh\/chart|managed-by: Helm|\{\{/, file);
    }
  });

  test('the chart\'s CRD template is crds/ plus labels and the keep annotation', async () => {
    const { stdout } = await run('bash', ['scripts/sync-chart-crds.sh', '--check']);
    assert.match(stdout, /in sync/);
    const base = parseAllDocuments(readFileSync('deploy/base/hoist.dev_promotionmanifests.yaml', 'utf8')).map((d) => d.toJS());
    const source = parse(readFileSync('crds/hoist.dev_promotionmanifests.yaml', 'utf8'));
    assert.equal(base.length, 1);
    const rendered = base[0];
    assert.equal(rendered.metadata.annotations['helm.sh/resource-policy'], 'keep');
    assert.equal(rendered.metadata.labels['app.kubernetes.io/name'], 'hoist');
    delete rendered.metadata.annotations;
    delete rendered.metadata.labels;
    assert.deepEqual(rendered, source);
  });
});

describe('moving from the Helm chart to the kustomize base', () => {
  test('helm uninstall keeps the CRD; the base\'s server-side apply conflicts with helm\'s fields until --force-conflicts, which keeps every PromotionManifest', async () => {
    const kube = await startKube();
    const kubectl = (args: string[], input?: string) => runTool('kubectl', [`--kubeconfig=${kube.kubeconfig}`, ...args], input === undefined ? {} : { input });
    const helm = (args: string[]) => runTool('helm', [`--kubeconfig=${kube.kubeconfig}`, ...args]);
    try {
      await helm(['install', 'hoist', 'charts/hoist', '-n', 'hoist-system', '--create-namespace']);
      await kubectl(['wait', '--for=condition=established', '--timeout=60s', 'crd/promotionmanifests.hoist.dev']);
      await kubectl(['apply', '-f', '-'], `apiVersion: hoist.dev/v1alpha1
kind: PromotionManifest
metadata: { name: kept, namespace: default }
spec:
  registries: [{ name: staging.example/s, src: true }, { name: prod.example/p }]
  images: [{ name: app, dmap: { "sha256:${'a'.repeat(64)}": [v1] } }]
`);
      await helm(['uninstall', 'hoist', '-n', 'hoist-system']);
      const crd = JSON.parse(await kubectl(['get', 'crd', 'promotionmanifests.hoist.dev', '-o', 'json']));
      assert.equal(crd.metadata.annotations['helm.sh/resource-policy'], 'keep', 'helm uninstall left the CRD (crds.keep)');

      const conflict = await kubectl(['apply', '--server-side', '-k', 'deploy/base']).then(() => '', (error: { stderr?: string }) => String(error.stderr));
      assert.match(conflict, /Apply failed with \d+ conflicts?: conflicts with "helm"/, 'the documented conflict');
      assert.match(conflict, /\.metadata\.labels\.app\.kubernetes\.io\/managed-by/);

      const out = await kubectl(['apply', '--server-side', '--force-conflicts', '-k', 'deploy/base']);
      assert.match(out, /customresourcedefinition\.apiextensions\.k8s\.io\/promotionmanifests\.hoist\.dev serverside-applied/);
      assert.match(out, /deployment\.apps\/hoist-controller serverside-applied/);
      const taken = JSON.parse(await kubectl(['get', 'crd', 'promotionmanifests.hoist.dev', '-o', 'json']));
      assert.equal(taken.metadata.labels['app.kubernetes.io/managed-by'], 'kustomize');
      assert.equal(taken.metadata.uid, crd.metadata.uid, 'the same CRD, never deleted');
      assert.equal(JSON.parse(await kubectl(['get', 'pm', 'kept', '-n', 'default', '-o', 'json'])).metadata.name, 'kept', 'every PromotionManifest is still there');
      // From now on the base applies without force.
      await kubectl(['apply', '--server-side', '-k', 'deploy/base']);
    } finally {
      await kube.stop();
    }
  });
});
