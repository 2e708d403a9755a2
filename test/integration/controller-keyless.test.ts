// The controller signing keyless, as the chart runs it: a projected-style ServiceAccount token
// file, a private Fulcio (ephemeral CA trusting the test kube-apiserver's issuer) and the
// trusted_root.json the --trusted-root flag loads. A PromotionManifest that verifies staging's
// keyless signatures by identity and signs keyless goes Ready; cosign verifies what the
// controller wrote; a requested rerun recognises the controller's own signature, whose identity
// it read from the token. The flag itself refuses a bad file at start.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startController, type RunningController } from '../../src/controller/index.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { signingFromFlags } from '../../src/cli/commands/controller.ts';
import { loadTrustedRoot } from '../../src/signing/trust-material.ts';
import { apply, applyCrd, condition, kubectl, waitFor, waitForReady, getPm } from '../support/controller.ts';
import type { TestFulcio } from '../support/fulcio.ts';
import { startKeylessBed, type KeylessBed } from '../support/keyless.ts';
import { buildImage, pushImage } from '../support/images.ts';
import type { TestKube } from '../support/kube.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

const http = ['--allow-http-registry', '--allow-insecure-registry'];
const hoistBin = new URL('../../bin/hoist.js', import.meta.url).pathname;

describe('hoist controller keyless', () => {
  let bed: KeylessBed;
  let kube: TestKube;
  let fulcio: TestFulcio;
  let staging: TestRegistry;
  let prod: TestRegistry;
  let dir: string;
  let issuer: string;
  let controller: RunningController | undefined;
  const tokenFile = (sa: string) => bed.tokenFile(sa);
  const identityFlags = (sa: string) => bed.cosignIdentityFlags(sa);

  before(async () => {
    [bed, staging, prod] = await Promise.all([startKeylessBed(['hoist', 'builder']), startRegistry(), startRegistry()]);
    ({ kube, fulcio, issuer, dir } = bed);
    await applyCrd(kube);
  });
  after(async () => {
    await controller?.stop();
    await Promise.all([bed?.stop(), staging?.stop(), prod?.stop()]);
  });

  test('--trusted-root refuses an unreadable or rootless file at start (exit 1, a clear message)', async () => {
    const empty = join(dir, 'empty-root.json');
    writeFileSync(empty, '{"certificateAuthorities": []}');
    for (const [file, message] of [[join(dir, 'missing.json'), /cannot read the trusted root .*ENOENT/], [empty, /names no Fulcio certificate authority/]] as const) {
      const child = spawn(process.execPath, [hoistBin, 'controller', `--kubeconfig=${kube.kubeconfig}`, `--trusted-root=${file}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr += d; });
      const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
      assert.equal(code, 1, stderr);
      assert.match(stderr, message);
    }
  });

  test('verifies staging by identity, signs keyless with the token\'s identity; cosign verifies; a rerun re-signs nothing', async () => {
    const image = buildImage();
    await pushImage(staging, 'app', image);
    // The bed's signing config: Fulcio, its Rekor v2 log and timestamp authority, as cosign v3 signs.
    await runTool('cosign', ['sign', '--identity-token', await tokenFile('builder'), '--signing-config', bed.signingConfig, '--trusted-root', fulcio.trustedRootPath, ...http, '-y', `${staging.host}/app@${image.digest}`]);

    // What `hoist controller --trusted-root FILE --keyless-token-path TOKEN --signing-config FILE` passes:
    // Fulcio, the Rekor v2 log and the TSA from the bed's signing config.
    const signing = await signingFromFlags({ 'signing-config': bed.signingConfig });
    assert.equal(signing.fulcioUrl, fulcio.url);
    assert.deepEqual(signing.signingServices, bed.signingServices);
    controller = await startController({
      kubeconfig: kube.kubeconfig,
      metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0',
      logger: createLogger({ level: 'warn', destination: { write: () => {} } }),
      keylessTokenPath: await tokenFile('hoist'),
      fulcioUrl: signing.fulcioUrl,
      ...(signing.signingServices && { signingServices: signing.signingServices }),
      trustedRoot: await loadTrustedRoot(fulcio.trustedRootPath),
      // Only manifests in default may sign as the controller (the last test tries from another namespace).
      signingNamespaces: ['default'],
    });
    await controller.synced;
    await apply(kube, `apiVersion: hoist.dev/v1alpha1
kind: PromotionManifest
metadata:
  name: keyless
  namespace: default
spec:
  interval: 1h
  registries:
    - name: ${staging.host}
      src: true
    - name: ${prod.host}/prod
  images:
    - name: app
      dmap:
        "${image.digest}": ["v1"]
  verification:
    signatures:
      mode: Enforce
      identities:
        - issuer: ${issuer}
          subjectRegExp: /serviceaccounts/builder$
  signing:
    keyless:
      audience: sigstore
`);
    const pm = await waitForReady(kube, 'keyless', 'True', 120_000);
    assert.equal(pm.status?.counts?.promoted, 1, JSON.stringify(pm.status));
    assert.match(condition(pm, 'Sign')?.message ?? '', /^1 digests signed by https:\/\/kubernetes.io\/namespaces\/default\/serviceaccounts\/hoist /);

    const ref = `${prod.host}/prod/app@${image.digest}`;
    // Our own signatures carry a Rekor entry and a timestamp: cosign verifies them with its
    // default flags, as it would a day later (no --insecure-ignore-tlog).
    await runTool('cosign', ['verify', ...http, ...identityFlags('hoist'), ref]);
    // The admission line: checked on the destination after Sign, as policy-controller would.
    assert.equal(pm.status?.admission?.length, 1, JSON.stringify(pm.status?.admission));
    assert.equal(pm.status?.admission?.[0]?.image, ref);
    assert.ok(condition(pm, 'Admissible'), 'an Admissible condition');
    assert.equal(condition(pm, 'Admissible')?.status, pm.status?.admission?.[0]?.admissible ? 'True' : 'False');
    assert.equal(condition(pm, 'Admissible')?.reason, pm.status?.admission?.[0]?.reason);
    await runTool('cosign', ['verify', ...http, ...identityFlags('builder'), ref]);

    await kubectl(kube, ['annotate', '--overwrite', 'pm', 'keyless', 'reconcile.hoist.dev/requestedAt=again']);
    const rerun = await waitFor('the requested rerun', async () => {
      const again = await getPm(kube, 'keyless');
      return again.status?.lastHandledReconcileAt === 'again' && !condition(again, 'Reconciling') ? again : undefined;
    }, 120_000);
    assert.equal(condition(rerun, 'Ready')?.status, 'True');
    // The destination's tag list shows our signature and attestation: the run ends at Plan, reading nothing more.
    assert.match(condition(rerun, 'Plan')?.message ?? '', /0 to promote, 1 already present; nothing to promote$/);
    assert.deepEqual(rerun.status?.phases?.map((p) => p.name), ['Setup', 'Plan']);
    await runTool('cosign', ['verify', ...http, ...identityFlags('hoist'), ref]);
  });

  test('a resource\'s own trusted root (ConfigMap), an issuer pattern and bundle-only signing', async () => {
    assert.ok(controller, 'runs after the test above started the controller');
    const image = buildImage();
    await pushImage(staging, 'own', image);
    await runTool('cosign', ['sign', '--identity-token', await tokenFile('builder'), '--signing-config', bed.signingConfig, '--trusted-root', fulcio.trustedRootPath, ...http, '-y', `${staging.host}/own@${image.digest}`]);
    const publicGood = new URL('../../src/signing/roots/public-good.json', import.meta.url).pathname;
    await kubectl(kube, ['create', 'configmap', 'public-good-root', `--from-file=trusted_root.json=${publicGood}`]);
    await kubectl(kube, ['create', 'configmap', 'bed-root', `--from-file=root.json=${fulcio.trustedRootPath}`]);
    const yaml = (name: string, root: string) => `apiVersion: hoist.dev/v1alpha1
kind: PromotionManifest
metadata:
  name: ${name}
  namespace: default
spec:
  interval: 1h
  registries:
    - name: ${staging.host}
      src: true
    - name: ${prod.host}/${name}
  images:
    - name: own
      dmap:
        "${image.digest}": ["v1"]
  verification:
    trustedRoot: ${root}
    signatures:
      identities:
        - issuerRegExp: ^${issuer.replace(/[.]/g, '\\.')}$
          subjectRegExp: /serviceaccounts/builder$
  signing:
    keyless: {}
    formats: [bundle]
`;
    // A root ConfigMap that does not exist yet: retried with backoff, not Stalled, since nothing
    // watches ConfigMaps; creating it heals the resource on the next retry.
    await apply(kube, yaml('own-missing', '{ configMapRef: { name: late-root } }'));
    const missing = await waitFor('own-missing failing on its missing root', async () => {
      const pm = await getPm(kube, 'own-missing');
      return condition(pm, 'Ready')?.reason === 'TrustedRootNotFound' ? pm : undefined;
    }, 120_000);
    assert.match(condition(missing, 'Ready')!.message, /ConfigMap default\/late-root does not exist/);
    assert.notEqual(condition(missing, 'Stalled')?.status, 'True', 'not Stalled: retried');
    await kubectl(kube, ['create', 'configmap', 'late-root', `--from-file=trusted_root.json=${fulcio.trustedRootPath}`]);
    // The resource's root replaces the controller's for staging: against public-good the bed's signature fails.
    await apply(kube, yaml('own-public-good', '{ configMapRef: { name: public-good-root } }'));
    await apply(kube, yaml('own-bed', '{ configMapRef: { name: bed-root, key: root.json } }'));
    const stalled = async (name: string, reason: string) => waitFor(`${name} Stalled ${reason}`, async () => {
      const pm = await getPm(kube, name);
      return condition(pm, 'Stalled')?.reason === reason ? pm : undefined;
    }, 120_000);
    await stalled('own-public-good', 'VerificationFailed');
    assert.equal((await waitForReady(kube, 'own-missing', 'True', 120_000)).status?.counts?.promoted, 1, 'healed once the ConfigMap exists');
    const pm = await waitForReady(kube, 'own-bed', 'True', 120_000);
    assert.equal(pm.status?.counts?.promoted, 1);
    // bundle only: a referrer, no legacy sha256-<hex>.sig tag; so policy-controller would refuse it.
    const tags = (await runTool('crane', ['ls', '--insecure', `${prod.host}/own-bed/own`])).trim().split('\n');
    assert.deepEqual(tags.filter((t) => t.endsWith('.sig')), [], tags.join(' '));
    assert.equal(condition(pm, 'Admissible')?.status, 'False');
    assert.equal(condition(pm, 'Admissible')?.reason, 'NoLegacySignature');
    assert.equal(pm.status?.admission?.[0]?.reason, 'NoLegacySignature');
  });

  test('--signing-namespaces: a manifest in another namespace asking to sign keyless is Stalled, nothing written', async () => {
    assert.ok(controller, 'runs after the tests above started the controller');
    const image = buildImage();
    await pushImage(staging, 'tenant', image);
    await kubectl(kube, ['create', 'namespace', 'tenant']);
    await apply(kube, `apiVersion: hoist.dev/v1alpha1
kind: PromotionManifest
metadata:
  name: sign-me
  namespace: tenant
spec:
  registries:
    - name: ${staging.host}
      src: true
    - name: ${prod.host}/tenant
  images:
    - name: tenant
      dmap:
        "${image.digest}": ["v1"]
  signing:
    keyless: {}
`);
    const pm = await waitFor('sign-me Stalled SigningNotAllowed', async () => {
      const got = await getPm(kube, 'sign-me', 'tenant');
      return condition(got, 'Stalled')?.reason === 'SigningNotAllowed' ? got : undefined;
    }, 120_000);
    assert.match(condition(pm, 'Stalled')!.message, /namespace tenant may not sign as the controller's identity; the controller allows it in default/);
    const tags = await runTool('crane', ['ls', '--insecure', `${prod.host}/tenant/tenant`]).catch(() => '');
    assert.equal(tags.trim(), '', 'nothing promoted, nothing signed');
  });
});
