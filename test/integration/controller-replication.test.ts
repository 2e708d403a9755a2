// The controller runs SignatureReplications on a real kube-apiserver + etcd against real
// registries (docker-registry): a digest signed at the primary by the real cosign with a key, two
// mirrors holding the image, one of them (behind basic auth, its credentials in the Secret the
// PromotionManifest names) without the signature. Applying a SignatureReplication makes the
// controller copy the primary's `.sig` there; cosign then verifies that mirror with the key, the
// status counts say what happened, and a rerun on request copies nothing. A covered manifest
// whose mirror is outside --allowed-registries is refused, by name. Every wait is for a status.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { replicationCrdFile } from '../../src/api/signature-replication-crd.ts';
import { startController, type RunningController } from '../../src/controller/index.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { apply, applyCrd, getEvents, kubectl, waitFor, type PmCondition } from '../support/controller.ts';
import { buildImage, pushImage, type BuiltImage } from '../support/images.ts';
import { startKube, type TestKube } from '../support/kube.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

const PASSWORD = 'controller-replication-password';
const http = ['--allow-http-registry', '--allow-insecure-registry'];
const sigTag = (digest: string) => `sha256-${digest.slice(7)}.sig`;

interface Sigrep {
  metadata: { name: string; generation: number };
  status?: {
    observedGeneration?: number;
    conditions?: PmCondition[];
    counts?: Record<string, number>;
    lastRun?: { startedAt: string; durationMs: number; requests?: number };
    lastHandledReconcileAt?: string;
    failures?: { mirror: string; digest: string; reason: string; message?: string }[];
    progress?: unknown;
  };
}

const condition = (s: Sigrep, type: string) => s.status?.conditions?.find((c) => c.type === type);

async function getSigrep(kube: TestKube, name: string): Promise<Sigrep> {
  return JSON.parse(await kubectl(kube, ['get', 'sigrep', name, '-n', 'default', '-o', 'json'])) as Sigrep;
}

/** The replication's current generation observed, with Ready at `status` and no run going on. */
function waitForSigrep(kube: TestKube, name: string, check: (s: Sigrep) => boolean, what: string): Promise<Sigrep> {
  return waitFor(`${name}: ${what}`, async () => {
    const s = await getSigrep(kube, name);
    return s.status?.observedGeneration === s.metadata.generation && !condition(s, 'Reconciling') && check(s) ? s : undefined;
  }, 120_000);
}

async function tags(registry: TestRegistry, repo: string, headers: Record<string, string> = {}): Promise<string[]> {
  const res = await fetch(`${registry.url}/v2/${repo}/tags/list`, { headers });
  return ((await res.json()) as { tags?: string[] }).tags ?? [];
}

describe('the controller replicates signatures (SignatureReplication) on a real API server and registries', () => {
  let kube: TestKube;
  let primary: TestRegistry;
  let inSync: TestRegistry;
  let lacking: TestRegistry;
  let controller: RunningController;
  let dir: string;
  let key: { key: string; pub: string };
  const signed: BuiltImage = buildImage();
  const unsigned: BuiltImage = buildImage();
  const basic = { kind: 'basic' as const, username: 'mirror', password: 'mirror-s3cret' };
  const lackingAuth = { authorization: `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}` };

  const manifest = (name: string, labels: string, mirrors: string[], secret?: string) => [
    'apiVersion: hoist.dev/v1alpha1', 'kind: PromotionManifest', 'metadata:', `  name: ${name}`, '  namespace: default', `  labels: {${labels}}`,
    // Suspended: the promotion is not what this test is about; replication covers it all the same.
    'spec:', '  suspend: true', '  registries:', `    - name: ${primary.host}/staging`, '      src: true', `    - name: ${primary.host}/prod`,
    ...mirrors.map((m) => `    - name: ${m}${secret && m.startsWith(lacking.host) ? `\n      credentials:\n        secretRef:\n          name: ${secret}` : ''}`),
    '  images:', '    - name: app', '      dmap:', `        "${signed.digest}": ["v1"]`, `        "${unsigned.digest}": ["v2"]`, '',
  ].join('\n');

  const replication = (name: string, selector: string) => [
    'apiVersion: hoist.dev/v1alpha1', 'kind: SignatureReplication', 'metadata:', `  name: ${name}`, '  namespace: default',
    'spec:', `  manifests: {selector: {matchLabels: {${selector}}}}`, `  primary: {registry: ${primary.host}/prod}`, '  interval: 1h', '',
  ].join('\n');

  before(async () => {
    process.env.COSIGN_PASSWORD = PASSWORD;
    dir = mkdtempSync(join(tmpdir(), 'hoist-controller-replication-'));
    [kube, primary, inSync, lacking] = await Promise.all([startKube(), startRegistry(), startRegistry(), startRegistry(basic)]);
    await applyCrd(kube);
    await kubectl(kube, ['apply', '--server-side', '-f', replicationCrdFile]);
    await kubectl(kube, ['wait', '--for', 'condition=established', '--timeout=60s', 'crd/signaturereplications.hoist.dev']);

    // Promotion left both images everywhere; the primary's is signed by cosign with a key (the
    // legacy `.sig` tag), one mirror has the signature already, the other has none.
    for (const registry of [primary, inSync, lacking]) {
      await pushImage(registry, 'prod/app', signed, ['v1']);
      await pushImage(registry, 'prod/app', unsigned, ['v2']);
    }
    await runTool('cosign', ['generate-key-pair', '--output-key-prefix', join(dir, 'release')]);
    key = { key: join(dir, 'release.key'), pub: join(dir, 'release.pub') };
    await runTool('cosign', ['sign', '--key', key.key, '--use-signing-config=false', '--tlog-upload=false', '--new-bundle-format=false', ...http, '-y', `${primary.host}/prod/app@${signed.digest}`]);
    await runTool('crane', ['copy', '--insecure', `${primary.host}/prod/app:${sigTag(signed.digest)}`, `${inSync.host}/prod/app:${sigTag(signed.digest)}`]);
    assert.ok(!(await tags(lacking, 'prod/app', lackingAuth)).includes(sigTag(signed.digest)));

    // The lacking mirror's credentials, as the manifest names them; cosign reads them from a Docker config.
    const auth = { auths: { [lacking.host]: { auth: Buffer.from(`${basic.username}:${basic.password}`).toString('base64') } } };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(auth));
    process.env.DOCKER_CONFIG = dir;
    await kubectl(kube, ['create', 'secret', 'generic', 'mirror-push', '-n', 'default', '--type=kubernetes.io/dockerconfigjson', `--from-literal=.dockerconfigjson=${JSON.stringify(auth)}`]);

    controller = await startController({
      kubeconfig: kube.kubeconfig, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0',
      allowedRegistries: [primary.host, inSync.host, lacking.host], progressIntervalMs: 0,
      watchBackoff: { baseMs: 200, maxMs: 2000 }, queueBackoff: { baseMs: 300, maxMs: 3000 },
      logger: createLogger({ level: 'warn', destination: { write: () => {} } }),
    });
    await controller.synced;
  });
  after(async () => {
    await controller?.stop();
    await Promise.all([kube?.stop(), primary?.stop(), inSync?.stop(), lacking?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
    delete process.env.DOCKER_CONFIG;
  });

  test('the mirror lacking the signature gets the primary\'s, byte for byte; cosign verifies it; counts, Events, columns; a rerun copies nothing', async () => {
    await apply(kube, manifest('app', 'replicate: "yes"', [`${inSync.host}/prod`, `${lacking.host}/prod`], 'mirror-push'));
    await assert.rejects(runTool('cosign', ['verify', '--key', key.pub, '--insecure-ignore-tlog', '--new-bundle-format=false', ...http, `${lacking.host}/prod/app@${signed.digest}`]), 'not signed there yet');
    await apply(kube, replication('sigs', 'replicate: "yes"'));

    const done = await waitForSigrep(kube, 'sigs', (s) => condition(s, 'Ready')?.status === 'True', 'Ready=True');
    assert.equal(condition(done, 'Ready')?.reason, 'Replicated', condition(done, 'Ready')?.message);
    assert.equal(condition(done, 'Stalled'), undefined);
    assert.deepEqual(done.status?.counts, { digests: 2, unsigned: 1, signed: 1, mirrors: 2, inSync: 1, repaired: 1, artifacts: 1, notPromoted: 0, diverged: 0, failed: 0 });
    assert.equal(done.status?.progress, undefined, 'no progress record once the run ended');
    assert.equal(done.status?.failures, undefined);
    assert.ok((done.status?.lastRun?.requests ?? 0) > 0);

    // What cosign wrote at the primary is now at the mirror under the same digest, and verifies there with the key.
    const primarySig = (await runTool('crane', ['digest', '--insecure', `${primary.host}/prod/app:${sigTag(signed.digest)}`])).trim();
    const mirrorSig = await fetch(`${lacking.url}/v2/prod/app/manifests/${sigTag(signed.digest)}`, { method: 'HEAD', headers: { ...lackingAuth, accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(mirrorSig.headers.get('docker-content-digest'), primarySig);
    await runTool('cosign', ['verify', '--key', key.pub, '--insecure-ignore-tlog', '--new-bundle-format=false', ...http, `${lacking.host}/prod/app@${signed.digest}`]);
    assert.ok(!(await tags(lacking, 'prod/app', lackingAuth)).some((t) => t.includes(unsigned.digest.slice(7))), 'nothing for the unsigned digest');

    const events = await getEvents(kube, 'sigs');
    const replicated = events.find((e) => e.reason === 'Replicated');
    assert.ok(replicated, JSON.stringify(events));
    assert.equal(replicated.type, 'Normal');
    assert.match(replicated.message, new RegExp(`^repaired 1 mirror copy \\(1 artifacts written\\): ${lacking.host.replace(/\./g, '\\.')}/prod/app@${signed.digest}$`));
    const [header, row] = (await kubectl(kube, ['get', 'sigrep', 'sigs'])).trim().split('\n');
    assert.match(header!, /^NAME\s+READY\s+SIGNED\s+REPAIRED\s+FAILED\s+LAST RUN\s+SUSPENDED\s+AGE$/);
    assert.match(row!, /^sigs\s+True\s+1\s+1\s+0\s+\d+s\s+false\s+\d+s$/);

    // On request (as `hoist reconcile` asks): a rerun finds every mirror in sync and writes nothing.
    const tagsBefore = await tags(lacking, 'prod/app', lackingAuth);
    await kubectl(kube, ['annotate', '--overwrite', 'sigrep', 'sigs', 'reconcile.hoist.dev/requestedAt=rerun-1']);
    const rerun = await waitForSigrep(kube, 'sigs', (s) => s.status?.lastHandledReconcileAt === 'rerun-1' && condition(s, 'Ready')?.status === 'True', 'the requested rerun');
    assert.deepEqual(rerun.status?.counts, { digests: 2, unsigned: 1, signed: 1, mirrors: 2, inSync: 2, repaired: 0, artifacts: 0, notPromoted: 0, diverged: 0, failed: 0 });
    assert.deepEqual(await tags(lacking, 'prod/app', lackingAuth), tagsBefore);
    assert.equal((await getEvents(kube, 'sigs')).filter((e) => e.reason === 'Replicated').length, 1, 'a run with nothing to repair records no Event');
  });

  test('a covered manifest with a mirror outside --allowed-registries is refused by name (Stalled); the others are replicated', async () => {
    await apply(kube, manifest('elsewhere', 'replicate-too: "yes"', ['127.0.0.1:1/prod']));
    await apply(kube, manifest('app-too', 'replicate-too: "yes"', [`${inSync.host}/prod`]));
    await apply(kube, replication('refused', 'replicate-too: "yes"'));
    const stalled = await waitForSigrep(kube, 'refused', (s) => condition(s, 'Stalled')?.status === 'True', 'Stalled=True');
    assert.equal(condition(stalled, 'Stalled')?.reason, 'RegistryNotAllowed');
    assert.match(condition(stalled, 'Stalled')!.message, /PromotionManifest elsewhere: destination registry "127\.0\.0\.1:1\/prod" not in the controller's --allowed-registries/);
    assert.equal(condition(stalled, 'Ready')?.status, 'False');
    assert.equal(stalled.status?.counts?.inSync, 1, 'app-too was replicated all the same');
    assert.deepEqual(stalled.status?.failures?.map((f) => [f.mirror, f.reason]), [['elsewhere', 'RegistryNotAllowed']]);
    const warning = (await getEvents(kube, 'refused')).find((e) => e.reason === 'RegistryNotAllowed');
    assert.equal(warning?.type, 'Warning');
  });

  test('suspended: nothing runs, the generation is acknowledged; resuming runs it', async () => {
    await apply(kube, replication('paused', 'replicate: "yes"').replace('  interval: 1h', '  interval: 1h\n  suspend: true'));
    const suspended = await waitFor('paused acknowledged', async () => {
      const s = await getSigrep(kube, 'paused');
      return s.status?.observedGeneration === s.metadata.generation ? s : undefined;
    });
    assert.equal(condition(suspended, 'Ready')?.reason, 'Suspended');
    assert.equal(suspended.status?.lastRun, undefined, 'no run while suspended');
    await kubectl(kube, ['patch', 'sigrep', 'paused', '--type=merge', '-p', '{"spec":{"suspend":false}}']);
    const resumed = await waitForSigrep(kube, 'paused', (s) => condition(s, 'Ready')?.status === 'True', 'Ready after resume');
    assert.equal(resumed.status?.counts?.inSync, 2);
  });

  test('leader election: a standby replica watches SignatureReplications but never runs one', async () => {
    const renewTime = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    await apply(kube, ['apiVersion: coordination.k8s.io/v1', 'kind: Lease', 'metadata: {name: hoist-replication-test, namespace: default}',
      `spec: {holderIdentity: someone-else, leaseDurationSeconds: 3600, renewTime: "${renewTime}"}`, ''].join('\n'));
    const lines: { msg?: string; kind?: string; name?: string }[] = [];
    const standby = await startController({
      kubeconfig: kube.kubeconfig, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0',
      leaderElect: true, leaderElectionNamespace: 'default', leaderElectionId: 'hoist-replication-test', identity: 'standby',
      allowedRegistries: [primary.host, inSync.host, lacking.host],
      logger: createLogger({ level: 'info', destination: { write: (line: string) => { lines.push(JSON.parse(line)); } } }),
    });
    try {
      await standby.synced;
      await apply(kube, replication('watched', 'replicate: "yes"'));
      // The leader (the controller without election) runs it; the standby, with it in its cache, does not.
      await waitForSigrep(kube, 'watched', (s) => condition(s, 'Ready')?.status === 'True', 'Ready=True from the leader');
      assert.equal(standby.isLeader(), false);
      assert.deepEqual(lines.filter((l) => l.kind === 'SignatureReplication'), [], 'the standby logged no replication');
    } finally {
      await standby.stop();
    }
  });
});
