// `hoist controller --leader-elect` as separate processes against a real API server: only the
// Lease holder reconciles; a leader killed mid-promotion (SIGKILL) is replaced and the standby
// finishes with every tag right and nothing broken; SIGTERM interrupts a run, releases the
// Lease (the next replica takes over at once) and exits 0.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { apply, applyCrd, getEvents, getPm, kubectl, spawnController, waitFor, waitForReady, type ControllerProcess } from '../support/controller.ts';
import { buildIndex, pushImage, type BuiltImage } from '../support/images.ts';
import { startKube, type TestKube } from '../support/kube.ts';
import { freePort } from '../support/process.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

// client-go's own timings: generous enough that a leader on a machine loaded by other tests
// (one slow Lease update, a GC pause) keeps its Lease. Nothing below waits a fixed time; the
// takeover after a SIGKILL is waited for as the standby's log line, however long it takes.
const leaseArgs = ['--leader-elect', '--leader-election-namespace=default', '--leader-election-id=hoist-test', '--lease-duration=15s', '--renew-deadline=10s', '--retry-period=2s'];

function manifest(name: string, staging: string, prod: string, images: { repo: string; image: BuiltImage; tag: string }[]): string {
  return [
    'apiVersion: hoist.dev/v1alpha1', 'kind: PromotionManifest', `metadata:\n  name: ${name}\n  namespace: default`, 'spec:', '  interval: 1h',
    '  registries:', `    - name: ${staging}`, '      src: true', `    - name: ${prod}/prod`,
    '  images:', ...images.flatMap(({ repo, image, tag }) => [`    - name: ${repo}`, '      dmap:', `        "${image.digest}": ["${tag}"]`]), '',
  ].join('\n');
}

async function holder(kube: TestKube): Promise<string> {
  return (await kubectl(kube, ['get', 'lease', 'hoist-test', '-n', 'default', '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
}

async function startReplica(kube: TestKube, name: string): Promise<{ proc: ControllerProcess; health: number }> {
  const [health, metrics] = await Promise.all([freePort(), freePort()]);
  const proc = spawnController(kube, [...leaseArgs, `--health-probe-bind-address=127.0.0.1:${health}`, `--metrics-bind-address=127.0.0.1:${metrics}`, '--log-level=info'], { POD_NAME: name });
  await proc.waitForLog('caches synced', (l) => l.msg === 'caches synced');
  return { proc, health };
}

describe('leader election between controller processes', () => {
  let kube: TestKube;
  let stagingRegistry: TestRegistry;
  let staging: FaultProxy;
  let prod: TestRegistry;
  const procs: ControllerProcess[] = [];

  before(async () => {
    [kube, stagingRegistry, prod] = await Promise.all([startKube(), startRegistry(), startRegistry()]);
    staging = await startFaultProxy(stagingRegistry.url);
    await applyCrd(kube);
  });
  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await staging?.close();
    await Promise.all([kube?.stop(), stagingRegistry?.stop(), prod?.stop()]);
  });

  async function pushImages(prefix: string, n: number): Promise<{ repo: string; image: BuiltImage; tag: string }[]> {
    const images = Array.from({ length: n }, (_, i) => ({ repo: `${prefix}${i}`, image: buildIndex({ layers: [4096, 4096] }), tag: `v1.${i}` }));
    for (const { repo, image } of images) await pushImage(stagingRegistry, repo, image);
    return images;
  }

  async function checkPromoted(images: { repo: string; image: BuiltImage; tag: string }[]): Promise<void> {
    for (const { repo, image, tag } of images) {
      const ref = `${prod.host}/prod/${repo}:${tag}`;
      assert.equal((await runTool('crane', ['digest', '--insecure', ref])).trim(), image.digest, ref);
      await runTool('crane', ['validate', '--insecure', '--remote', ref]);
      assert.deepEqual((await runTool('crane', ['ls', '--insecure', `${prod.host}/prod/${repo}`])).trim().split('\n'), [tag], `${repo} has exactly its one tag`);
    }
  }

  test('only the leader reconciles; SIGKILL mid-promotion: the standby takes over and finishes without duplicates', async () => {
    const a = await startReplica(kube, 'ctl-a');
    procs.push(a.proc);
    await a.proc.waitForLog('leader', (l) => l.msg === 'acquired the leader Lease');
    const b = await startReplica(kube, 'ctl-b');
    procs.push(b.proc);
    assert.equal(await holder(kube), 'ctl-a');
    assert.equal((await fetch(`http://127.0.0.1:${b.health}/readyz`)).status, 200, 'a synced standby is ready');

    const images = await pushImages('ha', 6);
    staging.setLatency(250); // slow enough that the kill lands mid-promotion
    await apply(kube, manifest('ha', staging.host, prod.host, images));
    await a.proc.waitForLog('first edge copied by the leader', (l) => l.msg === 'edge finished' && l.name === 'ha');
    assert.ok(!b.proc.lines.some((l) => l.msg === 'reconcile started'), 'the standby did not reconcile');
    a.proc.kill('SIGKILL');
    await a.proc.exited;

    // The killed leader released nothing: the standby waits out the lease duration, by its own clock.
    await b.proc.waitForLog('standby took over', (l) => l.msg === 'acquired the leader Lease', 120_000);
    assert.ok(!a.proc.lines.some((l) => l.msg.startsWith('lost the leader Lease')), 'the leader never lost its Lease before it was killed');
    const pm = await waitForReady(kube, 'ha', 'True', 90_000);
    staging.setLatency(0);
    assert.equal(await holder(kube), 'ctl-b');
    const counts = pm.status!.counts!;
    assert.equal(counts.planned, 6);
    assert.equal(counts.failed, 0);
    assert.equal(counts.promoted! + counts.alreadyPresent!, 6);
    assert.ok(counts.alreadyPresent! >= 1, `the killed leader's finished copies were kept: ${JSON.stringify(counts)}`);
    assert.ok(counts.promoted! >= 1, `the kill landed mid-promotion, the standby had work left: ${JSON.stringify(counts)}`);
    await checkPromoted(images);
    // The killed leader's copies are in the audit trail: its write-ahead record named what it was
    // copying, and the standby's run reports those it found in production.
    assert.equal(pm.status?.progress, undefined, 'the record is gone once a run finished');
    assert.deepEqual(pm.status?.inventory, { desired: 6, present: 6, refused: 0, failed: 0, presentOfDesired: '6/6' });
    const events = await getEvents(kube, 'ha');
    const interrupted = events.find((e) => e.reason === 'Promoted' && /that was interrupted/.test(e.message));
    assert.ok(interrupted, `a Promoted Event for the killed run: ${JSON.stringify(events.map((e) => e.message))}`);
    const listed = /^promoted (\d+) by a run started at \S+ that was interrupted; found in production now: (.*)$/.exec(interrupted.message);
    assert.ok(listed, interrupted.message);
    assert.equal(Number(listed[1]), counts.alreadyPresent, 'exactly what the killed leader had copied');
    for (const ref of listed[2]!.split(', ')) assert.match(ref, new RegExp(`^${prod.host.replace(/[.]/g, '\\.')}/prod/ha\\d:v1\\.\\d@sha256:[0-9a-f]{64}$`));
    assert.ok(events.some((e) => e.reason === 'Promoted' && e.message.startsWith(`promoted ${counts.promoted}: `)), 'and the standby\'s own');
  });

  test('SIGTERM interrupts the run, releases the Lease and exits 0; the next replica takes over at once and finishes', async () => {
    const current = procs.at(-1)!;
    const images = await pushImages('term', 6);
    staging.setLatency(250);
    await apply(kube, manifest('term', staging.host, prod.host, images));
    await current.waitForLog('a run in progress', (l) => l.msg === 'edge finished' && l.name === 'term');
    current.kill('SIGTERM');
    const { code } = await current.exited;
    assert.equal(code, 0, current.stderr());
    assert.ok(current.lines.some((l) => l.msg.startsWith('run interrupted by shutdown') && l.name === 'term'), 'the running pipeline was interrupted, not waited for');
    assert.ok(!current.lines.some((l) => l.msg === 'reconcile finished' && l.name === 'term'));
    assert.ok(current.lines.some((l) => l.msg === 'released the leader Lease'));
    assert.equal(await holder(kube), '', 'the Lease was released');
    const stalledRun = await getPm(kube, 'term');
    assert.notEqual(stalledRun.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');

    const c = await startReplica(kube, 'ctl-c');
    procs.push(c.proc);
    const acquired = await c.proc.waitForLog('leader', (l) => l.msg === 'acquired the leader Lease');
    assert.equal(acquired.attempts, 1, 'a released Lease is taken at the first attempt, without waiting for it to expire');
    const pm = await waitForReady(kube, 'term', 'True', 90_000);
    staging.setLatency(0);
    assert.equal(pm.status?.counts?.failed, 0);
    await checkPromoted(images);
    await waitFor('ctl-c holds the Lease', async () => (await holder(kube)) === 'ctl-c');
  });
});
