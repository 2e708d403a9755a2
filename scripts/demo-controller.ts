// `npm run demo:controller`: Hoist's main job, the controller, on local parts. Starts a
// Kubernetes API server (etcd + kube-apiserver from the test bed, as envtest runs them), a
// staging and two production registries on loopback; seeds staging; converts a kpromo
// thin-manifest directory into PromotionManifests; applies the CRD; starts `hoist controller`
// against the API server's kubeconfig (exactly as you would against any cluster); applies the
// resources with kubectl and shows `kubectl get pm -w` turning Ready, the Events, `hoist get`
// and `hoist reconcile`. Pass --keep-running to leave everything up and try the commands
// yourself (`source .hoist-demo/env` in another terminal).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { crdFile } from '../src/api/crd.ts';
import { main } from '../src/cli/main.ts';
import { RegistryClient } from '../src/registry/index.ts';
import { condition, getPm, kubectl, spawnController, waitFor, type ControllerProcess } from '../test/support/controller.ts';
import { buildImage, buildIndex, pushImage } from '../test/support/images.ts';
import { startKube, type TestKube } from '../test/support/kube.ts';
import { freePort } from '../test/support/process.ts';
import { startRegistry, type TestRegistry } from '../test/support/registry.ts';
import { testbedCache, tool } from '../test/support/testbed.ts';

const keep = process.argv.includes('--keep-running');
const say = (line = '') => process.stdout.write(`${line}\n`);
const bold = process.stdout.isTTY ? (text: string) => `\x1b[1m${text}\x1b[0m` : (text: string) => text;
const step = (line: string) => say(`\n${bold(`==> ${line}`)}`);
const indent = (text: string) => text.trimEnd().replace(/^/gm, '  ');
const io = { out: process.stdout, err: process.stderr };
const namespace = 'releng';
// Where --keep-running writes its env file (tests point it elsewhere).
const stateDir = resolve(process.env.HOIST_DEMO_STATE_DIR ?? '.hoist-demo');

let kube: TestKube | undefined;
let registries: TestRegistry[] = [];
let controller: ControllerProcess | undefined;
const work = mkdtempSync(join(tmpdir(), 'hoist-demo-controller-'));
let failed = false;

async function run(command: string[]): Promise<void> {
  say(`$ ${command.join(' ')}`);
  const code = await main(command.slice(1), io);
  if (code !== 0) throw new Error(`${command.join(' ')} exited ${code}`);
}

async function k(args: string[], input?: string): Promise<string> {
  return kubectl(kube!, args, input);
}

/** Shows `kubectl get pm -w` as it prints, until every resource is Ready for its generation. */
async function watchUntilReady(names: string[]): Promise<void> {
  say(`$ kubectl get pm -n ${namespace} -w`);
  const watcher = spawn(tool('kubectl'), [`--kubeconfig=${kube!.kubeconfig}`, 'get', 'pm', '-n', namespace, '-w'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let partial = '';
  watcher.stdout.on('data', (d: Buffer) => {
    const lines = (partial + d.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) say(`  ${line}`);
  });
  try {
    for (const name of names) {
      await waitFor(`${name} Ready`, async () => {
        const pm = await getPm(kube!, name, namespace);
        const ready = condition(pm, 'Ready');
        if (pm.status?.observedGeneration !== pm.metadata.generation || condition(pm, 'Reconciling')?.status === 'True') return undefined;
        if (ready?.status === 'False') throw new Error(`${name} is not Ready: ${ready.reason}: ${ready.message}`);
        return ready?.status === 'True';
      }, 300_000, 300);
    }
    // Let kubectl print the last change before it is stopped.
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    watcher.kill();
  }
}

try {
  step('Starting a Kubernetes API server (etcd + kube-apiserver from the test bed, on loopback)');
  const started = Date.now();
  [kube, ...registries] = await Promise.all([startKube(), startRegistry(), startRegistry(), startRegistry()]);
  const [staging, eu, us] = registries as [TestRegistry, TestRegistry, TestRegistry];
  say(`  API server  ${kube.server} (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  say(`  kubeconfig  ${kube.kubeconfig}`);
  say(`  staging     ${staging.url}`);
  say(`  prod (eu)   ${eu.url}`);
  say(`  prod (us)   ${us.url}`);

  step('Seeding staging with sample images');
  const samples = [
    { project: 'hello', name: 'hello', image: buildIndex({ format: 'oci', layers: [400_000, 100_000] }), tags: ['v1.0.0'] },
    { project: 'hello', name: 'hello-debug', image: buildImage({ layers: [300_000] }), tags: ['v1.0.0'] },
    { project: 'tools', name: 'kubectl-plugin', image: buildImage({ layers: [800_000, 200_000] }), tags: ['v0.3.1', 'v0.3'] },
  ];
  for (const { name, image } of samples) {
    await pushImage(staging, `staging/${name}`, image, ['staging-latest']);
    say(`  ${staging.host}/staging/${name}@${image.digest}`);
  }

  step('A kpromo thin-manifest directory, as k8s.io keeps its promotions');
  const thin = join(work, 'k8s.gcr.io');
  for (const project of ['hello', 'tools']) {
    mkdirSync(join(thin, 'manifests', project), { recursive: true });
    mkdirSync(join(thin, 'images', project), { recursive: true });
    writeFileSync(join(thin, 'manifests', project, 'promoter-manifest.yaml'),
      `registries:\n- name: ${staging.host}/staging\n  src: true\n- name: ${eu.host}/releases\n- name: ${us.host}/releases\n`);
    writeFileSync(join(thin, 'images', project, 'images.yaml'), samples.filter((s) => s.project === project)
      .map((s) => `- name: ${s.name}\n  dmap:\n    "${s.image.digest}": [${s.tags.map((t) => `"${t}"`).join(', ')}]\n`).join(''));
  }
  say(indent(readdirSync(join(thin, 'manifests')).map((p) => `manifests/${p}/promoter-manifest.yaml  images/${p}/images.yaml`).join('\n')));

  step('Converting it into PromotionManifest resources');
  const promotions = join(work, 'promotions');
  await run(['hoist', 'convert', thin, '--namespace', namespace, '--output-dir', promotions]);

  step('Installing the CRD and starting the controller against the API server');
  await k(['create', 'namespace', namespace]);
  say(`$ kubectl apply --server-side -f ${crdFile}`);
  say(indent(await k(['apply', '--server-side', '-f', crdFile])));
  await k(['wait', '--for', 'condition=established', '--timeout=60s', 'crd/promotionmanifests.hoist.dev']);
  const [metricsPort, healthPort] = await Promise.all([freePort(), freePort()]);
  const flags = [`--metrics-bind-address=127.0.0.1:${metricsPort}`, `--health-probe-bind-address=127.0.0.1:${healthPort}`];
  say(`$ hoist controller --kubeconfig ${kube.kubeconfig} ${flags.join(' ')}`);
  controller = spawnController(kube, flags);
  const synced = await controller.waitForLog('caches synced', (l) => l.msg === 'caches synced', 60_000);
  say(`  ${JSON.stringify(synced)}`);
  say(`  health http://127.0.0.1:${healthPort}/readyz   metrics http://127.0.0.1:${metricsPort}/metrics`);

  step('Applying the resources (client-side kubectl apply, as Argo CD does) and watching them turn Ready');
  say(`$ kubectl apply -f ${promotions}`);
  say(indent(await k(['apply', '-f', promotions])));
  await watchUntilReady(['hello', 'tools']);

  step('The Events the controller recorded');
  say(`$ kubectl get events -n ${namespace} --field-selector involvedObject.kind=PromotionManifest`);
  say(indent(await k(['get', 'events', '-n', namespace, '--field-selector', 'involvedObject.kind=PromotionManifest'])));

  step('The same from hoist, and a run on demand (everything is there: nothing to copy)');
  const cluster = [`--kubeconfig=${kube.kubeconfig}`, '-n', namespace];
  await run(['hoist', 'get', ...cluster]);
  await run(['hoist', 'reconcile', 'hello', ...cluster]);

  step('Checking every promoted digest in production');
  const client = new RegistryClient();
  for (const prod of [eu, us]) {
    for (const { name, image, tags } of samples) {
      for (const tag of tags) {
        const head = await client.headManifest({ host: prod.host, name: `releases/${name}` }, tag);
        if (head?.digest !== image.digest) throw new Error(`${prod.host}/releases/${name}:${tag} is ${head?.digest ?? 'missing'}, expected ${image.digest}`);
        say(`  ok  ${prod.host}/releases/${name}:${tag}  ${image.digest}`);
      }
    }
  }
  await client.close();

  if (keep) {
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, 'env'), [
      `export KUBECONFIG=${kube.kubeconfig}`,
      `export PATH=${join(testbedCache(), 'bin')}:$PATH`,
      `export STAGING=${staging.host}/staging PROD_EU=${eu.host}/releases PROD_US=${us.host}/releases`,
      `export HELLO_DIGEST=${samples[0]!.image.digest}`,
      '',
    ].join('\n'));
    say(`\nEverything stays up until Ctrl-C. In another terminal, in this folder:`);
    say(`  source ${relative(process.cwd(), join(stateDir, 'env'))}           # KUBECONFIG, the test bed's kubectl on PATH, the registries`);
    say(`  kubectl get pm -n ${namespace}`);
    say(`  kubectl describe pm hello -n ${namespace}`);
    say(`  npx hoist get -n ${namespace} -w`);
    say(`  npx hoist reconcile tools -n ${namespace}`);
    await new Promise<void>((done) => { process.once('SIGINT', done); process.once('SIGTERM', done); });
  }
} catch (error) {
  failed = true;
  process.stderr.write(`demo failed: ${(error as Error).message}\n`);
  if (controller) process.stderr.write(`last controller log lines:\n${controller.lines.slice(-10).map((l) => JSON.stringify(l)).join('\n')}\n`);
} finally {
  step('Stopping the controller, the API server and the registries');
  if (controller) {
    controller.kill('SIGTERM');
    await controller.exited;
  }
  await Promise.allSettled([kube?.stop(), ...registries.map((r) => r.stop())]);
  rmSync(work, { recursive: true, force: true });
  if (keep) rmSync(stateDir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
