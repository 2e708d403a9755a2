// --selector (sharding) and --namespace, with controllers in-process against a real API server:
// each shard reconciles only the manifests its selector matches and never writes another's
// status; a manifest relabelled to the other shard moves with its label; a namespaced
// controller ignores every other namespace. Every controller runs one reconcile at a time and
// the work queue is FIFO, so a manifest applied before the one we wait for would already have
// been written to if a controller had (wrongly) seen it: the "untouched" checks need no sleeps.
// A malformed selector, and --leader-elect without a namespace, fail startup.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { startController, type RunningController } from '../../src/controller/index.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { apply, applyCrd, getEvents, getPm, kubectl, waitFor, waitForReady } from '../support/controller.ts';
import { buildImage, pushImage, type BuiltImage } from '../support/images.ts';
import { startKube, type TestKube } from '../support/kube.ts';
import { freePort } from '../support/process.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

const shardLabel = 'hoist.dev/shard';

const hoistBin = new URL('../../bin/hoist.js', import.meta.url).pathname;

describe('controller scope: --selector shards and --namespace', () => {
  let kube: TestKube;
  let staging: TestRegistry;
  let prod: TestRegistry;
  let image: BuiltImage;
  const controllers: RunningController[] = [];
  /** namespace/name of every status write, by controller identity. */
  const writes = new Map<string, string[]>();
  const writesBy = (id: string) => [...new Set(writes.get(id) ?? [])].sort();

  function manifest(namespace: string, name: string, shard?: string): string {
    return [
      'apiVersion: hoist.dev/v1alpha1', 'kind: PromotionManifest', 'metadata:', `  name: ${name}`, `  namespace: ${namespace}`,
      ...(shard ? ['  labels:', `    ${shardLabel}: ${shard}`] : []),
      'spec:', '  interval: 1h', '  registries:', `    - name: ${staging.host}`, '      src: true', `    - name: ${prod.host}/${namespace}-${name}`,
      '  images:', '    - name: app', '      dmap:', `        "${image.digest}": ["v1"]`, '',
    ].join('\n');
  }

  async function start(identity: string, scope: { selector?: string; namespace?: string }): Promise<void> {
    const controller = await startController({
      kubeconfig: kube.kubeconfig, identity, ...scope,
      metricsBindAddress: '0', healthProbeBindAddress: '0', concurrent: 1,
      allowedRegistries: [prod.host],
      watchBackoff: { baseMs: 200, maxMs: 2000 }, queueBackoff: { baseMs: 300, maxMs: 3000 },
      logger: createLogger({ level: 'error', destination: { write: () => {} } }),
      hooks: {
        beforeStatusPatch(namespace, name) {
          writes.set(identity, [...(writes.get(identity) ?? []), `${namespace}/${name}`]);
        },
      },
    });
    controllers.push(controller);
    await controller.synced;
  }

  before(async () => {
    [kube, staging, prod] = await Promise.all([startKube(), startRegistry(), startRegistry()]);
    image = buildImage();
    await Promise.all([applyCrd(kube), pushImage(staging, 'app', image)]);
    await kubectl(kube, ['create', 'namespace', 'team']);
    await kubectl(kube, ['create', 'namespace', 'other']);
    await start('shard-a', { selector: `${shardLabel}=a` });
    await start('shard-b', { selector: `${shardLabel}=b` });
    await start('team-only', { namespace: 'team' });
  });
  after(async () => {
    await Promise.all(controllers.map((c) => c.stop()));
    await Promise.all([kube?.stop(), staging?.stop(), prod?.stop()]);
  });

  test('each shard reconciles only the manifests its selector matches', async () => {
    // One apply, in this order: the unlabelled manifest reaches every watch first.
    await apply(kube, [manifest('default', 'unlabelled'), manifest('default', 'a1', 'a'), manifest('default', 'b1', 'b')].join('---\n'));
    await Promise.all([waitForReady(kube, 'a1'), waitForReady(kube, 'b1')]);

    assert.deepEqual(writesBy('shard-a'), ['default/a1']);
    assert.deepEqual(writesBy('shard-b'), ['default/b1']);
    assert.equal((await getPm(kube, 'unlabelled')).status, undefined, 'a manifest no shard selects is left alone');
    // Events name the replica that wrote them: each manifest's come from its own shard only.
    for (const [name, id] of [['a1', 'shard-a'], ['b1', 'shard-b']] as const) {
      const events = await getEvents(kube, name);
      assert.ok(events.length > 0, `${name} has Events`);
      assert.deepEqual([...new Set(events.map((e) => e.reportingInstance))], [id], `${name}: ${JSON.stringify(events)}`);
    }
  });

  test('a manifest relabelled to the other shard is reconciled by that shard only', async () => {
    const aWrites = (writes.get('shard-a') ?? []).length;
    await kubectl(kube, ['label', '--overwrite', 'pm', 'a1', `${shardLabel}=b`]);
    await kubectl(kube, ['annotate', '--overwrite', 'pm', 'a1', 'reconcile.hoist.dev/requestedAt=moved']);
    await waitFor('a1 handled the request after the move', async () => {
      const pm = await getPm(kube, 'a1');
      return pm.status?.lastHandledReconcileAt === 'moved' && !pm.status.conditions?.some((c) => c.type === 'Reconciling');
    }, 30_000);
    assert.deepEqual(writesBy('shard-b'), ['default/a1', 'default/b1'], 'shard b took a1 over');
    assert.equal((writes.get('shard-a') ?? []).length, aWrites, 'shard a wrote nothing after a1 left its selector');
  });

  test('a controller with --namespace ignores manifests in other namespaces', async () => {
    // Same name in two namespaces; the one outside the scope is applied first.
    await apply(kube, manifest('other', 'app'));
    await apply(kube, manifest('team', 'app'));
    await waitForReady(kube, 'app', 'True', 60_000, 'team');

    assert.deepEqual(writesBy('team-only'), ['team/app'], 'not other/app, nor anything in default');
    assert.equal((await getPm(kube, 'app', 'other')).status, undefined);
    // Neither shard selects unlabelled manifests, wherever they are.
    for (const id of ['shard-a', 'shard-b']) assert.ok(writesBy(id).every((key) => key.startsWith('default/')), `${id}: ${writesBy(id).join(', ')}`);
    const events = await getEvents(kube, 'app', 'team');
    assert.deepEqual([...new Set(events.map((e) => e.reportingInstance))], ['team-only']);
    assert.deepEqual(await getEvents(kube, 'app', 'other'), []);
  });

  test('a malformed --selector fails startup with the reason instead of retrying its list forever', async () => {
    const bad = `${shardLabel} in (a`;
    for (const namespace of [undefined, 'team']) {
      const outcome = await startController({
        kubeconfig: kube.kubeconfig, selector: bad, ...(namespace && { namespace }), metricsBindAddress: '0', healthProbeBindAddress: '0',
        logger: createLogger({ level: 'error', destination: { write: () => {} } }),
      }).catch((error: unknown) => error as Error);
      // A controller that did start must not outlive the test.
      if (!(outcome instanceof Error)) await outcome.stop();
      assert.ok(outcome instanceof Error, `startup with --selector "${bad}"${namespace ? ` --namespace ${namespace}` : ''} failed`);
      assert.match(outcome.message, /^--selector "hoist\.dev\/shard in \(a" is not a valid label selector: 400: /);
    }
  });

  test('a start that cannot work exits 1 before anything reports ready: --leader-elect without a namespace', async () => {
    const health = await freePort();
    const env = { ...process.env };
    delete env.POD_NAMESPACE;
    const child = spawn(process.execPath, [hoistBin, 'controller', `--kubeconfig=${kube.kubeconfig}`, '--leader-elect', `--health-probe-bind-address=127.0.0.1:${health}`, '--metrics-bind-address=0'], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 1, stderr);
    assert.match(stderr, /--leader-elect needs --leader-election-namespace or \$POD_NAMESPACE/);
    await assert.rejects(fetch(`http://127.0.0.1:${health}/readyz`), 'the probes never served');
  });
});
