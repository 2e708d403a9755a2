// examples/ (issue 17.14, 17.15): the GitOps and CI examples parse, say what the docs say, sync
// a folder that validates, and carry the Argo CD health check that deploy/argocd tests.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { argocdConfigMap } from '../../scripts/generate-examples.ts';
import { main } from '../../src/cli/main.ts';

const root = new URL('../..', import.meta.url).pathname;
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const documents = (path: string) => parseAllDocuments(read(path)).map((d) => {
  assert.deepEqual(d.errors, [], path);
  return d.toJS() as Record<string, any>;
});

function yamlFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : []));
}

test('every YAML file under examples/ parses', () => {
  const files = yamlFiles('examples');
  assert.ok(files.length >= 5, files.join(', '));
  for (const file of files) assert.ok(documents(file).length > 0, file);
});

test('the folder the examples sync validates with hoist validate', async () => {
  let out = '';
  let err = '';
  const code = await main(['validate', 'examples/gitops/promotions'], {
    out: new Writable({ write(c, _e, done) { out += String(c); done(); } }),
    err: new Writable({ write(c, _e, done) { err += String(c); done(); } }),
  });
  assert.equal(code, 0, err);
  assert.match(out, /^ok: 2 manifests, /);
});

test('Argo CD: the Application syncs that folder without pruning; argocd-cm carries deploy/argocd/health.lua as it is', () => {
  const [app] = documents('examples/gitops/argocd/application.yaml');
  assert.equal(app!.apiVersion, 'argoproj.io/v1alpha1');
  assert.equal(app!.kind, 'Application');
  assert.ok(existsSync(join(root, app!.spec.source.path)), app!.spec.source.path);
  assert.equal(app!.spec.source.directory.recurse, true);
  assert.equal(app!.spec.syncPolicy.automated.prune, false);
  const [cm] = documents('examples/gitops/argocd/argocd-cm.yaml');
  assert.deepEqual([cm!.kind, cm!.metadata.name, cm!.metadata.namespace], ['ConfigMap', 'argocd-cm', 'argocd']);
  const lua = read('deploy/argocd/health.lua');
  assert.equal(cm!.data['resource.customizations.health.hoist.dev_PromotionManifest'], lua, 'run npm run generate:examples');
  assert.equal(read('examples/gitops/argocd/argocd-cm.yaml'), argocdConfigMap(lua), 'run npm run generate:examples');
});

test('Flux: the Kustomization applies that folder from its GitRepository, waits for Ready, never prunes', () => {
  const [source, kustomization] = documents('examples/gitops/flux/promotions.yaml');
  assert.deepEqual([source!.apiVersion, source!.kind], ['source.toolkit.fluxcd.io/v1', 'GitRepository']);
  assert.deepEqual([kustomization!.apiVersion, kustomization!.kind], ['kustomize.toolkit.fluxcd.io/v1', 'Kustomization']);
  assert.deepEqual(kustomization!.spec.sourceRef, { kind: 'GitRepository', name: source!.metadata.name });
  assert.equal(kustomization!.metadata.namespace, source!.metadata.namespace);
  assert.ok(existsSync(join(root, kustomization!.spec.path)), kustomization!.spec.path);
  assert.equal(kustomization!.spec.prune, false);
  assert.equal(kustomization!.spec.wait, true);
  assert.match(kustomization!.spec.timeout, /^\d+m$/);
});

test('the GitHub Actions workflow runs hoist validate and plan --diff with the history the merge-base needs', () => {
  const [workflow] = documents('examples/ci/github-actions/promotion-pr.yaml');
  assert.ok(workflow!.on.pull_request, 'runs on pull requests');
  const steps = workflow!.jobs.review.steps as { uses?: string; with?: Record<string, unknown>; run?: string }[];
  assert.equal(steps[0]!.uses, 'actions/checkout@v4');
  assert.equal(steps[0]!.with?.['fetch-depth'], 0);
  assert.ok(steps.some((s) => s.uses === 'actions/setup-node@v4' && s.with?.['node-version'] === 24));
  const run = steps.map((s) => s.run ?? '').join('\n');
  assert.match(run, /hoist\.js validate "\$PROMOTIONS"/);
  assert.match(run, /hoist\.js plan -f "\$PROMOTIONS" --diff "origin\/\$BASE_REF" --registry-config "\$config"/);
  assert.match(run, /-o json > plan\.json/);
  assert.deepEqual(workflow!.permissions, { contents: 'read' });
  // No expression is expanded inside a script (script injection): inputs come in through env.
  for (const step of steps) assert.doesNotMatch(step.run ?? '', /\$\{\{/, step.run);
});

test('docs/ci.md\'s plain snippet runs the same two commands', () => {
  const snippet = /<!-- ci: plain -->\n```sh\n([\s\S]*?)\n```/.exec(read('docs/ci.md'))?.[1];
  assert.ok(snippet);
  assert.match(snippet, /^hoist validate promotions\/$/m);
  assert.match(snippet, /^hoist plan -f promotions\/ --diff "\$\{BASE_REF:-origin\/main\}" --registry-config/m);
});
