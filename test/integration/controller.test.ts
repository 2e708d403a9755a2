// The controller in-process against a real kube-apiserver + etcd and real registries: a
// PromotionManifest applied with kubectl is promoted and its status tells the story; Stalled
// for what retrying cannot fix (every spec problem, with its reason), and Ready again once
// fixed; on-demand runs, suspend, re-plans, status conflicts, probes and metrics, and a
// restarted API server. Every wait is for an event (a condition, a reconcile), none for a while.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { startController, type RunningController } from '../../src/controller/index.ts';
import { listMetadata } from '../../src/controller/metadata.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { apply, applyCrd, condition, getEvents, getPm, kubectl, waitFor, waitForReady, type Pm } from '../support/controller.ts';
import { buildImage, buildIndex, pushImage, type BuiltImage } from '../support/images.ts';
import { startKube, type TestKube } from '../support/kube.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool, tool } from '../support/testbed.ts';

function manifest(name: string, registries: { name: string; src?: boolean; secret?: string }[], images: Record<string, Record<string, string[]>>, extra = ''): string {
  const lines = ['apiVersion: hoist.dev/v1alpha1', 'kind: PromotionManifest', `metadata:\n  name: ${name}\n  namespace: default`, 'spec:', '  interval: 1h', '  registries:'];
  for (const r of registries) {
    lines.push(`    - name: ${r.name}`, ...(r.src ? ['      src: true'] : []), ...(r.secret ? [`      credentials:\n        secretRef:\n          name: ${r.secret}`] : []));
  }
  lines.push('  images:');
  for (const [image, dmap] of Object.entries(images)) {
    lines.push(`    - name: ${image}`, '      dmap:', ...Object.entries(dmap).map(([d, tags]) => `        "${d}": [${tags.map((t) => `"${t}"`).join(', ')}]`));
  }
  return `${lines.join('\n')}\n${extra}`;
}

const digestOf = async (ref: string) => (await runTool('crane', ['digest', '--insecure', ref])).trim();

describe('hoist controller on a real API server', () => {
  let kube: TestKube;
  let staging: TestRegistry;
  let prod: TestRegistry;
  let locked: TestRegistry;
  let controller: RunningController;
  const statusWrites: { name: string; attempt: number; reconciling?: string; ready?: string }[] = [];
  let race: ((name: string, attempt: number) => Promise<void>) | undefined;
  let imageA: BuiltImage;
  const logs: string[] = [];

  before(async () => {
    [kube, staging, prod, locked] = await Promise.all([
      startKube(), startRegistry(), startRegistry(), startRegistry({ kind: 'basic', username: 'pusher', password: 's3cret' }),
    ]);
    await applyCrd(kube);
    imageA = buildIndex();
    await pushImage(staging, 'app', imageA);
    controller = await startController({
      kubeconfig: kube.kubeconfig,
      metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0',
      allowedRegistries: [prod.host, locked.host], concurrent: 2,
      watchBackoff: { baseMs: 200, maxMs: 2000 }, queueBackoff: { baseMs: 300, maxMs: 3000 },
      logger: createLogger({ level: 'debug', destination: { write: (line: string) => { logs.push(line); } } }),
      hooks: {
        async beforeStatusPatch(_ns, name, attempt, status) {
          const get = (type: string) => status.conditions?.find((c) => c.type === type)?.status;
          statusWrites.push({ name, attempt, reconciling: get('Reconciling'), ready: get('Ready') });
          await race?.(name, attempt);
        },
      },
    });
    await controller.synced;
  });
  after(async () => {
    await controller?.stop();
    await Promise.all([kube?.stop(), staging?.stop(), prod?.stop(), locked?.stop()]);
  });

  test('kubectl apply promotes the images; status goes Reconciling -> Ready with counts; kubectl get pm shows it', async () => {
    // Every version of the object the API server stores, as kubectl sees it.
    const watcher = spawn(tool('kubectl'), [`--kubeconfig=${kube.kubeconfig}`, '-v=6', 'get', 'pm', '--watch', '--field-selector=metadata.name=app',
      '-o', 'jsonpath={.metadata.generation} {.status.observedGeneration} {.status.conditions[?(@.type=="Reconciling")].status} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}']);
    let seen = '';
    let log = '';
    watcher.stdout.on('data', (d: Buffer) => { seen += d; });
    watcher.stderr.on('data', (d: Buffer) => { log += d; });
    // kubectl -v=6 logs its requests: the watch is open once it has logged the watch request.
    await waitFor('kubectl get --watch to open its watch', async () => /watch=true" status="200 OK"/.test(log));
    await apply(kube, manifest('app', [{ name: staging.host, src: true }, { name: `${prod.host}/prod` }], { app: { [imageA.digest]: ['v1.0.0'] } }));
    const pm = await waitForReady(kube, 'app');
    await waitFor('kubectl to see the Ready status', async () => seen.trim().split('\n').at(-1)?.trim() === '1 1  True');
    watcher.kill();

    assert.equal(await digestOf(`${prod.host}/prod/app:v1.0.0`), imageA.digest);
    await runTool('crane', ['validate', '--insecure', '--remote', `${prod.host}/prod/app:v1.0.0`]);
    assert.equal(pm.status?.observedGeneration, pm.metadata.generation);
    assert.deepEqual(pm.status?.counts, { planned: 1, promoted: 1, alreadyPresent: 0, lost: 0, failed: 0, tagMoves: 0 });
    assert.equal(condition(pm, 'Ready')?.reason, 'Succeeded');
    assert.equal(condition(pm, 'Stalled'), undefined);
    assert.equal(condition(pm, 'Promote')?.status, 'True', 'one condition per phase');
    const states = seen.trim().split('\n').map((l) => l.trim());
    assert.ok(states.includes('1 1 True Unknown'), `Reconciling=True was written before the first copy (the write-ahead record); saw:\n${seen}`);
    assert.equal(states.at(-1), '1 1  True', `ends Ready=True without Reconciling; saw:\n${seen}`);
    assert.ok(states.indexOf('1 1 True Unknown') < states.indexOf('1 1  True'));

    const [header, row] = (await kubectl(kube, ['get', 'pm', 'app'])).trim().split('\n');
    assert.match(header!, /^NAME\s+READY\s+PRESENT\s+REFUSED\s+FAILED\s+LAST PROMOTED\s+SUSPENDED\s+AGE$/);
    assert.match(row!, /^app\s+True\s+1\/1\s+0\s+0\s+\d+s\s+false\s+\d+s$/);
    assert.deepEqual(pm.status?.inventory, { desired: 1, present: 1, refused: 0, failed: 0, presentOfDesired: '1/1' });
    assert.equal(pm.status?.progress, undefined, 'the progress record goes when the run ends');
    const events = await kubectl(kube, ['get', 'events', '--field-selector', 'involvedObject.name=app', '-o', 'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}']);
    assert.match(events, /^Promoted: promoted 1: 127\.0\.0\.1:\d+\/prod\/app:v1\.0\.0@sha256:/m);
  });

  test('a registry outside --allowed-registries is Stalled with the reason; fixing the spec makes it Ready without a restart', async () => {
    await apply(kube, manifest('elsewhere', [{ name: staging.host, src: true }, { name: '127.0.0.1:1/prod' }], { app: { [imageA.digest]: ['v1.0.0'] } }));
    const stalled = await waitFor('Stalled', async () => {
      const pm = await getPm(kube, 'elsewhere');
      return condition(pm, 'Stalled')?.status === 'True' ? pm : undefined;
    });
    assert.equal(condition(stalled, 'Stalled')?.reason, 'RegistryNotAllowed');
    assert.match(condition(stalled, 'Stalled')!.message, /"127\.0\.0\.1:1\/prod" not in the controller's --allowed-registries/);
    assert.equal(condition(stalled, 'Ready')?.status, 'False');
    assert.equal(condition(stalled, 'Reconciling'), undefined);
    assert.equal(stalled.status?.observedGeneration, stalled.metadata.generation);

    await apply(kube, manifest('elsewhere', [{ name: staging.host, src: true }, { name: `${prod.host}/other` }], { app: { [imageA.digest]: ['v1.0.0'] } }));
    const ready = await waitForReady(kube, 'elsewhere');
    assert.equal(condition(ready, 'Stalled'), undefined);
    assert.equal(await digestOf(`${prod.host}/other/app:v1.0.0`), imageA.digest);
  });

  test('a missing Secret is Stalled (SecretNotFound); creating it reconciles without a restart', async () => {
    await apply(kube, manifest('locked', [{ name: staging.host, src: true }, { name: `${locked.host}/prod`, secret: 'locked-push' }], { app: { [imageA.digest]: ['v1.0.0'] } }));
    const stalled = await waitFor('Stalled', async () => {
      const pm = await getPm(kube, 'locked');
      return condition(pm, 'Stalled')?.status === 'True' ? pm : undefined;
    });
    assert.equal(condition(stalled, 'Stalled')?.reason, 'SecretNotFound');
    assert.match(condition(stalled, 'Stalled')!.message, /Secret default\/locked-push does not exist/);

    // A Secret with a wrong password: the run fails reading the destination, and says so in a
    // Warning Event (not only the old SecretNotFound one) that names the registry once.
    const secret = (password: string) => kubectl(kube, ['create', 'secret', 'docker-registry', 'locked-push', `--docker-server=${locked.host}`, '--docker-username=pusher', `--docker-password=${password}`, '--dry-run=client', '-o', 'yaml']).then((yaml) => apply(kube, yaml));
    await secret('wrong');
    const failed = await waitFor('Ready=False after the wrong password', async () => {
      const pm = await getPm(kube, 'locked');
      return condition(pm, 'Ready')?.status === 'False' && condition(pm, 'Ready')?.reason !== 'SecretNotFound' ? pm : undefined;
    });
    assert.equal(condition(failed, 'Ready')?.reason, 'PlanFailed');
    assert.equal(condition(failed, 'Plan')?.status, 'False', 'a Plan that could read no edge has not succeeded');
    assert.match(condition(failed, 'Ready')!.message, new RegExp(`^no edge could be read: 127\\.0\\.0\\.1:${locked.host.split(':')[1]}: Unauthorized \\(1 edge\\)`));
    assert.equal(failed.status?.inventory?.failed, 1);
    const warning = await waitFor('a Warning Event for the failed run', async () => (await getEvents(kube, 'locked')).find((e) => e.type === 'Warning' && e.reason === 'PlanFailed'));
    assert.match(warning.message, /Unauthorized \(1 edge\)/);
    await secret('s3cret');
    const ready = await waitForReady(kube, 'locked');
    assert.equal(ready.status?.counts?.promoted, 1);
    const auth = `Basic ${Buffer.from('pusher:s3cret').toString('base64')}`;
    const res = await fetch(`${locked.url}/v2/prod/app/manifests/v1.0.0`, { method: 'HEAD', headers: { authorization: auth, accept: imageA.mediaType } });
    assert.equal(res.headers.get('docker-content-digest'), imageA.digest);
  });

  test('every spec problem is Stalled with its reason, not retried: ProvenanceSignerUnknown, InvalidSpec, KeylessNeedsTrustedRoot', async () => {
    const registries = [{ name: staging.host, src: true }, { name: `${prod.host}/unverified` }];
    const images = { app: { [imageA.digest]: ['v1.0.0'] } };
    const cases: [string, string, string][] = [
      ['no-provenance-signer', manifest('no-provenance-signer', registries, images, '  verification:\n    provenance:\n      builderIds: ["https://builder.example/trusted"]\n'), 'ProvenanceSignerUnknown'],
      ['zero-interval', manifest('zero-interval', registries, images).replace('interval: 1h', 'interval: 0s'), 'InvalidSpec'],
      ['keyless-no-root', manifest('keyless-no-root', registries, images, '  signing:\n    keyless: {}\n'), 'KeylessNeedsTrustedRoot'],
    ];
    for (const [, yaml] of cases) await apply(kube, yaml);
    for (const [name, , reason] of cases) {
      const pm = await waitFor(`${name} Stalled`, async () => {
        const p = await getPm(kube, name);
        return condition(p, 'Stalled')?.status === 'True' && p.status?.observedGeneration === p.metadata.generation ? p : undefined;
      });
      assert.equal(condition(pm, 'Stalled')?.reason, reason, name);
      assert.equal(condition(pm, 'Ready')?.reason, reason, name);
      assert.equal(condition(pm, 'Reconciling'), undefined, `${name} is not retried with backoff`);
    }
    const provenance = await getPm(kube, 'no-provenance-signer');
    assert.equal(condition(provenance, 'Provenance')?.status, 'False');
    assert.equal(condition(provenance, 'Provenance')?.reason, 'ProvenanceSignerUnknown', 'the failed phase carries the reason');
    await assert.rejects(digestOf(`${prod.host}/unverified/app:v1.0.0`), 'nothing was promoted');
    // Fixed, the same manifest goes Ready without a restart.
    await apply(kube, manifest('no-provenance-signer', registries, images));
    const ready = await waitForReady(kube, 'no-provenance-signer');
    assert.equal(condition(ready, 'Stalled'), undefined);
    assert.equal(await digestOf(`${prod.host}/unverified/app:v1.0.0`), imageA.digest);
    for (const [name] of cases) await kubectl(kube, ['delete', 'pm', name]);
  });

  test('a spec with a refused dmap entry runs the rest and names the refused entries in a condition and an Event', async () => {
    const imageB = buildImage();
    const imageC = buildImage();
    await Promise.all([pushImage(staging, 'mixed', imageB), pushImage(staging, 'mixed', imageC), pushImage(staging, 'mixed', imageA)]);
    await apply(kube, manifest('mixed', [{ name: staging.host, src: true }, { name: `${prod.host}/mixed` }], { mixed: { [imageA.digest]: ['v1'], [imageB.digest]: ['v1'], [imageC.digest]: ['v3'] } }));
    const pm = await waitFor('mixed Stalled on the refused entries', async () => {
      const p = await getPm(kube, 'mixed');
      return condition(p, 'EntriesRefused')?.status === 'True' && p.status?.observedGeneration === p.metadata.generation ? p : undefined;
    });
    assert.equal(condition(pm, 'Ready')?.reason, 'TagConflict');
    assert.equal(condition(pm, 'Stalled')?.reason, 'TagConflict');
    assert.match(condition(pm, 'EntriesRefused')!.message, /^2 dmap entries refused, the others run: spec\.images\[0\]\.dmap/);
    assert.doesNotMatch(condition(pm, 'EntriesRefused')!.message, /line 0/);
    assert.equal(await digestOf(`${prod.host}/mixed/mixed:v3`), imageC.digest, 'the valid entry was promoted');
    await assert.rejects(digestOf(`${prod.host}/mixed/mixed:v1`), 'neither refused entry was');
    assert.deepEqual(pm.status?.inventory, { desired: 3, present: 1, refused: 2, failed: 0, presentOfDesired: '1/3' });
    const events = await waitFor('the TagConflict Event', async () => (await getEvents(kube, 'mixed')).find((e) => e.type === 'Warning' && e.reason === 'TagConflict'));
    assert.match(events.message, /2 dmap entries refused/);
    await kubectl(kube, ['delete', 'pm', 'mixed']);
  });

  test('the requestedAt annotation triggers a run; suspend stops runs until lifted', async () => {
    const remove = () => fetch(`${prod.url}/v2/prod/app/manifests/${imageA.digest}`, { method: 'DELETE' }).then((r) => assert.equal(r.status, 202));
    await remove();
    await kubectl(kube, ['annotate', '--overwrite', 'pm', 'app', 'reconcile.hoist.dev/requestedAt=first']);
    const handled = await waitFor('lastHandledReconcileAt=first', async () => {
      const pm = await getPm(kube, 'app');
      return pm.status?.lastHandledReconcileAt === 'first' && condition(pm, 'Ready')?.status === 'True' ? pm : undefined;
    });
    assert.equal(handled.status?.counts?.promoted, 1, 'the on-demand run promoted the deleted image again');
    assert.equal(await digestOf(`${prod.host}/prod/app:v1.0.0`), imageA.digest);
    // The same promotion as the first run's: its Event is counted again, not written twice.
    const promotedEvents = await waitFor('the Promoted Event counted twice', async () => {
      const found = (await getEvents(kube, 'app')).filter((e) => e.reason === 'Promoted');
      return found.length === 1 && found[0]!.count === 2 ? found : undefined;
    }, 10_000);
    assert.ok(Date.parse(promotedEvents[0]!.lastTimestamp) > Date.parse(promotedEvents[0]!.firstTimestamp), 'lastTimestamp moved on');

    // Each change below is waited for as the controller's reconcile of it, not for a while.
    const suspendedRuns = () => logs.filter((l) => l.includes('"suspended; not reconciling"') && l.includes('"name":"app"')).length;
    await kubectl(kube, ['patch', 'pm', 'app', '--type=merge', '-p', '{"spec":{"suspend":true}}']);
    await waitFor('the suspend to be reconciled', async () => suspendedRuns() >= 1);
    await remove();
    await kubectl(kube, ['annotate', '--overwrite', 'pm', 'app', 'reconcile.hoist.dev/requestedAt=second']);
    await waitFor('the request to be reconciled, and refused', async () => suspendedRuns() >= 2);
    const suspended = await getPm(kube, 'app');
    assert.equal(suspended.status?.lastHandledReconcileAt, 'first', 'a suspended manifest is not reconciled');
    assert.equal(suspended.status?.observedGeneration, suspended.metadata.generation, 'the suspend itself is observed');
    assert.equal(condition(suspended, 'Ready')?.status, 'True', 'Ready keeps the last run\'s verdict, as Flux does');
    await assert.rejects(digestOf(`${prod.host}/prod/app:v1.0.0`));
    // kubectl wait answers from the last run rather than hanging on an unobserved generation.
    await kubectl(kube, ['wait', '--for=condition=Ready', 'pm/app', '--timeout=30s']);
    const said = await waitFor('the Suspended Event naming the kept request', async () => (await getEvents(kube, 'app')).find((e) => e.reason === 'Suspended' && e.message.includes('second')));
    assert.match(said.message, /reconcile requested at second is kept until spec\.suspend is false/);
    assert.match((await kubectl(kube, ['get', 'pm', 'app'])).split('\n')[1]!, /\strue\s+\d+s$/, 'SUSPENDED column');

    await kubectl(kube, ['patch', 'pm', 'app', '--type=merge', '-p', '{"spec":{"suspend":false}}']);
    const resumed = await waitForReady(kube, 'app');
    assert.equal(resumed.status?.lastHandledReconcileAt, 'second');
    assert.equal(await digestOf(`${prod.host}/prod/app:v1.0.0`), imageA.digest);
  });

  test('changing the spec re-plans: only the new digest is promoted', async () => {
    const imageB = buildImage();
    await pushImage(staging, 'app', imageB);
    await apply(kube, manifest('app', [{ name: staging.host, src: true }, { name: `${prod.host}/prod` }], { app: { [imageA.digest]: ['v1.0.0'], [imageB.digest]: ['v1.1.0'] } }));
    const pm = await waitFor('the new generation Ready', async () => {
      const p = await getPm(kube, 'app');
      return p.status?.observedGeneration === p.metadata.generation && condition(p, 'Ready')?.status === 'True' && p.status?.counts?.planned === 2 ? p : undefined;
    });
    assert.deepEqual(pm.status?.counts, { planned: 2, promoted: 1, alreadyPresent: 1, lost: 0, failed: 0, tagMoves: 0 });
    assert.equal(await digestOf(`${prod.host}/prod/app:v1.1.0`), imageB.digest);
    assert.equal(await digestOf(`${prod.host}/prod/app:v1.0.0`), imageA.digest);
  });

  test('a status write that conflicts with another writer is retried from a fresh read, never lost', async () => {
    const before = statusWrites.length;
    let bumped = 0;
    race = async (name, attempt) => {
      if (name !== 'app' || attempt !== 1) return;
      bumped += 1;
      await kubectl(kube, ['label', '--overwrite', 'pm', 'app', `bumped=n${bumped}`]);
    };
    try {
      await kubectl(kube, ['annotate', '--overwrite', 'pm', 'app', 'reconcile.hoist.dev/requestedAt=third']);
      const pm: Pm = await waitFor('lastHandledReconcileAt=third', async () => {
        const p = await getPm(kube, 'app');
        return p.status?.lastHandledReconcileAt === 'third' && condition(p, 'Ready')?.status === 'True' ? p : undefined;
      });
      const writes = statusWrites.slice(before).filter((w) => w.name === 'app');
      assert.ok(writes.some((w) => w.attempt === 2), `a conflicted write was retried: ${JSON.stringify(writes)}`);
      assert.equal(bumped, 1, 'a run with nothing to copy writes its status once');
      assert.equal(pm.metadata.labels?.bumped, 'n1', "the other writer's change is kept");
      assert.deepEqual(pm.status?.counts, { planned: 2, promoted: 0, alreadyPresent: 2, lost: 0, failed: 0, tagMoves: 0 });
    } finally {
      race = undefined;
    }
  });

  test('the Secret watch is metadata only: the API server sends it no Secret data', async () => {
    const config = new KubeConfig();
    config.loadFromFile(kube.kubeconfig);
    const list = await listMetadata(config, '/api/v1/secrets');
    const secret = list.items.find((s) => s.metadata?.name === 'locked-push');
    assert.ok(secret, 'the Secret the manifest names is listed');
    assert.equal(secret.kind, 'PartialObjectMetadata');
    assert.equal('data' in secret, false);
    assert.doesNotMatch(JSON.stringify(list), /dockerconfigjson"?:\s*"ey/, 'no Secret value anywhere in the list');
  });

  test('probes and metrics use the contract names', async () => {
    assert.equal((await fetch(`http://127.0.0.1:${controller.healthPort}/healthz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${controller.healthPort}/readyz`)).status, 200);
    const text = await (await fetch(`http://127.0.0.1:${controller.metricsPort}/metrics`)).text();
    for (const pattern of [
      /^controller_runtime_reconcile_total\{controller="promotionmanifest",result="requeue_after"\} [1-9]/m,
      /^controller_runtime_max_concurrent_reconciles\{controller="promotionmanifest"\} 2$/m,
      /^controller_runtime_reconcile_time_seconds_count\{controller="promotionmanifest"\} [1-9]/m,
      /^workqueue_adds_total\{name="promotionmanifest"\} [1-9]/m,
      /^workqueue_work_duration_seconds_count\{name="promotionmanifest"\} [1-9]/m,
      /^hoist_registry_requests_total\{host="127\.0\.0\.1:\d+",method="PUT",code_class="2xx"\} [1-9]/m,
      /^hoist_phase_duration_seconds_count\{phase="Promote"\} [1-9]/m,
      /^hoist_edges_total\{outcome="promoted"\} [1-9]/m,
      /^hoist_manifests\{condition="Ready"\} [1-9]/m,
      // Initialised at start, so dashboards and alerts have a series before the first event.
      /^workqueue_depth\{name="promotionmanifest"\} \d+$/m,
      /^workqueue_retries_total\{name="promotionmanifest"\} \d+$/m,
      /^controller_runtime_reconcile_total\{controller="promotionmanifest",result="error"\} \d+$/m,
      /^hoist_registry_throttled_total\{host="127\.0\.0\.1:\d+"\} 0$/m,
      // One series per resource, so an alert names it.
      /^hoist_manifest_condition\{namespace="default",name="app",type="Ready",status="True"\} 1$/m,
    ]) assert.match(text, pattern);
  });

  test('the API server restarts: the controller re-watches and acts on changes made meanwhile', async () => {
    await kube.restartApiServer({ downMs: 1000 });
    // Made before the controller has reconnected (its watch backs off after the refusal).
    const imageC = buildImage();
    await pushImage(staging, 'late', imageC);
    await apply(kube, manifest('late', [{ name: staging.host, src: true }, { name: `${prod.host}/prod` }], { late: { [imageC.digest]: ['v3'] } }));
    await kubectl(kube, ['annotate', '--overwrite', 'pm', 'app', 'reconcile.hoist.dev/requestedAt=after-restart']);
    const late = await waitForReady(kube, 'late', 'True', 90_000);
    assert.equal(late.status?.counts?.promoted, 1);
    assert.equal(await digestOf(`${prod.host}/prod/late:v3`), imageC.digest);
    await waitFor('app handled the request made after the restart', async () => (await getPm(kube, 'app')).status?.lastHandledReconcileAt === 'after-restart', 60_000);
  });
});
