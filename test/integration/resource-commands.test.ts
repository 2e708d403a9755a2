// `hoist get`, `hoist reconcile`, `hoist suspend` and `hoist resume` (issue 17.13) against a
// real API server with the controller running: the same columns as kubectl get pm, a watch
// that prints changes until Ctrl-C, and on-demand runs that wait for the controller's answer.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { replicationCrdFile } from '../../src/api/signature-replication-crd.ts';
import { startController, type RunningController } from '../../src/controller/index.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { runHoist } from '../support/cli.ts';
import { apply, applyCrd, getPm, kubectl, waitForReady } from '../support/controller.ts';
import { buildImage, pushImage, type BuiltImage } from '../support/images.ts';
import { startKube, type TestKube } from '../support/kube.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

const hoistBin = new URL('../../bin/hoist.js', import.meta.url).pathname;

function manifest(name: string, staging: string, prod: string, image: BuiltImage, tag: string): string {
  return `apiVersion: hoist.dev/v1alpha1
kind: PromotionManifest
metadata:
  name: ${name}
  namespace: default
spec:
  interval: 1h
  registries:
    - name: ${staging}
      src: true
    - name: ${prod}/prod
  images:
    - name: app
      dmap:
        "${image.digest}": ["${tag}"]
`;
}

const header = (text: string) => text.split('\n')[0]!.trim().split(/\s{2,}/);

describe('hoist get / reconcile / suspend / resume', () => {
  let kube: TestKube;
  let staging: TestRegistry;
  let prod: TestRegistry;
  let controller: RunningController | undefined;
  let image: BuiltImage;
  let k: string[];

  before(async () => {
    [kube, staging, prod] = await Promise.all([startKube(), startRegistry(), startRegistry()]);
    await applyCrd(kube);
    await kubectl(kube, ['apply', '--server-side', '-f', replicationCrdFile]);
    await kubectl(kube, ['wait', '--for', 'condition=established', '--timeout=60s', 'crd/signaturereplications.hoist.dev']);
    image = buildImage();
    await pushImage(staging, 'app', image);
    controller = await startController({
      kubeconfig: kube.kubeconfig, metricsBindAddress: '0', healthProbeBindAddress: '127.0.0.1:0',
      logger: createLogger({ level: 'warn', destination: { write: () => {} } }),
    });
    await controller.synced;
    k = [`--kubeconfig=${kube.kubeconfig}`];
  });
  after(async () => {
    await controller?.stop();
    await Promise.all([kube?.stop(), staging?.stop(), prod?.stop()]);
  });

  test('get: nothing yet, then the same columns as kubectl get pm; -o name, -A, -o wide, -o json', async () => {
    const none = await runHoist(['get', ...k]);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stderr, /No PromotionManifests found in namespace default\./);

    await apply(kube, manifest('app', staging.host, prod.host, image, 'v1'));
    await waitForReady(kube, 'app');
    const get = await runHoist(['get', ...k]);
    assert.equal(get.code, 0, get.stderr);
    const fromKubectl = await kubectl(kube, ['get', 'pm']);
    assert.deepEqual(header(get.stdout), header(fromKubectl), 'the columns kubectl prints');
    assert.match(get.stdout.split('\n')[1]!, /^app\s+True\s/);

    assert.equal((await runHoist(['get', 'app', '-o', 'name', ...k])).stdout, 'promotionmanifest.hoist.dev/app\n');
    const all = await runHoist(['get', '-A', ...k]);
    assert.deepEqual(header(all.stdout).slice(0, 2), ['NAMESPACE', 'NAME']);
    assert.match(all.stdout, /^default\s+app\s+True/m);
    const wide = await runHoist(['get', '-o', 'wide', ...k]);
    assert.deepEqual(header(wide.stdout), header(await kubectl(kube, ['get', 'pm', '-o', 'wide'])));
    const json = JSON.parse((await runHoist(['get', 'app', '-o', 'json', ...k])).stdout) as { kind: string; metadata: { name: string } };
    assert.deepEqual([json.kind, json.metadata.name], ['PromotionManifest', 'app']);
    const missing = await runHoist(['get', 'nope', ...k]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /PromotionManifest "nope" not found in namespace default/);
  });

  test('reconcile: sets requestedAt, waits for lastHandledReconcileAt, prints the result', async () => {
    const r = await runHoist(['reconcile', 'app', ...k]);
    assert.equal(r.code, 0, r.stderr);
    const requested = /reconcile\.hoist\.dev\/requestedAt=(\S+)\)/.exec(r.stderr)?.[1];
    assert.ok(requested, r.stderr);
    assert.match(r.stdout, /^Ready=True /);
    const pm = await getPm(kube, 'app');
    assert.equal(pm.metadata.annotations?.['reconcile.hoist.dev/requestedAt'], requested);
    assert.equal(pm.status?.lastHandledReconcileAt, requested);
    const missing = await runHoist(['reconcile', 'nope', ...k]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /PromotionManifest default\/nope not found/);
  });

  test('suspend stops runs (reconcile refuses, saying to resume); resume runs it again and waits', async () => {
    const s = await runHoist(['suspend', 'app', ...k]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stdout, 'suspended default/app\n');
    assert.equal((await getPm(kube, 'app')).spec.suspend, true);
    const refused = await runHoist(['reconcile', 'app', ...k]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /is suspended; resume it first: hoist resume app -n default/);
    const r = await runHoist(['resume', 'app', ...k]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Ready=True /);
    const pm = await getPm(kube, 'app');
    assert.equal(pm.spec.suspend, false);
    assert.equal(pm.status?.lastHandledReconcileAt, pm.metadata.annotations?.['reconcile.hoist.dev/requestedAt']);
  });

  test('get -w prints a row for each change until Ctrl-C, which exits 130', async () => {
    const child = spawn(process.execPath, [hoistBin, 'get', '-w', ...k], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let waiting: { pattern: RegExp; resolve: () => void } | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (waiting?.pattern.test(out)) waiting.resolve();
    });
    const seen = (pattern: RegExp) => (pattern.test(out) ? Promise.resolve() : new Promise<void>((resolve) => { waiting = { pattern, resolve }; }));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await seen(/^NAME\s+READY[^\n]*\napp\s+True[^\n]*\n/);
    await apply(kube, manifest('second', staging.host, prod.host, image, 'v2'));
    await seen(/\nsecond\s[^\n]*\n[\s\S]*\nsecond\s+True\s/);
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.equal(out.match(/^NAME\s/gm)?.length, 1, 'one header');
  });

  test('the same commands for a SignatureReplication: --kind sigrep and sigrep/NAME', async () => {
    await apply(kube, ['apiVersion: hoist.dev/v1alpha1', 'kind: SignatureReplication', 'metadata:', '  name: mirrors', '  namespace: default',
      'spec:', '  manifests: {names: [app]}', '  primary: {source: true}', '  interval: 1h', ''].join('\n'));
    const none = await runHoist(['get', 'sigrep/nope', ...k]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /SignatureReplication "nope" not found in namespace default/);
    const r = await runHoist(['reconcile', 'sigrep/mirrors', ...k]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Ready=True Replicated/);
    const get = await runHoist(['get', '--kind', 'sigrep', ...k]);
    assert.equal(get.code, 0, get.stderr);
    assert.deepEqual(header(get.stdout), header(await kubectl(kube, ['get', 'sigrep'])), 'the columns kubectl prints');
    assert.match(get.stdout.split('\n')[1]!, /^mirrors\s+True\s/);
    assert.equal((await runHoist(['get', 'signaturereplication/mirrors', '-o', 'name', ...k])).stdout, 'signaturereplication.hoist.dev/mirrors\n');
    assert.equal((await runHoist(['suspend', 'sigrep/mirrors', ...k])).code, 0);
    const refused = await runHoist(['reconcile', 'mirrors', '--kind', 'sigrep', ...k]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /SignatureReplication default\/mirrors is suspended; resume it first: hoist resume sigrep\/mirrors -n default/);
    const resumed = await runHoist(['resume', 'sigrep/mirrors', ...k]);
    assert.equal(resumed.code, 0, resumed.stderr);
    const clash = await runHoist(['get', 'sigrep/mirrors', '--kind', 'pm', ...k]);
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /sigrep\/mirrors is a SignatureReplication, but --kind says pm/);
  });

  test('reconcile says so when no controller handles the request', async () => {
    await controller!.stop();
    controller = undefined;
    const r = await runHoist(['reconcile', 'app', '--timeout', '2s', ...k]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the controller did not handle the request within 2s; is it running and watching namespace default\?/);
    const noWait = await runHoist(['reconcile', 'app', '--no-wait', ...k]);
    assert.equal(noWait.code, 0, noWait.stderr);
  });
});
